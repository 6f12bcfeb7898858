package mgmt

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Metering wire format (one DTLS record each way): the client sends a
// Heartbeat as JSON, the node answers a HeartbeatAck.
const (
	// MaxHeartbeatSize caps a heartbeat datagram.
	MaxHeartbeatSize = 4096
	// MeterTicketType and MeterAudience are the typ and aud of a metering
	// ticket (a JWT signed by a management node), distinct from login and
	// authorization tokens so none is accepted as another.
	MeterTicketType = "tg-meter+jwt"
	MeterAudience   = "termgate-metering"
)

// Heartbeat is one metering heartbeat: the ticket from launch, a sequence
// number (1, 2, ... per launch) and the client's time in Unix milliseconds.
type Heartbeat struct {
	Ticket string `json:"ticket"`
	Seq    uint64 `json:"seq"`
	TS     int64  `json:"ts"`
}

// HeartbeatAck answers a heartbeat. Error is one of the Ack* codes.
type HeartbeatAck struct {
	Seq   uint64 `json:"seq"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// Ack error codes.
const (
	AckMalformed = "malformed" // not a heartbeat
	AckTicket    = "ticket"    // ticket missing, forged, expired or of another kind
	AckReplayed  = "replayed"  // this launch's seq was already recorded here
	AckClock     = "clock"     // ts outside the ticket's lifetime or too far ahead
	AckInternal  = "internal"  // the node could not record it
)

// DecodeHeartbeat parses one heartbeat datagram strictly: at most
// MaxHeartbeatSize bytes, one JSON object, no unknown fields, a ticket and
// a positive sequence number. It never panics.
func DecodeHeartbeat(b []byte) (*Heartbeat, error) {
	if len(b) > MaxHeartbeatSize {
		return nil, fmt.Errorf("%w: heartbeat of %d bytes (max %d)", ErrTicket, len(b), MaxHeartbeatSize)
	}
	t := bytes.TrimSpace(b)
	if len(t) == 0 || t[0] != '{' {
		return nil, fmt.Errorf("%w: heartbeat is not a JSON object", ErrTicket)
	}
	var hb Heartbeat
	if err := strictUnmarshal(t, &hb); err != nil {
		return nil, fmt.Errorf("%w: heartbeat: %v", ErrTicket, err)
	}
	if hb.Ticket == "" || len(hb.Ticket) > MaxHeartbeatSize || hb.Seq == 0 || hb.TS <= 0 {
		return nil, fmt.Errorf("%w: heartbeat needs a ticket, seq >= 1 and ts > 0", ErrTicket)
	}
	return &hb, nil
}

func encodeAck(a HeartbeatAck) []byte {
	b, _ := json.Marshal(a)
	return b
}

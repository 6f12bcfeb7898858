package ftpchan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// EventType names a notification-channel event.
type EventType string

// Notification events (docs/protocol.md), sent proxy → client as JSON lines.
const (
	// EventDataReady: the server announced a data port (or, in
	// server-active mode, the proxy's listener is ready) for this session.
	EventDataReady EventType = "data-ready"
	// EventTransferAborted: a data connection failed; Reason says why.
	EventTransferAborted EventType = "transfer-aborted"
	// EventDraining: the node that owns the session is draining and will
	// close it at Deadline.
	EventDraining EventType = "draining"
	// EventKeepAlive is sent every KeepAlive interval.
	EventKeepAlive EventType = "keep-alive"
)

// MaxEventLine bounds one notification line.
const MaxEventLine = 4096

// Event is one notification. Unknown types are passed on by the client
// side (newer proxies may add some).
type Event struct {
	Type     EventType `json:"type"`
	Time     time.Time `json:"time"`
	Port     int       `json:"port,omitempty"`
	Expires  time.Time `json:"expires_at,omitzero"`
	Reason   string    `json:"reason,omitempty"`
	Deadline time.Time `json:"deadline,omitzero"`
}

// MarshalLine encodes e as one JSON line ending in LF.
func (e Event) MarshalLine() []byte {
	b, _ := json.Marshal(e) // no field can fail to encode
	return append(b, '\n')
}

// ParseEvent decodes one notification line (without or with its LF).
func ParseEvent(line []byte) (Event, error) {
	line = bytes.TrimRight(line, "\r\n")
	if len(line) > MaxEventLine {
		return Event{}, fmt.Errorf("notification longer than %d bytes", MaxEventLine)
	}
	var e Event
	dec := json.NewDecoder(bytes.NewReader(line))
	if err := dec.Decode(&e); err != nil {
		return Event{}, fmt.Errorf("notification: %w", err)
	}
	if dec.More() {
		return Event{}, errors.New("notification: trailing data")
	}
	if e.Type == "" {
		return Event{}, errors.New("notification: no type")
	}
	if e.Port < 0 || e.Port > 65535 {
		return Event{}, errors.New("notification: port out of range")
	}
	return e, nil
}

package metering

import (
	"errors"
	"fmt"
)

var (
	// ErrNoAddress means Config.Addresses is empty.
	ErrNoAddress = errors.New("metering: no node address")
	// ErrNoTicket means Config.Ticket is empty.
	ErrNoTicket = errors.New("metering: no ticket")
	// ErrNoAck means the node did not acknowledge a heartbeat in time.
	ErrNoAck = errors.New("metering: no acknowledgement")
)

// RefusedError is a heartbeat the node refused for good (a retry cannot
// help): Code is the node's reason ("ticket", "clock", "malformed").
type RefusedError struct {
	Seq  uint64
	Code string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("metering: heartbeat %d refused: %s", e.Seq, e.Code)
}

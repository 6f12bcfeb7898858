package tn3270

import (
	"errors"
	"fmt"
)

var (
	// ErrUnknownCodePage means a Config named a code page this package lacks.
	ErrUnknownCodePage = errors.New("tn3270: unknown code page")
	// ErrUnencodable means a character has no byte in the code page in use.
	ErrUnencodable = errors.New("tn3270: character not in code page")
	// ErrBadModel means a Config named a model other than 2, 3, 4 or 5.
	ErrBadModel = errors.New("tn3270: unsupported model (want 2, 3, 4 or 5)")

	// ErrKeyboardLocked means input was refused because the keyboard is
	// locked: waiting for the host after an AID, or after an operator error
	// (press KeyReset).
	ErrKeyboardLocked = errors.New("tn3270: keyboard locked")
	// ErrProtected means input was aimed at a protected field or a field
	// attribute position.
	ErrProtected = errors.New("tn3270: protected field")
	// ErrNumeric means a non-numeric character was typed into a numeric field.
	ErrNumeric = errors.New("tn3270: numeric field accepts only 0-9 . -")
	// ErrTooLong means the text does not fit in the field.
	ErrTooLong = errors.New("tn3270: text longer than field")
	// ErrOverflow means an insert found no room left in the field.
	ErrOverflow = errors.New("tn3270: field overflow")
	// ErrNoField means there is no field at the given position (the screen
	// is unformatted or the position is outside the screen).
	ErrNoField = errors.New("tn3270: no field at position")
	// ErrUnknownKey means Press was given a Key this package does not know.
	ErrUnknownKey = errors.New("tn3270: unknown key")

	// ErrClosed means the terminal was closed or the host closed the connection.
	ErrClosed = errors.New("tn3270: terminal closed")
	// ErrNegotiation means the host's telnet negotiation never reached
	// 3270 mode.
	ErrNegotiation = errors.New("tn3270: telnet negotiation failed")
	// ErrRecordTooLarge means a telnet record exceeded MaxRecordSize.
	ErrRecordTooLarge = errors.New("tn3270: record too large")
	// ErrShortHeader means a TN3270E record was shorter than its 5-byte header.
	ErrShortHeader = errors.New("tn3270: TN3270E header truncated")
)

// DataStreamError describes a malformed outbound (host to terminal) record.
// Processing stops at the bad order, as in x3270; what was already applied
// stays on the screen.
type DataStreamError struct {
	Offset int    // byte offset in the record
	Reason string // what was wrong
}

func (e *DataStreamError) Error() string {
	return fmt.Sprintf("tn3270: data stream error at offset %d: %s", e.Offset, e.Reason)
}

// Is makes errors.Is(err, ErrDataStream) true for every DataStreamError.
func (e *DataStreamError) Is(target error) bool { return target == ErrDataStream }

// ErrDataStream matches every *DataStreamError.
var ErrDataStream = errors.New("tn3270: data stream error")

// FieldError says which field refused an input and why; it unwraps to one of
// ErrProtected, ErrNumeric, ErrTooLong, ErrKeyboardLocked, ErrNoField.
type FieldError struct {
	Row, Col int
	Err      error
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("tn3270: field at row %d col %d: %v", e.Row, e.Col, e.Err)
}

func (e *FieldError) Unwrap() error { return e.Err }

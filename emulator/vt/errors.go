package vt

import (
	"errors"
	"fmt"
)

// Errors of the asciicast reader.
var (
	// ErrCastHeader means the first line is not an asciicast v2 header.
	ErrCastHeader = errors.New("vt: not an asciicast v2 header")
	// ErrCastEvent means an event line is malformed.
	ErrCastEvent = errors.New("vt: malformed asciicast event")
	// ErrCastLineTooLong means a line exceeds MaxCastLine.
	ErrCastLineTooLong = errors.New("vt: asciicast line too long")
)

// CastError locates a malformed line of an asciicast file.
type CastError struct {
	Line int   // 1-based line number
	Err  error // ErrCastHeader, ErrCastEvent or ErrCastLineTooLong, possibly wrapping a JSON error
}

func (e *CastError) Error() string { return fmt.Sprintf("asciicast line %d: %v", e.Line, e.Err) }
func (e *CastError) Unwrap() error { return e.Err }

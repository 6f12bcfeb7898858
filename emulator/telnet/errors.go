package telnet

import "errors"

var (
	// ErrMalformedSubnegotiation is returned for a subnegotiation payload
	// that does not have the shape its option requires.
	ErrMalformedSubnegotiation = errors.New("telnet: malformed subnegotiation")
	// ErrClosed is returned by operations on a closed Conn.
	ErrClosed = errors.New("telnet: connection closed")
	// ErrDeadlineUnsupported is returned by the deadline methods of a Conn
	// whose underlying stream has no deadlines.
	ErrDeadlineUnsupported = errors.New("telnet: underlying stream does not support deadlines")
)

package ftpchan

import (
	"errors"
	"fmt"
	"net/http"
)

// Sentinel errors of the codec and the gateway.
var (
	// ErrLineTooLong: a control line exceeds the line bound.
	ErrLineTooLong = errors.New("control line too long")
	// ErrBadCommand: a command line is malformed or carries CR, LF or NUL.
	ErrBadCommand = errors.New("malformed FTP command")
	// ErrBadReply: a server reply is malformed.
	ErrBadReply = errors.New("malformed FTP reply")

	// ErrTicketInvalid: a channel ticket is malformed or its signature is wrong.
	ErrTicketInvalid = errors.New("invalid channel ticket")
	// ErrTicketExpired: a channel ticket is past its expiry.
	ErrTicketExpired = errors.New("channel ticket expired")
	// ErrUnknownSession: the ticket names a session that is not (or no
	// longer) open on this node.
	ErrUnknownSession = errors.New("no such FTP session on this node")
	// ErrPortNotAnnounced: a data connection for a port the server did not
	// announce on the session's control channel.
	ErrPortNotAnnounced = errors.New("data port not announced by the server")
	// ErrPortUsed: a second data connection for an announced port.
	ErrPortUsed = errors.New("data port already used")
	// ErrPortExpired: a data connection after the announced port's lifetime.
	ErrPortExpired = errors.New("data port expired")
	// ErrWrongHost: a data connection naming another host than the session's.
	ErrWrongHost = errors.New("data connection target is not the session's host")
	// ErrNotifyOpen: a second notification channel for one session.
	ErrNotifyOpen = errors.New("notification channel already open")
	// ErrOwnerUnavailable: the ticket's owner node cannot be reached.
	ErrOwnerUnavailable = errors.New("owner node of the FTP session unavailable")
	// ErrBadChannel: an unknown Termgate-Channel kind.
	ErrBadChannel = errors.New("unknown channel kind")
	// ErrProof: the channel's proof of possession is missing or wrong.
	ErrProof = errors.New("channel proof of possession missing or invalid")
	// ErrDial: the data connection to the server could not be opened.
	ErrDial = errors.New("data connection to the FTP server failed")
	// ErrClosed: the gateway is closed.
	ErrClosed = errors.New("FTP gateway closed")
)

// Code is the Termgate-Error code of a refused channel CONNECT. The proxy
// sends it with the status of Code.Status.
type Code string

// Channel refusal codes.
const (
	CodeBadRequest       Code = "bad_request"
	CodeTicketInvalid    Code = "ticket_invalid"
	CodeTicketExpired    Code = "ticket_expired"
	CodeChannelDenied    Code = "channel_denied"
	CodeOwnerUnavailable Code = "owner_unavailable"
	CodeProofMissing     Code = "proof_missing"
	CodeProofInvalid     Code = "proof_invalid"
	CodeDialFailed       Code = "dial_failed"
	CodeDraining         Code = "draining"
)

// Status is the HTTP status that carries the code.
func (c Code) Status() int {
	switch c {
	case CodeBadRequest:
		return http.StatusBadRequest
	case CodeTicketInvalid, CodeTicketExpired, CodeProofMissing, CodeProofInvalid:
		return http.StatusProxyAuthRequired
	case CodeDialFailed:
		return http.StatusBadGateway
	case CodeOwnerUnavailable, CodeDraining:
		return http.StatusServiceUnavailable
	}
	return http.StatusForbidden
}

// ChannelError is a refused data or notification channel: the code and the
// one-line reason the client receives. It never holds the ticket.
type ChannelError struct {
	Code   Code
	Reason string
	Err    error
}

func (e *ChannelError) Error() string {
	if e.Reason == "" {
		return string(e.Code)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Reason)
}

func (e *ChannelError) Unwrap() error { return e.Err }

func refusal(code Code, err error, format string, a ...any) *ChannelError {
	return &ChannelError{Code: code, Reason: fmt.Sprintf(format, a...), Err: err}
}

// CodeOf returns the code of a *ChannelError in err's chain, or "".
func CodeOf(err error) Code {
	var ce *ChannelError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return ""
}

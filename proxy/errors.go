package proxy

import (
	"errors"
	"fmt"
	"net/http"
)

// Code is a Termgate-Error code (docs/protocol.md). The token_* and proof_*
// codes, destination_mismatch and replay_check_unavailable come from the
// token package; the others are the proxy's own.
type Code string

// The proxy's own Termgate-Error codes.
const (
	CodeBadRequest             Code = "bad_request"
	CodeDestinationDenied      Code = "destination_denied"
	CodeRateLimited            Code = "rate_limited"
	CodeDialFailed             Code = "dial_failed"
	CodeDialTimeout            Code = "dial_timeout"
	CodeDraining               Code = "draining"
	CodeOverloaded             Code = "overloaded"
	CodeReplayCheckUnavailable Code = "replay_check_unavailable"
	CodeDestinationMismatch    Code = "destination_mismatch"
)

// FTP-channel extensions of docs/protocol.md's table: refusals of a
// Termgate-Channel CONNECT (ftpchan's codes, with the same statuses).
const (
	CodeTicketInvalid    Code = "ticket_invalid"    // 407
	CodeTicketExpired    Code = "ticket_expired"    // 407
	CodeChannelDenied    Code = "channel_denied"    // 403
	CodeOwnerUnavailable Code = "owner_unavailable" // 503
)

// Status is the HTTP status that carries code.
func (c Code) Status() int {
	switch c {
	case CodeBadRequest:
		return http.StatusBadRequest
	case CodeDestinationDenied, CodeDestinationMismatch, CodeChannelDenied:
		return http.StatusForbidden
	case CodeRateLimited:
		return http.StatusTooManyRequests
	case CodeDialFailed:
		return http.StatusBadGateway
	case CodeDialTimeout:
		return http.StatusGatewayTimeout
	case CodeDraining, CodeOverloaded, CodeReplayCheckUnavailable, CodeOwnerUnavailable:
		return http.StatusServiceUnavailable
	}
	// every other code is a token_*, proof_* or ticket_* code
	return http.StatusProxyAuthRequired
}

// Sentinel errors.
var (
	// ErrHeaderTooLarge: the CONNECT request's header block exceeds MaxHeaderBytes.
	ErrHeaderTooLarge = errors.New("request header too large")
	// ErrBadRequest: the request is not a well-formed HTTP/1.x request.
	ErrBadRequest = errors.New("malformed request")
	// ErrNotConnect: the request method is not CONNECT.
	ErrNotConnect = errors.New("only CONNECT is supported")
	// ErrDestinationDenied: the destination policy refused the target.
	ErrDestinationDenied = errors.New("destination denied by policy")
	// ErrProxyHeader: a PROXY protocol header was missing, malformed or not allowed.
	ErrProxyHeader = errors.New("PROXY protocol header refused")
	// ErrClosed: the server is closed.
	ErrClosed = errors.New("proxy server closed")
	// ErrPeerUnavailable: the owner node of a jti could not be asked.
	ErrPeerUnavailable = errors.New("peer node unavailable")
)

// RejectError is a refused CONNECT: the status line, Termgate-Error code and
// one-line reason the client receives. It never contains a token.
type RejectError struct {
	Code   Code
	Reason string
	Err    error
}

func (e *RejectError) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("%s: %s", e.Code, e.Reason)
	}
	return string(e.Code)
}

func (e *RejectError) Unwrap() error { return e.Err }

func reject(code Code, err error, format string, a ...any) *RejectError {
	return &RejectError{Code: code, Reason: fmt.Sprintf(format, a...), Err: err}
}

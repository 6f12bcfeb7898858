package token

import (
	"errors"
	"net/http"
)

// Code is a Termgate-Error code of docs/protocol.md: what the proxy sends back
// when it refuses a token.
type Code string

// Codes that Verify and Parse return. Every one maps to a sentinel error
// (ErrX) and an HTTP status (Code.HTTPStatus).
const (
	CodeMissing                Code = "token_missing"
	CodeMalformed              Code = "token_malformed"
	CodeSignature              Code = "token_signature"
	CodeUntrustedKey           Code = "token_untrusted_key"
	CodeExpired                Code = "token_expired"
	CodeNotYetValid            Code = "token_not_yet_valid"
	CodeAudience               Code = "token_audience"
	CodeType                   Code = "token_type"
	CodeReplayed               Code = "token_replayed"
	CodeProofMissing           Code = "proof_missing"
	CodeProofInvalid           Code = "proof_invalid"
	CodeDestinationMismatch    Code = "destination_mismatch"
	CodeReplayCheckUnavailable Code = "replay_check_unavailable"
)

// Sentinel errors, one per Code. An *Error unwraps to the sentinel of its
// Code, so errors.Is(err, ErrExpired) works on what Verify returns.
var (
	ErrMissing                = errors.New("no authorization token")
	ErrMalformed              = errors.New("authorization token is malformed")
	ErrSignature              = errors.New("authorization token signature is invalid")
	ErrUntrustedKey           = errors.New("authorization token is signed by an untrusted key")
	ErrExpired                = errors.New("authorization token has expired")
	ErrNotYetValid            = errors.New("authorization token is not valid yet")
	ErrAudience               = errors.New("authorization token is for another audience")
	ErrType                   = errors.New("not a termgate authorization token (typ)")
	ErrReplayed               = errors.New("authorization token was already used")
	ErrProofMissing           = errors.New("proof of possession is missing")
	ErrProofInvalid           = errors.New("proof of possession is invalid")
	ErrDestinationMismatch    = errors.New("destination does not match the token")
	ErrReplayCheckUnavailable = errors.New("replay check unavailable")
)

var sentinels = map[Code]error{
	CodeMissing:                ErrMissing,
	CodeMalformed:              ErrMalformed,
	CodeSignature:              ErrSignature,
	CodeUntrustedKey:           ErrUntrustedKey,
	CodeExpired:                ErrExpired,
	CodeNotYetValid:            ErrNotYetValid,
	CodeAudience:               ErrAudience,
	CodeType:                   ErrType,
	CodeReplayed:               ErrReplayed,
	CodeProofMissing:           ErrProofMissing,
	CodeProofInvalid:           ErrProofInvalid,
	CodeDestinationMismatch:    ErrDestinationMismatch,
	CodeReplayCheckUnavailable: ErrReplayCheckUnavailable,
}

var allCodes = []Code{
	CodeMissing, CodeMalformed, CodeSignature, CodeUntrustedKey, CodeExpired, CodeNotYetValid, CodeAudience,
	CodeType, CodeReplayed, CodeProofMissing, CodeProofInvalid, CodeDestinationMismatch, CodeReplayCheckUnavailable,
}

// Sentinel returns the sentinel error of c, or nil for an unknown code.
func (c Code) Sentinel() error { return sentinels[c] }

// HTTPStatus is the status a proxy answers with: 407 for token_* and
// proof_*, 403 for destination_mismatch, 503 for replay_check_unavailable,
// 500 for anything else.
func (c Code) HTTPStatus() int {
	switch c {
	case CodeMissing, CodeMalformed, CodeSignature, CodeUntrustedKey, CodeExpired, CodeNotYetValid,
		CodeAudience, CodeType, CodeReplayed, CodeProofMissing, CodeProofInvalid:
		return http.StatusProxyAuthRequired
	case CodeDestinationMismatch:
		return http.StatusForbidden
	case CodeReplayCheckUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// Error is what Verify and Parse return when they refuse a token. Reason is
// one line for a human that says what was wrong and, where it helps, what to
// do; it never contains the token. Err is the underlying cause, if any.
type Error struct {
	Code   Code
	Reason string
	Err    error
}

// Error returns "code: reason", the form `termgate token verify` prints.
func (e *Error) Error() string {
	if e.Reason == "" {
		return string(e.Code)
	}
	return string(e.Code) + ": " + e.Reason
}

// Unwrap returns the sentinel of e.Code and the underlying error.
func (e *Error) Unwrap() []error {
	out := make([]error, 0, 2)
	if s := sentinels[e.Code]; s != nil {
		out = append(out, s)
	}
	if e.Err != nil {
		out = append(out, e.Err)
	}
	return out
}

// CodeOf returns the Code of a token error: the Code of an *Error in err's
// chain, else the Code whose sentinel err wraps, else "".
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	for _, c := range allCodes {
		if errors.Is(err, sentinels[c]) {
			return c
		}
	}
	return ""
}

func fail(c Code, reason string, err error) *Error {
	return &Error{Code: c, Reason: reason, Err: err}
}

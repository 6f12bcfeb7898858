package emulator

import (
	"errors"
	"fmt"
	"io"
	"net/http"
)

// Sentinel errors, one per Termgate-Error code of the proxy (see ProxyError),
// so that callers can write errors.Is(err, emulator.ErrTokenExpired).
var (
	ErrBadRequest             = errors.New("proxy: bad request")
	ErrTokenMissing           = errors.New("proxy: token missing")
	ErrTokenMalformed         = errors.New("proxy: token malformed")
	ErrTokenSignature         = errors.New("proxy: token signature invalid")
	ErrTokenUntrustedKey      = errors.New("proxy: token signed by an untrusted key")
	ErrTokenExpired           = errors.New("proxy: token expired")
	ErrTokenNotYetValid       = errors.New("proxy: token not yet valid")
	ErrTokenAudience          = errors.New("proxy: token for another audience")
	ErrTokenType              = errors.New("proxy: not an authorization token")
	ErrTokenReplayed          = errors.New("proxy: token already used")
	ErrProofMissing           = errors.New("proxy: proof of possession missing")
	ErrProofInvalid           = errors.New("proxy: proof of possession invalid")
	ErrDestinationMismatch    = errors.New("proxy: destination differs from the token's")
	ErrDestinationDenied      = errors.New("proxy: destination denied by policy")
	ErrRateLimited            = errors.New("proxy: rate limited")
	ErrDialFailed             = errors.New("proxy: could not reach the host")
	ErrDialTimeout            = errors.New("proxy: timed out reaching the host")
	ErrDraining               = errors.New("proxy: node draining")
	ErrOverloaded             = errors.New("proxy: overloaded")
	ErrReplayCheckUnavailable = errors.New("proxy: replay check unavailable")

	// ErrTokenRejected matches every refusal of the token itself (status
	// 407: token_* and proof_* codes).
	ErrTokenRejected = errors.New("proxy: token rejected")
	// ErrProxyRefused matches every *ProxyError.
	ErrProxyRefused = errors.New("proxy refused the connection")

	// ErrNotLoggedIn is returned by Client calls that need a login token
	// before Login or UseToken.
	ErrNotLoggedIn = errors.New("not logged in: call Login or UseToken first")
	// ErrProxyLost is returned by Conn.Read when the connection to the
	// proxy ended without TLS's closing alert: the proxy node stopped, or
	// the network failed. A session the host (or the proxy) ends normally
	// reads io.EOF instead. It matches io.ErrUnexpectedEOF too.
	ErrProxyLost = fmt.Errorf("the connection to the proxy ended abruptly (the proxy node stopped or the network failed): %w", io.ErrUnexpectedEOF)
	// ErrClosed is returned by operations on a closed Session.
	ErrClosed = errors.New("session closed")
	// ErrUnsupportedProtocol is returned by Open for a session whose
	// protocol this SDK cannot drive as a terminal (ftp), and by Connect for
	// one it cannot offer as a byte stream (ftp, tn3270).
	ErrUnsupportedProtocol = errors.New("unsupported session protocol")
	// ErrUnknownKey is returned by Press and ParseKey for a key name they
	// do not know.
	ErrUnknownKey = errors.New("unknown key")
	// ErrNotTN3270 is returned by the 3270-only methods of a Session (Fields,
	// FieldAt, SetField, Keyboard, WaitForUnlock) on a VT session, and by
	// Press for a 3270 key (PF3, PA1, Clear...) there.
	ErrNotTN3270 = errors.New("not a 3270 session")
	// ErrNotVT is returned by the VT-only methods of a Session (Send,
	// Resize) on a 3270 session, and by Press for a key a 3270 keyboard
	// lacks (Escape, Ctrl-C, PgUp...).
	ErrNotVT = errors.New("not a VT session")
)

// Termgate-Error codes of the proxy (docs/protocol.md).
const (
	CodeBadRequest             = "bad_request"
	CodeTokenMissing           = "token_missing"
	CodeTokenMalformed         = "token_malformed"
	CodeTokenSignature         = "token_signature"
	CodeTokenUntrustedKey      = "token_untrusted_key"
	CodeTokenExpired           = "token_expired"
	CodeTokenNotYetValid       = "token_not_yet_valid"
	CodeTokenAudience          = "token_audience"
	CodeTokenType              = "token_type"
	CodeTokenReplayed          = "token_replayed"
	CodeProofMissing           = "proof_missing"
	CodeProofInvalid           = "proof_invalid"
	CodeDestinationMismatch    = "destination_mismatch"
	CodeDestinationDenied      = "destination_denied"
	CodeRateLimited            = "rate_limited"
	CodeDialFailed             = "dial_failed"
	CodeDialTimeout            = "dial_timeout"
	CodeDraining               = "draining"
	CodeOverloaded             = "overloaded"
	CodeReplayCheckUnavailable = "replay_check_unavailable"
)

type codeInfo struct {
	err       error
	hint      string
	retryable bool // a fresh launch and dial may well succeed
}

var codes = map[string]codeInfo{
	CodeBadRequest: {ErrBadRequest,
		"the proxy did not understand the request: check that the proxy address points at a termgate proxy", false},
	CodeTokenMissing: {ErrTokenMissing,
		"no token reached the proxy: launch the session and present its token", false},
	CodeTokenMalformed: {ErrTokenMalformed,
		"the token is damaged: launch again to get a fresh one", false},
	CodeTokenSignature: {ErrTokenSignature,
		"the token's signature does not verify: launch again; if it repeats, ask the administrator to check that the proxy trusts this management server's certificates", false},
	CodeTokenUntrustedKey: {ErrTokenUntrustedKey,
		"the proxy does not trust the management node that signed the token: ask the administrator to refresh the proxy's management trust store (trust/mgmt.pem), then launch again", false},
	CodeTokenExpired: {ErrTokenExpired,
		"launch again and connect promptly; if it repeats, check this machine's clock and those of the management server and the proxy", true},
	CodeTokenNotYetValid: {ErrTokenNotYetValid,
		"the proxy's clock is behind the management server's: launch again in a moment and ask the administrator to synchronise the clocks (NTP)", true},
	CodeTokenAudience: {ErrTokenAudience,
		"the token was issued for another proxy cluster: ask the administrator to check the management server's proxy settings", false},
	CodeTokenType: {ErrTokenType,
		"this is not a session authorization token (a login token or API key cannot open a tunnel): use the token of a launch", false},
	CodeTokenReplayed: {ErrTokenReplayed,
		"each token opens one connection only: launch again for a new connection", true},
	CodeProofMissing: {ErrProofMissing,
		"the token is bound to a key: connect with the proof key of the launch that issued it", false},
	CodeProofInvalid: {ErrProofInvalid,
		"the proof of possession did not verify: launch again from this client; a TLS-intercepting middlebox between this client and the proxy also breaks the proof", false},
	CodeDestinationMismatch: {ErrDestinationMismatch,
		"connect to exactly the host:port named in the token", false},
	CodeDestinationDenied: {ErrDestinationDenied,
		"the proxy's destination policy does not allow this host: ask the administrator to allow it", false},
	CodeRateLimited: {ErrRateLimited,
		"too many connections in a short time: wait a little and retry", true},
	CodeDialFailed: {ErrDialFailed,
		"the proxy could not reach the host: check that the host is up and listening on that port", true},
	CodeDialTimeout: {ErrDialTimeout,
		"the host did not answer the proxy in time: check the host and any firewall between the proxy and the host", true},
	CodeDraining: {ErrDraining,
		"this proxy node is shutting down: launch and connect again (the load balancer picks another node)", true},
	CodeOverloaded: {ErrOverloaded,
		"the proxy is at capacity: retry shortly", true},
	CodeReplayCheckUnavailable: {ErrReplayCheckUnavailable,
		"the proxy cluster could not check the token's single use: launch again (a launch with proof of possession, the default, does not need this check)", true},
}

// ProxyError is the proxy's refusal of a CONNECT: the HTTP status, the
// Termgate-Error code and the one-line reason the proxy sent. errors.Is
// matches the sentinel of its code (ErrTokenExpired for token_expired),
// ErrTokenRejected for every 407, and ErrProxyRefused.
type ProxyError struct {
	Status int    // HTTP status of the proxy's answer
	Code   string // Termgate-Error header; "" if the server sent none
	Reason string // the proxy's one-line explanation
	Target string // the host:port that was asked for
	Proxy  string // the proxy address that answered
}

// Hint says what the user can do about the refusal.
func (e *ProxyError) Hint() string {
	if ci, ok := codes[e.Code]; ok {
		return ci.hint
	}
	if e.Code == "" {
		return fmt.Sprintf("the server at %s answered without a Termgate-Error header: check that the proxy address points at a termgate proxy", e.Proxy)
	}
	return "the proxy gave an error code this client does not know: update the client"
}

// Retryable reports whether a fresh launch and dial may succeed (an expired
// or replayed token, a draining or overloaded node, a host that did not
// answer), as opposed to a refusal that needs an administrator.
func (e *ProxyError) Retryable() bool { return codes[e.Code].retryable }

func (e *ProxyError) Error() string {
	code := e.Code
	if code == "" {
		code = "no Termgate-Error"
	}
	msg := fmt.Sprintf("proxy %s refused CONNECT %s: %d %s (%s)", e.Proxy, e.Target, e.Status, http.StatusText(e.Status), code)
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	return msg + "; " + e.Hint()
}

// Unwrap returns the sentinel of the code, ErrTokenRejected for a 407, and
// ErrProxyRefused.
func (e *ProxyError) Unwrap() []error {
	out := []error{ErrProxyRefused}
	if ci, ok := codes[e.Code]; ok {
		out = append(out, ci.err)
	}
	if e.Status == http.StatusProxyAuthRequired {
		out = append(out, ErrTokenRejected)
	}
	return out
}

// APIError is an error answer of the management server's HTTP API:
// {"error":{"code","message"}} with its HTTP status.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string {
	code := e.Code
	if code == "" {
		code = http.StatusText(e.Status)
	}
	msg := fmt.Sprintf("management server: %d %s", e.Status, code)
	if e.Message != "" {
		msg += ": " + e.Message
	}
	switch e.Status {
	case http.StatusUnauthorized:
		msg += " (log in again: the login token may have expired)"
	case http.StatusForbidden:
		msg += " (ask the administrator to grant you this session)"
	case http.StatusTooManyRequests:
		msg += " (wait a little and retry)"
	}
	return msg
}

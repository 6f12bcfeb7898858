package ssh

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrNoHostKey is returned when a Config names no way to check the
	// host's key: set HostKey or KnownHostsFile.
	ErrNoHostKey = errors.New("ssh: no host key to check against: set Config.HostKey (authorized_keys format) or Config.KnownHostsFile")
	// ErrNoUser is returned when Config.User is empty.
	ErrNoUser = errors.New("ssh: no user name: set Config.User")
	// ErrNoAuth is returned when a Config has no password and no signer.
	ErrNoAuth = errors.New("ssh: no credentials: set Config.Password, Config.PasswordFunc or Config.Signers")
	// ErrClosed is returned by operations on a closed Session.
	ErrClosed = errors.New("ssh: session closed")
)

// HostKeyError reports a host key that did not match what the Config
// expects. It names the expected and the presented fingerprints.
type HostKeyError struct {
	Addr string // the address the key was presented for
	// Got is the SHA-256 fingerprint of the presented key, GotType its type.
	Got, GotType string
	// Want lists the fingerprints that would have been accepted, each with
	// where it came from. Empty means the host is unknown.
	Want []string
	// Err is the underlying error, for example from known_hosts parsing of
	// a revoked key; it may be nil.
	Err error
}

func (e *HostKeyError) Error() string {
	if len(e.Want) == 0 {
		return fmt.Sprintf("ssh: host %s presented key %s (%s), which is not known: add it to the known_hosts file or to the session's host key once you have checked it with the host's administrator",
			e.Addr, e.Got, e.GotType)
	}
	return fmt.Sprintf("ssh: host key mismatch for %s: got %s (%s), expected %s: the host's key changed or someone is intercepting the connection; do not connect until the host's administrator confirms the new key",
		e.Addr, e.Got, e.GotType, strings.Join(e.Want, " or "))
}

func (e *HostKeyError) Unwrap() error { return e.Err }

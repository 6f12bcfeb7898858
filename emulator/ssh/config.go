package ssh

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/rs/zerolog"
	xssh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Defaults used when the corresponding Config field is zero.
const (
	DefaultTerminalType = "xterm"
	DefaultRows         = 24
	DefaultCols         = 80
	DefaultTimeout      = 15 * time.Second
)

// Config configures a Session. Its zero value is not usable on its own: the
// host's key must be named (HostKey or KnownHostsFile), and a User with a
// credential is needed. Every other field has a safe default.
type Config struct {
	// User is the login name on the host. Required.
	User string
	// Password is used for "password" and "keyboard-interactive"
	// authentication. It is never logged.
	Password string
	// PasswordFunc, if set, is asked for the password when the host wants
	// one, instead of Password.
	PasswordFunc func() (string, error)
	// Signers are private keys for "publickey" authentication, tried first.
	Signers []xssh.Signer

	// HostKey holds the host's public key(s) in authorized_keys format, one
	// per line, for example from a session definition. A key listed here is
	// accepted.
	HostKey string
	// KnownHostsFile is an OpenSSH known_hosts file; a key it lists for the
	// address is accepted, a revoked one (@revoked) is refused.
	KnownHostsFile string
	// InsecureIgnoreHostKey accepts any host key. DANGEROUS: anyone on the
	// path from the proxy to the host can then read and change the session,
	// including the password. Only for tests against throwaway hosts.
	InsecureIgnoreHostKey bool

	// TerminalType is the pty's TERM. Empty means "xterm".
	TerminalType string
	// Rows and Cols are the pty's size. Zero means 24 and 80.
	Rows, Cols int
	// Command, if set, is run instead of the login shell (still with a pty).
	Command string
	// Timeout bounds the handshake, authentication and session start.
	// Zero means 15 s. A deadline of Open's ctx that comes sooner wins.
	Timeout time.Duration
	// Logger receives connection events. The zero value logs nothing.
	Logger zerolog.Logger
}

func (c *Config) terminal() (term string, rows, cols int) {
	term, rows, cols = c.TerminalType, c.Rows, c.Cols
	if term == "" {
		term = DefaultTerminalType
	}
	if rows <= 0 {
		rows = DefaultRows
	}
	if cols <= 0 {
		cols = DefaultCols
	}
	return term, rows, cols
}

func (c *Config) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}

func (c *Config) authMethods() ([]xssh.AuthMethod, error) {
	var methods []xssh.AuthMethod
	if len(c.Signers) > 0 {
		methods = append(methods, xssh.PublicKeys(c.Signers...))
	}
	password := c.PasswordFunc
	if password == nil && c.Password != "" {
		p := c.Password
		password = func() (string, error) { return p, nil }
	}
	if password != nil {
		methods = append(methods, xssh.PasswordCallback(password))
		methods = append(methods, xssh.KeyboardInteractive(func(_, _ string, questions []string, echos []bool) ([]string, error) {
			answers := make([]string, len(questions))
			for i := range questions {
				if echos[i] {
					// A visible question is not a password prompt: answer nothing.
					continue
				}
				p, err := password()
				if err != nil {
					return nil, err
				}
				answers[i] = p
			}
			return answers, nil
		}))
	}
	if len(methods) == 0 {
		return nil, ErrNoAuth
	}
	return methods, nil
}

// hostKeyCheck builds the host-key callback and the host-key algorithms to
// offer for addr (so that a server with several keys presents one we know).
func (c *Config) hostKeyCheck(addr string) (xssh.HostKeyCallback, []string, error) {
	if c.InsecureIgnoreHostKey {
		return xssh.InsecureIgnoreHostKey(), nil, nil
	}
	if c.HostKey == "" && c.KnownHostsFile == "" {
		return nil, nil, ErrNoHostKey
	}
	var pinned []xssh.PublicKey
	for rest := []byte(c.HostKey); len(bytes.TrimSpace(rest)) > 0; {
		key, _, _, next, err := xssh.ParseAuthorizedKey(rest)
		if err != nil {
			return nil, nil, fmt.Errorf("ssh: parse Config.HostKey (authorized_keys format expected): %w", err)
		}
		pinned = append(pinned, key)
		rest = next
	}
	var known xssh.HostKeyCallback
	if c.KnownHostsFile != "" {
		var err error
		known, err = knownhosts.New(c.KnownHostsFile)
		if err != nil {
			return nil, nil, fmt.Errorf("ssh: read known hosts %s: %w", c.KnownHostsFile, err)
		}
	}

	var algos []string
	addAlgos := func(key xssh.PublicKey) {
		for _, a := range algorithmsFor(key.Type()) {
			if !contains(algos, a) {
				algos = append(algos, a)
			}
		}
	}
	for _, k := range pinned {
		addAlgos(k)
	}
	if known != nil {
		for _, k := range knownKeys(known, addr) {
			addAlgos(k.Key)
		}
	}

	check := func(hostname string, remote net.Addr, key xssh.PublicKey) error {
		for _, k := range pinned {
			if bytes.Equal(k.Marshal(), key.Marshal()) {
				return nil
			}
		}
		herr := &HostKeyError{Addr: hostname, Got: xssh.FingerprintSHA256(key), GotType: key.Type()}
		for _, k := range pinned {
			herr.Want = append(herr.Want, fmt.Sprintf("%s (%s, session host key)", xssh.FingerprintSHA256(k), k.Type()))
		}
		if known != nil {
			err := known(hostname, remote, key)
			if err == nil {
				return nil
			}
			var kerr *knownhosts.KeyError
			switch {
			case errors.As(err, &kerr):
				for _, k := range kerr.Want {
					herr.Want = append(herr.Want, fmt.Sprintf("%s (%s, %s:%d)", xssh.FingerprintSHA256(k.Key), k.Key.Type(), k.Filename, k.Line))
				}
			default:
				herr.Err = err
			}
		}
		return herr
	}
	return check, algos, nil
}

// knownKeys returns the keys a known_hosts callback lists for addr, by
// presenting a key that cannot be in the file.
func knownKeys(cb xssh.HostKeyCallback, addr string) []knownhosts.KnownKey {
	probe, err := xssh.NewPublicKey(ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)).Public())
	if err != nil {
		return nil
	}
	var kerr *knownhosts.KeyError
	if err := cb(addr, &net.TCPAddr{IP: net.IPv4zero}, probe); errors.As(err, &kerr) {
		return kerr.Want
	}
	return nil
}

// algorithmsFor maps a key type to the host-key algorithms that use it.
func algorithmsFor(keyType string) []string {
	if keyType == xssh.KeyAlgoRSA {
		return []string{xssh.KeyAlgoRSASHA512, xssh.KeyAlgoRSASHA256, xssh.KeyAlgoRSA}
	}
	return []string{keyType}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

package ftpchan

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Ticket format: "t1." + base64url(payload || HMAC-SHA256(key, domain || payload)),
// payload = version(1) | expiry unix seconds (8, big endian) | len(node) (1) |
// node | len(session) (1) | session.
const (
	ticketPrefix  = "t1."
	ticketVersion = 1
	ticketDomain  = "termgate ftp channel ticket v1\x00"
	// MaxTicketLen bounds a ticket string before it is decoded.
	MaxTicketLen = 1024
	// MinTicketKeyLen is the shortest accepted ticket key.
	MinTicketKeyLen = 32
)

// Ticket is what a channel ticket names: the FTP session, the node that owns
// it (where its control channel runs) and when the ticket stops being valid.
type Ticket struct {
	Session string
	Node    string
	Expires time.Time
}

// Ticketer signs and verifies channel tickets with HMAC-SHA256 under keys
// shared by the proxy cluster. The first key signs; every key verifies (for
// rotation). It is safe for concurrent use.
type Ticketer struct {
	keys [][]byte
	now  func() time.Time
}

// NewTicketer returns a Ticketer. Each key must be at least
// MinTicketKeyLen bytes; with no key, a random one is made (valid on this
// node only). now nil means time.Now.
func NewTicketer(keys [][]byte, now func() time.Time) (*Ticketer, error) {
	if now == nil {
		now = time.Now
	}
	t := &Ticketer{now: now}
	for i, k := range keys {
		if len(k) < MinTicketKeyLen {
			return nil, fmt.Errorf("ticket key %d: %d bytes, want at least %d", i, len(k), MinTicketKeyLen)
		}
		t.keys = append(t.keys, append([]byte(nil), k...))
	}
	if len(t.keys) == 0 {
		k := make([]byte, 32)
		if _, err := rand.Read(k); err != nil {
			return nil, fmt.Errorf("ticket key: %w", err)
		}
		t.keys = [][]byte{k}
	}
	return t, nil
}

// Issue signs tk. Session and Node must be 1 to 255 bytes.
func (t *Ticketer) Issue(tk Ticket) (string, error) {
	if len(tk.Session) == 0 || len(tk.Session) > 255 || len(tk.Node) == 0 || len(tk.Node) > 255 {
		return "", errors.New("ticket: session and node must be 1 to 255 bytes")
	}
	p := make([]byte, 0, 11+len(tk.Node)+len(tk.Session)+sha256.Size)
	p = append(p, ticketVersion)
	p = binary.BigEndian.AppendUint64(p, uint64(tk.Expires.Unix()))
	p = append(p, byte(len(tk.Node)))
	p = append(p, tk.Node...)
	p = append(p, byte(len(tk.Session)))
	p = append(p, tk.Session...)
	p = append(p, mac(t.keys[0], p)...)
	return ticketPrefix + base64.RawURLEncoding.EncodeToString(p), nil
}

func mac(key, payload []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(ticketDomain))
	h.Write(payload)
	return h.Sum(nil)
}

// Verify checks the ticket's signature (in constant time) and expiry and
// returns what it names. Errors wrap ErrTicketInvalid or ErrTicketExpired.
func (t *Ticketer) Verify(s string) (Ticket, error) {
	tk, err := t.verifySignature(s)
	if err != nil {
		return Ticket{}, err
	}
	if !t.now().Before(tk.Expires) {
		return Ticket{}, fmt.Errorf("%w (at %s)", ErrTicketExpired, tk.Expires.UTC().Format(time.RFC3339))
	}
	return tk, nil
}

func (t *Ticketer) verifySignature(s string) (Ticket, error) {
	if len(s) > MaxTicketLen || !strings.HasPrefix(s, ticketPrefix) {
		return Ticket{}, fmt.Errorf("%w: bad format", ErrTicketInvalid)
	}
	body := s[len(ticketPrefix):]
	for i := 0; i < len(body); i++ {
		// The decoder skips CR and LF: refuse them (and anything else
		// outside the alphabet) so that a ticket has one encoding.
		if c := body[i]; !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return Ticket{}, fmt.Errorf("%w: bad encoding", ErrTicketInvalid)
		}
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(body)
	if err != nil {
		return Ticket{}, fmt.Errorf("%w: bad encoding", ErrTicketInvalid)
	}
	if len(raw) < 1+8+1+1+1+1+sha256.Size {
		return Ticket{}, fmt.Errorf("%w: too short", ErrTicketInvalid)
	}
	payload, sig := raw[:len(raw)-sha256.Size], raw[len(raw)-sha256.Size:]
	ok := false
	for _, k := range t.keys {
		if hmac.Equal(mac(k, payload), sig) {
			ok = true
		}
	}
	if !ok {
		return Ticket{}, fmt.Errorf("%w: signature", ErrTicketInvalid)
	}
	tk, err := decodePayload(payload)
	if err != nil {
		return Ticket{}, err
	}
	return tk, nil
}

func decodePayload(p []byte) (Ticket, error) {
	bad := fmt.Errorf("%w: bad payload", ErrTicketInvalid)
	if len(p) < 10 || p[0] != ticketVersion {
		return Ticket{}, bad
	}
	exp := int64(binary.BigEndian.Uint64(p[1:9]))
	p = p[9:]
	node, p, ok := lenPrefixed(p)
	if !ok {
		return Ticket{}, bad
	}
	sess, p, ok := lenPrefixed(p)
	if !ok || len(p) != 0 || exp <= 0 {
		return Ticket{}, bad
	}
	return Ticket{Session: string(sess), Node: string(node), Expires: time.Unix(exp, 0)}, nil
}

func lenPrefixed(p []byte) (field, rest []byte, ok bool) {
	if len(p) < 1 {
		return nil, nil, false
	}
	n := int(p[0])
	if n == 0 || len(p) < 1+n {
		return nil, nil, false
	}
	return p[1 : 1+n], p[1+n:], true
}

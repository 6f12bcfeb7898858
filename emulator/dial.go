package emulator

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/termgate/termgate/internal/tlsend"
	"github.com/termgate/termgate/pki"
	"github.com/termgate/termgate/token"
)

// DefaultDialTimeout bounds the whole of DialProxy (TCP, TLS handshake,
// CONNECT exchange) when DialOptions.Timeout is zero.
const DefaultDialTimeout = 15 * time.Second

// maxResponseHeader bounds the proxy's CONNECT response head.
const maxResponseHeader = 64 << 10

// maxReason bounds the one-line reason of a refusal that is read.
const maxReason = 1 << 10

// Proxy request and response headers (docs/protocol.md).
const (
	HeaderProof    = "Termgate-Proof"
	HeaderProofKey = "Termgate-Proof-Key"
	HeaderError    = "Termgate-Error"
	HeaderSession  = "Termgate-Session"
	HeaderChannel  = "Termgate-Channel"
	HeaderTicket   = "Termgate-Ticket"
	// HeaderOwnerAddress, in the answer to an FTP control channel, is
	// the owner node's own address for the session's other channels
	// (when the proxy is configured with one).
	HeaderOwnerAddress = "Termgate-Owner-Address"
)

// DialOptions configures DialProxy. ProxyAddr, Trust, Token and Target are
// required; the zero value of every other field is the safe default.
type DialOptions struct {
	// ProxyAddr is the proxy's host:port (usually the load balancer).
	ProxyAddr string
	// ServerName is the name the proxy's certificate must carry; "" means
	// the host of ProxyAddr.
	ServerName string
	// InsecureSkipServerIdentity skips the check that the certificate names
	// ServerName (the administrator's "verify server identity" turned off).
	// The chain is still verified against Trust. Only for deployments whose
	// proxy certificates cannot carry the name clients dial.
	InsecureSkipServerIdentity bool
	// Trust holds the proxy certificates (or their CA) shipped with the
	// launch: the only trust used for the connection.
	Trust *pki.TrustStore
	// Token is the authorization token for Target.
	Token Secret
	// ProofKey, if set, signs the TLS exporter value of this connection
	// (Termgate-Proof, Termgate-Proof-Key); required by a token with cnf.
	ProofKey *token.ProofKey
	// Target is the host:port to reach through the proxy.
	Target string
	// Headers are extra request headers (e.g. Termgate-Channel for FTP data
	// channels). Values must not contain CR or LF.
	Headers http.Header
	// Timeout bounds the whole dial; zero means DefaultDialTimeout.
	Timeout time.Duration
	// DialContext dials the TCP connection; nil means a net.Dialer.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Conn is a tunnel through the proxy: a net.Conn whose bytes go to and come
// from the destination host. Its addresses are *net.TCPAddr (the TCP
// connection to the proxy) and CloseWrite half-closes the tunnel. Like a
// net.Conn it is safe for one reader and one writer at a time.
type Conn struct {
	tc     *tls.Conn
	header http.Header
	local  *net.TCPAddr
	remote *net.TCPAddr

	rmu     sync.Mutex
	pending []byte // bytes read with the response head, returned first

	raw *tlsend.Conn // under tc
}

var _ net.Conn = (*Conn)(nil)

// Read reads bytes from the destination host.
func (c *Conn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		c.rmu.Unlock()
		return n, nil
	}
	c.rmu.Unlock()
	n, err := c.tc.Read(p)
	if c.raw.Abrupt(err) {
		err = ErrProxyLost
	}
	return n, err
}

// Write writes bytes to the destination host.
func (c *Conn) Write(p []byte) (int, error) { return c.tc.Write(p) }

// Close closes the tunnel.
func (c *Conn) Close() error { return c.tc.Close() }

// CloseWrite half-closes the tunnel: the proxy passes the end of stream on
// to the host, and reading goes on.
func (c *Conn) CloseWrite() error { return c.tc.CloseWrite() }

// LocalAddr returns the local address of the connection to the proxy.
func (c *Conn) LocalAddr() net.Addr { return c.local }

// RemoteAddr returns the proxy's address.
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// SetDeadline sets the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error { return c.tc.SetDeadline(t) }

// SetReadDeadline sets the read deadline.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.tc.SetReadDeadline(t) }

// SetWriteDeadline sets the write deadline.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.tc.SetWriteDeadline(t) }

// Header returns the headers of the proxy's 200 response.
func (c *Conn) Header() http.Header { return c.header }

// SessionID returns the proxy's Termgate-Session id ("" if none).
func (c *Conn) SessionID() string { return c.header.Get(HeaderSession) }

// ConnectionState returns the TLS state of the connection to the proxy.
func (c *Conn) ConnectionState() tls.ConnectionState { return c.tc.ConnectionState() }

// Dial opens a tunnel to the launched session's host through the proxy that
// the launch names, trusting only the launch's trust store.
func Dial(ctx context.Context, l *Launch) (*Conn, error) {
	if l == nil {
		return nil, errors.New("dial: nil launch")
	}
	return DialProxy(ctx, DialOptions{
		ProxyAddr:                  l.Proxy.Address,
		ServerName:                 l.Proxy.ServerName,
		InsecureSkipServerIdentity: !l.Proxy.VerifyServerIdentity,
		Trust:                      l.Trust,
		Token:                      l.Token,
		ProofKey:                   l.ProofKey,
		Target:                     l.Session.Target(),
	})
}

// DialProxy connects to the proxy with TLS, checks its certificate against
// opts.Trust only (and its name, unless told not to), sends the CONNECT
// request with the token and proof, and returns the tunnel. A refusal is a
// *ProxyError; a certificate problem is a *pki.NameMismatchError,
// *pki.UntrustedError or *pki.ValidityError in the chain.
func DialProxy(ctx context.Context, opts DialOptions) (*Conn, error) {
	if err := opts.check(); err != nil {
		return nil, fmt.Errorf("dial proxy: %w", err)
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultDialTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	serverName := opts.ServerName
	if serverName == "" {
		serverName = pki.HostOf(opts.ProxyAddr)
	}
	dial := opts.DialContext
	if dial == nil {
		dial = (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext
	}
	raw, err := dial(ctx, "tcp", opts.ProxyAddr)
	if err != nil {
		return nil, fmt.Errorf("dial proxy %s: %w", opts.ProxyAddr, err)
	}
	c, err := handshake(ctx, raw, serverName, opts)
	if err != nil {
		raw.Close()
		return nil, err
	}
	return c, nil
}

func (o *DialOptions) check() error {
	switch {
	case o.ProxyAddr == "":
		return errors.New("no proxy address")
	case o.Trust == nil || o.Trust.Len() == 0:
		return errors.New("no proxy trust store: the launch must ship the proxy certificates")
	case o.Token == "":
		return errors.New("no token")
	case o.Target == "":
		return errors.New("no target host:port")
	}
	if !validHeaderValue(o.Target) || strings.ContainsAny(o.Target, " \t") {
		return fmt.Errorf("invalid target %q", o.Target)
	}
	if !validHeaderValue(o.Token.Reveal()) {
		return errors.New("the token contains invalid characters")
	}
	for k, vs := range o.Headers {
		if !validHeaderName(k) {
			return fmt.Errorf("invalid header name %q", k)
		}
		for _, v := range vs {
			if !validHeaderValue(v) {
				return fmt.Errorf("invalid value for header %s", k)
			}
		}
	}
	return nil
}

func validHeaderValue(v string) bool { return !strings.ContainsAny(v, "\r\n\x00") }

func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return false
		}
	}
	return true
}

// handshake runs TLS, the CONNECT exchange, and builds the Conn. Deadlines
// come from ctx.
func handshake(ctx context.Context, raw net.Conn, serverName string, opts DialOptions) (*Conn, error) {
	if dl, ok := ctx.Deadline(); ok {
		_ = raw.SetDeadline(dl)
	}
	// Closing the connection is the only way to stop a blocked read when ctx
	// is cancelled without a deadline being reached.
	stop := context.AfterFunc(ctx, func() { _ = raw.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	cfg := pki.ClientTLSConfig(opts.Trust, serverName, !opts.InsecureSkipServerIdentity)
	ec := tlsend.New(raw)
	tc := tls.Client(ec, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("TLS handshake with proxy %s: %w", opts.ProxyAddr, ctxErr(ctx, pki.ExplainTLSError(err, serverName)))
	}

	var req bytes.Buffer
	fmt.Fprintf(&req, "CONNECT %s HTTP/1.1\r\nHost: %s\r\nProxy-Authorization: Bearer %s\r\n", opts.Target, opts.Target, opts.Token.Reveal())
	if opts.ProofKey != nil {
		ekm, err := token.Exporter(tc.ConnectionState())
		if err != nil {
			return nil, fmt.Errorf("proof of possession: %w", err)
		}
		proof, keyHdr, err := opts.ProofKey.Prove(ekm)
		if err != nil {
			return nil, fmt.Errorf("proof of possession: %w", err)
		}
		fmt.Fprintf(&req, "%s: %s\r\n%s: %s\r\n", HeaderProof, proof, HeaderProofKey, keyHdr)
	}
	for k, vs := range opts.Headers {
		for _, v := range vs {
			fmt.Fprintf(&req, "%s: %s\r\n", textproto.CanonicalMIMEHeaderKey(k), v)
		}
	}
	req.WriteString("\r\n")
	if _, err := tc.Write(req.Bytes()); err != nil {
		return nil, fmt.Errorf("CONNECT to proxy %s: %w", opts.ProxyAddr, ctxErr(ctx, err))
	}

	lr := &io.LimitedReader{R: tc, N: maxResponseHeader}
	br := bufio.NewReaderSize(lr, 4096)
	status, hdr, err := readResponseHead(br)
	if err != nil {
		if lr.N <= 0 {
			err = fmt.Errorf("response head larger than %d bytes", maxResponseHeader)
		}
		return nil, fmt.Errorf("CONNECT to proxy %s: %w", opts.ProxyAddr, ctxErr(ctx, err))
	}
	if status < 200 || status > 299 {
		return nil, refusal(br, status, hdr, opts)
	}
	c := &Conn{tc: tc, raw: ec, header: hdr, local: tcpAddr(raw.LocalAddr()), remote: tcpAddr(raw.RemoteAddr())}
	if n := br.Buffered(); n > 0 {
		c.pending, _ = br.Peek(n)
		c.pending = bytes.Clone(c.pending)
	}
	_ = raw.SetDeadline(time.Time{})
	if !stop() {
		// ctx ended just now: the deadline was set to the past after our reset.
		return nil, fmt.Errorf("CONNECT to proxy %s: %w", opts.ProxyAddr, ctx.Err())
	}
	return c, nil
}

// readResponseHead reads the status line and header of an HTTP/1.x
// response.
func readResponseHead(br *bufio.Reader) (int, http.Header, error) {
	tp := textproto.NewReader(br)
	line, err := tp.ReadLine()
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, fmt.Errorf("reading the response: %w", err)
	}
	proto, rest, ok := strings.Cut(line, " ")
	if !ok || !strings.HasPrefix(proto, "HTTP/1.") {
		return 0, nil, fmt.Errorf("malformed response status line %q", truncate(line, 80))
	}
	code, _, _ := strings.Cut(rest, " ")
	status, err := strconv.Atoi(code)
	if err != nil || len(code) != 3 || status < 100 {
		return 0, nil, fmt.Errorf("malformed response status %q", truncate(code, 20))
	}
	mh, err := tp.ReadMIMEHeader()
	if err != nil {
		return 0, nil, fmt.Errorf("reading the response header: %w", err)
	}
	return status, http.Header(mh), nil
}

// refusal builds the *ProxyError for a non-2xx answer, reading its one-line
// reason (bounded; the proxy closes the connection after it).
func refusal(br *bufio.Reader, status int, hdr http.Header, opts DialOptions) error {
	n := int64(maxReason)
	if cl, err := strconv.ParseInt(hdr.Get("Content-Length"), 10, 64); err == nil && cl >= 0 && cl < n {
		n = cl
	}
	b, _ := io.ReadAll(io.LimitReader(br, n))
	reason, _, _ := strings.Cut(string(b), "\n")
	reason = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, reason)
	return &ProxyError{
		Status: status,
		Code:   cleanCode(hdr.Get(HeaderError)),
		Reason: strings.TrimSpace(reason),
		Target: opts.Target,
		Proxy:  opts.ProxyAddr,
	}
}

// cleanCode keeps a Termgate-Error code only if it looks like one
// (lower-case letters, digits and "_", at most 64), so that a hostile
// server cannot put control characters in messages.
func cleanCode(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 64 {
		return ""
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return ""
		}
	}
	return s
}

// ctxErr prefers the context's error when it explains a failed I/O.
func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("%w (%v)", cerr, err)
		}
	}
	return err
}

// tcpAddr converts a to *net.TCPAddr; an address of another kind becomes
// the TCP address its string names, or an empty one.
func tcpAddr(a net.Addr) *net.TCPAddr {
	if t, ok := a.(*net.TCPAddr); ok {
		return t
	}
	if a != nil {
		if ap, err := netipAddrPort(a.String()); err == nil {
			return ap
		}
	}
	return &net.TCPAddr{}
}

func netipAddrPort(s string) (*net.TCPAddr, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return nil, err
	}
	ip := net.ParseIP(host)
	p, err := strconv.Atoi(port)
	if ip == nil || err != nil {
		return nil, errors.New("not an IP address")
	}
	return &net.TCPAddr{IP: ip, Port: p}, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

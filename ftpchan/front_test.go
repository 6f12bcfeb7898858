package ftpchan

// Test glue: a minimal loopback stand-in for the proxy's CONNECT front end.
// It terminates TLS, parses one CONNECT request and hands control channels
// and data/notification channels to a Gateway, the way the proxy package
// does after its token checks. It does NOT verify tokens, destination
// policy or anything else the proxy owns: it exists only to drive the
// gateway over real sockets in these tests.

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/termgate/termgate/emulator"
	"github.com/termgate/termgate/pki"
	"github.com/termgate/termgate/token"
)

// testPKI is the proxy certificate of the fronts and the trust store that a
// launch would ship.
type testPKI struct {
	cert  tls.Certificate
	trust *pki.TrustStore
}

var (
	pkiOnce sync.Once
	pkiVal  *testPKI
)

func frontPKI(t testing.TB) *testPKI {
	t.Helper()
	pkiOnce.Do(func() {
		c, err := pki.SelfSigned(pki.CertSpec{CommonName: "127.0.0.1", Usage: pki.UsageServer,
			IPs: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("127.0.0.2"), net.ParseIP("127.0.0.3")}})
		if err != nil {
			panic(err)
		}
		pkiVal = &testPKI{cert: tls.Certificate{Certificate: [][]byte{c.Cert.Raw}, PrivateKey: c.Key, Leaf: c.Cert},
			trust: pki.NewTrustStore(c.Cert)}
	})
	return pkiVal
}

type frontOptions struct {
	serverActive bool
	hostTLS      *tls.Config
	jkt          string
	bind         string // default 127.0.0.1:0
	// cutData, when set, makes the front die on every data channel after
	// that many bytes to the client: it drops the TCP connection without
	// TLS's closing alert, as a crashed node would.
	cutData int
}

// front is one "proxy node": a TLS listener feeding a Gateway.
type front struct {
	t    testing.TB
	gw   *Gateway
	ln   net.Listener
	opts frontOptions
	// upstream maps a CONNECT target to the real server address.
	upstream func(target string) string

	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc
}

func newFront(t testing.TB, cfg Config, opts frontOptions, upstream func(string) string) *front {
	t.Helper()
	if cfg.NodeID == "" {
		cfg.NodeID = "node-a"
	}
	if cfg.Logger.GetLevel() == zerolog.NoLevel {
		cfg.Logger = zerolog.Nop()
	}
	gw, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	bind := opts.bind
	if bind == "" {
		bind = "127.0.0.1:0"
	}
	ln, err := tls.Listen("tcp", bind, &tls.Config{Certificates: []tls.Certificate{frontPKI(t).cert}, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	f := &front{t: t, gw: gw, ln: ln, opts: opts, upstream: upstream}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	f.wg.Add(1)
	go f.accept()
	t.Cleanup(f.close)
	return f
}

func (f *front) addr() string { return f.ln.Addr().String() }

func (f *front) close() {
	f.cancel()
	f.ln.Close()
	f.gw.Close()
	f.wg.Wait()
}

func (f *front) accept() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			f.serve(c.(*tls.Conn))
		}()
	}
}

func (f *front) serve(c *tls.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if err := c.HandshakeContext(f.ctx); err != nil {
		return
	}
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil || req.Method != http.MethodConnect {
		return
	}
	c.SetDeadline(time.Time{})
	target := req.Host
	if kind := req.Header.Get("Termgate-Channel"); kind != "" {
		ekm, _ := token.Exporter(c.ConnectionState())
		var client net.Conn = &bufConn{Conn: c, r: br}
		if f.opts.cutData > 0 && ChannelKind(kind) == ChannelData {
			client = &cutConn{bufConn: client.(*bufConn), left: f.opts.cutData}
		}
		f.gw.HandleChannel(f.ctx, client, ChannelRequest{
			Kind: ChannelKind(kind), Ticket: req.Header.Get("Termgate-Ticket"), Target: target,
			Proof: req.Header.Get("Termgate-Proof"), ProofKey: req.Header.Get("Termgate-Proof-Key"),
			Exporter: ekm, ClientAddr: c.RemoteAddr().String(),
		})
		return
	}
	up, err := net.DialTimeout("tcp", f.upstream(target), 5*time.Second)
	if err != nil {
		c.Write([]byte("HTTP/1.1 502 Bad Gateway\r\nTermgate-Error: dial_failed\r\nContent-Length: 0\r\n\r\n"))
		return
	}
	id := newTestID()
	tk, err := f.gw.IssueTicket(id)
	if err != nil {
		up.Close()
		return
	}
	c.Write([]byte("HTTP/1.1 200 Connection established\r\n" + emulator.HeaderSession + ": " + id + "\r\n" +
		emulator.HeaderTicket + ": " + tk + "\r\n\r\n"))
	dst, _ := token.NormalizeHostPort(target)
	f.gw.HandleControl(f.ctx, c, up, SessionInfo{ID: id, Dst: dst, JKT: f.opts.jkt, HostTLS: f.opts.hostTLS,
		ServerActive: f.opts.serverActive, ClientReader: br, ClientAddr: c.RemoteAddr().String()})
}

// bufConn reads what the request parser buffered first.
type bufConn struct {
	*tls.Conn
	r *bufio.Reader
}

func (b *bufConn) Read(p []byte) (int, error) { return b.r.Read(p) }

// cutConn passes left bytes to the client, then drops the TCP connection
// under TLS.
type cutConn struct {
	*bufConn
	mu   sync.Mutex
	left int
}

func (c *cutConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(p) < c.left {
		n, err := c.bufConn.Write(p)
		c.left -= n
		return n, err
	}
	n, _ := c.bufConn.Write(p[:c.left])
	c.left = 0
	c.NetConn().Close()
	return n, net.ErrClosed
}

func newTestID() string {
	var b [9]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// loopForwarder forwards channels to other in-process fronts, the way the
// proxy's peer link will.
type loopForwarder struct {
	mu    sync.Mutex
	nodes map[string]*front
}

func (l *loopForwarder) Forward(ctx context.Context, node string, client net.Conn, req ChannelRequest) error {
	l.mu.Lock()
	f := l.nodes[node]
	l.mu.Unlock()
	if f == nil {
		return ErrOwnerUnavailable
	}
	req.Forwarded = true
	return f.gw.HandleChannel(ctx, client, req)
}

// dialOpts are the client's proxy options for a session to target through
// the fronts at addrs (round-robin when more than one).
func dialOpts(t testing.TB, target string, addrs ...string) emulator.DialOptions {
	var mu sync.Mutex
	next := 0
	return emulator.DialOptions{
		ProxyAddr: addrs[0],
		Trust:     frontPKI(t).trust,
		Token:     "test-token-not-checked-by-the-test-front",
		Target:    target,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			mu.Lock()
			a := addrs[next%len(addrs)]
			next++
			mu.Unlock()
			return (&net.Dialer{}).DialContext(ctx, network, a)
		},
	}
}

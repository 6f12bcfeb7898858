package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/termgate/termgate/pki"
	"github.com/termgate/termgate/token"
)

// material is the run's throw-away PKI: a CA, one server certificate for
// 127.0.0.1 that every TLS target serves, and a management signing
// certificate whose issuer mints the proxy's tokens.
type material struct {
	dir         string
	trust       *pki.TrustStore // the CA, for clients
	server      *pki.Cert
	issuer      *token.Issuer
	certFile    string // server certificate PEM
	keyFile     string // server key PEM
	pemFile     string // certificate then key, for HAProxy
	signersFile string // the signing certificate: the proxy's management trust
}

const signerNode = "bench-mgmt"

func newMaterial(dir string) (*material, error) {
	ca, err := pki.NewCA(pki.CertSpec{CommonName: "termgate bench CA"})
	if err != nil {
		return nil, err
	}
	server, err := ca.Issue(pki.CertSpec{CommonName: "127.0.0.1", IPs: []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames: []string{"localhost"}, Usage: pki.UsageServer})
	if err != nil {
		return nil, err
	}
	signer, err := ca.Issue(pki.CertSpec{CommonName: signerNode, Usage: pki.UsageTokenSigning})
	if err != nil {
		return nil, err
	}
	iss, err := token.NewIssuer(token.IssuerConfig{NodeID: signerNode, Cert: signer.Cert, Key: signer.Key})
	if err != nil {
		return nil, err
	}
	m := &material{
		dir:         dir,
		trust:       pki.NewTrustStore(ca.Cert.Cert),
		server:      server,
		issuer:      iss,
		certFile:    filepath.Join(dir, "server.pem"),
		keyFile:     filepath.Join(dir, "server.key"),
		pemFile:     filepath.Join(dir, "haproxy.pem"),
		signersFile: filepath.Join(dir, "mgmt-signers.pem"),
	}
	if err := server.Save(m.certFile, m.keyFile); err != nil {
		return nil, err
	}
	keyPEM, err := pki.MarshalKeyPEM(server.Key)
	if err != nil {
		return nil, err
	}
	combined := append(pki.EncodeCertPEM(server.Cert), keyPEM...)
	if err := os.WriteFile(m.pemFile, combined, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(m.signersFile, pki.EncodeCertPEM(signer.Cert), 0o644); err != nil {
		return nil, err
	}
	return m, nil
}

// target is one way of reaching the host.
type target struct {
	name    string
	addr    string
	tlsConf *tls.Config // nil: plain TCP
	dst     string      // non-empty: send CONNECT dst with a fresh token
	issuer  *token.Issuer
	pid     int    // the middle process whose memory is read; 0: none
	proc    *child // nil unless the benchmark started it

	tokens []string
	next   atomic.Int64
	seq    atomic.Int64
}

// stop ends the target's process, if the benchmark started one.
func (t *target) stop() {
	if t.proc != nil {
		t.proc.stop()
	}
}

// alive fails if the target's process has died.
func (t *target) alive() error {
	if t.proc != nil {
		return t.proc.alive()
	}
	return nil
}

// mint signs n tokens for the next phase, so that signing is not timed.
func (t *target) mint(n int) error {
	if t.dst == "" {
		return nil
	}
	toks := make([]string, n)
	for i := range toks {
		tok, err := t.issue()
		if err != nil {
			return err
		}
		toks[i] = tok
	}
	t.tokens = toks
	t.next.Store(0)
	return nil
}

func (t *target) issue() (string, error) {
	tok, _, err := t.issuer.Issue(token.Request{
		Subject: "bench-" + strconv.FormatInt(t.seq.Add(1), 10),
		Dst:     t.dst,
		Proto:   token.ProtoTCP,
		TTL:     5 * time.Minute,
	})
	if err != nil {
		return "", fmt.Errorf("bench: mint a token: %w", err)
	}
	return tok, nil
}

// token returns the next pre-minted token (or mints one when they ran out).
func (t *target) token() (string, error) {
	if i := t.next.Add(1) - 1; i < int64(len(t.tokens)) {
		return t.tokens[i], nil
	}
	return t.issue()
}

// dial connects to the host through the target: TCP, then TLS, then
// CONNECT for the proxy. Every step is bounded by timeout.
func (t *target) dial(ctx context.Context, timeout time.Duration) (net.Conn, error) {
	var tok string
	if t.dst != "" {
		var err error
		if tok, err = t.token(); err != nil {
			return nil, err
		}
	}
	d := net.Dialer{Timeout: timeout}
	raw, err := d.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return nil, err
	}
	if t.tlsConf == nil {
		return raw, nil
	}
	raw.SetDeadline(time.Now().Add(timeout))
	tc := tls.Client(raw, t.tlsConf)
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("TLS handshake with %s: %w", t.addr, err)
	}
	if t.dst == "" {
		tc.SetDeadline(time.Time{})
		return tc, nil
	}
	c, err := connect(tc, t.dst, tok)
	if err != nil {
		tc.Close()
		return nil, err
	}
	tc.SetDeadline(time.Time{})
	return c, nil
}

// connect sends one CONNECT with a bearer token and reads the answer.
func connect(tc *tls.Conn, dst, tok string) (net.Conn, error) {
	var req bytes.Buffer
	fmt.Fprintf(&req, "CONNECT %s HTTP/1.1\r\nHost: %s\r\nProxy-Authorization: Bearer %s\r\n\r\n", dst, dst, tok)
	if _, err := tc.Write(req.Bytes()); err != nil {
		return nil, fmt.Errorf("send CONNECT: %w", err)
	}
	br := bufio.NewReaderSize(tc, 1024)
	tp := textproto.NewReader(br)
	status, err := tp.ReadLine()
	if err != nil {
		return nil, fmt.Errorf("read the CONNECT answer: %w", err)
	}
	hdr, err := tp.ReadMIMEHeader()
	if err != nil {
		return nil, fmt.Errorf("read the CONNECT answer's headers: %w", err)
	}
	if f := strings.Fields(status); len(f) < 2 || f[1] != "200" {
		return nil, fmt.Errorf("CONNECT %s refused: %q (Termgate-Error: %s)", dst, status, hdr.Get("Termgate-Error"))
	}
	if br.Buffered() > 0 {
		return &bufferedConn{Conn: tc, r: br}, nil
	}
	return tc, nil
}

// bufferedConn reads what a reader already buffered before the connection.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// open dials and then runs the host's echo command: the session is set up
// end to end once the host's first byte is back.
func (t *target) open(ctx context.Context, timeout time.Duration) (net.Conn, error) {
	c, err := t.dial(ctx, timeout)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(timeout))
	var b [1]byte
	if _, err := c.Write([]byte{cmdEcho}); err != nil {
		c.Close()
		return nil, fmt.Errorf("first byte: %w", err)
	}
	if _, err := c.Read(b[:]); err != nil || b[0] != cmdEcho {
		c.Close()
		if err == nil {
			err = fmt.Errorf("the host answered %q, want %q", b[0], cmdEcho)
		}
		return nil, fmt.Errorf("first byte back: %w", err)
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

// clientTLS is the client side of every TLS target: the standard
// library's verification against trust, no session cache (every set-up is
// a full handshake), and the given key-exchange groups (nil: Go's defaults).
func clientTLS(serverName string, trust *pki.TrustStore, curves []tls.CurveID) *tls.Config {
	return &tls.Config{
		MinVersion:       tls.VersionTLS12,
		ServerName:       serverName,
		RootCAs:          trust.Pool(),
		NextProtos:       []string{"http/1.1"},
		CurvePreferences: curves,
	}
}

func directTarget(hostAddr string) *target {
	return &target{name: TargetDirect, addr: hostAddr}
}

var listeningRE = regexp.MustCompile(`listening on (127\.0\.0\.1:\d+)`)

// startPlain starts "termgate bench relay-baseline" as a child process.
func startPlain(cfg *Config, m *material, hostAddr string) (*target, error) {
	argv := append(append([]string{cfg.Exe}, cfg.ExeArgs...), "bench", "relay-baseline",
		"--listen", "127.0.0.1:0", "--cert", m.certFile, "--key", m.keyFile, "--upstream", hostAddr)
	c, err := startChild("termgate bench relay-baseline", argv, m.dir)
	if err != nil {
		return nil, err
	}
	mt, err := c.waitFor(listeningRE, 15*time.Second)
	if err != nil {
		c.stop()
		return nil, err
	}
	return &target{name: TargetPlainGo, addr: mt[1], tlsConf: clientTLS("127.0.0.1", m.trust, cfg.Curves),
		pid: c.pid(), proc: c}, nil
}

// proxyConfig is the YAML of the child proxy: flag names as keys.
func proxyConfig(cfg *Config, m *material) string {
	maxSessions := 10000
	if n := cfg.Idle + 2*cfg.Conns + 100; n > maxSessions {
		maxSessions = n
	}
	q := strconv.Quote
	return fmt.Sprintf(`listen: "127.0.0.1:0"
ops-addr: "-"
cert: %s
key: %s
data: %s
mgmt-trust: %s
node-id: bench-proxy
allow-network: ["127.0.0.0/8"]
max-sessions: %d
max-sessions-per-user: -1
drain-grace: 1ms
drain-timeout: 2s
`, q(m.certFile), q(m.keyFile), q(m.dir), q(m.signersFile), maxSessions)
}

// startTermgate starts "termgate proxy --config FILE" as a child process.
func startTermgate(cfg *Config, m *material, hostAddr string) (*target, error) {
	file := filepath.Join(m.dir, "proxy.yaml")
	if err := os.WriteFile(file, []byte(proxyConfig(cfg, m)), 0o600); err != nil {
		return nil, err
	}
	argv := append(append([]string{cfg.Exe}, cfg.ExeArgs...), "proxy", "--config", file, "--log-level", "off")
	c, err := startChild("termgate proxy", argv, m.dir)
	if err != nil {
		return nil, err
	}
	mt, err := c.waitFor(listeningRE, 15*time.Second)
	if err != nil {
		c.stop()
		return nil, err
	}
	return &target{name: TargetTermgate, addr: mt[1], tlsConf: clientTLS("127.0.0.1", m.trust, cfg.Curves),
		dst: hostAddr, issuer: m.issuer, pid: c.pid(), proc: c}, nil
}

// externalTarget is a proxy someone else runs.
func externalTarget(cfg *Config, hostAddr string) *target {
	e := cfg.External
	name := e.ServerName
	if name == "" {
		name = pki.HostOf(e.Addr)
	}
	return &target{name: TargetTermgate, addr: e.Addr, tlsConf: clientTLS(name, e.Trust, cfg.Curves),
		dst: hostAddr, issuer: e.Issuer, pid: e.PID}
}

// haproxyConfig is HAProxy terminating TLS in mode tcp in front of the host.
// The TLS 1.3 suites are listed in Go's order of preference so that both
// sides negotiate the same one.
func haproxyConfig(cfg *Config, m *material, port int, hostAddr string) string {
	return fmt.Sprintf(`global
    maxconn %d
    ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256
    ssl-default-bind-options ssl-min-ver TLSv1.2

defaults
    mode tcp
    timeout connect 10s
    timeout client 10m
    timeout server 10m

frontend bench
    bind 127.0.0.1:%d ssl crt %s alpn http/1.1
    default_backend host

backend host
    server s1 %s
`, cfg.Idle+4*cfg.Conns+1000, port, m.pemFile, hostAddr)
}

// startHAProxy writes the configuration, checks it with haproxy -c and
// runs haproxy -db as a child process.
func startHAProxy(ctx context.Context, cfg *Config, m *material, hostAddr string) (*target, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	file := filepath.Join(m.dir, "haproxy.cfg")
	if err := os.WriteFile(file, []byte(haproxyConfig(cfg, m, port, hostAddr)), 0o600); err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	out, err := exec.CommandContext(cctx, cfg.HAProxy, "-c", "-f", file).CombinedOutput()
	cancel()
	if err != nil {
		return nil, &ChildError{Name: "haproxy -c", Err: err, Output: lastLines(strings.TrimSpace(string(out)), 20)}
	}
	c, err := startChild("haproxy", []string{cfg.HAProxy, "-db", "-f", file}, m.dir)
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if err := waitListening(c, addr, 15*time.Second); err != nil {
		c.stop()
		return nil, err
	}
	return &target{name: TargetHAProxy, addr: addr, tlsConf: clientTLS("127.0.0.1", m.trust, cfg.Curves),
		pid: c.pid(), proc: c}, nil
}

// waitListening polls addr until it accepts a connection.
func waitListening(c *child, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		if err := c.alive(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return c.fail(fmt.Errorf("%s not listening after %v: %w", addr, timeout, err))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// haproxyVersion is the first line of "haproxy -v", or "".
func haproxyVersion(ctx context.Context, bin string) string {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(cctx, bin, "-v").Output()
	if err != nil {
		return ""
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line)
}

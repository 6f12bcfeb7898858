package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/termgate/termgate/pki"
	"github.com/termgate/termgate/token"
)

// fixture is a small PKI: a CA, a proxy server certificate for 127.0.0.1,
// and a management signing certificate with its token issuer.
type fixture struct {
	ca      *pki.CA
	server  *pki.Cert
	signer  *pki.Cert
	issuer  *token.Issuer
	signers *pki.TrustStore
	dir     string
	caFile  string
}

var (
	fixOnce sync.Once
	fix     *fixture
	fixErr  error
)

func getFixture(t testing.TB) *fixture {
	t.Helper()
	fixOnce.Do(func() {
		f := &fixture{}
		f.ca, fixErr = pki.NewCA(pki.CertSpec{CommonName: "test CA"})
		if fixErr != nil {
			return
		}
		f.server, fixErr = f.ca.Issue(pki.CertSpec{CommonName: "proxy", IPs: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"}, Usage: pki.UsageServer})
		if fixErr != nil {
			return
		}
		f.signer, f.issuer, fixErr = newSigner(f.ca, "mgmt1")
		if fixErr != nil {
			return
		}
		f.signers = pki.NewTrustStore(f.signer.Cert)
		f.dir, fixErr = os.MkdirTemp("", "termgate-proxy-test")
		if fixErr != nil {
			return
		}
		f.caFile = filepath.Join(f.dir, "ca.pem")
		fixErr = os.WriteFile(f.caFile, pki.EncodeCertPEM(f.ca.Cert.Cert), 0o644)
		fix = f
	})
	if fixErr != nil {
		t.Fatal(fixErr)
	}
	return fix
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fix != nil {
		os.RemoveAll(fix.dir)
	}
	os.Exit(code)
}

func newSigner(ca *pki.CA, node string) (*pki.Cert, *token.Issuer, error) {
	c, err := ca.Issue(pki.CertSpec{CommonName: node, Usage: pki.UsageTokenSigning})
	if err != nil {
		return nil, nil, err
	}
	iss, err := token.NewIssuer(token.IssuerConfig{NodeID: node, Cert: c.Cert, Key: c.Key})
	return c, iss, err
}

func (f *fixture) tlsCert() *tls.Certificate {
	c := f.server.TLSCertificate()
	return &c
}

func (f *fixture) token(t testing.TB, req token.Request) string {
	t.Helper()
	if req.Subject == "" {
		req.Subject = "alice"
	}
	if req.Proto == "" {
		req.Proto = token.ProtoTCP
	}
	tok, _, err := f.issuer.Issue(req)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// syncBuf is a goroutine-safe log sink.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type testServer struct {
	*Server
	logs *syncBuf
	done chan error
}

// startServer runs a proxy on loopback with the fixture's PKI and loopback
// destinations allowed; mutate adjusts the config.
func startServer(t testing.TB, mutate func(*Config)) *testServer {
	t.Helper()
	f := getFixture(t)
	logs := &syncBuf{}
	cfg := Config{
		Listen:        "127.0.0.1:0",
		OpsListen:     "127.0.0.1:0",
		Certificate:   f.tlsCert(),
		NodeID:        "node-a",
		MgmtTrust:     f.signers,
		AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Logger:        zerolog.New(logs),
		DrainGrace:    50 * time.Millisecond,
		// tests make many failed attempts from 127.0.0.1 on purpose
		AuthFailureBurst: 1000,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: s, logs: logs, done: make(chan error, 1)}
	go func() { ts.done <- s.Serve(context.Background()) }()
	t.Cleanup(func() {
		s.Close()
		select {
		case <-ts.done:
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after Close")
		}
	})
	return ts
}

// echoServer echoes every connection; it returns its address.
func echoServer(t testing.TB) string {
	t.Helper()
	return tcpServer(t, func(c net.Conn) {
		io.Copy(c, c)
		c.(*net.TCPConn).CloseWrite()
	})
}

// tcpServer serves every connection with handle (then closes it) until the
// test ends, and waits for its goroutines; it returns its address.
func tcpServer(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return ln.Addr().String()
}

func clientTLS(f *fixture) *tls.Config {
	return &tls.Config{RootCAs: pki.NewTrustStore(f.ca.Cert.Cert).Pool(), ServerName: "127.0.0.1", NextProtos: []string{"http/1.1"}}
}

// response is a proxy's answer to a CONNECT.
type response struct {
	status int
	header http.Header
	body   string
	close  bool // Connection: close
	conn   *tls.Conn
	br     *bufio.Reader
}

func (r *response) code() string { return r.header.Get("Termgate-Error") }

// connect opens TLS to the proxy and sends CONNECT target with extra
// header lines (and optional pipelined bytes); it reads the response head.
func connect(t testing.TB, addr, target string, headers map[string]string, pipelined []byte) *response {
	t.Helper()
	f := getFixture(t)
	d := &tls.Dialer{Config: clientTLS(f), NetDialer: &net.Dialer{Timeout: 5 * time.Second}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	tc := c.(*tls.Conn)
	t.Cleanup(func() { tc.Close() })
	tc.SetDeadline(time.Now().Add(20 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n", target, target)
	for k, v := range headers {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	b.WriteString("\r\n")
	if _, err := tc.Write(append([]byte(b.String()), pipelined...)); err != nil {
		t.Fatal(err)
	}
	return readResponse(t, tc)
}

func readResponse(t testing.TB, tc *tls.Conn) *response {
	t.Helper()
	br := bufio.NewReader(tc)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	r := &response{status: resp.StatusCode, header: resp.Header, close: resp.Close, conn: tc, br: br}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		r.body = string(body)
	}
	return r
}

func bearer(tok string) map[string]string {
	return map[string]string{"Proxy-Authorization": "Bearer " + tok}
}

// countingDialer records every dial.
type countingDialer struct {
	mu    sync.Mutex
	addrs []string
}

func (d *countingDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	d.addrs = append(d.addrs, addr)
	d.mu.Unlock()
	return (&net.Dialer{}).DialContext(ctx, network, addr)
}

func (d *countingDialer) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.addrs)
}

// staticResolver answers every name with fixed addresses.
type staticResolver map[string][]netip.Addr

func (r staticResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := r[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func writePEM(t testing.TB, dir, name string, certs ...*x509.Certificate) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pki.EncodeCertPEM(certs...), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func tlsDial(addr string) (*tls.Conn, error) {
	d := &tls.Dialer{Config: clientTLS(fix), NetDialer: &net.Dialer{Timeout: 5 * time.Second}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return c.(*tls.Conn), nil
}

func nopLogger() zerolog.Logger { return zerolog.Nop() }

var localNets = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"

	"github.com/termgate/termgate/pki"
	"github.com/termgate/termgate/token"
)

// freeAddr reserves a loopback port and releases it.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestReplayAcrossNodes(t *testing.T) {
	f := getFixture(t)
	echo := echoServer(t)
	peerTrust := pki.NewTrustStore(f.ca.Cert.Cert)
	addrA, addrB := freeAddr(t), freeAddr(t)
	peers := []Peer{{ID: "node-a", Addr: addrA}, {ID: "node-b", Addr: addrB}}
	a := startServer(t, func(c *Config) { c.NodeID = "node-a"; c.PeerListen = addrA; c.Peers = peers; c.PeerTrust = peerTrust })
	b := startServer(t, func(c *Config) { c.NodeID = "node-b"; c.PeerListen = addrB; c.Peers = peers; c.PeerTrust = peerTrust })
	if a.PeerAddr().String() != addrA {
		t.Fatalf("PeerAddr = %s", a.PeerAddr())
	}
	owners := map[string]int{}
	for i := 0; i < 6; i++ {
		tok, claims, err := f.issuer.Issue(token.Request{Subject: "alice", Dst: echo, Proto: token.ProtoTCP})
		if err != nil {
			t.Fatal(err)
		}
		owners[hrwOwner([]string{"node-a", "node-b"}, claims.ID)]++
		first, second := a, b
		if i%2 == 1 {
			first, second = b, a
		}
		r := connect(t, first.Addr().String(), echo, bearer(tok), nil)
		if r.status != 200 {
			t.Fatalf("first use on %s: %d %s", first.NodeID(), r.status, r.body)
		}
		r.conn.Close()
		checkRejection(t, connect(t, second.Addr().String(), echo, bearer(tok), nil), 407, "token_replayed", "already used")
	}
	t.Logf("jti owners: %v", owners)
}

func TestOwnerUnreachable(t *testing.T) {
	f := getFixture(t)
	echo := echoServer(t)
	down := freeAddr(t) // nothing listens there
	a := startServer(t, func(c *Config) {
		c.NodeID = "node-a"
		c.Peers = []Peer{{ID: "node-b", Addr: down}}
		c.PeerTrust = pki.NewTrustStore(f.ca.Cert.Cert)
		c.PeerTimeout = 500 * time.Millisecond
	})
	// tokens whose jti node-b owns
	ownedByB := func(pop *token.ProofKey) string {
		for {
			req := token.Request{Subject: "alice", Dst: echo, Proto: token.ProtoTCP}
			if pop != nil {
				req.PoPKey = pop.JWK()
			}
			tok, claims, err := f.issuer.Issue(req)
			if err != nil {
				t.Fatal(err)
			}
			if hrwOwner([]string{"node-a", "node-b"}, claims.ID) == "node-b" {
				return tok
			}
		}
	}
	t.Run("bearer fails closed", func(t *testing.T) {
		r := connect(t, a.Addr().String(), echo, bearer(ownedByB(nil)), nil)
		checkRejection(t, r, 503, "replay_check_unavailable", "")
	})
	t.Run("proof of possession uses the local cache", func(t *testing.T) {
		k, _ := token.NewProofKey()
		tok := ownedByB(k)
		for i, want := range []int{200, 407} {
			c, err := tlsDial(a.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			ekm, _ := token.Exporter(c.ConnectionState())
			h := withProof(bearer(tok), k, ekm)
			c.SetDeadline(time.Now().Add(10 * time.Second))
			req := "CONNECT " + echo + " HTTP/1.1\r\n"
			for k, v := range h {
				req += k + ": " + v + "\r\n"
			}
			c.Write([]byte(req + "\r\n"))
			r := readResponse(t, c)
			c.Close()
			if r.status != want {
				t.Fatalf("use %d: %d %s %s, want %d", i+1, r.status, r.code(), r.body, want)
			}
			if want == 407 && r.code() != "token_replayed" {
				t.Errorf("second local use: %s", r.code())
			}
		}
	})
}

func TestPeerLinkRequiresTrustedClient(t *testing.T) {
	f := getFixture(t)
	addr := freeAddr(t)
	startServer(t, func(c *Config) { c.PeerListen = addr; c.PeerTrust = pki.NewTrustStore(f.ca.Cert.Cert) })
	other, _ := pki.NewCA(pki.CertSpec{CommonName: "intruder CA"})
	cert, _ := other.Issue(pki.CertSpec{CommonName: "intruder", Usage: pki.UsageServer})
	tc := cert.TLSCertificate()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{tc}})
	if err == nil {
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(conn, "CHECK abc %d\n", time.Now().Add(time.Minute).Unix())
		buf := make([]byte, 16)
		_, err = conn.Read(buf)
		conn.Close()
	}
	if err == nil {
		t.Fatal("an untrusted peer was answered")
	}
}

func TestParsePeerRequest(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	for _, c := range []struct {
		line string
		ok   bool
	}{
		{"CHECK abc_-09 1700000100", true},
		{"CHECK abc 1700000100 extra", false},
		{"CHECK a/b 1700000100", false},
		{"CHECK " + strings.Repeat("a", 129) + " 1", false},
		{"PING", false},
		{"CHECK abc x", false},
	} {
		_, exp, err := parsePeerRequest(c.line, now)
		if (err == nil) != c.ok {
			t.Errorf("%q: err = %v", c.line, err)
		}
		if err == nil && exp.After(now.Add(2*time.Hour)) {
			t.Errorf("expiry not capped")
		}
	}
	_, exp, _ := parsePeerRequest("CHECK abc 99999999999", now)
	if exp.After(now.Add(2 * time.Hour)) {
		t.Errorf("far expiry kept: %s", exp)
	}
}

func TestHRWStable(t *testing.T) {
	nodes := []string{"a", "b", "c"}
	moved := 0
	for i := 0; i < 1000; i++ {
		k := fmt.Sprint("jti-", i)
		o1 := hrwOwner(nodes, k)
		if o2 := hrwOwner([]string{"c", "a", "b"}, k); o1 != o2 {
			t.Fatal("owner depends on the order of nodes")
		}
		if o1 != "c" && hrwOwner([]string{"a", "b"}, k) != o1 {
			moved++
		}
	}
	if moved != 0 {
		t.Errorf("%d keys moved between surviving nodes when c left", moved)
	}
}

// proxyHeaderV1 writes a PROXY v1 header for src.
func proxyHeaderV1(src string) []byte {
	h := proxyproto.HeaderProxyFromAddrs(1, net.TCPAddrFromAddrPort(netip.MustParseAddrPort(src)), net.TCPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:9443")))
	b, _ := h.Format()
	return b
}

func TestProxyProtocol(t *testing.T) {
	f := getFixture(t)
	echo := echoServer(t)
	t.Run("spoofed header from a non-LB address is refused", func(t *testing.T) {
		s := startServer(t, nil) // no load balancer configured
		c, err := net.Dial("tcp", s.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write(proxyHeaderV1("203.0.113.7:5555"))
		tc := tls.Client(c, clientTLS(f))
		tc.SetDeadline(time.Now().Add(5 * time.Second))
		if err := tc.Handshake(); err == nil {
			t.Fatal("handshake succeeded after a spoofed PROXY header")
		}
		waitFor(t, func() bool { return strings.Contains(s.logs.String(), "not a configured load balancer") })
		if strings.Contains(s.logs.String(), "203.0.113.7") {
			t.Error("the spoofed address was used")
		}
	})
	t.Run("header from the LB sets the client address", func(t *testing.T) {
		s := startServer(t, func(c *Config) { c.ProxyProtocolFrom = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} })
		for _, v := range []byte{1, 2} {
			c, err := net.Dial("tcp", s.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			src := fmt.Sprintf("203.0.113.%d:5555", v)
			h := proxyproto.HeaderProxyFromAddrs(v, net.TCPAddrFromAddrPort(netip.MustParseAddrPort(src)), c.RemoteAddr())
			h.WriteTo(c)
			tc := tls.Client(c, clientTLS(f))
			tc.SetDeadline(time.Now().Add(5 * time.Second))
			if err := tc.Handshake(); err != nil {
				t.Fatal(err)
			}
			tc.Write([]byte("CONNECT " + echo + " HTTP/1.1\r\n\r\n"))
			checkRejection(t, readResponse(t, tc), 407, "token_missing", "")
			tc.Close()
			if !strings.Contains(s.logs.String(), `"client":"`+src+`"`) {
				t.Errorf("v%d: log lacks client %s:\n%s", v, src, s.logs.String())
			}
		}
	})
	t.Run("LB without a header is refused", func(t *testing.T) {
		s := startServer(t, func(c *Config) { c.ProxyProtocolFrom = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} })
		if _, err := tlsDial(s.Addr().String()); err == nil {
			t.Fatal("TLS without PROXY header accepted from the LB network")
		}
		waitFor(t, func() bool { return strings.Contains(s.logs.String(), "PROXY protocol header refused") })
	})
	t.Run("malformed header is refused", func(t *testing.T) {
		s := startServer(t, func(c *Config) { c.ProxyProtocolFrom = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} })
		c, _ := net.Dial("tcp", s.Addr().String())
		defer c.Close()
		c.Write([]byte("PROXY TCP4 999.1.1.1 1.1.1.1 1 2\r\n"))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Error("connection not closed")
		}
	})
}

// mgmtServer serves a signer bundle over HTTPS like a management server.
type mgmtServer struct {
	mu     sync.Mutex
	bundle []byte
	hits   int
	srv    *httptest.Server
}

func newMgmtServer(t *testing.T, certs ...*pki.Cert) *mgmtServer {
	m := &mgmtServer{}
	m.set(certs...)
	m.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != MgmtTrustPath {
			http.NotFound(w, r)
			return
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		m.hits++
		w.Write(m.bundle)
	}))
	t.Cleanup(m.srv.Close)
	return m
}

func (m *mgmtServer) set(certs ...*pki.Cert) {
	var b []byte
	for _, c := range certs {
		b = append(b, pki.EncodeCertPEM(c.Cert)...)
	}
	m.mu.Lock()
	m.bundle = b
	m.mu.Unlock()
}

func TestTrustRefresh(t *testing.T) {
	f := getFixture(t)
	echo := echoServer(t)
	signer2, issuer2, err := newSigner(f.ca, "mgmt2")
	if err != nil {
		t.Fatal(err)
	}
	mgmt := newMgmtServer(t, f.signer)
	dir := t.TempDir()
	trustFile := writePEM(t, dir, "mgmt-signers.pem", f.signer.Cert)
	tlsFile := writePEM(t, dir, "mgmt-tls.pem", mgmt.srv.Certificate())
	s := startServer(t, func(c *Config) {
		c.MgmtTrust = nil
		c.MgmtTrustFile = trustFile
		c.MgmtTLSTrustFile = tlsFile
		c.MgmtURLs = []string{"https://127.0.0.1:1", mgmt.srv.URL} // the first is down: tried in turn
		c.TrustRefreshMinDelay = 100 * time.Millisecond
		c.TrustRefreshInterval = time.Hour
		c.TrustMaxAge = time.Hour
	})
	// after the start-up refresh, a new management node's certificate
	// appears on the server: only the unknown kid can make the node fetch it
	waitFor(t, func() bool { mgmt.mu.Lock(); defer mgmt.mu.Unlock(); return mgmt.hits >= 1 })
	mgmt.set(f.signer, signer2)
	tok2 := func() string {
		tok, _, err := issuer2.Issue(token.Request{Subject: "bob", Dst: echo, Proto: token.ProtoTCP})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	var last *response
	waitFor(t, func() bool {
		last = connect(t, s.Addr().String(), echo, bearer(tok2()), nil)
		return last.status == 200
	})
	// the last good copy is saved (right after it is installed)
	waitFor(t, func() bool {
		saved, err := pki.LoadTrustStore(trustFile)
		return err == nil && saved.Len() == 2
	})
	// the management server goes away: tokens of both signers keep verifying
	mgmt.srv.Close()
	if err := s.RefreshTrust(context.Background()); err == nil {
		t.Fatal("refresh from a stopped server succeeded")
	}
	for _, tok := range []string{f.token(t, token.Request{Dst: echo}), tok2()} {
		if r := connect(t, s.Addr().String(), echo, bearer(tok), nil); r.status != 200 {
			t.Fatalf("with management down: %d %s", r.status, r.body)
		}
	}
	if code, body := httpGet(t, "http://"+s.OpsAddr().String()+"/readyz"); code != 200 {
		t.Errorf("/readyz with a recent copy = %d %s", code, body)
	}
}

func TestTrustRefreshRefusesNonSigners(t *testing.T) {
	f := getFixture(t)
	mgmt := newMgmtServer(t, f.server) // a TLS certificate, not a signer
	store := pki.NewTrustStore(f.signer.Cert)
	r := newTrustRefresher(store, "", []string{mgmt.srv.URL}, pki.NewTrustStore(mgmt.srv.Certificate()), &Config{TrustRefreshInterval: time.Hour, TrustRefreshMinDelay: time.Second, Now: time.Now}, nopLogger())
	defer r.client.CloseIdleConnections()
	err := r.refresh(context.Background())
	if err == nil || !errors.Is(err, pki.ErrNotTokenSigner) {
		t.Fatalf("refresh = %v, want ErrNotTokenSigner", err)
	}
	if store.Len() != 1 || !store.Certificates()[0].Equal(f.signer.Cert) {
		t.Error("store changed after a refused bundle")
	}
}

func TestCertificateHotReload(t *testing.T) {
	f := getFixture(t)
	echo := echoServer(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "proxy.pem"), filepath.Join(dir, "proxy.key")
	if err := f.server.Save(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, func(c *Config) {
		c.Certificate = nil
		c.CertFile, c.KeyFile = certFile, keyFile
		c.CertReloadInterval = 50 * time.Millisecond
	})
	live := connect(t, s.Addr().String(), echo, bearer(f.token(t, token.Request{Dst: echo})), nil)
	if live.status != 200 {
		t.Fatal(live.status)
	}
	next, err := f.ca.Issue(pki.CertSpec{CommonName: "proxy-renewed", IPs: []net.IP{net.ParseIP("127.0.0.1")}, Usage: pki.UsageServer})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // make sure the modification time moves
	if err := next.Save(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Add(time.Second)
	os.Chtimes(certFile, now, now)
	os.Chtimes(keyFile, now, now)
	waitFor(t, func() bool {
		c, err := tlsDial(s.Addr().String())
		if err != nil {
			return false
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Subject.CommonName == "proxy-renewed"
	})
	live.conn.Write([]byte("still here"))
	buf := make([]byte, 10)
	if _, err := live.br.Read(buf); err != nil || string(buf) != "still here" {
		t.Fatalf("session dropped by the reload: %q %v", buf, err)
	}
}

func TestHostTLS(t *testing.T) {
	f := getFixture(t)
	hostCert, _ := f.ca.Issue(pki.CertSpec{CommonName: "host", IPs: []net.IP{net.ParseIP("127.0.0.1")}, Usage: pki.UsageServer})
	wrongCert, _ := f.ca.Issue(pki.CertSpec{CommonName: "other", DNSNames: []string{"other.example"}, Usage: pki.UsageServer})
	tlsEcho := func(c *pki.Cert) string {
		tc := c.TLSCertificate()
		ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{tc}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					buf := make([]byte, 64)
					n, _ := c.Read(buf)
					c.Write(buf[:n])
				}()
			}
		}()
		return ln.Addr().String()
	}
	good, wrong := tlsEcho(hostCert), tlsEcho(wrongCert)
	s := startServer(t, func(c *Config) { c.HostTrust = pki.NewTrustStore(f.ca.Cert.Cert) })
	r := connect(t, s.Addr().String(), good, bearer(f.token(t, token.Request{Dst: good, HostTLS: true})), nil)
	if r.status != 200 {
		t.Fatalf("htls: %d %s", r.status, r.body)
	}
	r.conn.Write([]byte("over tls"))
	buf := make([]byte, 8)
	if _, err := r.br.Read(buf); err != nil || string(buf) != "over tls" {
		t.Fatalf("htls relay: %q %v", buf, err)
	}
	r = connect(t, s.Addr().String(), wrong, bearer(f.token(t, token.Request{Dst: wrong, HostTLS: true})), nil)
	checkRejection(t, r, 502, "dial_failed", "other.example")
}

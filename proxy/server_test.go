package proxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/termgate/termgate/pki"
	"github.com/termgate/termgate/token"
)

func TestConnectRelaysAndKeepsPipelinedBytes(t *testing.T) {
	f := getFixture(t)
	echo := echoServer(t)
	s := startServer(t, nil)
	tok := f.token(t, token.Request{Dst: echo})
	r := connect(t, s.Addr().String(), echo, bearer(tok), []byte("pipelined!"))
	if r.status != 200 {
		t.Fatalf("status %d %s: %s", r.status, r.code(), r.body)
	}
	if id := r.header.Get("Termgate-Session"); len(id) < 16 {
		t.Errorf("Termgate-Session = %q", id)
	}
	got := make([]byte, len("pipelined!"))
	if _, err := io.ReadFull(r.br, got); err != nil || string(got) != "pipelined!" {
		t.Fatalf("echo of pipelined bytes = %q, %v", got, err)
	}
	r.conn.Write([]byte("more"))
	got = make([]byte, 4)
	if _, err := io.ReadFull(r.br, got); err != nil || string(got) != "more" {
		t.Fatalf("echo = %q, %v", got, err)
	}
	r.conn.Close()
	waitFor(t, func() bool { return strings.Contains(s.logs.String(), `"event":"session_end"`) })
	logs := s.logs.String()
	for _, want := range []string{`"event":"session_start"`, `"sub":"alice"`, `"bytes_in":14`, `"bytes_out":14`, `"node":"node-a"`, `"dst":"` + echo} {
		if !strings.Contains(logs, want) {
			t.Errorf("audit log lacks %s:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, tok) || strings.Contains(logs, tok[strings.LastIndexByte(tok, '.')+1:]) {
		t.Error("the token appears in the logs")
	}
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestStatusRows covers one CONNECT per row of docs/protocol.md.
func TestStatusRows(t *testing.T) {
	f := getFixture(t)
	echo := echoServer(t)
	otherCA, _ := pki.NewCA(pki.CertSpec{CommonName: "other CA"})
	_, foreignIssuer, err := newSigner(otherCA, "mgmt-x")
	if err != nil {
		t.Fatal(err)
	}
	issuerAt := func(now time.Time, aud string) *token.Issuer {
		i, err := token.NewIssuer(token.IssuerConfig{NodeID: "mgmt1", Cert: f.signer.Cert, Key: f.signer.Key, Now: func() time.Time { return now }, Audience: aud})
		if err != nil {
			t.Fatal(err)
		}
		return i
	}
	issue := func(i *token.Issuer, req token.Request) string {
		req.Subject, req.Proto = "alice", token.ProtoTCP
		tok, _, err := i.Issue(req)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	closedPort := func() string {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		a := ln.Addr().String()
		ln.Close()
		return a
	}()
	popKey, _ := token.NewProofKey()
	good := func() string { return f.token(t, token.Request{Dst: echo}) }
	replayed := good()

	s := startServer(t, nil)
	// the replayed token's first (successful) use
	if r := connect(t, s.Addr().String(), echo, bearer(replayed), nil); r.status != 200 {
		t.Fatalf("first use: %d %s", r.status, r.body)
	}
	tampered := good()
	tampered = tampered[:len(tampered)-10] + flip(tampered[len(tampered)-10]) + tampered[len(tampered)-9:]

	rows := []struct {
		name    string
		raw     string // a raw request instead of CONNECT
		target  string
		headers map[string]string
		status  int
		code    string
		reason  string // substring of the body
	}{
		{name: "not CONNECT", raw: "GET / HTTP/1.1\r\nHost: x\r\n\r\n", status: 400, code: "bad_request"},
		{name: "bad target", target: "no-port", headers: bearer(good()), status: 400, code: "bad_request"},
		{name: "obfuscated IPv4 target", target: "0x7f.0.0.1:80", headers: bearer(good()), status: 400, code: "bad_request"},
		{name: "headers too large", target: echo, headers: map[string]string{"X-Big": strings.Repeat("a", MaxHeaderBytes)}, status: 400, code: "bad_request"},
		{name: "token missing", target: echo, status: 407, code: "token_missing"},
		{name: "token malformed", target: echo, headers: bearer("not.a-token"), status: 407, code: "token_malformed"},
		{name: "not bearer", target: echo, headers: map[string]string{"Proxy-Authorization": "Basic YTpi"}, status: 407, code: "token_malformed"},
		{name: "token signature", target: echo, headers: bearer(tampered), status: 407, code: "token_signature"},
		{name: "token untrusted key", target: echo, headers: bearer(issue(foreignIssuer, token.Request{Dst: echo})), status: 407, code: "token_untrusted_key"},
		{name: "token expired", target: echo, headers: bearer(issue(issuerAt(time.Now().Add(-time.Hour), ""), token.Request{Dst: echo})), status: 407, code: "token_expired", reason: " s "},
		{name: "token not yet valid", target: echo, headers: bearer(issue(issuerAt(time.Now().Add(time.Hour), ""), token.Request{Dst: echo})), status: 407, code: "token_not_yet_valid", reason: " s "},
		{name: "token audience", target: echo, headers: bearer(issue(issuerAt(time.Now(), "other-cluster"), token.Request{Dst: echo})), status: 407, code: "token_audience"},
		{name: "token replayed", target: echo, headers: bearer(replayed), status: 407, code: "token_replayed"},
		{name: "proof missing", target: echo, headers: bearer(f.token(t, token.Request{Dst: echo, PoPKey: popKey.JWK()})), status: 407, code: "proof_missing"},
		{name: "proof invalid", target: echo, headers: withProof(bearer(f.token(t, token.Request{Dst: echo, PoPKey: popKey.JWK()})), popKey, bytes.Repeat([]byte{7}, 32)), status: 407, code: "proof_invalid"},
		{name: "destination mismatch", target: closedPort, headers: bearer(good()), status: 403, code: "destination_mismatch"},
		{name: "destination denied", target: "169.254.169.254:80", headers: bearer(f.token(t, token.Request{Dst: "169.254.169.254:80"})), status: 403, code: "destination_denied", reason: "metadata"},
		{name: "dial failed", target: closedPort, headers: bearer(f.token(t, token.Request{Dst: closedPort})), status: 502, code: "dial_failed"},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			var r *response
			if row.raw != "" {
				r = rawRequest(t, s.Addr().String(), row.raw)
			} else {
				r = connect(t, s.Addr().String(), row.target, row.headers, nil)
			}
			checkRejection(t, r, row.status, row.code, row.reason)
		})
	}
}

func flip(b byte) string {
	if b == 'A' {
		return "B"
	}
	return "A"
}

func withProof(h map[string]string, k *token.ProofKey, exporter []byte) map[string]string {
	proof, keyHdr, err := k.Prove(exporter)
	if err != nil {
		panic(err)
	}
	h["Termgate-Proof"] = proof
	h["Termgate-Proof-Key"] = keyHdr
	return h
}

func checkRejection(t *testing.T, r *response, status int, code, reason string) {
	t.Helper()
	if r.status != status || r.code() != code {
		t.Fatalf("got %d %q (%s), want %d %q", r.status, r.code(), strings.TrimSpace(r.body), status, code)
	}
	if !r.close {
		t.Error("no Connection: close")
	}
	if !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Errorf("Content-Type = %q", r.header.Get("Content-Type"))
	}
	if status == 407 && r.header.Get("Proxy-Authenticate") != `Bearer error="invalid_token"` {
		t.Errorf("Proxy-Authenticate = %q", r.header.Get("Proxy-Authenticate"))
	}
	if strings.Count(r.body, "\n") != 1 || !strings.HasSuffix(r.body, "\n") {
		t.Errorf("body is not one line: %q", r.body)
	}
	if reason != "" && !strings.Contains(r.body, reason) {
		t.Errorf("body %q lacks %q", r.body, reason)
	}
	// the proxy closes after a rejection
	r.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := r.br.Read(make([]byte, 1)); err == nil {
		t.Errorf("connection still open after rejection (read %d)", n)
	}
}

func rawRequest(t *testing.T, addr, raw string) *response {
	t.Helper()
	c, err := tlsDial(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte(raw))
	return readResponse(t, c)
}

func TestProofOfPossession(t *testing.T) {
	f := getFixture(t)
	echo := echoServer(t)
	s := startServer(t, nil)
	k, _ := token.NewProofKey()
	tok := f.token(t, token.Request{Dst: echo, PoPKey: k.JWK()})
	c, err := tlsDial(s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ekm, err := token.Exporter(c.ConnectionState())
	if err != nil {
		t.Fatal(err)
	}
	h := withProof(bearer(tok), k, ekm)
	req := "CONNECT " + echo + " HTTP/1.1\r\n"
	for k, v := range h {
		req += k + ": " + v + "\r\n"
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte(req + "\r\n"))
	r := readResponse(t, c)
	if r.status != 200 {
		t.Fatalf("PoP CONNECT: %d %s %s", r.status, r.code(), r.body)
	}
}

func TestLimits(t *testing.T) {
	f := getFixture(t)
	echo := echoServer(t)
	t.Run("failed authorizations per address", func(t *testing.T) {
		s := startServer(t, func(c *Config) { c.AuthFailureBurst = 2; c.AuthFailureRate = 0.001 })
		for i := 0; i < 2; i++ {
			if r := connect(t, s.Addr().String(), echo, nil, nil); r.status != 407 {
				t.Fatalf("failure %d: status %d", i, r.status)
			}
		}
		r := connect(t, s.Addr().String(), echo, bearer(f.token(t, token.Request{Dst: echo})), nil)
		checkRejection(t, r, 429, "rate_limited", "")
	})
	t.Run("sessions per node", func(t *testing.T) {
		s := startServer(t, func(c *Config) { c.MaxSessions = 1 })
		held := connect(t, s.Addr().String(), echo, bearer(f.token(t, token.Request{Dst: echo})), nil)
		if held.status != 200 {
			t.Fatal(held.status)
		}
		r := connect(t, s.Addr().String(), echo, bearer(f.token(t, token.Request{Dst: echo, Subject: "bob"})), nil)
		checkRejection(t, r, 503, "overloaded", "")
	})
	t.Run("sessions per subject", func(t *testing.T) {
		s := startServer(t, func(c *Config) { c.MaxSessionsPerSubject = 1 })
		held := connect(t, s.Addr().String(), echo, bearer(f.token(t, token.Request{Dst: echo})), nil)
		if held.status != 200 {
			t.Fatal(held.status)
		}
		r := connect(t, s.Addr().String(), echo, bearer(f.token(t, token.Request{Dst: echo})), nil)
		checkRejection(t, r, 429, "rate_limited", "alice")
		// another user is not affected
		if r := connect(t, s.Addr().String(), echo, bearer(f.token(t, token.Request{Dst: echo, Subject: "bob"})), nil); r.status != 200 {
			t.Fatalf("bob: %d %s", r.status, r.body)
		}
	})
}

func TestDialTimeout(t *testing.T) {
	f := getFixture(t)
	s := startServer(t, func(c *Config) {
		c.DialTimeout = 100 * time.Millisecond
		c.Dial = func(ctx context.Context, _, _ string) (net.Conn, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}
	})
	dst := "127.0.0.1:9"
	r := connect(t, s.Addr().String(), dst, bearer(f.token(t, token.Request{Dst: dst})), nil)
	checkRejection(t, r, 504, "dial_timeout", "timed out")
}

func TestSSRFRefusedWithoutDial(t *testing.T) {
	f := getFixture(t)
	d := &countingDialer{}
	s := startServer(t, func(c *Config) {
		c.AllowNetworks = nil
		c.Dial = d.dial
		c.Resolver = staticResolver{
			"evil.test":     {netip.MustParseAddr("127.0.0.1")},
			"mixed.test":    {netip.MustParseAddr("93.184.216.34"), netip.MustParseAddr("10.1.2.3")},
			"metadata.test": {netip.MustParseAddr("::ffff:169.254.169.254")},
		}
	})
	for _, dst := range []string{"169.254.169.254:80", "[fe80::1]:80", "evil.test:80", "mixed.test:443", "metadata.test:80",
		"127.0.0.1:22", "10.0.0.1:23", "[::1]:80", "[fd00:ec2::254]:80", "100.100.100.200:80", "0.0.0.0:80", "224.0.0.1:80", "[64:ff9b::7f00:1]:80"} {
		r := connect(t, s.Addr().String(), dst, bearer(f.token(t, token.Request{Dst: dst})), nil)
		if r.status != 403 || r.code() != "destination_denied" {
			t.Errorf("%s: got %d %s (%s), want 403 destination_denied", dst, r.status, r.code(), strings.TrimSpace(r.body))
		}
	}
	if n := d.count(); n != 0 {
		t.Errorf("%d dials made for denied destinations: %v", n, d.addrs)
	}
}

func TestOwnListenerDenied(t *testing.T) {
	f := getFixture(t)
	d := &countingDialer{}
	s := startServer(t, func(c *Config) { c.Dial = d.dial })
	for _, dst := range []string{s.Addr().String(), s.OpsAddr().String()} {
		r := connect(t, s.Addr().String(), dst, bearer(f.token(t, token.Request{Dst: dst})), nil)
		checkRejection(t, r, 403, "destination_denied", "own listener")
	}
	if d.count() != 0 {
		t.Error("dialled its own listener")
	}
}

func TestPolicyAllowsExplicitNetworks(t *testing.T) {
	cases := []struct {
		allow []string
		ip    string
		ok    bool
	}{
		{nil, "93.184.216.34", true},
		{nil, "127.0.0.1", false},
		{[]string{"127.0.0.0/8"}, "127.0.0.1", true},
		{[]string{"0.0.0.0/0"}, "169.254.169.254", false},
		{[]string{"0.0.0.0/0"}, "169.254.1.1", false},
		{[]string{"169.254.0.0/16"}, "169.254.1.1", true},
		{[]string{"169.254.0.0/16"}, "169.254.169.254", false},
		{[]string{"169.254.169.254/32"}, "169.254.169.254", true},
		{[]string{"::/0"}, "fe80::1", false},
		{[]string{"fc00::/7"}, "fd00:ec2::254", false},
		{[]string{"0.0.0.0/0"}, "255.255.255.255", false},
		{[]string{"0.0.0.0/0"}, "0.0.0.0", false},
		{[]string{"::/0"}, "ff02::1", false},
		{[]string{"10.0.0.0/8"}, "::ffff:10.1.1.1", true},
	}
	for _, c := range cases {
		var pf []netip.Prefix
		for _, a := range c.allow {
			pf = append(pf, netip.MustParsePrefix(a))
		}
		p := newDestPolicy(pf)
		err := p.check(netip.MustParseAddr(c.ip), 80)
		if (err == nil) != c.ok {
			t.Errorf("allow %v, %s: err = %v, want ok=%v", c.allow, c.ip, err, c.ok)
		}
	}
}

func TestClientAuthorizationOff(t *testing.T) {
	echo := echoServer(t)
	t.Run("empty allow list denies everything", func(t *testing.T) {
		s := startServer(t, func(c *Config) { c.ClientAuthorizationOff = true })
		r := connect(t, s.Addr().String(), echo, nil, nil)
		checkRejection(t, r, 403, "destination_denied", "allow")
	})
	t.Run("allow list", func(t *testing.T) {
		s := startServer(t, func(c *Config) { c.ClientAuthorizationOff = true; c.Allow = []string{echo} })
		if r := connect(t, s.Addr().String(), echo, nil, nil); r.status != 200 {
			t.Fatalf("allowed destination: %d %s", r.status, r.body)
		}
		r := connect(t, s.Addr().String(), "127.0.0.1:9", nil, nil)
		checkRejection(t, r, 403, "destination_denied", "allow list")
	})
	t.Run("allow list does not bypass policy", func(t *testing.T) {
		s := startServer(t, func(c *Config) {
			c.ClientAuthorizationOff = true
			c.Allow = []string{"169.254.169.254:80", "127.0.0.0/8:22"}
			c.AllowNetworks = nil
		})
		for _, dst := range []string{"169.254.169.254:80", "127.0.0.1:22"} {
			checkRejection(t, connect(t, s.Addr().String(), dst, nil, nil), 403, "destination_denied", "")
		}
	})
}

func TestSlowlorisClosedAtHeaderTimeout(t *testing.T) {
	f := getFixture(t)
	echo := echoServer(t)
	s := startServer(t, func(c *Config) { c.HeaderTimeout = 300 * time.Millisecond })
	slow, err := tlsDial(s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	start := time.Now()
	closed := make(chan error, 1)
	go func() {
		slow.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err := slow.Read(make([]byte, 1))
		closed <- err
	}()
	// another client is served meanwhile
	if r := connect(t, s.Addr().String(), echo, bearer(f.token(t, token.Request{Dst: echo})), nil); r.status != 200 {
		t.Fatalf("concurrent client: %d", r.status)
	}
	err = <-closed
	var ne net.Error
	if err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("slow client not closed by the proxy: %v", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("closed after %s", el)
	}
}

func TestHalfClose(t *testing.T) {
	f := getFixture(t)
	echo := echoServer(t)
	s := startServer(t, nil)
	r := connect(t, s.Addr().String(), echo, bearer(f.token(t, token.Request{Dst: echo})), nil)
	if r.status != 200 {
		t.Fatal(r.status)
	}
	r.conn.Write([]byte("last words"))
	if err := r.conn.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	// the echo host sees EOF only if the half-close was propagated; it then
	// finishes its echo and half-closes back.
	got, err := io.ReadAll(r.br)
	if err != nil || string(got) != "last words" {
		t.Fatalf("read after half-close: %q, %v", got, err)
	}
}

// bulkHost sends n random bytes while reading everything, then reports hashes.
func bulkHost(t *testing.T, n int64) (string, <-chan [2][32]byte) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan [2][32]byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		var sent, got [32]byte
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := sha256.New()
			io.CopyN(io.MultiWriter(c, h), rand.Reader, n)
			c.(*net.TCPConn).CloseWrite()
			copy(sent[:], h.Sum(nil))
		}()
		h := sha256.New()
		io.Copy(h, c)
		copy(got[:], h.Sum(nil))
		wg.Wait()
		ch <- [2][32]byte{sent, got}
	}()
	return ln.Addr().String(), ch
}

func TestRelayIntegrity64MiB(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB each way")
	}
	const n = 64 << 20
	f := getFixture(t)
	host, hostHashes := bulkHost(t, n)
	s := startServer(t, nil)
	pipelined := make([]byte, 1000)
	rand.Read(pipelined)
	r := connect(t, s.Addr().String(), host, bearer(f.token(t, token.Request{Dst: host})), pipelined)
	if r.status != 200 {
		t.Fatal(r.status, r.body)
	}
	r.conn.SetDeadline(time.Now().Add(5 * time.Minute))
	sentUp := make(chan [32]byte, 1)
	go func() {
		h := sha256.New()
		h.Write(pipelined)
		io.CopyN(io.MultiWriter(r.conn, h), rand.Reader, n)
		r.conn.CloseWrite()
		var s [32]byte
		copy(s[:], h.Sum(nil))
		sentUp <- s
	}()
	h := sha256.New()
	if _, err := io.Copy(h, r.br); err != nil {
		t.Fatal(err)
	}
	var gotDown [32]byte
	copy(gotDown[:], h.Sum(nil))
	hh := <-hostHashes
	if gotDown != hh[0] {
		t.Error("host→client stream differs")
	}
	if up := <-sentUp; up != hh[1] {
		t.Error("client→host stream differs (pipelined bytes lost or reordered?)")
	}
	waitFor(t, func() bool { return strings.Contains(s.logs.String(), `"event":"session_end"`) })
	if want := fmt.Sprintf(`"bytes_in":%d`, n+1000); !strings.Contains(s.logs.String(), want) {
		t.Errorf("log lacks %s", want)
	}
}

func TestOpsEndpoints(t *testing.T) {
	f := getFixture(t)
	echo := echoServer(t)
	s := startServer(t, nil)
	if r := connect(t, s.Addr().String(), echo, bearer(f.token(t, token.Request{Dst: echo})), nil); r.status != 200 {
		t.Fatal(r.status)
	}
	connect(t, s.Addr().String(), echo, nil, nil) // a rejection
	base := "http://" + s.OpsAddr().String()
	if code, body := httpGet(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	code, body := httpGet(t, base+"/readyz")
	var rd Readiness
	if err := json.Unmarshal([]byte(body), &rd); err != nil || code != 200 || !rd.Ready || rd.MgmtCerts != 1 {
		t.Errorf("/readyz = %d %s", code, body)
	}
	if _, ok := rd.ClockOffsets["mgmt1"]; !ok {
		t.Errorf("/readyz lacks the issuer clock offset: %s", body)
	}
	_, m := httpGet(t, base+"/metrics")
	for _, want := range []string{
		"termgate_proxy_sessions_total 1",
		`termgate_proxy_rejections_total{code="token_missing"} 1`,
		"termgate_proxy_sessions_active",
		`termgate_proxy_bytes_total{direction="in"}`,
		"termgate_proxy_tls_handshake_seconds_bucket",
		"termgate_proxy_token_verify_seconds_bucket",
		"termgate_proxy_dial_seconds_bucket",
		"termgate_proxy_certificate_expiry_seconds",
		`termgate_proxy_mgmt_certificate_expiry_seconds{kid="` + pki.KID(f.signer.Cert) + `",name="mgmt1"}`,
		`termgate_proxy_issuer_clock_offset_seconds{iss="mgmt1"}`,
		"go_goroutines",
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestReadyzWithoutTrust(t *testing.T) {
	s := startServer(t, func(c *Config) { c.MgmtTrust = nil })
	code, body := httpGet(t, "http://"+s.OpsAddr().String()+"/readyz")
	if code != 503 || !strings.Contains(body, "no management signing certificate") {
		t.Errorf("/readyz = %d %s", code, body)
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestDrain(t *testing.T) {
	f := getFixture(t)
	echo := echoServer(t)
	s := startServer(t, func(c *Config) { c.DrainGrace = 300 * time.Millisecond; c.DrainTimeout = 5 * time.Second })
	live := connect(t, s.Addr().String(), echo, bearer(f.token(t, token.Request{Dst: echo})), nil)
	if live.status != 200 {
		t.Fatal(live.status)
	}
	// a client that is connected (TLS done) but sends its CONNECT after the grace
	late, err := tlsDial(s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close()
	drained := make(chan error, 1)
	go func() { drained <- s.Drain(context.Background()) }()
	waitFor(t, func() bool { code, _ := httpGet(t, "http://"+s.OpsAddr().String()+"/readyz"); return code == 503 })
	// during the grace new connections are still served
	if r := connect(t, s.Addr().String(), echo, bearer(f.token(t, token.Request{Dst: echo})), nil); r.status != 200 {
		t.Fatalf("during grace: %d", r.status)
	} else {
		r.conn.Close()
	}
	time.Sleep(400 * time.Millisecond)
	// after the grace the listener is closed…
	if c, err := net.DialTimeout("tcp", s.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Error("listener still accepting after the grace")
	}
	// …and a CONNECT on an already open connection gets 503 draining
	late.SetDeadline(time.Now().Add(5 * time.Second))
	late.Write([]byte("CONNECT " + echo + " HTTP/1.1\r\n\r\n"))
	checkRejection(t, readResponse(t, late), 503, "draining", "")
	// the live session still works, and ending it ends the drain
	live.conn.Write([]byte("ping"))
	got := make([]byte, 4)
	if _, err := io.ReadFull(live.br, got); err != nil || string(got) != "ping" {
		t.Fatalf("live session during drain: %q %v", got, err)
	}
	select {
	case <-drained:
		t.Fatal("drain finished with a live session")
	default:
	}
	live.conn.Close()
	select {
	case err := <-drained:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("drain did not finish")
	}
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("Serve = %v", err)
		}
		s.done <- nil
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after drain")
	}
}

func TestDrainTimeoutClosesSessions(t *testing.T) {
	f := getFixture(t)
	echo := echoServer(t)
	s := startServer(t, func(c *Config) { c.DrainGrace = 10 * time.Millisecond; c.DrainTimeout = 200 * time.Millisecond })
	live := connect(t, s.Addr().String(), echo, bearer(f.token(t, token.Request{Dst: echo})), nil)
	if live.status != 200 {
		t.Fatal(live.status)
	}
	if err := s.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	live.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := live.br.Read(make([]byte, 1)); err == nil {
		t.Error("session still open after the drain timeout")
	}
	if !strings.Contains(s.logs.String(), `"end_reason":"drain_timeout"`) {
		t.Errorf("no drain_timeout end reason logged:\n%s", s.logs.String())
	}
}

func TestCloseIdempotentWithoutServe(t *testing.T) {
	f := getFixture(t)
	s, err := New(Config{Listen: "127.0.0.1:0", OpsListen: "-", Certificate: f.tlsCert()})
	if err != nil {
		t.Fatal(err)
	}
	addr := s.Addr().String()
	s.Close()
	s.Close()
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Error("listener open after Close")
	}
	if err := s.Serve(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Serve after Close = %v", err)
	}
}

func TestServeReturnsOnContext(t *testing.T) {
	f := getFixture(t)
	s, err := New(Config{Listen: "127.0.0.1:0", OpsListen: "127.0.0.1:0", Certificate: f.tlsCert()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
}

func TestBadConfig(t *testing.T) {
	f := getFixture(t)
	for name, cfg := range map[string]Config{
		"no certificate":  {Listen: "127.0.0.1:0", OpsListen: "-"},
		"peers, no trust": {Listen: "127.0.0.1:0", OpsListen: "-", Certificate: f.tlsCert(), Peers: []Peer{{ID: "b", Addr: "127.0.0.1:1"}}},
		"http mgmt url":   {Listen: "127.0.0.1:0", OpsListen: "-", Certificate: f.tlsCert(), MgmtURLs: []string{"http://mgmt"}},
		"bad allow entry": {Listen: "127.0.0.1:0", OpsListen: "-", Certificate: f.tlsCert(), Allow: []string{"x"}},
		"bad listen":      {Listen: "127.0.0.1:99999", OpsListen: "-", Certificate: f.tlsCert()},
		"duplicate peer":  {Listen: "127.0.0.1:0", OpsListen: "-", Certificate: f.tlsCert(), PeerTrust: pki.NewTrustStore(f.ca.Cert.Cert), Peers: []Peer{{ID: "b", Addr: "x:1"}, {ID: "b", Addr: "y:1"}}},
		"peer without id": {Listen: "127.0.0.1:0", OpsListen: "-", Certificate: f.tlsCert(), PeerTrust: pki.NewTrustStore(f.ca.Cert.Cert), Peers: []Peer{{Addr: "x:1"}}},
	} {
		if s, err := New(cfg); err == nil {
			s.Close()
			t.Errorf("%s: New succeeded", name)
		}
	}
}

func TestRejectResponseFormat(t *testing.T) {
	got := string(rejectResponse(Code(token.CodeExpired), "token expired 42 s ago\r\nInjected: yes"))
	want := "HTTP/1.1 407 Proxy Authentication Required\r\nTermgate-Error: token_expired\r\n" +
		"Proxy-Authenticate: Bearer error=\"invalid_token\"\r\nContent-Type: text/plain; charset=utf-8\r\n" +
		"Connection: close\r\nContent-Length: 38\r\n\r\ntoken expired 42 s ago  Injected: yes\n"
	if got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
	for code, status := range map[Code]int{CodeBadRequest: 400, CodeDestinationDenied: 403, Code(token.CodeDestinationMismatch): 403,
		CodeRateLimited: 429, CodeDialFailed: 502, CodeDialTimeout: 504, CodeDraining: 503, CodeOverloaded: 503,
		Code(token.CodeReplayCheckUnavailable): 503, Code(token.CodeProofInvalid): 407} {
		if code.Status() != status {
			t.Errorf("%s → %d, want %d", code, code.Status(), status)
		}
		if tc := token.Code(code); tc.HTTPStatus() != 500 && tc.HTTPStatus() != status {
			t.Errorf("%s: token package says %d, proxy %d", code, tc.HTTPStatus(), status)
		}
	}
	_ = strconv.Itoa
	_ = bytes.MinRead
}

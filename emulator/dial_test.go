package emulator_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/termgate/termgate/emulator"
	"github.com/termgate/termgate/pki"
	"github.com/termgate/termgate/token"
)

func TestDialEchoHalfClose(t *testing.T) {
	env := newEnv(t)
	ctx := ctxT(t)
	l, err := env.Client(t).Launch(ctx, sessionEcho, emulator.LaunchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := emulator.Dial(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	la, ok1 := conn.LocalAddr().(*net.TCPAddr)
	ra, ok2 := conn.RemoteAddr().(*net.TCPAddr)
	if !ok1 || !ok2 || la.Port == 0 || ra.String() != env.proxy.Addr() {
		t.Errorf("addresses %#v %#v, want *net.TCPAddr of the proxy connection", conn.LocalAddr(), conn.RemoteAddr())
	}
	if !strings.HasPrefix(conn.SessionID(), "ps-") {
		t.Errorf("Termgate-Session %q", conn.SessionID())
	}
	if _, err := conn.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	if err := conn.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(conn)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "ping<EOF>" {
		t.Errorf("got %q, want the echo and the host's answer to the half-close", got)
	}
}

func TestDialKeepsBytesAfter200(t *testing.T) {
	env := newEnv(t)
	ctx := ctxT(t)
	greeting := []byte("first bytes, sent with the 200")
	env.proxy.greeting.Store(&greeting)
	l, err := env.Client(t).Launch(ctx, sessionEcho, emulator.LaunchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := emulator.Dial(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	// Read in small pieces: the buffered bytes must come out in order and whole.
	var got []byte
	buf := make([]byte, 7)
	for len(got) < len(greeting) {
		n, err := conn.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
	}
	if !bytes.Equal(got, greeting) {
		t.Fatalf("got %q, want %q", got, greeting)
	}
	if _, err := conn.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	n, err := io.ReadFull(conn, buf[:1])
	if err != nil || string(buf[:n]) != "x" {
		t.Fatalf("echo after the greeting: %q, %v", buf[:n], err)
	}
}

// TestProxyErrorCodes checks that every Termgate-Error code becomes a
// *ProxyError matching its sentinel, with a hint.
func TestProxyErrorCodes(t *testing.T) {
	env := newEnv(t)
	ctx := ctxT(t)
	c := env.Client(t)
	tests := []struct {
		status   int
		code     string
		sentinel error
		hint     string // a word the hint must contain
		retry    bool
	}{
		{400, "bad_request", emulator.ErrBadRequest, "termgate proxy", false},
		{407, "token_missing", emulator.ErrTokenMissing, "launch", false},
		{407, "token_malformed", emulator.ErrTokenMalformed, "launch again", false},
		{407, "token_signature", emulator.ErrTokenSignature, "administrator", false},
		{407, "token_untrusted_key", emulator.ErrTokenUntrustedKey, "mgmt.pem", false},
		{407, "token_expired", emulator.ErrTokenExpired, "clock", true},
		{407, "token_not_yet_valid", emulator.ErrTokenNotYetValid, "NTP", true},
		{407, "token_audience", emulator.ErrTokenAudience, "proxy cluster", false},
		{407, "token_type", emulator.ErrTokenType, "login token", false},
		{407, "token_replayed", emulator.ErrTokenReplayed, "launch again", true},
		{407, "proof_missing", emulator.ErrProofMissing, "proof key", false},
		{407, "proof_invalid", emulator.ErrProofInvalid, "middlebox", false},
		{403, "destination_mismatch", emulator.ErrDestinationMismatch, "host:port", false},
		{403, "destination_denied", emulator.ErrDestinationDenied, "ask the administrator to allow", false},
		{429, "rate_limited", emulator.ErrRateLimited, "retry", true},
		{502, "dial_failed", emulator.ErrDialFailed, "listening", true},
		{504, "dial_timeout", emulator.ErrDialTimeout, "firewall", true},
		{503, "draining", emulator.ErrDraining, "load balancer", true},
		{503, "overloaded", emulator.ErrOverloaded, "retry", true},
		{503, "replay_check_unavailable", emulator.ErrReplayCheckUnavailable, "proof of possession", true},
	}
	all := []error{}
	for _, tt := range tests {
		all = append(all, tt.sentinel)
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			reason := "reason for " + tt.code
			env.proxy.refuse.Store(&refusalSpec{Status: tt.status, Code: tt.code, Reason: reason})
			defer env.proxy.refuse.Store(nil)
			l, err := c.Launch(ctx, sessionEcho, emulator.LaunchOptions{})
			if err != nil {
				t.Fatal(err)
			}
			conn, err := emulator.Dial(ctx, l)
			if err == nil {
				conn.Close()
				t.Fatal("Dial succeeded")
			}
			var pe *emulator.ProxyError
			if !errors.As(err, &pe) {
				t.Fatalf("got %T %v, want *ProxyError", err, err)
			}
			if pe.Status != tt.status || pe.Code != tt.code || pe.Reason != reason || pe.Target != l.Session.Target() {
				t.Errorf("got %+v", pe)
			}
			for _, s := range all {
				if got := errors.Is(err, s); got != (s == tt.sentinel) {
					t.Errorf("errors.Is(err, %v) = %v", s, got)
				}
			}
			if got := errors.Is(err, emulator.ErrTokenRejected); got != (tt.status == 407) {
				t.Errorf("errors.Is(err, ErrTokenRejected) = %v", got)
			}
			if !errors.Is(err, emulator.ErrProxyRefused) {
				t.Error("not ErrProxyRefused")
			}
			if !strings.Contains(pe.Hint(), tt.hint) || !strings.Contains(err.Error(), pe.Hint()) || !strings.Contains(err.Error(), reason) {
				t.Errorf("message %q lacks hint %q or reason", err.Error(), tt.hint)
			}
			if pe.Retryable() != tt.retry {
				t.Errorf("Retryable() = %v", pe.Retryable())
			}
			if strings.Contains(err.Error(), l.Token.Reveal()) {
				t.Error("the error contains the token")
			}
		})
	}

	// Not a termgate proxy: a status without Termgate-Error.
	env.proxy.refuse.Store(&refusalSpec{Status: 405, Code: "", Reason: "method not allowed"})
	defer env.proxy.refuse.Store(nil)
	l, _ := c.Launch(ctx, sessionEcho, emulator.LaunchOptions{})
	_, err := emulator.Dial(ctx, l)
	var pe *emulator.ProxyError
	if !errors.As(err, &pe) || pe.Code != "" || !strings.Contains(err.Error(), "termgate proxy") {
		t.Errorf("foreign refusal: %v", err)
	}
}

// TestProxyRefusesForReal checks refusals produced by the real token
// verifier: replay, proof of possession, destination.
func TestProxyRefusesForReal(t *testing.T) {
	env := newEnv(t)
	ctx := ctxT(t)
	c := env.Client(t)
	launch := func(noProof bool) *emulator.Launch {
		t.Helper()
		l, err := c.Launch(ctx, sessionEcho, emulator.LaunchOptions{NoProof: noProof})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	dial := func(l *emulator.Launch, key *token.ProofKey, target string) error {
		conn, err := emulator.DialProxy(ctx, emulator.DialOptions{
			ProxyAddr: l.Proxy.Address, ServerName: l.Proxy.ServerName, Trust: l.Trust,
			Token: l.Token, ProofKey: key, Target: target,
		})
		if err == nil {
			conn.Close()
		}
		return err
	}

	l := launch(false)
	if err := dial(l, l.ProofKey, l.Session.Target()); err != nil {
		t.Fatalf("first use: %v", err)
	}
	if err := dial(l, l.ProofKey, l.Session.Target()); !errors.Is(err, emulator.ErrTokenReplayed) {
		t.Errorf("second use: %v, want ErrTokenReplayed", err)
	}
	l = launch(false)
	if err := dial(l, nil, l.Session.Target()); !errors.Is(err, emulator.ErrProofMissing) {
		t.Errorf("bound token without proof: %v, want ErrProofMissing", err)
	}
	other, _ := token.NewProofKey()
	l = launch(false)
	if err := dial(l, other, l.Session.Target()); !errors.Is(err, emulator.ErrProofInvalid) {
		t.Errorf("proof by another key: %v, want ErrProofInvalid", err)
	}
	l = launch(true)
	if err := dial(l, nil, "127.0.0.1:1"); !errors.Is(err, emulator.ErrDestinationMismatch) {
		t.Errorf("other destination: %v, want ErrDestinationMismatch", err)
	}
	l = launch(true)
	if err := dial(l, nil, l.Session.Target()); err != nil {
		t.Errorf("bearer token: %v", err)
	}
}

func TestDialWrongProxyName(t *testing.T) {
	env := newEnv(t)
	ctx := ctxT(t)
	c := env.Client(t)
	const wrong = "lb.example.com"
	env.setTweak(func(m map[string]any) { m["proxy"].(map[string]any)["server_name"] = wrong })
	l, err := c.Launch(ctx, sessionEcho, emulator.LaunchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = emulator.Dial(ctx, l)
	var nm *pki.NameMismatchError
	if !errors.As(err, &nm) {
		t.Fatalf("got %T %v, want *pki.NameMismatchError", err, err)
	}
	if msg := err.Error(); !strings.Contains(msg, wrong) || !strings.Contains(msg, proxyName) {
		t.Errorf("message %q must name both %q and %q", msg, wrong, proxyName)
	}

	// The administrator turned the name check off: the chain still counts.
	env.setTweak(func(m map[string]any) {
		p := m["proxy"].(map[string]any)
		p["server_name"], p["verify_server_identity"] = wrong, false
	})
	l, err = c.Launch(ctx, sessionEcho, emulator.LaunchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := emulator.Dial(ctx, l)
	if err != nil {
		t.Fatalf("name check off: %v", err)
	}
	conn.Close()

	// A trust store that does not hold the proxy's CA.
	otherCA, _ := pki.NewCA(pki.CertSpec{CommonName: "other CA"})
	env.setTweak(func(m map[string]any) { m["trust_store"] = string(pki.NewTrustStore(otherCA.Cert.Cert).Encode()) })
	l, err = c.Launch(ctx, sessionEcho, emulator.LaunchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = emulator.Dial(ctx, l)
	var ue *pki.UntrustedError
	if !errors.As(err, &ue) {
		t.Fatalf("got %T %v, want *pki.UntrustedError", err, err)
	}
}

func TestDialOptionsChecked(t *testing.T) {
	env := newEnv(t)
	ctx := ctxT(t)
	base := emulator.DialOptions{ProxyAddr: env.proxy.Addr(), Trust: env.Trust, Token: "t", Target: "h:1"}
	tests := []struct {
		name string
		edit func(*emulator.DialOptions)
	}{
		{"no proxy", func(o *emulator.DialOptions) { o.ProxyAddr = "" }},
		{"no trust", func(o *emulator.DialOptions) { o.Trust = nil }},
		{"empty trust", func(o *emulator.DialOptions) { o.Trust = pki.NewTrustStore() }},
		{"no token", func(o *emulator.DialOptions) { o.Token = "" }},
		{"no target", func(o *emulator.DialOptions) { o.Target = "" }},
		{"target injection", func(o *emulator.DialOptions) { o.Target = "h:1 HTTP/1.1\r\nX: y" }},
		{"token injection", func(o *emulator.DialOptions) { o.Token = "t\r\nX-Evil: 1" }},
		{"header injection", func(o *emulator.DialOptions) { o.Headers = http.Header{"Termgate-Channel": {"ftp-data\r\nX: 1"}} }},
		{"bad header name", func(o *emulator.DialOptions) { o.Headers = http.Header{"Bad Name": {"v"}} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := base
			tt.edit(&o)
			if conn, err := emulator.DialProxy(ctx, o); err == nil {
				conn.Close()
				t.Fatal("DialProxy accepted bad options")
			}
		})
	}
}

// TestDialTimeout: a "proxy" that accepts TCP and never answers must not
// hang the client.
func TestDialTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	defer close(done)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			<-done
			c.Close()
		}
	}()
	env := newEnv(t)
	start := time.Now()
	_, err = emulator.DialProxy(ctxT(t), emulator.DialOptions{
		ProxyAddr: ln.Addr().String(), ServerName: proxyName, Trust: env.Trust, Token: "t", Target: "h:1",
		Timeout: 300 * time.Millisecond,
	})
	if err == nil {
		t.Fatal("dial of a silent server succeeded")
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("dial took %v despite a 300ms timeout", time.Since(start))
	}
}

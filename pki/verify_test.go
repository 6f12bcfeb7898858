package pki

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func TestVerifyPeerUntrustedChain(t *testing.T) {
	other, err := NewCA(CertSpec{CommonName: "other CA"})
	if err != nil {
		t.Fatal(err)
	}
	leaf := mustIssue(t, other, CertSpec{CommonName: "proxy.example.com"})
	store := NewTrustStore(testCA().Cert.Cert)
	err = VerifyPeer(store, []*x509.Certificate{leaf.Cert}, VerifyOptions{Name: "proxy.example.com"})
	var ue *UntrustedError
	if !errors.As(err, &ue) {
		t.Fatalf("VerifyPeer = %v, want *UntrustedError", err)
	}
	var ua x509.UnknownAuthorityError
	if !errors.As(err, &ua) {
		t.Errorf("cause is not x509.UnknownAuthorityError: %v", ue.Err)
	}
	if ue.Issuer != "other CA" || ue.Fingerprint != FingerprintHex(leaf.Cert) {
		t.Errorf("error fields: %+v", ue)
	}
	msg := err.Error()
	for _, want := range []string{"proxy.example.com", "other CA", "not trusted", "trust store holds"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q: %s", want, msg)
		}
	}
	// The leaf itself in a chain with a CA it names but that is not in the
	// store is still refused: intermediates are not anchors.
	err = VerifyPeer(store, []*x509.Certificate{leaf.Cert, other.Cert.Cert}, VerifyOptions{})
	if !errors.As(err, &ue) {
		t.Errorf("chain with a foreign root: %v", err)
	}
	if err := VerifyPeer(store, nil, VerifyOptions{}); err == nil {
		t.Error("empty chain accepted")
	}
	if err := VerifyPeer(NewTrustStore(), []*x509.Certificate{leaf.Cert}, VerifyOptions{}); err == nil {
		t.Error("empty store accepted a certificate")
	}
}

func TestVerifyPeerValidity(t *testing.T) {
	ca := testCA()
	store := NewTrustStore(ca.Cert.Cert)
	now := time.Now()
	recentlyExpired := mustIssue(t, ca, CertSpec{CommonName: "a.example.com", NotBefore: now.Add(-time.Hour), Validity: 58 * time.Minute})
	longExpired := mustIssue(t, ca, CertSpec{CommonName: "b.example.com", NotBefore: now.Add(-50 * time.Minute), Validity: 10 * time.Minute})
	soonValid := mustIssue(t, ca, CertSpec{CommonName: "c.example.com", NotBefore: now.Add(2 * time.Minute), Validity: time.Hour})
	for _, tc := range []struct {
		name    string
		c       *Cert
		skew    time.Duration
		wantErr bool
	}{
		{"expired 2 min ago, default skew", recentlyExpired, 0, false},
		{"expired 2 min ago, no skew", recentlyExpired, -1, true},
		{"expired 2 min ago, 1 min skew", recentlyExpired, time.Minute, true},
		{"expired 40 min ago, default skew", longExpired, 0, true},
		{"expired 40 min ago, 1 h skew", longExpired, time.Hour, false},
		{"valid in 2 min, default skew", soonValid, 0, false},
		{"valid in 2 min, no skew", soonValid, -1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifyPeer(store, []*x509.Certificate{tc.c.Cert}, VerifyOptions{Now: now, Skew: tc.skew})
			if !tc.wantErr {
				if err != nil {
					t.Fatalf("VerifyPeer = %v, want success", err)
				}
				return
			}
			var ve *ValidityError
			if !errors.As(err, &ve) {
				t.Fatalf("VerifyPeer = %v, want *ValidityError", err)
			}
			if !ve.Now.Equal(now) {
				t.Errorf("ValidityError.Now = %v, want %v", ve.Now, now)
			}
			msg := err.Error()
			if tc.c == soonValid {
				if !strings.Contains(msg, "not valid before") || !strings.Contains(msg, "clocks") {
					t.Errorf("message: %s", msg)
				}
			} else if !strings.Contains(msg, "expired") || !strings.Contains(msg, "renew") {
				t.Errorf("message: %s", msg)
			}
		})
	}
}

func TestVerifyPeerNameMismatchExplains(t *testing.T) {
	leaf := mustIssue(t, testCA(), CertSpec{CommonName: "proxy-1", DNSNames: []string{"proxy-1.internal", "lb.example.com"}, IPs: []net.IP{net.ParseIP("192.0.2.7")}})
	store := NewTrustStore(testCA().Cert.Cert)
	for _, name := range []string{"lb.example.com", "LB.example.com.", "192.0.2.7", "proxy-1.internal"} {
		if err := VerifyPeer(store, []*x509.Certificate{leaf.Cert}, VerifyOptions{Name: name}); err != nil {
			t.Errorf("name %q: %v", name, err)
		}
	}
	err := VerifyPeer(store, []*x509.Certificate{leaf.Cert}, VerifyOptions{Name: "gateway.example.com"})
	var nm *NameMismatchError
	if !errors.As(err, &nm) {
		t.Fatalf("VerifyPeer = %v, want *NameMismatchError", err)
	}
	if nm.Dialled != "gateway.example.com" || strings.Join(nm.Names, ",") != "proxy-1.internal,lb.example.com,192.0.2.7" {
		t.Errorf("fields: %+v", nm)
	}
	msg := err.Error()
	for _, want := range []string{`"gateway.example.com"`, "proxy-1.internal", "lb.example.com", "192.0.2.7", "subject alternative names include"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q: %s", want, msg)
		}
	}
	noNames := &NameMismatchError{Dialled: "x", Subject: "y"}
	if !strings.Contains(noNames.Error(), "no DNS or IP names") {
		t.Errorf("no-names message: %s", noNames.Error())
	}
}

// tlsServer serves one certificate on loopback and completes each handshake.
func tlsServer(t *testing.T, c *Cert) string {
	t.Helper()
	tc := c.TLSCertificate()
	cfg := ServerTLSConfig(func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &tc, nil })
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			// The handshake fails when the client refuses the certificate;
			// either way the connection is done.
			if conn.(*tls.Conn).Handshake() == nil {
				io.WriteString(conn, "hello")
			}
			conn.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

func dialTLS(addr string, cfg *tls.Config) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d := tls.Dialer{Config: cfg}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(conn)
	if err != nil {
		return err
	}
	if string(b) != "hello" {
		return errors.New("unexpected server reply " + string(b))
	}
	return nil
}

func TestClientTLSConfigOverLoopback(t *testing.T) {
	ca := testCA()
	server := mustIssue(t, ca, CertSpec{CommonName: "proxy", DNSNames: []string{"proxy.example.com"}})
	addr := tlsServer(t, server)
	trusted := NewTrustStore(ca.Cert.Cert)
	other, err := NewCA(CertSpec{CommonName: "other CA"})
	if err != nil {
		t.Fatal(err)
	}
	untrusted := NewTrustStore(other.Cert.Cert)

	t.Run("checkName, right name", func(t *testing.T) {
		if err := dialTLS(addr, ClientTLSConfig(trusted, "proxy.example.com", true)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("checkName, wrong name", func(t *testing.T) {
		err := dialTLS(addr, ClientTLSConfig(trusted, "lb.example.com", true))
		if err == nil {
			t.Fatal("wrong name accepted")
		}
		var nm *NameMismatchError
		if !errors.As(ExplainTLSError(err, "lb.example.com"), &nm) {
			t.Fatalf("ExplainTLSError = %v, want *NameMismatchError", ExplainTLSError(err, "lb.example.com"))
		}
		if nm.Dialled != "lb.example.com" || strings.Join(nm.Names, ",") != "proxy.example.com" {
			t.Errorf("fields: %+v", nm)
		}
	})
	t.Run("checkName, untrusted chain", func(t *testing.T) {
		err := dialTLS(addr, ClientTLSConfig(untrusted, "proxy.example.com", true))
		var ue *UntrustedError
		if !errors.As(ExplainTLSError(err, "proxy.example.com"), &ue) {
			t.Fatalf("err = %v, want *UntrustedError", err)
		}
	})
	t.Run("checkName, no server name", func(t *testing.T) {
		if err := dialTLS(addr, ClientTLSConfig(trusted, "", true)); err == nil {
			t.Fatal("name check without a name accepted the server")
		}
	})
	t.Run("no checkName, wrong name accepted", func(t *testing.T) {
		if err := dialTLS(addr, ClientTLSConfig(trusted, "lb.example.com", false)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("no checkName, untrusted chain refused", func(t *testing.T) {
		err := dialTLS(addr, ClientTLSConfig(untrusted, "lb.example.com", false))
		var ue *UntrustedError
		if !errors.As(ExplainTLSError(err, "lb.example.com"), &ue) {
			t.Fatalf("err = %v, want *UntrustedError", err)
		}
	})
	t.Run("store changes take effect on the next config", func(t *testing.T) {
		s := NewTrustStore(other.Cert.Cert)
		if err := dialTLS(addr, ClientTLSConfig(s, "proxy.example.com", true)); err == nil {
			t.Fatal("accepted before the CA was trusted")
		}
		s.Add("site CA", ca.Cert.Cert)
		if err := dialTLS(addr, ClientTLSConfig(s, "proxy.example.com", true)); err != nil {
			t.Fatalf("after adding the CA: %v", err)
		}
		s.Remove("site CA")
		if err := dialTLS(addr, ClientTLSConfig(s, "proxy.example.com", true)); err == nil {
			t.Fatal("accepted after the CA was removed")
		}
	})
	t.Run("token-signing certificate refused as TLS server", func(t *testing.T) {
		signer := mustIssue(t, ca, CertSpec{CommonName: "mgmt-1", DNSNames: []string{"mgmt.example.com"}, Usage: UsageTokenSigning})
		addr := tlsServer(t, signer)
		err := ExplainTLSError(dialTLS(addr, ClientTLSConfig(trusted, "mgmt.example.com", true)), "mgmt.example.com")
		var ue *UntrustedError
		if !errors.As(err, &ue) {
			t.Fatalf("err = %v, want *UntrustedError", err)
		}
	})
}

func TestExplainTLSErrorOfStandardVerification(t *testing.T) {
	ca := testCA()
	server := mustIssue(t, ca, CertSpec{CommonName: "proxy", DNSNames: []string{"proxy.example.com"}})
	addr := tlsServer(t, server)
	std := &tls.Config{RootCAs: NewTrustStore(ca.Cert.Cert).Pool(), ServerName: "wrong.example.com", MinVersion: tls.VersionTLS12}
	err := dialTLS(addr, std)
	var nm *NameMismatchError
	if !errors.As(ExplainTLSError(err, "wrong.example.com"), &nm) {
		t.Fatalf("ExplainTLSError(%v) is not *NameMismatchError", err)
	}
	std = &tls.Config{RootCAs: x509.NewCertPool(), ServerName: "proxy.example.com", MinVersion: tls.VersionTLS12}
	err = dialTLS(addr, std)
	var ue *UntrustedError
	if !errors.As(ExplainTLSError(err, "proxy.example.com"), &ue) {
		t.Fatalf("ExplainTLSError(%v) is not *UntrustedError", err)
	}
	plain := errors.New("connection reset")
	if ExplainTLSError(plain, "x") != plain {
		t.Error("unrelated error changed")
	}
}

func TestHostOfAndDescribe(t *testing.T) {
	for in, want := range map[string]string{"a.example.com:443": "a.example.com", "[::1]:9443": "::1", "bare": "bare"} {
		if got := HostOf(in); got != want {
			t.Errorf("HostOf(%q) = %q, want %q", in, got, want)
		}
	}
	c := mustIssue(t, testCA(), CertSpec{CommonName: "d", DNSNames: []string{"d.example.com"}})
	if d := Describe(c.Cert); !strings.Contains(d, "d.example.com") || !strings.Contains(d, Fingerprint(c.Cert)) {
		t.Errorf("Describe = %s", d)
	}
}

package token

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/termgate/termgate/pki"
)

// fixture is a small termgate PKI: a CA, token-signing certificates for
// two nodes (ES256 and EdDSA), certificates that must not verify tokens,
// and a trust store that holds them all, as a careless operator might.
type fixture struct {
	ca       *pki.CA
	es       *pki.Cert // mgmt-1, ECDSA P-256, token signing
	ed       *pki.Cert // mgmt-2, Ed25519, token signing
	proxy    *pki.Cert // proxy-1, TLS server certificate (no signing EKU), in the trust store
	expired  *pki.Cert // mgmt-old, token signing, expired yesterday
	future   *pki.Cert // mgmt-new, token signing, valid from tomorrow
	outsider *pki.Cert // mgmt-x, token signing, NOT in the trust store
	rsaOnce  sync.Once
	rsa      *pki.Cert // mgmt-rsa, token signing EKU but an RSA key: see rsaSigner
	trust    *pki.TrustStore
	t0       time.Time // the issuers' clock
}

var (
	fixOnce sync.Once
	fix     *fixture
	fixErr  error
)

func getFixture(t testing.TB) *fixture {
	t.Helper()
	fixOnce.Do(func() { fix, fixErr = newFixture() })
	if fixErr != nil {
		t.Fatal(fixErr)
	}
	return fix
}

func newFixture() (*fixture, error) {
	f := &fixture{t0: time.Now().Truncate(time.Second)}
	var err error
	if f.ca, err = pki.NewCA(pki.CertSpec{}); err != nil {
		return nil, err
	}
	issue := func(spec pki.CertSpec) *pki.Cert {
		if err != nil {
			return nil
		}
		var c *pki.Cert
		c, err = f.ca.Issue(spec)
		return c
	}
	f.es = issue(pki.CertSpec{CommonName: "mgmt-1", Usage: pki.UsageTokenSigning})
	f.ed = issue(pki.CertSpec{CommonName: "mgmt-2", Usage: pki.UsageTokenSigning, KeyType: pki.KeyEd25519})
	f.proxy = issue(pki.CertSpec{CommonName: "proxy-1", Usage: pki.UsageServer, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	f.expired = issue(pki.CertSpec{CommonName: "mgmt-old", Usage: pki.UsageTokenSigning,
		NotBefore: f.t0.Add(-72 * time.Hour), Validity: 48 * time.Hour})
	f.future = issue(pki.CertSpec{CommonName: "mgmt-new", Usage: pki.UsageTokenSigning,
		NotBefore: f.t0.Add(24 * time.Hour), Validity: 48 * time.Hour})
	f.outsider = issue(pki.CertSpec{CommonName: "mgmt-x", Usage: pki.UsageTokenSigning})
	if err != nil {
		return nil, err
	}
	f.trust = pki.NewTrustStore(f.es.Cert, f.ed.Cert, f.proxy.Cert, f.expired.Cert, f.future.Cert, f.ca.Cert.Cert)
	return f, nil
}

// rsaSigner returns a token-signing certificate with an RSA key, added to
// the trust store on first use (RSA key generation is slow, so only the
// tests that need it pay for it).
func (f *fixture) rsaSigner(t testing.TB) *pki.Cert {
	t.Helper()
	var err error
	f.rsaOnce.Do(func() {
		f.rsa, err = f.ca.Issue(pki.CertSpec{CommonName: "mgmt-rsa", Usage: pki.UsageTokenSigning, KeyType: pki.KeyRSA3072})
		if err == nil {
			f.trust.Add("", f.rsa.Cert)
		}
	})
	if err != nil || f.rsa == nil {
		t.Fatalf("RSA signer: %v", err)
	}
	return f.rsa
}

func (f *fixture) issuer(t testing.TB, c *pki.Cert) *Issuer {
	t.Helper()
	iss, err := NewIssuer(IssuerConfig{Cert: c.Cert, Key: c.Key, Now: func() time.Time { return f.t0 }})
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

// claimsAt returns a valid payload as a map (iat = nbf = t0, 120 s), for
// hand-crafted tokens; mod may change it.
func (f *fixture) claimsAt(iss string, mod func(map[string]any)) map[string]any {
	m := map[string]any{
		"iss": iss, "sub": "alice", "aud": []string{DefaultAudience},
		"iat": f.t0.Unix(), "nbf": f.t0.Unix(), "exp": f.t0.Add(DefaultTTL).Unix(),
		"jti": "AAAAAAAAAAAAAAAAAAAAAA", "dst": "example.com:23", "proto": ProtoTelnet,
	}
	if mod != nil {
		mod(m)
	}
	return m
}

// craft signs arbitrary header and payload JSON (kept byte for byte) with
// key, canonically, so that only the intended defect is wrong.
func craft(t testing.TB, key crypto.Signer, alg, header, payload string) string {
	t.Helper()
	signing := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(payload))
	sig, err := sign(key, alg, []byte(signing))
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + b64.EncodeToString(sig)
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func hdr(alg, kid string) string {
	return `{"alg":"` + alg + `","typ":"` + Type + `","kid":"` + kid + `"}`
}

// tlsPair is one real TLS connection over loopback and the exporter value
// each side computed.
type tlsPair struct {
	client, server []byte
	version        uint16
}

// tlsPairs makes n TLS connections to a loopback server with the given
// maximum version and returns both sides' exporter values.
func tlsPairs(t testing.TB, f *fixture, n int, maxVersion uint16) []tlsPair {
	t.Helper()
	srvCfg := &tls.Config{Certificates: []tls.Certificate{f.proxy.TLSCertificate()}, MinVersion: tls.VersionTLS12, MaxVersion: maxVersion}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", srvCfg)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		ekm []byte
		err error
	}
	results := make(chan result, n)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < n; i++ {
			c, err := ln.Accept()
			if err != nil {
				results <- result{err: err}
				return
			}
			tc := c.(*tls.Conn)
			tc.SetDeadline(time.Now().Add(10 * time.Second))
			err = tc.Handshake()
			var ekm []byte
			if err == nil {
				ekm, err = Exporter(tc.ConnectionState())
			}
			results <- result{ekm, err}
			tc.Close()
		}
	}()
	defer func() {
		ln.Close() // unblocks Accept if a dial failed
		wg.Wait()
	}()
	roots := x509.NewCertPool()
	roots.AddCert(f.ca.Cert.Cert)
	var out []tlsPair
	for i := 0; i < n; i++ {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", ln.Addr().String(),
			&tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MaxVersion: maxVersion})
		if err != nil {
			t.Fatal(err)
		}
		cs := c.ConnectionState()
		ekm, err := Exporter(cs)
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		r := <-results
		if r.err != nil {
			t.Fatal(r.err)
		}
		out = append(out, tlsPair{client: ekm, server: r.ekm, version: cs.Version})
	}
	return out
}

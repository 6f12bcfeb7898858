package token

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/termgate/termgate/pki"
)

func TestNewIssuerRefuses(t *testing.T) {
	f := getFixture(t)
	tests := map[string]IssuerConfig{
		"no certificate":         {Key: f.es.Key},
		"no key":                 {Cert: f.es.Cert},
		"TLS certificate":        {Cert: f.proxy.Cert, Key: f.proxy.Key},
		"key of another cert":    {Cert: f.es.Cert, Key: f.outsider.Key},
		"node id not the CN":     {Cert: f.es.Cert, Key: f.es.Key, NodeID: "mgmt-9"},
		"RSA key":                {Cert: f.rsaSigner(t).Cert, Key: f.rsaSigner(t).Key},
		"MaxTTL beyond one hour": {Cert: f.es.Cert, Key: f.es.Key, MaxTTL: 2 * time.Hour},
	}
	for name, cfg := range tests {
		if _, err := NewIssuer(cfg); err == nil {
			t.Errorf("%s: NewIssuer succeeded", name)
		}
	}
	if _, err := NewIssuer(IssuerConfig{Cert: f.proxy.Cert, Key: f.proxy.Key}); !errors.Is(err, pki.ErrNotTokenSigner) {
		t.Errorf("TLS certificate: %v, want pki.ErrNotTokenSigner", err)
	}
}

func TestIssue(t *testing.T) {
	f := getFixture(t)
	iss := f.issuer(t, f.es)
	if iss.KID() != pki.KID(f.es.Cert) || iss.NodeID() != "mgmt-1" || iss.Alg() != AlgES256 {
		t.Fatalf("KID %s NodeID %s Alg %s", iss.KID(), iss.NodeID(), iss.Alg())
	}
	pk, _ := NewProofKey()
	tok, c, err := iss.Issue(Request{Subject: "alice", Dst: "DB2.Example.com.:23", Proto: ProtoTN3270,
		Session: "demo-3270", TTL: 90 * time.Second, HostTLS: true, PoPKey: pk.JWK()})
	if err != nil {
		t.Fatal(err)
	}
	h, _, _ := splitTok(t, tok)
	if want := `{"alg":"ES256","typ":"tg-authz+jwt","kid":"` + iss.KID() + `"}`; string(h) != want {
		t.Errorf("header = %s, want %s", h, want)
	}
	if c.Dst != "db2.example.com:23" || c.Issuer != "mgmt-1" || c.Subject != "alice" || c.Ses != "demo-3270" || !c.HTLS ||
		c.Proto != ProtoTN3270 || c.Cnf == nil || c.Cnf.JKT != pk.JWK().Thumbprint() {
		t.Errorf("claims = %+v", c)
	}
	if !c.IssuedAt.Equal(f.t0) || !c.NotBefore.Equal(f.t0) || !c.ExpiresAt.Equal(f.t0.Add(90*time.Second)) {
		t.Errorf("times iat %v nbf %v exp %v", c.IssuedAt, c.NotBefore, c.ExpiresAt)
	}
	if raw, err := b64Strict.DecodeString(c.ID); err != nil || len(raw) != 16 {
		t.Errorf("jti %q is not 128 bits of base64url", c.ID)
	}
	v := NewVerifier(VerifierConfig{Trust: f.trust, Now: func() time.Time { return f.t0 }})
	got, err := v.Parse(tok)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != c.ID || got.Dst != c.Dst || got.Cnf.JKT != c.Cnf.JKT {
		t.Errorf("parsed claims %+v differ from issued %+v", got, c)
	}

	bad := map[string]Request{
		"TTL over the max":   {Dst: "a.example:23", Proto: ProtoSSH, TTL: MaxTTL + time.Second},
		"TTL under a second": {Dst: "a.example:23", Proto: ProtoSSH, TTL: time.Millisecond},
		"negative TTL":       {Dst: "a.example:23", Proto: ProtoSSH, TTL: -time.Second},
		"bad dst":            {Dst: "127.1:23", Proto: ProtoSSH},
		"no dst":             {Proto: ProtoSSH},
		"bad proto":          {Dst: "a.example:23", Proto: "http"},
		"invalid PoP key":    {Dst: "a.example:23", Proto: ProtoSSH, PoPKey: &JWK{Kty: "EC", Crv: "P-256", X: "AA", Y: "AA"}},
	}
	for name, req := range bad {
		if _, _, err := iss.Issue(req); err == nil {
			t.Errorf("%s: Issue succeeded", name)
		}
	}
	// An issuer with an expired certificate refuses to sign.
	old, err := NewIssuer(IssuerConfig{Cert: f.expired.Cert, Key: f.expired.Key})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := old.Issue(Request{Dst: "a.example:23", Proto: ProtoSSH}); err == nil || !strings.Contains(err.Error(), "renew") {
		t.Errorf("expired certificate: %v", err)
	}
}

func TestIssueConcurrentUniqueJTI(t *testing.T) {
	f := getFixture(t)
	iss := f.issuer(t, f.ed)
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				_, c, err := iss.Issue(Request{Dst: "a.example:22", Proto: ProtoSSH})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if seen[c.ID] {
					t.Errorf("duplicate jti %s", c.ID)
				}
				seen[c.ID] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

func TestECDSASignaturesAreCanonical(t *testing.T) {
	f := getFixture(t)
	iss := f.issuer(t, f.es)
	for i := 0; i < 64; i++ {
		tok, _, err := iss.Issue(Request{Dst: "a.example:23", Proto: ProtoTelnet})
		if err != nil {
			t.Fatal(err)
		}
		_, _, sig := splitTok(t, tok)
		if len(sig) != 64 || highS(sig) {
			t.Fatalf("signature %d is not canonical r||s", i)
		}
	}
}

func TestVerifierCallbacks(t *testing.T) {
	f := getFixture(t)
	var unknown []string
	var skew atomic.Int64
	var skewIss atomic.Value
	v := NewVerifier(VerifierConfig{
		Trust:        f.trust,
		Now:          func() time.Time { return f.t0.Add(-5 * time.Second) },
		OnUnknownKID: func(kid string) { unknown = append(unknown, kid) },
		ClockSkew: func(iss string, d time.Duration) {
			skewIss.Store(iss)
			skew.Store(int64(d))
		},
	})
	tok, _, err := f.issuer(t, f.es).Issue(Request{Dst: "a.example:23", Proto: ProtoTelnet})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Parse(tok); err != nil {
		t.Fatal(err)
	}
	if time.Duration(skew.Load()) != 5*time.Second || skewIss.Load() != "mgmt-1" {
		t.Errorf("ClockSkew got %v from %v, want 5s from mgmt-1", time.Duration(skew.Load()), skewIss.Load())
	}
	outsider, err := NewIssuer(IssuerConfig{Cert: f.outsider.Cert, Key: f.outsider.Key, Now: func() time.Time { return f.t0 }})
	if err != nil {
		t.Fatal(err)
	}
	tok, _, _ = outsider.Issue(Request{Dst: "a.example:23", Proto: ProtoTelnet})
	if _, err := v.Parse(tok); CodeOf(err) != CodeUntrustedKey {
		t.Fatalf("outsider: %v", err)
	}
	if len(unknown) != 1 || unknown[0] != outsider.KID() {
		t.Errorf("OnUnknownKID calls = %v, want [%s]", unknown, outsider.KID())
	}
	// Junk kids never reach the callback.
	_, _ = v.Parse(craft(t, f.es.Key, AlgES256, hdr(AlgES256, "../../etc/passwd"), mustJSON(t, f.claimsAt("mgmt-1", nil))))
	if len(unknown) != 1 {
		t.Errorf("OnUnknownKID called for a junk kid")
	}
}

func TestVerifierFollowsTrustStoreChanges(t *testing.T) {
	f := getFixture(t)
	store := pki.NewTrustStore(f.es.Cert)
	v := NewVerifier(VerifierConfig{Trust: store, Now: func() time.Time { return f.t0 }})
	tok, _, err := f.issuer(t, f.es).Issue(Request{Dst: "a.example:23", Proto: ProtoTelnet})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Parse(tok); err != nil {
		t.Fatal(err)
	}
	store.Remove(pki.KID(f.es.Cert))
	if _, err := v.Parse(tok); CodeOf(err) != CodeUntrustedKey {
		t.Fatalf("after removing the certificate: %v", err)
	}
	store.Add("", f.es.Cert)
	if _, err := v.Parse(tok); err != nil {
		t.Fatalf("after adding it back: %v", err)
	}
}

func TestVerifierWithoutTrust(t *testing.T) {
	f := getFixture(t)
	tok, _, _ := f.issuer(t, f.es).Issue(Request{Dst: "a.example:23", Proto: ProtoTelnet})
	if _, err := NewVerifier(VerifierConfig{}).Verify(context.Background(), Presentation{Token: tok, Dst: "a.example:23"}); CodeOf(err) != CodeUntrustedKey {
		t.Fatalf("nil trust store: %v", err)
	}
}

func TestCodes(t *testing.T) {
	for _, c := range allCodes {
		st := c.HTTPStatus()
		switch {
		case c == CodeDestinationMismatch && st != 403,
			c == CodeReplayCheckUnavailable && st != 503,
			(strings.HasPrefix(string(c), "token_") || strings.HasPrefix(string(c), "proof_")) && st != 407:
			t.Errorf("%s.HTTPStatus() = %d", c, st)
		}
		e := &Error{Code: c, Reason: "r"}
		if !errors.Is(e, c.Sentinel()) || CodeOf(e) != c || e.Error() != string(c)+": r" {
			t.Errorf("%s: Is/CodeOf/Error inconsistent", c)
		}
	}
	if Code("x").HTTPStatus() != 500 || CodeOf(nil) != "" || CodeOf(errors.New("x")) != "" {
		t.Error("unknown code handling")
	}
}

package token

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func FuzzParse(f *testing.F) {
	fx := getFixture(f)
	es, ed := fx.issuer(f, fx.es), fx.issuer(f, fx.ed)
	valid := map[string]bool{}
	for _, iss := range []*Issuer{es, ed} {
		tok, _, err := iss.Issue(Request{Subject: "alice", Dst: "example.com:23", Proto: ProtoTelnet})
		if err != nil {
			f.Fatal(err)
		}
		valid[tok] = true
		f.Add(tok)
	}
	f.Add("")
	f.Add("a.b.c")
	f.Add(hdr("none", es.KID()) + "..")
	v := NewVerifier(VerifierConfig{Trust: fx.trust, Now: func() time.Time { return fx.t0 }})
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := v.Parse(tok)
		if err == nil {
			if c == nil {
				t.Fatal("nil claims without error")
			}
			if !valid[tok] {
				t.Fatalf("accepted a token no issuer signed: %q", tok)
			}
			return
		}
		if c != nil {
			t.Fatal("claims with an error")
		}
		var e *Error
		if !errors.As(err, &e) || e.Code.Sentinel() == nil || !errors.Is(err, e.Code.Sentinel()) {
			t.Fatalf("error %v has no known code", err)
		}
		if len(tok) > 40 && strings.Contains(err.Error(), tok) {
			t.Fatal("error message contains the token")
		}
	})
}

func FuzzNormalizeHostPort(f *testing.F) {
	for _, s := range []string{"example.com:23", "EXAMPLE.com.:23", "[::1]:22", "[::ffff:127.0.0.1]:23", "127.1:23",
		"0x7f.0.0.1:23", "example.com:023", "[fe80::1%eth0]:23", "bücher.example:23", "a..b:1", ":0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := NormalizeHostPort(s)
		if err != nil {
			return
		}
		again, err := NormalizeHostPort(n)
		if err != nil || again != n {
			t.Fatalf("NormalizeHostPort(%q) = %q, but NormalizeHostPort(%q) = %q, %v", s, n, n, again, err)
		}
		if strings.ToLower(n) != n || strings.HasSuffix(n, ".") || len(n) > maxHostPortLen {
			t.Fatalf("NormalizeHostPort(%q) = %q is not canonical", s, n)
		}
	})
}

func FuzzParseJWK(f *testing.F) {
	pk, err := NewProofKey()
	if err != nil {
		f.Fatal(err)
	}
	js, _ := json.Marshal(pk.JWK())
	f.Add(js)
	f.Add([]byte(`{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`))
	f.Add([]byte(`{"kty":"EC","crv":"P-256","x":"","y":"","d":""}`))
	f.Add([]byte(`{"kty":"EC","kty":"OKP"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParseJWK(b)
		if err != nil {
			return
		}
		if _, err := k.PublicKey(); err != nil {
			t.Fatalf("ParseJWK accepted a key PublicKey refuses: %v", err)
		}
		out, err := json.Marshal(k)
		if err != nil {
			t.Fatal(err)
		}
		k2, err := ParseJWK(out)
		if err != nil || k2.Thumbprint() != k.Thumbprint() {
			t.Fatalf("re-encoded JWK %s does not parse to the same key: %v", out, err)
		}
	})
}

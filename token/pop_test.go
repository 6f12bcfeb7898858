package token

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestThumbprintRFC8037(t *testing.T) {
	// RFC 8037 Appendix A.3.
	k, err := ParseJWK([]byte(`{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := k.Thumbprint(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"; got != want {
		t.Errorf("thumbprint = %s, want %s", got, want)
	}
}

func TestThumbprintEC(t *testing.T) {
	pk, err := NewProofKey()
	if err != nil {
		t.Fatal(err)
	}
	j := pk.JWK()
	// RFC 7638 §3.2: required members, lexicographic order, no whitespace;
	// json.Marshal of a map sorts the keys.
	canon, _ := json.Marshal(map[string]string{"kty": "EC", "crv": "P-256", "x": j.X, "y": j.Y})
	sum := sha256.Sum256(canon)
	if got, want := j.Thumbprint(), b64.EncodeToString(sum[:]); got != want {
		t.Errorf("thumbprint = %s, want %s", got, want)
	}
	// Optional members do not change it.
	withExtras := `{"kty":"EC","crv":"P-256","x":"` + j.X + `","y":"` + j.Y + `","alg":"ES256","use":"sig","kid":"k1","key_ops":["verify"],"ext":true}`
	k2, err := ParseJWK([]byte(withExtras))
	if err != nil {
		t.Fatal(err)
	}
	if k2.Thumbprint() != j.Thumbprint() {
		t.Error("optional members changed the thumbprint")
	}
}

func TestParseJWKRefuses(t *testing.T) {
	pk, err := NewProofKey()
	if err != nil {
		t.Fatal(err)
	}
	j := pk.JWK()
	ec := func(extra string) string {
		return `{"kty":"EC","crv":"P-256","x":"` + j.X + `","y":"` + j.Y + `"` + extra + `}`
	}
	// A point off the curve: y+1.
	yb, _ := b64.DecodeString(j.Y)
	yb[31] ^= 1
	offCurve := `{"kty":"EC","crv":"P-256","x":"` + j.X + `","y":"` + b64.EncodeToString(yb) + `"}`
	tests := map[string]string{
		"private d":           ec(`,"d":"AAAA"`),
		"symmetric k":         `{"kty":"oct","k":"AAAA"}`,
		"unknown member":      ec(`,"foo":1`),
		"duplicate x":         ec(`,"x":"` + j.X + `"`),
		"member case":         `{"KTY":"EC","crv":"P-256","x":"` + j.X + `","y":"` + j.Y + `"}`,
		"RSA":                 `{"kty":"RSA","n":"AQAB","e":"AQAB"}`,
		"P-384":               `{"kty":"EC","crv":"P-384","x":"` + j.X + `","y":"` + j.Y + `"}`,
		"X25519":              `{"kty":"OKP","crv":"X25519","x":"` + j.X + `"}`,
		"off the curve":       offCurve,
		"missing y":           `{"kty":"EC","crv":"P-256","x":"` + j.X + `"}`,
		"OKP with y":          `{"kty":"OKP","crv":"Ed25519","x":"` + j.X + `","y":"` + j.Y + `"}`,
		"padded x":            `{"kty":"OKP","crv":"Ed25519","x":"` + j.X + `="}`,
		"short x":             `{"kty":"OKP","crv":"Ed25519","x":"AAAA"}`,
		"x not a string":      `{"kty":"OKP","crv":"Ed25519","x":5}`,
		"not an object":       `["EC"]`,
		"trailing data":       ec(``) + `x`,
		"too large":           ec(`,"kid":"` + strings.Repeat("a", maxJWKSize) + `"`),
		"invalid UTF-8":       ec(`,"kid":"` + "\xff" + `"`),
		"empty":               ``,
		"nested duplicate op": ec(`,"key_ops":[{"a":1,"a":1}]`),
	}
	for name, in := range tests {
		if k, err := ParseJWK([]byte(in)); err == nil {
			t.Errorf("%s: ParseJWK accepted %+v", name, k)
		}
	}
}

func TestJWKRoundTrip(t *testing.T) {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	j, err := JWKFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(j)
	k, err := ParseJWK(b)
	if err != nil {
		t.Fatal(err)
	}
	got, err := k.PublicKey()
	if err != nil || !pub.Equal(got) {
		t.Fatalf("round trip: %v, %v", got, err)
	}
	if _, err := JWKFromPublicKey("not a key"); err == nil {
		t.Error("JWKFromPublicKey accepted a string")
	}
}

func TestProofOverRealTLS(t *testing.T) {
	f := getFixture(t)
	for _, tc := range []struct {
		name string
		max  uint16
		want uint16
	}{{"TLS 1.3", 0, tls.VersionTLS13}, {"TLS 1.2 with extended master secret", tls.VersionTLS12, tls.VersionTLS12}} {
		t.Run(tc.name, func(t *testing.T) {
			pairs := tlsPairs(t, f, 2, tc.max)
			a, b := pairs[0], pairs[1]
			if a.version != tc.want {
				t.Fatalf("negotiated %#x, want %#x", a.version, tc.want)
			}
			if string(a.client) != string(a.server) || len(a.client) != ExporterLength {
				t.Fatal("client and server exporters differ")
			}
			if string(a.client) == string(b.client) {
				t.Fatal("two connections share an exporter value")
			}
			pk, err := NewProofKey()
			if err != nil {
				t.Fatal(err)
			}
			proof, key, err := pk.Prove(a.client)
			if err != nil {
				t.Fatal(err)
			}
			thumb, err := VerifyProof(proof, key, a.server)
			if err != nil || thumb != pk.JWK().Thumbprint() {
				t.Fatalf("VerifyProof on its connection = %q, %v", thumb, err)
			}
			if _, err := VerifyProof(proof, key, b.server); !errors.Is(err, ErrProofInvalid) || CodeOf(err) != CodeProofInvalid {
				t.Fatalf("VerifyProof on another connection = %v, want proof_invalid", err)
			}
		})
	}
}

func TestProofEd25519Key(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	j, _ := JWKFromPublicKey(pub)
	js, _ := json.Marshal(j)
	ekm := make([]byte, ExporterLength)
	rand.Read(ekm)
	sig := ed25519.Sign(priv, append([]byte(popContext), ekm...))
	thumb, err := VerifyProof(b64.EncodeToString(sig), b64.EncodeToString(js), ekm)
	if err != nil || thumb != j.Thumbprint() {
		t.Fatalf("VerifyProof = %q, %v", thumb, err)
	}
	// Without the domain-separation prefix, the same key's signature is refused.
	bare := ed25519.Sign(priv, ekm)
	if _, err := VerifyProof(b64.EncodeToString(bare), b64.EncodeToString(js), ekm); !errors.Is(err, ErrProofInvalid) {
		t.Fatalf("signature without the prefix: %v", err)
	}
}

func TestProveRefusesBadExporter(t *testing.T) {
	pk, err := NewProofKey()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := pk.Prove(nil); err == nil {
		t.Error("Prove(nil) succeeded")
	}
	if _, _, err := pk.Prove(make([]byte, 31)); err == nil {
		t.Error("Prove(31 bytes) succeeded")
	}
}

func TestExporterRefuses(t *testing.T) {
	cases := map[string]tls.ConnectionState{
		"handshake incomplete":         {Version: tls.VersionTLS13},
		"TLS 1.1":                      {Version: tls.VersionTLS11, HandshakeComplete: true},
		"state not made by crypto/tls": {Version: tls.VersionTLS13, HandshakeComplete: true},
	}
	for name, cs := range cases {
		if _, err := Exporter(cs); !errors.Is(err, ErrProofInvalid) {
			t.Errorf("%s: Exporter = %v, want ErrProofInvalid", name, err)
		}
	}
}

func TestExporterRefusesUnsafeEKMOverride(t *testing.T) {
	f := getFixture(t)
	// With the GODEBUG override crypto/tls would export without extended
	// master secret, and it does not tell whether EMS was negotiated: a
	// TLS 1.2 exporter must then be refused. TLS 1.3 is unaffected.
	t.Setenv("GODEBUG", "tlsunsafeekm=1")
	if !unsafeEKM() {
		t.Fatal("unsafeEKM() = false with GODEBUG=tlsunsafeekm=1")
	}
	srv := &tls.Config{Certificates: []tls.Certificate{f.proxy.TLSCertificate()}, MaxVersion: tls.VersionTLS12}
	cs := handshakeState(t, f, srv)
	if _, err := Exporter(cs); !errors.Is(err, ErrProofInvalid) || !strings.Contains(err.Error(), "tlsunsafeekm") {
		t.Fatalf("Exporter with tlsunsafeekm=1 on TLS 1.2 = %v", err)
	}
	srv.MaxVersion = 0
	if _, err := Exporter(handshakeState(t, f, srv)); err != nil {
		t.Fatalf("TLS 1.3 with tlsunsafeekm=1: %v", err)
	}
}

package token

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/termgate/termgate/pki"
)

// maxVerifyAllocs pins the allocations of a successful Verify of a bearer
// token, with a little slack over what was measured (ES256 57, EdDSA 33;
// both were above 100 before the scan, the claims decoding and the checks
// after them stopped copying). About 25 of them are golang-jwt's own
// (splitting, base64, the header map, the validator); ES256 has about 24
// more inside its signature check. A change that pushes Verify past these
// should be measured with `go test -bench Verify ./token` before a limit is
// raised.
var maxVerifyAllocs = map[string]float64{AlgES256: 61, AlgEdDSA: 37}

func TestVerifyAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation count in -short mode")
	}
	f := getFixture(t)
	for _, c := range []*pki.Cert{f.es, f.ed} {
		iss := f.issuer(t, c)
		tok, _, err := iss.Issue(Request{Subject: "alice", Dst: "db2.example.com:23", Proto: ProtoTelnet})
		if err != nil {
			t.Fatal(err)
		}
		v := NewVerifier(VerifierConfig{Trust: f.trust, Now: func() time.Time { return f.t0 }})
		p := Presentation{Token: tok, Dst: "db2.example.com:23"}
		ctx := context.Background()
		if _, err := v.Verify(ctx, p); err != nil { // fills the signer cache
			t.Fatal(err)
		}
		n := testing.AllocsPerRun(200, func() {
			if _, err := v.Verify(ctx, p); err != nil {
				t.Fatal(err)
			}
		})
		t.Logf("%s: %.0f allocations per Verify", iss.Alg(), n)
		if max := maxVerifyAllocs[iss.Alg()]; n > max {
			t.Errorf("%s: Verify makes %.0f allocations, want at most %.0f", iss.Alg(), n, max)
		}
	}
}

func TestNormalizeHostPortCanonicalDoesNotAllocate(t *testing.T) {
	for _, s := range []string{"db2.example.com:23", "127.0.0.1:23", "[2001:db8::1]:22", "[::1]:23"} {
		n := testing.AllocsPerRun(100, func() {
			if got, err := NormalizeHostPort(s); err != nil || got != s {
				t.Fatalf("NormalizeHostPort(%q) = %q, %v", s, got, err)
			}
		})
		if n != 0 {
			t.Errorf("NormalizeHostPort(%q) allocates %.0f times, want 0", s, n)
		}
	}
}

// wellFormedKID and checkJTI must accept exactly what strict base64url
// decoding to 32 and 16 bytes accepts.
func TestKIDAndJTIMatchStrictDecoding(t *testing.T) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	var kids, jtis []string
	for _, c := range alphabet + "=+/.%" {
		kids = append(kids, strings.Repeat("A", 42)+string(c), string(c)+strings.Repeat("A", 42))
		jtis = append(jtis, strings.Repeat("A", 21)+string(c), string(c)+strings.Repeat("A", 21))
	}
	kids = append(kids, "", strings.Repeat("A", 42), strings.Repeat("A", 44), strings.Repeat("A", 43)+"=")
	jtis = append(jtis, "", strings.Repeat("A", 21), strings.Repeat("A", 23), strings.Repeat("A", 22)+"==")
	for _, kid := range kids {
		raw, err := b64Strict.DecodeString(kid)
		if want := err == nil && len(raw) == 32; wellFormedKID(kid) != want {
			t.Errorf("wellFormedKID(%q) = %v, want %v", kid, !want, want)
		}
	}
	for _, jti := range jtis {
		raw, err := b64Strict.DecodeString(jti)
		if want := err == nil && len(raw) == 16; (checkJTI(jti) == nil) != want {
			t.Errorf("checkJTI(%q) = %v, want accepted = %v", jti, checkJTI(jti), want)
		}
	}
}

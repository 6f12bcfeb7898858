package token

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/termgate/termgate/pki"
)

func reportOps(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

func benchIssue(b *testing.B, c *pki.Cert) {
	f := getFixture(b)
	iss := f.issuer(b, c)
	req := Request{Subject: "alice", Dst: "db2.example.com:23", Proto: ProtoTelnet}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := iss.Issue(req); err != nil {
			b.Fatal(err)
		}
	}
	reportOps(b)
}

func BenchmarkIssueES256(b *testing.B) { benchIssue(b, getFixture(b).es) }
func BenchmarkIssueEdDSA(b *testing.B) { benchIssue(b, getFixture(b).ed) }

func benchVerify(b *testing.B, c *pki.Cert) {
	f := getFixture(b)
	tok, _, err := f.issuer(b, c).Issue(Request{Subject: "alice", Dst: "db2.example.com:23", Proto: ProtoTelnet})
	if err != nil {
		b.Fatal(err)
	}
	v := NewVerifier(VerifierConfig{Trust: f.trust, Now: func() time.Time { return f.t0 }})
	p := Presentation{Token: tok, Dst: "db2.example.com:23"}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := v.Verify(ctx, p); err != nil {
			b.Fatal(err)
		}
	}
	reportOps(b)
}

func BenchmarkVerifyES256(b *testing.B) { benchVerify(b, getFixture(b).es) }
func BenchmarkVerifyEdDSA(b *testing.B) { benchVerify(b, getFixture(b).ed) }

// BenchmarkVerifyES256Replay verifies a fresh token per iteration through a
// ReplayCache, as a proxy node does.
func BenchmarkVerifyES256Replay(b *testing.B) {
	f := getFixture(b)
	iss := f.issuer(b, f.es)
	toks := make([]string, b.N)
	for i := range toks {
		tok, _, err := iss.Issue(Request{Subject: "alice", Dst: "db2.example.com:23", Proto: ProtoTelnet})
		if err != nil {
			b.Fatal(err)
		}
		toks[i] = tok
	}
	v := NewVerifier(VerifierConfig{Trust: f.trust, Replay: NewReplayCache(0), Now: func() time.Time { return f.t0 }})
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := v.Verify(ctx, Presentation{Token: toks[i], Dst: "db2.example.com:23"}); err != nil {
			b.Fatal(err)
		}
	}
	reportOps(b)
}

func BenchmarkNormalizeHostPort(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NormalizeHostPort("DB2.Example.com.:23"); err != nil {
			b.Fatal(err)
		}
	}
}

// The baselines are the bare signature checks, measured in the same run, so
// that Verify's overhead can be read as a ratio on any machine.
func BenchmarkBaselineECDSAVerify(b *testing.B) {
	k := getFixture(b).es.Key.(*ecdsa.PrivateKey)
	d := sha256.Sum256([]byte("termgate"))
	sig, err := ecdsa.SignASN1(rand.Reader, k, d[:])
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if !ecdsa.VerifyASN1(&k.PublicKey, d[:], sig) {
			b.Fatal("verify failed")
		}
	}
	reportOps(b)
}

func BenchmarkBaselineEd25519Verify(b *testing.B) {
	k := getFixture(b).ed.Key.(ed25519.PrivateKey)
	msg := []byte("termgate")
	sig := ed25519.Sign(k, msg)
	pub := k.Public().(ed25519.PublicKey)
	for b.Loop() {
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("verify failed")
		}
	}
	reportOps(b)
}

// BenchmarkCheckJSON scans the payload of a typical token: the duplicate
// and spelling checks every Parse makes before decoding.
func BenchmarkCheckJSON(b *testing.B) {
	f := getFixture(b)
	_, p, _ := splitTok(b, func() string {
		tok, _, err := f.issuer(b, f.ed).Issue(Request{Subject: "alice", Dst: "db2.example.com:23", Proto: ProtoTelnet})
		if err != nil {
			b.Fatal(err)
		}
		return tok
	}())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := checkJSON(p, knownClaims); err != nil {
			b.Fatal(err)
		}
	}
}

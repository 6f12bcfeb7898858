package pki

import (
	"fmt"
	"testing"
)

func BenchmarkKID(b *testing.B) {
	c := testCA().Cert.Cert
	b.ReportAllocs()
	for b.Loop() {
		_ = KID(c)
	}
}

func benchStore(b *testing.B, n int) (*TrustStore, []string) {
	b.Helper()
	s := NewTrustStore()
	kids := make([]string, n)
	for i := range n {
		c := mustIssue(b, testCA(), CertSpec{CommonName: fmt.Sprintf("node-%d", i)})
		s.Add("", c.Cert)
		kids[i] = KID(c.Cert)
	}
	return s, kids
}

// BenchmarkTrustStoreByKID is the lookup a proxy does for every token.
func BenchmarkTrustStoreByKID(b *testing.B) {
	for _, n := range []int{4, 64} {
		b.Run(fmt.Sprintf("certs=%d", n), func(b *testing.B) {
			s, kids := benchStore(b, n)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, ok := s.ByKID(kids[i%n]); !ok {
					b.Fatal("not found")
				}
				i++
			}
		})
	}
	b.Run("certs=64/parallel", func(b *testing.B) {
		s, kids := benchStore(b, 64)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, ok := s.ByKID(kids[i%len(kids)]); !ok {
					b.Error("not found")
					return
				}
				i++
			}
		})
	})
	b.Run("miss", func(b *testing.B) {
		s, _ := benchStore(b, 64)
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := s.ByKID("unknown-kid"); ok {
				b.Fatal("found")
			}
		}
	})
}

// TestByKIDAllocs keeps the per-token lookup allocation-free.
func TestByKIDAllocs(t *testing.T) {
	s := NewTrustStore(testCA().Cert.Cert)
	kid := KID(testCA().Cert.Cert)
	if n := testing.AllocsPerRun(100, func() { s.ByKID(kid) }); n != 0 {
		t.Errorf("ByKID allocates %v times per call", n)
	}
}

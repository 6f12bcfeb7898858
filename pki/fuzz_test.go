package pki

import (
	"bytes"
	"crypto"
	"testing"
)

// The seed corpora live in testdata/fuzz/FuzzXxx (real bundles, keys of each
// type, PKCS#12 files); go test runs them as regression cases, and
// go test -fuzz=FuzzXxx explores from them.

func FuzzParseTrustStore(f *testing.F) {
	f.Add([]byte(""))
	f.Add([]byte("# name\n-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	f.Add(NewTrustStore(testCA().Cert.Cert).Encode())
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseTrustStore(data)
		if err != nil {
			if s != nil {
				t.Fatal("error with a non-nil store")
			}
			return
		}
		enc := s.Encode()
		s2, err := ParseTrustStore(enc)
		if err != nil {
			t.Fatalf("Encode output does not parse: %v\n%q", err, enc)
		}
		if !equalEntries(s.Entries(), s2.Entries()) {
			t.Fatalf("round trip changed the store:\n%q\n%q", names(s.Entries()), names(s2.Entries()))
		}
		if !bytes.Equal(s2.Encode(), enc) {
			t.Fatal("Encode is not stable")
		}
		for _, e := range s.Entries() {
			if e.Name == "" {
				t.Fatal("entry without a name")
			}
			if c, ok := s.ByKID(KID(e.Cert)); !ok || !c.Equal(e.Cert) {
				t.Fatal("ByKID index out of step with the entries")
			}
		}
	})
}

func FuzzParseKeyPEM(f *testing.F) {
	f.Add([]byte(""))
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParseKeyPEM(data)
		if err != nil {
			return
		}
		if k == nil {
			t.Fatal("nil key without an error")
		}
		p, err := MarshalKeyPEM(k)
		if err != nil {
			t.Fatalf("parsed key %T does not marshal: %v", k, err)
		}
		k2, err := ParseKeyPEM(p)
		if err != nil {
			t.Fatalf("marshalled key does not parse: %v", err)
		}
		pub, ok := k.Public().(interface{ Equal(crypto.PublicKey) bool })
		if !ok || !pub.Equal(k2.Public()) {
			t.Fatal("key changed through PEM")
		}
	})
}

func FuzzParseCertsAny(f *testing.F) {
	f.Add([]byte(""))
	f.Add(testCA().Cert.Cert.Raw)
	f.Add(EncodeCertPEM(testCA().Cert.Cert))
	f.Fuzz(func(t *testing.T, data []byte) {
		certs, err := ParseCertsAny(data)
		if err != nil {
			return
		}
		if len(certs) == 0 {
			t.Fatal("no certificates and no error")
		}
		again, err := ParseCertsPEM(EncodeCertPEM(certs...))
		if err != nil || len(again) != len(certs) {
			t.Fatalf("re-encoded certificates: %d, %v", len(again), err)
		}
		for i := range certs {
			if !again[i].Equal(certs[i]) {
				t.Fatalf("certificate %d changed", i)
			}
		}
	})
}

// FuzzDecodePKCS12 decodes with the password the seed files use ("pw").
func FuzzDecodePKCS12(f *testing.F) {
	f.Add([]byte(""))
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x03})
	f.Fuzz(func(t *testing.T, data []byte) {
		c, chain, err := DecodePKCS12(data, "pw")
		if err == nil {
			if c == nil || c.Cert == nil || c.Key == nil {
				t.Fatal("incomplete result without an error")
			}
			if CheckKeyMatch(c.Cert, c.Key) != nil {
				t.Fatal("decoded key does not match the certificate")
			}
			for _, x := range chain {
				if x == nil {
					t.Fatal("nil chain certificate")
				}
			}
		}
		certs, err := DecodePKCS12Certs(data, "pw")
		if err == nil && len(certs) == 0 {
			t.Fatal("no certificates and no error")
		}
	})
}

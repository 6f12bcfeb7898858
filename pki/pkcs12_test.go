package pki

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"strings"
	"testing"

	"software.sslmate.com/src/go-pkcs12"
)

func TestPKCS12RoundTrip(t *testing.T) {
	ca := testCA()
	for _, kt := range []KeyType{KeyECDSAP256, KeyEd25519, KeyRSA3072} {
		t.Run(string(kt), func(t *testing.T) {
			c := mustIssue(t, ca, CertSpec{CommonName: "node", KeyType: kt})
			data, err := EncodePKCS12(c, []*x509.Certificate{ca.Cert.Cert}, "s3cret")
			if err != nil {
				t.Fatal(err)
			}
			got, chain, err := DecodePKCS12(data, "s3cret")
			if err != nil {
				t.Fatal(err)
			}
			if !got.Cert.Equal(c.Cert) || len(chain) != 1 || !chain[0].Equal(ca.Cert.Cert) {
				t.Errorf("decoded cert/chain differ (chain %d)", len(chain))
			}
			if err := CheckKeyMatch(got.Cert, got.Key); err != nil {
				t.Error(err)
			}
			if _, _, err := DecodePKCS12(data, "wrong"); !errors.Is(err, ErrPKCS12Password) {
				t.Errorf("wrong password: %v, want ErrPKCS12Password", err)
			}
			certs, err := DecodePKCS12Certs(data, "s3cret")
			if err != nil || len(certs) != 2 || !certs[0].Equal(c.Cert) {
				t.Errorf("DecodePKCS12Certs: %d certs, %v", len(certs), err)
			}
		})
	}
}

func TestEncodePKCS12Refuses(t *testing.T) {
	a := mustIssue(t, testCA(), CertSpec{CommonName: "a"})
	b := mustIssue(t, testCA(), CertSpec{CommonName: "b"})
	if _, err := EncodePKCS12(&Cert{Cert: a.Cert, Key: b.Key}, nil, "x"); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("foreign key: %v", err)
	}
	if _, err := EncodePKCS12(&Cert{Cert: a.Cert}, nil, "x"); !errors.Is(err, ErrNoKey) {
		t.Errorf("no key: %v", err)
	}
	if _, err := EncodePKCS12(nil, nil, "x"); err == nil {
		t.Error("nil cert encoded")
	}
}

func TestDecodePKCS12TrustStoreAndGarbage(t *testing.T) {
	ca := testCA()
	ts, err := pkcs12.Modern2023.EncodeTrustStore([]*x509.Certificate{ca.Cert.Cert}, "changeit")
	if err != nil {
		t.Fatal(err)
	}
	certs, err := DecodePKCS12Certs(ts, "changeit")
	if err != nil || len(certs) != 1 || !certs[0].Equal(ca.Cert.Cert) {
		t.Errorf("trust store: %d certs, %v", len(certs), err)
	}
	for _, bad := range [][]byte{nil, []byte("junk"), ca.Cert.Cert.Raw, make([]byte, MaxPKCS12Size+1)} {
		if _, _, err := DecodePKCS12(bad, ""); err == nil {
			t.Errorf("DecodePKCS12(%d bytes) succeeded", len(bad))
		}
		if _, err := DecodePKCS12Certs(bad, ""); err == nil {
			t.Errorf("DecodePKCS12Certs(%d bytes) succeeded", len(bad))
		}
	}
}

// TestDecodePKCS12BoundsIterations checks that a file asking for an absurd
// number of key-derivation iterations is refused before any derivation runs.
func TestDecodePKCS12BoundsIterations(t *testing.T) {
	c := mustIssue(t, testCA(), CertSpec{CommonName: "n"})
	for _, enc := range []*pkcs12.Encoder{pkcs12.Modern2023, pkcs12.LegacyDES, pkcs12.Modern2026} {
		// Encoding with many iterations is itself slow, so encode with a
		// marker count and rewrite it in the DER to a huge value of the same
		// encoded length: 32768 is 02 03 00 80 00, 8388607 is 02 03 7f ff ff.
		const marker = 32768
		data, err := enc.WithIterations(marker).Encode(c.Key, c.Cert, nil, "pw")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := DecodePKCS12(data, "pw"); err != nil {
			t.Fatalf("file with %d iterations refused: %v", marker, err)
		}
		m, _ := asn1.Marshal(marker)
		huge, _ := asn1.Marshal(8388607)
		if len(m) != len(huge) {
			t.Fatalf("encodings differ in length: % x vs % x", m, huge)
		}
		n := strings.Count(string(data), string(m))
		if n == 0 {
			t.Fatal("marker not found in DER")
		}
		evil := []byte(strings.ReplaceAll(string(data), string(m), string(huge)))
		_, _, err = DecodePKCS12(evil, "pw")
		if err == nil || !strings.Contains(err.Error(), "iterations") {
			t.Errorf("file asking for huge iterations (%d places): %v", n, err)
		}
	}
}

func TestParseCertsAny(t *testing.T) {
	ca := testCA()
	leaf := mustIssue(t, ca, CertSpec{CommonName: "x"})
	for _, tc := range []struct {
		name string
		data []byte
		n    int
	}{
		{"PEM bundle", EncodeCertPEM(leaf.Cert, ca.Cert.Cert), 2},
		{"DER", leaf.Cert.Raw, 1},
		{"concatenated DER", append(append([]byte(nil), leaf.Cert.Raw...), ca.Cert.Cert.Raw...), 2},
	} {
		certs, err := ParseCertsAny(tc.data)
		if err != nil || len(certs) != tc.n || !certs[0].Equal(leaf.Cert) {
			t.Errorf("%s: %d certs, %v", tc.name, len(certs), err)
		}
	}
	for _, bad := range [][]byte{nil, []byte("  \n"), []byte("hello"), leaf.Cert.Raw[:100], []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")} {
		if _, err := ParseCertsAny(bad); err == nil {
			t.Errorf("ParseCertsAny(%q) succeeded", bad)
		}
	}
	rnd := make([]byte, 64)
	rand.Read(rnd)
	if _, err := ParseCertsAny(rnd); err == nil {
		t.Error("random bytes parsed")
	}
}

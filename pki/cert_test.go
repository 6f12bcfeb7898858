package pki

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// testCA is one CA shared by the tests that do not care which CA they use.
var testCA = sync.OnceValue(func() *CA {
	ca, err := NewCA(CertSpec{CommonName: "test CA"})
	if err != nil {
		panic(err)
	}
	return ca
})

func mustIssue(t testing.TB, ca *CA, spec CertSpec) *Cert {
	t.Helper()
	c, err := ca.Issue(spec)
	if err != nil {
		t.Fatalf("Issue(%+v): %v", spec, err)
	}
	return c
}

func TestCAIssueAndChainVerify(t *testing.T) {
	ca := testCA()
	if !ca.Cert.Cert.IsCA || ca.Cert.Cert.Subject.CommonName != "test CA" {
		t.Fatalf("CA cert: IsCA=%v CN=%q", ca.Cert.Cert.IsCA, ca.Cert.Cert.Subject.CommonName)
	}
	leaf := mustIssue(t, ca, CertSpec{CommonName: "proxy", DNSNames: []string{"proxy.example.com"}, IPs: []net.IP{net.ParseIP("127.0.0.1")}})
	if leaf.Cert.IsCA {
		t.Fatal("leaf is a CA")
	}
	if got := leaf.Cert.Issuer.CommonName; got != "test CA" {
		t.Errorf("issuer = %q, want test CA", got)
	}
	if err := leaf.Cert.CheckSignatureFrom(ca.Cert.Cert); err != nil {
		t.Errorf("leaf not signed by CA: %v", err)
	}
	store := NewTrustStore(ca.Cert.Cert)
	for _, name := range []string{"proxy.example.com", "127.0.0.1", ""} {
		if err := VerifyPeer(store, []*x509.Certificate{leaf.Cert}, VerifyOptions{Name: name}); err != nil {
			t.Errorf("VerifyPeer(name %q): %v", name, err)
		}
	}
	if leaf.Cert.NotAfter.After(ca.Cert.Cert.NotAfter) {
		t.Errorf("leaf outlives its CA: %v > %v", leaf.Cert.NotAfter, ca.Cert.Cert.NotAfter)
	}
	// A CA may not issue another CA.
	if _, err := ca.Issue(CertSpec{CommonName: "sub", Usage: UsageCA}); err == nil {
		t.Error("Issue(UsageCA) succeeded")
	}
}

func TestServerCertDefaultsNameFromCommonName(t *testing.T) {
	ca := testCA()
	for _, tc := range []struct {
		cn       string
		wantDNS  []string
		wantIPs  int
		wantName string
	}{
		{cn: "mgmt.example.com", wantDNS: []string{"mgmt.example.com"}, wantName: "mgmt.example.com"},
		{cn: "10.1.2.3", wantIPs: 1, wantName: "10.1.2.3"},
	} {
		c := mustIssue(t, ca, CertSpec{CommonName: tc.cn})
		if strings.Join(c.Cert.DNSNames, ",") != strings.Join(tc.wantDNS, ",") || len(c.Cert.IPAddresses) != tc.wantIPs {
			t.Errorf("CN %q: DNS %v IPs %v", tc.cn, c.Cert.DNSNames, c.Cert.IPAddresses)
		}
		if err := c.Cert.VerifyHostname(tc.wantName); err != nil {
			t.Errorf("CN %q: %v", tc.cn, err)
		}
	}
}

func TestSignCSR(t *testing.T) {
	ca := testCA()
	key, err := GenerateKey(KeyEd25519)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := NewCSR(key, "node-7", []string{"node7.example.com"}, []net.IP{net.ParseIP("::1")})
	if err != nil {
		t.Fatal(err)
	}
	c, err := ca.SignCSR(csr, CertSpec{Usage: UsageServer, Validity: 48 * time.Hour})
	if err != nil {
		t.Fatalf("SignCSR: %v", err)
	}
	if c.Subject.CommonName != "node-7" || len(c.DNSNames) != 1 || c.DNSNames[0] != "node7.example.com" || len(c.IPAddresses) != 1 {
		t.Errorf("names from CSR lost: CN %q DNS %v IPs %v", c.Subject.CommonName, c.DNSNames, c.IPAddresses)
	}
	if err := CheckKeyMatch(c, key); err != nil {
		t.Errorf("certificate is not for the CSR's key: %v", err)
	}
	if got := c.NotAfter.Sub(c.NotBefore); got != 48*time.Hour {
		t.Errorf("validity %v, want 48h", got)
	}
	// spec's names replace the request's.
	c2, err := ca.SignCSR(csr, CertSpec{DNSNames: []string{"other.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c2.DNSNames, ",") != "other.example.com" || len(c2.IPAddresses) != 0 {
		t.Errorf("spec names not used: %v %v", c2.DNSNames, c2.IPAddresses)
	}
	// A tampered request fails its signature check; a CSR cannot make a CA.
	bad := append([]byte(nil), csr...)
	bad[len(bad)-5] ^= 0xff
	if _, err := ca.SignCSR(bad, CertSpec{}); err == nil {
		t.Error("tampered CSR accepted")
	}
	if _, err := ca.SignCSR(csr, CertSpec{Usage: UsageCA}); err == nil {
		t.Error("SignCSR issued a CA certificate")
	}
	if _, err := ca.SignCSR([]byte("not a csr"), CertSpec{}); err == nil {
		t.Error("garbage CSR accepted")
	}
}

func TestSelfSigned(t *testing.T) {
	c, err := SelfSigned(CertSpec{CommonName: "standalone.example.com", Usage: UsageServer})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Cert.CheckSignature(c.Cert.SignatureAlgorithm, c.Cert.RawTBSCertificate, c.Cert.Signature); err != nil {
		t.Errorf("self signature does not verify: %v", err)
	}
	if c.Cert.Issuer.String() != c.Cert.Subject.String() {
		t.Errorf("issuer %q != subject %q", c.Cert.Issuer, c.Cert.Subject)
	}
	store := NewTrustStore(c.Cert)
	if err := VerifyPeer(store, []*x509.Certificate{c.Cert}, VerifyOptions{Name: "standalone.example.com"}); err != nil {
		t.Errorf("self-signed certificate in the store not accepted: %v", err)
	}
}

func TestKeyTypesRoundTripThroughPEMFiles(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		kt   KeyType
		want func(any) bool
	}{
		{KeyECDSAP256, func(k any) bool { e, ok := k.(*ecdsa.PrivateKey); return ok && e.Curve.Params().Name == "P-256" }},
		{KeyEd25519, func(k any) bool { _, ok := k.(ed25519.PrivateKey); return ok }},
		{KeyRSA3072, func(k any) bool { r, ok := k.(*rsa.PrivateKey); return ok && r.N.BitLen() == 3072 }},
		{"", func(k any) bool { _, ok := k.(*ecdsa.PrivateKey); return ok }},
	} {
		t.Run(string(tc.kt), func(t *testing.T) {
			c := mustIssue(t, testCA(), CertSpec{CommonName: "node", KeyType: tc.kt})
			if !tc.want(c.Key) {
				t.Fatalf("generated key %T is not %q", c.Key, tc.kt)
			}
			certFile := filepath.Join(dir, "c-"+string(tc.kt)+".pem")
			keyFile := filepath.Join(dir, "k-"+string(tc.kt)+".pem")
			if err := c.Save(certFile, keyFile); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(keyFile)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
			}
			got, err := LoadPair(certFile, keyFile)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Cert.Equal(c.Cert) {
				t.Error("certificate changed through PEM")
			}
			if !tc.want(got.Key) {
				t.Errorf("loaded key %T", got.Key)
			}
			if err := CheckKeyMatch(got.Cert, got.Key); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestParseKeyTypeAliases(t *testing.T) {
	for in, want := range map[string]KeyType{"": KeyECDSAP256, "P256": KeyECDSAP256, "ed25519": KeyEd25519, "EdDSA": KeyEd25519, "rsa": KeyRSA3072, " rsa-3072 ": KeyRSA3072} {
		got, err := ParseKeyType(in)
		if err != nil || got != want {
			t.Errorf("ParseKeyType(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseKeyType("dsa"); err == nil {
		t.Error("ParseKeyType(dsa) succeeded")
	}
}

func TestLoadPairRejectsForeignKey(t *testing.T) {
	dir := t.TempDir()
	a := mustIssue(t, testCA(), CertSpec{CommonName: "a"})
	b := mustIssue(t, testCA(), CertSpec{CommonName: "b"})
	if err := a.Save(filepath.Join(dir, "a.pem"), filepath.Join(dir, "a-key.pem")); err != nil {
		t.Fatal(err)
	}
	if err := SaveKeyFile(filepath.Join(dir, "b-key.pem"), b.Key); err != nil {
		t.Fatal(err)
	}
	_, err := LoadPair(filepath.Join(dir, "a.pem"), filepath.Join(dir, "b-key.pem"))
	if !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("LoadPair with a foreign key: %v, want ErrKeyMismatch", err)
	}
}

func TestParseKeyPEM(t *testing.T) {
	k, err := GenerateKey(KeyECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	p, err := MarshalKeyPEM(k)
	if err != nil {
		t.Fatal(err)
	}
	cert := EncodeCertPEM(testCA().Cert.Cert)
	// A key after a certificate is found.
	got, err := ParseKeyPEM(append(append([]byte(nil), cert...), p...))
	if err != nil || !got.Public().(*ecdsa.PublicKey).Equal(k.Public()) {
		t.Errorf("key after certificate: %v", err)
	}
	if _, err := ParseKeyPEM(cert); !errors.Is(err, ErrNoKey) {
		t.Errorf("no key: %v, want ErrNoKey", err)
	}
	enc := []byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n")
	if _, err := ParseKeyPEM(enc); !errors.Is(err, ErrEncryptedKey) {
		t.Errorf("encrypted key: %v, want ErrEncryptedKey", err)
	}
	broken := []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
	if _, err := ParseKeyPEM(broken); err == nil || errors.Is(err, ErrNoKey) {
		t.Errorf("broken key: %v, want a parse error", err)
	}
}

func TestKIDStableAndDistinct(t *testing.T) {
	c := mustIssue(t, testCA(), CertSpec{CommonName: "signer", Usage: UsageTokenSigning})
	k1 := KID(c.Cert)
	// Through PEM and back the KID is the same: it depends on the DER only.
	certs, err := ParseCertsPEM(EncodeCertPEM(c.Cert))
	if err != nil {
		t.Fatal(err)
	}
	if k2 := KID(certs[0]); k2 != k1 {
		t.Errorf("KID changed through PEM: %q vs %q", k1, k2)
	}
	if !regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`).MatchString(k1) {
		t.Errorf("KID %q is not 43 unpadded base64url characters", k1)
	}
	// Same key, new certificate: a new KID (the KID names the certificate).
	c2 := mustIssue(t, testCA(), CertSpec{CommonName: "signer", Usage: UsageTokenSigning, Key: c.Key})
	if KID(c2.Cert) == k1 {
		t.Error("two certificates share a KID")
	}
}

func TestFingerprintFormat(t *testing.T) {
	c := testCA().Cert.Cert
	fp := Fingerprint(c)
	if !regexp.MustCompile(`^([0-9A-F]{2}:){31}[0-9A-F]{2}$`).MatchString(fp) {
		t.Errorf("Fingerprint %q is not 32 upper-case hex pairs joined by colons", fp)
	}
	hex := FingerprintHex(c)
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(hex) {
		t.Errorf("FingerprintHex %q", hex)
	}
	if strings.ToLower(strings.ReplaceAll(fp, ":", "")) != hex {
		t.Errorf("Fingerprint %q and FingerprintHex %q disagree", fp, hex)
	}
}

func TestTokenSignerUsage(t *testing.T) {
	ca := testCA()
	server := mustIssue(t, ca, CertSpec{CommonName: "proxy.example.com", Usage: UsageServer})
	signer := mustIssue(t, ca, CertSpec{CommonName: "mgmt-1", Usage: UsageTokenSigning})
	client := mustIssue(t, ca, CertSpec{CommonName: "user", Usage: UsageClient})
	if IsTokenSigner(server.Cert) {
		t.Error("a server certificate satisfies IsTokenSigner")
	}
	if IsTokenSigner(client.Cert) || IsTokenSigner(ca.Cert.Cert) {
		t.Error("a client or CA certificate satisfies IsTokenSigner")
	}
	if !IsTokenSigner(signer.Cert) {
		t.Error("a token-signing certificate does not satisfy IsTokenSigner")
	}
	// The token-signing certificate is refused for TLS server use.
	store := NewTrustStore(ca.Cert.Cert)
	err := VerifyPeer(store, []*x509.Certificate{signer.Cert}, VerifyOptions{})
	var ue *UntrustedError
	if !errors.As(err, &ue) {
		t.Fatalf("token signer as TLS server: %v, want *UntrustedError", err)
	}
	var ie x509.CertificateInvalidError
	if !errors.As(err, &ie) || ie.Reason != x509.IncompatibleUsage {
		t.Errorf("reason: %v, want incompatible usage", err)
	}
	// The server certificate is accepted for TLS server use, the client one is not.
	if err := VerifyPeer(store, []*x509.Certificate{server.Cert}, VerifyOptions{}); err != nil {
		t.Errorf("server cert: %v", err)
	}
	if err := VerifyPeer(store, []*x509.Certificate{client.Cert}, VerifyOptions{}); err == nil {
		t.Error("client-only certificate accepted as TLS server")
	}
	if err := VerifyPeer(store, []*x509.Certificate{client.Cert}, VerifyOptions{Usage: x509.ExtKeyUsageClientAuth}); err != nil {
		t.Errorf("client cert for client auth: %v", err)
	}
	names := strings.Join(UsageNames(signer.Cert), ",")
	if !strings.Contains(names, "termgate token signing") || strings.Contains(names, "TLS server") {
		t.Errorf("UsageNames(signer) = %s", names)
	}
	if got := strings.Join(UsageNames(ca.Cert.Cert), ","); !strings.HasPrefix(got, "CA,") || !strings.Contains(got, "certificate signing") {
		t.Errorf("UsageNames(CA) = %s", got)
	}
}

func TestInitCADir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	ca, err := InitCADir(dir, CertSpec{CommonName: "site CA", KeyType: KeyEd25519}, false)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := CADirPaths(dir)
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v %v", fi, err)
	}
	before, _ := os.ReadFile(certFile)
	if _, err := InitCADir(dir, CertSpec{}, false); !errors.Is(err, ErrCAExists) {
		t.Errorf("second InitCADir: %v, want ErrCAExists", err)
	}
	after, _ := os.ReadFile(certFile)
	if string(before) != string(after) {
		t.Error("refused InitCADir changed the CA")
	}
	loaded, err := LoadCADir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !loaded.Cert.Cert.Equal(ca.Cert.Cert) {
		t.Error("LoadCADir returned another CA")
	}
	ca2, err := InitCADir(dir, CertSpec{}, true)
	if err != nil {
		t.Fatalf("forced InitCADir: %v", err)
	}
	if ca2.Cert.Cert.Equal(ca.Cert.Cert) {
		t.Error("forced InitCADir kept the old CA")
	}
	// A leaf certificate is not loaded as a CA.
	leaf := mustIssue(t, ca2, CertSpec{CommonName: "x"})
	if err := leaf.Save(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCADir(dir); err == nil {
		t.Error("LoadCADir accepted a leaf certificate")
	}
}

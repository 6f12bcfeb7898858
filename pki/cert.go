package pki

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// OIDTokenSigning is termgate's token-signing extended key usage. Only a
// certificate carrying it may sign authorization tokens. It lives under the
// 2.25 (UUID) arc. A full 128-bit UUID component is not used because Go's
// x509 parser, like several others, rejects certificates whose EKU OIDs have
// components wider than 31 bits; the value here is a fixed random 62-bit
// identifier split into two 31-bit components.
var OIDTokenSigning = asn1.ObjectIdentifier{2, 25, 1146959097, 1492273523}

// Usage says what a certificate is for.
type Usage int

// Certificate usages.
const (
	UsageServer       Usage = iota // TLS server (and client, for node-to-node links)
	UsageClient                    // TLS client only
	UsageTokenSigning              // management node signing certificate: digital signature + OIDTokenSigning
	UsageCA                        // certificate authority
)

// CertSpec describes a certificate to create. The zero value of every field
// has a safe meaning.
type CertSpec struct {
	CommonName string
	// DNSNames and IPs become subject alternative names. For UsageServer, if
	// both are empty the CommonName is used as the one DNS name.
	DNSNames []string
	IPs      []net.IP
	// Validity is the lifetime; zero means 825 days for leaves and 10 years for a CA.
	Validity time.Duration
	// NotBefore is the start; zero means one hour ago (tolerating clock skew).
	NotBefore time.Time
	Usage     Usage
	// KeyType is the key to generate; empty means ECDSA P-256.
	KeyType KeyType
	// Key, if set, is used instead of generating one.
	Key crypto.Signer
}

// Cert is a certificate with its private key (if known).
type Cert struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// CA is a small local certificate authority.
type CA struct {
	Cert
}

func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

func template(spec CertSpec) (*x509.Certificate, error) {
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	nb := spec.NotBefore
	if nb.IsZero() {
		nb = time.Now().Add(-time.Hour)
	}
	v := spec.Validity
	if v == 0 {
		v = 825 * 24 * time.Hour
		if spec.Usage == UsageCA {
			v = 10 * 365 * 24 * time.Hour
		}
	}
	t := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: spec.CommonName, Organization: []string{"termgate"}},
		NotBefore:             nb,
		NotAfter:              nb.Add(v),
		DNSNames:              spec.DNSNames,
		IPAddresses:           spec.IPs,
		BasicConstraintsValid: true,
	}
	switch spec.Usage {
	case UsageServer:
		t.KeyUsage = x509.KeyUsageDigitalSignature
		t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		if len(t.DNSNames) == 0 && len(t.IPAddresses) == 0 && spec.CommonName != "" {
			if ip := net.ParseIP(spec.CommonName); ip != nil {
				t.IPAddresses = []net.IP{ip}
			} else {
				t.DNSNames = []string{spec.CommonName}
			}
		}
	case UsageClient:
		t.KeyUsage = x509.KeyUsageDigitalSignature
		t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	case UsageTokenSigning:
		t.KeyUsage = x509.KeyUsageDigitalSignature
		t.UnknownExtKeyUsage = []asn1.ObjectIdentifier{OIDTokenSigning}
	case UsageCA:
		t.IsCA = true
		t.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
		t.MaxPathLen = 0
		t.MaxPathLenZero = true
	default:
		return nil, fmt.Errorf("unknown certificate usage %d", spec.Usage)
	}
	return t, nil
}

func keyFor(spec CertSpec) (crypto.Signer, error) {
	if spec.Key != nil {
		return spec.Key, nil
	}
	return GenerateKey(spec.KeyType)
}

// NewCA creates a self-signed certificate authority.
func NewCA(spec CertSpec) (*CA, error) {
	spec.Usage = UsageCA
	if spec.CommonName == "" {
		spec.CommonName = "termgate local CA"
	}
	c, err := SelfSigned(spec)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: *c}, nil
}

// SelfSigned creates a self-signed certificate.
func SelfSigned(spec CertSpec) (*Cert, error) {
	key, err := keyFor(spec)
	if err != nil {
		return nil, err
	}
	t, err := template(spec)
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, t, t, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create certificate: %w", err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &Cert{Cert: c, Key: key}, nil
}

// Issue creates a leaf certificate signed by the CA, with a new key unless spec.Key is set.
func (ca *CA) Issue(spec CertSpec) (*Cert, error) {
	if spec.Usage == UsageCA {
		return nil, errors.New("a local CA issues leaf certificates only")
	}
	key, err := keyFor(spec)
	if err != nil {
		return nil, err
	}
	c, err := ca.sign(spec, key.Public())
	if err != nil {
		return nil, err
	}
	return &Cert{Cert: c, Key: key}, nil
}

func (ca *CA) sign(spec CertSpec, pub crypto.PublicKey) (*x509.Certificate, error) {
	if spec.Usage == UsageCA {
		return nil, errors.New("a local CA issues leaf certificates only")
	}
	t, err := template(spec)
	if err != nil {
		return nil, err
	}
	if t.NotAfter.After(ca.Cert.Cert.NotAfter) {
		t.NotAfter = ca.Cert.Cert.NotAfter
	}
	der, err := x509.CreateCertificate(rand.Reader, t, ca.Cert.Cert, pub, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("sign certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

// SignCSR issues a certificate for a PKCS#10 request (DER). The names come
// from the request; the usage and validity from spec (spec's names, if any,
// replace the request's). The request's signature must verify; it cannot ask
// for a CA certificate.
func (ca *CA) SignCSR(csrDER []byte, spec CertSpec) (*x509.Certificate, error) {
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		return nil, fmt.Errorf("parse certificate request: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("certificate request signature: %w", err)
	}
	if spec.CommonName == "" {
		spec.CommonName = csr.Subject.CommonName
	}
	if len(spec.DNSNames) == 0 && len(spec.IPs) == 0 {
		spec.DNSNames, spec.IPs = csr.DNSNames, csr.IPAddresses
	}
	return ca.sign(spec, csr.PublicKey)
}

// NewCSR creates a PKCS#10 certificate request for key.
func NewCSR(key crypto.Signer, commonName string, dnsNames []string, ips []net.IP) ([]byte, error) {
	return x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: commonName}, DNSNames: dnsNames, IPAddresses: ips,
	}, key)
}

// KID is a certificate's key id: the unpadded base64url SHA-256 of its DER.
func KID(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Fingerprint is the SHA-256 of a certificate's DER as upper-case hex pairs
// separated by colons, as browsers and openssl show it.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	const hexd = "0123456789ABCDEF"
	out := make([]byte, 0, len(sum)*3-1)
	for i, b := range sum {
		if i > 0 {
			out = append(out, ':')
		}
		out = append(out, hexd[b>>4], hexd[b&15])
	}
	return string(out)
}

// FingerprintHex is the SHA-256 of a certificate's DER as lower-case hex.
func FingerprintHex(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// IsTokenSigner reports whether c carries the token-signing extended key usage.
func IsTokenSigner(c *x509.Certificate) bool {
	for _, o := range c.UnknownExtKeyUsage {
		if o.Equal(OIDTokenSigning) {
			return true
		}
	}
	return false
}

// EncodeCertPEM encodes certificates as a PEM bundle.
func EncodeCertPEM(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// ParseCertsPEM decodes every CERTIFICATE block in data. Other block types are skipped.
func ParseCertsPEM(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, ErrNoCertificate
	}
	return certs, nil
}

// LoadCertFile reads the certificates of a PEM file (a DER file is accepted too).
func LoadCertFile(path string) ([]*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read certificate: %w", err)
	}
	certs, err := ParseCertsAny(b)
	if err != nil {
		return nil, fmt.Errorf("certificate file %s: %w", path, err)
	}
	return certs, nil
}

// LoadPair reads a certificate (chain) file and its key file. It fails with
// ErrKeyMismatch if the key does not belong to the first certificate.
func LoadPair(certFile, keyFile string) (*Cert, error) {
	certs, err := LoadCertFile(certFile)
	if err != nil {
		return nil, err
	}
	key, err := LoadKeyFile(keyFile)
	if err != nil {
		return nil, err
	}
	if err := CheckKeyMatch(certs[0], key); err != nil {
		return nil, fmt.Errorf("%s and %s: %w", certFile, keyFile, err)
	}
	return &Cert{Cert: certs[0], Key: key}, nil
}

// Save writes the certificate (PEM, 0644) and key (PEM, 0600) atomically.
func (c *Cert) Save(certFile, keyFile string) error {
	if err := WriteFileAtomic(certFile, EncodeCertPEM(c.Cert), 0o644); err != nil {
		return err
	}
	if c.Key == nil {
		return nil
	}
	return SaveKeyFile(keyFile, c.Key)
}

// LoadCA reads a CA certificate and key.
func LoadCA(certFile, keyFile string) (*CA, error) {
	c, err := LoadPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	if !c.Cert.IsCA {
		return nil, fmt.Errorf("%s is not a CA certificate", certFile)
	}
	return &CA{Cert: *c}, nil
}

// WriteFileAtomic writes data to a temporary file in the same directory,
// fsyncs it, and renames it over path, so readers see the old or the new
// content, never a torn file.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

package pki

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// File names of a local CA directory (see InitCADir).
const (
	CACertFile = "ca.pem"     // the CA certificate, PEM, mode 0644
	CAKeyFile  = "ca-key.pem" // the CA private key, PEM, mode 0600
)

// CADirPaths returns the certificate and key paths of the CA kept in dir.
func CADirPaths(dir string) (certFile, keyFile string) {
	return filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)
}

// InitCADir creates a new local CA from spec (see NewCA) and writes it to
// dir (created with mode 0700 if missing): the key first, then the
// certificate, each atomically. If either file already exists it returns an
// error wrapping ErrCAExists and changes nothing, unless force is true.
func InitCADir(dir string, spec CertSpec, force bool) (*CA, error) {
	certFile, keyFile := CADirPaths(dir)
	if !force {
		for _, p := range []string{certFile, keyFile} {
			if _, err := os.Lstat(p); err == nil {
				return nil, fmt.Errorf("%s: %w", p, ErrCAExists)
			} else if !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("check %s: %w", p, err)
			}
		}
	}
	ca, err := NewCA(spec)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create CA directory: %w", err)
	}
	if err := SaveKeyFile(keyFile, ca.Key); err != nil {
		return nil, err
	}
	if err := WriteFileAtomic(certFile, EncodeCertPEM(ca.Cert.Cert), 0o644); err != nil {
		return nil, err
	}
	return ca, nil
}

// LoadCADir reads the CA that InitCADir wrote to dir.
func LoadCADir(dir string) (*CA, error) {
	return LoadCA(CADirPaths(dir))
}

// UsageNames lists what a certificate may be used for, in words: the key
// usages ("digital signature", "certificate signing"...), the extended key
// usages ("TLS server", "TLS client", "termgate token signing"...) and "CA".
func UsageNames(c *x509.Certificate) []string {
	var out []string
	if c.IsCA {
		out = append(out, "CA")
	}
	ku := []struct {
		bit  x509.KeyUsage
		name string
	}{
		{x509.KeyUsageDigitalSignature, "digital signature"},
		{x509.KeyUsageContentCommitment, "content commitment"},
		{x509.KeyUsageKeyEncipherment, "key encipherment"},
		{x509.KeyUsageDataEncipherment, "data encipherment"},
		{x509.KeyUsageKeyAgreement, "key agreement"},
		{x509.KeyUsageCertSign, "certificate signing"},
		{x509.KeyUsageCRLSign, "CRL signing"},
		{x509.KeyUsageEncipherOnly, "encipher only"},
		{x509.KeyUsageDecipherOnly, "decipher only"},
	}
	for _, k := range ku {
		if c.KeyUsage&k.bit != 0 {
			out = append(out, k.name)
		}
	}
	for _, e := range c.ExtKeyUsage {
		switch e {
		case x509.ExtKeyUsageServerAuth:
			out = append(out, "TLS server")
		case x509.ExtKeyUsageClientAuth:
			out = append(out, "TLS client")
		case x509.ExtKeyUsageAny:
			out = append(out, "any extended usage")
		case x509.ExtKeyUsageCodeSigning:
			out = append(out, "code signing")
		case x509.ExtKeyUsageEmailProtection:
			out = append(out, "email protection")
		case x509.ExtKeyUsageTimeStamping:
			out = append(out, "time stamping")
		case x509.ExtKeyUsageOCSPSigning:
			out = append(out, "OCSP signing")
		default:
			out = append(out, fmt.Sprintf("extended usage %d", e))
		}
	}
	for _, o := range c.UnknownExtKeyUsage {
		if o.Equal(OIDTokenSigning) {
			out = append(out, "termgate token signing")
		} else {
			out = append(out, "extended usage "+o.String())
		}
	}
	return out
}

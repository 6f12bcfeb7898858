package pki

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"

	"software.sslmate.com/src/go-pkcs12"
)

// MaxPKCS12Size bounds the size of a PKCS#12 file that DecodePKCS12 accepts.
const MaxPKCS12Size = 4 << 20

// MaxPKCS12Iterations bounds the key-derivation iteration counts that
// DecodePKCS12 accepts. A PKCS#12 file names its own iteration counts, so
// without a bound a hostile file could make decoding run for hours. Common
// tools write 2048 (OpenSSL, Java) up to a few hundred thousand.
const MaxPKCS12Iterations = 1 << 20

// maxDERDepth bounds the nesting that the PKCS#12 pre-check walks.
const maxDERDepth = 24

// EncodePKCS12 encodes c's key and certificate, followed by chain (the
// intermediate and root certificates, leaf first order), as a PKCS#12 file
// protected by password. It uses PBES2 with PBKDF2-HMAC-SHA-256 and
// AES-256-CBC and an HMAC-SHA-256 MAC, which OpenSSL 1.1.1 and later, Java 12
// and later and current Windows read. An empty password is allowed but leaves
// the private key protected by nothing but the file's permissions.
func EncodePKCS12(c *Cert, chain []*x509.Certificate, password string) ([]byte, error) {
	if c == nil || c.Cert == nil {
		return nil, errors.New("pkcs12: no certificate to encode")
	}
	if c.Key == nil {
		return nil, ErrNoKey
	}
	if err := CheckKeyMatch(c.Cert, c.Key); err != nil {
		return nil, err
	}
	out, err := pkcs12.Modern2023.Encode(c.Key, c.Cert, chain, password)
	if err != nil {
		return nil, fmt.Errorf("encode pkcs12: %w", err)
	}
	return out, nil
}

// DecodePKCS12 decodes a PKCS#12 file holding one private key, its
// certificate and optionally a chain of further certificates. It returns
// ErrPKCS12Password when the password is wrong.
func DecodePKCS12(data []byte, password string) (*Cert, []*x509.Certificate, error) {
	if err := checkPKCS12(data); err != nil {
		return nil, nil, err
	}
	k, leaf, chain, err := pkcs12.DecodeChain(data, password)
	if err != nil {
		return nil, nil, pkcs12Error(err)
	}
	key, ok := k.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("pkcs12: unsupported private key type %T", k)
	}
	if err := CheckKeyMatch(leaf, key); err != nil {
		return nil, nil, fmt.Errorf("pkcs12: %w", err)
	}
	return &Cert{Cert: leaf, Key: key}, chain, nil
}

// DecodePKCS12Certs returns every certificate of a PKCS#12 file: the leaf
// then its chain for a key-and-certificate file, or the certificates of a
// Java-style PKCS#12 trust store. The private key, if any, is discarded.
func DecodePKCS12Certs(data []byte, password string) ([]*x509.Certificate, error) {
	if err := checkPKCS12(data); err != nil {
		return nil, err
	}
	_, leaf, chain, err := pkcs12.DecodeChain(data, password)
	if err == nil {
		return append([]*x509.Certificate{leaf}, chain...), nil
	}
	if errors.Is(err, pkcs12.ErrIncorrectPassword) {
		return nil, pkcs12Error(err)
	}
	certs, err2 := pkcs12.DecodeTrustStore(data, password)
	if err2 != nil {
		return nil, pkcs12Error(err)
	}
	if len(certs) == 0 {
		return nil, ErrNoCertificate
	}
	return certs, nil
}

func pkcs12Error(err error) error {
	if errors.Is(err, pkcs12.ErrIncorrectPassword) || errors.Is(err, pkcs12.ErrDecryption) {
		return ErrPKCS12Password
	}
	return fmt.Errorf("decode pkcs12: %w", err)
}

// checkPKCS12 bounds the work of decoding data: its size, and every
// key-derivation iteration count visible without the password (PBE and
// PBKDF2 parameters, the MAC's iteration count). In DER these are an INTEGER
// that directly follows the salt (an OCTET STRING, or an AlgorithmIdentifier
// SEQUENCE for PBKDF2's "otherSource") in one SEQUENCE; the walk also looks
// inside OCTET STRINGs that hold DER (the unencrypted safe contents and bags).
// errTooManyIterations marks a key-derivation iteration count over MaxPKCS12Iterations.
var errTooManyIterations = errors.New("too many key-derivation iterations")

func checkPKCS12(data []byte) error {
	if len(data) > MaxPKCS12Size {
		return fmt.Errorf("pkcs12: file is %d bytes, more than the %d allowed", len(data), MaxPKCS12Size)
	}
	var top asn1.RawValue
	rest, err := asn1.Unmarshal(data, &top)
	if err != nil {
		return fmt.Errorf("pkcs12: not DER: %w", err)
	}
	if len(rest) != 0 {
		return errors.New("pkcs12: trailing data after the PFX structure")
	}
	return walkDER(top, 0)
}

func walkDER(v asn1.RawValue, depth int) error {
	if depth > maxDERDepth {
		return errors.New("pkcs12: structure nested too deeply")
	}
	if v.Class == asn1.ClassUniversal && v.Tag == asn1.TagOctetString && !v.IsCompound {
		// An OCTET STRING that is exactly one DER value is walked too; one
		// that is not (ciphertext, key material) is opaque.
		// Ciphertext can look like the start of a DER value by chance, so
		// a walk that then fails means the string was opaque after all;
		// only a finding about iterations is reported from inside it.
		var inner asn1.RawValue
		if rest, err := asn1.Unmarshal(v.Bytes, &inner); err == nil && len(rest) == 0 && inner.IsCompound {
			if err := walkDER(inner, depth+1); errors.Is(err, errTooManyIterations) {
				return err
			}
		}
		return nil
	}
	if !v.IsCompound {
		return nil
	}
	var children []asn1.RawValue
	for rest := v.Bytes; len(rest) > 0; {
		var c asn1.RawValue
		var err error
		rest, err = asn1.Unmarshal(rest, &c)
		if err != nil {
			return fmt.Errorf("pkcs12: malformed DER: %w", err)
		}
		children = append(children, c)
	}
	isSeq := v.Class == asn1.ClassUniversal && v.Tag == asn1.TagSequence
	for i, c := range children {
		if isSeq && i > 0 && c.Class == asn1.ClassUniversal && c.Tag == asn1.TagInteger {
			p := children[i-1]
			if p.Class == asn1.ClassUniversal && (p.Tag == asn1.TagOctetString || p.Tag == asn1.TagSequence) {
				n := new(big.Int).SetBytes(c.Bytes)
				if len(c.Bytes) > 0 && c.Bytes[0]&0x80 == 0 && n.Cmp(big.NewInt(MaxPKCS12Iterations)) > 0 {
					return fmt.Errorf("pkcs12: key derivation asks for %s iterations, more than the %d allowed: %w", n, MaxPKCS12Iterations, errTooManyIterations)
				}
			}
		}
		if err := walkDER(c, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// ParseCertsAny decodes certificates from PEM (every CERTIFICATE block) or
// from DER (one certificate, or several concatenated). It does not read
// PKCS#12; see DecodePKCS12Certs.
func ParseCertsAny(data []byte) ([]*x509.Certificate, error) {
	if bytes.Contains(data, []byte("-----BEGIN ")) {
		return ParseCertsPEM(data)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, ErrNoCertificate
	}
	certs, err := x509.ParseCertificates(data)
	if err != nil {
		return nil, fmt.Errorf("neither PEM nor DER certificates: %w", err)
	}
	if len(certs) == 0 {
		return nil, ErrNoCertificate
	}
	return certs, nil
}

// CheckKeyMatch reports an error unless key is the private key of c's public key.
func CheckKeyMatch(c *x509.Certificate, key crypto.Signer) error {
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(c.PublicKey) {
		return fmt.Errorf("%w (certificate %q)", ErrKeyMismatch, c.Subject.CommonName)
	}
	return nil
}

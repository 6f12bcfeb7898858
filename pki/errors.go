package pki

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sentinel errors.
var (
	ErrNoKey          = errors.New("no private key found in PEM data")
	ErrNoCertificate  = errors.New("no certificate found in PEM data")
	ErrNotFound       = errors.New("certificate not found in trust store")
	ErrNotTokenSigner = errors.New("certificate is not allowed to sign tokens (missing the termgate token-signing extended key usage)")
	ErrKeyMismatch    = errors.New("private key does not belong to the certificate")
	ErrPKCS12Password = errors.New("pkcs12: wrong password (or a damaged file)")
	ErrCAExists       = errors.New("a certificate authority already exists there")
	ErrEncryptedKey   = errors.New("encrypted PEM private keys are not supported: decrypt it first (openssl pkcs8 -in KEY -out PLAIN)")
)

// NameMismatchError reports that a certificate does not carry the name the
// client dialled. Its message names both and says how to fix the deployment.
type NameMismatchError struct {
	Dialled string   // the name or address the client connected to
	Names   []string // the DNS and IP SANs the certificate carries
	Subject string   // the certificate's subject, for the operator
}

func (e *NameMismatchError) Error() string {
	have := "no DNS or IP names at all"
	if len(e.Names) > 0 {
		have = strings.Join(e.Names, ", ")
	}
	return fmt.Sprintf("server certificate %q is not valid for %q: it names %s; "+
		"give every proxy node a certificate whose subject alternative names include %q (the name clients dial, e.g. the load balancer's)",
		e.Subject, e.Dialled, have, e.Dialled)
}

// UntrustedError reports that a certificate does not chain to the trust store.
type UntrustedError struct {
	Subject     string
	Issuer      string
	Fingerprint string // SHA-256 of the leaf, hex
	Err         error
}

func (e *UntrustedError) Error() string {
	return fmt.Sprintf("server certificate %q (issuer %q, sha256 %s) is not trusted by the given trust store: %v; "+
		"make sure the trust store holds this certificate or the CA that issued it", e.Subject, e.Issuer, e.Fingerprint, e.Err)
}
func (e *UntrustedError) Unwrap() error { return e.Err }

// ValidityError reports a certificate used outside its validity period.
type ValidityError struct {
	Subject   string
	NotBefore time.Time
	NotAfter  time.Time
	Now       time.Time
}

func (e *ValidityError) Error() string {
	if e.Now.Before(e.NotBefore) {
		return fmt.Sprintf("certificate %q is not valid before %s (now %s): check the clocks of both machines",
			e.Subject, e.NotBefore.UTC().Format(time.RFC3339), e.Now.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("certificate %q expired at %s (now %s): renew it", e.Subject,
		e.NotAfter.UTC().Format(time.RFC3339), e.Now.UTC().Format(time.RFC3339))
}

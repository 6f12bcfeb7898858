package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// DefaultClockSkew is how far outside a certificate's validity period a peer
// is still accepted, to tolerate clocks that disagree.
const DefaultClockSkew = 5 * time.Minute

// VerifyOptions configures VerifyPeer. The zero value verifies the chain and
// the name at the current time, against the given store only.
type VerifyOptions struct {
	// Name is the name (or IP) the client dialled. Empty skips the name check.
	Name string
	// Now is the verification time; zero means time.Now().
	Now time.Time
	// Skew tolerates clocks that disagree; zero means DefaultClockSkew, negative means none.
	Skew time.Duration
	// Usage is the extended key usage required; zero means server authentication.
	Usage x509.ExtKeyUsage
	// UseSystemRoots also trusts the operating system's roots. Off by default.
	UseSystemRoots bool
}

// VerifyPeer checks that chain[0] chains to a certificate of store (chain[1:]
// are intermediates) and, if opts.Name is set, that it names opts.Name. The
// errors are *UntrustedError, *ValidityError and *NameMismatchError.
func VerifyPeer(store *TrustStore, chain []*x509.Certificate, opts VerifyOptions) error {
	if len(chain) == 0 {
		return errors.New("the server sent no certificate")
	}
	leaf := chain[0]
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	skew := opts.Skew
	if skew == 0 {
		skew = DefaultClockSkew
	} else if skew < 0 {
		skew = 0
	}
	at := now
	for _, c := range chain {
		if at.Before(c.NotBefore) && c.NotBefore.Sub(at) <= skew {
			at = c.NotBefore
		}
		if at.After(c.NotAfter) && at.Sub(c.NotAfter) <= skew {
			at = c.NotAfter
		}
	}
	for _, c := range chain {
		if at.Before(c.NotBefore) || at.After(c.NotAfter) {
			return &ValidityError{Subject: c.Subject.String(), NotBefore: c.NotBefore, NotAfter: c.NotAfter, Now: now}
		}
	}
	roots := x509.NewCertPool()
	if opts.UseSystemRoots {
		sys, err := x509.SystemCertPool()
		if err == nil {
			roots = sys.Clone()
		}
	}
	for _, c := range store.Certificates() {
		roots.AddCert(c)
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	usage := opts.Usage
	if usage == 0 {
		usage = x509.ExtKeyUsageServerAuth
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
		return &UntrustedError{Subject: leaf.Subject.CommonName, Issuer: leaf.Issuer.CommonName, Fingerprint: FingerprintHex(leaf), Err: err}
	}
	if opts.Name != "" {
		if err := leaf.VerifyHostname(strings.TrimSuffix(opts.Name, ".")); err != nil {
			return &NameMismatchError{Dialled: opts.Name, Names: CertNames(leaf), Subject: leaf.Subject.CommonName}
		}
	}
	return nil
}

// CertNames lists a certificate's DNS and IP subject alternative names.
func CertNames(c *x509.Certificate) []string {
	names := append([]string(nil), c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	return names
}

// ClientTLSConfig returns a TLS client configuration that trusts only store
// and, when checkName is true (the default of every termgate client), checks
// that the server's certificate names serverName. With checkName false the
// chain is still verified against store (the "verify server identity"
// setting turned off by an administrator); only the name check is skipped.
//
// Verification is VerifyPeer, run from VerifyConnection on every handshake
// (resumed ones too) against the store's contents at that moment, so a
// reloaded store takes effect on the next connection; it tolerates
// DefaultClockSkew. The standard library's own check is switched off
// (InsecureSkipVerify) because it would verify against a pool fixed when the
// configuration was made and without that tolerance; nothing is accepted
// that VerifyPeer refuses. Handshake errors are the typed errors of
// VerifyPeer (*NameMismatchError, *UntrustedError, *ValidityError).
func ClientTLSConfig(store *TrustStore, serverName string, checkName bool) *tls.Config {
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		ServerName: serverName,
		NextProtos: []string{"http/1.1"},
	}
	if checkName {
		// The standard library verifies the chain against the store's
		// current pool and the name against serverName; VerifyConnection
		// adds our own check (termgate's policy on top of the standard one).
		// Build one config per connection so a reloaded store takes effect;
		// handshake errors are explained by ExplainTLSError.
		cfg.RootCAs = store.Pool()
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if serverName == "" {
				return errors.New("no server name to verify the certificate against: set the name clients dial, or turn the name check off explicitly")
			}
			return VerifyPeer(store, cs.PeerCertificates, VerifyOptions{Name: serverName})
		}
		return cfg
	}
	// The administrator turned "verify server identity" off. The standard
	// library cannot skip only the name check, so its own verification is
	// replaced by VerifyConnection, which still requires a chain to store.
	cfg.InsecureSkipVerify = true
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		return VerifyPeer(store, cs.PeerCertificates, VerifyOptions{})
	}
	return cfg
}

// ExplainTLSError turns a TLS handshake error caused by certificate
// verification into *NameMismatchError or *UntrustedError with a message that
// says what to do; other errors are returned unchanged.
func ExplainTLSError(err error, dialled string) error {
	var cve *tls.CertificateVerificationError
	if !errors.As(err, &cve) || len(cve.UnverifiedCertificates) == 0 {
		return err
	}
	leaf := cve.UnverifiedCertificates[0]
	var he x509.HostnameError
	if errors.As(cve.Err, &he) {
		return &NameMismatchError{Dialled: dialled, Names: CertNames(leaf), Subject: leaf.Subject.CommonName}
	}
	var ie x509.CertificateInvalidError
	if errors.As(cve.Err, &ie) && ie.Reason == x509.Expired {
		return &ValidityError{Subject: leaf.Subject.String(), NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter, Now: time.Now()}
	}
	return &UntrustedError{Subject: leaf.Subject.CommonName, Issuer: leaf.Issuer.CommonName, Fingerprint: FingerprintHex(leaf), Err: cve.Err}
}

// HostOf returns the host part of addr ("host:port" or a bare host).
func HostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// ServerTLSConfig returns a TLS server configuration with TLS 1.2 minimum
// (1.3 preferred by the protocol) serving the certificate that get returns.
func ServerTLSConfig(get func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: get,
		NextProtos:     []string{"http/1.1"},
	}
}

// TLSCertificate converts a Cert (and optional chain) to a tls.Certificate.
func (c *Cert) TLSCertificate(chain ...*x509.Certificate) tls.Certificate {
	tc := tls.Certificate{Certificate: [][]byte{c.Cert.Raw}, PrivateKey: c.Key, Leaf: c.Cert}
	for _, x := range chain {
		tc.Certificate = append(tc.Certificate, x.Raw)
	}
	return tc
}

// Describe is a one-line human description of a certificate.
func Describe(c *x509.Certificate) string {
	return fmt.Sprintf("%s (names: %s; valid %s to %s; sha256 %s)", c.Subject.CommonName,
		strings.Join(CertNames(c), ", "), c.NotBefore.UTC().Format(time.DateOnly), c.NotAfter.UTC().Format(time.DateOnly), Fingerprint(c))
}

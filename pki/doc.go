// Package pki holds termgate's keys, certificates and trust stores.
//
// It creates keys (ECDSA P-256 by default, Ed25519, RSA-3072), self-signed
// certificates and a small local certificate authority, keeps ordered PEM
// bundles of trusted certificates ([TrustStore]), and verifies a peer's
// certificate against one such store only ([VerifyPeer]), with errors that
// name both the name that was dialled and the names the certificate carries.
//
//	ca, _ := pki.NewCA(pki.CertSpec{CommonName: "termgate local CA"})
//	leaf, _ := ca.Issue(pki.CertSpec{CommonName: "proxy", DNSNames: []string{"proxy.example.com"}, Usage: pki.UsageServer})
//	store := pki.NewTrustStore(ca.Cert.Cert)
//	tlsCfg := pki.ClientTLSConfig(store, "proxy.example.com", true)
//
// Certificates and keys move in and out as PEM (with "# name" lines for
// trust stores), DER ([ParseCertsAny]) and PKCS#12 ([EncodePKCS12],
// [DecodePKCS12]; PBES2/AES-256 with PBKDF2-HMAC-SHA-256). A local CA lives in
// a directory as ca.pem and ca-key.pem ([InitCADir], [LoadCADir]). A trust
// store bound to a file follows it ([TrustStore.Watch],
// [TrustStore.ReloadIfChanged]): an atomically replaced file is picked up, a
// broken one is reported and the previous contents stay in force.
//
// # Security model
//
// Two roles never share one pool: management signing certificates (what a
// proxy verifies tokens against) and proxy certificates (what clients trust
// for TLS). A certificate may sign authorization tokens only if it carries
// [OIDTokenSigning] in its extended key usage, so a proxy's TLS key can never
// mint tokens. Verification chains to the given store only: never the system
// roots unless asked, never InsecureSkipVerify, never ExtKeyUsageAny.
//
// Parsers of outside data never panic and bound their work: trust stores are
// at most [MaxTrustStoreSize] bytes, PKCS#12 files at most [MaxPKCS12Size]
// bytes and [MaxPKCS12Iterations] key-derivation rounds. Private keys are
// written with mode 0600, every file atomically ([WriteFileAtomic]).
//
// A certificate's key id (kid) is the unpadded base64url SHA-256 of its DER,
// the value that tokens carry in their header ([KID]).
//
// Standards: X.509 and its profile (RFC 5280), PKCS#8 (RFC 5208), PKCS#10
// (RFC 2986), PKCS#12 (RFC 7292, RFC 9579 for PBMAC1), PKCS#5 PBES2/PBKDF2
// (RFC 8018), PEM (RFC 7468), TLS 1.3 and 1.2 (RFC 8446, RFC 5246), SHA-256
// fingerprints and base64url (RFC 4648).
package pki

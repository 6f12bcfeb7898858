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
// A certificate's key id (kid) is the unpadded base64url SHA-256 of its DER,
// the value that tokens carry in their header ([KID]).
package pki

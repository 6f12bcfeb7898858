package pki

// Certificate exchange (enrollment) between a proxy node and a management
// server. An administrator creates a one-time code; the proxy posts its TLS
// certificate with the code; the management server answers with the
// certificates the proxy must trust to verify tokens and to reach the
// management servers, and adds the proxy's certificate to the trust store
// that clients receive. Both sides show SHA-256 fingerprints so an operator
// can compare them out of band.

// EnrollRequest is the body of POST /api/v1/enroll.
type EnrollRequest struct {
	// Code is the one-time enrollment code (valid 1 h, single use).
	Code string `json:"code"`
	// NodeID names the proxy node (e.g. its host name).
	NodeID string `json:"node_id"`
	// Certificate is the PEM of the proxy's TLS certificate (chain).
	Certificate string `json:"certificate"`
	// Address is the node's own address (host:port), if it has one clients or peers may use.
	Address string `json:"address,omitempty"`
}

// EnrollResponse is the answer to a successful enrollment.
type EnrollResponse struct {
	// MgmtSigners is the PEM bundle of every management node's token-signing
	// certificate: the proxy verifies tokens against exactly these.
	MgmtSigners string `json:"mgmt_signers"`
	// MgmtTLS is the PEM bundle the proxy trusts for HTTPS to the management
	// servers (their certificates or the CA that issued them), used to refresh
	// MgmtSigners later from GET /api/v1/trust/mgmt.pem.
	MgmtTLS string `json:"mgmt_tls"`
	// ProxyTrust is the client trust store after adding this proxy.
	ProxyTrust string `json:"proxy_trust"`
	// ProxyFingerprint is the SHA-256 fingerprint of the certificate the
	// management server recorded for this proxy, to compare with the proxy's own.
	ProxyFingerprint string `json:"proxy_fingerprint"`
	// MgmtFingerprints are the SHA-256 fingerprints of MgmtSigners.
	MgmtFingerprints []string `json:"mgmt_fingerprints"`
}

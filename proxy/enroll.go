package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/termgate/termgate/pki"
)

// File names that Enroll writes into the data directory.
const (
	MgmtSignersFile = "mgmt-signers.pem" // what tokens are verified against
	MgmtTLSFile     = "mgmt-tls.pem"     // what HTTPS to the management servers is verified against
)

// EnrollOptions configures Enroll.
type EnrollOptions struct {
	// MgmtURL is a management server's base URL (https://host:port). Required.
	MgmtURL string
	// Code is the one-time enrollment code an administrator created. Required.
	Code string
	// CertFile and KeyFile are this node's TLS certificate and key; the key
	// is loaded only to check that it matches the certificate. Required.
	CertFile, KeyFile string
	// NodeID names this node; empty means the host name.
	NodeID string
	// Address is this node's own address for peers, if any.
	Address string
	// DataDir receives MgmtSignersFile and MgmtTLSFile. Empty means "termgate-proxy".
	DataDir string
	// MgmtCA verifies the management server's HTTPS certificate for this
	// call. Nil means the system roots.
	MgmtCA *pki.TrustStore
	// HTTPClient overrides the client (its TLS settings then apply). Nil means a client built from MgmtCA.
	HTTPClient *http.Client
}

// EnrollResult is what enrollment produced.
type EnrollResult struct {
	Response pki.EnrollResponse
	// ProxyFingerprint is this node's own certificate fingerprint (it equals Response.ProxyFingerprint).
	ProxyFingerprint string
	// MgmtFingerprints are the fingerprints of the signer certificates written.
	MgmtFingerprints []string
	// SignersFile and TLSFile are the files written.
	SignersFile, TLSFile string
}

// Enroll exchanges certificates with a management server: it posts this
// node's certificate with a one-time code to POST {mgmt}/api/v1/enroll and
// writes the management signer bundle and management TLS trust it receives
// into DataDir. It refuses an answer whose proxy fingerprint is not this
// node's or whose signer bundle holds a certificate without the
// token-signing usage.
func Enroll(ctx context.Context, opts EnrollOptions) (*EnrollResult, error) {
	if opts.MgmtURL == "" || opts.Code == "" || opts.CertFile == "" || opts.KeyFile == "" {
		return nil, errors.New("enroll: the management URL, the code, the certificate and the key are required")
	}
	if !strings.HasPrefix(opts.MgmtURL, "https://") {
		return nil, fmt.Errorf("enroll: management URL %q: only https:// is allowed", opts.MgmtURL)
	}
	pair, err := pki.LoadPair(opts.CertFile, opts.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("enroll: %w", err)
	}
	if _, err := tls.LoadX509KeyPair(opts.CertFile, opts.KeyFile); err != nil {
		return nil, fmt.Errorf("enroll: certificate and key do not match: %w", err)
	}
	chainPEM, err := os.ReadFile(opts.CertFile)
	if err != nil {
		return nil, fmt.Errorf("enroll: %w", err)
	}
	chain, err := pki.ParseCertsPEM(chainPEM)
	if err != nil {
		return nil, fmt.Errorf("enroll: %w", err)
	}
	node := opts.NodeID
	if node == "" {
		node, _ = os.Hostname()
	}
	dir := opts.DataDir
	if dir == "" {
		dir = "termgate-proxy"
	}
	body, _ := json.Marshal(pki.EnrollRequest{Code: opts.Code, NodeID: node, Certificate: string(pki.EncodeCertPEM(chain...)), Address: opts.Address})
	client := opts.HTTPClient
	if client == nil {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if opts.MgmtCA != nil && opts.MgmtCA.Len() > 0 {
			tc.RootCAs = opts.MgmtCA.Pool()
		}
		client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
		defer client.CloseIdleConnections()
	}
	u := strings.TrimRight(opts.MgmtURL, "/") + "/api/v1/enroll"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("enroll: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("enroll: %w", pki.ExplainTLSError(err, req.URL.Hostname()))
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, 2*pki.MaxTrustStoreSize))
	if err != nil {
		return nil, fmt.Errorf("enroll: read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(rb, &e) == nil && e.Error.Message != "" {
			return nil, fmt.Errorf("enroll: management server refused (%s): %s: %s", resp.Status, e.Error.Code, e.Error.Message)
		}
		return nil, fmt.Errorf("enroll: management server answered %s", resp.Status)
	}
	var er pki.EnrollResponse
	if err := json.Unmarshal(rb, &er); err != nil {
		return nil, fmt.Errorf("enroll: decode answer: %w", err)
	}
	own := pki.Fingerprint(pair.Cert)
	if !strings.EqualFold(strings.ReplaceAll(er.ProxyFingerprint, ":", ""), strings.ReplaceAll(own, ":", "")) {
		return nil, fmt.Errorf("enroll: the management server recorded certificate %s, not this node's %s", er.ProxyFingerprint, own)
	}
	signers, err := pki.ParseTrustStore([]byte(er.MgmtSigners))
	if err != nil || signers.Len() == 0 {
		return nil, fmt.Errorf("enroll: the answer holds no usable management signing certificate: %v", err)
	}
	res := &EnrollResult{Response: er, ProxyFingerprint: own,
		SignersFile: filepath.Join(dir, MgmtSignersFile), TLSFile: filepath.Join(dir, MgmtTLSFile)}
	for _, c := range signers.Certificates() {
		if !pki.IsTokenSigner(c) {
			return nil, fmt.Errorf("enroll: signer %q: %w", c.Subject.CommonName, pki.ErrNotTokenSigner)
		}
		res.MgmtFingerprints = append(res.MgmtFingerprints, pki.Fingerprint(c))
	}
	tlsTrust, err := pki.ParseTrustStore([]byte(er.MgmtTLS))
	if err != nil {
		return nil, fmt.Errorf("enroll: management TLS trust: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("enroll: %w", err)
	}
	if err := signers.SaveAs(res.SignersFile); err != nil {
		return nil, fmt.Errorf("enroll: %w", err)
	}
	if err := tlsTrust.SaveAs(res.TLSFile); err != nil {
		return nil, fmt.Errorf("enroll: %w", err)
	}
	return res, nil
}

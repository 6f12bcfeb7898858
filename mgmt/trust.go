package mgmt

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/termgate/termgate/pki"
)

// EnrollCodeTTL is how long an enrollment code is valid.
const EnrollCodeTTL = time.Hour

// JWK is one key of the JWKS document (RFC 7517), public members only.
type JWK struct {
	Kty string   `json:"kty"`
	Crv string   `json:"crv"`
	X   string   `json:"x"`
	Y   string   `json:"y,omitempty"`
	Kid string   `json:"kid"`
	Alg string   `json:"alg"`
	Use string   `json:"use"`
	X5c []string `json:"x5c"`
	// X5tS256 is the certificate's SHA-256 thumbprint (b64url; equals kid).
	X5tS256 string `json:"x5t#S256"`
}

// JWKS is the document of GET /.well-known/jwks.json.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func jwkOf(c *x509.Certificate) (JWK, error) {
	k := JWK{Kid: pki.KID(c), Use: "sig", X5c: []string{base64.StdEncoding.EncodeToString(c.Raw)}}
	sum := sha256.Sum256(c.Raw)
	k.X5tS256 = b64(sum[:])
	switch pub := c.PublicKey.(type) {
	case *ecdsa.PublicKey:
		if pub.Curve.Params().Name != "P-256" {
			return k, fmt.Errorf("unsupported curve %s", pub.Curve.Params().Name)
		}
		raw, err := pub.Bytes() // 0x04 || X || Y
		if err != nil {
			return k, err
		}
		k.Kty, k.Crv, k.Alg, k.X, k.Y = "EC", "P-256", "ES256", b64(raw[1:33]), b64(raw[33:65])
	case ed25519.PublicKey:
		k.Kty, k.Crv, k.Alg, k.X = "OKP", "Ed25519", "EdDSA", b64(pub)
	default:
		return k, fmt.Errorf("unsupported signing key type %T", pub)
	}
	return k, nil
}

// JWKSDocument returns every published signing key of the group (current,
// next and retired keys of every node).
func (s *Server) JWKSDocument() JWKS {
	doc := JWKS{Keys: []JWK{}}
	for _, c := range s.keys.Load().signers.Certificates() {
		k, err := jwkOf(c)
		if err != nil {
			s.log.Warn().Err(err).Str("kid", pki.KID(c)).Msg("signing key left out of JWKS")
			continue
		}
		doc.Keys = append(doc.Keys, k)
	}
	return doc
}

func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=60")
	writeJSON(w, http.StatusOK, s.JWKSDocument())
}

// MgmtSigners is the PEM bundle of every published management signing
// certificate: what proxies verify tokens against.
func (s *Server) MgmtSigners() []byte { return s.keys.Load().signers.Encode() }

// ProxyTrust is the PEM bundle clients must trust for the proxies.
func (s *Server) ProxyTrust() ([]byte, error) {
	var out []byte
	err := s.st.view(func(tx *bolt.Tx) error {
		var err error
		out, err = proxyTrustPEM(tx)
		return err
	})
	return out, err
}

func proxyTrustPEM(tx *bolt.Tx) ([]byte, error) {
	ps, err := listJSON[Proxy](tx, bProxies)
	if err != nil {
		return nil, err
	}
	ts := pki.NewTrustStore()
	for _, p := range ps {
		certs, err := pki.ParseCertsPEM([]byte(p.Certificate))
		if err != nil {
			return nil, fmt.Errorf("proxy %s: %w", p.NodeID, err)
		}
		ts.Add(p.NodeID, certs[0])
	}
	return ts.Encode(), nil
}

func writePEM(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

func (s *Server) handleTrustMgmt(w http.ResponseWriter, r *http.Request) {
	writePEM(w, s.MgmtSigners())
}

func (s *Server) handleTrustProxy(w http.ResponseWriter, r *http.Request) {
	b, err := s.ProxyTrust()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writePEM(w, b)
}

func codeKey(code string) []byte {
	sum := sha256.Sum256([]byte(strings.TrimSpace(code)))
	return []byte(hex.EncodeToString(sum[:]))
}

// CreateEnrollCode creates a one-time proxy enrollment code, valid for
// EnrollCodeTTL. Only its hash is stored.
func (s *Server) CreateEnrollCode(ctx context.Context) (code string, expires time.Time, err error) {
	code = "tge_" + randomB64(24)
	expires = s.now().Add(EnrollCodeTTL).Truncate(time.Second)
	err = s.st.update(func(tx *bolt.Tx) error {
		return putJSON(tx, bEnroll, codeKey(code), enrollCodeRecord{ExpiresAt: expires, CreatedBy: actorOf(ctx)})
	})
	if err != nil {
		return "", time.Time{}, err
	}
	s.audit(ctx, AuditEvent{Event: "enroll_code.create", Actor: actorOf(ctx), OK: true, Fields: map[string]any{"expires_at": expires}})
	return code, expires, nil
}

func (s *Server) handleEnroll(w http.ResponseWriter, r *http.Request) {
	var req pki.EnrollRequest
	if err := s.decode(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	client := clientAddr(r)
	addrKey := "enroll:" + client
	if err := s.limiter.check(addrKey); err != nil {
		s.fail(w, r, err)
		return
	}
	resp, err := s.Enroll(r.Context(), req)
	if errors.Is(err, ErrEnrollCode) {
		s.limiter.fail(addrKey, s.limiter.policy.MaxFailures)
	}
	if err != nil {
		s.audit(r.Context(), AuditEvent{Event: "enroll", Actor: req.NodeID, Client: client, OK: false, Fields: map[string]any{"reason": err.Error()}})
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// Enroll performs the certificate exchange of POST /api/v1/enroll: it
// consumes the one-time code, records the proxy's certificate (named by its
// node id) in the proxy trust store, and answers with what the proxy must
// trust.
func (s *Server) Enroll(ctx context.Context, req pki.EnrollRequest) (*pki.EnrollResponse, error) {
	if err := validName("node", req.NodeID); err != nil {
		return nil, err
	}
	certs, err := pki.ParseCertsPEM([]byte(req.Certificate))
	if err != nil {
		return nil, invalidf("certificate: %v", err)
	}
	leaf := certs[0]
	if leaf.IsCA || pki.IsTokenSigner(leaf) || !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth) {
		return nil, invalidf("certificate: a proxy enrolls a TLS server certificate (server-auth usage, not a CA, not a token signer)")
	}
	now := s.now()
	if now.After(leaf.NotAfter) {
		return nil, invalidf("certificate expired at %s", leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if req.Address != "" && len(req.Address) > 255 {
		return nil, invalidf("address too long")
	}
	var trust []byte
	err = s.st.update(func(tx *bolt.Tx) error {
		k := codeKey(req.Code)
		var rec enrollCodeRecord
		if err := getJSON(tx, bEnroll, k, &rec); err != nil || rec.Kind != "" {
			if err == nil || errors.Is(err, ErrNotFound) {
				return ErrEnrollCode // a join code does not enroll a proxy
			}
			return err
		}
		if err := tx.Bucket(bEnroll).Delete(k); err != nil { // single use, even if it expired
			return err
		}
		if now.After(rec.ExpiresAt) {
			return errExpiredCode
		}
		p := Proxy{NodeID: req.NodeID, Address: req.Address, Fingerprint: pki.Fingerprint(leaf),
			Certificate: string(pki.EncodeCertPEM(leaf)), NotAfter: leaf.NotAfter, EnrolledAt: now}
		if err := putJSON(tx, bProxies, []byte(req.NodeID), p); err != nil {
			return err
		}
		var err error
		trust, err = proxyTrustPEM(tx)
		return err
	})
	if errors.Is(err, errExpiredCode) {
		// The expired code is still deleted.
		s.st.update(func(tx *bolt.Tx) error { return tx.Bucket(bEnroll).Delete(codeKey(req.Code)) })
		return nil, ErrEnrollCode
	}
	if err != nil {
		return nil, err
	}
	signers := s.keys.Load().signers
	var fps []string
	for _, c := range signers.Certificates() {
		fps = append(fps, pki.Fingerprint(c))
	}
	s.audit(ctx, AuditEvent{Event: "enroll", Actor: req.NodeID, OK: true, Fields: map[string]any{"node_id": req.NodeID, "fingerprint": pki.Fingerprint(leaf), "address": req.Address}})
	return &pki.EnrollResponse{
		MgmtSigners:      string(signers.Encode()),
		MgmtTLS:          string(s.mgmtTLS),
		ProxyTrust:       string(trust),
		ProxyFingerprint: pki.Fingerprint(leaf),
		MgmtFingerprints: fps,
	}, nil
}

var errExpiredCode = errors.New("enrollment code expired")

// Proxies lists the enrolled proxies.
func (s *Server) Proxies(ctx context.Context) ([]Proxy, error) {
	var out []Proxy
	err := s.st.view(func(tx *bolt.Tx) error {
		var err error
		out, err = listJSON[Proxy](tx, bProxies)
		return err
	})
	if out == nil {
		out = []Proxy{}
	}
	return out, err
}

// RemoveProxy removes an enrolled proxy (and its certificate from the proxy trust store).
func (s *Server) RemoveProxy(ctx context.Context, nodeID string) error {
	var before Proxy
	err := s.st.update(func(tx *bolt.Tx) error {
		if err := getJSON(tx, bProxies, []byte(nodeID), &before); err != nil {
			return err
		}
		return tx.Bucket(bProxies).Delete([]byte(nodeID))
	})
	if err != nil {
		return fmt.Errorf("proxy %q: %w", nodeID, err)
	}
	s.audit(ctx, AuditEvent{Event: "proxy.delete", Actor: actorOf(ctx), OK: true, Fields: map[string]any{"node_id": nodeID, "before": before.Fingerprint}})
	return nil
}

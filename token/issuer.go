package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/termgate/termgate/pki"
)

// Signing algorithms (JWS alg) a token may carry.
const (
	AlgES256 = "ES256"
	AlgEdDSA = "EdDSA"
)

var b64 = base64.RawURLEncoding

// b64Strict decodes unpadded base64url and refuses non-zero trailing bits,
// so every value has exactly one encoding.
var b64Strict = base64.RawURLEncoding.Strict()

// IssuerConfig configures an Issuer.
type IssuerConfig struct {
	// NodeID is the iss of every token: the signing management node's id. It
	// must equal the certificate's subject common name, which is what
	// verifiers bind iss to; empty means that common name.
	NodeID string
	// Cert is the signing certificate. It must carry pki.OIDTokenSigning;
	// tokens name it by kid = pki.KID(Cert).
	Cert *x509.Certificate
	// Key is Cert's private key: ECDSA P-256 (ES256) or Ed25519 (EdDSA).
	Key crypto.Signer
	// Audience is the aud of every token; empty means DefaultAudience.
	Audience string
	// MaxTTL caps Request.TTL; zero means MaxTTL. It cannot exceed MaxTTL.
	MaxTTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Issuer signs authorization tokens. It is safe for concurrent use.
type Issuer struct {
	node     string
	cert     *x509.Certificate
	key      crypto.Signer
	alg      string
	kid      string
	aud      string
	maxTTL   time.Duration
	now      func() time.Time
	header64 string // the constant, encoded JWS header
}

// Request is what one token grants.
type Request struct {
	Subject string        // sub: the user or API client
	Dst     string        // host:port, normalised by Issue
	Proto   string        // one of the Proto constants
	Session string        // ses: the session definition's name, if any
	TTL     time.Duration // 0 → DefaultTTL; above the issuer's MaxTTL → error; whole seconds
	HostTLS bool          // htls: the proxy speaks TLS to the destination
	PoPKey  *JWK          // optional: sets cnf.jkt = PoPKey.Thumbprint()
}

// NewIssuer checks cfg and returns an Issuer.
func NewIssuer(cfg IssuerConfig) (*Issuer, error) {
	if cfg.Cert == nil || cfg.Key == nil {
		return nil, errors.New("token issuer: a signing certificate and its key are required")
	}
	if !pki.IsTokenSigner(cfg.Cert) {
		return nil, fmt.Errorf("token issuer: certificate %q: %w", cfg.Cert.Subject.CommonName, pki.ErrNotTokenSigner)
	}
	cn := cfg.Cert.Subject.CommonName
	if cn == "" {
		return nil, errors.New("token issuer: the signing certificate has no common name; it must be the node id")
	}
	node := cfg.NodeID
	if node == "" {
		node = cn
	}
	if node != cn {
		return nil, fmt.Errorf("token issuer: node id %q differs from the signing certificate's common name %q; verifiers require iss to equal it", node, cn)
	}
	type publicKey interface{ Equal(crypto.PublicKey) bool }
	pub, ok := cfg.Key.Public().(publicKey)
	if !ok || !pub.Equal(cfg.Cert.PublicKey) {
		return nil, errors.New("token issuer: the key does not belong to the certificate")
	}
	alg, err := algFor(cfg.Cert.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("token issuer: %w", err)
	}
	maxTTL := cfg.MaxTTL
	if maxTTL == 0 {
		maxTTL = MaxTTL
	}
	if maxTTL < time.Second || maxTTL > MaxTTL {
		return nil, fmt.Errorf("token issuer: MaxTTL %v must be between 1s and %v", cfg.MaxTTL, MaxTTL)
	}
	aud := cfg.Audience
	if aud == "" {
		aud = DefaultAudience
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	kid := pki.KID(cfg.Cert)
	h, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
		Kid string `json:"kid"`
	}{alg, Type, kid})
	if err != nil {
		return nil, err
	}
	return &Issuer{node: node, cert: cfg.Cert, key: cfg.Key, alg: alg, kid: kid, aud: aud,
		maxTTL: maxTTL, now: now, header64: b64.EncodeToString(h)}, nil
}

// algFor returns the JWS alg for a signing certificate's public key.
func algFor(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			return AlgES256, nil
		}
		return "", fmt.Errorf("ECDSA key on curve %s: only P-256 (ES256) is supported", k.Curve.Params().Name)
	case ed25519.PublicKey:
		return AlgEdDSA, nil
	}
	return "", fmt.Errorf("%T keys cannot sign tokens: use ECDSA P-256 or Ed25519", pub)
}

// KID is the key id of the issuer's certificate, as tokens carry it.
func (i *Issuer) KID() string { return i.kid }

// NodeID is the iss of the tokens the issuer signs.
func (i *Issuer) NodeID() string { return i.node }

// Alg is the JWS algorithm the issuer signs with (AlgES256 or AlgEdDSA).
func (i *Issuer) Alg() string { return i.alg }

// Issue signs a token for req and returns it with its claims.
func (i *Issuer) Issue(req Request) (string, *Claims, error) {
	ttl := req.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	ttl = ttl.Truncate(time.Second)
	if ttl < time.Second {
		return "", nil, fmt.Errorf("token ttl %v: must be at least 1s", req.TTL)
	}
	if ttl > i.maxTTL {
		return "", nil, fmt.Errorf("token ttl %v exceeds the maximum %v", req.TTL, i.maxTTL)
	}
	dst, err := NormalizeHostPort(req.Dst)
	if err != nil {
		return "", nil, fmt.Errorf("token dst: %w", err)
	}
	if !ValidProto(req.Proto) {
		return "", nil, fmt.Errorf("token proto %q: must be telnet, ssh, tn3270, ftp or tcp", req.Proto)
	}
	now := i.now().Truncate(time.Second)
	if now.Before(i.cert.NotBefore) || now.After(i.cert.NotAfter) {
		return "", nil, fmt.Errorf("signing certificate %q is valid from %s to %s, not now (%s): renew it or check the clock",
			i.cert.Subject.CommonName, i.cert.NotBefore.UTC().Format(time.RFC3339), i.cert.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	jti, err := newJTI()
	if err != nil {
		return "", nil, err
	}
	c := &Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    i.node,
			Subject:   req.Subject,
			Audience:  jwt.ClaimStrings{i.aud},
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        jti,
		},
		Dst:   dst,
		Proto: req.Proto,
		Ses:   req.Session,
		HTLS:  req.HostTLS,
	}
	if req.PoPKey != nil {
		if _, err := req.PoPKey.PublicKey(); err != nil {
			return "", nil, fmt.Errorf("token pop key: %w", err)
		}
		c.Cnf = &Confirmation{JKT: req.PoPKey.Thumbprint()}
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", nil, err
	}
	signing := i.header64 + "." + b64.EncodeToString(payload)
	sig, err := sign(i.key, i.alg, []byte(signing))
	if err != nil {
		return "", nil, fmt.Errorf("sign token: %w", err)
	}
	return signing + "." + b64.EncodeToString(sig), c, nil
}

func newJTI() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return b64.EncodeToString(b[:]), nil
}

// sign produces a JWS signature: for ES256 the 64-byte r||s with s in its
// low (canonical) half, so that verifiers can refuse the malleated twin
// (r, n−s); for EdDSA the 64-byte Ed25519 signature.
func sign(key crypto.Signer, alg string, msg []byte) ([]byte, error) {
	switch alg {
	case AlgES256:
		d := sha256.Sum256(msg)
		der, err := key.Sign(rand.Reader, d[:], crypto.SHA256)
		if err != nil {
			return nil, err
		}
		return rawECDSA(der)
	case AlgEdDSA:
		return key.Sign(rand.Reader, msg, crypto.Hash(0))
	}
	return nil, fmt.Errorf("unsupported alg %q", alg)
}

var (
	p256N     = elliptic.P256().Params().N
	p256HalfN = new(big.Int).Rsh(p256N, 1)
)

// rawECDSA converts an ASN.1 P-256 signature into the canonical r||s form.
func rawECDSA(der []byte) ([]byte, error) {
	var sig struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(der, &sig)
	if err != nil || len(rest) != 0 || sig.R == nil || sig.S == nil {
		return nil, errors.New("malformed ECDSA signature from signer")
	}
	r, s := sig.R, sig.S
	if s.Cmp(p256HalfN) > 0 {
		s.Sub(p256N, s)
	}
	if r.Sign() <= 0 || s.Sign() <= 0 || r.Cmp(p256N) >= 0 || s.Cmp(p256N) >= 0 {
		return nil, errors.New("malformed ECDSA signature from signer")
	}
	out := make([]byte, 64)
	r.FillBytes(out[:32])
	s.FillBytes(out[32:])
	return out, nil
}

// highS reports whether a raw P-256 r||s signature has s in the upper half
// of the group order (the non-canonical twin of a valid signature).
func highS(sig []byte) bool {
	if len(sig) != 64 {
		return false
	}
	return new(big.Int).SetBytes(sig[32:]).Cmp(p256HalfN) > 0
}

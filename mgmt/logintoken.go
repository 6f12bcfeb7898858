package mgmt

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/termgate/termgate/pki"
	"github.com/termgate/termgate/token"
)

// Login tokens are JWTs signed by a management node's signing key, with
// their own type and audience, so that a login token is never accepted by a
// proxy and an authorization token is never accepted as a login.
const (
	LoginTokenType = "tg-login+jwt"
	LoginAudience  = "termgate-mgmt"
)

// loginClaims are the claims of a login token.
type loginClaims struct {
	jwt.RegisteredClaims
	// AuthTime is when the user entered the password; refresh keeps it, and
	// refuses once it is older than Config.LoginMaxAge.
	AuthTime int64 `json:"auth_time"`
	// CSRF is the b64url SHA-256 of the double-submit CSRF token that came
	// with the login cookie.
	CSRF string `json:"csh,omitempty"`
}

func randomB64(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func csrfHash(csrf string) string {
	sum := sha256.Sum256([]byte(csrf))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func signingMethod(k *ownKey) (jwt.SigningMethod, error) {
	switch k.key.Public().(type) {
	case *ecdsa.PublicKey:
		return jwt.SigningMethodES256, nil
	case ed25519.PublicKey:
		return jwt.SigningMethodEdDSA, nil
	}
	return nil, fmt.Errorf("signing key type %T is not supported", k.key.Public())
}

// issueLogin signs a login token for user. csrf is the double-submit token
// bound into it; authTime is the original password login.
func (s *Server) issueLogin(user string, authTime time.Time, csrf string) (string, time.Time, error) {
	ks := s.keys.Load()
	m, err := signingMethod(ks.current)
	if err != nil {
		return "", time.Time{}, err
	}
	now := s.now()
	exp := now.Add(s.cfg.loginTTL())
	c := loginClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: s.nodeID, Subject: user, Audience: jwt.ClaimStrings{LoginAudience},
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(exp),
			ID: randomB64(16),
		},
		AuthTime: authTime.Unix(),
		CSRF:     csrfHash(csrf),
	}
	t := jwt.NewWithClaims(m, c)
	t.Header["typ"] = LoginTokenType
	t.Header["kid"] = ks.current.kid
	str, err := t.SignedString(ks.current.key)
	if err != nil {
		return "", time.Time{}, err
	}
	return str, exp.Truncate(time.Second), nil
}

// parseLogin verifies a login token against the signing keys of the group
// (no server memory: any node with the replicated signer set can check it).
// The deny-list and the user's existence are checked by the caller.
func (s *Server) parseLogin(tok string) (*loginClaims, error) {
	if len(tok) > token.MaxSize {
		return nil, fmt.Errorf("%w: login token too large", ErrUnauthorized)
	}
	ks := s.keys.Load()
	var signer *pki.TrustStore = ks.signers
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodES256.Alg(), jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithAudience(LoginAudience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(token.DefaultLeeway),
		jwt.WithTimeFunc(s.now),
		jwt.WithStrictDecoding(),
	)
	var c loginClaims
	_, err := p.ParseWithClaims(tok, &c, s.signerKeyfunc(signer, LoginTokenType))
	if err != nil {
		return nil, fmt.Errorf("%w: login token: %v", ErrUnauthorized, err)
	}
	if c.ID == "" || c.Subject == "" {
		return nil, fmt.Errorf("%w: login token lacks jti or sub", ErrUnauthorized)
	}
	return &c, nil
}

// signerKeyfunc picks the verification key of a JWT of type typ signed by
// a management node: by kid, among the group's signing certificates only,
// valid now, with the token-signing usage, and naming the issuer.
func (s *Server) signerKeyfunc(signer *pki.TrustStore, typ string) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		if got, _ := t.Header["typ"].(string); got != typ {
			return nil, fmt.Errorf("not a %s token", typ)
		}
		for _, h := range []string{"jku", "x5u", "jwk", "x5c", "crit"} {
			if _, ok := t.Header[h]; ok {
				return nil, fmt.Errorf("header %q not allowed", h)
			}
		}
		kid, _ := t.Header["kid"].(string)
		cert, ok := signer.ByKID(kid)
		if !ok || !pki.IsTokenSigner(cert) {
			return nil, fmt.Errorf("unknown signing key")
		}
		now := s.now()
		if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
			return nil, fmt.Errorf("signing certificate not valid now")
		}
		iss, _ := t.Claims.GetIssuer()
		if iss != cert.Subject.CommonName {
			return nil, fmt.Errorf("issuer does not match the signing certificate")
		}
		return cert.PublicKey, nil
	}
}

func csrfOK(c *loginClaims, cookie, header string) bool {
	if cookie == "" || header == "" || c.CSRF == "" {
		return false
	}
	a, b := []byte(cookie), []byte(header)
	if subtle.ConstantTimeCompare(a, b) != 1 {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(csrfHash(header)), []byte(c.CSRF)) == 1
}

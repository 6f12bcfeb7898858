package token

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/subtle"
	"crypto/x509"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/termgate/termgate/pki"
)

// ReplayChecker makes each jti single-use. ReplayCache is the per-node
// implementation; a proxy cluster wraps it to ask each jti's owner node.
type ReplayChecker interface {
	// Check records jti as used until expires; it returns an error wrapping
	// ErrReplayed if it was seen, or one wrapping ErrReplayCheckUnavailable
	// if the check could not be made. The Verifier passes the token's exp
	// plus its leeway: after that instant it refuses the token anyway, so the
	// jti may be forgotten.
	Check(ctx context.Context, jti string, expires time.Time) error
}

// VerifierConfig configures a Verifier. The zero value of each field but
// Trust has a safe meaning; with a nil Trust every token is refused.
type VerifierConfig struct {
	// Trust holds the management signing certificates ONLY (never the
	// proxy certificates clients trust). A token's kid selects one, which
	// must carry pki.OIDTokenSigning and be valid now.
	Trust *pki.TrustStore
	// Audience is the aud to require; empty means DefaultAudience.
	Audience string
	// Leeway is the clock skew tolerated on exp, nbf, iat and the signing
	// certificate's validity; zero means DefaultLeeway, negative means none.
	Leeway time.Duration
	// MaxLifetime caps exp − iat; zero means MaxTTL.
	MaxLifetime time.Duration
	// Replay makes jti single-use; nil means no replay check.
	Replay ReplayChecker
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// OnUnknownKID, if set, is called with a well-formed kid that is not in
	// Trust, e.g. to trigger a rate-limited trust refresh. It is called on
	// the verifying goroutine and must not block.
	OnUnknownKID func(kid string)
	// ClockSkew, if set, receives iat − now of every token whose signature
	// verified (positive: the issuer's clock is ahead), for metrics. It is
	// called on the verifying goroutine and must not block.
	ClockSkew func(iss string, offset time.Duration)
}

// Presentation is what a client presents on CONNECT.
type Presentation struct {
	Token    string // the bearer token
	Dst      string // the CONNECT target, normalised by Verify with NormalizeHostPort
	Proof    string // Termgate-Proof header (b64url signature), "" if none
	ProofKey string // Termgate-Proof-Key header (b64url of the JWK JSON), "" if none
	Exporter []byte // EKM of the client's TLS connection: see Exporter
}

// Verifier checks authorization tokens. It is safe for concurrent use.
type Verifier struct {
	trust        *pki.TrustStore
	aud          string
	leeway       time.Duration
	maxLife      time.Duration
	replay       ReplayChecker
	now          func() time.Time
	onUnknownKID func(string)
	clockSkew    func(string, time.Duration)

	signers sync.Map // kid → *signer, for certificates found in trust
}

// signer is what a Verifier derives once from a trusted signing certificate.
type signer struct {
	cert   *x509.Certificate
	alg    string
	key    any // *ecdsa.PublicKey (P-256) or ed25519.PublicKey
	node   string
	parser *jwt.Parser
}

// NewVerifier returns a Verifier for cfg.
func NewVerifier(cfg VerifierConfig) *Verifier {
	v := &Verifier{
		trust:        cfg.Trust,
		aud:          cfg.Audience,
		leeway:       cfg.Leeway,
		maxLife:      cfg.MaxLifetime,
		replay:       cfg.Replay,
		now:          cfg.Now,
		onUnknownKID: cfg.OnUnknownKID,
		clockSkew:    cfg.ClockSkew,
	}
	if v.aud == "" {
		v.aud = DefaultAudience
	}
	if v.leeway == 0 {
		v.leeway = DefaultLeeway
	} else if v.leeway < 0 {
		v.leeway = 0
	}
	if v.maxLife <= 0 {
		v.maxLife = MaxTTL
	}
	if v.now == nil {
		v.now = time.Now
	}
	return v
}

// Verify checks a presented token completely: Parse (signature, header,
// claims), then the destination, then the proof of possession, and last
// the replay check, so that only a token that passed everything else is
// recorded as used. It returns the claims only with a nil error; every
// error is an *Error.
//
// A token with cnf whose proof verified stays usable when the replay check
// is unavailable: it is bound to this TLS connection, so it cannot be
// replayed elsewhere (docs/protocol.md). A proof sent with a token without cnf
// is ignored.
func (v *Verifier) Verify(ctx context.Context, p Presentation) (*Claims, error) {
	c, err := v.Parse(p.Token)
	if err != nil {
		return nil, err
	}
	if err := c.CheckDestination(p.Dst); err != nil {
		return nil, err
	}
	bound := false
	if c.Cnf != nil {
		if p.Proof == "" || p.ProofKey == "" {
			return nil, fail(CodeProofMissing, "the token is bound to a key (cnf): send Termgate-Proof and Termgate-Proof-Key, signed over this TLS connection's exporter", nil)
		}
		thumb, err := VerifyProof(p.Proof, p.ProofKey, p.Exporter)
		if err != nil {
			return nil, err
		}
		if subtle.ConstantTimeCompare([]byte(thumb), []byte(c.Cnf.JKT)) != 1 {
			return nil, fail(CodeProofInvalid, "the proof is signed by another key than the one the token is bound to (cnf.jkt)", nil)
		}
		bound = true
	}
	if v.replay != nil {
		err := v.replay.Check(ctx, c.ID, c.ExpiresAt.Add(v.leeway))
		switch {
		case err == nil:
		case errors.Is(err, ErrReplayed):
			return nil, fail(CodeReplayed, "token "+c.ID+" was already used: request a new token for every connection", err)
		case bound:
			// Bound to this connection by the proof: safe without shared replay state.
		default:
			return nil, fail(CodeReplayCheckUnavailable, "cannot check whether token "+c.ID+" was already used: "+err.Error(), err)
		}
	}
	return c, nil
}

// Parse checks a token's size, structure, header, signature and claims
// (time, audience, issuer, lifetime, the form of jti, dst, proto and cnf),
// but not the destination, proof or replay. It returns the claims only
// with a nil error; every error is an *Error.
func (v *Verifier) Parse(tok string) (*Claims, error) {
	if tok == "" {
		return nil, fail(CodeMissing, "no token: send Proxy-Authorization: Bearer <token>", nil)
	}
	if len(tok) > MaxSize {
		return nil, fail(CodeMalformed, fmt.Sprintf("token is %d bytes, more than the %d allowed", len(tok), MaxSize), nil)
	}
	h64, rest, ok1 := strings.Cut(tok, ".")
	p64, s64, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.IndexByte(s64, '.') >= 0 {
		return nil, fail(CodeMalformed, "a token has three dot-separated parts (JWS compact serialisation)", nil)
	}
	// One buffer holds the three decoded segments, and one string copy of
	// header and payload backs every member name and value the scans return.
	tb := []byte(tok)
	h64b, p64b, s64b := tb[:len(h64)], tb[len(h64)+1:len(h64)+1+len(p64)], tb[len(tok)-len(s64):]
	buf := make([]byte, b64Strict.DecodedLen(len(h64))+b64Strict.DecodedLen(len(p64))+b64Strict.DecodedLen(len(s64)))
	hn, err := b64Strict.Decode(buf, h64b)
	if err != nil {
		return nil, fail(CodeMalformed, "header is not unpadded base64url", err)
	}
	pn, err := b64Strict.Decode(buf[hn:], p64b)
	if err != nil {
		return nil, fail(CodeMalformed, "payload is not unpadded base64url", err)
	}
	sn, err := b64Strict.Decode(buf[hn+pn:], s64b)
	if err != nil {
		return nil, fail(CodeMalformed, "signature is not unpadded base64url", err)
	}
	hdrJSON, payJSON, sig := buf[:hn], buf[hn:hn+pn], buf[hn+pn:hn+pn+sn]
	text := string(buf[:hn+pn])
	var hdrBuf [16]member
	hdr, err := scanJSON(hdrJSON, text[:hn], knownHeaders, hdrBuf[:0])
	if err != nil {
		return nil, fail(CodeMalformed, "header: "+err.Error(), err)
	}
	var payBuf [24]member
	pay, err := scanJSON(payJSON, text[hn:], knownClaims, payBuf[:0])
	if err != nil {
		return nil, fail(CodeMalformed, "payload: "+err.Error(), err)
	}
	kid, alg, ferr := v.checkHeader(hdr)
	if ferr != nil {
		return nil, ferr
	}
	s, ferr := v.signerFor(kid)
	if ferr != nil {
		return nil, ferr
	}
	if alg != s.alg {
		return nil, fail(CodeSignature, fmt.Sprintf("alg %s does not match the signing certificate's key (%s)", alg, s.alg), nil)
	}
	if alg == AlgES256 && highS(sig) {
		return nil, fail(CodeSignature, "non-canonical ECDSA signature (s in the upper half of the group order)", nil)
	}

	// The claims are decoded once, from the members the scan found; golang-jwt
	// checks the signature, then validates these claims, after dec has
	// confirmed that the payload it decoded is the one they came from.
	out := new(struct {
		claims  Claims
		storage claimsStorage
		dec     claimsDecoder
	})
	c := &out.claims
	if err := decodeClaims(pay, c, &out.storage); err != nil {
		return nil, fail(CodeMalformed, "token does not decode: could not JSON decode claim: "+err.Error(), err)
	}
	out.dec = claimsDecoder{Claims: c, payload: payJSON}
	_, err = s.parser.ParseWithClaims(tok, &out.dec, func(t *jwt.Token) (any, error) {
		if t.Method == nil || t.Method.Alg() != s.alg {
			return nil, errors.New("alg does not match the signing certificate")
		}
		if k, _ := t.Header["kid"].(string); k != kid {
			return nil, errors.New("kid changed during parsing")
		}
		return s.key, nil
	})
	out.dec.payload = nil
	now := v.now()
	verified := err == nil || errors.Is(err, jwt.ErrTokenInvalidClaims)
	if verified && v.clockSkew != nil && c.IssuedAt != nil {
		v.clockSkew(c.Issuer, c.IssuedAt.Sub(now))
	}
	if err != nil {
		return nil, v.mapError(err, c, s, now)
	}
	if ferr := v.checkClaims(c, now); ferr != nil {
		return nil, ferr
	}
	return c, nil
}

// checkHeader applies the header rules that need no key: alg, crit, typ,
// no key-carrying members, and the form of kid.
func (v *Verifier) checkHeader(members []member) (kid, alg string, _ *Error) {
	str := func(name string) (string, bool, *Error) {
		raw, ok := lookup(members, name)
		if !ok {
			return "", false, nil
		}
		if len(raw) < 2 || raw[0] != '"' {
			return "", true, fail(CodeMalformed, "header member "+name+" is not a string", nil)
		}
		s, err := jsonString(raw)
		if err != nil {
			return "", true, fail(CodeMalformed, "header member "+name+" is not a string", err)
		}
		return s, true, nil
	}
	alg, ok, ferr := str("alg")
	if ferr != nil {
		return "", "", ferr
	}
	if !ok {
		return "", "", fail(CodeMalformed, "header has no alg", nil)
	}
	if _, ok := lookup(members, "crit"); ok {
		return "", "", fail(CodeMalformed, "header member crit is not supported: termgate tokens use no critical extensions", nil)
	}
	if alg != AlgES256 && alg != AlgEdDSA {
		return "", "", fail(CodeSignature, fmt.Sprintf("alg %q is not accepted: termgate tokens are signed with ES256 or EdDSA (never none or HMAC)", clip(alg)), nil)
	}
	typ, ok, ferr := str("typ")
	if ferr != nil {
		return "", "", ferr
	}
	if !ok || typ != Type {
		return "", "", fail(CodeType, fmt.Sprintf("typ is %q, want %q: this is not a termgate authorization token", clip(typ), Type), nil)
	}
	for _, m := range []string{"jwk", "jku", "x5c", "x5u"} {
		if _, ok := lookup(members, m); ok {
			return "", "", fail(CodeUntrustedKey, "header member "+m+" is refused: keys come only from the trust store of management signing certificates, selected by kid", nil)
		}
	}
	kid, ok, ferr = str("kid")
	if ferr != nil {
		return "", "", ferr
	}
	if !ok || kid == "" {
		return "", "", fail(CodeUntrustedKey, "header has no kid naming the signing certificate", nil)
	}
	if !wellFormedKID(kid) {
		return "", "", fail(CodeUntrustedKey, fmt.Sprintf("kid %q is not a termgate key id (base64url SHA-256 of a certificate)", clip(kid)), nil)
	}
	return kid, alg, nil
}

// lookup returns the raw value of the member called name. checkJSON has
// refused duplicate names, so the first match is the only one.
func lookup(members []member, name string) (string, bool) {
	for _, m := range members {
		if m.name == name {
			return m.raw, true
		}
	}
	return "", false
}

// wellFormedKID reports whether kid has the form of pki.KID: 43 base64url
// characters (256 bits).
func wellFormedKID(kid string) bool {
	if len(kid) != 43 {
		return false
	}
	for i := 0; i < len(kid); i++ {
		c := kid[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	// 43 characters carry 258 bits: strict decoding also wants the 2 bits
	// past the 256 to be zero.
	return b64Value(kid[42])&3 == 0
}

// b64Value is the value of a base64url character.
func b64Value(c byte) byte {
	switch {
	case c >= 'A' && c <= 'Z':
		return c - 'A'
	case c >= 'a' && c <= 'z':
		return c - 'a' + 26
	case c >= '0' && c <= '9':
		return c - '0' + 52
	case c == '-':
		return 62
	}
	return 63 // '_'
}

// errJTILength is why a jti that is not 22 characters is refused.
var errJTILength = errors.New("jti is not 22 base64url characters")

// checkJTI checks that jti is 16 bytes in strict unpadded base64url.
func checkJTI(jti string) error {
	if len(jti) != 22 { // 16 bytes, unpadded
		return errJTILength
	}
	var raw [16]byte
	_, err := b64Strict.Decode(raw[:], []byte(jti))
	return err
}

// signerFor finds kid's certificate in the trust store and checks that it
// may sign tokens now. The derived key and parser are cached per
// certificate; only certificates found in the store are ever cached.
func (v *Verifier) signerFor(kid string) (*signer, *Error) {
	if v.trust == nil {
		return nil, fail(CodeUntrustedKey, "the verifier has no trust store of management signing certificates", nil)
	}
	cert, ok := v.trust.ByKID(kid)
	if !ok {
		v.signers.Delete(kid)
		if v.onUnknownKID != nil {
			v.onUnknownKID(kid)
		}
		return nil, fail(CodeUntrustedKey, "kid "+kid+" is not in the trust store of management signing certificates: refresh it from the management server (GET /api/v1/trust/mgmt.pem)", nil)
	}
	name := cert.Subject.CommonName
	if !pki.IsTokenSigner(cert) {
		return nil, fail(CodeUntrustedKey, fmt.Sprintf("certificate %q (kid %s) lacks the token-signing extended key usage, so it may not sign tokens", clip(name), kid), pki.ErrNotTokenSigner)
	}
	now := v.now()
	if now.Add(v.leeway).Before(cert.NotBefore) {
		return nil, fail(CodeUntrustedKey, fmt.Sprintf("signing certificate %q is not valid before %s (now %s): check the clocks",
			clip(name), cert.NotBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339)), nil)
	}
	if now.Add(-v.leeway).After(cert.NotAfter) {
		return nil, fail(CodeUntrustedKey, fmt.Sprintf("signing certificate %q expired at %s (now %s): the management node must renew it",
			clip(name), cert.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339)), nil)
	}
	if cached, ok := v.signers.Load(kid); ok && cached.(*signer).cert == cert {
		return cached.(*signer), nil
	}
	if name == "" {
		return nil, fail(CodeUntrustedKey, "signing certificate (kid "+kid+") has no common name, which must be the issuing node's id", nil)
	}
	alg, err := algFor(cert.PublicKey)
	if err != nil {
		return nil, fail(CodeUntrustedKey, fmt.Sprintf("signing certificate %q: %v", clip(name), err), err)
	}
	var key any
	switch k := cert.PublicKey.(type) {
	case *ecdsa.PublicKey:
		key = k
	case ed25519.PublicKey:
		key = k
	}
	s := &signer{cert: cert, alg: alg, key: key, node: name,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{AlgES256, AlgEdDSA}),
			jwt.WithAudience(v.aud),
			jwt.WithIssuer(name),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithStrictDecoding(),
			jwt.WithLeeway(v.leeway),
			jwt.WithTimeFunc(v.now),
		)}
	v.signers.Store(kid, s)
	return s, nil
}

// mapError turns a jwt error into an *Error. c holds the claims as far as
// they were decoded; they are authentic only for ErrTokenInvalidClaims,
// which the parser returns only after the signature verified.
func (v *Verifier) mapError(err error, c *Claims, s *signer, now time.Time) *Error {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return fail(CodeMalformed, "token does not decode: "+err.Error(), err)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return fail(CodeSignature, "signature does not verify with the key of "+clip(s.node)+"'s certificate", err)
	case !errors.Is(err, jwt.ErrTokenInvalidClaims):
		return fail(CodeMalformed, err.Error(), err)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return fail(CodeMalformed, "a required claim is missing: "+err.Error(), err)
	case errors.Is(err, jwt.ErrTokenExpired):
		by := ceilSeconds(now.Sub(c.ExpiresAt.Time))
		reason := fmt.Sprintf("token expired %d s ago, beyond the %d s leeway: request a new one", by, int64(v.leeway/time.Second))
		if c.IssuedAt != nil {
			// A token that was just issued and is already expired says
			// how far behind its issuer's clock is: by its age.
			reason += fmt.Sprintf(" (if it was just issued, the clock of issuer %q is behind by %d s; synchronise the clocks (NTP))",
				clip(c.Issuer), ceilSeconds(now.Sub(c.IssuedAt.Time)))
		} else {
			reason += " (if it was just issued, the issuer's clock is behind)"
		}
		return fail(CodeExpired, reason, err)
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		start := c.IssuedAt
		if c.NotBefore != nil && (start == nil || c.NotBefore.After(start.Time)) {
			start = c.NotBefore
		}
		ahead := int64(0)
		if start != nil {
			ahead = ceilSeconds(start.Sub(now))
		}
		return fail(CodeNotYetValid, fmt.Sprintf("token is not valid for another %d s: the clock of issuer %q is ahead by %d s, more than the %d s leeway; synchronise the clocks (NTP)",
			ahead, clip(c.Issuer), ahead, int64(v.leeway/time.Second)), err)
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return fail(CodeUntrustedKey, fmt.Sprintf("iss %q is not the node of the signing certificate (%q)", clip(c.Issuer), clip(s.node)), err)
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return fail(CodeAudience, fmt.Sprintf("aud %q does not include %q", clip(strings.Join(c.Audience, ",")), v.aud), err)
	}
	return fail(CodeMalformed, err.Error(), err)
}

// checkClaims applies the rules the jwt validator does not know.
func (v *Verifier) checkClaims(c *Claims, now time.Time) *Error {
	if c.IssuedAt == nil {
		return fail(CodeMalformed, "the iat claim is required", nil)
	}
	life := c.ExpiresAt.Sub(c.IssuedAt.Time)
	if life > v.maxLife {
		return fail(CodeMalformed, fmt.Sprintf("token lifetime %d s exceeds the maximum %d s", ceilSeconds(life), int64(v.maxLife/time.Second)), nil)
	}
	if left := c.ExpiresAt.Sub(now); left > v.maxLife+v.leeway {
		return fail(CodeMalformed, fmt.Sprintf("token expires in %d s, more than the maximum lifetime of %d s allows", ceilSeconds(left), int64(v.maxLife/time.Second)), nil)
	}
	if c.NotBefore != nil && c.NotBefore.After(c.ExpiresAt.Time) {
		return fail(CodeMalformed, "nbf is after exp", nil)
	}
	if err := checkJTI(c.ID); err != nil {
		return fail(CodeMalformed, "jti must be 128 random bits in base64url", err)
	}
	if n, err := NormalizeHostPort(c.Dst); err != nil || n != c.Dst {
		return fail(CodeMalformed, fmt.Sprintf("dst %q is not a normalised host:port", clip(c.Dst)), err)
	}
	if !ValidProto(c.Proto) {
		return fail(CodeMalformed, fmt.Sprintf("proto %q is not telnet, ssh, tn3270, ftp or tcp", clip(c.Proto)), nil)
	}
	if c.Cnf != nil && !wellFormedKID(c.Cnf.JKT) {
		return fail(CodeMalformed, "cnf.jkt must be an RFC 7638 SHA-256 thumbprint in base64url", nil)
	}
	return nil
}

func ceilSeconds(d time.Duration) int64 {
	return int64(math.Ceil(d.Seconds()))
}

package token

import (
	"context"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/termgate/termgate/pki"
)

// failingReplay is a ReplayChecker whose owner node cannot be reached.
type failingReplay struct{ err error }

func (r failingReplay) Check(context.Context, string, time.Time) error { return r.err }

// hmacToken signs header.payload with HMAC-SHA256 keyed by key: the classic
// "verify HS256 with the RSA/EC public key" confusion attack.
func hmacToken(header, payload string, key []byte) string {
	signing := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(payload))
	m := hmac.New(sha256.New, key)
	m.Write([]byte(signing))
	return signing + "." + b64.EncodeToString(m.Sum(nil))
}

func splitTok(t testing.TB, tok string) (h, p, s []byte) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	dec := func(x string) []byte {
		b, err := b64.DecodeString(x)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return dec(parts[0]), dec(parts[1]), dec(parts[2])
}

func joinTok(h, p, s []byte) string {
	return b64.EncodeToString(h) + "." + b64.EncodeToString(p) + "." + b64.EncodeToString(s)
}

// malleate returns the ECDSA twin (r, n−s) of an ES256 token: a second
// valid signature of the same header and claims.
func malleate(t testing.TB, tok string) string {
	h, p, s := splitTok(t, tok)
	sv := new(big.Int).SetBytes(s[32:])
	sv.Sub(p256N, sv)
	out := append([]byte(nil), s[:32]...)
	out = append(out, sv.FillBytes(make([]byte, 32))...)
	return joinTok(h, p, out)
}

// nonZeroTrailingBits re-encodes the header segment of tok so that its last
// base64 character carries non-zero padding bits: the same bytes under a
// lenient decoder, refused by a strict one.
func nonZeroTrailingBits(t testing.TB, header string) string {
	for len(header)%3 == 0 {
		header = strings.TrimSuffix(header, "}") + " }"
	}
	enc := b64.EncodeToString([]byte(header))
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for _, c := range alphabet {
		alt := enc[:len(enc)-1] + string(c)
		if alt == enc {
			continue
		}
		if b, err := base64.RawURLEncoding.DecodeString(alt); err == nil && string(b) == header {
			return alt
		}
	}
	t.Fatal("no alternative encoding found")
	return ""
}

type verifyRow struct {
	name   string
	tok    string
	dst    string        // CONNECT target; "" means example.com:23
	at     time.Duration // verifier clock = t0 + at
	pres   func(p *Presentation)
	prior  string        // presented first on the same verifier; must be accepted
	replay ReplayChecker // nil: a fresh ReplayCache
	want   Code          // "" means accepted
	reason string        // substring of the reason
}

func TestVerifyTable(t *testing.T) {
	f := getFixture(t)
	esIss, edIss := f.issuer(t, f.es), f.issuer(t, f.ed)
	issue := func(iss *Issuer, req Request) string {
		t.Helper()
		if req.Dst == "" {
			req.Dst = "example.com:23"
		}
		if req.Proto == "" {
			req.Proto = ProtoTelnet
		}
		tok, _, err := iss.Issue(req)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	esKID, edKID := pki.KID(f.es.Cert), pki.KID(f.ed.Cert)
	es := func(mod func(map[string]any)) string {
		return craft(t, f.es.Key, AlgES256, hdr(AlgES256, esKID), mustJSON(t, f.claimsAt("mgmt-1", mod)))
	}
	esRaw := func(header, payload string) string { return craft(t, f.es.Key, AlgES256, header, payload) }
	goodPayload := mustJSON(t, f.claimsAt("mgmt-1", nil))
	withMember := func(member string) string { return "{" + member + "," + goodPayload[1:] }

	esTok := issue(esIss, Request{Subject: "alice"})
	edTok := issue(edIss, Request{Subject: "bob"})
	loopTok := issue(esIss, Request{Dst: "127.0.0.1:23"})

	// Proof of possession over two real TLS connections on loopback.
	pairs := tlsPairs(t, f, 2, 0)
	connA, connB := pairs[0], pairs[1]
	pk, err := NewProofKey()
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewProofKey()
	if err != nil {
		t.Fatal(err)
	}
	proofA, keyA, err := pk.Prove(connA.client)
	if err != nil {
		t.Fatal(err)
	}
	otherProofA, otherKeyA, err := other.Prove(connA.client)
	if err != nil {
		t.Fatal(err)
	}
	onA := func(proof, key string) func(*Presentation) {
		return func(p *Presentation) { p.Proof, p.ProofKey, p.Exporter = proof, key, connA.server }
	}
	popES := issue(esIss, Request{PoPKey: pk.JWK()})
	popED := issue(edIss, Request{PoPKey: pk.JWK()})

	// Keys for the HMAC confusion attacks: every public form of the signer's key.
	spki, err := x509.MarshalPKIXPublicKey(f.es.Cert.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	spkiPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki})
	ecdhPub, err := f.es.Cert.PublicKey.(*ecdsa.PublicKey).ECDH()
	if err != nil {
		t.Fatal(err)
	}
	var _ *ecdh.PublicKey = ecdhPub
	hs := func(alg string, key []byte) string { return hmacToken(hdr(alg, esKID), goodPayload, key) }
	none := func(alg string) string {
		return b64.EncodeToString([]byte(hdr(alg, esKID))) + "." + b64.EncodeToString([]byte(goodPayload)) + "."
	}

	// Tampering.
	th, tp, ts := splitTok(t, esTok)
	tamperedPayload := joinTok(th, []byte(strings.Replace(string(tp), "example.com:23", "evil.example:23", 1)), ts)
	badSig := append([]byte(nil), ts...)
	badSig[5] ^= 1
	tamperedSig := joinTok(th, tp, badSig)
	twin := craft(t, f.es.Key, AlgES256, string(th), string(tp)) // same claims, fresh ECDSA nonce

	hugeKID := strings.Repeat("A", 64<<10)
	u := func(c *pki.Cert, iss string) string {
		return craft(t, c.Key, AlgES256, hdr(AlgES256, pki.KID(c.Cert)), mustJSON(t, f.claimsAt(iss, nil)))
	}

	rows := []verifyRow{
		// Accepted.
		{name: "ES256", tok: esTok},
		{name: "EdDSA", tok: edTok},
		{name: "ES256 with proof of possession", tok: popES, pres: onA(proofA, keyA)},
		{name: "EdDSA with proof of possession", tok: popED, pres: onA(proofA, keyA)},
		{name: "proof without cnf is ignored", tok: esTok, pres: onA(proofA, keyA)},
		{name: "aud as a single string", tok: es(func(m map[string]any) { m["aud"] = DefaultAudience })},
		{name: "aud list including ours", tok: es(func(m map[string]any) { m["aud"] = []string{"x", DefaultAudience} })},
		{name: "exp: last instant inside the leeway", tok: esTok, at: DefaultTTL + DefaultLeeway - time.Nanosecond},
		{name: "nbf/iat: exactly at the leeway boundary", tok: esTok, at: -DefaultLeeway},
		{name: "dst upper case with trailing dot", tok: esTok, dst: "EXAMPLE.com.:23"},
		{name: "dst IPv4-mapped IPv6 equals IPv4", tok: loopTok, dst: "[::ffff:127.0.0.1]:23"},
		{name: "bound token survives unavailable replay check", tok: popES, pres: onA(proofA, keyA),
			replay: failingReplay{fmt.Errorf("owner node unreachable: %w", ErrReplayCheckUnavailable)}},

		// token_missing.
		{name: "empty", tok: "", want: CodeMissing},

		// token_malformed: size and structure.
		{name: "larger than 8 KiB", tok: esRaw(hdr(AlgES256, esKID), withMember(`"pad":"`+strings.Repeat("x", MaxSize)+`"`)), want: CodeMalformed, reason: "more than the 8192"},
		{name: "kid of 64 KiB", tok: esRaw(hdr(AlgES256, hugeKID), goodPayload), want: CodeMalformed, reason: "more than the 8192"},
		{name: "two parts", tok: "eyJhbGciOiJFUzI1NiJ9.e30", want: CodeMalformed},
		{name: "four parts", tok: esTok + ".x", want: CodeMalformed},
		{name: "padded base64", tok: strings.Replace(esTok, ".", "=.", 1), want: CodeMalformed},
		{name: "standard (non-url) base64", tok: "+" + esTok[1:], want: CodeMalformed},
		{name: "non-zero trailing bits", tok: func() string {
			_, p, s := splitTok(t, esTok)
			return nonZeroTrailingBits(t, hdr(AlgES256, esKID)) + "." + b64.EncodeToString(p) + "." + b64.EncodeToString(s)
		}(), want: CodeMalformed, reason: "base64"},
		{name: "header not JSON", tok: esRaw("alg=ES256", goodPayload), want: CodeMalformed},
		{name: "header is an array", tok: esRaw(`["ES256"]`, goodPayload), want: CodeMalformed},
		{name: "payload is an array", tok: esRaw(hdr(AlgES256, esKID), `[]`), want: CodeMalformed},
		{name: "payload with trailing data", tok: esRaw(hdr(AlgES256, esKID), goodPayload+`{}`), want: CodeMalformed},
		{name: "payload not UTF-8", tok: esRaw(hdr(AlgES256, esKID), withMember("\"x\":\"\xff\"")), want: CodeMalformed, reason: "UTF-8"},
		{name: "duplicate dst", tok: esRaw(hdr(AlgES256, esKID), withMember(`"dst":"evil.example:23"`)), want: CodeMalformed, reason: `duplicate member "dst"`},
		{name: "duplicate dst differing in case", tok: esRaw(hdr(AlgES256, esKID), withMember(`"DST":"evil.example:23"`)), want: CodeMalformed, reason: `"DST"`},
		{name: "duplicate dst with long s", tok: esRaw(hdr(AlgES256, esKID), withMember(`"dſt":"evil.example:23"`)), want: CodeMalformed, reason: `"dſt"`},
		{name: "dst spelled Dst", tok: esRaw(hdr(AlgES256, esKID), strings.Replace(goodPayload, `"dst"`, `"Dst"`, 1)), want: CodeMalformed, reason: "must be spelled"},
		{name: "duplicate nested member", tok: es(func(m map[string]any) { m["x"] = map[string]any{"a": 1} }) /* replaced below */, want: CodeMalformed},
		{name: "duplicate alg in header", tok: esRaw(`{"alg":"ES256","alg":"ES256","typ":"`+Type+`","kid":"`+esKID+`"}`, goodPayload), want: CodeMalformed, reason: "duplicate"},
		{name: "alg missing", tok: esRaw(`{"typ":"`+Type+`","kid":"`+esKID+`"}`, goodPayload), want: CodeMalformed, reason: "no alg"},
		{name: "kid not a string", tok: esRaw(`{"alg":"ES256","typ":"`+Type+`","kid":7}`, goodPayload), want: CodeMalformed},
		{name: "crit header", tok: esRaw(`{"alg":"ES256","typ":"`+Type+`","kid":"`+esKID+`","crit":["exp"]}`, goodPayload), want: CodeMalformed, reason: "crit"},

		// token_malformed: claims.
		{name: "missing exp", tok: es(func(m map[string]any) { delete(m, "exp") }), want: CodeMalformed, reason: "exp"},
		{name: "missing iat", tok: es(func(m map[string]any) { delete(m, "iat") }), want: CodeMalformed, reason: "iat"},
		{name: "missing iss", tok: es(func(m map[string]any) { delete(m, "iss") }), want: CodeMalformed, reason: "iss"},
		{name: "exp not a number", tok: es(func(m map[string]any) { m["exp"] = "tomorrow" }), want: CodeMalformed},
		{name: "far-future exp beyond the lifetime cap", tok: es(func(m map[string]any) { m["exp"] = f.t0.Add(2 * time.Hour).Unix() }), want: CodeMalformed, reason: "lifetime 7200 s exceeds the maximum 3600 s"},
		{name: "jti missing", tok: es(func(m map[string]any) { delete(m, "jti") }), want: CodeMalformed, reason: "jti"},
		{name: "jti too short", tok: es(func(m map[string]any) { m["jti"] = "abc" }), want: CodeMalformed, reason: "jti"},
		{name: "dst not normalised in the token", tok: es(func(m map[string]any) { m["dst"] = "EXAMPLE.com:23" }), want: CodeMalformed, reason: "normalised"},
		{name: "dst missing", tok: es(func(m map[string]any) { delete(m, "dst") }), want: CodeMalformed, reason: "dst"},
		{name: "unknown proto", tok: es(func(m map[string]any) { m["proto"] = "http" }), want: CodeMalformed, reason: "proto"},
		{name: "cnf without a thumbprint", tok: es(func(m map[string]any) { m["cnf"] = map[string]string{"jkt": "x"} }), want: CodeMalformed, reason: "cnf.jkt"},

		// token_signature.
		{name: "alg none", tok: none("none"), want: CodeSignature, reason: `"none" is not accepted`},
		{name: "alg None", tok: none("None"), want: CodeSignature},
		{name: "alg NONE", tok: none("NONE"), want: CodeSignature},
		{name: "HS256 keyed with the SPKI DER public key", tok: hs("HS256", spki), want: CodeSignature, reason: "HS256"},
		{name: "HS256 keyed with the PEM public key", tok: hs("HS256", spkiPEM), want: CodeSignature},
		{name: "HS256 keyed with the raw EC point", tok: hs("HS256", ecdhPub.Bytes()), want: CodeSignature},
		{name: "HS256 keyed with the certificate PEM", tok: hs("HS256", pki.EncodeCertPEM(f.es.Cert)), want: CodeSignature},
		{name: "HS384 keyed with the PEM public key", tok: hs("HS384", spkiPEM), want: CodeSignature},
		{name: "HS512 keyed with the PEM public key", tok: hs("HS512", spkiPEM), want: CodeSignature},
		{name: "HS256 with an empty key", tok: hs("HS256", nil), want: CodeSignature},
		{name: "RS256", tok: esRaw(hdr("RS256", esKID), goodPayload), want: CodeSignature},
		{name: "ES384", tok: esRaw(hdr("ES384", esKID), goodPayload), want: CodeSignature},
		{name: "ES256 header on an Ed25519 certificate", tok: craft(t, f.ed.Key, AlgEdDSA, hdr(AlgES256, edKID), mustJSON(t, f.claimsAt("mgmt-2", nil))), want: CodeSignature, reason: "does not match"},
		{name: "EdDSA header on an ECDSA certificate", tok: esRaw(hdr(AlgEdDSA, esKID), goodPayload), want: CodeSignature, reason: "does not match"},
		{name: "tampered payload", tok: tamperedPayload, want: CodeSignature},
		{name: "tampered signature", tok: tamperedSig, want: CodeSignature},
		{name: "signature of another key", tok: craft(t, f.outsider.Key, AlgES256, hdr(AlgES256, esKID), goodPayload), want: CodeSignature},
		{name: "truncated ES256 signature", tok: joinTok(th, tp, ts[:63]), want: CodeSignature},
		{name: "duplicate dst differing in case, after it", tok: esRaw(hdr(AlgES256, esKID), strings.Replace(goodPayload, "}", `,"DST":"evil.example:23"}`, 1)), want: CodeMalformed, reason: "duplicate"},
		{name: "malleated ECDSA twin (r, n-s)", tok: malleate(t, esTok), want: CodeSignature, reason: "non-canonical"},
		{name: "malleated twin after the original", tok: malleate(t, esTok), prior: esTok, want: CodeSignature, reason: "non-canonical"},

		// token_untrusted_key.
		{name: "kid missing", tok: esRaw(`{"alg":"ES256","typ":"`+Type+`"}`, goodPayload), want: CodeUntrustedKey, reason: "no kid"},
		{name: "unknown kid", tok: u(f.outsider, "mgmt-x"), want: CodeUntrustedKey, reason: "not in the trust store"},
		{name: "kid of a proxy TLS certificate in the store", tok: u(f.proxy, "proxy-1"), want: CodeUntrustedKey, reason: "lacks the token-signing extended key usage"},
		{name: "kid of the CA certificate", tok: u(&f.ca.Cert, "termgate local CA"), want: CodeUntrustedKey, reason: "lacks the token-signing"},
		{name: "kid path traversal", tok: esRaw(hdr(AlgES256, "../../etc/passwd"), goodPayload), want: CodeUntrustedKey, reason: "not a termgate key id"},
		{name: "kid 43 bytes not base64url", tok: esRaw(hdr(AlgES256, strings.Repeat("/", 43)), goodPayload), want: CodeUntrustedKey, reason: "not a termgate key id"},
		{name: "expired signing certificate", tok: u(f.expired, "mgmt-old"), want: CodeUntrustedKey, reason: "expired at"},
		{name: "signing certificate not yet valid", tok: u(f.future, "mgmt-new"), want: CodeUntrustedKey, reason: "not valid before"},
		{name: "signing certificate with an RSA key", tok: esRaw(hdr(AlgES256, pki.KID(f.rsaSigner(t).Cert)), goodPayload), want: CodeUntrustedKey, reason: "cannot sign tokens"},
		{name: "iss is another node", tok: es(func(m map[string]any) { m["iss"] = "mgmt-2" }), want: CodeUntrustedKey, reason: `iss "mgmt-2"`},
		{name: "jwk header", tok: esRaw(`{"alg":"ES256","typ":"`+Type+`","kid":"`+esKID+`","jwk":{"kty":"EC"}}`, goodPayload), want: CodeUntrustedKey, reason: "jwk"},
		{name: "jku header", tok: esRaw(`{"alg":"ES256","typ":"`+Type+`","kid":"`+esKID+`","jku":"https://evil.example/jwks"}`, goodPayload), want: CodeUntrustedKey, reason: "jku"},
		{name: "x5c header", tok: esRaw(`{"alg":"ES256","typ":"`+Type+`","kid":"`+esKID+`","x5c":["MII="]}`, goodPayload), want: CodeUntrustedKey, reason: "x5c"},
		{name: "x5u header", tok: esRaw(`{"alg":"ES256","typ":"`+Type+`","kid":"`+esKID+`","x5u":"https://evil.example/c.pem"}`, goodPayload), want: CodeUntrustedKey, reason: "x5u"},

		// token_expired / token_not_yet_valid (fake clock).
		{name: "expired one second past the leeway", tok: esTok, at: DefaultTTL + DefaultLeeway + time.Second, want: CodeExpired, reason: "expired 31 s ago"},
		{name: "expired at exactly exp+leeway (RFC 7519: now must be before exp)", tok: esTok, at: DefaultTTL + DefaultLeeway, want: CodeExpired},
		{name: "not yet valid one second past the leeway", tok: esTok, at: -DefaultLeeway - time.Second, want: CodeNotYetValid, reason: "ahead by 31 s"},
		{name: "iat in the future without nbf", tok: es(func(m map[string]any) {
			delete(m, "nbf")
			m["iat"] = f.t0.Add(60 * time.Second).Unix()
			m["exp"] = f.t0.Add(180 * time.Second).Unix()
		}), want: CodeNotYetValid, reason: "ahead by 60 s"},

		// token_audience / token_type.
		{name: "wrong aud", tok: es(func(m map[string]any) { m["aud"] = []string{"other-proxy"} }), want: CodeAudience, reason: "other-proxy"},
		{name: "typ JWT", tok: esRaw(`{"alg":"ES256","typ":"JWT","kid":"`+esKID+`"}`, goodPayload), want: CodeType, reason: `"JWT"`},
		{name: "typ in another case", tok: esRaw(`{"alg":"ES256","typ":"TG-AUTHZ+JWT","kid":"`+esKID+`"}`, goodPayload), want: CodeType},
		{name: "typ missing", tok: esRaw(`{"alg":"ES256","kid":"`+esKID+`"}`, goodPayload), want: CodeType},

		// destination_mismatch.
		{name: "dst other host", tok: esTok, dst: "example.org:23", want: CodeDestinationMismatch, reason: "the token is for example.com:23"},
		{name: "dst other port", tok: esTok, dst: "example.com:24", want: CodeDestinationMismatch},
		{name: "dst port with a leading zero", tok: esTok, dst: "example.com:023", want: CodeDestinationMismatch, reason: "leading zeros"},
		{name: "dst 127.1", tok: loopTok, dst: "127.1:23", want: CodeDestinationMismatch, reason: "dotted-quad"},
		{name: "dst 0x7f.0.0.1", tok: loopTok, dst: "0x7f.0.0.1:23", want: CodeDestinationMismatch, reason: "dotted-quad"},
		{name: "dst 2130706433", tok: loopTok, dst: "2130706433:23", want: CodeDestinationMismatch},
		{name: "dst 0177.0.0.1", tok: loopTok, dst: "0177.0.0.1:23", want: CodeDestinationMismatch},
		{name: "dst empty", tok: esTok, dst: ":23", want: CodeDestinationMismatch},

		// Replay.
		{name: "replayed jti", tok: esTok, prior: esTok, want: CodeReplayed},
		{name: "re-signed twin with the same jti", tok: twin, prior: esTok, want: CodeReplayed},
		{name: "replayed bound token", tok: popES, pres: onA(proofA, keyA), prior: popES, want: CodeReplayed},
		{name: "replay check unavailable", tok: esTok, replay: failingReplay{fmt.Errorf("owner node unreachable: %w", ErrReplayCheckUnavailable)}, want: CodeReplayCheckUnavailable},
		{name: "replay check fails without a sentinel", tok: esTok, replay: failingReplay{errors.New("boom")}, want: CodeReplayCheckUnavailable},
		{name: "replay reported by a remote checker", tok: esTok, replay: failingReplay{fmt.Errorf("owner says: %w", ErrReplayed)}, want: CodeReplayed},

		// Proof of possession.
		{name: "cnf without proof", tok: popES, want: CodeProofMissing},
		{name: "cnf with proof but no key header", tok: popES, pres: onA(proofA, ""), want: CodeProofMissing},
		{name: "proof made over another connection", tok: popES, pres: func(p *Presentation) {
			p.Proof, p.ProofKey, p.Exporter = proofA, keyA, connB.server
		}, want: CodeProofInvalid, reason: "another connection"},
		{name: "proof by another key", tok: popES, pres: onA(otherProofA, otherKeyA), want: CodeProofInvalid, reason: "another key"},
		{name: "proof key header not base64url", tok: popES, pres: onA(proofA, "%%%"), want: CodeProofInvalid},
		{name: "proof not base64url", tok: popES, pres: onA("%%%", keyA), want: CodeProofInvalid},
		{name: "proof without exporter", tok: popES, pres: func(p *Presentation) { p.Proof, p.ProofKey = proofA, keyA }, want: CodeProofInvalid, reason: "exporter"},
	}
	// A nested duplicate needs hand-written JSON.
	for i := range rows {
		if rows[i].name == "duplicate nested member" {
			rows[i].tok = esRaw(hdr(AlgES256, esKID), withMember(`"x":{"a":1,"a":2}`))
		}
	}

	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			now := f.t0.Add(r.at)
			replay := r.replay
			if replay == nil {
				replay = NewReplayCache(16)
			}
			v := NewVerifier(VerifierConfig{Trust: f.trust, Replay: replay, Now: func() time.Time { return now }})
			present := func(tok string) Presentation {
				p := Presentation{Token: tok, Dst: r.dst}
				if p.Dst == "" {
					p.Dst = "example.com:23"
					if tok == loopTok {
						p.Dst = "127.0.0.1:23"
					}
				}
				if r.pres != nil {
					r.pres(&p)
				}
				return p
			}
			if r.prior != "" {
				if _, err := v.Verify(context.Background(), present(r.prior)); err != nil {
					t.Fatalf("first presentation: %v", err)
				}
			}
			c, err := v.Verify(context.Background(), present(r.tok))
			if r.want == "" {
				if err != nil {
					t.Fatalf("Verify = %v, want accepted", err)
				}
				if c == nil || c.ID == "" {
					t.Fatalf("accepted without claims: %+v", c)
				}
				return
			}
			if err == nil {
				t.Fatalf("Verify accepted the token, want %s", r.want)
			}
			if c != nil {
				t.Errorf("claims returned with an error")
			}
			var te *Error
			if !errors.As(err, &te) {
				t.Fatalf("error %T is not *Error: %v", err, err)
			}
			if te.Code != r.want || CodeOf(err) != r.want {
				t.Fatalf("code = %s (%v), want %s", te.Code, err, r.want)
			}
			if !errors.Is(err, r.want.Sentinel()) {
				t.Errorf("errors.Is(err, sentinel of %s) = false", r.want)
			}
			for _, other := range allCodes {
				if other != r.want && errors.Is(err, other.Sentinel()) {
					t.Errorf("error also matches %s", other)
				}
			}
			if r.reason != "" && !strings.Contains(te.Reason, r.reason) {
				t.Errorf("reason %q does not contain %q", te.Reason, r.reason)
			}
			if len(r.tok) > 40 && strings.Contains(err.Error(), r.tok) {
				t.Errorf("error message contains the token")
			}
			if strings.ContainsAny(te.Reason, "\n\r") {
				t.Errorf("reason is not one line: %q", te.Reason)
			}
		})
	}
	t.Logf("%d rows", len(rows))
}

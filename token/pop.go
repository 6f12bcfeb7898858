package token

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"runtime/debug"
	"strings"
)

// popContext prefixes the exporter value in every proof signature, so a
// proof can never be mistaken for a signature made for another purpose.
const popContext = "termgate-pop-v1\x00"

// Size limits of the proof headers and of a JWK.
const (
	maxJWKSize      = 2048
	maxProofKeySize = 4096 // b64url of a JWK
	maxProofSize    = 256
)

// JWK is a public key in JSON Web Key form (RFC 7517): EC P-256 or OKP
// Ed25519 (RFC 8037) only.
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y,omitempty"`
}

// jwkMembers are the members ParseJWK knows; any other is refused.
var jwkMembers = []string{"kty", "crv", "x", "y", "alg", "use", "kid", "key_ops", "ext",
	"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// ParseJWK decodes a public JWK strictly: one JSON object, no duplicate
// members, kty/crv EC/P-256 (x, y: 32 bytes each, a point on the curve) or
// OKP/Ed25519 (x: 32 bytes, no y), unpadded base64url with zero trailing
// bits. It refuses private members (d, and the RSA and symmetric ones) and
// unknown members; alg, use, kid, key_ops and ext are allowed and ignored.
func ParseJWK(b []byte) (*JWK, error) {
	if len(b) > maxJWKSize {
		return nil, fmt.Errorf("JWK is %d bytes, more than %d", len(b), maxJWKSize)
	}
	if _, err := checkJSON(b, jwkMembers); err != nil {
		return nil, fmt.Errorf("JWK: %w", err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("JWK: %w", err)
	}
	var k JWK
	fields := map[string]*string{"kty": &k.Kty, "crv": &k.Crv, "x": &k.X, "y": &k.Y}
	for name, raw := range m {
		switch name {
		case "kty", "crv", "x", "y":
			if err := json.Unmarshal(raw, fields[name]); err != nil {
				return nil, fmt.Errorf("JWK member %s is not a string", name)
			}
		case "alg", "use", "kid", "key_ops", "ext":
		case "d", "p", "q", "dp", "dq", "qi", "oth", "k":
			return nil, fmt.Errorf("JWK has private member %q: send the public key only", name)
		default:
			return nil, fmt.Errorf("JWK has unknown member %q", clip(name))
		}
	}
	if _, err := k.PublicKey(); err != nil {
		return nil, err
	}
	return &k, nil
}

// PublicKey validates k and returns its key: *ecdsa.PublicKey or ed25519.PublicKey.
func (k *JWK) PublicKey() (crypto.PublicKey, error) {
	coord := func(name, v string) ([]byte, error) {
		b, err := b64Strict.DecodeString(v)
		if err != nil || len(b) != 32 {
			return nil, fmt.Errorf("JWK %s must be 32 bytes in unpadded base64url", name)
		}
		return b, nil
	}
	switch {
	case k.Kty == "EC" && k.Crv == "P-256":
		x, err := coord("x", k.X)
		if err != nil {
			return nil, err
		}
		y, err := coord("y", k.Y)
		if err != nil {
			return nil, err
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return nil, errors.New("JWK point is not on the P-256 curve")
		}
		return pub, nil
	case k.Kty == "OKP" && k.Crv == "Ed25519":
		if k.Y != "" {
			return nil, errors.New("an OKP JWK has no y")
		}
		x, err := coord("x", k.X)
		if err != nil {
			return nil, err
		}
		return ed25519.PublicKey(x), nil
	}
	return nil, fmt.Errorf("JWK kty %q crv %q: only EC P-256 and OKP Ed25519 are supported", clip(k.Kty), clip(k.Crv))
}

// JWKFromPublicKey returns the JWK of an ECDSA P-256 or Ed25519 public key.
func JWKFromPublicKey(pub crypto.PublicKey) (*JWK, error) {
	switch p := pub.(type) {
	case *ecdsa.PublicKey:
		if p.Curve != elliptic.P256() {
			return nil, errors.New("only ECDSA P-256 keys have a termgate JWK")
		}
		e, err := p.ECDH()
		if err != nil {
			return nil, err
		}
		b := e.Bytes() // 0x04 || x || y
		return &JWK{Kty: "EC", Crv: "P-256", X: b64.EncodeToString(b[1:33]), Y: b64.EncodeToString(b[33:65])}, nil
	case ed25519.PublicKey:
		if len(p) != ed25519.PublicKeySize {
			return nil, errors.New("bad Ed25519 public key size")
		}
		return &JWK{Kty: "OKP", Crv: "Ed25519", X: b64.EncodeToString(p)}, nil
	}
	return nil, fmt.Errorf("%T has no termgate JWK: use ECDSA P-256 or Ed25519", pub)
}

// Thumbprint is the RFC 7638 JWK thumbprint: the unpadded base64url
// SHA-256 of the required members in lexicographic order without spaces.
func (k *JWK) Thumbprint() string {
	var buf bytes.Buffer
	buf.WriteString(`{"crv":`)
	writeJSONString(&buf, k.Crv)
	buf.WriteString(`,"kty":`)
	writeJSONString(&buf, k.Kty)
	buf.WriteString(`,"x":`)
	writeJSONString(&buf, k.X)
	if k.Kty == "EC" {
		buf.WriteString(`,"y":`)
		writeJSONString(&buf, k.Y)
	}
	buf.WriteByte('}')
	sum := sha256.Sum256(buf.Bytes())
	return b64.EncodeToString(sum[:])
}

func writeJSONString(buf *bytes.Buffer, s string) {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	enc.Encode(s)               // a string always encodes
	buf.Truncate(buf.Len() - 1) // Encode's newline
}

// ProofKey is an ephemeral ECDSA P-256 key that proves possession for a
// token carrying its thumbprint in cnf.jkt. It is safe for concurrent use.
type ProofKey struct {
	key    *ecdsa.PrivateKey
	jwk    JWK
	header string
}

// NewProofKey generates a proof key.
func NewProofKey() (*ProofKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	j, err := JWKFromPublicKey(&k.PublicKey)
	if err != nil {
		return nil, err
	}
	js, err := json.Marshal(j)
	if err != nil {
		return nil, err
	}
	return &ProofKey{key: k, jwk: *j, header: b64.EncodeToString(js)}, nil
}

// JWK returns the public key, to send at launch (pop_jwk).
func (k *ProofKey) JWK() *JWK {
	j := k.jwk
	return &j
}

// Prove signs the exporter value of the TLS connection the token is about
// to be presented on. It returns the Termgate-Proof header value (b64url of
// the 64-byte r||s ES256 signature over SHA-256("termgate-pop-v1\x00" ||
// exporter)) and the Termgate-Proof-Key header value (b64url of the JWK).
func (k *ProofKey) Prove(exporter []byte) (proof, proofKeyHeader string, err error) {
	if len(exporter) != ExporterLength {
		return "", "", fmt.Errorf("exporter value must be %d bytes (see Exporter), got %d", ExporterLength, len(exporter))
	}
	d := popDigest(exporter)
	der, err := ecdsa.SignASN1(rand.Reader, k.key, d[:])
	if err != nil {
		return "", "", err
	}
	raw, err := rawECDSA(der)
	if err != nil {
		return "", "", err
	}
	return b64.EncodeToString(raw), k.header, nil
}

func popDigest(exporter []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(popContext))
	h.Write(exporter)
	var d [32]byte
	h.Sum(d[:0])
	return d
}

// VerifyProof checks a proof made by ProofKey.Prove (or any EC P-256 or
// Ed25519 key over the same input) against the exporter value of the
// connection it arrived on, and returns the RFC 7638 thumbprint of the
// key that made it. Errors are *Error with CodeProofInvalid.
func VerifyProof(proof, proofKeyHeader string, exporter []byte) (thumbprint string, err error) {
	if len(exporter) != ExporterLength {
		return "", fail(CodeProofInvalid, "no TLS exporter value for this connection: TLS 1.3, or TLS 1.2 with extended master secret, is required", nil)
	}
	if len(proofKeyHeader) > maxProofKeySize || len(proof) > maxProofSize {
		return "", fail(CodeProofInvalid, "Termgate-Proof or Termgate-Proof-Key is too long", nil)
	}
	js, err := b64Strict.DecodeString(proofKeyHeader)
	if err != nil {
		return "", fail(CodeProofInvalid, "Termgate-Proof-Key is not unpadded base64url", err)
	}
	jwk, err := ParseJWK(js)
	if err != nil {
		return "", fail(CodeProofInvalid, "Termgate-Proof-Key: "+err.Error(), err)
	}
	pub, err := jwk.PublicKey()
	if err != nil {
		return "", fail(CodeProofInvalid, "Termgate-Proof-Key: "+err.Error(), err)
	}
	sig, err := b64Strict.DecodeString(proof)
	if err != nil {
		return "", fail(CodeProofInvalid, "Termgate-Proof is not unpadded base64url", err)
	}
	ok := false
	switch p := pub.(type) {
	case *ecdsa.PublicKey:
		if len(sig) == 64 {
			d := popDigest(exporter)
			ok = ecdsa.Verify(p, d[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
		}
	case ed25519.PublicKey:
		msg := append([]byte(popContext), exporter...)
		ok = ed25519.Verify(p, msg, sig)
	}
	if !ok {
		return "", fail(CodeProofInvalid, "Termgate-Proof does not verify over this TLS connection's exporter value (made for another connection, or by another key)", nil)
	}
	return jwk.Thumbprint(), nil
}

// Exporter returns ExportKeyingMaterial(ExporterLabel, nil, ExporterLength)
// of a TLS connection (RFC 5705, RFC 8446 §7.5). It refuses TLS 1.2 without
// extended master secret (RFC 7627), where the exporter is not unique to the
// connection: crypto/tls refuses it itself, and since crypto/tls does not
// say whether extended master secret was negotiated, Exporter also refuses
// TLS 1.2 when GODEBUG tlsunsafeekm=1 lifts that refusal. Errors are *Error
// with CodeProofInvalid (they wrap ErrProofInvalid).
func Exporter(cs tls.ConnectionState) (ekm []byte, err error) {
	if !cs.HandshakeComplete {
		return nil, fail(CodeProofInvalid, "the TLS handshake is not complete", nil)
	}
	switch cs.Version {
	case tls.VersionTLS13:
	case tls.VersionTLS12:
		if unsafeEKM() {
			return nil, fail(CodeProofInvalid, "GODEBUG tlsunsafeekm=1 is set, so TLS 1.2 exporters may lack extended master secret: use TLS 1.3", nil)
		}
	default:
		return nil, fail(CodeProofInvalid, fmt.Sprintf("TLS version %#04x is too old for proof of possession", cs.Version), nil)
	}
	defer func() {
		if r := recover(); r != nil { // a ConnectionState not made by crypto/tls
			ekm, err = nil, fail(CodeProofInvalid, "the connection state cannot export keying material", nil)
		}
	}()
	b, xerr := cs.ExportKeyingMaterial(ExporterLabel, nil, ExporterLength)
	if xerr != nil {
		return nil, fail(CodeProofInvalid, "the TLS connection cannot export keying material (TLS 1.2 without extended master secret, or renegotiation enabled): "+xerr.Error(), xerr)
	}
	return b, nil
}

// unsafeEKM reports whether GODEBUG (or the binary's default GODEBUG)
// sets tlsunsafeekm=1.
func unsafeEKM() bool {
	val := func(list string) (string, bool) {
		v, found := "", false
		for kv := range strings.SplitSeq(list, ",") {
			if k, x, ok := strings.Cut(strings.TrimSpace(kv), "="); ok && k == "tlsunsafeekm" {
				v, found = x, true
			}
		}
		return v, found
	}
	if v, ok := val(os.Getenv("GODEBUG")); ok {
		return v == "1"
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "DefaultGODEBUG" {
				v, _ := val(s.Value)
				return v == "1"
			}
		}
	}
	return false
}

package token

import (
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Token format constants (docs/protocol.md).
const (
	// Type is the JWS header typ of a termgate authorization token.
	Type = "tg-authz+jwt"
	// DefaultAudience is the aud a proxy expects unless configured otherwise.
	DefaultAudience = "termgate-proxy"
	// DefaultTTL is the lifetime of a token when a Request names none.
	DefaultTTL = 120 * time.Second
	// MaxTTL is the longest lifetime an Issuer grants and a Verifier accepts.
	MaxTTL = time.Hour
	// DefaultLeeway is the clock skew a Verifier tolerates.
	DefaultLeeway = 30 * time.Second
	// MaxSize is the largest token, in bytes, that Parse looks at.
	MaxSize = 8 << 10
	// ExporterLabel is the RFC 5705 label of the proof-of-possession exporter.
	ExporterLabel = "EXPORTER-termgate-pop"
	// ExporterLength is the length in bytes of the exporter value (see Exporter).
	ExporterLength = 32
)

// Protocols a token may name in its proto claim.
const (
	ProtoTelnet = "telnet"
	ProtoSSH    = "ssh"
	ProtoTN3270 = "tn3270"
	ProtoFTP    = "ftp"
	ProtoTCP    = "tcp"
)

// ValidProto reports whether p is one of the Proto constants.
func ValidProto(p string) bool {
	switch p {
	case ProtoTelnet, ProtoSSH, ProtoTN3270, ProtoFTP, ProtoTCP:
		return true
	}
	return false
}

// Confirmation is the cnf claim (RFC 7800): the RFC 7638 thumbprint of the
// key whose holder may use the token.
type Confirmation struct {
	JKT string `json:"jkt"`
}

// Claims are the claims of a termgate authorization token.
type Claims struct {
	jwt.RegisteredClaims               // iss, sub, aud, exp, nbf, iat, jti
	Dst                  string        `json:"dst"`
	Proto                string        `json:"proto"`
	Ses                  string        `json:"ses,omitempty"`
	Cnf                  *Confirmation `json:"cnf,omitempty"`
	HTLS                 bool          `json:"htls,omitempty"`
}

// CheckDestination compares the token's dst with a CONNECT target after
// normalising both with NormalizeHostPort. It returns nil, an *Error with
// CodeDestinationMismatch, or one with CodeMalformed if the token's own dst
// is not a host:port (Parse refuses such tokens already).
func (c *Claims) CheckDestination(target string) error {
	want, err := NormalizeHostPort(c.Dst)
	if err != nil {
		return fail(CodeMalformed, "the token's dst is not a valid host:port: "+err.Error(), err)
	}
	got, err := NormalizeHostPort(target)
	if err != nil {
		return fail(CodeDestinationMismatch, "the target is not a valid host:port: "+err.Error(), err)
	}
	if got != want {
		return fail(CodeDestinationMismatch, "the token is for "+want+", not for "+got, nil)
	}
	return nil
}

// knownClaims are the payload members encoding/json would match into
// Claims; a member that differs from one of them only in case is refused.
var knownClaims = []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "dst", "proto", "ses", "cnf", "htls"}

// knownHeaders are the header members termgate reads or refuses by name.
var knownHeaders = []string{"alg", "typ", "kid", "jku", "x5u", "jwk", "x5c", "crit", "x5t", "x5t#S256", "cty", "b64", "zip"}

package token

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// decodeClaims sets c from the top-level members of a payload that
// scanJSON accepted with knownClaims, exactly as json.Unmarshal into a
// Claims would (FuzzDecodeClaims compares the two). scanJSON has refused
// duplicates and every other spelling of the claim names, so each field is
// matched by its exact name at most once and unknown members are ignored, as
// encoding/json ignores them. The common forms (plain strings, integer
// dates, aud as a string or an array of plain strings) are decoded without
// reflection; every other value goes to encoding/json or to the claim type's
// own UnmarshalJSON, as json.Unmarshal would send it. The dates and a
// single audience are stored in st, which must be fresh.
func decodeClaims(members []member, c *Claims, st *claimsStorage) error {
	for _, m := range members {
		var err error
		switch m.name {
		case "iss":
			err = decodeStringClaim(m.raw, &c.Issuer)
		case "sub":
			err = decodeStringClaim(m.raw, &c.Subject)
		case "jti":
			err = decodeStringClaim(m.raw, &c.ID)
		case "dst":
			err = decodeStringClaim(m.raw, &c.Dst)
		case "proto":
			err = decodeStringClaim(m.raw, &c.Proto)
		case "ses":
			err = decodeStringClaim(m.raw, &c.Ses)
		case "aud":
			err = decodeAudience(m.raw, &c.Audience, &st.aud)
		case "exp":
			err = decodeDate(m.raw, &c.ExpiresAt, &st.dates[0])
		case "nbf":
			err = decodeDate(m.raw, &c.NotBefore, &st.dates[1])
		case "iat":
			err = decodeDate(m.raw, &c.IssuedAt, &st.dates[2])
		case "htls":
			switch m.raw {
			case "true":
				c.HTLS = true
			case "false":
				c.HTLS = false
			default:
				err = json.Unmarshal([]byte(m.raw), &c.HTLS)
			}
		case "cnf":
			err = json.Unmarshal([]byte(m.raw), &c.Cnf)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// claimsStorage holds what decodeClaims would otherwise allocate one by one.
type claimsStorage struct {
	dates [3]jwt.NumericDate // exp, nbf, iat
	aud   [1]string
}

// plainString returns the contents of a JSON string without escapes. Valid
// JSON has no control characters in a string and scanJSON has checked UTF-8,
// so these bytes are exactly what encoding/json would decode.
func plainString(raw string) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || strings.IndexByte(raw, '\\') >= 0 {
		return "", false
	}
	return raw[1 : len(raw)-1], true
}

func decodeStringClaim(raw string, dst *string) error {
	if s, ok := plainString(raw); ok {
		*dst = s
		return nil
	}
	return json.Unmarshal([]byte(raw), dst) // escapes, null (no change), or a type error
}

// decodeDate decodes a NumericDate the way encoding/json does for a
// *jwt.NumericDate field: null leaves it nil, any other value goes to
// (*jwt.NumericDate).UnmarshalJSON. A non-negative integer of at most 15
// digits is exact as a float64, so for it that method computes
// time.Unix(n, 0) truncated to jwt.TimePrecision, which is done here directly.
func decodeDate(raw string, dst **jwt.NumericDate, d *jwt.NumericDate) error {
	if raw == "null" {
		*dst = nil
		return nil
	}
	*dst = d
	if n, ok := smallUint(raw); ok {
		d.Time = time.Unix(n, 0).Truncate(jwt.TimePrecision)
		return nil
	}
	return d.UnmarshalJSON([]byte(raw))
}

// smallUint parses 1 to 15 decimal digits.
func smallUint(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 15 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// decodeAudience decodes aud as (*jwt.ClaimStrings).UnmarshalJSON does: a
// plain string or a non-empty array of plain strings directly, anything
// else (null, [], escapes, wrong types) by that method.
func decodeAudience(raw string, dst *jwt.ClaimStrings, one *[1]string) error {
	if s, ok := plainString(raw); ok {
		one[0] = s
		*dst = one[:]
		return nil
	}
	if aud, ok := plainStringArray(raw, one); ok {
		*dst = aud
		return nil
	}
	return dst.UnmarshalJSON([]byte(raw))
}

// plainStringArray decodes a valid JSON array whose elements are all plain
// strings, and at least one; a single one is stored in one.
func plainStringArray(raw string, one *[1]string) ([]string, bool) {
	if len(raw) < 2 || raw[0] != '[' {
		return nil, false
	}
	n := 0
	for i := 1; i < len(raw); i++ {
		switch raw[i] {
		case '"':
			n++
			j := strings.IndexByte(raw[i+1:], '"')
			if j < 0 {
				return nil, false
			}
			i += j + 1
		case '\\', '[', '{':
			return nil, false
		}
	}
	if n == 0 {
		return nil, false
	}
	var out []string
	if n <= len(one) {
		out = one[:0]
	} else {
		out = make([]string, 0, n)
	}
	pos := 1
	for {
		pos = skipSpaceString(raw, pos)
		if raw[pos] != '"' {
			return nil, false // a number, true, false or null
		}
		end := pos + 1 + strings.IndexByte(raw[pos+1:], '"')
		out = append(out, raw[pos+1:end])
		pos = skipSpaceString(raw, end+1)
		switch raw[pos] {
		case ',':
			pos++
		case ']':
			return out, true
		default:
			return nil, false
		}
	}
}

func skipSpaceString(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// claimsDecoder is what Parse hands to golang-jwt: the Claims that Parse
// decoded from the payload it scanned, and that payload. golang-jwt
// verifies the signature over the segment it decodes itself and validates
// the claims; UnmarshalJSON makes sure those are the bytes Parse decoded,
// so the claims validated and returned are the signed ones.
type claimsDecoder struct {
	*Claims
	payload []byte
}

var errPayloadMismatch = errors.New("payload differs from the one scanned")

// UnmarshalJSON accepts only the payload the claims were decoded from.
func (d *claimsDecoder) UnmarshalJSON(b []byte) error {
	if !bytes.Equal(b, d.payload) {
		return errPayloadMismatch
	}
	return nil
}

package token

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var decodeClaimsCases = []string{
	`{"iss":"mgmt-1","sub":"alice","aud":["termgate-proxy"],"exp":1700000120,"nbf":1700000000,"iat":1700000000,"jti":"AAAAAAAAAAAAAAAAAAAAAA","dst":"example.com:23","proto":"telnet"}`,
	`{"aud":"termgate-proxy","exp":1700000120.5,"iat":"1700000000","nbf":null}`,
	`{"aud":["a","b" , "c"],"exp":-1,"iat":1e3,"nbf":0}`,
	`{"aud":[],"exp":123456789012345,"iat":1234567890123456,"nbf":99999999999999999999}`,
	`{"aud":null,"iss":null,"dst":null,"htls":null,"cnf":null}`,
	`{"aud":["a",1],"exp":true}`,
	`{"aud":[["a"]],"iss":7}`,
	`{"aud":[{"x":"a"}]}`,
	`{"aud":["\u0061","b\"c"],"iss":"m\u0067mt","dst":"a\\b"}`,
	`{"exp":"x"}`, `{"exp":{}}`, `{"exp":[]}`, `{"exp":"1e2"}`, `{"exp":1.5e300}`, `{"exp":-0}`,
	`{"htls":true,"ses":"s"}`, `{"htls":false}`, `{"htls":1}`, `{"htls":"true"}`,
	`{"cnf":{"jkt":"x"}}`, `{"cnf":{"JKT":"y"}}`, `{"cnf":{"jKt":"z"}}`, `{"cnf":{"kid":"z"}}`, `{"cnf":"x"}`, `{"cnf":[]}`,
	`{"d\u0073t":"x","unknown":{"dst":"y"},"other":[1,2]}`,
	`{"proto":"telnet","x":"\ud800"}`, `{"proto":"\ud800"}`,
	`{ "iss" : "a" , "aud" : [ "x" ] }`,
}

// FuzzDecodeClaims checks that decodeClaims reads a scanned payload exactly
// as json.Unmarshal into a Claims does: the same fields, or an error from both.
func FuzzDecodeClaims(f *testing.F) {
	for _, c := range decodeClaimsCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ms, err := checkJSON(b, knownClaims)
		if err != nil {
			return
		}
		var got, want Claims
		gerr := decodeClaims(ms, &got, new(claimsStorage))
		werr := json.Unmarshal(b, &want)
		if (gerr == nil) != (werr == nil) {
			t.Fatalf("%s: decodeClaims error %v, json.Unmarshal error %v", b, gerr, werr)
		}
		if gerr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%s:\ndecodeClaims = %+v\njson.Unmarshal = %+v", b, got, want)
		}
	})
}

func TestDecodeClaimsAgreesWithEncodingJSON(t *testing.T) {
	for _, c := range decodeClaimsCases {
		ms, err := checkJSON([]byte(c), knownClaims)
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		var got, want Claims
		gerr := decodeClaims(ms, &got, new(claimsStorage))
		werr := json.Unmarshal([]byte(c), &want)
		if (gerr == nil) != (werr == nil) {
			t.Errorf("%s: decodeClaims error %v, json.Unmarshal error %v", c, gerr, werr)
			continue
		}
		if gerr == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\ndecodeClaims = %+v\njson.Unmarshal = %+v", c, got, want)
		}
	}
}

func TestDecodeClaimsValues(t *testing.T) {
	ms, err := checkJSON([]byte(decodeClaimsCases[0]), knownClaims)
	if err != nil {
		t.Fatal(err)
	}
	var c Claims
	if err := decodeClaims(ms, &c, new(claimsStorage)); err != nil {
		t.Fatal(err)
	}
	if c.Issuer != "mgmt-1" || c.Subject != "alice" || c.Dst != "example.com:23" || c.Proto != ProtoTelnet ||
		len(c.Audience) != 1 || c.Audience[0] != DefaultAudience || c.ExpiresAt == nil ||
		!c.ExpiresAt.Equal(time.Unix(1700000120, 0)) || c.IssuedAt == nil || c.NotBefore == nil {
		t.Fatalf("decodeClaims = %+v", c)
	}
}

// The claims golang-jwt validates must be the ones decoded from the payload
// it verified: the decoder refuses any other payload.
func TestClaimsDecoderRefusesOtherPayload(t *testing.T) {
	d := &claimsDecoder{Claims: new(Claims), payload: []byte(`{"dst":"example.com:23"}`)}
	if err := json.Unmarshal([]byte(`{"dst":"example.com:23"}`), d); err != nil {
		t.Fatalf("same payload: %v", err)
	}
	if err := json.Unmarshal([]byte(`{"dst":"evil.example:23"}`), d); !errors.Is(err, errPayloadMismatch) {
		t.Fatalf("other payload: err = %v, want errPayloadMismatch", err)
	}
	var claims jwt.Claims = d
	if err := json.Unmarshal([]byte(`{"dst":"evil.example:23"}`), &claims); !errors.Is(err, errPayloadMismatch) {
		t.Fatalf("through the jwt.Claims interface, as golang-jwt decodes: err = %v", err)
	}
}

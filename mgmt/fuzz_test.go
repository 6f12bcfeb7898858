package mgmt

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"testing"

	"github.com/termgate/termgate/pki"
)

// requestTypes are every body the API decodes.
func requestTypes() []any {
	return []any{&LoginRequest{}, &TokenRequest{}, &LaunchRequest{}, &UserSpec{}, &SessionDef{}, &APIKeySpec{},
		&SecurityPatch{}, &RotateKeyRequest{}, &pki.EnrollRequest{}}
}

func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"username":"admin","password":"x"}`,
		`{"host":"db2.example.com","port":23,"protocol":"telnet","ttl_s":60,"pop_jwk":{"kty":"EC"}}`,
		`{"password":"p","role":"admin","sessions":["a"],"destinations":["*:*"]}`,
		`{"protocol":"tn3270","host":"h","port":992,"terminal":{"model":"IBM-3278-2-E","rows":24,"cols":80,"codepage":"cp037"},"host_tls":true}`,
		`{"code":"tge_x","node_id":"p1","certificate":"-----BEGIN CERTIFICATE-----"}`,
		`{"verify_server_identity":false,"allowed_networks":["10.0.0.0/8"]}`,
		`{"a":1}{"b":2}`, `[]`, `{"port":1e400}`, `{"username":"\ud800"}`, ` {} `, ``,
	} {
		f.Add([]byte(s))
	}
	const limit = 4096
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, v := range requestTypes() {
			err := DecodeJSON(bytes.NewReader(data), v, limit)
			if err == nil {
				if len(data) > limit {
					t.Fatalf("accepted %d bytes over the %d limit", len(data), limit)
				}
				if !json.Valid(data) {
					t.Fatalf("accepted invalid JSON %q", data)
				}
				if _, err := json.Marshal(v); err != nil {
					t.Fatalf("decoded value does not marshal: %v", err)
				}
				continue
			}
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("error %v is not an APIError", err)
			}
			if ae.Status != http.StatusBadRequest && ae.Status != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %d for a bad body", ae.Status)
			}
			if len(data) > limit && ae.Status != http.StatusRequestEntityTooLarge {
				t.Fatalf("oversized body gave %d", ae.Status)
			}
		}
	})
}

func FuzzDestPattern(f *testing.F) {
	for _, s := range []string{"*:*", "db2.example.com:23", "*.example.com:992", "10.0.0.0/8:22", "[2001:db8::/32]:1-1024",
		"192.0.2.7:1000-2000", "::1:22", "a:0", "a:65536", ":", "*.:1", "[fe80::1%eth0]:22"} {
		f.Add(s, "db2.example.com:23")
	}
	f.Fuzz(func(t *testing.T, pattern, dst string) {
		p, err := parseDestPattern(pattern)
		if err != nil {
			return
		}
		if p.portLo < 1 || p.portHi > 65535 || p.portLo > p.portHi {
			t.Fatalf("pattern %q accepted with port range %d-%d", pattern, p.portLo, p.portHi)
		}
		_ = destinationsAllow([]string{pattern}, dst)
	})
}

func FuzzParsePHC(f *testing.F) {
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$c29tZWhhc2hzb21laGFzaHNvbWVoYXNoc29tZWhhc2g")
	f.Add("$argon2id$v=19$m=999999999,t=1,p=1$AAAA$AAAA")
	f.Add("$bcrypt$")
	f.Fuzz(func(t *testing.T, s string) {
		p, salt, sum, err := parsePHC(s)
		if err != nil {
			return
		}
		if p.MemoryKiB > maxArgonMemoryKiB || p.Time > maxArgonTime || len(salt) < 8 || len(sum) < 16 {
			t.Fatalf("accepted out-of-range hash %q", s)
		}
	})
}

func FuzzParseAuditFilter(f *testing.F) {
	for _, s := range []string{
		"", "limit=100", "actor=admin&event=login&ok=false", "since=2026-01-01T00:00:00Z&until=2026-01-02T00:00:00.5+02:00",
		"limit=0", "ok=maybe", "event=User.Put", "actor=a&actor=b", "since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z",
		"unknown=1", "limit=99999999999999999999", "actor=%00", "%zz", "a=1;b=2",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, query string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		af, err := ParseAuditFilter(q)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("%q: error %v is not ErrInvalid", query, err)
			}
			return
		}
		if af.Limit < 0 || len(af.Actor) > 256 || len(af.Event) > 64 {
			t.Fatalf("%q: accepted %+v", query, af)
		}
		if !af.Since.IsZero() && !af.Until.IsZero() && !af.Since.Before(af.Until) {
			t.Fatalf("%q: since %v not before until %v", query, af.Since, af.Until)
		}
		for k := range q {
			switch k {
			case "limit", "actor", "event", "ok", "since", "until":
			default:
				t.Fatalf("%q: accepted unknown parameter %q", query, k)
			}
		}
	})
}

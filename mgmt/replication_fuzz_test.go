package mgmt

import (
	"errors"
	"testing"
)

func FuzzDecodeSignedSnapshot(f *testing.F) {
	for _, s := range []string{
		`{"header":{"format":1,"epoch":1,"revision":3,"master":"mgmt-a","created":"2026-01-01T00:00:00Z","payload_sha256":"00"},"payload":"e30=","signatures":[{"kid":"k","sig":"AAAA"}]}`,
		`{"header":{},"payload":"","signatures":[]}`,
		`{"header":null}`, `{}`, `[]`, `{"header":{"format":1}}{"x":1}`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		env, h, snap, err := DecodeSignedSnapshot(b, 1<<20)
		if err != nil {
			var se *SnapshotError
			if !errors.As(err, &se) || se.Reason == "" {
				t.Fatalf("error %v is not a SnapshotError", err)
			}
			return
		}
		if env == nil || h == nil || snap == nil || len(env.Signatures) == 0 || h.Epoch == 0 || snap.Revision != h.Revision {
			t.Fatalf("accepted an inconsistent snapshot: %+v", h)
		}
	})
}

func FuzzDecodeHeartbeat(f *testing.F) {
	for _, s := range []string{
		`{"ticket":"a.b.c","seq":1,"ts":1735689600000}`,
		`{"ticket":"","seq":0,"ts":0}`, `{"ticket":"x","seq":18446744073709551615,"ts":-1}`,
		`{"ticket":"x","seq":1,"ts":1,"extra":true}`, `  {"seq":1e3}`, `{`, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		hb, err := DecodeHeartbeat(b)
		if err != nil {
			if !errors.Is(err, ErrTicket) {
				t.Fatalf("error %v is not ErrTicket", err)
			}
			return
		}
		if hb.Ticket == "" || hb.Seq == 0 || hb.TS <= 0 || len(b) > MaxHeartbeatSize {
			t.Fatalf("accepted %q", b)
		}
	})
}

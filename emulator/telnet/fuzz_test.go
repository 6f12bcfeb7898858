package telnet

import (
	"bytes"
	"reflect"
	"testing"
)

// FuzzDecode feeds arbitrary bytes in arbitrary chunks. Decoding must never
// panic, must not depend on chunking, and a stream of escaped data with no
// commands must come back unchanged.
func FuzzDecode(f *testing.F) {
	f.Add([]byte("login: "), uint8(1))
	f.Add([]byte{IAC, DO, 24, IAC, SB, 24, 1, IAC, SE, 'a', '\r', 0}, uint8(2))
	f.Add([]byte{IAC, SB, 31, 0, 80, IAC, IAC, 24, IAC, WILL, 1}, uint8(3))
	f.Add([]byte{IAC, 7, IAC, IAC, IAC}, uint8(0))
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		for _, strip := range []bool{false, true} {
			whole := decodeChunks(in, 0, strip, 64)
			split := decodeChunks(in, int(chunk), strip, 64)
			if !bytes.Equal(whole.data, split.data) || !reflect.DeepEqual(whole.events, split.events) {
				t.Fatalf("chunking changed the result: whole %+v, split %+v", whole, split)
			}
			if len(whole.data) > len(in) {
				t.Fatalf("data longer than input: %d > %d", len(whole.data), len(in))
			}
			for _, ev := range whole.events {
				if len(ev.Data) > 64 {
					t.Fatalf("subnegotiation of %d bytes passed the bound", len(ev.Data))
				}
			}
		}
		// Reference unescape: in, escaped as binary data, decodes back to in.
		wire := AppendData(nil, in, true)
		got := decodeChunks(wire, int(chunk), false, 0)
		if !bytes.Equal(got.data, in) || len(got.events) != 0 {
			t.Fatalf("round trip: got %q (%d events), want %q", got.data, len(got.events), in)
		}
	})
}

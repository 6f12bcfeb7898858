package telnet

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"
)

type decoded struct {
	data   []byte
	events []Event
}

// decodeChunks runs a fresh Decoder over src split after every chunk bytes
// (chunk <= 0: in one piece) and copies event payloads.
func decodeChunks(src []byte, chunk int, strip bool, max int) decoded {
	d := Decoder{StripCRNUL: strip, MaxSubnegotiation: max}
	var out decoded
	for len(src) > 0 {
		k := len(src)
		if chunk > 0 && chunk < k {
			k = chunk
		}
		piece := src[:k]
		src = src[k:]
		for len(piece) > 0 {
			var n int
			var ev Event
			var ok bool
			out.data, n, ev, ok = d.Decode(out.data, piece)
			piece = piece[n:]
			if ok {
				ev.Data = append([]byte(nil), ev.Data...)
				if len(ev.Data) == 0 {
					ev.Data = nil
				}
				out.events = append(out.events, ev)
			}
		}
	}
	return out
}

func TestDecode(t *testing.T) {
	neg := func(cmd byte, opt Option) Event { return Event{Kind: EventNegotiation, Command: cmd, Option: opt} }
	tests := []struct {
		name   string
		in     []byte
		strip  bool
		max    int
		data   string
		events []Event
	}{
		{name: "plain", in: []byte("hello\r\n"), data: "hello\r\n"},
		{name: "escaped IAC", in: []byte{'a', IAC, IAC, 'b'}, data: "a\xffb"},
		{name: "negotiations", in: []byte{IAC, DO, 24, 'x', IAC, WILL, 1},
			data: "x", events: []Event{neg(DO, OptTTYPE), neg(WILL, OptEcho)}},
		{name: "commands", in: []byte{IAC, GA, IAC, NOP, 'z', IAC, EOR},
			data: "z", events: []Event{{Kind: EventCommand, Command: GA}, {Kind: EventCommand, Command: NOP}, {Kind: EventCommand, Command: EOR}}},
		{name: "subnegotiation with escaped IAC", in: []byte{IAC, SB, 24, 1, IAC, IAC, 7, IAC, SE, 'k'},
			data: "k", events: []Event{{Kind: EventSubnegotiation, Command: SB, Option: OptTTYPE, Data: []byte{1, IAC, 7}}}},
		{name: "stray IAC junk dropped", in: []byte{'a', IAC, 'b', 'c', IAC, SE, 'd'}, data: "acd"},
		{name: "missing SE ends at next command", in: []byte{IAC, SB, 31, 0, 80, 0, 24, IAC, WILL, 3, 'q'},
			data: "q", events: []Event{{Kind: EventSubnegotiation, Command: SB, Option: OptNAWS, Data: []byte{0, 80, 0, 24}}, neg(WILL, OptSGA)}},
		{name: "oversized subnegotiation dropped", in: append(append([]byte{IAC, SB, 24}, bytes.Repeat([]byte{'x'}, 20)...), IAC, SE, 'r'),
			max: 8, data: "r"},
		{name: "CR NUL stripped", in: []byte("a\r\x00b\r\nc\x00"), strip: true, data: "a\rb\r\nc\x00"},
		{name: "CR NUL kept in binary", in: []byte("a\r\x00b"), data: "a\r\x00b"},
		{name: "CR IAC NUL", in: []byte{'\r', IAC, NOP, 0, 'x'}, strip: true, data: "\rx",
			events: []Event{{Kind: EventCommand, Command: NOP}}},
		{name: "empty subnegotiation", in: []byte{IAC, SB, 24, IAC, SE},
			events: []Event{{Kind: EventSubnegotiation, Command: SB, Option: OptTTYPE}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, chunk := range []int{0, 1, 2, 3, 5} {
				got := decodeChunks(tt.in, chunk, tt.strip, tt.max)
				if string(got.data) != tt.data {
					t.Errorf("chunk %d: data = %q, want %q", chunk, got.data, tt.data)
				}
				if !reflect.DeepEqual(got.events, tt.events) {
					t.Errorf("chunk %d: events = %+v, want %+v", chunk, got.events, tt.events)
				}
			}
		})
	}
}

func TestDecoderDropped(t *testing.T) {
	got := decodeChunks([]byte{IAC, 7, IAC, SE}, 0, false, 0)
	if len(got.data) != 0 || len(got.events) != 0 {
		t.Fatalf("junk produced output: %+v", got)
	}
	var d Decoder
	for src := []byte{IAC, 7, IAC, SE}; len(src) > 0; {
		_, n, _, _ := d.Decode(nil, src)
		src = src[n:]
	}
	if d.Dropped() != 2 {
		t.Errorf("Dropped() = %d, want 2", d.Dropped())
	}
}

func TestAppendData(t *testing.T) {
	tests := []struct {
		in     string
		binary bool
		want   string
	}{
		{"ls\r", false, "ls\r\x00"},
		{"a\r\nb", false, "a\r\nb"},
		{"a\rb", false, "a\r\x00b"},
		{"a\rb", true, "a\rb"},
		{"\xff", false, "\xff\xff"},
		{"\xff\r", true, "\xff\xff\r"},
	}
	for _, tt := range tests {
		got := AppendData(nil, []byte(tt.in), tt.binary)
		if string(got) != tt.want {
			t.Errorf("AppendData(%q, %v) = %q, want %q", tt.in, tt.binary, got, tt.want)
		}
		// dataWritten(wire) is the longest prefix of the input whose
		// encoding, as it appears in got, fits in wire bytes.
		for wire := 0; wire <= len(got); wire++ {
			want := 0
			for k := 1; k <= len(tt.in); k++ {
				used := 0
				for j := 0; j < k; j++ {
					used += encodedLen([]byte(tt.in), j, tt.binary)
				}
				if used <= wire {
					want = k
				}
			}
			if n := dataWritten([]byte(tt.in), wire, tt.binary); n != want {
				t.Errorf("dataWritten(%q, %d) = %d, want %d", tt.in, wire, n, want)
			}
		}
	}
}

func TestSubnegotiationEncoders(t *testing.T) {
	got := AppendWindowSize(nil, 255, 0x1FF)
	want := []byte{IAC, SB, 31, 1, IAC, IAC, 0, IAC, IAC, IAC, SE}
	if !bytes.Equal(got, want) {
		t.Fatalf("AppendWindowSize = %v, want %v", got, want)
	}
	d := decodeChunks(got, 1, false, 0)
	if len(d.events) != 1 {
		t.Fatalf("events = %+v", d.events)
	}
	rows, cols, err := ParseWindowSize(d.events[0].Data)
	if err != nil || rows != 255 || cols != 0x1FF {
		t.Errorf("ParseWindowSize = %d, %d, %v; want 255, 511, nil", rows, cols, err)
	}
	if _, _, err := ParseWindowSize([]byte{1, 2, 3}); err != ErrMalformedSubnegotiation {
		t.Errorf("short NAWS: err = %v, want ErrMalformedSubnegotiation", err)
	}
}

func TestNegotiatorQMethod(t *testing.T) {
	n := Negotiator{Policy: Policy{Local: localOptions, Remote: remoteOptions}}
	steps := []struct {
		name   string
		do     func(out []byte) []byte
		want   []byte
		local  bool
		remote bool
		opt    Option
	}{
		{"accept WILL ECHO", func(o []byte) []byte { return n.Receive(o, WILL, OptEcho) }, []byte{IAC, DO, 1}, false, true, OptEcho},
		{"repeated WILL ECHO ignored", func(o []byte) []byte { return n.Receive(o, WILL, OptEcho) }, nil, false, true, OptEcho},
		{"refuse DO ECHO", func(o []byte) []byte { return n.Receive(o, DO, OptEcho) }, []byte{IAC, WONT, 1}, false, true, OptEcho},
		{"refuse WILL AUTH", func(o []byte) []byte { return n.Receive(o, WILL, OptAuth) }, []byte{IAC, DONT, 37}, false, false, OptAuth},
		{"refuse DO ENCRYPT", func(o []byte) []byte { return n.Receive(o, DO, OptEncrypt) }, []byte{IAC, WONT, 38}, false, false, OptEncrypt},
		{"DONT while off ignored", func(o []byte) []byte { return n.Receive(o, DONT, OptLinemode) }, nil, false, false, OptLinemode},
		{"ask WILL NAWS", func(o []byte) []byte { return n.EnableLocal(o, OptNAWS) }, []byte{IAC, WILL, 31}, false, false, OptNAWS},
		{"DO NAWS acknowledges without reply", func(o []byte) []byte { return n.Receive(o, DO, OptNAWS) }, nil, true, false, OptNAWS},
		{"ask DO SGA", func(o []byte) []byte { return n.EnableRemote(o, OptSGA) }, []byte{IAC, DO, 3}, false, false, OptSGA},
		{"WONT SGA refusal", func(o []byte) []byte { return n.Receive(o, WONT, OptSGA) }, nil, false, false, OptSGA},
		{"host disables ECHO", func(o []byte) []byte { return n.Receive(o, WONT, OptEcho) }, []byte{IAC, DONT, 1}, false, false, OptEcho},
		{"disable NAWS", func(o []byte) []byte { return n.DisableLocal(o, OptNAWS) }, []byte{IAC, WONT, 31}, false, false, OptNAWS},
		{"enable queued while disabling", func(o []byte) []byte { return n.EnableLocal(o, OptNAWS) }, nil, false, false, OptNAWS},
		{"DONT answer triggers queued WILL", func(o []byte) []byte { return n.Receive(o, DONT, OptNAWS) }, []byte{IAC, WILL, 31}, false, false, OptNAWS},
		{"DO completes", func(o []byte) []byte { return n.Receive(o, DO, OptNAWS) }, nil, true, false, OptNAWS},
	}
	for _, s := range steps {
		got := s.do(nil)
		if !bytes.Equal(got, s.want) {
			t.Fatalf("%s: sent %v, want %v", s.name, got, s.want)
		}
		if n.Local(s.opt) != s.local || n.Remote(s.opt) != s.remote {
			t.Fatalf("%s: local=%v remote=%v, want %v %v", s.name, n.Local(s.opt), n.Remote(s.opt), s.local, s.remote)
		}
	}
}

// TestNegotiatorNoLoop plays two Negotiators against each other with
// conflicting policies and simultaneous requests, and checks that the
// exchange ends with both agreeing on every option.
func TestNegotiatorNoLoop(t *testing.T) {
	yes := func(Option) bool { return true }
	no := func(Option) bool { return false }
	a := &Negotiator{Policy: Policy{Local: yes, Remote: no}}
	b := &Negotiator{Policy: Policy{Local: no, Remote: yes}}
	var toB, toA []byte
	for opt := Option(0); opt < 40; opt++ {
		switch opt % 4 {
		case 0: // both ask for everything at once
			toB = a.EnableLocal(toB, opt)
			toB = a.EnableRemote(toB, opt)
			toA = b.EnableLocal(toA, opt)
			toA = b.EnableRemote(toA, opt)
		case 1: // only the refusing side asks
			toA = b.EnableLocal(toA, opt)
		case 2: // a asks, then changes its mind before the answer
			toB = a.EnableRemote(toB, opt)
			toB = a.DisableRemote(toB, opt)
		case 3: // b asks for what a's policy grants
			toA = b.EnableRemote(toA, opt)
		}
	}
	deliver := func(n *Negotiator, in []byte) []byte {
		var d Decoder
		var out []byte
		for len(in) > 0 {
			_, k, ev, ok := d.Decode(nil, in)
			in = in[k:]
			if ok && ev.Kind == EventNegotiation {
				out = n.Receive(out, ev.Command, ev.Option)
			}
		}
		return out
	}
	rounds := 0
	for len(toA)+len(toB) > 0 {
		if rounds++; rounds > 10 {
			t.Fatalf("negotiation did not settle after %d rounds", rounds)
		}
		nextA, nextB := deliver(b, toB), deliver(a, toA)
		toA, toB = nextA, nextB
	}
	for opt := Option(0); opt < 40; opt++ {
		if a.Local(opt) != b.Remote(opt) || a.Remote(opt) != b.Local(opt) {
			t.Fatalf("option %v: sides disagree: a local=%v remote=%v, b local=%v remote=%v", opt, a.Local(opt), a.Remote(opt), b.Local(opt), b.Remote(opt))
		}
		switch opt % 4 {
		case 1:
			if b.Local(opt) {
				t.Errorf("option %v: enabled against a's policy", opt)
			}
		case 2:
			if a.Remote(opt) {
				t.Errorf("option %v: enabled although a withdrew its request", opt)
			}
		case 3:
			if !b.Remote(opt) {
				t.Errorf("option %v: not enabled although a's policy grants it", opt)
			}
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	chunk := bytes.Repeat([]byte("screen text \x1b[1;1H\r\n"), 200)
	chunk = append(chunk, IAC, GA, IAC, IAC)
	var d Decoder
	d.StripCRNUL = true
	buf := make([]byte, 0, len(chunk))
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	for b.Loop() {
		src := chunk
		buf = buf[:0]
		for len(src) > 0 {
			var n int
			buf, n, _, _ = d.Decode(buf, src)
			src = src[n:]
		}
	}
}

func TestDecodeAllocs(t *testing.T) {
	chunk := []byte(fmt.Sprintf("%s%c%c%c%c", bytes.Repeat([]byte("abc\r\n"), 100), IAC, IAC, IAC, NOP))
	var d Decoder
	buf := make([]byte, 0, 1024)
	allocs := testing.AllocsPerRun(100, func() {
		src := chunk
		buf = buf[:0]
		for len(src) > 0 {
			var n int
			buf, n, _, _ = d.Decode(buf, src)
			src = src[n:]
		}
	})
	if allocs != 0 {
		t.Errorf("Decode allocates %v times per run, want 0", allocs)
	}
}

package tn3270

import (
	"bytes"
	"errors"
	"testing"
)

func collect(t *testing.T, chunks ...[]byte) []Event {
	t.Helper()
	var d Decoder
	var evs []Event
	for _, c := range chunks {
		if err := d.Feed(c, func(ev Event) error { evs = append(evs, ev); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	return evs
}

func TestDecoderSplitsAnywhere(t *testing.T) {
	stream := []byte{IAC, DO, OptTN3270E, IAC, SB, OptTTYPE, TTYPESend, IAC, IAC, IAC, SE,
		0xF5, IAC, IAC, 0xC1, IAC, EOR, IAC, 0xF1 /* NOP */, 0x01, IAC, EOR}
	want := []Event{
		{Kind: EventOption, Cmd: DO, Opt: OptTN3270E},
		{Kind: EventSubneg, Opt: OptTTYPE, Data: []byte{TTYPESend, IAC}},
		{Kind: EventRecord, Data: []byte{0xF5, IAC, 0xC1}},
		{Kind: EventCommand, Cmd: 0xF1},
		{Kind: EventRecord, Data: []byte{0x01}},
	}
	for cut := 0; cut <= len(stream); cut++ {
		evs := collect(t, stream[:cut], stream[cut:])
		if len(evs) != len(want) {
			t.Fatalf("cut %d: %d events, want %d", cut, len(evs), len(want))
		}
		for i := range want {
			if evs[i].Kind != want[i].Kind || evs[i].Cmd != want[i].Cmd || evs[i].Opt != want[i].Opt || !bytes.Equal(evs[i].Data, want[i].Data) {
				t.Fatalf("cut %d event %d = %+v, want %+v", cut, i, evs[i], want[i])
			}
		}
	}
}

func TestDecoderBounds(t *testing.T) {
	var d Decoder
	big := bytes.Repeat([]byte{0x40}, MaxRecordSize+1)
	if err := d.Feed(big, func(Event) error { return nil }); !errors.Is(err, ErrRecordTooLarge) {
		t.Errorf("oversized record: %v", err)
	}
	var d2 Decoder
	sub := append([]byte{IAC, SB, OptTN3270E}, bytes.Repeat([]byte{1}, maxSubneg+1)...)
	if err := d2.Feed(sub, func(Event) error { return nil }); !errors.Is(err, ErrNegotiation) {
		t.Errorf("oversized subnegotiation: %v", err)
	}
}

func TestAppendRecordDoublesIAC(t *testing.T) {
	got := AppendRecord(nil, []byte{1, IAC, 2})
	if want := []byte{1, IAC, IAC, 2, IAC, EOR}; !bytes.Equal(got, want) {
		t.Errorf("AppendRecord = % x, want % x", got, want)
	}
	got = AppendSubneg(nil, OptTTYPE, []byte{0, IAC})
	if want := []byte{IAC, SB, OptTTYPE, 0, IAC, IAC, IAC, SE}; !bytes.Equal(got, want) {
		t.Errorf("AppendSubneg = % x, want % x", got, want)
	}
}

func TestHeaderRoundTrip(t *testing.T) {
	h, rest, err := ParseHeader([]byte{Data3270, 0, RespAlways, 0x12, 0x34, 0xF5})
	if err != nil || h != (Header{DataType: Data3270, ResponseFlag: RespAlways, Seq: 0x1234}) || !bytes.Equal(rest, []byte{0xF5}) {
		t.Fatalf("ParseHeader = %+v % x %v", h, rest, err)
	}
	if _, _, err := ParseHeader([]byte{0, 0}); !errors.Is(err, ErrShortHeader) {
		t.Errorf("short header: %v", err)
	}
	if s := h.String(); s != "3270-DATA req=0 resp=2 seq=4660" {
		t.Errorf("String = %q", s)
	}
}

func TestNegotiatorNoLoops(t *testing.T) {
	n := newNegotiator("IBM-3278-2-E", "IBM-3278-2-E", true, "")
	for i := 0; i < 3; i++ {
		out, _ := n.handle(Event{Kind: EventOption, Cmd: DO, Opt: OptBinary})
		if (i == 0) != (len(out) > 0) {
			t.Fatalf("DO BINARY #%d answered % x", i, out)
		}
		out, _ = n.handle(Event{Kind: EventOption, Cmd: WILL, Opt: 77})
		if (i == 0) != (len(out) > 0) {
			t.Fatalf("WILL 77 #%d answered % x", i, out)
		}
	}
	// FUNCTIONS REQUEST with an unsupported function gets a counter-proposal.
	n.handle(Event{Kind: EventOption, Cmd: DO, Opt: OptTN3270E})
	n.handle(Event{Kind: EventSubneg, Opt: OptTN3270E, Data: append([]byte{EDeviceType, EIs}, "IBM-3278-2-E"...)})
	out, _ := n.handle(Event{Kind: EventSubneg, Opt: OptTN3270E, Data: []byte{EFunctions, ERequest, FuncBindImage, FuncResponses}})
	if want := AppendSubneg(nil, OptTN3270E, []byte{EFunctions, ERequest, FuncResponses}); !bytes.Equal(out, want) || n.mode() != ModeNone {
		t.Fatalf("counter-proposal % x mode %v", out, n.mode())
	}
	out, _ = n.handle(Event{Kind: EventSubneg, Opt: OptTN3270E, Data: []byte{EFunctions, ERequest, FuncResponses}})
	if want := AppendSubneg(nil, OptTN3270E, []byte{EFunctions, EIs, FuncResponses}); !bytes.Equal(out, want) || n.mode() != ModeTN3270E || !n.responsesOn() {
		t.Fatalf("accept % x mode %v", out, n.mode())
	}
	// The host turns TN3270E off: the terminal agrees and leaves the mode.
	out, _ = n.handle(Event{Kind: EventOption, Cmd: DONT, Opt: OptTN3270E})
	if !bytes.Equal(out, []byte{IAC, WONT, OptTN3270E}) || n.mode() == ModeTN3270E {
		t.Fatalf("DONT TN3270E: % x mode %v", out, n.mode())
	}
}

func TestCodecAllocations(t *testing.T) {
	rec := AppendRecord(nil, bytes.Repeat([]byte{0xC1}, 1900))
	var d Decoder
	d.rec = make([]byte, 0, 4096)
	emit := func(ev Event) error { d.rec = ev.Data[:0]; return nil }
	if n := testing.AllocsPerRun(100, func() { d.Feed(rec, emit) }); n != 0 {
		t.Errorf("Decoder.Feed allocates %v times per record with a reused buffer", n)
	}
	hdr := []byte{0, 0, 0, 0, 1, 0xF5}
	if n := testing.AllocsPerRun(100, func() { ParseHeader(hdr) }); n != 0 {
		t.Errorf("ParseHeader allocates %v times", n)
	}
}

func BenchmarkDecoderFeed(b *testing.B) {
	rec := AppendRecord(nil, bytes.Repeat([]byte{0xC1, IAC}, 1000))
	var d Decoder
	b.SetBytes(int64(len(rec)))
	for b.Loop() {
		d.Feed(rec, func(ev Event) error { d.rec = ev.Data[:0]; return nil })
	}
}

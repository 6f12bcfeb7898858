package tn3270

import (
	"bytes"
	"testing"

	"github.com/rs/zerolog"
)

// FuzzDataStream feeds any bytes to the engine as a host record, then
// exercises the keyboard and reads: nothing may panic and the screen, the
// cursor and the fields must stay consistent.
func FuzzDataStream(f *testing.F) {
	f.Add(logonScreen())
	f.Add(QueryRecord())
	f.Add(rec(CmdEWA, 0, OrderSBA, 0x3F, 0x3F, OrderRA, addr(0), OrderGE))
	f.Add(rec(CmdW, WCCKeyboardReset, OrderPT, "A", OrderPT, OrderEUA, addr(3), OrderMF, 1, XAField, 0x20))
	f.Fuzz(func(t *testing.T, data []byte) {
		model := 2
		if len(data) > 0 {
			model = 2 + int(data[len(data)-1]%4)
		}
		m, _ := LookupModel(model)
		e := NewEngine(m, nil, zerolog.Nop())
		if _, err := e.Process(data); err != nil && len(data) == 0 {
			t.Fatalf("empty record: %v", err)
		}
		checkConsistent(t, e)
		e.restoreKeyboard()
		_ = e.Type("A1")
		e.Press(KeyReset)
		for _, k := range []Key{KeyTab, KeyBacktab, KeyNewline, KeyDelete, KeyErase, KeyEraseEOF, KeyDup, KeyReset, KeyEnter} {
			e.Press(k)
			checkConsistent(t, e)
		}
		if _, err := e.Process(rec(CmdRB)); err != nil {
			t.Fatal(err)
		}
		// A second pass over the same bytes with a formatted screen.
		e.Process(data)
		checkConsistent(t, e)
	})
}

// FuzzTN3270EHeader checks that a parsed header re-encodes to its bytes.
func FuzzTN3270EHeader(f *testing.F) {
	f.Add([]byte{0, 0, 2, 0, 7, 0xF5, 0xC3})
	f.Add([]byte{2, 0, 1, 0xFF, 0xFF, 0x00})
	f.Add([]byte{1, 2})
	f.Fuzz(func(t *testing.T, data []byte) {
		h, rest, err := ParseHeader(data)
		if err != nil {
			if len(data) >= HeaderLen {
				t.Fatalf("ParseHeader(% x): %v", data, err)
			}
			return
		}
		if !bytes.Equal(append(h.Append(nil), rest...), data) {
			t.Fatalf("header %+v does not round-trip % x", h, data)
		}
		_ = h.String()
	})
}

// FuzzNegotiation feeds any bytes to the telnet decoder and the client
// negotiator: no panic, bounded answers, and records only in 3270 mode.
func FuzzNegotiation(f *testing.F) {
	f.Add([]byte{IAC, DO, OptTN3270E, IAC, SB, OptTN3270E, ESend, EDeviceType, IAC, SE})
	f.Add([]byte{IAC, DO, OptTTYPE, IAC, SB, OptTTYPE, TTYPESend, IAC, SE, IAC, DO, OptEOR, IAC, WILL, OptEOR,
		IAC, DO, OptBinary, IAC, WILL, OptBinary, 0xF5, 0xC3, IAC, IAC, IAC, EOR})
	f.Add([]byte{IAC, DO, OptTN3270E, IAC, SB, OptTN3270E, EDeviceType, EIs, 'I', 'B', 'M', EConnect, 'L', 'U', IAC, SE,
		IAC, SB, OptTN3270E, EFunctions, ERequest, FuncResponses, FuncBindImage, IAC, SE})
	f.Fuzz(func(t *testing.T, data []byte) {
		n := newNegotiator("IBM-3278-2-E", "IBM-3278-2-E", true, "LU1")
		var d Decoder
		total := 0
		err := d.Feed(data, func(ev Event) error {
			switch ev.Kind {
			case EventOption, EventSubneg:
				out, err := n.handle(ev)
				total += len(out)
				if len(out) > 3*maxSubneg {
					t.Fatalf("answer of %d bytes", len(out))
				}
				return err
			case EventRecord:
				if len(ev.Data) > MaxRecordSize {
					t.Fatalf("record of %d bytes", len(ev.Data))
				}
			}
			return nil
		})
		_ = err
		if total > 16*len(data)+64 {
			t.Fatalf("%d bytes of answers to %d bytes of input", total, len(data))
		}
		if n.mode() == ModeTN3270E && n.eDevice == "" {
			t.Fatalf("TN3270E mode without a device type")
		}
	})
}

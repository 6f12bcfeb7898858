package tn3270

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// ebc encodes s in code page 037.
func ebc(s string) []byte {
	b, err := codePages["037"].EncodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// rec concatenates byte slices, single bytes and strings (encoded in 037).
func rec(parts ...any) []byte {
	var out []byte
	for _, p := range parts {
		switch v := p.(type) {
		case byte:
			out = append(out, v)
		case int:
			out = append(out, byte(v))
		case []byte:
			out = append(out, v...)
		case [2]byte:
			out = append(out, v[0], v[1])
		case string:
			out = append(out, ebc(v)...)
		default:
			panic("rec: bad part")
		}
	}
	return out
}

func addr(a int) [2]byte { return EncodeAddress(a) }

func newEngine(t *testing.T, model int) *Engine {
	t.Helper()
	m, err := LookupModel(model)
	if err != nil {
		t.Fatal(err)
	}
	return NewEngine(m, nil, zerolog.Nop())
}

func process(t *testing.T, e *Engine, r []byte) []byte {
	t.Helper()
	reply, err := e.Process(r)
	if err != nil {
		t.Fatalf("Process(% x): %v", r, err)
	}
	checkConsistent(t, e)
	return reply
}

// checkConsistent asserts the invariants every state must keep.
func checkConsistent(t testing.TB, e *Engine) {
	t.Helper()
	rows, cols := e.Size()
	if e.cursor < 0 || e.cursor >= rows*cols {
		t.Fatalf("cursor %d outside %dx%d", e.cursor, rows, cols)
	}
	scr := e.Screen()
	if len(scr) != rows {
		t.Fatalf("Screen has %d rows, want %d", len(scr), rows)
	}
	for i, r := range scr {
		if n := len([]rune(r)); n != cols {
			t.Fatalf("row %d has %d columns, want %d", i, n, cols)
		}
	}
	fields := e.Fields()
	total := 0
	for _, f := range fields {
		total += f.Len + 1
		if f.Addr < 0 || f.Addr >= rows*cols {
			t.Fatalf("field at %d outside the buffer", f.Addr)
		}
	}
	if len(fields) > 0 && total != rows*cols {
		t.Fatalf("fields cover %d positions, want %d", total, rows*cols)
	}
}

// logonScreen: a protected label, an unprotected 10-position field at
// 10..19, a skip field, a numeric field at 31..35, a hidden field at
// 41..48, then protected to the end.
func logonScreen() []byte {
	return rec(CmdEW, WCCKeyboardReset,
		OrderSBA, addr(0), OrderSF, codeTable[FAProtected], "NAME",
		OrderSBA, addr(9), OrderSF, codeTable[0],
		OrderSBA, addr(20), OrderSF, codeTable[FAProtected|FANumeric], "NUM",
		OrderSBA, addr(30), OrderSF, codeTable[FANumeric],
		OrderSBA, addr(36), OrderSF, codeTable[FAProtected], "PW",
		OrderSBA, addr(40), OrderSF, codeTable[FANonDisplay], "secret",
		OrderSBA, addr(49), OrderSF, codeTable[FAProtected|FAIntensified], "END",
		OrderSBA, addr(10), OrderIC)
}

func TestAddressCodec(t *testing.T) {
	for a := 0; a < 4096; a++ {
		enc := EncodeAddress(a)
		if enc[0]&0xC0 == 0 {
			t.Fatalf("12-bit address %d encoded with 14-bit marker: % x", a, enc)
		}
		if got := DecodeAddress(enc[0], enc[1]); got != a {
			t.Fatalf("12-bit %d -> % x -> %d", a, enc, got)
		}
	}
	for a := 4096; a < 16384; a++ {
		enc := EncodeAddress(a)
		if got := DecodeAddress(enc[0], enc[1]); got != a {
			t.Fatalf("14-bit %d -> % x -> %d", a, enc, got)
		}
	}
	if got := DecodeAddress(0x00, 0x50); got != 80 {
		t.Errorf("14-bit form of 80 decoded as %d", got)
	}
	if got := EncodeAddress(80); got != [2]byte{0xC1, 0x50} {
		t.Errorf("EncodeAddress(80) = % x, want c1 50", got)
	}
}

func TestEraseWriteFieldsAndScreen(t *testing.T) {
	for _, cmd := range []byte{CmdEW, SNACmdEW} {
		e := newEngine(t, 2)
		r := logonScreen()
		r[0] = cmd
		process(t, e, r)
		scr := e.Screen()
		if want := " NAME                NUM             PW           END"; strings.TrimRight(scr[0], " ") != want {
			t.Errorf("cmd %#x row 0 = %q", cmd, scr[0])
		}
		if strings.Contains(e.Text(), "secret") {
			t.Errorf("hidden field shown: %q", scr[0])
		}
		if r, c := e.Cursor(); r != 0 || c != 10 {
			t.Errorf("cursor = %d,%d want 0,10", r, c)
		}
		fs := e.Fields()
		if len(fs) != 7 {
			t.Fatalf("%d fields, want 7", len(fs))
		}
		pw := fs[5]
		if !pw.Hidden || pw.Protected || pw.Contents != strings.Repeat(" ", 8) || pw.Len != 8 {
			t.Errorf("hidden field = %+v", pw)
		}
		if f := fs[2]; !f.Skip || !f.Protected || !f.Numeric || f.Contents != "NUM      " {
			t.Errorf("skip field = %+v", f)
		}
		if f := fs[6]; !f.Intensified || f.Row != 0 || f.Col != 50 {
			t.Errorf("intensified field = %+v", f)
		}
		if f, ok := e.FieldAt(0, 15); !ok || f.Addr != 9 || f.Protected {
			t.Errorf("FieldAt(0,15) = %+v, %v", f, ok)
		}
	}
}

func TestWriteAtCursorAndAlternateSize(t *testing.T) {
	e := newEngine(t, 5)
	process(t, e, rec(CmdEWA, 0, "ALT", OrderIC))
	if r, c := e.Size(); r != 27 || c != 132 {
		t.Fatalf("EWA size = %dx%d, want 27x132", r, c)
	}
	process(t, e, rec(CmdW, 0, "ERNATE"))
	if got := strings.TrimRight(e.Screen()[0], " "); got != "ALTERNATE" {
		t.Errorf("W at cursor: row 0 = %q", got)
	}
	process(t, e, rec(SNACmdEWA, 0, OrderSBA, addr(132*26+131), "Z"))
	if got := e.Screen()[26][131]; got != 'Z' {
		t.Errorf("last position = %q", got)
	}
	process(t, e, rec(CmdEW, 0))
	if r, c := e.Size(); r != 24 || c != 80 {
		t.Fatalf("EW size = %dx%d, want 24x80", r, c)
	}
	for _, m := range []struct{ model, rows, cols int }{{2, 24, 80}, {3, 32, 80}, {4, 43, 80}, {5, 27, 132}} {
		e := newEngine(t, m.model)
		process(t, e, rec(SNACmdEWA, 0))
		if r, c := e.Size(); r != m.rows || c != m.cols {
			t.Errorf("model %d alternate = %dx%d, want %dx%d", m.model, r, c, m.rows, m.cols)
		}
	}
}

func TestFourteenBitAddress(t *testing.T) {
	e := newEngine(t, 4)
	process(t, e, rec(CmdEWA, 0, OrderSBA, 0x0D, 0x6F, "X")) // 14-bit 3439, the last position of 43x80
	if got := e.Screen()[42][79]; got != 'X' {
		t.Errorf("14-bit SBA: last position = %q", got)
	}
}

func TestWCC(t *testing.T) {
	e := newEngine(t, 2)
	process(t, e, logonScreen())
	if err := e.Type("AB"); err != nil {
		t.Fatal(err)
	}
	if !e.Fields()[1].Modified {
		t.Fatal("typing did not set MDT")
	}
	if _, err := e.Press(KeyEnter); err != nil {
		t.Fatal(err)
	}
	if e.Keyboard() != LockedWait {
		t.Fatalf("after Enter keyboard = %v", e.Keyboard())
	}
	process(t, e, rec(CmdW, 0)) // no restore
	if e.Keyboard() != LockedWait {
		t.Errorf("write without restore unlocked the keyboard")
	}
	if !e.Fields()[1].Modified {
		t.Errorf("write without reset-MDT cleared MDT")
	}
	process(t, e, rec(CmdW, WCCResetMDT|WCCSoundAlarm|WCCStartPrinter))
	if e.Fields()[1].Modified {
		t.Errorf("WCC reset MDT left MDT set")
	}
	if e.Alarms() != 1 {
		t.Errorf("alarms = %d, want 1", e.Alarms())
	}
	process(t, e, rec(CmdW, WCCKeyboardReset))
	if e.Keyboard() != Unlocked || e.aid != AIDNone {
		t.Errorf("after restore keyboard = %v aid = %#x", e.Keyboard(), e.aid)
	}
}

func TestOrders(t *testing.T) {
	t.Run("SFE and SA and MF", func(t *testing.T) {
		e := newEngine(t, 2)
		process(t, e, rec(CmdEW, 0,
			OrderSFE, 3, XAField, codeTable[FAProtected], XAColor, ColorRed, XAHighlight, HighlightReverse, "RED",
			OrderSA, XAColor, ColorBlue, "b", OrderSA, XAAll, 0, "n",
			OrderSBA, addr(40), OrderSFE, 1, XACharset, 0xF1))
		fs := e.Fields()
		if len(fs) != 2 || fs[0].Color != ColorRed || fs[0].Highlight != HighlightReverse || !fs[0].Protected {
			t.Fatalf("SFE fields = %+v", fs)
		}
		if fs[1].Protected || fs[1].Charset != 0xF1 {
			t.Errorf("SFE without 0xC0 = %+v", fs[1])
		}
		if e.buf[4].color != ColorBlue || e.buf[5].color != 0 {
			t.Errorf("SA colours = %#x %#x", e.buf[4].color, e.buf[5].color)
		}
		process(t, e, rec(CmdW, 0, OrderSBA, addr(0), OrderMF, 2, XAField, codeTable[0], XAColor, ColorYellow, "x"))
		fs = e.Fields()
		if fs[0].Protected || fs[0].Color != ColorYellow || fs[0].Contents[:3] != "xED" {
			t.Errorf("after MF field = %+v", fs[0])
		}
		process(t, e, rec(CmdW, 0, OrderSBA, addr(2), OrderMF, 1, XAColor, ColorPink))
		if e.Fields()[0].Color != ColorYellow || e.buf[2].isFA {
			t.Errorf("MF off a field attribute changed something")
		}
	})
	t.Run("RA and GE and EUA", func(t *testing.T) {
		e := newEngine(t, 2)
		process(t, e, rec(CmdEW, 0, OrderRA, addr(80), "-", OrderRA, addr(85), OrderGE, 0xAD, OrderGE, 0xBD))
		scr := e.Screen()
		if scr[0] != strings.Repeat("-", 80) {
			t.Errorf("RA row 0 = %q", scr[0])
		}
		if !e.buf[80].ge || e.buf[84].ch != 0xAD || !e.buf[85].ge || e.buf[85].ch != 0xBD {
			t.Errorf("GE cells = %+v %+v", e.buf[80], e.buf[85])
		}
		process(t, e, rec(CmdW, 0, OrderSBA, addr(5), OrderRA, addr(5), "*"))
		if strings.Count(e.Text(), "*") != 1920 {
			t.Errorf("RA to the current address must fill the whole buffer")
		}
		process(t, e, rec(CmdW, 0, OrderSBA, addr(10), OrderSF, codeTable[FAProtected],
			OrderSBA, addr(20), OrderSF, codeTable[0], OrderSBA, addr(30), OrderSF, codeTable[FAProtected],
			OrderSBA, addr(0), OrderEUA, addr(40)))
		scr = e.Screen()
		// 0..9 belong to the protected field that wraps from the FA at 30
		// and keep their stars; only 21..29 (unprotected) are erased.
		if got, want := scr[0][:41], "********** ********* "+strings.Repeat(" ", 9)+" **********"; got != want {
			t.Errorf("EUA row 0 = %q, want %q", got, want)
		}
		if e.cursor != 0 {
			t.Errorf("EUA moved the cursor")
		}
	})
	t.Run("PT", func(t *testing.T) {
		e := newEngine(t, 2)
		process(t, e, rec(CmdEW, 0, OrderSF, codeTable[FAProtected], "LBL",
			OrderSBA, addr(10), OrderSF, codeTable[0], "OLDOLD",
			OrderSBA, addr(20), OrderSF, codeTable[FAProtected],
			OrderSBA, addr(30), OrderSF, codeTable[0]))
		process(t, e, rec(CmdW, 0, OrderSBA, addr(1), OrderPT, "A"))
		if e.buf[11].ch != ebc("A")[0] || e.buf[12].ch != ebc("L")[0] {
			t.Errorf("PT after an order must not null-fill: %q", e.Screen()[0])
		}
		process(t, e, rec(CmdW, 0, OrderSBA, addr(11), "N", OrderPT, "Z"))
		if got := e.Screen()[0][10:20]; got != " N        " {
			t.Errorf("PT after text must null the rest of the field: %q", got)
		}
		if e.buf[31].ch != ebc("Z")[0] {
			t.Errorf("PT did not tab to the next unprotected field")
		}
	})
	t.Run("IC and unsupported order", func(t *testing.T) {
		e := newEngine(t, 2)
		process(t, e, rec(CmdEW, 0, "AB", OrderIC, 0x2B, "C"))
		if e.cursor != 2 || strings.TrimRight(e.Screen()[0], " ") != "ABC" {
			t.Errorf("cursor %d screen %q", e.cursor, e.Screen()[0])
		}
	})
}

func TestMalformedRecords(t *testing.T) {
	tests := []struct {
		name string
		r    []byte
	}{
		{"SBA truncated", rec(CmdEW, WCCKeyboardReset, "OK", OrderSBA, 0x40)},
		{"SBA out of range", rec(CmdEW, WCCKeyboardReset, "OK", OrderSBA, 0x3F, 0xFF, "NO")},
		{"SF truncated", rec(CmdEW, WCCKeyboardReset, "OK", OrderSF)},
		{"SFE truncated", rec(CmdEW, WCCKeyboardReset, "OK", OrderSFE, 2, XAColor)},
		{"RA truncated", rec(CmdEW, WCCKeyboardReset, "OK", OrderRA, addr(5))},
		{"RA GE truncated", rec(CmdEW, WCCKeyboardReset, "OK", OrderRA, addr(5), OrderGE)},
		{"EUA out of range", rec(CmdEW, WCCKeyboardReset, "OK", OrderEUA, 0x3F, 0x3F)},
		{"SA truncated", rec(CmdEW, WCCKeyboardReset, "OK", OrderSA, XAColor)},
		{"MF truncated", rec(CmdEW, WCCKeyboardReset, "OK", OrderMF, 3, XAColor, ColorRed)},
		{"GE truncated", rec(CmdEW, WCCKeyboardReset, "OK", OrderGE)},
		{"WSF bad length", rec(CmdWSF, 0x00, 0x02, 0x01)},
		{"WSF too long", rec(CmdWSF, 0x00, 0x09, 0x01, 0xFF)},
		{"unknown command", rec(0x42, "X")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, 2)
			_, err := e.Process(tc.r)
			var dse *DataStreamError
			if !errors.As(err, &dse) || !errors.Is(err, ErrDataStream) {
				t.Fatalf("err = %v, want *DataStreamError", err)
			}
			checkConsistent(t, e)
			if tc.r[0] == CmdEW {
				if !strings.HasPrefix(e.Screen()[0], "OK") {
					t.Errorf("data before the bad order was lost: %q", e.Screen()[0])
				}
				if strings.Contains(e.Text(), "NO") {
					t.Errorf("data after the bad order was applied")
				}
				if e.Keyboard() != Unlocked {
					t.Errorf("WCC restore not applied after an aborted write")
				}
			}
		})
	}
}

func TestEraseAllUnprotected(t *testing.T) {
	for _, cmd := range []byte{CmdEAU, SNACmdEAU} {
		e := newEngine(t, 2)
		process(t, e, logonScreen())
		e.Type("HELLO")
		e.Press(KeyEnter)
		process(t, e, rec(cmd))
		if e.Keyboard() != Unlocked || e.cursor != 10 {
			t.Errorf("EAU: keyboard %v cursor %d", e.Keyboard(), e.cursor)
		}
		f := e.Fields()[1]
		if f.Modified || strings.TrimSpace(f.Contents) != "" {
			t.Errorf("EAU left the input field %+v", f)
		}
		if !strings.Contains(e.Text(), "NAME") {
			t.Errorf("EAU erased a protected field")
		}
	}
}

func TestReadModifiedExactBytes(t *testing.T) {
	e := newEngine(t, 2)
	process(t, e, logonScreen())
	if err := e.Type("AB"); err != nil {
		t.Fatal(err)
	}
	e.MoveCursor(0, 31)
	if err := e.Type("1"); err != nil {
		t.Fatal(err)
	}
	out, err := e.Press(KeyEnter)
	if err != nil {
		t.Fatal(err)
	}
	want := rec(AIDEnter, addr(32), OrderSBA, addr(10), "AB", OrderSBA, addr(31), "1")
	if !bytes.Equal(out, want) {
		t.Errorf("Enter sent % x\nwant        % x", out, want)
	}
	// The host asks again with Read Modified: same data, same AID.
	process(t, e, rec(CmdW, WCCKeyboardReset))
	reply := process(t, e, rec(CmdRM))
	if want := rec(AIDNone, addr(32), OrderSBA, addr(10), "AB", OrderSBA, addr(31), "1"); !bytes.Equal(reply, want) {
		t.Errorf("RM reply % x\nwant       % x", reply, want)
	}
}

func TestReadModifiedNullsSuppressedAndHidden(t *testing.T) {
	e := newEngine(t, 2)
	process(t, e, logonScreen())
	e.MoveCursor(0, 41)
	if err := e.Type("pw"); err != nil { // overwrite "se" of "secret"
		t.Fatal(err)
	}
	process(t, e, rec(CmdW, 0, OrderSBA, addr(12), 0x00, "X"))
	e.aid = AIDPF1
	out := process(t, e, rec(SNACmdRM))
	want := rec(AIDPF1, addr(43), OrderSBA, addr(41), "pwcret")
	if !bytes.Equal(out, want) {
		t.Errorf("RM % x\nwant % x", out, want)
	}
	if strings.Contains(e.Text(), "pw") {
		t.Errorf("hidden input visible on screen")
	}
}

func TestShortReadsAndRMA(t *testing.T) {
	tests := []struct {
		key Key
		aid byte
	}{{KeyPA1, AIDPA1}, {KeyPA2, AIDPA2}, {KeyPA3, AIDPA3}, {KeyClear, AIDClear}}
	for _, tc := range tests {
		e := newEngine(t, 2)
		process(t, e, logonScreen())
		e.Type("Q")
		out, err := e.Press(tc.key)
		if err != nil || !bytes.Equal(out, []byte{tc.aid}) {
			t.Errorf("%v sent % x, %v; want short read % x", tc.key, out, err, tc.aid)
		}
		if tc.key == KeyClear && e.formatted() {
			t.Errorf("Clear left fields on the screen")
		}
		if tc.key == KeyPA1 {
			if got := process(t, e, rec(CmdRM)); !bytes.Equal(got, []byte{AIDPA1}) {
				t.Errorf("RM after PA1 = % x", got)
			}
			got := process(t, e, rec(CmdRMA))
			if want := rec(AIDPA1, addr(11), OrderSBA, addr(10), "Q"); !bytes.Equal(got, want) {
				t.Errorf("RMA after PA1 = % x want % x", got, want)
			}
		}
	}
	e := newEngine(t, 2)
	process(t, e, rec(CmdEW, WCCKeyboardReset, "HI", OrderSBA, addr(82), "YO"))
	out, _ := e.Press(PF(24))
	if want := rec(AIDPF24, addr(0), "HIYO"); !bytes.Equal(out, want) {
		t.Errorf("unformatted PF24 = % x want % x", out, want)
	}
}

func TestReadBufferExactBytes(t *testing.T) {
	e := newEngine(t, 2)
	process(t, e, rec(CmdEW, WCCKeyboardReset, OrderSF, codeTable[FAProtected|FAModified], "A", OrderGE, 0xAD))
	out := process(t, e, rec(CmdRB))
	want := rec(AIDNone, addr(0), OrderSF, codeTable[FAProtected|FAModified], "A", OrderGE, 0xAD)
	want = append(want, make([]byte, 1920-3)...)
	if !bytes.Equal(out, want) {
		t.Errorf("RB = % x...\nwant % x...", out[:12], want[:12])
	}
	if got := process(t, e, rec(SNACmdRB)); !bytes.Equal(got, want) {
		t.Errorf("SNA RB differs from RB")
	}
}

// parseQueryReply splits a query reply into structured fields by code.
func parseQueryReply(t *testing.T, out []byte) map[byte][]byte {
	t.Helper()
	if len(out) == 0 || out[0] != AIDStructF {
		t.Fatalf("query reply starts % x", out)
	}
	m := map[byte][]byte{}
	for i := 1; i < len(out); {
		n := int(out[i])<<8 | int(out[i+1])
		if n < 4 || i+n > len(out) || out[i+2] != sfQueryReply {
			t.Fatalf("bad query reply SF at %d: % x", i, out[i:])
		}
		m[out[i+3]] = out[i+4 : i+n]
		i += n
	}
	return m
}

func TestQueryReply(t *testing.T) {
	e := newEngine(t, 5)
	out := process(t, e, QueryRecord())
	m := parseQueryReply(t, out)
	if !bytes.Equal(m[qcSummary], supportedQueries) {
		t.Errorf("summary = % x", m[qcSummary])
	}
	for _, q := range supportedQueries {
		if _, ok := m[q]; !ok {
			t.Errorf("query reply %#x missing", q)
		}
	}
	ua := m[qcUsableArea]
	if w, h := int(ua[2])<<8|int(ua[3]), int(ua[4])<<8|int(ua[5]); w != 132 || h != 27 {
		t.Errorf("usable area %dx%d, want 132x27", w, h)
	}
	ip := m[qcImplicitPartn]
	if want := []byte{0, 0, 0x0B, 0x01, 0x00, 0, 80, 0, 24, 0, 132, 0, 27}; !bytes.Equal(ip, want) {
		t.Errorf("implicit partition % x want % x", ip, want)
	}
	cs := m[qcCharacterSets]
	if !bytes.Contains(cs, []byte{0x02, 0xB9, 0x00, 0x25}) {
		t.Errorf("character sets lack CGCSGID 697/37: % x", cs)
	}
	if !bytes.Equal(m[qcReplyModes], []byte{0, 1, 2}) {
		t.Errorf("reply modes % x", m[qcReplyModes])
	}
	if c := m[qcColor]; len(c) != 2+2*16 || c[1] != 16 {
		t.Errorf("colour reply % x", c)
	}
	if h := m[qcHighlighting]; len(h) != 11 || h[0] != 5 {
		t.Errorf("highlighting reply % x", h)
	}
	// Query List naming only Usable Area: Summary and Usable Area.
	out = process(t, e, []byte{SNACmdWSF, 0, 7, sfReadPartition, 0xFF, rpQueryList, qlList, qcUsableArea})
	m = parseQueryReply(t, out)
	if len(m) != 2 || m[qcUsableArea] == nil {
		t.Errorf("query list reply has %d replies", len(m))
	}
	out = process(t, e, []byte{CmdWSF, 0, 6, sfReadPartition, 0xFF, rpQueryList, qlAll})
	if m = parseQueryReply(t, out); len(m) != len(supportedQueries) {
		t.Errorf("query list all has %d replies", len(m))
	}
	if _, err := e.Process([]byte{CmdWSF, 0, 5, sfReadPartition, 0x00, rpQuery}); err == nil {
		t.Errorf("query for partition 0 accepted")
	}
}

func TestStructuredFields(t *testing.T) {
	e := newEngine(t, 3)
	process(t, e, []byte{CmdWSF, 0, 4, sfEraseReset, eraseResetAlternate})
	if r, _ := e.Size(); r != 32 {
		t.Errorf("Erase/Reset alternate: %d rows", r)
	}
	w := rec(OrderSBA, addr(81), "3270DS")
	sf := rec(0, byte(6+len(w)), sfOutbound3270DS, 0x00, SNACmdEW, WCCKeyboardReset, w)
	process(t, e, append([]byte{CmdWSF}, sf...))
	if r, _ := e.Size(); r != 24 || strings.TrimSpace(e.Screen()[1]) != "3270DS" {
		t.Errorf("Outbound 3270DS: size %d, row 1 %q", r, e.Screen()[1])
	}
	// Two fields in one WSF, the second with length 0 (rest of record).
	out := process(t, e, rec(CmdWSF, 0, 4, sfSetReplyMode, 0, 0, 0, sfReadPartition, 0xFF, rpQuery))
	parseQueryReply(t, out)
}

func TestTypingRules(t *testing.T) {
	e := newEngine(t, 2)
	process(t, e, logonScreen())
	// Fill the 10-position field: the cursor skips the skip field and
	// lands in the numeric field.
	if err := e.Type("ABCDEFGHIJ"); err != nil {
		t.Fatal(err)
	}
	if e.cursor != 31 {
		t.Fatalf("after a full field cursor = %d, want 31 (auto-skip)", e.cursor)
	}
	if err := e.Type("x"); !errors.Is(err, ErrNumeric) || e.Keyboard() != LockedNumeric {
		t.Fatalf("letter in numeric field: %v, %v", err, e.Keyboard())
	}
	if err := e.Type("1"); !errors.Is(err, ErrKeyboardLocked) {
		t.Fatalf("typing while locked: %v", err)
	}
	e.Press(KeyReset)
	if err := e.Type("12.-"); err != nil {
		t.Fatal(err)
	}
	e.MoveCursor(0, 2)
	if err := e.Type("z"); !errors.Is(err, ErrProtected) || e.Keyboard() != LockedProtected {
		t.Fatalf("protected: %v, %v", err, e.Keyboard())
	}
	e.Press(KeyReset)
	e.MoveCursor(0, 9)
	if err := e.Type("z"); !errors.Is(err, ErrProtected) {
		t.Fatalf("typing on an attribute: %v", err)
	}
	e.Press(KeyReset)
	// Insert mode: the field is full, so an insert overflows.
	e.MoveCursor(0, 12)
	e.Press(KeyInsert)
	if err := e.Type("!"); !errors.Is(err, ErrOverflow) || e.Keyboard() != LockedOverflow {
		t.Fatalf("insert into a full field: %v, %v", err, e.Keyboard())
	}
	e.Press(KeyReset)
	if e.InsertMode() {
		t.Errorf("Reset left insert mode on")
	}
	e.MoveCursor(0, 18)
	e.Press(KeyEraseEOF)
	if got := e.Fields()[1].Contents; got != "ABCDEFGH  " {
		t.Fatalf("after EraseEOF %q", got)
	}
	e.MoveCursor(0, 12)
	e.Press(KeyInsert)
	if err := e.Type("+"); err != nil {
		t.Fatal(err)
	}
	if got := e.Fields()[1].Contents; got != "AB+CDEFGH " {
		t.Errorf("after insert %q", got)
	}
	e.Press(KeyInsert)
	e.MoveCursor(0, 10)
	e.Press(KeyDelete)
	if got := e.Fields()[1].Contents; got != "B+CDEFGH  " {
		t.Errorf("after Delete %q", got)
	}
	e.MoveCursor(0, 12)
	e.Press(KeyErase)
	if got := e.Fields()[1].Contents; got != "BCDEFGH   " || e.cursor != 11 {
		t.Errorf("after Erase %q cursor %d", got, e.cursor)
	}
	e.Press(KeyBackspace)
	if e.cursor != 10 || e.Fields()[1].Contents != "BCDEFGH   " {
		t.Errorf("Backspace must only move: cursor %d", e.cursor)
	}
	e.Press(KeyDup)
	if e.buf[10].ch != fcoDUP || e.cursor != 31 || e.Screen()[0][10] != '*' {
		t.Errorf("Dup: cell %#x cursor %d", e.buf[10].ch, e.cursor)
	}
	e.MoveCursor(0, 11)
	e.Press(KeyFieldMark)
	if e.buf[11].ch != fcoFM || e.cursor != 12 || e.Screen()[0][11] != ';' {
		t.Errorf("FieldMark: cell %#x cursor %d", e.buf[11].ch, e.cursor)
	}
	e.Press(KeyEraseInput)
	for _, f := range e.Fields() {
		if !f.Protected && (f.Modified || strings.TrimSpace(f.Contents) != "") {
			t.Errorf("EraseInput left %+v", f)
		}
	}
	if e.cursor != 10 {
		t.Errorf("EraseInput cursor %d, want 10", e.cursor)
	}
}

func TestCursorKeys(t *testing.T) {
	e := newEngine(t, 2)
	process(t, e, rec(CmdEW, WCCKeyboardReset,
		OrderSF, codeTable[FAProtected], "L",
		OrderSBA, addr(5), OrderSF, codeTable[0],
		OrderSBA, addr(15), OrderSF, codeTable[FAProtected],
		OrderSBA, addr(165), OrderSF, codeTable[0],
		OrderSBA, addr(170), OrderSF, codeTable[FAProtected]))
	steps := []struct {
		key  Key
		want int
	}{
		{KeyHome, 6}, {KeyTab, 166}, {KeyTab, 6}, {KeyBacktab, 166}, {KeyRight, 167},
		{KeyBacktab, 166}, {KeyBacktab, 6}, {KeyNewline, 166}, {KeyUp, 86}, {KeyDown, 166},
		{KeyLeft, 165}, {KeyNewline, 6},
	}
	for i, s := range steps {
		if _, err := e.Press(s.key); err != nil {
			t.Fatal(err)
		}
		if e.cursor != s.want {
			t.Fatalf("step %d %v: cursor %d, want %d", i, s.key, e.cursor, s.want)
		}
	}
	if _, err := e.Press(Key(9999)); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("unknown key err = %v", err)
	}
}

func TestSetField(t *testing.T) {
	e := newEngine(t, 2)
	process(t, e, logonScreen())
	if err := e.SetField(0, 15, "alice"); err != nil {
		t.Fatal(err)
	}
	if f := e.Fields()[1]; f.Contents != "alice     " || !f.Modified || e.cursor != 15 {
		t.Errorf("SetField: %+v cursor %d", f, e.cursor)
	}
	if err := e.SetField(0, 41, "demo"); err != nil {
		t.Fatal(err)
	}
	if f := e.Fields()[5]; f.Contents != "        " {
		t.Errorf("hidden field contents exposed: %q", f.Contents)
	}
	tests := []struct {
		row, col int
		text     string
		want     error
	}{
		{0, 2, "x", ErrProtected},
		{0, 31, "12a", ErrNumeric},
		{0, 11, "01234567890", ErrTooLong},
		{0, 11, "日", ErrUnencodable},
		{30, 0, "x", ErrNoField},
	}
	for _, tc := range tests {
		err := e.SetField(tc.row, tc.col, tc.text)
		var fe *FieldError
		if !errors.Is(err, tc.want) || !errors.As(err, &fe) {
			t.Errorf("SetField(%d,%d,%q) = %v, want %v", tc.row, tc.col, tc.text, err, tc.want)
		}
	}
	if e.Keyboard() != Unlocked {
		t.Errorf("SetField errors must not lock the keyboard")
	}
	out, _ := e.Press(KeyEnter)
	want := rec(AIDEnter, addr(45), OrderSBA, addr(10), "alice", OrderSBA, addr(41), "demo")
	if !bytes.Equal(out, want) {
		t.Errorf("Enter = % x\nwant    % x", out, want)
	}
	if err := e.SetField(0, 15, "bob"); !errors.Is(err, ErrKeyboardLocked) {
		t.Errorf("SetField while locked: %v", err)
	}
	if _, err := e.Press(KeyEnter); !errors.Is(err, ErrKeyboardLocked) {
		t.Errorf("second AID while locked: %v", err)
	}
}

func TestSysReqTestRequestRead(t *testing.T) {
	e := newEngine(t, 2)
	process(t, e, logonScreen())
	e.Type("Q")
	out, _ := e.Press(KeySysReq)
	if want := rec(0x01, 0x5C, 0x61, 0x02, OrderSBA, addr(10), "Q"); !bytes.Equal(out, want) {
		t.Errorf("SysReq = % x want % x", out, want)
	}
}

func BenchmarkProcessScreen(b *testing.B) {
	m, _ := LookupModel(2)
	e := NewEngine(m, nil, zerolog.Nop())
	r := logonScreen()
	for i := 0; i < 20; i++ {
		r = append(r, rec(OrderSBA, addr(80*(i+2)), OrderSF, codeTable[FAProtected], strings.Repeat("DATA ", 14))...)
	}
	b.SetBytes(int64(len(r)))
	for b.Loop() {
		if _, err := e.Process(r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkScreen(b *testing.B) {
	m, _ := LookupModel(2)
	e := NewEngine(m, nil, zerolog.Nop())
	e.Process(logonScreen())
	for b.Loop() {
		_ = e.Screen()
	}
}

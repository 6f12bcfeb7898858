package vt

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

type screenCase struct {
	name     string
	rows     int
	cols     int
	in       string
	want     []string // leading rows; the rest must be empty
	row, col int      // want cursor; -1 skips the check
}

func runScreenCases(t *testing.T, cases []screenCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rows, cols := tc.rows, tc.cols
			if rows == 0 {
				rows, cols = 5, 10
			}
			s := New(Config{Rows: rows, Cols: cols})
			s.Write([]byte(tc.in))
			got := s.Rows()
			want := make([]string, rows)
			copy(want, tc.want)
			if d := rowDiff(got, want); d != "" {
				t.Errorf("rows:\n%s", d)
			}
			if tc.row >= 0 {
				r, c, _ := s.Cursor()
				if r != tc.row || c != tc.col {
					t.Errorf("cursor = (%d,%d), want (%d,%d)", r, c, tc.row, tc.col)
				}
			}
		})
	}
}

// Screens are 5 rows × 10 columns unless a case says otherwise.
func TestCursorMotion(t *testing.T) {
	runScreenCases(t, []screenCase{
		{name: "CUP", in: "\x1b[2;3HX", want: []string{"", "  X"}, row: 1, col: 3},
		{name: "CUP clamps", in: "\x1b[99;99HX", want: []string{"", "", "", "", "         X"}, row: 4, col: 9},
		{name: "HVP", in: "\x1b[3;2fX", want: []string{"", "", " X"}, row: 2, col: 2},
		{name: "CUU CUD", in: "\x1b[3;3H\x1b[2AU\x1b[9BD", want: []string{"  U", "", "", "", "   D"}, row: 4, col: 4},
		{name: "CUF CUB", in: "\x1b[4CX\x1b[2DY\x1b[99CZ", want: []string{"   YX    Z"}, row: 0, col: 9},
		{name: "CNL CPL", in: "ab\x1b[2Ec\x1b[Fd", want: []string{"ab", "d", "c"}, row: 1, col: 1},
		{name: "CHA HPA", in: "\x1b[5Ga\x1b[2`b", want: []string{" b  a"}, row: 0, col: 2},
		{name: "VPA keeps column", in: "ab\x1b[4dc", want: []string{"ab", "", "", "  c"}, row: 3, col: 3},
		{name: "HPR VPR (xterm)", in: "a\x1b[2ab\x1b[2ec", want: []string{"a  b", "", "    c"}, row: 2, col: 5},
		{name: "BS stops at 0", in: "ab\b\b\bX", want: []string{"Xb"}, row: 0, col: 1},
		{name: "CUD stops at bottom margin", in: "\x1b[2;3r\x1b[1;1H\x1b[9BX", want: []string{"", "", "X"}, row: 2, col: 1},
		{name: "CUD below margin reaches screen end", in: "\x1b[2;3r\x1b[4;1H\x1b[9BX", want: []string{"", "", "", "", "X"}, row: 4, col: 1},
		{name: "CUU above margin reaches top", in: "\x1b[3;4r\x1b[2;1H\x1b[9AX", want: []string{"X"}, row: 0, col: 1},
	})
}

func TestWrap(t *testing.T) {
	runScreenCases(t, []screenCase{
		{name: "pending wrap keeps cursor", in: "0123456789", want: []string{"0123456789"}, row: 0, col: 9},
		{name: "wrap on next char", in: "0123456789a", want: []string{"0123456789", "a"}, row: 1, col: 1},
		{name: "CR cancels wrap", in: "0123456789\rX", want: []string{"X123456789"}, row: 0, col: 1},
		// xterm: LF clears the pending wrap and keeps the column.
		{name: "LF after pending wrap (xterm)", in: "0123456789\nX", want: []string{"0123456789", "         X"}, row: 1, col: 9},
		// xterm: BS from a pending wrap moves from the last column to the one before it.
		{name: "BS after pending wrap (xterm)", in: "0123456789\bX", want: []string{"01234567X9"}, row: 0, col: 9},
		{name: "EL after pending wrap clears last cell", in: "0123456789\x1b[K", want: []string{"012345678"}, row: 0, col: 9},
		{name: "no autowrap overwrites last column", in: "\x1b[?7l0123456789abc", want: []string{"012345678c"}, row: 0, col: 9},
		{name: "wrap scrolls", rows: 2, cols: 3, in: "abcdefgh", want: []string{"def", "gh"}, row: 1, col: 2},
		{name: "DECSC keeps pending wrap", in: "0123456789\x1b7\x1b[3;3H\x1b8X", want: []string{"0123456789", "X"}, row: 1, col: 1},
		// xterm and DEC STD 070: printing in the last column sets the flag even
		// with DECAWM off; it wraps if DECAWM is on when the next character comes.
		{name: "DECAWM off keeps last-column flag (xterm)", in: "\x1b[?7l0123456789\x1b[?7hX", want: []string{"0123456789", "X"}, row: 1, col: 1},
		{name: "DECAWM off overwrites then wraps (xterm)", in: "0123456789\x1b[?7lY\x1b[?7hZ", want: []string{"012345678Y", "Z"}, row: 1, col: 1},
		{name: "wide char that does not fit is dropped without autowrap (xterm)", rows: 1, cols: 5, in: "\x1b[?7labcd中", want: []string{"abcd"}, row: 0, col: 4},
	})
}

func TestErase(t *testing.T) {
	fill := "\x1b#8"
	runScreenCases(t, []screenCase{
		{name: "ED0", rows: 3, cols: 4, in: fill + "\x1b[2;2H\x1b[J", want: []string{"EEEE", "E"}, row: 1, col: 1},
		{name: "ED1", rows: 3, cols: 4, in: fill + "\x1b[2;2H\x1b[1J", want: []string{"", "  EE", "EEEE"}, row: 1, col: 1},
		{name: "ED2", rows: 3, cols: 4, in: fill + "\x1b[2;2H\x1b[2J", want: nil, row: 1, col: 1},
		{name: "EL0", rows: 2, cols: 4, in: fill + "\x1b[1;3H\x1b[K", want: []string{"EE", "EEEE"}, row: 0, col: 2},
		{name: "EL1", rows: 2, cols: 4, in: fill + "\x1b[1;3H\x1b[1K", want: []string{"   E", "EEEE"}, row: 0, col: 2},
		{name: "EL2", rows: 2, cols: 4, in: fill + "\x1b[1;3H\x1b[2K", want: []string{"", "EEEE"}, row: 0, col: 2},
		{name: "ECH", rows: 1, cols: 6, in: fill + "\x1b[1;2H\x1b[3X", want: []string{"E   EE"}, row: 0, col: 1},
		{name: "ECH clipped", rows: 1, cols: 6, in: fill + "\x1b[1;5H\x1b[99X", want: []string{"EEEE"}, row: 0, col: 4},
		{name: "DECSED keeps protected", rows: 2, cols: 6, in: "ab\x1b[1\"qCD\x1b[0\"qef\r\nxyz\x1b[?2J", want: []string{"  CD"}, row: 1, col: 3},
		{name: "DECSEL keeps protected", rows: 1, cols: 6, in: "a\x1b[1\"qB\x1b[\"qc\x1b[?2K", want: []string{" B"}, row: 0, col: 3},
		{name: "ED ignores protection", rows: 1, cols: 6, in: "a\x1b[1\"qB\x1b[2J", want: nil, row: 0, col: 2},
		{name: "ED3 keeps screen", rows: 2, cols: 6, in: "ab\x1b[3J", want: []string{"ab"}, row: 0, col: 2},
	})
}

func TestInsertDelete(t *testing.T) {
	lines := "1\r\n2\r\n3\r\n4\r\n5\x1b[H"
	runScreenCases(t, []screenCase{
		{name: "ICH", rows: 1, cols: 6, in: "abcdef\x1b[1;2H\x1b[2@", want: []string{"a  bcd"}, row: 0, col: 1},
		{name: "DCH", rows: 1, cols: 6, in: "abcdef\x1b[1;2H\x1b[2P", want: []string{"adef"}, row: 0, col: 1},
		{name: "DCH clipped", rows: 1, cols: 6, in: "abcdef\x1b[1;3H\x1b[99P", want: []string{"ab"}, row: 0, col: 2},
		{name: "IL", in: lines + "\x1b[2;3H\x1b[2L", want: []string{"1", "", "", "2", "3"}, row: 1, col: 0},
		{name: "DL", in: lines + "\x1b[2;3H\x1b[2M", want: []string{"1", "4", "5"}, row: 1, col: 0},
		{name: "IL in region", in: lines + "\x1b[2;4r\x1b[3;1H\x1bL", want: []string{"1", "2", "3", "4", "5"}, row: 2, col: 0},
		{name: "IL in region 2", in: lines + "\x1b[2;4r\x1b[3;1H\x1b[L", want: []string{"1", "2", "", "3", "5"}, row: 2, col: 0},
		{name: "DL in region", in: lines + "\x1b[2;4r\x1b[2;1H\x1b[M", want: []string{"1", "3", "4", "", "5"}, row: 1, col: 0},
		// xterm ignores IL and DL outside the scroll margins.
		{name: "IL outside region (xterm)", in: lines + "\x1b[2;3r\x1b[5;1H\x1b[L", want: []string{"1", "2", "3", "4", "5"}, row: 4, col: 0},
		{name: "DL outside region (xterm)", in: lines + "\x1b[2;3r\x1b[4;1H\x1b[M", want: []string{"1", "2", "3", "4", "5"}, row: 3, col: 0},
		{name: "IRM", rows: 1, cols: 6, in: "abcd\r\x1b[4hXY\x1b[4lZ", want: []string{"XYZbcd"}, row: 0, col: 3},
		{name: "REP", rows: 1, cols: 8, in: "ab\x1b[3b", want: []string{"abbbb"}, row: 0, col: 5},
		// xterm: REP repeats only right after a character, not after a control.
		{name: "REP after control (xterm)", rows: 1, cols: 8, in: "a\r\x1b[3bb\x1b[m\x1b[2b\x00\x1b[2b", want: []string{"b"}, row: 0, col: 1},
		{name: "REP does not chain (xterm)", rows: 1, cols: 8, in: "ab\x1b[2b\x1b[2b", want: []string{"abbb"}, row: 0, col: 4},
		{name: "ICH drops wide char pushed past margin", rows: 1, cols: 6, in: "abcd中\x1b[1;1H\x1b[@", want: []string{" abcd"}, row: 0, col: 0},
	})
}

func TestScroll(t *testing.T) {
	lines := "1\r\n2\r\n3\r\n4\r\n5"
	runScreenCases(t, []screenCase{
		{name: "LF scrolls", in: lines + "\n6", want: []string{"2", "3", "4", "5", " 6"}, row: 4, col: 2},
		{name: "IND", in: lines + "\x1bDx", want: []string{"2", "3", "4", "5", " x"}, row: 4, col: 2},
		{name: "RI at top", in: lines + "\x1b[H\x1bMx", want: []string{"x", "1", "2", "3", "4"}, row: 0, col: 1},
		{name: "NEL", in: "ab\x1bEc", want: []string{"ab", "c"}, row: 1, col: 1},
		{name: "region scroll", in: lines + "\x1b[2;4r\x1b[4;1H\nx", want: []string{"1", "3", "4", "x", "5"}, row: 3, col: 1},
		{name: "SU", in: lines + "\x1b[2S", want: []string{"3", "4", "5"}, row: 4, col: 1},
		{name: "SD", in: lines + "\x1b[2T", want: []string{"", "", "1", "2", "3"}, row: 4, col: 1},
		{name: "SU region", in: lines + "\x1b[2;4r\x1b[S", want: []string{"1", "3", "4", "", "5"}, row: 0, col: 0},
		{name: "LNM", in: "\x1b[20hab\ncd", want: []string{"ab", "cd"}, row: 1, col: 2},
		{name: "VT FF like LF", in: "a\vb\fc", want: []string{"a", " b", "  c"}, row: 2, col: 3},
		{name: "DECSTBM invalid ignored", in: "\x1b[2;2r\x1b[3;1Hx\x1b[5;1H\ny", want: []string{"", "x", "", "", "y"}, row: 4, col: 1},
		{name: "origin mode", in: "\x1b[2;4r\x1b[?6h\x1b[HA\x1b[9;1HB", want: []string{"", "A", "", "B"}, row: 3, col: 1},
	})
}

func TestTabs(t *testing.T) {
	runScreenCases(t, []screenCase{
		{name: "default stops", rows: 1, cols: 20, in: "a\tb\tc", want: []string{"a       b       c"}, row: 0, col: 17},
		{name: "HT stops at margin", rows: 1, cols: 20, in: "\t\t\t\tx", want: []string{"                   x"}, row: 0, col: 19},
		{name: "HTS TBC", rows: 1, cols: 20, in: "\x1b[3g\x1b[4G\x1bH\r\tx\r\x1b[4G\x1b[g\r\ty", want: []string{"   x               y"}, row: 0, col: 19},
		// xterm supports CHT (tmux does not).
		{name: "CHT", rows: 1, cols: 20, in: "\x1b[2Ix\x1b[Iy", want: []string{"                x  y"}, row: 0, col: 19},
		{name: "CHT 1", rows: 1, cols: 30, in: "\x1b[2Ix", want: []string{"                x"}, row: 0, col: 17},
		{name: "CHT keeps pending wrap (xterm)", rows: 2, cols: 10, in: "0123456789\x1b[Ix", want: []string{"0123456789", "x"}, row: 1, col: 1},
		// xterm keeps the pending wrap across CBT too; DEC clears it (see xtermExcluded).
		{name: "CBT clears pending wrap", rows: 2, cols: 10, in: "0123456789\x1b[Zx", want: []string{"01234567x9"}, row: 0, col: 9},
		{name: "CBT", rows: 1, cols: 20, in: "\x1b[19G\x1b[Zx\x1b[2Zy", want: []string{"        y       x"}, row: 0, col: 9},
	})
}

func TestCharsets(t *testing.T) {
	runScreenCases(t, []screenCase{
		{name: "DEC graphics G0", rows: 1, cols: 20, in: "\x1b(0lqk\x1b(Bq", want: []string{"┌─┐q"}, row: 0, col: 4},
		{name: "SO SI", rows: 1, cols: 20, in: "\x1b)0x\x0ex\x0fx", want: []string{"x│x"}, row: 0, col: 3},
		{name: "SS2", rows: 1, cols: 20, in: "\x1b*0\x1bNqq", want: []string{"─q"}, row: 0, col: 2},
		{name: "SS3", rows: 1, cols: 20, in: "\x1b+0\x1bOjj", want: []string{"┘j"}, row: 0, col: 2},
		{name: "LS2", rows: 1, cols: 20, in: "\x1b*0\x1bnm\x0fm", want: []string{"└m"}, row: 0, col: 2},
		{name: "UK", rows: 1, cols: 20, in: "\x1b(A#\x1b(B#", want: []string{"£#"}, row: 0, col: 2},
		{name: "DECSC saves charset", rows: 1, cols: 20, in: "\x1b(0\x1b7\x1b(Bq\x1b8q", want: []string{"─"}, row: 0, col: 1},
	})
}

func TestUnicode(t *testing.T) {
	runScreenCases(t, []screenCase{
		{name: "wide", rows: 1, cols: 10, in: "中a", want: []string{"中a"}, row: 0, col: 3},
		{name: "wide wraps early", rows: 2, cols: 5, in: "abcd中", want: []string{"abcd", "中"}, row: 1, col: 2},
		{name: "emoji", rows: 1, cols: 10, in: "\U0001F600x", want: []string{"\U0001F600x"}, row: 0, col: 3},
		{name: "combining", rows: 1, cols: 10, in: "e\u0301x", want: []string{"e\u0301x"}, row: 0, col: 2},
		{name: "combining on wide", rows: 1, cols: 10, in: "中\u0301", want: []string{"中\u0301"}, row: 0, col: 2},
		// xterm: after cursor motion a combining character goes to the cell
		// under the cursor; after HT, SGR or NUL it still goes to the last one printed.
		{name: "combining after CUP (xterm)", rows: 1, cols: 10, in: "abc\x1b[2G\u0301", want: []string{"ab\u0301c"}, row: 0, col: 1},
		{name: "combining after CR (xterm)", rows: 1, cols: 10, in: "abc\r\u0301", want: []string{"a\u0301bc"}, row: 0, col: 0},
		{name: "combining after HT (xterm)", rows: 1, cols: 10, in: "u\t\u0301", want: []string{"u\u0301"}, row: 0, col: 8},
		{name: "combining after SGR and NUL (xterm)", rows: 1, cols: 10, in: "e\x1b[1m\x00\u0301", want: []string{"e\u0301"}, row: 0, col: 1},
		{name: "invalid bytes", rows: 1, cols: 10, in: "a\xffb\xe4\xb8c", want: []string{"a\ufffdb\ufffdc"}, row: 0, col: 5},
		{name: "overlong", rows: 1, cols: 10, in: "\xc0\xafx", want: []string{"\ufffd\ufffdx"}, row: 0, col: 3},
		{name: "surrogate", rows: 1, cols: 10, in: "\xed\xa0\x80x", want: []string{"\ufffd\ufffd\ufffdx"}, row: 0, col: 4},
		// xterm blanks the left half of a wide character whose right half is overwritten.
		{name: "overwrite right half (xterm)", rows: 1, cols: 10, in: "中文\x1b[1;2HX", want: []string{" X文"}, row: 0, col: 2},
		{name: "overwrite left half", rows: 1, cols: 10, in: "中文\x1b[1;3HX", want: []string{"中X"}, row: 0, col: 3},
		{name: "C1 CSI as UTF-8", rows: 1, cols: 10, in: "ab\u009b5GX", want: []string{"ab  X"}, row: 0, col: 5},
	})
}

func TestParserStates(t *testing.T) {
	runScreenCases(t, []screenCase{
		{name: "CAN aborts", rows: 1, cols: 10, in: "a\x1b[3\x18b", want: []string{"ab"}, row: 0, col: 2},
		{name: "SUB aborts", rows: 1, cols: 10, in: "a\x1b]0;x\x1ab", want: []string{"ab"}, row: 0, col: 2},
		{name: "C0 inside CSI", rows: 2, cols: 10, in: "abc\x1b[2\r;5Hx", want: []string{"abc", "    x"}, row: 1, col: 5},
		{name: "ESC restarts", rows: 1, cols: 10, in: "\x1b[1;\x1b[3Gx", want: []string{"  x"}, row: 0, col: 3},
		{name: "OSC BEL", rows: 1, cols: 10, in: "\x1b]2;t\x07x", want: []string{"x"}, row: 0, col: 1},
		{name: "DCS ignored", rows: 1, cols: 10, in: "\x1bP1$qm\x1b\\x", want: []string{"x"}, row: 0, col: 1},
		{name: "APC PM SOS ignored", rows: 1, cols: 10, in: "\x1b_a\x1b\\\x1b^b\x1b\\\x1bXc\x1b\\x", want: []string{"x"}, row: 0, col: 1},
		{name: "CSI ignore state", rows: 1, cols: 10, in: "\x1b[1?2Gx", want: []string{"x"}, row: 0, col: 1},
		{name: "too many params", rows: 1, cols: 10, in: "\x1b[" + strings.Repeat("1;", 40) + "5Gx", want: []string{"x"}, row: 0, col: 1},
		{name: "huge param", rows: 1, cols: 10, in: "\x1b[99999999999999999999Gx", want: []string{"         x"}, row: 0, col: 9},
		{name: "split sequence", rows: 1, cols: 10, in: "\x1b[", want: nil, row: 0, col: 0},
		{name: "DEL ignored", rows: 1, cols: 10, in: "a\x7fb", want: []string{"ab"}, row: 0, col: 2},
	})
}

func TestModesAndState(t *testing.T) {
	s := New(Config{Rows: 5, Cols: 10})
	if m := s.Modes(); !m.AutoWrap || !m.CursorVisible || m.CursorKeysApplication {
		t.Fatalf("initial modes = %+v", m)
	}
	s.Write([]byte("\x1b[?1h\x1b[?2004h\x1b[?25l\x1b=\x1b[?1000h\x1b[?1006h\x1b[4h"))
	m := s.Modes()
	if !m.CursorKeysApplication || !m.BracketedPaste || m.CursorVisible || !m.KeypadApplication ||
		m.MouseTracking != 1000 || !m.MouseSGR || !m.Insert {
		t.Fatalf("modes = %+v", m)
	}
	if !s.CursorKeysApplication() {
		t.Fatal("CursorKeysApplication = false")
	}
	if _, _, vis := s.Cursor(); vis {
		t.Fatal("cursor visible after DECTCEM reset")
	}
	s.Write([]byte("\x1b[!p"))
	m = s.Modes()
	if m.CursorKeysApplication || !m.CursorVisible || m.Insert {
		t.Fatalf("after DECSTR modes = %+v", m)
	}
	s.Write([]byte("\x1b]0;hello \x1b[31mworld\x07"))
	if got := s.Title(); got != "hello " {
		// ESC ends the OSC string: the title is what came before it.
		t.Fatalf("Title = %q", got)
	}
	s.Write([]byte("\x1b]2;caf\xc3\xa9\x1b\\"))
	if got := s.Title(); got != "café" {
		t.Fatalf("Title = %q", got)
	}
	s.Write([]byte("\x1bc"))
	if s.Title() != "" || s.Modes().BracketedPaste {
		t.Fatal("RIS did not reset")
	}
}

func TestDECSTR(t *testing.T) {
	// xterm: DECSTR resets DECOM and the margins (tmux keeps origin mode).
	runScreenCases(t, []screenCase{
		{name: "resets origin and margins", in: "\x1b[2;3r\x1b[?6h\x1b[!p\x1b[5;1Hx\n", want: []string{"", "", "", "x"}, row: 4, col: 1},
		{name: "keeps screen", in: "ab\x1b[!p", want: []string{"ab"}, row: 0, col: 2},
	})
}

func TestAltScreen(t *testing.T) {
	s := New(Config{Rows: 3, Cols: 10})
	s.Write([]byte("main\x1b[2;2H\x1b[?1049halt"))
	if !s.AltScreen() {
		t.Fatal("AltScreen = false after 1049h")
	}
	if got := s.Rows(); got[0] != "" || got[1] != " alt" {
		t.Fatalf("alt rows = %q", got)
	}
	s.Write([]byte("\x1b[?1049l"))
	if s.AltScreen() {
		t.Fatal("AltScreen = true after 1049l")
	}
	if got := s.Rows(); got[0] != "main" {
		t.Fatalf("main rows = %q", got)
	}
	if r, c, _ := s.Cursor(); r != 1 || c != 1 {
		t.Fatalf("cursor = (%d,%d), want restored (1,1)", r, c)
	}
	// 47 keeps the alternate content; 1047 clears it on leaving.
	s.Write([]byte("\x1b[?47hX\x1b[?47l\x1b[?47h"))
	if got := s.Rows(); !strings.Contains(got[1], "X") {
		t.Fatalf("47 lost alt content: %q", got)
	}
	s.Write([]byte("\x1b[?47l\x1b[?1047h\x1b[?1047l\x1b[?1047h"))
	if got := s.Rows(); strings.Contains(strings.Join(got, ""), "X") {
		t.Fatalf("1047 kept alt content: %q", got)
	}
	// The alternate screen has no scrollback.
	s.Write([]byte("\r\n\r\n\r\n\r\n"))
	if got := s.Scrollback(); len(got) != 0 {
		t.Fatalf("alt screen scrolled into scrollback: %q", got)
	}
}

func TestReplies(t *testing.T) {
	tests := []struct{ in, want string }{
		{"\x1b[c", da1Reply},
		{"\x1b[0c", da1Reply},
		{"\x1bZ", da1Reply},
		{"\x1b[>c", da2Reply},
		{"\x1b[5n", "\x1b[0n"},
		{"\x1b[3;7H\x1b[6n", "\x1b[3;7R"},
		{"\x1b[2;4r\x1b[?6h\x1b[2;5H\x1b[6n", "\x1b[2;5R"},
		{"\x1b[?6n", "\x1b[?1;1R"},
		{"\x1b[?2004h\x1b[?2004$p", "\x1b[?2004;1$y"},
		{"\x1b[?1$p", "\x1b[?1;2$y"},
		{"\x1b[?9999$p", "\x1b[?9999;0$y"},
		{"\x1b[4h\x1b[4$p", "\x1b[4;1$y"},
		{"\x1b[20$p", "\x1b[20;2$y"},
		{"\x1b[c\x1b[5n", da1Reply + "\x1b[0n"},
	}
	for _, tc := range tests {
		var out bytes.Buffer
		s := New(Config{Reply: &out})
		s.Write([]byte(tc.in))
		if out.String() != tc.want {
			t.Errorf("%q: reply %q, want %q", tc.in, out.String(), tc.want)
		}
	}
	// No Reply writer: replies are dropped without error.
	s := New(Config{})
	if n, err := s.Write([]byte("\x1b[c")); n != 3 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
}

func TestSGR(t *testing.T) {
	tests := []struct {
		in   string
		want Attr
	}{
		{"\x1b[1;3;4;5;7;8;9m", Attr{Flags: Bold | Italic | Underline | Blink | Reverse | Invisible | Strike}},
		{"\x1b[2m", Attr{Flags: Faint}},
		{"\x1b[1;2;22m", Attr{}},
		{"\x1b[31;42m", Attr{FG: Indexed(1), BG: Indexed(2)}},
		{"\x1b[91;102m", Attr{FG: Indexed(9), BG: Indexed(10)}},
		{"\x1b[38;5;200;48;5;17m", Attr{FG: Indexed(200), BG: Indexed(17)}},
		{"\x1b[38;2;1;2;3;1m", Attr{FG: RGB(1, 2, 3), Flags: Bold}},
		{"\x1b[38:2::10:20:30m", Attr{FG: RGB(10, 20, 30)}},
		{"\x1b[38:2:10:20:30m", Attr{FG: RGB(10, 20, 30)}},
		{"\x1b[48:5:100;4m", Attr{BG: Indexed(100), Flags: Underline}},
		{"\x1b[4:3m", Attr{Flags: Underline}},
		{"\x1b[4m\x1b[4:0m", Attr{}},
		{"\x1b[31m\x1b[39m", Attr{}},
		{"\x1b[1;31m\x1b[m", Attr{}},
		{"\x1b[38;5m", Attr{}},
		{"\x1b[38;5;300m", Attr{}},
		{"\x1b[1;7m\x1b[27;21m", Attr{Flags: Bold | Underline}},
	}
	for _, tc := range tests {
		s := New(Config{Rows: 1, Cols: 5})
		s.Write([]byte(tc.in + "x"))
		if got := s.Cell(0, 0).Attr; got != tc.want {
			t.Errorf("%q: attr %+v, want %+v", tc.in, got, tc.want)
		}
	}
	// Back colour erase: erased cells take the current background.
	s := New(Config{Rows: 1, Cols: 5})
	s.Write([]byte("\x1b[44m\x1b[2K"))
	if got := s.Cell(0, 4).Attr.BG; got != Indexed(4) {
		t.Errorf("erased BG = %v", got)
	}
}

func TestCellAndText(t *testing.T) {
	s := New(Config{Rows: 2, Cols: 6})
	s.Write([]byte("a中e\u0301"))
	if c := s.Cell(0, 1); c.Rune != '中' || c.Width != 2 {
		t.Errorf("Cell(0,1) = %+v", c)
	}
	if c := s.Cell(0, 2); c.Width != 0 {
		t.Errorf("Cell(0,2) = %+v, want right half", c)
	}
	if c := s.Cell(0, 3); c.Rune != 'e' || c.Combining != "\u0301" {
		t.Errorf("Cell(0,3) = %+v", c)
	}
	if c := s.Cell(5, 5); c != (Cell{}) {
		t.Errorf("Cell outside = %+v", c)
	}
	if got := s.Text(0, 0, 6); got != "a中e\u0301  " {
		t.Errorf("Text = %q", got)
	}
	if got := s.Text(0, 4, 99); got != "  " {
		t.Errorf("Text clipped = %q", got)
	}
	if got := s.String(); got != "a中e\u0301\n" {
		t.Errorf("String = %q", got)
	}
}

func TestScrollback(t *testing.T) {
	s := New(Config{Rows: 2, Cols: 5, Scrollback: 3})
	for i := 0; i < 6; i++ {
		s.Write([]byte{'0' + byte(i), '\r', '\n'})
	}
	// Lines 0..4 left the screen; only the last three are kept.
	if got, want := s.Scrollback(), []string{"2", "3", "4"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("Scrollback = %q, want %q", got, want)
	}
	s.Write([]byte("\x1b[3J"))
	if got := s.Scrollback(); len(got) != 0 {
		t.Fatalf("after ED3 Scrollback = %q", got)
	}
	// A scroll region that does not start at the top keeps nothing.
	s = New(Config{Rows: 3, Cols: 5})
	s.Write([]byte("\x1b[2;3r\x1b[3;1Ha\nb\nc\n"))
	if got := s.Scrollback(); len(got) != 0 {
		t.Fatalf("region scroll saved %q", got)
	}
	s = New(Config{Rows: 2, Cols: 5, Scrollback: -1})
	s.Write([]byte("a\r\nb\r\nc\r\n"))
	if got := s.Scrollback(); len(got) != 0 {
		t.Fatalf("disabled scrollback = %q", got)
	}
}

func TestResize(t *testing.T) {
	s := New(Config{Rows: 4, Cols: 6})
	s.Write([]byte("111111\r\n222\r\n333\r\n444"))
	s.Resize(2, 4)
	if got := s.Rows(); strings.Join(got, "|") != "333|444" {
		t.Fatalf("rows after shrink = %q", got)
	}
	if got := s.Scrollback(); strings.Join(got, "|") != "111111|222" {
		t.Fatalf("scrollback after shrink = %q", got)
	}
	if r, c, _ := s.Cursor(); r != 1 || c != 3 {
		t.Fatalf("cursor = (%d,%d)", r, c)
	}
	s.Resize(3, 8)
	if got := s.Rows(); strings.Join(got, "|") != "333|444|" {
		t.Fatalf("rows after grow = %q", got)
	}
	s.Write([]byte("\t!"))
	if got := s.Rows()[1]; got != "444    !" {
		t.Fatalf("tab after grow = %q", got)
	}
	if rows, cols := s.Size(); rows != 3 || cols != 8 {
		t.Fatalf("Size = %d,%d", rows, cols)
	}
	// A wide character cut by the new width becomes blank.
	s = New(Config{Rows: 1, Cols: 4})
	s.Write([]byte("ab中"))
	s.Resize(1, 3)
	if got := s.Rows()[0]; got != "ab" {
		t.Fatalf("cut wide = %q", got)
	}
}

func TestChanged(t *testing.T) {
	s := New(Config{Rows: 2, Cols: 5})
	ch := s.Changed()
	select {
	case <-ch:
		t.Fatal("closed before any Write")
	default:
	}
	g := s.Generation()
	s.Write([]byte("x"))
	select {
	case <-ch:
	default:
		t.Fatal("Changed not closed by Write")
	}
	if s.Generation() != g+1 {
		t.Fatal("Generation did not advance")
	}
	if s.Changed() == ch {
		t.Fatal("Changed returned the closed channel")
	}
}

func TestDECALNAndRIS(t *testing.T) {
	runScreenCases(t, []screenCase{
		{name: "DECALN", rows: 2, cols: 3, in: "\x1b[2;2r\x1b#8", want: []string{"EEE", "EEE"}, row: 0, col: 0},
		{name: "RIS", rows: 2, cols: 3, in: "ab\x1b[?7l\x1bcabcd", want: []string{"abc", "d"}, row: 1, col: 1},
	})
}

type readingWriter struct {
	s   *Screen
	got []string
}

func (w *readingWriter) Write(p []byte) (int, error) {
	r, c, _ := w.s.Cursor() // must not deadlock: replies are written without the lock
	w.got = append(w.got, fmt.Sprintf("%q@%d,%d", p, r, c))
	return len(p), nil
}

func TestReplyWriterMayReadScreen(t *testing.T) {
	w := &readingWriter{}
	s := New(Config{Rows: 3, Cols: 5, Reply: w})
	w.s = s
	s.Write([]byte("ab\x1b[6n"))
	if len(w.got) != 1 || w.got[0] != `"\x1b[1;3R"@0,2` {
		t.Fatalf("replies %q", w.got)
	}
}

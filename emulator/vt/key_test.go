package vt

import "testing"

func TestEncodeKey(t *testing.T) {
	tests := []struct {
		name string
		k    Key
		mods Mod
		app  bool
		want string
	}{
		{"enter", KeyEnter, 0, false, "\r"},
		{"alt enter", KeyEnter, ModAlt, false, "\x1b\r"},
		{"tab", KeyTab, 0, false, "\t"},
		{"shift tab", KeyTab, ModShift, false, "\x1b[Z"},
		{"backspace", KeyBackspace, 0, false, "\x7f"},
		{"ctrl backspace", KeyBackspace, ModCtrl, false, "\x08"},
		{"escape", KeyEscape, 0, false, "\x1b"},
		{"up", KeyUp, 0, false, "\x1b[A"},
		{"up app", KeyUp, 0, true, "\x1bOA"},
		{"down", KeyDown, 0, false, "\x1b[B"},
		{"right app", KeyRight, 0, true, "\x1bOC"},
		{"left", KeyLeft, 0, false, "\x1b[D"},
		{"ctrl left", KeyLeft, ModCtrl, true, "\x1b[1;5D"},
		{"shift up", KeyUp, ModShift, false, "\x1b[1;2A"},
		{"ctrl alt shift up", KeyUp, ModCtrl | ModAlt | ModShift, false, "\x1b[1;8A"},
		{"home", KeyHome, 0, false, "\x1b[H"},
		{"home app", KeyHome, 0, true, "\x1bOH"},
		{"end", KeyEnd, 0, false, "\x1b[F"},
		{"shift end", KeyEnd, ModShift, false, "\x1b[1;2F"},
		{"insert", KeyInsert, 0, false, "\x1b[2~"},
		{"delete", KeyDelete, 0, false, "\x1b[3~"},
		{"ctrl delete", KeyDelete, ModCtrl, false, "\x1b[3;5~"},
		{"pgup", KeyPgUp, 0, false, "\x1b[5~"},
		{"pgdn", KeyPgDn, 0, false, "\x1b[6~"},
		{"F1", KeyF1, 0, false, "\x1bOP"},
		{"F4", KeyF4, 0, false, "\x1bOS"},
		{"ctrl F1", KeyF1, ModCtrl, false, "\x1b[1;5P"},
		{"F5", KeyF5, 0, false, "\x1b[15~"},
		{"F6", KeyF6, 0, false, "\x1b[17~"},
		{"F10", KeyF10, 0, false, "\x1b[21~"},
		{"F11", KeyF11, 0, false, "\x1b[23~"},
		{"F12", KeyF12, 0, false, "\x1b[24~"},
		{"shift F5", KeyF5, ModShift, false, "\x1b[15;2~"},
		{"F13", KeyF13, 0, false, "\x1b[1;2P"},
		{"F17", KeyF17, 0, false, "\x1b[15;2~"},
		{"F24", KeyF24, 0, false, "\x1b[24;2~"},
		{"unknown", Key(999), 0, false, ""},
	}
	for _, tc := range tests {
		if got := string(EncodeKey(tc.k, tc.mods, tc.app)); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestCtrlAlt(t *testing.T) {
	tests := []struct {
		r    rune
		want string
	}{
		{'c', "\x03"}, {'C', "\x03"}, {'a', "\x01"}, {'z', "\x1a"}, {'@', "\x00"}, {' ', "\x00"},
		{'[', "\x1b"}, {'\\', "\x1c"}, {'_', "\x1f"}, {'?', "\x7f"}, {'1', ""},
	}
	for _, tc := range tests {
		if got := string(Ctrl(tc.r)); got != tc.want {
			t.Errorf("Ctrl(%q) = %q, want %q", tc.r, got, tc.want)
		}
	}
	if got := string(Alt("x")); got != "\x1bx" {
		t.Errorf("Alt = %q", got)
	}
}

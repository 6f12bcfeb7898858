package emulator_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/termgate/termgate/emulator"
	"github.com/termgate/termgate/emulator/tn3270"
)

func TestParseKey(t *testing.T) {
	tests := []struct {
		name      string
		appCursor bool
		want      string
	}{
		{"Enter", false, "\r"},
		{"enter", false, "\r"},
		{"Tab", false, "\t"},
		{"Shift-Tab", false, "\x1b[Z"},
		{"Backspace", false, "\x7f"},
		{"Esc", false, "\x1b"},
		{"Up", false, "\x1b[A"},
		{"Up", true, "\x1bOA"},
		{"Left", true, "\x1bOD"},
		{"Home", false, "\x1b[H"},
		{"End", true, "\x1bOF"},
		{"PgUp", false, "\x1b[5~"},
		{"PageDown", false, "\x1b[6~"},
		{"Delete", false, "\x1b[3~"},
		{"F1", false, "\x1bOP"},
		{"F12", false, "\x1b[24~"},
		{"F13", false, "\x1b[1;2P"},
		{"F24", false, "\x1b[24;2~"},
		{"Ctrl-C", false, "\x03"},
		{"ctrl+a", false, "\x01"},
		{"C-z", false, "\x1a"},
		{"Ctrl-[", false, "\x1b"},
		{"Alt-f", false, "\x1bf"},
		{"M-x", false, "\x1bx"},
		{"Ctrl-Up", true, "\x1b[1;5A"},
		{"Ctrl-Alt-Delete", false, "\x1b[3;7~"},
	}
	for _, tt := range tests {
		k, err := emulator.ParseKey(tt.name)
		if err != nil {
			t.Errorf("ParseKey(%q): %v", tt.name, err)
			continue
		}
		if got := string(k.Encode(tt.appCursor)); got != tt.want {
			t.Errorf("%q (app %v): got %q, want %q", tt.name, tt.appCursor, got, tt.want)
		}
		if k.String() != tt.name {
			t.Errorf("String() = %q", k.String())
		}
	}
	for _, bad := range []string{"", "F0", "F25", "F+1", "Hyper-a", "x", "Ctrl-é", "Shift-a", "Enterr", "-", "Ctrl-"} {
		if _, err := emulator.ParseKey(bad); !errors.Is(err, emulator.ErrUnknownKey) {
			t.Errorf("ParseKey(%q) = %v, want ErrUnknownKey", bad, err)
		}
	}
}

func TestParseKey3270(t *testing.T) {
	tests := []struct {
		name string
		want tn3270.Key
		vt   bool // also a VT key
	}{
		{"PF1", tn3270.KeyPF1, false},
		{"pf3", tn3270.KeyPF3, false},
		{"PF24", tn3270.KeyPF24, false},
		{"F3", tn3270.KeyPF3, true},
		{"F24", tn3270.KeyPF24, true},
		{"PA1", tn3270.KeyPA1, false},
		{"pa3", tn3270.KeyPA3, false},
		{"Clear", tn3270.KeyClear, false},
		{"SysReq", tn3270.KeySysReq, false},
		{"Attn", tn3270.KeyAttn, false},
		{"EraseEOF", tn3270.KeyEraseEOF, false},
		{"eraseinput", tn3270.KeyEraseInput, false},
		{"Erase", tn3270.KeyErase, false},
		{"Dup", tn3270.KeyDup, false},
		{"FieldMark", tn3270.KeyFieldMark, false},
		{"Reset", tn3270.KeyReset, false},
		{"Newline", tn3270.KeyNewline, false},
		{"Backtab", tn3270.KeyBacktab, false},
		{"Shift-Tab", tn3270.KeyBacktab, true},
		{"Enter", tn3270.KeyEnter, true},
		{"Tab", tn3270.KeyTab, true},
		{"Home", tn3270.KeyHome, true},
		{"Backspace", tn3270.KeyBackspace, true},
		{"Delete", tn3270.KeyDelete, true},
		{"Insert", tn3270.KeyInsert, true},
		{"Up", tn3270.KeyUp, true},
		{"Right", tn3270.KeyRight, true},
	}
	for _, tt := range tests {
		k, err := emulator.ParseKey(tt.name)
		if err != nil {
			t.Errorf("ParseKey(%q): %v", tt.name, err)
			continue
		}
		got, ok := k.TN3270()
		if !ok || got != tt.want {
			t.Errorf("%q: 3270 key %v %v, want %v", tt.name, got, ok, tt.want)
		}
		if k.VT() != tt.vt || (len(k.Encode(false)) > 0) != tt.vt {
			t.Errorf("%q: VT() = %v, Encode %q", tt.name, k.VT(), k.Encode(false))
		}
	}
	// VT-only keys.
	for _, name := range []string{"Escape", "End", "PgUp", "Ctrl-C", "Alt-x", "Ctrl-Up", "Shift-F3", "Shift-Enter"} {
		k, err := emulator.ParseKey(name)
		if err != nil {
			t.Errorf("ParseKey(%q): %v", name, err)
			continue
		}
		if _, ok := k.TN3270(); ok || !k.VT() {
			t.Errorf("%q: a 3270 key", name)
		}
	}
	for _, bad := range []string{"PF0", "PF25", "PF01", "PF+1", "PA0", "PA4", "PA", "PF", "Shift-PF3", "Ctrl-Clear", "Clearr", "EraseEOF2"} {
		if _, err := emulator.ParseKey(bad); !errors.Is(err, emulator.ErrUnknownKey) {
			t.Errorf("ParseKey(%q) = %v, want ErrUnknownKey", bad, err)
		}
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s := emulator.Secret("s3cr3t")
	for _, f := range []string{"%v", "%s", "%q", "%x", "%#v", "%+v", "%d"} {
		if got := fmtSprintf(f, s); got != "[REDACTED]" {
			t.Errorf("%s: %q", f, got)
		}
	}
	if s.Reveal() != "s3cr3t" {
		t.Error("Reveal")
	}
}

func fmtSprintf(f string, v any) string { return fmt.Sprintf(f, v) }

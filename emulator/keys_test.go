package emulator_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/termgate/termgate/emulator"
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

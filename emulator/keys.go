package emulator

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/termgate/termgate/emulator/vt"
)

// Key is a key of the keyboard, parsed from a name by ParseKey.
type Key struct {
	name string
	key  vt.Key // 0 for a character key
	mods vt.Mod
	char rune // the character of Ctrl-x or Alt-x
}

var keyNames = map[string]vt.Key{
	"enter": vt.KeyEnter, "return": vt.KeyEnter,
	"tab":       vt.KeyTab,
	"backspace": vt.KeyBackspace, "bs": vt.KeyBackspace,
	"escape": vt.KeyEscape, "esc": vt.KeyEscape,
	"up": vt.KeyUp, "down": vt.KeyDown, "left": vt.KeyLeft, "right": vt.KeyRight,
	"home": vt.KeyHome, "end": vt.KeyEnd,
	"pgup": vt.KeyPgUp, "pageup": vt.KeyPgUp,
	"pgdn": vt.KeyPgDn, "pagedown": vt.KeyPgDn, "pgdown": vt.KeyPgDn,
	"insert": vt.KeyInsert, "ins": vt.KeyInsert,
	"delete": vt.KeyDelete, "del": vt.KeyDelete,
}

// ParseKey parses a key name: Enter, Tab, Backspace, Escape (Esc), Up, Down,
// Left, Right, Home, End, PgUp (PageUp), PgDn (PageDown), Insert, Delete,
// F1–F24, optionally preceded by modifiers Shift-, Alt-, Ctrl-, Meta- (or
// with "+"); and Ctrl-x, Alt-x for a character x (Ctrl-C, ctrl+a, Alt-f).
// Names are case-insensitive. An unknown name is an error wrapping
// ErrUnknownKey.
func ParseKey(name string) (Key, error) {
	k := Key{name: name}
	rest := strings.TrimSpace(name)
	if rest == "" {
		return Key{}, fmt.Errorf("%w: empty key name", ErrUnknownKey)
	}
	for {
		i := strings.IndexAny(rest, "-+")
		if i <= 0 || i == len(rest)-1 {
			break
		}
		var m vt.Mod
		switch strings.ToLower(rest[:i]) {
		case "shift":
			m = vt.ModShift
		case "alt", "m": // M-x as in Emacs
			m = vt.ModAlt
		case "meta":
			m = vt.ModMeta
		case "ctrl", "control", "c": // C-x as in Emacs
			m = vt.ModCtrl
		default:
			return Key{}, fmt.Errorf("%w: %q (unknown modifier %q)", ErrUnknownKey, name, rest[:i])
		}
		k.mods |= m
		rest = rest[i+1:]
	}
	if vk, ok := keyNames[strings.ToLower(rest)]; ok {
		k.key = vk
		return k, nil
	}
	if len(rest) >= 2 && (rest[0] == 'f' || rest[0] == 'F') {
		if n, err := strconv.Atoi(rest[1:]); err == nil && n >= 1 && n <= 24 && rest[1] != '0' && rest[1] != '+' {
			k.key = vt.KeyF1 + vt.Key(n-1)
			return k, nil
		}
	}
	if r, size := utf8.DecodeRuneInString(rest); size == len(rest) && r != utf8.RuneError && k.mods != 0 {
		switch {
		case k.mods&vt.ModCtrl != 0:
			if vt.Ctrl(r) == nil {
				return Key{}, fmt.Errorf("%w: %q (no control character for %q)", ErrUnknownKey, name, r)
			}
		case k.mods&^(vt.ModAlt|vt.ModMeta) != 0:
			return Key{}, fmt.Errorf("%w: %q (Shift applies to named keys only; type the shifted character instead)", ErrUnknownKey, name)
		}
		k.char = r
		return k, nil
	}
	return Key{}, fmt.Errorf("%w: %q", ErrUnknownKey, name)
}

// Encode returns the bytes a terminal sends for the key. appCursor is the
// screen's cursor-keys mode (DECCKM).
func (k Key) Encode(appCursor bool) []byte {
	if k.key != 0 {
		return vt.EncodeKey(k.key, k.mods, appCursor)
	}
	var b []byte
	if k.mods&vt.ModCtrl != 0 {
		b = vt.Ctrl(k.char)
	} else {
		b = utf8.AppendRune(nil, k.char)
	}
	if k.mods&(vt.ModAlt|vt.ModMeta) != 0 {
		b = append([]byte{0x1b}, b...)
	}
	return b
}

// String returns the name the key was parsed from.
func (k Key) String() string { return k.name }

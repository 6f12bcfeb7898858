package emulator

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/termgate/termgate/emulator/tn3270"
	"github.com/termgate/termgate/emulator/vt"
)

// Key is a key of a VT or 3270 keyboard, parsed from a name by ParseKey.
// Some keys exist on both (Enter, Tab, arrows), some on one only (Escape
// and Ctrl-C on a VT keyboard, PA1 and Clear on a 3270 keyboard).
type Key struct {
	name  string
	key   vt.Key // 0 for a character key or a 3270-only key
	mods  vt.Mod
	char  rune       // the character of Ctrl-x or Alt-x
	t3270 tn3270.Key // 0 for a key a 3270 keyboard lacks
}

// tn3270Names are the keys only a 3270 keyboard has (PF1–PF24 and PA1–PA3
// are parsed apart).
var tn3270Names = map[string]tn3270.Key{
	"clear": tn3270.KeyClear, "sysreq": tn3270.KeySysReq, "attn": tn3270.KeyAttn,
	"backtab": tn3270.KeyBacktab, "newline": tn3270.KeyNewline,
	"eraseeof": tn3270.KeyEraseEOF, "eraseinput": tn3270.KeyEraseInput, "erase": tn3270.KeyErase,
	"dup": tn3270.KeyDup, "fieldmark": tn3270.KeyFieldMark, "reset": tn3270.KeyReset,
}

// tn3270Equivalents are the VT key names that a 3270 keyboard also has.
var tn3270Equivalents = map[vt.Key]tn3270.Key{
	vt.KeyEnter: tn3270.KeyEnter, vt.KeyTab: tn3270.KeyTab, vt.KeyBackspace: tn3270.KeyBackspace,
	vt.KeyUp: tn3270.KeyUp, vt.KeyDown: tn3270.KeyDown, vt.KeyLeft: tn3270.KeyLeft, vt.KeyRight: tn3270.KeyRight,
	vt.KeyHome: tn3270.KeyHome, vt.KeyInsert: tn3270.KeyInsert, vt.KeyDelete: tn3270.KeyDelete,
}

// keyNumber parses the n of Fn, PFn or PAn: 1..max without sign or leading
// zero.
func keyNumber(s string, max int) (int, bool) {
	if s == "" || s[0] < '1' || s[0] > '9' {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > max {
		return 0, false
	}
	return n, true
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

// ParseKey parses a key name. Names are case-insensitive; an unknown name
// is an error wrapping ErrUnknownKey.
//
// VT keys: Enter, Tab, Backspace, Escape (Esc), Up, Down, Left, Right, Home,
// End, PgUp (PageUp), PgDn (PageDown), Insert, Delete, F1–F24, optionally
// preceded by modifiers Shift-, Alt-, Ctrl-, Meta- (or with "+"); and
// Ctrl-x, Alt-x for a character x (Ctrl-C, ctrl+a, Alt-f).
//
// 3270 keys: Enter, PF1–PF24 (F1–F24 are the same keys), PA1–PA3, Clear,
// SysReq, Attn, Tab, Backtab (Shift-Tab), Home, Newline, EraseEOF,
// EraseInput, Erase, Backspace, Delete, Insert, Dup, FieldMark, Reset, Up,
// Down, Left, Right. A name that exists on one keyboard only parses, and
// Session.Press refuses it on the other with ErrNotVT or ErrNotTN3270.
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
	lower := strings.ToLower(rest)
	t3270, only3270 := tn3270Names[lower]
	if !only3270 {
		if n, ok := strings.CutPrefix(lower, "pf"); ok {
			if i, ok := keyNumber(n, 24); ok {
				t3270, only3270 = tn3270.PF(i), true
			}
		} else if n, ok := strings.CutPrefix(lower, "pa"); ok {
			if i, ok := keyNumber(n, 3); ok {
				t3270, only3270 = tn3270.KeyPA1+tn3270.Key(i-1), true
			}
		}
	}
	if only3270 {
		if k.mods != 0 {
			return Key{}, fmt.Errorf("%w: %q (3270 keys take no modifiers)", ErrUnknownKey, name)
		}
		k.t3270 = t3270
		return k, nil
	}
	if vk, ok := keyNames[lower]; ok {
		k.key = vk
		switch k.mods {
		case 0:
			k.t3270 = tn3270Equivalents[vk]
		case vt.ModShift:
			if vk == vt.KeyTab {
				k.t3270 = tn3270.KeyBacktab
			}
		}
		return k, nil
	}
	if n, ok := strings.CutPrefix(lower, "f"); ok {
		if i, ok := keyNumber(n, 24); ok {
			k.key = vt.KeyF1 + vt.Key(i-1)
			if k.mods == 0 {
				k.t3270 = tn3270.PF(i)
			}
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

// VT reports whether the key exists on a VT keyboard (Encode returns its
// bytes).
func (k Key) VT() bool { return k.key != 0 || k.char != 0 }

// TN3270 returns the key of a 3270 keyboard, and false if a 3270 keyboard
// lacks it (Escape, PgUp, Ctrl-C, Alt-x...).
func (k Key) TN3270() (tn3270.Key, bool) { return k.t3270, k.t3270 != 0 }

// Encode returns the bytes a VT terminal sends for the key; nil for a key
// only a 3270 keyboard has. appCursor is the screen's cursor-keys mode
// (DECCKM).
func (k Key) Encode(appCursor bool) []byte {
	if !k.VT() {
		return nil
	}
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

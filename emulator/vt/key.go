package vt

import "strconv"

// Key is a non-character key of the keyboard.
type Key int

// Keys that EncodeKey knows.
const (
	KeyEnter Key = iota + 1
	KeyTab
	KeyBackspace
	KeyEscape
	KeyUp
	KeyDown
	KeyRight
	KeyLeft
	KeyHome
	KeyEnd
	KeyPgUp
	KeyPgDn
	KeyInsert
	KeyDelete
	KeyF1
	KeyF2
	KeyF3
	KeyF4
	KeyF5
	KeyF6
	KeyF7
	KeyF8
	KeyF9
	KeyF10
	KeyF11
	KeyF12
	KeyF13
	KeyF14
	KeyF15
	KeyF16
	KeyF17
	KeyF18
	KeyF19
	KeyF20
	KeyF21
	KeyF22
	KeyF23
	KeyF24
)

// Mod is a set of modifier keys.
type Mod uint8

// Modifiers, combinable with |.
const (
	ModShift Mod = 1 << iota
	ModAlt
	ModCtrl
	ModMeta
)

// xtermParam is the modifier parameter xterm puts in CSI 1;m X: 1 plus the
// bits shift=1, alt=2, ctrl=4, meta=8.
func (m Mod) xtermParam() int { return 1 + int(m&0xF) }

// EncodeKey returns the bytes xterm sends for k with modifiers mods.
// appCursor is DECCKM (Screen.CursorKeysApplication): without modifiers,
// arrows, Home and End then send SS3 forms. F13–F24 are sent as xterm sends
// them by default: F1–F12 with Shift. An unknown key returns nil.
func EncodeKey(k Key, mods Mod, appCursor bool) []byte {
	switch k {
	case KeyEnter:
		return withAlt(mods, []byte{'\r'})
	case KeyTab:
		if mods&ModShift != 0 {
			return []byte("\x1b[Z")
		}
		return withAlt(mods, []byte{'\t'})
	case KeyBackspace:
		if mods&ModCtrl != 0 {
			return withAlt(mods, []byte{0x08})
		}
		return withAlt(mods, []byte{0x7f})
	case KeyEscape:
		return withAlt(mods, []byte{0x1b})
	case KeyUp:
		return cursorKey('A', mods, appCursor)
	case KeyDown:
		return cursorKey('B', mods, appCursor)
	case KeyRight:
		return cursorKey('C', mods, appCursor)
	case KeyLeft:
		return cursorKey('D', mods, appCursor)
	case KeyHome:
		return cursorKey('H', mods, appCursor)
	case KeyEnd:
		return cursorKey('F', mods, appCursor)
	case KeyInsert:
		return tildeKey(2, mods)
	case KeyDelete:
		return tildeKey(3, mods)
	case KeyPgUp:
		return tildeKey(5, mods)
	case KeyPgDn:
		return tildeKey(6, mods)
	}
	if k >= KeyF13 && k <= KeyF24 {
		return EncodeKey(k-KeyF13+KeyF1, mods|ModShift, appCursor)
	}
	if k >= KeyF1 && k <= KeyF4 {
		final := byte('P' + (k - KeyF1))
		if mods == 0 {
			return []byte{0x1b, 'O', final}
		}
		return csiMod(1, mods, final)
	}
	if k >= KeyF5 && k <= KeyF12 {
		codes := [...]int{15, 17, 18, 19, 20, 21, 23, 24}
		return tildeKey(codes[k-KeyF5], mods)
	}
	return nil
}

func withAlt(mods Mod, b []byte) []byte {
	if mods&(ModAlt|ModMeta) != 0 {
		return append([]byte{0x1b}, b...)
	}
	return b
}

func cursorKey(final byte, mods Mod, app bool) []byte {
	if mods != 0 {
		return csiMod(1, mods, final)
	}
	if app {
		return []byte{0x1b, 'O', final}
	}
	return []byte{0x1b, '[', final}
}

func csiMod(n int, mods Mod, final byte) []byte {
	b := []byte("\x1b[")
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, ';')
	b = strconv.AppendInt(b, int64(mods.xtermParam()), 10)
	return append(b, final)
}

func tildeKey(n int, mods Mod) []byte {
	if mods != 0 {
		return csiMod(n, mods, '~')
	}
	b := []byte("\x1b[")
	b = strconv.AppendInt(b, int64(n), 10)
	return append(b, '~')
}

// Ctrl returns the control character for Ctrl+c: Ctrl('c') is 0x03,
// Ctrl('@') or Ctrl(' ') is NUL, Ctrl('?') is DEL. Letters may be either case.
// Other characters return nil.
func Ctrl(c rune) []byte {
	switch {
	case c >= 'a' && c <= 'z':
		return []byte{byte(c - 'a' + 1)}
	case c >= '@' && c <= '_':
		return []byte{byte(c - '@')}
	case c == ' ':
		return []byte{0}
	case c == '?':
		return []byte{0x7f}
	}
	return nil
}

// Alt returns the bytes xterm sends for Alt+s with the default
// metaSendsEscape behaviour: ESC followed by s.
func Alt(s string) []byte { return append([]byte{0x1b}, s...) }

package vt

import "fmt"

// Color is a foreground or background colour: the terminal's default, one of
// the 256 indexed colours (0–7 normal, 8–15 bright, 16–255 the xterm cube and
// grey ramp), or a 24-bit RGB value. The zero value is the default colour.
type Color uint32

const (
	colorKindShift        = 24
	colorIndexed   uint32 = 1 << colorKindShift
	colorRGB       uint32 = 2 << colorKindShift
)

// DefaultColor is the terminal's default foreground or background.
const DefaultColor Color = 0

// Indexed returns palette colour n (0–255).
func Indexed(n uint8) Color { return Color(colorIndexed | uint32(n)) }

// RGB returns a 24-bit colour.
func RGB(r, g, b uint8) Color {
	return Color(colorRGB | uint32(r)<<16 | uint32(g)<<8 | uint32(b))
}

// IsDefault reports whether c is the default colour.
func (c Color) IsDefault() bool { return c == DefaultColor }

// Index returns the palette index of an indexed colour.
func (c Color) Index() (n uint8, ok bool) {
	if uint32(c)&^0xffffff != colorIndexed {
		return 0, false
	}
	return uint8(c), true
}

// RGB returns the components of a 24-bit colour.
func (c Color) RGB() (r, g, b uint8, ok bool) {
	if uint32(c)&^0xffffff != colorRGB {
		return 0, 0, 0, false
	}
	return uint8(c >> 16), uint8(c >> 8), uint8(c), true
}

// String renders the colour as "default", "idx(N)" or "#rrggbb".
func (c Color) String() string {
	if n, ok := c.Index(); ok {
		return fmt.Sprintf("idx(%d)", n)
	}
	if r, g, b, ok := c.RGB(); ok {
		return fmt.Sprintf("#%02x%02x%02x", r, g, b)
	}
	return "default"
}

// AttrFlags are the rendition flags of a cell.
type AttrFlags uint16

// Rendition flags set by SGR, and Protected set by DECSCA.
const (
	Bold AttrFlags = 1 << iota
	Faint
	Italic
	Underline
	Blink
	Reverse
	Invisible
	Strike
	// Protected marks a cell written while DECSCA was on: selective erase
	// (DECSED, DECSEL) leaves it alone. SGR does not change it.
	Protected
)

// Attr is the rendition of a cell: colours and flags.
type Attr struct {
	FG    Color
	BG    Color
	Flags AttrFlags
}

// Has reports whether all of flags are set.
func (a Attr) Has(flags AttrFlags) bool { return a.Flags&flags == flags }

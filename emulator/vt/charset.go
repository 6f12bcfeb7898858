package vt

// charset is a 94-character set designated into G0–G3.
type charset uint8

const (
	csASCII      charset = iota // ESC ( B
	csDECSpecial                // ESC ( 0: DEC special graphics (line drawing)
	csUK                        // ESC ( A: '#' is the pound sign
)

// decSpecial maps 0x5F–0x7E of the DEC special graphics set to Unicode, as
// xterm renders it.
var decSpecial = [32]rune{
	' ',    // _ blank
	0x25C6, // ` diamond
	0x2592, // a checkerboard
	0x2409, // b HT
	0x240C, // c FF
	0x240D, // d CR
	0x240A, // e LF
	0x00B0, // f degree
	0x00B1, // g plus/minus
	0x2424, // h NL
	0x240B, // i VT
	0x2518, // j ┘
	0x2510, // k ┐
	0x250C, // l ┌
	0x2514, // m └
	0x253C, // n ┼
	0x23BA, // o scan line 1
	0x23BB, // p scan line 3
	0x2500, // q ─
	0x23BC, // r scan line 7
	0x23BD, // s scan line 9
	0x251C, // t ├
	0x2524, // u ┤
	0x2534, // v ┴
	0x252C, // w ┬
	0x2502, // x │
	0x2264, // y ≤
	0x2265, // z ≥
	0x03C0, // { pi
	0x2260, // | not equal
	0x00A3, // } pound
	0x00B7, // ~ centred dot
}

// translate maps an ASCII character through cs.
func (cs charset) translate(r rune) rune {
	switch cs {
	case csDECSpecial:
		if r >= 0x5F && r <= 0x7E {
			return decSpecial[r-0x5F]
		}
	case csUK:
		if r == '#' {
			return 0x00A3
		}
	}
	return r
}

// DECSpecialToUnicode maps a character of the DEC special graphics set
// (0x5F–0x7E) to the Unicode character xterm shows for it; other characters
// are returned unchanged.
func DECSpecialToUnicode(r rune) rune { return csDECSpecial.translate(r) }

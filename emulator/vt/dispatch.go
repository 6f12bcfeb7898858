package vt

import (
	"strconv"
	"unicode/utf8"
)

// arg returns parameter i, or def when it is missing or zero.
func (s *Screen) arg(i, def int) int {
	if i >= s.nparam || s.params[i] == 0 {
		return def
	}
	return s.params[i]
}

func (s *Screen) escDispatch(final byte) {
	s.lastRune = 0 // nothing to repeat after an escape sequence (see execute)
	if s.over {
		return
	}
	if s.ninter > 0 {
		switch s.inter[0] {
		case '#':
			if final == '8' {
				s.mark.ok = false
				s.decaln()
			}
		case '(', ')', '*', '+':
			cs, ok := charsetFor(final)
			if ok && s.ninter == 1 {
				s.cur.g[s.inter[0]-'('] = cs
			}
		}
		return
	}
	switch final {
	case '8', 'c': // DECRC, RIS (IND, NEL and RI clear it in index)
		s.mark.ok = false
	}
	switch final {
	case '7': // DECSC
		s.saveCursor()
	case '8': // DECRC
		s.restoreCursor()
	case 'D': // IND
		s.index()
	case 'E': // NEL
		s.carriageReturn()
		s.index()
	case 'H': // HTS
		s.tabs[s.cur.col] = true
	case 'M': // RI
		s.reverseIndex()
	case 'N': // SS2
		s.ss = 2
	case 'O': // SS3
		s.ss = 3
	case 'Z': // DECID
		s.replyBuf.WriteString(da1Reply)
	case 'c': // RIS
		s.resetState()
	case 'n': // LS2
		s.cur.gl = 2
	case 'o': // LS3
		s.cur.gl = 3
	case '=': // DECKPAM
		s.modes.KeypadApplication = true
	case '>': // DECKPNM
		s.modes.KeypadApplication = false
	}
}

func charsetFor(final byte) (charset, bool) {
	switch final {
	case 'B':
		return csASCII, true
	case '0':
		return csDECSpecial, true
	case 'A':
		return csUK, true
	}
	return 0, false
}

// Replies to device attribute requests: a VT220 with ANSI colour.
const (
	da1Reply = "\x1b[?62;22c"
	da2Reply = "\x1b[>1;10;0c"
)

func (s *Screen) csiDispatch(final byte) {
	// REP repeats the character printed right before it; after any control
	// sequence, REP included, there is nothing to repeat (see execute).
	last := s.lastRune
	s.lastRune = 0
	if !keepsMark(s.prefix, s.ninter, s.inter[0], final) {
		s.mark.ok = false
	}
	if s.over {
		return
	}
	var inter byte
	if s.ninter == 1 {
		inter = s.inter[0]
	} else if s.ninter > 1 {
		return
	}
	switch s.prefix {
	case 0:
	case '?':
		s.csiPrivate(final, inter)
		return
	case '>':
		if final == 'c' && inter == 0 && s.arg(0, 0) == 0 {
			s.replyBuf.WriteString(da2Reply)
		}
		return
	default:
		return
	}
	if inter != 0 {
		switch {
		case inter == '!' && final == 'p': // DECSTR
			s.softReset()
		case inter == '"' && final == 'q': // DECSCA
			s.decscaActive = s.arg(0, 0) == 1
		case inter == '$' && final == 'p': // DECRQM, ANSI modes
			s.reportMode(s.arg(0, 0), false)
		}
		return
	}
	switch final {
	case '@': // ICH
		s.insertCells(s.lines[s.cur.row], s.cur.col, s.arg(0, 1), s.eraseCell())
		s.cur.wrapnext = false
	case 'A': // CUU
		s.moveRows(-s.arg(0, 1))
	case 'B', 'e': // CUD, VPR
		s.moveRows(s.arg(0, 1))
	case 'C', 'a': // CUF, HPR
		s.moveCols(s.arg(0, 1))
	case 'D': // CUB
		s.moveCols(-s.arg(0, 1))
	case 'E': // CNL
		s.moveRows(s.arg(0, 1))
		s.cur.col = 0
	case 'F': // CPL
		s.moveRows(-s.arg(0, 1))
		s.cur.col = 0
	case 'G', '`': // CHA, HPA
		s.cur.col = min(s.arg(0, 1), s.cols) - 1
		s.cur.wrapnext = false
	case 'H', 'f': // CUP, HVP
		s.moveTo(s.arg(0, 1)-1, s.arg(1, 1)-1)
	case 'I': // CHT: like HT, it keeps a pending wrap
		s.tabForward(s.arg(0, 1))
	case 'J': // ED
		s.eraseDisplay(s.arg(0, 0), false)
	case 'K': // EL
		s.eraseLine(s.arg(0, 0), false)
	case 'L': // IL
		s.insertLines(s.arg(0, 1))
	case 'M': // DL
		s.deleteLines(s.arg(0, 1))
	case 'P': // DCH
		s.deleteCells(s.arg(0, 1))
	case 'S': // SU
		s.scrollUp(s.top, s.bottom, s.arg(0, 1))
	case 'T': // SD (xterm's five-parameter form is mouse tracking)
		if s.nparam <= 1 {
			s.scrollDown(s.top, s.bottom, s.arg(0, 1))
		}
	case 'X': // ECH
		s.eraseCells(s.cur.row, s.cur.col, s.cur.col+s.arg(0, 1), false)
		s.cur.wrapnext = false
	case 'Z': // CBT
		s.tabBackward(s.arg(0, 1))
	case 'b': // REP
		if last != 0 {
			n := min(s.arg(0, 1), s.rows*s.cols)
			w := runeWidth(last)
			for ; n > 0 && w > 0; n-- {
				s.put(last, w)
			}
			s.lastRune = 0
		}
	case 'c': // DA1
		if s.arg(0, 0) == 0 {
			s.replyBuf.WriteString(da1Reply)
		}
	case 'd': // VPA
		row := s.arg(0, 1) - 1
		col := s.cur.col
		if s.modes.Origin {
			s.moveTo(row, col)
		} else {
			s.cur.row = min(row, s.rows-1)
			s.cur.wrapnext = false
		}
	case 'g': // TBC
		switch s.arg(0, 0) {
		case 0:
			s.tabs[s.cur.col] = false
		case 3:
			clear(s.tabs)
		}
	case 'h', 'l': // SM, RM
		for i := 0; i < max(s.nparam, 1); i++ {
			s.setANSIMode(s.params[i], final == 'h')
		}
	case 'm':
		s.sgr()
	case 'n': // DSR
		switch s.arg(0, 0) {
		case 5:
			s.replyBuf.WriteString("\x1b[0n")
		case 6:
			s.cpr(false)
		}
	case 'r': // DECSTBM
		top, bottom := s.arg(0, 1)-1, s.arg(1, s.rows)-1
		bottom = min(bottom, s.rows-1)
		if top < bottom {
			s.top, s.bottom = top, bottom
			s.moveTo(0, 0)
		}
	case 's': // SCOSC
		s.saveCursor()
	case 'u': // SCORC
		s.restoreCursor()
	}
}

// keepsMark reports whether a control sequence leaves a following combining
// character on the cell printed last (see combine): in xterm, SGR, modes,
// reports, tabulation, SU/SD, REP and DECSCA do; cursor motion and editing do
// not.
func keepsMark(prefix byte, ninter int, inter, final byte) bool {
	if prefix == 0 && ninter == 0 {
		return final < 0x80 && markKeepers[final]
	}
	switch {
	case ninter == 1 && inter == '"' && final == 'q', // DECSCA
		ninter == 1 && inter == '$' && final == 'p': // DECRQM
		return true
	case ninter != 0:
		return false
	case prefix == '?':
		return final == 'h' || final == 'l' || final == 'n' || final == 'p'
	}
	return true // other private sequences (DA2 and the like)
}

// markKeepers are the finals of the plain control sequences that keepsMark
// lets through.
var markKeepers = [0x80]bool{'m': true, 'h': true, 'l': true, 'n': true, 'c': true,
	'I': true, 'Z': true, 'S': true, 'T': true, 'g': true, 'b': true}

func (s *Screen) cpr(private bool) {
	row := s.cur.row
	if s.modes.Origin {
		row -= s.top
	}
	b := s.replyBuf.AvailableBuffer()
	b = append(b, "\x1b["...)
	if private {
		b = append(b, '?')
	}
	b = strconv.AppendInt(b, int64(row+1), 10)
	b = append(b, ';')
	b = strconv.AppendInt(b, int64(s.cur.col+1), 10)
	b = append(b, 'R')
	s.replyBuf.Write(b)
}

func (s *Screen) csiPrivate(final, inter byte) {
	switch {
	case inter == '$' && final == 'p': // DECRQM
		s.reportMode(s.arg(0, 0), true)
	case inter != 0:
	case final == 'J': // DECSED
		s.eraseDisplay(s.arg(0, 0), true)
	case final == 'K': // DECSEL
		s.eraseLine(s.arg(0, 0), true)
	case final == 'h' || final == 'l':
		for i := 0; i < max(s.nparam, 1); i++ {
			s.setDECMode(s.params[i], final == 'h')
		}
	case final == 'n' && s.arg(0, 0) == 6: // DECXCPR
		s.cpr(true)
	}
}

func (s *Screen) setANSIMode(mode int, on bool) {
	switch mode {
	case 4:
		s.modes.Insert = on
	case 20:
		s.modes.LineFeedNewLine = on
	}
}

func (s *Screen) setDECMode(mode int, on bool) {
	switch mode {
	case 6, 47, 1047, 1048, 1049:
		s.mark.ok = false // the cursor moves or the buffer changes
	}
	switch mode {
	case 1:
		s.modes.CursorKeysApplication = on
	case 5:
		s.modes.ReverseVideo = on
	case 6:
		s.modes.Origin = on
		s.moveTo(0, 0)
	case 7:
		s.modes.AutoWrap = on // a pending wrap survives (see put)
	case 25:
		s.modes.CursorVisible = on
	case 66:
		s.modes.KeypadApplication = on
	case 9, 1000, 1002, 1003:
		if on {
			s.modes.MouseTracking = mode
		} else if s.modes.MouseTracking == mode {
			s.modes.MouseTracking = 0
		}
	case 1004:
		s.modes.FocusEvents = on
	case 1006:
		s.modes.MouseSGR = on
	case 2004:
		s.modes.BracketedPaste = on
	case 47:
		s.setAltScreen(on, false)
	case 1047:
		if !on && s.altActive {
			s.clearBuf(s.alt)
		}
		s.setAltScreen(on, false)
	case 1048:
		if on {
			s.saveCursor()
		} else {
			s.restoreCursor()
		}
	case 1049:
		if on {
			if !s.altActive {
				s.saveCursor()
			}
			s.setAltScreen(true, true)
		} else if s.altActive {
			s.setAltScreen(false, false)
			s.restoreCursor()
		}
	}
}

// reportMode answers DECRQM: 1 set, 2 reset, 0 not recognised.
func (s *Screen) reportMode(mode int, private bool) {
	v := 0
	flag := func(b bool) int {
		if b {
			return 1
		}
		return 2
	}
	if private {
		switch mode {
		case 1:
			v = flag(s.modes.CursorKeysApplication)
		case 5:
			v = flag(s.modes.ReverseVideo)
		case 6:
			v = flag(s.modes.Origin)
		case 7:
			v = flag(s.modes.AutoWrap)
		case 25:
			v = flag(s.modes.CursorVisible)
		case 66:
			v = flag(s.modes.KeypadApplication)
		case 9, 1000, 1002, 1003:
			v = flag(s.modes.MouseTracking == mode)
		case 1004:
			v = flag(s.modes.FocusEvents)
		case 1006:
			v = flag(s.modes.MouseSGR)
		case 2004:
			v = flag(s.modes.BracketedPaste)
		case 47, 1047, 1049:
			v = flag(s.altActive)
		}
	} else {
		switch mode {
		case 4:
			v = flag(s.modes.Insert)
		case 20:
			v = flag(s.modes.LineFeedNewLine)
		}
	}
	b := s.replyBuf.AvailableBuffer()
	b = append(b, "\x1b["...)
	if private {
		b = append(b, '?')
	}
	b = strconv.AppendInt(b, int64(mode), 10)
	b = append(b, ';')
	b = strconv.AppendInt(b, int64(v), 10)
	b = append(b, "$y"...)
	s.replyBuf.Write(b)
}

func (s *Screen) oscDispatch() {
	s.lastRune = 0
	data := s.osc
	s.osc = s.osc[:0]
	n, i := 0, 0
	for i < len(data) && data[i] >= '0' && data[i] <= '9' && n < maxParam {
		n = n*10 + int(data[i]-'0')
		i++
	}
	if i == 0 || i >= len(data) || data[i] != ';' {
		return
	}
	switch n {
	case 0, 2:
		s.title = sanitizeTitle(data[i+1:])
	}
}

// sanitizeTitle keeps valid UTF-8 and drops control characters.
func sanitizeTitle(b []byte) string {
	out := make([]rune, 0, len(b))
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		b = b[size:]
		if r < 0x20 || (r >= 0x7F && r <= 0x9F) {
			continue
		}
		out = append(out, r)
	}
	return string(out)
}

// sgr applies Select Graphic Rendition.
func (s *Screen) sgr() {
	a := &s.cur.attr
	if s.nparam == 0 {
		*a = Attr{}
		return
	}
	for i := 0; i < s.nparam; i++ {
		p := s.params[i]
		// Colon sub-parameters belong to the parameter they follow.
		j := i + 1
		for j < s.nparam && s.sub&(1<<j) != 0 {
			j++
		}
		subs := s.params[i+1 : j]
		switch {
		case p == 0:
			*a = Attr{}
		case p == 1:
			a.Flags |= Bold
		case p == 2:
			a.Flags |= Faint
		case p == 3:
			a.Flags |= Italic
		case p == 4:
			if len(subs) > 0 && subs[0] == 0 {
				a.Flags &^= Underline
			} else {
				a.Flags |= Underline
			}
		case p == 5 || p == 6:
			a.Flags |= Blink
		case p == 7:
			a.Flags |= Reverse
		case p == 8:
			a.Flags |= Invisible
		case p == 9:
			a.Flags |= Strike
		case p == 21:
			a.Flags |= Underline
		case p == 22:
			a.Flags &^= Bold | Faint
		case p == 23:
			a.Flags &^= Italic
		case p == 24:
			a.Flags &^= Underline
		case p == 25:
			a.Flags &^= Blink
		case p == 27:
			a.Flags &^= Reverse
		case p == 28:
			a.Flags &^= Invisible
		case p == 29:
			a.Flags &^= Strike
		case p >= 30 && p <= 37:
			a.FG = Indexed(uint8(p - 30))
		case p == 39:
			a.FG = DefaultColor
		case p >= 40 && p <= 47:
			a.BG = Indexed(uint8(p - 40))
		case p == 49:
			a.BG = DefaultColor
		case p >= 90 && p <= 97:
			a.FG = Indexed(uint8(p - 90 + 8))
		case p >= 100 && p <= 107:
			a.BG = Indexed(uint8(p - 100 + 8))
		case p == 38 || p == 48 || p == 58:
			var c Color
			var ok bool
			if len(subs) > 0 {
				c, ok = extColor(subs, true)
			} else {
				var used int
				c, ok, used = extColorSemi(s.params[i+1 : s.nparam])
				j = i + 1 + used
			}
			if ok {
				switch p {
				case 38:
					a.FG = c
				case 48:
					a.BG = c
				}
			}
		}
		i = j - 1
	}
}

// extColor decodes colon forms: 5:N, 2:R:G:B and 2:CS:R:G:B.
func extColor(subs []int, colon bool) (Color, bool) {
	switch subs[0] {
	case 5:
		if len(subs) >= 2 && subs[1] <= 255 {
			return Indexed(uint8(subs[1])), true
		}
	case 2:
		rgb := subs[1:]
		if colon && len(rgb) >= 4 {
			rgb = rgb[1:] // colour space id
		}
		if len(rgb) >= 3 && rgb[0] <= 255 && rgb[1] <= 255 && rgb[2] <= 255 {
			return RGB(uint8(rgb[0]), uint8(rgb[1]), uint8(rgb[2])), true
		}
	}
	return 0, false
}

// extColorSemi decodes the semicolon forms 5;N and 2;R;G;B and says how many
// parameters it consumed.
func extColorSemi(rest []int) (Color, bool, int) {
	if len(rest) == 0 {
		return 0, false, 0
	}
	switch rest[0] {
	case 5:
		if len(rest) < 2 {
			return 0, false, len(rest)
		}
		c, ok := extColor(rest[:2], false)
		return c, ok, 2
	case 2:
		if len(rest) < 4 {
			return 0, false, len(rest)
		}
		c, ok := extColor(rest[:4], false)
		return c, ok, 4
	}
	return 0, false, 1
}

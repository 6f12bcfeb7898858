package vt

// Screen operations. Every method here runs with s.mu held for writing.

// resetState puts the terminal in its power-on state (RIS) without touching
// the scrollback.
func (s *Screen) resetState() {
	s.altActive = false
	s.lines = s.main
	s.cur = cursor{}
	s.saved = [2]cursor{}
	s.hasSaved = [2]bool{}
	s.top, s.bottom = 0, s.rows-1
	s.tabs = make([]bool, s.cols)
	for i := 8; i < s.cols; i += 8 {
		s.tabs[i] = true
	}
	s.ss = 0
	s.lastRune = 0
	s.mark.ok = false
	s.title = ""
	s.modes = Modes{AutoWrap: true, CursorVisible: true}
	s.decscaActive = false
	s.state = stGround
	s.utf8n = 0
	for _, l := range s.main {
		l.reset(s.cols, blankCell)
	}
	for _, l := range s.alt {
		l.reset(s.cols, blankCell)
	}
}

// softReset is DECSTR.
func (s *Screen) softReset() {
	s.modes.CursorVisible = true
	s.modes.Insert = false
	s.modes.Origin = false
	s.modes.AutoWrap = true
	s.modes.CursorKeysApplication = false
	s.modes.KeypadApplication = false
	s.top, s.bottom = 0, s.rows-1
	s.cur.g = [4]charset{}
	s.cur.gl = 0
	s.ss = 0
	s.cur.attr = Attr{}
	s.decscaActive = false
	s.cur.wrapnext = false
	k := s.bufIndex()
	s.saved[k] = cursor{}
	s.hasSaved[k] = false
}

func (s *Screen) bufIndex() int {
	if s.altActive {
		return 1
	}
	return 0
}

// eraseCell is the blank left by erasing: xterm keeps the current background
// (back colour erase).
func (s *Screen) eraseCell() cell {
	return cell{r: ' ', width: 1, attr: Attr{BG: s.cur.attr.BG}}
}

func (s *Screen) execute(b byte) {
	// As in xterm, REP repeats a character only right after it: any control
	// in between (even NUL) leaves nothing to repeat.
	s.lastRune = 0
	switch b {
	case 0x07: // BEL
	case 0x08: // BS
		s.mark.ok = false
		if s.cur.col > 0 {
			s.cur.col--
		}
		s.cur.wrapnext = false
	case 0x09: // HT
		s.tabForward(1)
	case 0x0A, 0x0B, 0x0C: // LF, VT, FF
		if s.modes.LineFeedNewLine {
			s.carriageReturn()
		}
		s.index()
	case 0x0D: // CR
		s.carriageReturn()
	case 0x0E: // SO: G1 into GL
		s.cur.gl = 1
	case 0x0F: // SI: G0 into GL
		s.cur.gl = 0
	}
}

func (s *Screen) carriageReturn() {
	s.cur.col = 0
	s.cur.wrapnext = false
	s.mark.ok = false
}

// index moves the cursor down one line, scrolling the region at its bottom
// margin (IND).
func (s *Screen) index() {
	s.cur.wrapnext = false
	s.mark.ok = false
	switch {
	case s.cur.row == s.bottom:
		s.scrollUp(s.top, s.bottom, 1)
	case s.cur.row < s.rows-1:
		s.cur.row++
	}
}

// reverseIndex moves the cursor up one line, scrolling the region down at its
// top margin (RI).
func (s *Screen) reverseIndex() {
	s.cur.wrapnext = false
	s.mark.ok = false
	switch {
	case s.cur.row == s.top:
		s.scrollDown(s.top, s.bottom, 1)
	case s.cur.row > 0:
		s.cur.row--
	}
}

// scrollUp moves lines top..bottom up by n; the lines leaving the top go to
// the scrollback when the region starts at the top of the main screen.
func (s *Screen) scrollUp(top, bottom, n int) {
	n = min(n, bottom-top+1)
	save := !s.altActive && top == 0
	blank := s.eraseCell()
	for k := 0; k < n; k++ {
		l := s.lines[top]
		copy(s.lines[top:bottom], s.lines[top+1:bottom+1])
		if save {
			l = s.pushScrollback(l)
			if l == nil {
				l = &line{}
			}
		}
		l.reset(s.cols, blank)
		s.lines[bottom] = l
	}
}

func (s *Screen) scrollDown(top, bottom, n int) {
	n = min(n, bottom-top+1)
	blank := s.eraseCell()
	for k := 0; k < n; k++ {
		l := s.lines[bottom]
		copy(s.lines[top+1:bottom+1], s.lines[top:bottom])
		l.reset(s.cols, blank)
		s.lines[top] = l
	}
}

// wrap moves to the start of the next line after a pending wrap, marking the
// line as continued.
func (s *Screen) wrap() {
	s.lines[s.cur.row].wrapped = true
	s.cur.col = 0
	s.index()
}

// printASCII prints a run of printable ASCII characters.
func (s *Screen) printASCII(b []byte) {
	if s.ss != 0 || s.cur.g[s.cur.gl] != csASCII || s.modes.Insert || !s.modes.AutoWrap {
		for _, c := range b {
			s.print(rune(c))
		}
		return
	}
	attr := s.cur.attr
	if s.decscaActive {
		attr.Flags |= Protected
	}
	for len(b) > 0 {
		if s.cur.wrapnext {
			s.wrap()
		}
		l := s.lines[s.cur.row]
		x := s.cur.col
		n := min(len(b), s.cols-x)
		cells := l.cells[x : x+n]
		if cells[0].width == 0 && x > 0 {
			l.cells[x-1] = blankCell
			l.cells[x-1].attr = cells[0].attr
		}
		if x+n < s.cols && l.cells[x+n].width == 0 {
			l.cells[x+n] = blankCell
			l.cells[x+n].attr = cells[n-1].attr
		}
		for i, c := range b[:n] {
			cells[i] = cell{r: rune(c), width: 1, attr: attr}
		}
		if l.comb != nil {
			for k := range l.comb {
				if k >= x && k < x+n {
					delete(l.comb, k)
				}
			}
		}
		s.lastRune = rune(b[n-1])
		s.mark.row, s.mark.col, s.mark.ok = s.cur.row, x+n-1, true
		b = b[n:]
		x += n
		if x >= s.cols {
			x = s.cols - 1
			s.cur.wrapnext = true
		}
		s.cur.col = x
	}
}

// print prints one character through the character sets.
func (s *Screen) print(r rune) {
	if r < 0x80 {
		cs := s.cur.g[s.cur.gl]
		if s.ss != 0 {
			cs = s.cur.g[s.ss]
		}
		r = cs.translate(r)
	}
	s.ss = 0
	w := runeWidth(r)
	if w == 0 {
		s.combine(r)
		return
	}
	s.put(r, w)
}

func (s *Screen) put(r rune, w int) {
	if w > s.cols {
		return
	}
	// The pending wrap is set by printing in the last column whether or not
	// DECAWM is on (DEC STD 070's Last Column Flag, as in xterm); it wraps
	// only if DECAWM is on when the next character comes.
	if s.cur.wrapnext {
		s.cur.wrapnext = false
		if s.modes.AutoWrap {
			s.wrap()
		}
	}
	if s.cur.col+w > s.cols {
		if !s.modes.AutoWrap {
			// xterm drops a wide character that does not fit before the
			// right margin when it may not wrap.
			return
		}
		s.wrap()
	}
	l := s.lines[s.cur.row]
	x := s.cur.col
	if s.modes.Insert {
		s.insertCells(l, x, w, s.eraseCell())
	}
	attr := s.cur.attr
	if s.decscaActive {
		attr.Flags |= Protected
	}
	s.clearWide(l, x, x+w)
	l.cells[x] = cell{r: r, width: uint8(w), attr: attr}
	if w == 2 {
		l.cells[x+1] = cell{r: 0, width: 0, attr: attr}
	}
	if l.comb != nil {
		delete(l.comb, x)
		delete(l.comb, x+1)
	}
	s.lastRune = r
	s.mark.row, s.mark.col, s.mark.ok = s.cur.row, x, true
	x += w
	if x >= s.cols {
		x = s.cols - 1
		s.cur.wrapnext = true
	}
	s.cur.col = x
}

// clearWide blanks the halves of wide characters that straddle the edges of
// the range [from, to) about to be overwritten.
func (s *Screen) clearWide(l *line, from, to int) {
	if from > 0 && from < s.cols && l.cells[from].width == 0 {
		a := l.cells[from-1].attr
		l.cells[from-1] = blankCell
		l.cells[from-1].attr = a
	}
	if to < s.cols && to > 0 && l.cells[to].width == 0 {
		a := l.cells[to].attr
		l.cells[to] = blankCell
		l.cells[to].attr = a
	}
}

// combine attaches a zero-width character, as xterm does, to the cell
// printed last if no control has moved the cursor or edited the screen since
// (s.mark), else to the cell under the cursor.
func (s *Screen) combine(r rune) {
	row, x := s.mark.row, s.mark.col
	if !s.mark.ok {
		row, x = s.cur.row, s.cur.col
		l := s.lines[row]
		if l.cells[x].width == 0 && x > 0 {
			x--
		}
	}
	l := s.lines[row]
	if l.comb == nil {
		l.comb = make(map[int]string)
	}
	if len(l.comb[x]) < 32 {
		l.comb[x] += string(r)
	}
}

func (s *Screen) tabForward(n int) {
	for ; n > 0 && s.cur.col < s.cols-1; n-- {
		s.cur.col++
		for s.cur.col < s.cols-1 && !s.tabs[s.cur.col] {
			s.cur.col++
		}
	}
}

func (s *Screen) tabBackward(n int) {
	s.cur.wrapnext = false
	for ; n > 0 && s.cur.col > 0; n-- {
		s.cur.col--
		for s.cur.col > 0 && !s.tabs[s.cur.col] {
			s.cur.col--
		}
	}
}

// moveTo places the cursor at an absolute position, honouring origin mode.
func (s *Screen) moveTo(row, col int) {
	if s.modes.Origin {
		row += s.top
		row = min(max(row, s.top), s.bottom)
	}
	s.cur.row = min(max(row, 0), s.rows-1)
	s.cur.col = min(max(col, 0), s.cols-1)
	s.cur.wrapnext = false
}

// moveRows moves the cursor n rows (negative is up). As in xterm, moving
// down stops at the bottom margin unless the cursor is already below it, and
// moving up stops at the top margin unless the cursor is already above it.
func (s *Screen) moveRows(n int) {
	lo, hi := s.top, s.bottom
	if s.cur.row > s.bottom {
		hi = s.rows - 1
	}
	if s.cur.row < s.top {
		lo = 0
	}
	row := s.cur.row + n
	if n > 0 {
		row = min(row, hi)
	} else {
		row = max(row, lo)
	}
	s.cur.row = min(max(row, 0), s.rows-1)
	s.cur.wrapnext = false
}

func (s *Screen) moveCols(n int) {
	s.cur.col = min(max(s.cur.col+n, 0), s.cols-1)
	s.cur.wrapnext = false
}

// eraseCells blanks cells [from, to) of row; with selective set, protected
// cells are kept (DECSED, DECSEL).
func (s *Screen) eraseCells(row, from, to int, selective bool) {
	l := s.lines[row]
	from, to = max(from, 0), min(to, s.cols)
	if from >= to {
		return
	}
	s.clearWide(l, from, to)
	blank := s.eraseCell()
	for i := from; i < to; i++ {
		if selective && l.cells[i].attr.Flags&Protected != 0 {
			continue
		}
		l.cells[i] = blank
		if l.comb != nil {
			delete(l.comb, i)
		}
	}
	if to >= s.cols {
		l.wrapped = false
	}
}

func (s *Screen) eraseDisplay(mode int, selective bool) {
	switch mode {
	case 0:
		s.eraseCells(s.cur.row, s.cur.col, s.cols, selective)
		for r := s.cur.row + 1; r < s.rows; r++ {
			s.eraseCells(r, 0, s.cols, selective)
		}
	case 1:
		for r := 0; r < s.cur.row; r++ {
			s.eraseCells(r, 0, s.cols, selective)
		}
		s.eraseCells(s.cur.row, 0, s.cur.col+1, selective)
	case 2:
		for r := 0; r < s.rows; r++ {
			s.eraseCells(r, 0, s.cols, selective)
		}
	case 3:
		if !selective {
			s.sb, s.sbStart, s.sbLen = nil, 0, 0
		}
		return
	default:
		return
	}
	s.cur.wrapnext = false
}

func (s *Screen) eraseLine(mode int, selective bool) {
	switch mode {
	case 0:
		s.eraseCells(s.cur.row, s.cur.col, s.cols, selective)
	case 1:
		s.eraseCells(s.cur.row, 0, s.cur.col+1, selective)
	case 2:
		s.eraseCells(s.cur.row, 0, s.cols, selective)
	default:
		return
	}
	s.cur.wrapnext = false
}

// insertCells shifts cells from x right by n, filling with blank.
func (s *Screen) insertCells(l *line, x, n int, blank cell) {
	n = min(n, s.cols-x)
	s.clearWide(l, x, x)
	copy(l.cells[x+n:], l.cells[x:s.cols-n])
	for i := x; i < x+n; i++ {
		l.cells[i] = blank
	}
	// A wide character pushed half off the edge is dropped.
	if l.cells[s.cols-1].width == 2 {
		l.cells[s.cols-1] = blank
	}
	l.comb = shiftComb(l.comb, x, n, s.cols)
}

func (s *Screen) deleteCells(n int) {
	l := s.lines[s.cur.row]
	x := s.cur.col
	n = min(n, s.cols-x)
	s.clearWide(l, x, x+n)
	copy(l.cells[x:], l.cells[x+n:])
	blank := s.eraseCell()
	for i := s.cols - n; i < s.cols; i++ {
		l.cells[i] = blank
	}
	l.comb = shiftComb(l.comb, x, -n, s.cols)
	s.cur.wrapnext = false
}

// shiftComb moves combining marks at or right of x by d columns.
func shiftComb(m map[int]string, x, d, cols int) map[int]string {
	if m == nil {
		return nil
	}
	out := make(map[int]string, len(m))
	for k, v := range m {
		switch {
		case k < x:
			out[k] = v
		case d < 0 && k < x-d:
			// deleted
		case k+d < cols:
			out[k+d] = v
		}
	}
	return out
}

func (s *Screen) insertLines(n int) {
	if s.cur.row < s.top || s.cur.row > s.bottom {
		return
	}
	s.scrollDown(s.cur.row, s.bottom, n)
	s.cur.col = 0
	s.cur.wrapnext = false
}

func (s *Screen) deleteLines(n int) {
	if s.cur.row < s.top || s.cur.row > s.bottom {
		return
	}
	// Deleted lines never go to the scrollback.
	alt := s.altActive
	s.altActive = true
	s.scrollUp(s.cur.row, s.bottom, n)
	s.altActive = alt
	s.cur.col = 0
	s.cur.wrapnext = false
}

func (s *Screen) saveCursor() {
	k := s.bufIndex()
	s.saved[k] = s.cur
	s.saved[k].origin = s.modes.Origin
	s.hasSaved[k] = true
	if s.decscaActive {
		s.saved[k].attr.Flags |= Protected
	}
}

func (s *Screen) restoreCursor() {
	k := s.bufIndex()
	c := s.saved[k]
	if !s.hasSaved[k] {
		c = cursor{}
	}
	s.decscaActive = c.attr.Flags&Protected != 0
	c.attr.Flags &^= Protected
	s.cur = c
	s.modes.Origin = c.origin
	s.cur.row = min(c.row, s.rows-1)
	s.cur.col = min(c.col, s.cols-1)
	if s.cur.col != c.col {
		s.cur.wrapnext = false
	}
}

func (s *Screen) setAltScreen(on, clear bool) {
	if on == s.altActive {
		if on && clear {
			s.clearBuf(s.alt)
		}
		return
	}
	s.altActive = on
	if on {
		s.lines = s.alt
		if clear {
			s.clearBuf(s.alt)
		}
	} else {
		s.lines = s.main
	}
}

func (s *Screen) clearBuf(buf []*line) {
	blank := s.eraseCell()
	for _, l := range buf {
		l.reset(s.cols, blank)
	}
}

func (s *Screen) decaln() {
	for _, l := range s.lines {
		l.reset(s.cols, cell{r: 'E', width: 1})
	}
	s.top, s.bottom = 0, s.rows-1
	s.modes.Origin = false
	s.cur.row, s.cur.col, s.cur.wrapnext = 0, 0, false
}

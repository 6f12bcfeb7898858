package vt

import (
	"bytes"
	"io"
	"strings"
	"sync"
)

// Default sizes used when a Config field is zero.
const (
	DefaultRows       = 24
	DefaultCols       = 80
	DefaultScrollback = 1000
)

// maxDim bounds rows and columns so that a hostile resize cannot exhaust
// memory.
const maxDim = 4096

// Config configures a Screen. The zero value is a 24×80 screen with 1000
// lines of scrollback that drops replies.
type Config struct {
	// Rows and Cols are the screen size; 0 means 24 and 80. Values are
	// clamped to 1–4096.
	Rows, Cols int
	// Scrollback is how many lines scrolled off the top of the main screen are
	// kept; 0 means 1000, a negative value keeps none.
	Scrollback int
	// Reply receives the terminal's answers to host queries (DA1, DA2, DSR,
	// CPR, DECRQM). Replies are written after the Write that caused them
	// returns its lock, in order, never concurrently. nil drops them.
	Reply io.Writer
}

// Cell is one character cell of the screen.
type Cell struct {
	// Rune is the character; a blank cell holds ' '. The right half of a
	// wide character holds 0.
	Rune rune
	// Combining holds the combining characters attached to Rune, if any.
	Combining string
	// Width is 1 for a normal cell, 2 for the left half of a wide character
	// and 0 for its right half.
	Width int
	Attr  Attr
}

// Modes are the terminal modes a caller may need, e.g. to encode keys.
type Modes struct {
	CursorKeysApplication bool // DECCKM: arrows send SS3 sequences
	KeypadApplication     bool // DECKPAM / DECNKM
	BracketedPaste        bool // 2004
	AutoWrap              bool // DECAWM
	Origin                bool // DECOM
	Insert                bool // IRM
	LineFeedNewLine       bool // LNM: LF, VT and FF also return the carriage
	CursorVisible         bool // DECTCEM
	ReverseVideo          bool // DECSCNM
	AltScreen             bool // 47, 1047, 1049
	MouseTracking         int  // 0, or the last mouse mode set: 9, 1000, 1002 or 1003
	MouseSGR              bool // 1006
	FocusEvents           bool // 1004
}

// cell is the stored form of a Cell; combining characters live in the
// line's comb map.
type cell struct {
	r     rune
	attr  Attr
	width uint8
}

type line struct {
	cells   []cell
	comb    map[int]string
	wrapped bool
}

func (l *line) reset(cols int, blank cell) {
	if cap(l.cells) >= cols {
		l.cells = l.cells[:cols]
	} else {
		l.cells = make([]cell, cols)
	}
	fillCells(l.cells, blank)
	l.comb = nil
	l.wrapped = false
}

// fillCells sets every cell to c, doubling copies so that memmove does the
// work.
func fillCells(cells []cell, c cell) {
	if len(cells) == 0 {
		return
	}
	cells[0] = c
	for i := 1; i < len(cells); i *= 2 {
		copy(cells[i:], cells[:i])
	}
}

func (l *line) text(buf *strings.Builder) string {
	buf.Reset()
	end := len(l.cells)
	for end > 0 && l.cells[end-1].r == ' ' && l.comb[end-1] == "" {
		end--
	}
	for i := 0; i < end; i++ {
		c := l.cells[i]
		if c.width == 0 {
			continue
		}
		buf.WriteRune(c.r)
		if l.comb != nil {
			buf.WriteString(l.comb[i])
		}
	}
	return buf.String()
}

// cursor is the part of the state that DECSC saves.
type cursor struct {
	row, col int
	attr     Attr
	wrapnext bool
	origin   bool
	g        [4]charset
	gl       int
}

// Screen is a headless terminal: feed it the host's output with Write and read
// the screen with Rows, Cell and Cursor.
//
// A Screen is safe for concurrent use: one goroutine may Write while others
// read. Writes are serialised.
type Screen struct {
	mu      sync.RWMutex
	replyMu sync.Mutex // serialises writes to reply
	reply   io.Writer

	rows, cols int
	main, alt  []*line
	lines      []*line // main or alt
	altActive  bool

	sb      []*line // scrollback ring
	sbStart int
	sbLen   int
	sbMax   int

	cur         cursor
	saved       [2]cursor // main, alt
	hasSaved    [2]bool
	top, bottom int
	tabs        []bool
	ss          int  // pending single shift: 0, 2 or 3
	lastRune    rune // what REP repeats; 0 after any control
	// mark is the cell that a combining character attaches to: the cell
	// printed last, until a control moves the cursor or edits the screen.
	mark struct {
		row, col int
		ok       bool
	}
	title        string
	modes        Modes
	decscaActive bool

	// parser
	state  pstate
	params [maxParams]int
	nparam int
	sub    uint32 // bit i: params[i] was introduced by ':'
	prefix byte   // CSI private marker
	inter  [2]byte
	ninter int
	over   bool // too many intermediates: ignore the sequence
	utf8   [4]byte
	utf8n  int // bytes collected
	utf8w  int // bytes expected
	osc    []byte

	replyBuf bytes.Buffer

	gen     uint64
	changed chan struct{}
}

// New returns a screen configured by cfg.
func New(cfg Config) *Screen {
	rows, cols := clampDim(cfg.Rows, DefaultRows), clampDim(cfg.Cols, DefaultCols)
	sbMax := cfg.Scrollback
	switch {
	case sbMax == 0:
		sbMax = DefaultScrollback
	case sbMax < 0:
		sbMax = 0
	}
	s := &Screen{reply: cfg.Reply, rows: rows, cols: cols, sbMax: sbMax}
	s.main = s.newLines(rows)
	s.alt = s.newLines(rows)
	s.lines = s.main
	s.resetState()
	return s
}

func clampDim(v, def int) int {
	switch {
	case v <= 0:
		return def
	case v > maxDim:
		return maxDim
	}
	return v
}

func (s *Screen) newLines(n int) []*line {
	ls := make([]*line, n)
	for i := range ls {
		ls[i] = &line{}
		ls[i].reset(s.cols, blankCell)
	}
	return ls
}

var blankCell = cell{r: ' ', width: 1}

// Write feeds bytes from the host to the terminal. It never fails and always
// consumes all of p; an incomplete escape sequence or UTF-8 character at the
// end of p is completed by the next Write.
func (s *Screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	s.feed(p)
	s.gen++
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
	if s.replyBuf.Len() == 0 || s.reply == nil {
		s.replyBuf.Reset()
		s.mu.Unlock()
		return len(p), nil
	}
	reply := bytes.Clone(s.replyBuf.Bytes())
	s.replyBuf.Reset()
	// Taking replyMu before releasing mu keeps replies in the order of the
	// Writes that caused them; the reply writer runs without mu held, so it
	// may read the screen.
	s.replyMu.Lock()
	s.mu.Unlock()
	_, _ = s.reply.Write(reply)
	s.replyMu.Unlock()
	return len(p), nil
}

// Changed returns a channel that is closed by the next Write. To wait for a
// condition without missing an update, take the channel first, then check the
// screen, then wait on the channel.
func (s *Screen) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.changed == nil {
		s.changed = make(chan struct{})
	}
	return s.changed
}

// Generation returns the number of Writes so far.
func (s *Screen) Generation() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.gen
}

// Size returns the screen size.
func (s *Screen) Size() (rows, cols int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.rows, s.cols
}

// Rows returns every row of the screen as text, as a user sees it: wide
// characters once, combining characters after their base, trailing spaces
// trimmed.
func (s *Screen) Rows() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, s.rows)
	var b strings.Builder
	for i, l := range s.lines {
		out[i] = l.text(&b)
	}
	return out
}

// String returns the rows joined by newlines.
func (s *Screen) String() string { return strings.Join(s.Rows(), "\n") }

// Cell returns the cell at (row, col), both 0-based. Outside the screen it
// returns a zero Cell.
func (s *Screen) Cell(row, col int) Cell {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if row < 0 || row >= s.rows || col < 0 || col >= s.cols {
		return Cell{}
	}
	l := s.lines[row]
	c := l.cells[col]
	out := Cell{Rune: c.r, Width: int(c.width), Attr: c.attr}
	if l.comb != nil {
		out.Combining = l.comb[col]
	}
	return out
}

// Text returns n cells of row starting at col as text (the right halves of
// wide characters are skipped; trailing spaces are kept). The range is
// clipped to the screen.
func (s *Screen) Text(row, col, n int) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if row < 0 || row >= s.rows || n <= 0 {
		return ""
	}
	col = max(col, 0)
	end := min(col+n, s.cols)
	var b strings.Builder
	l := s.lines[row]
	for i := col; i < end; i++ {
		c := l.cells[i]
		if c.width == 0 {
			continue
		}
		b.WriteRune(c.r)
		if l.comb != nil {
			b.WriteString(l.comb[i])
		}
	}
	return b.String()
}

// Cursor returns the cursor position (0-based) and whether it is visible.
func (s *Screen) Cursor() (row, col int, visible bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cur.row, s.cur.col, s.modes.CursorVisible
}

// Title returns the window title set by OSC 0 or OSC 2.
func (s *Screen) Title() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.title
}

// Scrollback returns the lines scrolled off the top of the main screen,
// oldest first, as text with trailing spaces trimmed.
func (s *Screen) Scrollback() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, s.sbLen)
	var b strings.Builder
	for i := range out {
		out[i] = s.sb[(s.sbStart+i)%len(s.sb)].text(&b)
	}
	return out
}

// AltScreen reports whether the alternate screen is shown.
func (s *Screen) AltScreen() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.altActive
}

// Modes returns the current terminal modes.
func (s *Screen) Modes() Modes {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m := s.modes
	m.AltScreen = s.altActive
	return m
}

// CursorKeysApplication reports DECCKM, which EncodeKey needs.
func (s *Screen) CursorKeysApplication() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.modes.CursorKeysApplication
}

// Resize changes the screen size, keeping the content at the top left. When
// the screen loses rows, lines above the cursor go to the scrollback first so
// that the cursor's line stays visible. The cursor is clamped; scroll margins
// are reset.
func (s *Screen) Resize(rows, cols int) {
	rows, cols = clampDim(rows, DefaultRows), clampDim(cols, DefaultCols)
	s.mu.Lock()
	defer s.mu.Unlock()
	if rows == s.rows && cols == s.cols {
		return
	}
	// Rows: drop from the top (into scrollback) while the cursor would fall
	// off the bottom, then from the bottom.
	shift := max(0, s.cur.row-(rows-1))
	s.main = s.resizeBuf(s.main, rows, cols, shift, !s.altActive)
	s.alt = s.resizeBuf(s.alt, rows, cols, shift, false)
	for k := range s.saved {
		s.saved[k].row = min(max(s.saved[k].row-shift, 0), rows-1)
		s.saved[k].col = min(s.saved[k].col, cols-1)
	}
	if s.altActive {
		s.lines = s.alt
	} else {
		s.lines = s.main
	}
	s.cur.row -= shift
	oldCols := s.cols
	s.rows, s.cols = rows, cols
	s.cur.row = min(max(s.cur.row, 0), rows-1)
	s.cur.col = min(s.cur.col, cols-1)
	s.cur.wrapnext = false
	s.mark.ok = false
	s.top, s.bottom = 0, rows-1
	tabs := make([]bool, cols)
	copy(tabs, s.tabs)
	for i := oldCols; i < cols; i++ {
		tabs[i] = i%8 == 0 && i > 0
	}
	s.tabs = tabs
	s.gen++
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
}

func (s *Screen) resizeBuf(buf []*line, rows, cols, shift int, save bool) []*line {
	for i := 0; i < shift; i++ {
		if save {
			s.pushScrollback(buf[i])
		}
	}
	buf = buf[shift:]
	out := make([]*line, rows)
	for i := range out {
		if i < len(buf) {
			l := buf[i]
			l.resizeCols(cols)
			out[i] = l
		} else {
			l := &line{}
			l.reset(cols, blankCell)
			out[i] = l
		}
	}
	return out
}

func (l *line) resizeCols(cols int) {
	old := len(l.cells)
	if cols <= old {
		l.cells = l.cells[:cols]
		// A wide character cut in half becomes a blank.
		if cols > 0 && l.cells[cols-1].width == 2 {
			l.cells[cols-1] = blankCell
		}
		for k := range l.comb {
			if k >= cols {
				delete(l.comb, k)
			}
		}
		return
	}
	cells := make([]cell, cols)
	copy(cells, l.cells)
	for i := old; i < cols; i++ {
		cells[i] = blankCell
	}
	l.cells = cells
}

// pushScrollback stores l at the end of the scrollback and returns a line
// that the caller may reuse (the evicted oldest line), or nil.
func (s *Screen) pushScrollback(l *line) *line {
	if s.sbMax == 0 {
		return l
	}
	if s.sbLen < s.sbMax {
		if s.sb == nil {
			s.sb = make([]*line, 0, min(s.sbMax, 64))
		}
		s.sb = append(s.sb, l)
		s.sbLen++
		return nil
	}
	old := s.sb[s.sbStart]
	s.sb[s.sbStart] = l
	s.sbStart = (s.sbStart + 1) % len(s.sb)
	return old
}

package tn3270

import (
	"strings"

	"github.com/rs/zerolog"
)

// cell is one buffer position.
type cell struct {
	ch    byte // EBCDIC character (0 = null)
	isFA  bool // this position holds a field attribute
	fa    byte // the field attribute (6 meaningful bits) when isFA
	ge    bool // ch came through Graphic Escape
	color byte // character colour (SA) or, on an FA, the field colour (SFE)
	hl    byte // highlighting, likewise
	cs    byte // character set, likewise
}

// Engine is the 3270 terminal model: the presentation buffer, its fields,
// the cursor and the keyboard. It consumes host records (Process), turns
// keys into inbound records (Press) and does no I/O. An Engine is not safe
// for concurrent use; Terminal serialises access to its Engine.
type Engine struct {
	model      Model
	cp         *CodePage
	log        zerolog.Logger
	rows, cols int
	buf        []cell
	cursor     int
	kb         KeyboardState
	insert     bool
	aid        byte // the last AID sent (AIDNone after a keyboard restore)
	alarms     int  // times the host sounded the alarm
}

// NewEngine returns an engine for a model (see LookupModel) and code page,
// showing an empty 24x80 screen with the keyboard unlocked.
func NewEngine(model Model, cp *CodePage, log zerolog.Logger) *Engine {
	if cp == nil {
		cp = codePages["037"]
	}
	if model.Number == 0 {
		model, _ = LookupModel(2)
	}
	size := max(model.Rows*model.Cols, model.AltRows*model.AltCols)
	e := &Engine{model: model, cp: cp, log: log, buf: make([]cell, size), aid: AIDNone}
	e.rows, e.cols = model.Rows, model.Cols
	return e
}

// Model returns the terminal model.
func (e *Engine) Model() Model { return e.model }

// CodePage returns the code page in use.
func (e *Engine) CodePage() *CodePage { return e.cp }

// Size returns the current screen size (default or alternate).
func (e *Engine) Size() (rows, cols int) { return e.rows, e.cols }

func (e *Engine) size() int { return e.rows * e.cols }

// Cursor returns the cursor's row and column (0-based).
func (e *Engine) Cursor() (row, col int) { return e.cursor / e.cols, e.cursor % e.cols }

// CursorAddr returns the cursor's buffer address.
func (e *Engine) CursorAddr() int { return e.cursor }

// Keyboard returns the keyboard state.
func (e *Engine) Keyboard() KeyboardState { return e.kb }

// InsertMode reports whether insert mode is on.
func (e *Engine) InsertMode() bool { return e.insert }

// Alarms returns how many times the host sounded the alarm.
func (e *Engine) Alarms() int { return e.alarms }

// SetDisconnected locks the keyboard for good: the host is gone.
func (e *Engine) SetDisconnected() { e.kb = LockedDisconnected }

// MoveCursor puts the cursor at row, col (clamped to the screen).
func (e *Engine) MoveCursor(row, col int) {
	row = min(max(row, 0), e.rows-1)
	col = min(max(col, 0), e.cols-1)
	e.cursor = row*e.cols + col
}

func (e *Engine) inc(a int) int {
	a++
	if a >= e.size() {
		return 0
	}
	return a
}

func (e *Engine) dec(a int) int {
	if a == 0 {
		return e.size() - 1
	}
	return a - 1
}

// faAddr returns the address of the field attribute that governs address
// a, or -1 on an unformatted screen.
func (e *Engine) faAddr(a int) int {
	n := e.size()
	for i := 0; i < n; i++ {
		if e.buf[a].isFA {
			return a
		}
		a = e.dec(a)
	}
	return -1
}

// faOf returns the field attribute governing address a (0, unprotected,
// on an unformatted screen).
func (e *Engine) faOf(a int) byte {
	if f := e.faAddr(a); f >= 0 {
		return e.buf[f].fa
	}
	return 0
}

func (e *Engine) formatted() bool {
	for i := 0; i < e.size(); i++ {
		if e.buf[i].isFA {
			return true
		}
	}
	return false
}

func isProtected(fa byte) bool { return fa&FAProtected != 0 }
func isNumeric(fa byte) bool   { return fa&FANumeric != 0 }
func isSkip(fa byte) bool      { return isProtected(fa) && isNumeric(fa) }
func isHidden(fa byte) bool    { return fa&FADisplayMask == FANonDisplay }

// nextUnprotected returns the first character position of the next
// unprotected field after a (wrapping), or -1 if there is none.
func (e *Engine) nextUnprotected(a int) int {
	n := e.size()
	for i := 0; i < n; i++ {
		a = e.inc(a)
		if e.buf[a].isFA && !isProtected(e.buf[a].fa) {
			next := e.inc(a)
			if !e.buf[next].isFA {
				return next
			}
		}
	}
	return -1
}

// firstUnprotected is the Home position: the first unprotected character
// position from address 0, or 0 on an unformatted screen.
func (e *Engine) firstUnprotected() int {
	if !e.formatted() {
		return 0
	}
	a := e.nextUnprotected(e.size() - 1)
	if a < 0 {
		return 0
	}
	return a
}

// erase clears the buffer and selects the default or alternate size.
func (e *Engine) erase(alternate bool) {
	if alternate {
		e.rows, e.cols = e.model.AltRows, e.model.AltCols
	} else {
		e.rows, e.cols = e.model.Rows, e.model.Cols
	}
	clear(e.buf)
	e.cursor = 0
}

// resetMDTs clears the modified bit of every field.
func (e *Engine) resetMDTs() {
	for i := 0; i < e.size(); i++ {
		if e.buf[i].isFA {
			e.buf[i].fa &^= FAModified
		}
	}
}

// setMDT sets the modified bit of the field governing a.
func (e *Engine) setMDT(a int) {
	if f := e.faAddr(a); f >= 0 {
		e.buf[f].fa |= FAModified
	}
}

// restoreKeyboard is the WCC keyboard restore: unlock and forget the AID.
func (e *Engine) restoreKeyboard() {
	if e.kb != LockedDisconnected {
		e.kb = Unlocked
	}
	e.aid = AIDNone
}

// Screen returns the screen as a 3270 user sees it: one string per row,
// field attribute positions, nulls and control characters as blanks, and
// the contents of non-display (hidden) fields as blanks.
func (e *Engine) Screen() []string {
	rows := make([]string, e.rows)
	fa := e.faOf(e.size() - 1)
	if e.buf[0].isFA {
		fa = e.buf[0].fa
	}
	var sb strings.Builder
	for r := 0; r < e.rows; r++ {
		sb.Reset()
		sb.Grow(e.cols)
		for c := 0; c < e.cols; c++ {
			cl := &e.buf[r*e.cols+c]
			if cl.isFA {
				fa = cl.fa
				sb.WriteByte(' ')
				continue
			}
			sb.WriteRune(e.display(cl, fa))
		}
		rows[r] = sb.String()
	}
	return rows
}

// display returns the rune shown for a cell in a field with attribute fa.
func (e *Engine) display(cl *cell, fa byte) rune {
	if isHidden(fa) {
		return ' '
	}
	switch {
	case cl.ch == fcoDUP:
		return '*'
	case cl.ch == fcoFM:
		return ';'
	case cl.ch < 0x40 || cl.ch == fcoEO:
		return ' '
	}
	r := e.cp.Decode(cl.ch)
	if r < 0x20 || (r >= 0x7F && r < 0xA0) {
		return ' '
	}
	return r
}

// Text returns the screen as one string, rows joined by newlines.
func (e *Engine) Text() string { return strings.Join(e.Screen(), "\n") }

// Field describes one field of a formatted screen.
type Field struct {
	Addr        int  // buffer address of the field attribute
	Row, Col    int  // position of the first character (Addr+1)
	Len         int  // number of character positions
	Attr        byte // the raw field attribute (6 low bits)
	Protected   bool
	Numeric     bool
	Intensified bool
	// Hidden is a non-display field (such as a password). Its Contents are
	// always reported as blanks: what a hidden field holds never leaves the
	// engine except in the inbound record sent to the host.
	Hidden    bool
	Modified  bool
	Skip      bool // protected and numeric: the cursor skips over it
	Color     byte // extended colour (ColorDefault when none)
	Highlight byte // extended highlighting (HighlightDefault when none)
	Charset   byte // extended character set (0 when none)
	// Contents is the field's text as displayed: nulls as blanks, hidden
	// fields all blanks.
	Contents string
}

// Fields returns the fields in buffer order (nil on an unformatted screen).
func (e *Engine) Fields() []Field {
	var out []Field
	n := e.size()
	for a := 0; a < n; a++ {
		if e.buf[a].isFA {
			out = append(out, e.field(a))
		}
	}
	return out
}

// field builds the Field whose attribute is at fa.
func (e *Engine) field(fa int) Field {
	c := e.buf[fa]
	start := e.inc(fa)
	f := Field{
		Addr: fa, Row: start / e.cols, Col: start % e.cols, Attr: c.fa,
		Protected: isProtected(c.fa), Numeric: isNumeric(c.fa), Skip: isSkip(c.fa),
		Intensified: c.fa&FADisplayMask == FAIntensified, Hidden: isHidden(c.fa),
		Modified: c.fa&FAModified != 0, Color: c.color, Highlight: c.hl, Charset: c.cs,
	}
	var sb strings.Builder
	for a := start; !e.buf[a].isFA; a = e.inc(a) {
		sb.WriteRune(e.display(&e.buf[a], c.fa))
		f.Len++
	}
	f.Contents = sb.String()
	return f
}

// FieldAt returns the field containing row, col (its attribute position
// included), and false on an unformatted screen or outside the screen.
func (e *Engine) FieldAt(row, col int) (Field, bool) {
	if row < 0 || col < 0 || row >= e.rows || col >= e.cols {
		return Field{}, false
	}
	f := e.faAddr(row*e.cols + col)
	if f < 0 {
		return Field{}, false
	}
	return e.field(f), true
}

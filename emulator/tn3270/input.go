package tn3270

import "fmt"

// This file is the keyboard: typing and local editing keys, and the AID
// keys that build inbound records.

func isNumericChar(b byte) bool {
	return (b >= 0xF0 && b <= 0xF9) || b == 0x4B || b == 0x60 // 0-9 . -
}

// Press applies a key. For an AID key it returns the inbound record to send
// to the host and locks the keyboard (LockedWait). KeyAttn returns nothing:
// the transport sends it as a telnet command.
func (e *Engine) Press(k Key) ([]byte, error) {
	if k == KeyReset {
		if e.kb.operatorError() {
			e.kb = Unlocked
		}
		e.insert = false
		return nil, nil
	}
	if e.kb != Unlocked {
		return nil, ErrKeyboardLocked
	}
	if aid := k.aid(); aid != 0 {
		return e.sendAID(aid), nil
	}
	size := e.size()
	switch k {
	case KeyAttn:
		return nil, nil
	case KeyTab:
		e.cursor = e.tabFrom(e.cursor)
	case KeyBacktab:
		e.cursor = e.backtab()
	case KeyHome:
		e.cursor = e.firstUnprotected()
	case KeyNewline:
		e.newline()
	case KeyEraseEOF:
		return nil, e.eraseEOF()
	case KeyEraseInput:
		e.eraseInput()
	case KeyDelete:
		return nil, e.deleteChar()
	case KeyBackspace:
		e.cursor = e.dec(e.cursor)
	case KeyErase:
		return nil, e.erasePrev()
	case KeyDup:
		if err := e.typeByte(fcoDUP); err != nil {
			return nil, err
		}
		e.cursor = e.tabFrom(e.dec(e.cursor))
	case KeyFieldMark:
		return nil, e.typeByte(fcoFM)
	case KeyInsert:
		e.insert = !e.insert
	case KeyLeft:
		e.cursor = e.dec(e.cursor)
	case KeyRight:
		e.cursor = e.inc(e.cursor)
	case KeyUp:
		e.cursor = (e.cursor - e.cols + size) % size
	case KeyDown:
		e.cursor = (e.cursor + e.cols) % size
	default:
		return nil, fmt.Errorf("%w: %v", ErrUnknownKey, k)
	}
	return nil, nil
}

// sendAID builds the record for an AID and locks the keyboard. Clear also
// erases the screen to its default size before the (short) read.
func (e *Engine) sendAID(aid byte) []byte {
	if aid == AIDClear {
		e.erase(false)
	}
	e.aid = aid
	e.kb = LockedWait
	e.insert = false
	return e.readModified(aid, false)
}

// tabFrom returns the next unprotected character position after a, or 0
// when there is none.
func (e *Engine) tabFrom(a int) int {
	if !e.formatted() {
		return 0
	}
	n := e.nextUnprotected(a)
	if n < 0 {
		return 0
	}
	return n
}

func (e *Engine) backtab() int {
	if !e.formatted() {
		return 0
	}
	a := e.cursor
	// Inside an unprotected field but not at its start: go to its start.
	if f := e.faAddr(a); f >= 0 && !isProtected(e.buf[f].fa) && a != f && e.inc(f) != a {
		return e.inc(f)
	}
	for i := 0; i < e.size(); i++ {
		a = e.dec(a)
		if e.buf[a].isFA && !isProtected(e.buf[a].fa) && !e.buf[e.inc(a)].isFA && e.inc(a) != e.cursor {
			return e.inc(a)
		}
	}
	if f := e.faAddr(e.cursor); f >= 0 && !isProtected(e.buf[f].fa) {
		return e.inc(f)
	}
	return 0
}

// newline moves to the first unprotected position at or after the start of
// the next row.
func (e *Engine) newline() {
	rowStart := (e.cursor/e.cols + 1) % e.rows * e.cols
	if !e.formatted() {
		e.cursor = rowStart
		return
	}
	a := rowStart
	fa := e.faOf(a)
	for i := 0; i < e.size(); i++ {
		if e.buf[a].isFA {
			fa = e.buf[a].fa
		} else if !isProtected(fa) {
			e.cursor = a
			return
		}
		a = e.inc(a)
	}
	e.cursor = 0
}

// writable checks that the cursor is on an unprotected character position;
// if not it locks the keyboard with an operator error.
func (e *Engine) writable(a int) error {
	if e.buf[a].isFA || isProtected(e.faOf(a)) {
		e.kb = LockedProtected
		return ErrProtected
	}
	return nil
}

// fieldEnd returns the last character position of the field holding a (the
// end of the buffer's wrap-around on an unformatted screen).
func (e *Engine) fieldEnd(a int) int {
	if !e.formatted() {
		return e.size() - 1
	}
	for !e.buf[e.inc(a)].isFA {
		a = e.inc(a)
	}
	return a
}

func (e *Engine) eraseEOF() error {
	if err := e.writable(e.cursor); err != nil {
		return err
	}
	end := e.fieldEnd(e.cursor)
	for a := e.cursor; ; a = e.inc(a) {
		e.buf[a] = cell{}
		if a == end {
			break
		}
	}
	e.setMDT(e.cursor)
	return nil
}

func (e *Engine) eraseInput() {
	if !e.formatted() {
		clear(e.buf[:e.size()])
		e.cursor = 0
		return
	}
	fa := e.faOf(e.size() - 1)
	for a := 0; a < e.size(); a++ {
		c := &e.buf[a]
		if c.isFA {
			fa = c.fa
			if !isProtected(c.fa) {
				c.fa &^= FAModified
			}
			continue
		}
		if !isProtected(fa) {
			*c = cell{}
		}
	}
	e.cursor = e.firstUnprotected()
}

// shiftLeft deletes the character at a, shifting the rest of its field left.
func (e *Engine) shiftLeft(a int) {
	end := e.fieldEnd(a)
	for b := a; b != end; b = e.inc(b) {
		e.buf[b] = e.buf[e.inc(b)]
	}
	e.buf[end] = cell{}
	e.setMDT(a)
}

func (e *Engine) deleteChar() error {
	if err := e.writable(e.cursor); err != nil {
		return err
	}
	e.shiftLeft(e.cursor)
	return nil
}

func (e *Engine) erasePrev() error {
	prev := e.dec(e.cursor)
	if err := e.writable(prev); err != nil {
		return err
	}
	e.cursor = prev
	e.shiftLeft(prev)
	return nil
}

// Type types text at the cursor, as an operator would: character by
// character, with field rules (protected and numeric fields lock the
// keyboard with an operator error; a full field skips to the next
// unprotected one; in insert mode a full field locks with LockedOverflow).
// '\t' presses Tab and '\n' presses Newline. It stops at the first error.
func (e *Engine) Type(text string) error {
	for _, r := range text {
		if e.kb != Unlocked {
			return ErrKeyboardLocked
		}
		switch r {
		case '\t':
			e.cursor = e.tabFrom(e.cursor)
			continue
		case '\n':
			e.newline()
			continue
		}
		b, ok := e.cp.Encode(r)
		if !ok || b < 0x40 || b == 0xFF {
			return fmt.Errorf("%w: %q is not in code page %s", ErrUnencodable, r, e.cp.Name())
		}
		if err := e.typeByte(b); err != nil {
			return err
		}
	}
	return nil
}

// typeByte enters one EBCDIC character at the cursor.
func (e *Engine) typeByte(b byte) error {
	if e.kb != Unlocked {
		return ErrKeyboardLocked
	}
	a := e.cursor
	if err := e.writable(a); err != nil {
		return err
	}
	fa := e.faOf(a)
	if isNumeric(fa) && e.formatted() && !isNumericChar(b) && b != fcoDUP && b != fcoFM {
		e.kb = LockedNumeric
		return ErrNumeric
	}
	if e.insert {
		end := e.fieldEnd(a)
		if e.buf[end].ch != 0 {
			e.kb = LockedOverflow
			return ErrOverflow
		}
		for b := end; b != a; b = e.dec(b) {
			e.buf[b] = e.buf[e.dec(b)]
		}
	}
	e.buf[a] = cell{ch: b}
	e.setMDT(a)
	a = e.inc(a)
	if e.buf[a].isFA {
		if isSkip(e.buf[a].fa) {
			if n := e.nextUnprotected(a); n >= 0 {
				a = n
			}
		} else {
			for i := 0; i < e.size() && e.buf[a].isFA; i++ {
				a = e.inc(a)
			}
		}
	}
	e.cursor = a
	return nil
}

// SetField replaces the contents of the unprotected field containing row,
// col with text (the rest of the field is nulled), sets its modified bit
// and leaves the cursor after the text. It checks everything before
// changing anything and never locks the keyboard: errors are *FieldError
// wrapping ErrKeyboardLocked, ErrNoField, ErrProtected, ErrNumeric,
// ErrTooLong or ErrUnencodable.
func (e *Engine) SetField(row, col int, text string) error {
	fe := func(err error) error { return &FieldError{Row: row, Col: col, Err: err} }
	if e.kb != Unlocked {
		return fe(ErrKeyboardLocked)
	}
	f, ok := e.FieldAt(row, col)
	if !ok {
		return fe(ErrNoField)
	}
	if f.Protected {
		return fe(ErrProtected)
	}
	enc, err := e.cp.EncodeString(text)
	if err != nil {
		return fe(err)
	}
	if len(enc) > f.Len {
		return fe(fmt.Errorf("%w: %d characters into %d positions", ErrTooLong, len(enc), f.Len))
	}
	for _, b := range enc {
		if b < 0x40 || b == 0xFF {
			return fe(fmt.Errorf("%w: control character", ErrUnencodable))
		}
		if f.Numeric && !isNumericChar(b) {
			return fe(ErrNumeric)
		}
	}
	a := e.inc(f.Addr)
	for i := 0; i < f.Len; i++ {
		if i < len(enc) {
			e.buf[a] = cell{ch: enc[i]}
		} else {
			e.buf[a] = cell{}
		}
		if i == len(enc) {
			e.cursor = a
		}
		a = e.inc(a)
	}
	if len(enc) == f.Len {
		e.cursor = e.tabFrom(e.dec(a))
	}
	e.buf[f.Addr].fa |= FAModified
	return nil
}

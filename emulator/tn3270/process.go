package tn3270

import "fmt"

// Process applies one host record (a 3270 command and its data, without
// any TN3270E header) to the screen. It returns the inbound record the
// terminal must send in reply, if any (for Read Buffer, Read Modified and
// Read Partition Query), and a *DataStreamError if the record was malformed.
// As x3270 does, processing stops at the first bad order; everything before
// it stays applied and the screen remains consistent.
func (e *Engine) Process(rec []byte) (reply []byte, err error) {
	if len(rec) == 0 {
		return nil, nil
	}
	data := rec[1:]
	switch rec[0] {
	case CmdW, SNACmdW:
		return nil, e.write(data, 1, false, false)
	case CmdEW, SNACmdEW:
		return nil, e.write(data, 1, true, false)
	case CmdEWA, SNACmdEWA:
		return nil, e.write(data, 1, true, true)
	case CmdEAU, SNACmdEAU:
		e.eraseAllUnprotected()
		return nil, nil
	case CmdRB, SNACmdRB:
		return e.readBuffer(e.aid), nil
	case CmdRM, SNACmdRM:
		return e.readModified(e.aid, false), nil
	case CmdRMA, SNACmdRMA:
		return e.readModified(e.aid, true), nil
	case CmdWSF, SNACmdWSF:
		return e.writeStructuredField(data, 1)
	case CmdNOP:
		return nil, nil
	}
	e.log.Warn().Uint8("cmd", rec[0]).Msg("tn3270: unknown 3270 command ignored")
	return nil, &DataStreamError{Offset: 0, Reason: fmt.Sprintf("unknown command 0x%02X", rec[0])}
}

// eraseAllUnprotected implements EAU.
func (e *Engine) eraseAllUnprotected() {
	if e.formatted() {
		fa := e.faOf(e.size() - 1)
		for a := 0; a < e.size(); a++ {
			c := &e.buf[a]
			if c.isFA {
				fa = c.fa
				c.fa &^= FAModified
				continue
			}
			if !isProtected(fa) {
				*c = cell{}
			}
		}
	} else {
		clear(e.buf[:e.size()])
	}
	e.cursor = e.firstUnprotected()
	e.restoreKeyboard()
}

// putChar stores a character at a, removing any field attribute there.
func (e *Engine) putChar(a int, ch byte, ge bool, color, hl, cs byte) {
	e.buf[a] = cell{ch: ch, ge: ge, color: color, hl: hl, cs: cs}
}

// write implements W, EW and EWA; data starts with the WCC; base is the
// offset of data in the record (for error offsets).
func (e *Engine) write(data []byte, base int, erase, alternate bool) (err error) {
	if erase {
		e.erase(alternate)
	}
	if len(data) == 0 {
		return nil
	}
	wcc := data[0]
	if wcc&WCCResetMDT != 0 {
		e.resetMDTs()
	}
	ba := e.cursor
	if erase {
		ba = 0
	}
	newCursor := -1
	var color, hl, cs byte // current character attributes (SA)
	lastData := false      // previous item was a character (for PT)
	lastZPT := false       // previous PT null-filled and wrapped to 0
	size := e.size()
	fail := func(off int, format string, args ...any) {
		err = &DataStreamError{Offset: base + off, Reason: fmt.Sprintf(format, args...)}
		e.log.Warn().Err(err).Msg("tn3270: write aborted")
	}
	addr := func(i int) (int, bool) {
		if i+2 >= len(data) {
			fail(i, "order 0x%02X truncated", data[i])
			return 0, false
		}
		a := DecodeAddress(data[i+1], data[i+2])
		if a >= size {
			fail(i, "order 0x%02X: address %d outside a %d-position buffer", data[i], a, size)
			return 0, false
		}
		return a, true
	}
loop:
	for i := 1; i < len(data); {
		b := data[i]
		switch b {
		case OrderSF:
			if i+1 >= len(data) {
				fail(i, "SF truncated")
				break loop
			}
			e.buf[ba] = cell{isFA: true, fa: data[i+1] & faMask}
			ba = e.inc(ba)
			i += 2
			lastData = false
		case OrderSFE:
			if i+1 >= len(data) {
				fail(i, "SFE truncated")
				break loop
			}
			n := int(data[i+1])
			if i+2+2*n > len(data) {
				fail(i, "SFE with %d pairs truncated", n)
				break loop
			}
			c := cell{isFA: true}
			for p := 0; p < n; p++ {
				t, v := data[i+2+2*p], data[i+3+2*p]
				applyXA(&c, t, v)
			}
			e.buf[ba] = c
			ba = e.inc(ba)
			i += 2 + 2*n
			lastData = false
		case OrderSBA:
			a, ok := addr(i)
			if !ok {
				break loop
			}
			ba = a
			i += 3
			lastData = false
		case OrderIC:
			newCursor = ba
			i++
		case OrderPT:
			if e.buf[ba].isFA && !isProtected(e.buf[ba].fa) {
				ba = e.inc(ba)
				lastZPT = false
			} else {
				next := e.nextUnprotected(ba)
				if next < ba {
					next = 0
				}
				if lastData || lastZPT {
					for a := ba; a != next && !e.buf[a].isFA; {
						e.buf[a] = cell{}
						a = e.inc(a)
						if a == 0 {
							break
						}
					}
					lastZPT = next == 0
				} else {
					lastZPT = false
				}
				ba = next
			}
			i++
			lastData = false
		case OrderRA:
			a, ok := addr(i)
			if !ok {
				break loop
			}
			j := i + 3
			if j >= len(data) {
				fail(i, "RA without a character")
				break loop
			}
			ch, ge := data[j], false
			if ch == OrderGE {
				if j+1 >= len(data) {
					fail(i, "RA with a truncated GE")
					break loop
				}
				j++
				ch, ge = data[j], true
			}
			for {
				e.putChar(ba, ch, ge, color, hl, cs)
				ba = e.inc(ba)
				if ba == a {
					break
				}
			}
			i = j + 1
			lastData = false
		case OrderEUA:
			a, ok := addr(i)
			if !ok {
				break loop
			}
			fa := e.faOf(ba)
			for {
				c := &e.buf[ba]
				if c.isFA {
					fa = c.fa
				} else if !isProtected(fa) {
					*c = cell{}
				}
				ba = e.inc(ba)
				if ba == a {
					break
				}
			}
			i += 3
			lastData = false
		case OrderGE:
			if i+1 >= len(data) {
				fail(i, "GE truncated")
				break loop
			}
			e.putChar(ba, data[i+1], true, color, hl, cs)
			ba = e.inc(ba)
			i += 2
			lastData = true
		case OrderSA:
			if i+2 >= len(data) {
				fail(i, "SA truncated")
				break loop
			}
			switch t, v := data[i+1], data[i+2]; t {
			case XAAll:
				color, hl, cs = 0, 0, 0
			case XAColor:
				color = v
			case XAHighlight:
				hl = v
			case XACharset:
				cs = v
			}
			i += 3
		case OrderMF:
			if i+1 >= len(data) {
				fail(i, "MF truncated")
				break loop
			}
			n := int(data[i+1])
			if i+2+2*n > len(data) {
				fail(i, "MF with %d pairs truncated", n)
				break loop
			}
			if c := &e.buf[ba]; c.isFA {
				for p := 0; p < n; p++ {
					applyXA(c, data[i+2+2*p], data[i+3+2*p])
				}
				ba = e.inc(ba)
			} else {
				e.log.Debug().Int("addr", ba).Msg("tn3270: MF not on a field attribute")
			}
			i += 2 + 2*n
			lastData = false
		default:
			if b >= 0x40 || b == fcoNull || b == fcoFF || b == fcoCR || b == fcoNL || b == fcoEM ||
				b == fcoDUP || b == fcoFM || b == fcoSUB {
				e.putChar(ba, b, false, color, hl, cs)
				ba = e.inc(ba)
				lastData = true
				lastZPT = false
			} else {
				e.log.Debug().Uint8("order", b).Msg("tn3270: unsupported order skipped")
			}
			i++
		}
	}
	if newCursor >= 0 {
		e.cursor = newCursor
	}
	if wcc&WCCKeyboardReset != 0 {
		e.restoreKeyboard()
	}
	if wcc&WCCSoundAlarm != 0 {
		e.alarms++
	}
	return err
}

// applyXA applies one extended attribute pair to a field attribute cell.
func applyXA(c *cell, t, v byte) {
	switch t {
	case XAField:
		c.fa = v & faMask
	case XAColor:
		c.color = v
	case XAHighlight:
		c.hl = v
	case XACharset:
		c.cs = v
	}
}

// writeStructuredField implements WSF: a sequence of structured fields,
// each a 2-byte length (0: the rest of the record), an ID and data.
func (e *Engine) writeStructuredField(data []byte, base int) ([]byte, error) {
	var reply []byte
	for i := 0; i < len(data); {
		if i+3 > len(data) {
			return reply, e.sfError(base+i, "structured field header truncated")
		}
		n := int(data[i])<<8 | int(data[i+1])
		if n == 0 {
			n = len(data) - i
		}
		if n < 3 || i+n > len(data) {
			return reply, e.sfError(base+i, fmt.Sprintf("structured field length %d invalid", n))
		}
		id, body := data[i+2], data[i+3:i+n]
		switch id {
		case sfReadPartition:
			r, err := e.readPartition(body, base+i+3)
			if err != nil {
				return reply, err
			}
			reply = r
		case sfEraseReset:
			alt := len(body) > 0 && body[0]&eraseResetAlternate != 0
			e.erase(alt)
		case sfSetReplyMode:
			e.log.Debug().Msg("tn3270: Set Reply Mode ignored: field mode only")
		case sfOutbound3270DS:
			if len(body) < 2 {
				return reply, e.sfError(base+i+3, "Outbound 3270DS truncated")
			}
			var err error
			switch body[1] {
			case CmdW, SNACmdW:
				err = e.write(body[2:], base+i+5, false, false)
			case CmdEW, SNACmdEW:
				err = e.write(body[2:], base+i+5, true, false)
			case CmdEWA, SNACmdEWA:
				err = e.write(body[2:], base+i+5, true, true)
			case CmdEAU, SNACmdEAU:
				e.eraseAllUnprotected()
			default:
				err = e.sfError(base+i+4, fmt.Sprintf("Outbound 3270DS command 0x%02X unsupported", body[1]))
			}
			if err != nil {
				return reply, err
			}
		default:
			e.log.Debug().Uint8("sfid", id).Msg("tn3270: unsupported structured field skipped")
		}
		i += n
	}
	return reply, nil
}

func (e *Engine) sfError(off int, reason string) error {
	err := &DataStreamError{Offset: off, Reason: reason}
	e.log.Warn().Err(err).Msg("tn3270: structured field rejected")
	return err
}

// readPartition implements the Read Partition structured field.
func (e *Engine) readPartition(body []byte, off int) ([]byte, error) {
	if len(body) < 2 {
		return nil, e.sfError(off, "Read Partition truncated")
	}
	pid, op := body[0], body[1]
	switch op {
	case rpQuery:
		if pid != 0xFF {
			return nil, e.sfError(off, "Read Partition Query needs partition 0xFF")
		}
		return e.queryReply(nil, true), nil
	case rpQueryList:
		if pid != 0xFF || len(body) < 3 {
			return nil, e.sfError(off, "Read Partition Query List malformed")
		}
		if body[2] == qlList {
			return e.queryReply(body[3:], false), nil
		}
		return e.queryReply(nil, true), nil
	case rpReadBuffer:
		return e.readBuffer(e.aid), nil
	case rpReadModified:
		return e.readModified(e.aid, false), nil
	case rpReadModifiedAll:
		return e.readModified(e.aid, true), nil
	}
	return nil, e.sfError(off+1, fmt.Sprintf("Read Partition type 0x%02X unsupported", op))
}

package vt

// The parser follows the DEC ANSI parser model described by Paul Williams
// (vt100.net/emu/dec_ansi_parser), extended for UTF-8: outside the string
// states bytes are decoded as UTF-8 first (malformed input becomes U+FFFD)
// and the code points U+0080–U+009F act as C1 controls.

type pstate uint8

const (
	stGround pstate = iota
	stEscape
	stEscInter
	stCSIEntry
	stCSIParam
	stCSIInter
	stCSIIgnore
	stOSC
	stDCSEntry
	stDCSParam
	stDCSInter
	stDCSPass
	stDCSIgnore
	stSOSPMAPC
)

const (
	maxParams = 32
	maxParam  = 65535
	maxOSC    = 4096
)

// feed runs the parser over p. The caller holds s.mu.
func (s *Screen) feed(p []byte) {
	for i := 0; i < len(p); {
		b := p[i]
		if s.state == stGround && s.utf8n == 0 && b >= 0x20 && b < 0x7f {
			j := i + 1
			for j < len(p) && p[j] >= 0x20 && p[j] < 0x7f {
				j++
			}
			s.printASCII(p[i:j])
			i = j
			continue
		}
		if (s.state == stCSIParam || s.state == stCSIEntry) && s.utf8n == 0 && b >= '0' && b <= ';' && b != ':' {
			// Fast path for CSI parameters: digits and ';'.
			if s.nparam == 0 {
				s.params[0] = 0
				s.nparam = 1
			}
			s.state = stCSIParam
			for i < len(p) {
				b = p[i]
				if b >= '0' && b <= '9' {
					s.params[s.nparam-1] = min(s.params[s.nparam-1]*10+int(b-'0'), maxParam)
				} else if b == ';' {
					s.param(b)
				} else {
					break
				}
				i++
			}
			if i < len(p) && b >= 0x40 && b <= 0x7E {
				s.state = stGround
				s.csiDispatch(b)
				i++
			}
			continue
		}
		if s.state >= stOSC && s.state != stDCSEntry && s.state != stDCSParam && s.state != stDCSInter {
			s.stringByte(b)
			i++
			continue
		}
		if s.utf8n > 0 {
			if b < 0x80 || b > 0xBF || (s.utf8n == 1 && !secondByteOK(s.utf8[0], b)) {
				// Malformed: the sequence so far is one U+FFFD; b starts anew.
				s.utf8n = 0
				s.rune(0xFFFD)
				continue
			}
			s.utf8[s.utf8n] = b
			s.utf8n++
			if s.utf8n == s.utf8w {
				s.utf8n = 0
				s.rune(decodeUTF8(s.utf8[:s.utf8w]))
			}
			i++
			continue
		}
		i++
		switch {
		case b < 0x80:
			s.rune(rune(b))
		case b >= 0xC2 && b <= 0xDF:
			s.utf8[0], s.utf8n, s.utf8w = b, 1, 2
		case b >= 0xE0 && b <= 0xEF:
			s.utf8[0], s.utf8n, s.utf8w = b, 1, 3
		case b >= 0xF0 && b <= 0xF4:
			s.utf8[0], s.utf8n, s.utf8w = b, 1, 4
		default:
			s.rune(0xFFFD)
		}
	}
}

// secondByteOK rejects overlong forms, surrogates and code points above
// U+10FFFF at the second byte, as RFC 3629 requires.
func secondByteOK(first, b byte) bool {
	switch first {
	case 0xE0:
		return b >= 0xA0
	case 0xED:
		return b <= 0x9F
	case 0xF0:
		return b >= 0x90
	case 0xF4:
		return b <= 0x8F
	}
	return true
}

func decodeUTF8(b []byte) rune {
	switch len(b) {
	case 2:
		return rune(b[0]&0x1F)<<6 | rune(b[1]&0x3F)
	case 3:
		return rune(b[0]&0x0F)<<12 | rune(b[1]&0x3F)<<6 | rune(b[2]&0x3F)
	default:
		return rune(b[0]&0x07)<<18 | rune(b[1]&0x3F)<<12 | rune(b[2]&0x3F)<<6 | rune(b[3]&0x3F)
	}
}

// stringByte handles a byte in OSC, DCS passthrough/ignore and SOS/PM/APC.
func (s *Screen) stringByte(b byte) {
	switch b {
	case 0x18, 0x1A: // CAN, SUB abort
		s.state = stGround
		return
	case 0x1B:
		if s.state == stOSC {
			s.oscDispatch()
		}
		s.enterEscape()
		return
	case 0x07:
		if s.state == stOSC {
			s.oscDispatch()
			s.state = stGround
		}
		return
	}
	if s.state != stOSC || b < 0x20 {
		return
	}
	if len(s.osc) < maxOSC {
		s.osc = append(s.osc, b)
	}
	// ST as the UTF-8 encoded C1 control U+009C.
	if n := len(s.osc); n >= 2 && s.osc[n-2] == 0xC2 && s.osc[n-1] == 0x9C {
		s.osc = s.osc[:n-2]
		s.oscDispatch()
		s.state = stGround
	}
}

func (s *Screen) enterEscape() {
	s.state = stEscape
	s.clearSeq()
}

func (s *Screen) clearSeq() {
	s.nparam = 0
	s.params[0] = 0
	s.sub = 0
	s.prefix = 0
	s.ninter = 0
	s.over = false
}

func (s *Screen) collect(b byte) {
	if s.ninter < len(s.inter) {
		s.inter[s.ninter] = b
		s.ninter++
	} else {
		s.over = true
	}
}

func (s *Screen) param(b byte) {
	if s.nparam == 0 {
		s.params[0] = 0
		s.nparam = 1
	}
	switch b {
	case ';', ':':
		if s.nparam < maxParams {
			s.params[s.nparam] = 0
			if b == ':' {
				s.sub |= 1 << s.nparam
			}
			s.nparam++
		} else {
			s.over = true
		}
	default:
		v := s.params[s.nparam-1]*10 + int(b-'0')
		s.params[s.nparam-1] = min(v, maxParam)
	}
}

// rune runs one decoded code point through the state machine.
func (s *Screen) rune(r rune) {
	// Controls acted on in every state.
	switch {
	case r == 0x18 || r == 0x1A:
		s.state = stGround
		return
	case r == 0x1B:
		s.enterEscape()
		return
	case r >= 0x80 && r <= 0x9F:
		s.c1(byte(r))
		return
	case r < 0x20:
		if s.state >= stDCSEntry && s.state <= stDCSInter {
			return
		}
		s.execute(byte(r))
		return
	}
	switch s.state {
	case stGround:
		if r != 0x7F {
			s.print(r)
		}
	case stEscape:
		switch {
		case r >= 0x20 && r <= 0x2F:
			s.collect(byte(r))
			s.state = stEscInter
		case r == '[':
			s.clearSeq()
			s.state = stCSIEntry
		case r == ']':
			s.osc = s.osc[:0]
			s.state = stOSC
		case r == 'P':
			s.clearSeq()
			s.state = stDCSEntry
		case r == 'X' || r == '^' || r == '_':
			s.state = stSOSPMAPC
		case r >= 0x30 && r <= 0x7E:
			s.state = stGround
			s.escDispatch(byte(r))
		}
	case stEscInter:
		switch {
		case r >= 0x20 && r <= 0x2F:
			s.collect(byte(r))
		case r >= 0x30 && r <= 0x7E:
			s.state = stGround
			s.escDispatch(byte(r))
		}
	case stCSIEntry, stCSIParam:
		switch {
		case r >= '0' && r <= ';':
			s.param(byte(r))
			s.state = stCSIParam
		case r >= 0x3C && r <= 0x3F:
			if s.state == stCSIEntry {
				s.prefix = byte(r)
				s.state = stCSIParam
			} else {
				s.state = stCSIIgnore
			}
		case r >= 0x20 && r <= 0x2F:
			s.collect(byte(r))
			s.state = stCSIInter
		case r >= 0x40 && r <= 0x7E:
			s.state = stGround
			s.csiDispatch(byte(r))
		}
	case stCSIInter:
		switch {
		case r >= 0x20 && r <= 0x2F:
			s.collect(byte(r))
		case r >= 0x30 && r <= 0x3F:
			s.state = stCSIIgnore
		case r >= 0x40 && r <= 0x7E:
			s.state = stGround
			s.csiDispatch(byte(r))
		}
	case stCSIIgnore:
		if r >= 0x40 && r <= 0x7E {
			s.state = stGround
		}
	case stDCSEntry, stDCSParam:
		switch {
		case r >= '0' && r <= ';':
			s.param(byte(r))
			s.state = stDCSParam
		case r >= 0x3C && r <= 0x3F:
			if s.state == stDCSEntry {
				s.prefix = byte(r)
				s.state = stDCSParam
			} else {
				s.state = stDCSIgnore
			}
		case r >= 0x20 && r <= 0x2F:
			s.collect(byte(r))
			s.state = stDCSInter
		case r >= 0x40 && r <= 0x7E:
			s.state = stDCSPass
		}
	case stDCSInter:
		switch {
		case r >= 0x20 && r <= 0x2F:
			s.collect(byte(r))
		case r >= 0x30 && r <= 0x3F:
			s.state = stDCSIgnore
		case r >= 0x40 && r <= 0x7E:
			s.state = stDCSPass
		}
	}
}

// c1 handles a C1 control (U+0080–U+009F) in any state.
func (s *Screen) c1(b byte) {
	if s.state == stOSC && b == 0x9C {
		s.oscDispatch()
	}
	s.state = stGround
	switch b {
	case 0x90, 0x9B, 0x9D, 0x98, 0x9E, 0x9F:
	default:
		s.lastRune = 0 // a control: nothing left for REP (see execute)
	}
	switch b {
	case 0x90: // DCS
		s.clearSeq()
		s.state = stDCSEntry
	case 0x9B: // CSI
		s.clearSeq()
		s.state = stCSIEntry
	case 0x9D: // OSC
		s.osc = s.osc[:0]
		s.state = stOSC
	case 0x98, 0x9E, 0x9F: // SOS, PM, APC
		s.state = stSOSPMAPC
	case 0x84: // IND
		s.index()
	case 0x85: // NEL
		s.carriageReturn()
		s.index()
	case 0x88: // HTS
		s.tabs[s.cur.col] = true
	case 0x8D: // RI
		s.reverseIndex()
	case 0x8E:
		s.ss = 2
	case 0x8F:
		s.ss = 3
	}
}

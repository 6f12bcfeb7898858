package telnet

// This file is the pure codec: bytes in, data bytes and protocol events out,
// and the encoders for what a peer sends. It performs no I/O.

// DefaultMaxSubnegotiation is the subnegotiation payload limit used when
// Decoder.MaxSubnegotiation is zero.
const DefaultMaxSubnegotiation = 4096

// EventKind says what a decoded Event is.
type EventKind uint8

// Kinds of Event.
const (
	// EventCommand is a two-byte command such as IAC GA, IAC NOP or IAC EOR; Event.Command holds it.
	EventCommand EventKind = iota + 1
	// EventNegotiation is IAC WILL/WONT/DO/DONT <option>.
	EventNegotiation
	// EventSubnegotiation is IAC SB <option> <payload> IAC SE, with IAC IAC in the payload unescaped.
	EventSubnegotiation
)

// Event is one protocol element decoded from the stream.
type Event struct {
	Kind    EventKind
	Command byte   // the command byte: NOP…GA or EOR, WILL/WONT/DO/DONT, or SB
	Option  Option // for negotiations and subnegotiations
	// Data is the unescaped subnegotiation payload. It aliases the Decoder's
	// buffer and is valid only until the next call to Decode.
	Data []byte
}

type decodeState uint8

const (
	stData   decodeState = iota
	stIAC                // after IAC
	stNeg                // after IAC WILL/WONT/DO/DONT
	stSBOpt              // after IAC SB
	stSBData             // inside a subnegotiation
	stSBIAC              // after IAC inside a subnegotiation
)

// Decoder splits a telnet byte stream into data bytes and Events. Its state
// survives arbitrary chunk boundaries. It never fails: malformed input (a
// stray IAC followed by a byte that is no command, a stray SE, an oversized
// subnegotiation) is dropped, and a subnegotiation whose IAC SE is missing is
// ended by the next command.
//
// The zero value is ready to use. A Decoder is not safe for concurrent use.
type Decoder struct {
	// MaxSubnegotiation bounds a subnegotiation's payload; a longer one is
	// dropped whole. Zero means DefaultMaxSubnegotiation.
	MaxSubnegotiation int
	// StripCRNUL turns CR NUL in the data into CR (RFC 854 NVT rule). A
	// connection sets it while the peer does not send in BINARY mode.
	StripCRNUL bool

	state    decodeState
	cmd      byte
	opt      Option
	sb       []byte
	overflow bool
	afterCR  bool
	dropped  int
}

// Dropped reports how many malformed elements (stray commands, oversized
// subnegotiations) the Decoder has discarded so far.
func (d *Decoder) Dropped() int { return d.dropped }

// Decode consumes src until it has used it all or completed one Event. Data
// bytes are appended to dst. It returns the extended dst, the number of
// bytes of src consumed, and the Event if ok is true. Call it again with
// src[n:] until src is empty.
func (d *Decoder) Decode(dst, src []byte) (out []byte, n int, ev Event, ok bool) {
	for n < len(src) {
		c := src[n]
		n++
		switch d.state {
		case stData:
			if c == IAC {
				d.state = stIAC
				continue
			}
			// Copy a run of plain bytes at once.
			start := n - 1
			end := start
			for end < len(src) && src[end] != IAC {
				end++
			}
			dst = d.appendData(dst, src[start:end])
			n = end
		case stIAC:
			switch c {
			case IAC:
				d.state = stData
				dst = d.appendData(dst, src[n-1:n])
			case WILL, WONT, DO, DONT:
				d.cmd = c
				d.state = stNeg
			case SB:
				d.state = stSBOpt
			case NOP, DM, BRK, IP, AO, AYT, EC, EL, GA, EOR:
				d.state = stData
				return dst, n, Event{Kind: EventCommand, Command: c}, true
			default: // stray SE or an unknown command byte: drop both bytes
				d.state = stData
				d.dropped++
			}
		case stNeg:
			d.state = stData
			return dst, n, Event{Kind: EventNegotiation, Command: d.cmd, Option: Option(c)}, true
		case stSBOpt:
			d.opt = Option(c)
			d.sb = d.sb[:0]
			d.overflow = false
			d.state = stSBData
		case stSBData:
			if c == IAC {
				d.state = stSBIAC
				continue
			}
			d.appendSB(c)
		case stSBIAC:
			switch c {
			case IAC:
				d.appendSB(IAC)
				d.state = stSBData
			case SE:
				d.state = stData
				if ev, ok := d.endSB(); ok {
					return dst, n, ev, true
				}
			default:
				// IAC <cmd> inside a subnegotiation: the peer forgot IAC SE.
				// End the subnegotiation here and decode <cmd> as a command.
				n--
				d.state = stIAC
				if ev, ok := d.endSB(); ok {
					return dst, n, ev, true
				}
			}
		}
	}
	return dst, n, Event{}, false
}

func (d *Decoder) appendData(dst, p []byte) []byte {
	if !d.StripCRNUL {
		if len(p) > 0 {
			d.afterCR = p[len(p)-1] == '\r'
		}
		return append(dst, p...)
	}
	for _, c := range p {
		if c == 0 && d.afterCR {
			d.afterCR = false
			continue
		}
		d.afterCR = c == '\r'
		dst = append(dst, c)
	}
	return dst
}

func (d *Decoder) appendSB(c byte) {
	limit := d.MaxSubnegotiation
	if limit <= 0 {
		limit = DefaultMaxSubnegotiation
	}
	if len(d.sb) >= limit {
		d.overflow = true
		return
	}
	d.sb = append(d.sb, c)
}

func (d *Decoder) endSB() (Event, bool) {
	if d.overflow {
		d.dropped++
		d.overflow = false
		d.sb = d.sb[:0]
		return Event{}, false
	}
	return Event{Kind: EventSubnegotiation, Command: SB, Option: d.opt, Data: d.sb}, true
}

// AppendData appends p to dst as telnet data: IAC is doubled and, unless
// binary is true, a CR that is not followed by LF becomes CR NUL (RFC 854).
// A CR at the very end of p counts as not followed by LF.
func AppendData(dst, p []byte, binary bool) []byte {
	for i, c := range p {
		switch {
		case c == IAC:
			dst = append(dst, IAC, IAC)
		case c == '\r' && !binary && (i+1 >= len(p) || p[i+1] != '\n'):
			dst = append(dst, '\r', 0)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// encodedLen is the length of AppendData's output for p[:i+1] minus that for p[:i].
func encodedLen(p []byte, i int, binary bool) int {
	c := p[i]
	if c == IAC || (c == '\r' && !binary && (i+1 >= len(p) || p[i+1] != '\n')) {
		return 2
	}
	return 1
}

// AppendNegotiation appends IAC cmd opt, where cmd is WILL, WONT, DO or DONT.
func AppendNegotiation(dst []byte, cmd byte, opt Option) []byte {
	return append(dst, IAC, cmd, byte(opt))
}

// AppendCommand appends IAC cmd.
func AppendCommand(dst []byte, cmd byte) []byte {
	return append(dst, IAC, cmd)
}

// AppendSubnegotiation appends IAC SB opt payload IAC SE, doubling any IAC
// in payload.
func AppendSubnegotiation(dst []byte, opt Option, payload []byte) []byte {
	dst = append(dst, IAC, SB, byte(opt))
	for _, c := range payload {
		if c == IAC {
			dst = append(dst, IAC)
		}
		dst = append(dst, c)
	}
	return append(dst, IAC, SE)
}

// AppendWindowSize appends the NAWS subnegotiation (RFC 1073) for a window of
// rows × cols, each clamped to 0…65535.
func AppendWindowSize(dst []byte, rows, cols int) []byte {
	r, c := clamp16(rows), clamp16(cols)
	return AppendSubnegotiation(dst, OptNAWS, []byte{byte(c >> 8), byte(c), byte(r >> 8), byte(r)})
}

// ParseWindowSize decodes a NAWS payload (RFC 1073) into rows and cols.
func ParseWindowSize(payload []byte) (rows, cols int, err error) {
	if len(payload) != 4 {
		return 0, 0, ErrMalformedSubnegotiation
	}
	cols = int(payload[0])<<8 | int(payload[1])
	rows = int(payload[2])<<8 | int(payload[3])
	return rows, cols, nil
}

func clamp16(v int) int {
	if v < 0 {
		return 0
	}
	if v > 0xFFFF {
		return 0xFFFF
	}
	return v
}

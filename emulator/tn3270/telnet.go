package tn3270

import "fmt"

// Telnet commands and options used by TN3270 (RFC 854, 856, 885, 1091,
// 1576, 2355).
const (
	IAC  byte = 255
	DONT byte = 254
	DO   byte = 253
	WONT byte = 252
	WILL byte = 251
	SB   byte = 250
	AO   byte = 245
	IP   byte = 244
	BRK  byte = 243
	SE   byte = 240
	EOR  byte = 239

	OptBinary  byte = 0
	OptTTYPE   byte = 24
	OptEOR     byte = 25
	OptTN3270E byte = 40

	TTYPEIs   byte = 0
	TTYPESend byte = 1
)

// MaxRecordSize bounds one telnet record (a 27x132 screen full of
// extended-attribute orders stays far below it).
const MaxRecordSize = 64 << 10

// maxSubneg bounds one subnegotiation.
const maxSubneg = 1024

// EventKind says what a telnet Event carries.
type EventKind uint8

// Event kinds.
const (
	EventRecord  EventKind = iota + 1 // Data: one record, ended by IAC EOR, IACs undoubled
	EventOption                       // Cmd (WILL/WONT/DO/DONT) and Opt
	EventSubneg                       // Opt and Data (IAC SB Opt Data IAC SE)
	EventCommand                      // Cmd: any other two-byte command (NOP, BRK, IP, ...)
)

// Event is one unit of a decoded telnet stream. Data is owned by the
// receiver of the event.
type Event struct {
	Kind EventKind
	Cmd  byte
	Opt  byte
	Data []byte
}

const (
	stData = iota
	stIAC
	stOpt
	stSBOpt
	stSB
	stSBIAC
)

// Decoder splits a telnet byte stream into records, option commands and
// subnegotiations. It keeps its state between Feed calls, so input may be
// cut anywhere. A Decoder is not safe for concurrent use.
type Decoder struct {
	state int
	cmd   byte
	opt   byte
	rec   []byte
	sub   []byte
}

// Feed decodes p, calling emit for each complete event. It fails, and
// should not be fed again, if a record or subnegotiation exceeds its bound
// or emit fails.
func (d *Decoder) Feed(p []byte, emit func(Event) error) error {
	for _, b := range p {
		switch d.state {
		case stData:
			if b == IAC {
				d.state = stIAC
				continue
			}
			if len(d.rec) >= MaxRecordSize {
				return fmt.Errorf("%w: more than %d bytes", ErrRecordTooLarge, MaxRecordSize)
			}
			d.rec = append(d.rec, b)
		case stIAC:
			d.state = stData
			switch b {
			case IAC:
				if len(d.rec) >= MaxRecordSize {
					return fmt.Errorf("%w: more than %d bytes", ErrRecordTooLarge, MaxRecordSize)
				}
				d.rec = append(d.rec, IAC)
			case EOR:
				rec := d.rec
				d.rec = nil
				if err := emit(Event{Kind: EventRecord, Data: rec}); err != nil {
					return err
				}
			case WILL, WONT, DO, DONT:
				d.cmd = b
				d.state = stOpt
			case SB:
				d.state = stSBOpt
			default:
				if err := emit(Event{Kind: EventCommand, Cmd: b}); err != nil {
					return err
				}
			}
		case stOpt:
			d.state = stData
			if err := emit(Event{Kind: EventOption, Cmd: d.cmd, Opt: b}); err != nil {
				return err
			}
		case stSBOpt:
			d.opt = b
			d.sub = d.sub[:0]
			d.state = stSB
		case stSB:
			if b == IAC {
				d.state = stSBIAC
				continue
			}
			if len(d.sub) >= maxSubneg {
				return fmt.Errorf("%w: subnegotiation longer than %d bytes", ErrNegotiation, maxSubneg)
			}
			d.sub = append(d.sub, b)
		case stSBIAC:
			switch b {
			case SE:
				d.state = stData
				data := append([]byte(nil), d.sub...)
				if err := emit(Event{Kind: EventSubneg, Opt: d.opt, Data: data}); err != nil {
					return err
				}
			case IAC:
				d.state = stSB
				if len(d.sub) >= maxSubneg {
					return fmt.Errorf("%w: subnegotiation longer than %d bytes", ErrNegotiation, maxSubneg)
				}
				d.sub = append(d.sub, IAC)
			default:
				// An IAC other than IAC or SE inside a subnegotiation is a
				// protocol error; drop the pair and keep going.
				d.state = stSB
			}
		}
	}
	return nil
}

// AppendRecord appends data as one telnet record: IAC bytes doubled and
// IAC EOR at the end.
func AppendRecord(dst, data []byte) []byte {
	for _, b := range data {
		if b == IAC {
			dst = append(dst, IAC)
		}
		dst = append(dst, b)
	}
	return append(dst, IAC, EOR)
}

// AppendSubneg appends IAC SB opt data IAC SE, doubling IACs in data.
func AppendSubneg(dst []byte, opt byte, data []byte) []byte {
	dst = append(dst, IAC, SB, opt)
	for _, b := range data {
		if b == IAC {
			dst = append(dst, IAC)
		}
		dst = append(dst, b)
	}
	return append(dst, IAC, SE)
}

package tn3270

import (
	"bytes"
	"fmt"
	"slices"
)

// Mode is the protocol a connection settled on.
type Mode int

// Modes.
const (
	ModeNone    Mode = iota // negotiation not finished
	ModeTN3270              // RFC 1576: TERMINAL-TYPE, BINARY and EOR
	ModeTN3270E             // RFC 2355
)

func (m Mode) String() string {
	switch m {
	case ModeTN3270:
		return "TN3270"
	case ModeTN3270E:
		return "TN3270E"
	}
	return "none"
}

// supportedFunctions are the TN3270E functions this terminal accepts.
var supportedFunctions = []byte{FuncResponses}

// negotiator is the client side of TN3270/TN3270E option negotiation. It is
// pure: each handled event yields the bytes to send back.
type negotiator struct {
	termType string // for TERMINAL-TYPE, e.g. IBM-3278-2-E
	devType  string // for TN3270E DEVICE-TYPE REQUEST
	wantE    bool
	lu       string

	// What we agreed to; a reply is sent only when the state changes, so
	// no option loops forever.
	will map[byte]bool // we WILL opt
	do   map[byte]bool // we asked the host to DO opt (host WILL)

	ttypeSent bool
	eRefused  bool
	eDevice   string // device type the host assigned
	eLU       string // LU the host assigned
	functions []byte // agreed TN3270E functions
	eDone     bool
}

func newNegotiator(termType, devType string, wantE bool, lu string) *negotiator {
	return &negotiator{termType: termType, devType: devType, wantE: wantE, lu: lu,
		will: map[byte]bool{}, do: map[byte]bool{}}
}

func (n *negotiator) mode() Mode {
	switch {
	case n.eDone && n.will[OptTN3270E]:
		return ModeTN3270E
	case n.ttypeSent && n.will[OptBinary] && n.do[OptBinary] && n.will[OptEOR] && n.do[OptEOR] && !n.will[OptTN3270E]:
		return ModeTN3270
	}
	return ModeNone
}

// responsesOn reports whether the TN3270E RESPONSES function was agreed.
func (n *negotiator) responsesOn() bool { return slices.Contains(n.functions, FuncResponses) }

// handle processes one option or subnegotiation event.
func (n *negotiator) handle(ev Event) ([]byte, error) {
	switch ev.Kind {
	case EventOption:
		return n.option(ev.Cmd, ev.Opt), nil
	case EventSubneg:
		switch ev.Opt {
		case OptTTYPE:
			if len(ev.Data) >= 1 && ev.Data[0] == TTYPESend {
				n.ttypeSent = true
				return AppendSubneg(nil, OptTTYPE, append([]byte{TTYPEIs}, n.termType...)), nil
			}
		case OptTN3270E:
			return n.tn3270e(ev.Data)
		}
	}
	return nil, nil
}

func (n *negotiator) option(cmd, opt byte) []byte {
	supported := opt == OptBinary || opt == OptEOR || opt == OptTTYPE || (opt == OptTN3270E && n.wantE && !n.eRefused)
	switch cmd {
	case DO:
		if supported {
			if n.will[opt] {
				return nil
			}
			n.will[opt] = true
			return []byte{IAC, WILL, opt}
		}
		if n.will[opt] || !n.saidWont(opt) {
			n.will[opt] = false
			n.markWont(opt)
			return []byte{IAC, WONT, opt}
		}
	case DONT:
		if n.will[opt] {
			n.will[opt] = false
			if opt == OptTN3270E {
				n.eRefused, n.eDone, n.functions = true, false, nil
			}
			return []byte{IAC, WONT, opt}
		}
		if opt == OptTN3270E {
			n.eRefused = true
		}
	case WILL:
		if (opt == OptBinary || opt == OptEOR) && !n.do[opt] {
			n.do[opt] = true
			return []byte{IAC, DO, opt}
		}
		if !(opt == OptBinary || opt == OptEOR) && !n.saidDont(opt) {
			n.markDont(opt)
			return []byte{IAC, DONT, opt}
		}
	case WONT:
		if n.do[opt] {
			n.do[opt] = false
			return []byte{IAC, DONT, opt}
		}
	}
	return nil
}

// A refusal is remembered as a false entry, so it is sent only once.
func (n *negotiator) saidWont(opt byte) bool { _, ok := n.will[opt]; return ok }
func (n *negotiator) markWont(opt byte)      { n.will[opt] = false }
func (n *negotiator) saidDont(opt byte) bool { _, ok := n.do[opt]; return ok }
func (n *negotiator) markDont(opt byte)      { n.do[opt] = false }

// refuseE abandons TN3270E: WONT TN3270E, then the host should fall back to
// plain TN3270 with DO TERMINAL-TYPE.
func (n *negotiator) refuseE() []byte {
	n.eRefused, n.eDone, n.functions = true, false, nil
	n.will[OptTN3270E] = false
	return []byte{IAC, WONT, OptTN3270E}
}

func (n *negotiator) tn3270e(d []byte) ([]byte, error) {
	if !n.will[OptTN3270E] || len(d) < 2 {
		return nil, nil
	}
	switch {
	case d[0] == ESend && d[1] == EDeviceType:
		req := append([]byte{EDeviceType, ERequest}, n.devType...)
		if n.lu != "" {
			req = append(req, EConnect)
			req = append(req, n.lu...)
		}
		return AppendSubneg(nil, OptTN3270E, req), nil
	case d[0] == EDeviceType && d[1] == EIs:
		rest := d[2:]
		dev, lu := rest, []byte(nil)
		if i := bytes.IndexByte(rest, EConnect); i >= 0 {
			dev, lu = rest[:i], rest[i+1:]
		}
		n.eDevice, n.eLU = string(dev), string(lu)
		return AppendSubneg(nil, OptTN3270E, append([]byte{EFunctions, ERequest}, supportedFunctions...)), nil
	case d[0] == EDeviceType && d[1] == EReject:
		return n.refuseE(), nil
	case d[0] == EFunctions && d[1] == EIs:
		fs := d[2:]
		for _, f := range fs {
			if !slices.Contains(supportedFunctions, f) {
				return n.refuseE(), nil
			}
		}
		if n.eDevice == "" {
			return nil, fmt.Errorf("%w: FUNCTIONS IS before DEVICE-TYPE IS", ErrNegotiation)
		}
		n.functions = append([]byte(nil), fs...)
		n.eDone = true
		return nil, nil
	case d[0] == EFunctions && d[1] == ERequest:
		fs := d[2:]
		var common []byte
		for _, f := range fs {
			if slices.Contains(supportedFunctions, f) && !slices.Contains(common, f) {
				common = append(common, f)
			}
		}
		if len(common) == len(fs) {
			if n.eDevice == "" {
				return nil, fmt.Errorf("%w: FUNCTIONS REQUEST before DEVICE-TYPE IS", ErrNegotiation)
			}
			n.functions = common
			n.eDone = true
			return AppendSubneg(nil, OptTN3270E, append([]byte{EFunctions, EIs}, common...)), nil
		}
		return AppendSubneg(nil, OptTN3270E, append([]byte{EFunctions, ERequest}, common...)), nil
	}
	return nil, nil
}

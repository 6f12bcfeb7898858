package telnet

// This file is the RFC 1143 "Q method" option negotiation state machine. It
// is pure: it consumes received negotiations and produces the bytes to send.

type qState uint8

const (
	qNo qState = iota
	qYes
	qWantNo
	qWantYes
)

type qSide struct {
	state    qState
	opposite bool // the queue bit: a request for the opposite state is pending
}

// Policy says which options a Negotiator agrees to. A nil function agrees to
// nothing.
type Policy struct {
	// Local reports whether we agree to enable opt on our side (answer DO
	// with WILL).
	Local func(opt Option) bool
	// Remote reports whether we agree that the peer enables opt on its side
	// (answer WILL with DO).
	Remote func(opt Option) bool
}

// Negotiator tracks the state of every option on both sides of a
// connection, following RFC 1143 so that negotiation never loops: a request
// for the state an option is already in is never answered.
//
// "Local" is our side of an option (we send WILL/WONT, the peer sends
// DO/DONT); "remote" is the peer's side (we send DO/DONT, it sends
// WILL/WONT). The zero value refuses every option. A Negotiator is not safe
// for concurrent use.
type Negotiator struct {
	Policy Policy

	us, him [256]qSide
}

// Local reports whether opt is enabled on our side.
func (n *Negotiator) Local(opt Option) bool { return n.us[opt].state == qYes }

// Remote reports whether opt is enabled on the peer's side.
func (n *Negotiator) Remote(opt Option) bool { return n.him[opt].state == qYes }

// Receive processes a received IAC cmd opt (cmd is WILL, WONT, DO or DONT)
// and appends any answer to out.
func (n *Negotiator) Receive(out []byte, cmd byte, opt Option) []byte {
	switch cmd {
	case WILL:
		return receiveYes(out, &n.him[opt], opt, DO, DONT, n.Policy.Remote)
	case WONT:
		return receiveNo(out, &n.him[opt], opt, DO, DONT)
	case DO:
		return receiveYes(out, &n.us[opt], opt, WILL, WONT, n.Policy.Local)
	case DONT:
		return receiveNo(out, &n.us[opt], opt, WILL, WONT)
	}
	return out
}

// EnableLocal asks to enable opt on our side (sends WILL when needed).
func (n *Negotiator) EnableLocal(out []byte, opt Option) []byte {
	return askEnable(out, &n.us[opt], opt, WILL)
}

// DisableLocal asks to disable opt on our side (sends WONT when needed).
func (n *Negotiator) DisableLocal(out []byte, opt Option) []byte {
	return askDisable(out, &n.us[opt], opt, WONT)
}

// EnableRemote asks the peer to enable opt on its side (sends DO when needed).
func (n *Negotiator) EnableRemote(out []byte, opt Option) []byte {
	return askEnable(out, &n.him[opt], opt, DO)
}

// DisableRemote asks the peer to disable opt on its side (sends DONT when needed).
func (n *Negotiator) DisableRemote(out []byte, opt Option) []byte {
	return askDisable(out, &n.him[opt], opt, DONT)
}

// receiveYes handles WILL (for him) or DO (for us).
func receiveYes(out []byte, s *qSide, opt Option, yes, no byte, agree func(Option) bool) []byte {
	switch s.state {
	case qNo:
		if agree != nil && agree(opt) {
			s.state = qYes
			return AppendNegotiation(out, yes, opt)
		}
		return AppendNegotiation(out, no, opt)
	case qYes:
		// Already enabled: ignoring the request is what prevents loops.
	case qWantNo:
		// The peer answered our "no" with "yes": an error by the peer.
		// RFC 1143: with an empty queue the option is now off, with the
		// opposite queued it is on.
		if s.opposite {
			s.state, s.opposite = qYes, false
		} else {
			s.state = qNo
		}
	case qWantYes:
		if s.opposite {
			s.state, s.opposite = qWantNo, false
			return AppendNegotiation(out, no, opt)
		}
		s.state = qYes
	}
	return out
}

// receiveNo handles WONT (for him) or DONT (for us).
func receiveNo(out []byte, s *qSide, opt Option, yes, no byte) []byte {
	switch s.state {
	case qNo:
	case qYes:
		s.state = qNo
		return AppendNegotiation(out, no, opt)
	case qWantNo:
		if s.opposite {
			s.state, s.opposite = qWantYes, false
			return AppendNegotiation(out, yes, opt)
		}
		s.state = qNo
	case qWantYes:
		s.state, s.opposite = qNo, false
	}
	return out
}

func askEnable(out []byte, s *qSide, opt Option, yes byte) []byte {
	switch s.state {
	case qNo:
		s.state = qWantYes
		return AppendNegotiation(out, yes, opt)
	case qWantNo:
		s.opposite = true
	case qWantYes:
		s.opposite = false
	}
	return out
}

func askDisable(out []byte, s *qSide, opt Option, no byte) []byte {
	switch s.state {
	case qYes:
		s.state = qWantNo
		return AppendNegotiation(out, no, opt)
	case qWantNo:
		s.opposite = false
	case qWantYes:
		s.opposite = true
	}
	return out
}

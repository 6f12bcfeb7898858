package telnet

import "strconv"

// Command bytes of the telnet protocol (RFC 854, RFC 885 for EOR).
const (
	SE   byte = 240 // end of subnegotiation
	NOP  byte = 241 // no operation
	DM   byte = 242 // data mark
	BRK  byte = 243 // break
	IP   byte = 244 // interrupt process
	AO   byte = 245 // abort output
	AYT  byte = 246 // are you there
	EC   byte = 247 // erase character
	EL   byte = 248 // erase line
	GA   byte = 249 // go ahead
	SB   byte = 250 // begin subnegotiation
	WILL byte = 251
	WONT byte = 252
	DO   byte = 253
	DONT byte = 254
	IAC  byte = 255 // interpret as command
	EOR  byte = 239 // end of record (RFC 885)
)

// Option is a telnet option code.
type Option byte

// Options this package knows by name. Only some are ever agreed to; see Conn.
const (
	OptBinary     Option = 0  // RFC 856
	OptEcho       Option = 1  // RFC 857
	OptSGA        Option = 3  // suppress go ahead, RFC 858
	OptStatus     Option = 5  // RFC 859
	OptTimingMark Option = 6  // RFC 860
	OptTTYPE      Option = 24 // terminal type, RFC 1091
	OptEOR        Option = 25 // end of record, RFC 885
	OptNAWS       Option = 31 // window size, RFC 1073
	OptTSpeed     Option = 32 // RFC 1079
	OptLFlow      Option = 33 // RFC 1372
	OptLinemode   Option = 34 // RFC 1184
	OptXDispLoc   Option = 35 // RFC 1096
	OptEnviron    Option = 36 // RFC 1408
	OptAuth       Option = 37 // RFC 2941
	OptEncrypt    Option = 38 // RFC 2946
	OptNewEnviron Option = 39 // RFC 1572
)

// Subnegotiation verbs of TTYPE (RFC 1091).
const (
	TTypeIs   byte = 0
	TTypeSend byte = 1
)

var optionNames = map[Option]string{
	OptBinary: "BINARY", OptEcho: "ECHO", OptSGA: "SGA", OptStatus: "STATUS",
	OptTimingMark: "TIMING-MARK", OptTTYPE: "TTYPE", OptEOR: "EOR", OptNAWS: "NAWS",
	OptTSpeed: "TSPEED", OptLFlow: "LFLOW", OptLinemode: "LINEMODE", OptXDispLoc: "XDISPLOC",
	OptEnviron: "ENVIRON", OptAuth: "AUTHENTICATION", OptEncrypt: "ENCRYPT", OptNewEnviron: "NEW-ENVIRON",
}

// String returns the option's RFC name, or its number.
func (o Option) String() string {
	if n, ok := optionNames[o]; ok {
		return n
	}
	return strconv.Itoa(int(o))
}

// CommandName returns the RFC 854 name of a command byte, or its number.
func CommandName(c byte) string {
	switch c {
	case SE:
		return "SE"
	case NOP:
		return "NOP"
	case DM:
		return "DM"
	case BRK:
		return "BRK"
	case IP:
		return "IP"
	case AO:
		return "AO"
	case AYT:
		return "AYT"
	case EC:
		return "EC"
	case EL:
		return "EL"
	case GA:
		return "GA"
	case SB:
		return "SB"
	case WILL:
		return "WILL"
	case WONT:
		return "WONT"
	case DO:
		return "DO"
	case DONT:
		return "DONT"
	case IAC:
		return "IAC"
	case EOR:
		return "EOR"
	}
	return strconv.Itoa(int(c))
}

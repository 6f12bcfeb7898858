package ftpchan

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// Bounds of the control-channel codec.
const (
	// DefaultMaxLine bounds one control line (command or reply line),
	// including its line ending.
	DefaultMaxLine = 4096
	// DefaultMaxReply bounds one whole (multi-line) reply.
	DefaultMaxReply = 1 << 20
)

// Command is one parsed FTP command (RFC 959 §4.1): an upper-cased verb and
// its argument as sent.
type Command struct {
	Verb string
	Arg  string
}

// String returns the command as sent on the wire, without the line ending.
func (c Command) String() string {
	if c.Arg == "" {
		return c.Verb
	}
	return c.Verb + " " + c.Arg
}

// ParseCommand parses one command line given without its line ending. It
// refuses NUL, CR and LF anywhere in the line (a CR or LF inside a command
// is an injection attempt: some servers treat a bare CR as a line end),
// a verb that is not 3 or 4 ASCII letters, and an empty line. Errors wrap
// ErrBadCommand.
func ParseCommand(line []byte) (Command, error) {
	if len(line) == 0 {
		return Command{}, fmt.Errorf("%w: empty line", ErrBadCommand)
	}
	if i := bytes.IndexAny(line, "\x00\r\n"); i >= 0 {
		return Command{}, fmt.Errorf("%w: control character %q inside the line", ErrBadCommand, line[i])
	}
	verb, arg, _ := bytes.Cut(line, []byte(" "))
	if len(verb) < 3 || len(verb) > 4 {
		return Command{}, fmt.Errorf("%w: bad verb", ErrBadCommand)
	}
	v := make([]byte, len(verb))
	for i, c := range verb {
		switch {
		case c >= 'A' && c <= 'Z':
			v[i] = c
		case c >= 'a' && c <= 'z':
			v[i] = c - 'a' + 'A'
		default:
			return Command{}, fmt.Errorf("%w: bad verb", ErrBadCommand)
		}
	}
	return Command{Verb: string(v), Arg: string(arg)}, nil
}

// ReadLine reads one line ending in LF (or CRLF) from r and returns it
// without the line ending. A line longer than max bytes is consumed up to
// and including its LF and reported as ErrLineTooLong, so that the caller
// can answer and go on with the next line. A CR that does not end the line
// is left in the line (ParseCommand refuses it). At EOF in the middle of a
// line it returns io.ErrUnexpectedEOF; at EOF between lines, io.EOF.
func ReadLine(r *bufio.Reader, max int) ([]byte, error) {
	if max <= 0 {
		max = DefaultMaxLine
	}
	var acc []byte
	tooLong := false
	for {
		frag, err := r.ReadSlice('\n')
		if !tooLong {
			if len(acc)+len(frag) > max {
				tooLong = true
				acc = nil
			} else {
				acc = append(acc, frag...)
			}
		}
		switch {
		case err == nil:
			if tooLong {
				return nil, fmt.Errorf("%w (more than %d bytes)", ErrLineTooLong, max)
			}
			acc = acc[:len(acc)-1]
			if n := len(acc); n > 0 && acc[n-1] == '\r' {
				acc = acc[:n-1]
			}
			return acc, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if len(acc) > 0 || tooLong {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, io.EOF
		default:
			return nil, err
		}
	}
}

// Reply is one FTP reply (RFC 959 §4.2): a three-digit code and one or
// more lines. Lines hold the raw text of each line without its line ending
// (for a multi-line reply the first starts "ddd-" and the last "ddd ").
type Reply struct {
	Code  int
	Lines []string
}

// Preliminary reports whether the reply is a 1yz reply, which another
// reply to the same command follows.
func (r *Reply) Preliminary() bool { return r.Code < 200 }

// Text is the message of the reply: the first line without its code.
func (r *Reply) Text() string {
	if len(r.Lines) == 0 || len(r.Lines[0]) < 4 {
		return ""
	}
	return r.Lines[0][4:]
}

// Encode returns the reply as sent on the wire, each line ending in CRLF.
func (r *Reply) Encode() []byte {
	var b bytes.Buffer
	for _, l := range r.Lines {
		b.WriteString(l)
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// NewReply builds a single-line reply.
func NewReply(code int, text string) *Reply {
	return &Reply{Code: code, Lines: []string{strconv.Itoa(code) + " " + text}}
}

// ReadReply reads one reply from r: a single line "ddd text" or a
// multi-line reply "ddd-text" … "ddd text" (lines in between may be
// anything but must not hold NUL or a bare CR). Each line is bounded by
// maxLine and the whole reply by maxReply (0 means the defaults). Errors
// wrap ErrBadReply, ErrLineTooLong or come from r.
func ReadReply(r *bufio.Reader, maxLine, maxReply int) (*Reply, error) {
	if maxReply <= 0 {
		maxReply = DefaultMaxReply
	}
	first, err := ReadLine(r, maxLine)
	if err != nil {
		return nil, err
	}
	code, multi, err := replyHead(first)
	if err != nil {
		return nil, err
	}
	rep := &Reply{Code: code, Lines: []string{string(first)}}
	size := len(first)
	for multi {
		line, err := ReadLine(r, maxLine)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if err := cleanLine(line); err != nil {
			return nil, err
		}
		size += len(line) + 2
		if size > maxReply {
			return nil, fmt.Errorf("%w: reply longer than %d bytes", ErrBadReply, maxReply)
		}
		rep.Lines = append(rep.Lines, string(line))
		if len(line) >= 4 && line[3] == ' ' && string(line[:3]) == string(first[:3]) {
			multi = false
		}
		if len(line) == 3 && string(line) == string(first[:3]) {
			// "ddd" alone ends the reply too (seen in the wild).
			multi = false
		}
	}
	return rep, nil
}

// replyHead parses the first line of a reply.
func replyHead(line []byte) (code int, multi bool, err error) {
	if err := cleanLine(line); err != nil {
		return 0, false, err
	}
	if len(line) < 3 {
		return 0, false, fmt.Errorf("%w: line too short", ErrBadReply)
	}
	if line[0] < '1' || line[0] > '5' || line[1] < '0' || line[1] > '9' || line[2] < '0' || line[2] > '9' {
		return 0, false, fmt.Errorf("%w: no reply code", ErrBadReply)
	}
	code = int(line[0]-'0')*100 + int(line[1]-'0')*10 + int(line[2]-'0')
	if len(line) == 3 {
		return code, false, nil
	}
	switch line[3] {
	case ' ':
		return code, false, nil
	case '-':
		return code, true, nil
	}
	return 0, false, fmt.Errorf("%w: bad separator after the code", ErrBadReply)
}

func cleanLine(line []byte) error {
	if i := bytes.IndexAny(line, "\x00\r"); i >= 0 {
		return fmt.Errorf("%w: control character %q inside a reply line", ErrBadReply, line[i])
	}
	return nil
}

// ParsePASV parses the text of a 227 reply: six comma-separated numbers
// h1,h2,h3,h4,p1,p2, with or without parentheses (RFC 1123 §4.1.2.6 asks
// clients to scan for them). It returns the announced IPv4 address and port.
// Callers in termgate use only the port: data goes to the control
// connection's peer, whatever address the server names.
func ParsePASV(text string) (netip.Addr, int, error) {
	for i := 0; i < len(text); i++ {
		if text[i] < '0' || text[i] > '9' || i > 0 && text[i-1] >= '0' && text[i-1] <= '9' {
			continue
		}
		if nums, ok := sixNumbers(text[i:]); ok {
			for _, n := range nums {
				if n > 255 {
					return netip.Addr{}, 0, fmt.Errorf("%w: number out of range in 227 reply", ErrBadReply)
				}
			}
			port := nums[4]<<8 | nums[5]
			if port == 0 {
				return netip.Addr{}, 0, fmt.Errorf("%w: port 0 in 227 reply", ErrBadReply)
			}
			ip := netip.AddrFrom4([4]byte{byte(nums[0]), byte(nums[1]), byte(nums[2]), byte(nums[3])})
			return ip, port, nil
		}
	}
	return netip.Addr{}, 0, fmt.Errorf("%w: no h1,h2,h3,h4,p1,p2 in 227 reply", ErrBadReply)
}

// sixNumbers reads "n,n,n,n,n,n" at the start of s (each 1 to 3 digits).
func sixNumbers(s string) ([6]int, bool) {
	var out [6]int
	pos := 0
	for k := 0; k < 6; k++ {
		if k > 0 {
			if pos >= len(s) || s[pos] != ',' {
				return out, false
			}
			pos++
		}
		start := pos
		v := 0
		for pos < len(s) && s[pos] >= '0' && s[pos] <= '9' && pos-start < 3 {
			v = v*10 + int(s[pos]-'0')
			pos++
		}
		if pos == start || pos < len(s) && s[pos] >= '0' && s[pos] <= '9' {
			return out, false
		}
		out[k] = v
	}
	return out, true
}

// ParseEPSV parses the text of a 229 reply (RFC 2428 §3): "(<d><d><d><port><d>)"
// where <d> is one delimiter character in the range 33-126. It returns the port.
func ParseEPSV(text string) (int, error) {
	open := strings.IndexByte(text, '(')
	if open < 0 {
		return 0, fmt.Errorf("%w: no ( in 229 reply", ErrBadReply)
	}
	s := text[open+1:]
	if len(s) < 6 {
		return 0, fmt.Errorf("%w: 229 reply too short", ErrBadReply)
	}
	d := s[0]
	if d < 33 || d > 126 || d >= '0' && d <= '9' || s[1] != d || s[2] != d {
		return 0, fmt.Errorf("%w: bad delimiters in 229 reply", ErrBadReply)
	}
	s = s[3:]
	end := strings.IndexByte(s, d)
	if end < 1 || end > 5 || end+1 >= len(s) || s[end+1] != ')' {
		return 0, fmt.Errorf("%w: bad port field in 229 reply", ErrBadReply)
	}
	port := 0
	for _, c := range []byte(s[:end]) {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: bad port in 229 reply", ErrBadReply)
		}
		port = port*10 + int(c-'0')
	}
	if port < 1 || port > 65535 {
		return 0, fmt.Errorf("%w: port %d out of range in 229 reply", ErrBadReply, port)
	}
	return port, nil
}

// PASVReply builds the 227 reply naming ip (IPv4; anything else is sent as
// 0,0,0,0) and port.
func PASVReply(ip netip.Addr, port int) *Reply {
	a := [4]byte{}
	if ip.Is4() || ip.Is4In6() {
		a = ip.Unmap().As4()
	}
	return NewReply(227, fmt.Sprintf("Entering Passive Mode (%d,%d,%d,%d,%d,%d).", a[0], a[1], a[2], a[3], port>>8, port&0xff))
}

// EPSVReply builds the 229 reply naming port.
func EPSVReply(port int) *Reply {
	return NewReply(229, fmt.Sprintf("Entering Extended Passive Mode (|||%d|)", port))
}

// PortCommand builds the PORT (IPv4) or EPRT (RFC 2428, IPv6) command that
// tells a server to connect to ip:port.
func PortCommand(ip netip.Addr, port int) Command {
	if ip.Is4() || ip.Is4In6() {
		a := ip.Unmap().As4()
		return Command{Verb: "PORT", Arg: fmt.Sprintf("%d,%d,%d,%d,%d,%d", a[0], a[1], a[2], a[3], port>>8, port&0xff)}
	}
	return Command{Verb: "EPRT", Arg: fmt.Sprintf("|2|%s|%d|", ip.String(), port)}
}

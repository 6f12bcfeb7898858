package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/textproto"
	"strings"
)

// MaxHeaderBytes bounds the CONNECT request line plus its header block.
const MaxHeaderBytes = 16 << 10

// maxHeaders bounds the number of header fields.
const maxHeaders = 100

// Request is a parsed CONNECT request.
type Request struct {
	Method string // always "CONNECT" when ParseConnect succeeds
	Target string // the request-target as sent ("host:port")
	Proto  string // "HTTP/1.1" or "HTTP/1.0"
	// Header holds the fields by canonical name (textproto.CanonicalMIMEHeaderKey).
	Header textproto.MIMEHeader
}

// Get returns the first value of the named header field ("" if absent).
func (r *Request) Get(name string) string { return r.Header.Get(name) }

// singleHeaders may appear at most once: a second copy would make the
// authorization decision ambiguous.
var singleHeaders = []string{"Proxy-Authorization", "Termgate-Proof", "Termgate-Proof-Key", "Termgate-Channel", "Termgate-Ticket"}

// ParseConnect reads one HTTP/1.x request head from r: the request line and
// the header fields up to the empty line, at most MaxHeaderBytes in all. It
// reads nothing past the empty line, so bytes the client pipelined after the
// request stay buffered in r for the relay. Errors wrap ErrHeaderTooLarge,
// ErrNotConnect or ErrBadRequest (or are I/O errors from r).
func ParseConnect(r *bufio.Reader) (*Request, error) {
	budget := MaxHeaderBytes
	line, err := readLine(r, &budget)
	if err != nil {
		return nil, err
	}
	req := &Request{Header: make(textproto.MIMEHeader)}
	method, rest, ok1 := strings.Cut(line, " ")
	target, proto, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || method == "" || target == "" || strings.ContainsAny(target, " \t") {
		return nil, fmt.Errorf("%w: request line %q", ErrBadRequest, clip(line))
	}
	if !isToken(method) {
		return nil, fmt.Errorf("%w: bad method", ErrBadRequest)
	}
	if proto != "HTTP/1.1" && proto != "HTTP/1.0" {
		return nil, fmt.Errorf("%w: unsupported protocol version %q", ErrBadRequest, clip(proto))
	}
	req.Method, req.Target, req.Proto = method, target, proto
	for n := 0; ; n++ {
		line, err := readLine(r, &budget)
		if err != nil {
			return nil, err
		}
		if line == "" {
			break
		}
		if n >= maxHeaders {
			return nil, fmt.Errorf("%w: more than %d header fields", ErrHeaderTooLarge, maxHeaders)
		}
		if line[0] == ' ' || line[0] == '\t' {
			return nil, fmt.Errorf("%w: obsolete line folding", ErrBadRequest)
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || !isToken(name) {
			return nil, fmt.Errorf("%w: bad header field %q", ErrBadRequest, clip(name))
		}
		value = strings.Trim(value, " \t")
		for i := 0; i < len(value); i++ {
			if c := value[i]; c < ' ' && c != '\t' || c == 0x7f {
				return nil, fmt.Errorf("%w: control character in header %s", ErrBadRequest, clip(name))
			}
		}
		key := textproto.CanonicalMIMEHeaderKey(name)
		req.Header[key] = append(req.Header[key], value)
	}
	for _, h := range singleHeaders {
		if len(req.Header[h]) > 1 {
			return nil, fmt.Errorf("%w: header %s repeated", ErrBadRequest, h)
		}
	}
	if method != "CONNECT" {
		return req, fmt.Errorf("%w (got %s)", ErrNotConnect, clip(method))
	}
	return req, nil
}

// readLine reads one line ending in LF (CRLF or bare LF), charging its length
// against *budget, and returns it without the line ending.
func readLine(r *bufio.Reader, budget *int) (string, error) {
	var acc []byte
	for {
		frag, err := r.ReadSlice('\n')
		*budget -= len(frag)
		if *budget < 0 {
			return "", fmt.Errorf("%w (more than %d bytes)", ErrHeaderTooLarge, MaxHeaderBytes)
		}
		if err == bufio.ErrBufferFull {
			acc = append(acc, frag...)
			continue
		}
		if err != nil {
			if len(acc)+len(frag) > 0 && err == io.EOF {
				return "", fmt.Errorf("%w: truncated request", ErrBadRequest)
			}
			return "", err
		}
		if acc != nil {
			frag = append(acc, frag...)
		}
		frag = bytes.TrimSuffix(frag, []byte("\n"))
		frag = bytes.TrimSuffix(frag, []byte("\r"))
		if bytes.IndexByte(frag, '\r') >= 0 || bytes.IndexByte(frag, 0) >= 0 {
			return "", fmt.Errorf("%w: stray CR or NUL", ErrBadRequest)
		}
		return string(frag), nil
	}
}

// isToken reports whether s is a non-empty RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// clip shortens s for an error message and removes control characters.
func clip(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

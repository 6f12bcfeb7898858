package token

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// maxHostPortLen bounds the input of NormalizeHostPort (a DNS name is at
// most 253 bytes; brackets, colon and port add a few).
const maxHostPortLen = 300

// NormalizeHostPort returns the one spelling of a destination that tokens
// carry and that the proxy compares: "host:port" with
//
//   - the host name in lower case, one trailing dot removed, letters, digits,
//     '-' and '_' only, labels of 1..63 bytes not starting or ending in '-',
//     at most 253 bytes; non-ASCII names are refused (IDNA is not supported:
//     use the xn-- form);
//   - IPv4 only as four decimal octets without leading zeros: 127.1,
//     0x7f.0.0.1, 2130706433 and octal forms are refused, as is any name
//     whose last label is numeric or 0x-hexadecimal (it would be read as an
//     address by some resolvers);
//   - IPv6 in brackets, in RFC 5952 form, without zone; an IPv4-mapped
//     address ([::ffff:127.0.0.1]) becomes its IPv4 form (127.0.0.1), since
//     both reach the same host;
//   - the port decimal 1..65535 without leading zeros (023 is refused rather
//     than guessed to be 23 or 19).
//
// Normalising a normalised value returns it unchanged, without allocating.
func NormalizeHostPort(s string) (string, error) {
	if len(s) > maxHostPortLen {
		return "", fmt.Errorf("host:port is %d bytes, more than %d", len(s), maxHostPortLen)
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", fmt.Errorf("%q is not host:port: %w", clip(s), err)
	}
	if err := checkPort(port); err != nil {
		return "", err
	}
	if host == "" {
		return "", errors.New("empty host")
	}
	if strings.HasPrefix(s, "[") {
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() || a.Zone() != "" {
			return "", fmt.Errorf("[%s] is not an IPv6 address without zone", clip(host))
		}
		if a.Is4In6() {
			return a.Unmap().String() + ":" + port, nil
		}
		var tmp [64]byte
		if string(a.AppendTo(tmp[:0])) == host {
			return s, nil // s is "[" + host + "]:" + port
		}
		return "[" + a.String() + "]:" + port, nil
	}
	h, err := normalizeHost(host)
	if err != nil {
		return "", err
	}
	if h == host {
		return s, nil // s is host + ":" + port
	}
	return h + ":" + port, nil
}

func checkPort(p string) error {
	if p == "" {
		return errors.New("missing port")
	}
	if len(p) > 5 || p[0] == '0' {
		return fmt.Errorf("port %q must be a decimal number 1..65535 without leading zeros", clip(p))
	}
	n := 0
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c < '0' || c > '9' {
			return fmt.Errorf("port %q must be a decimal number 1..65535", clip(p))
		}
		n = n*10 + int(c-'0')
	}
	if n > 65535 {
		return fmt.Errorf("port %s is greater than 65535", p)
	}
	return nil
}

func normalizeHost(host string) (string, error) {
	for i := 0; i < len(host); i++ {
		if host[i] >= 0x80 {
			return "", fmt.Errorf("host %q is not ASCII: internationalised names are not supported, use the xn-- (punycode) form", clip(host))
		}
	}
	h := strings.ToLower(host)
	h = strings.TrimSuffix(h, ".")
	if h == "" {
		return "", errors.New("empty host")
	}
	if len(h) > 253 {
		return "", fmt.Errorf("host name is %d bytes, more than 253", len(h))
	}
	last := h[strings.LastIndexByte(h, '.')+1:]
	if numericLabel(last) {
		a, err := netip.ParseAddr(h)
		if err != nil || !a.Is4() {
			return "", fmt.Errorf("%q is not an IPv4 address in dotted-quad form (forms like 127.1, 0x7f.0.0.1, 2130706433 or 0177.0.0.1 are refused)", clip(host))
		}
		var tmp [16]byte
		if string(a.AppendTo(tmp[:0])) == h {
			return h, nil
		}
		return a.String(), nil
	}
	for label := range strings.SplitSeq(h, ".") {
		if len(label) == 0 || len(label) > 63 {
			return "", fmt.Errorf("host %q has an empty or over-long label", clip(host))
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return "", fmt.Errorf("host %q has a label that starts or ends with '-'", clip(host))
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", fmt.Errorf("host %q contains %q: only letters, digits, '-' and '_' are allowed", clip(host), c)
			}
		}
	}
	return h, nil
}

// numericLabel reports whether a label would make some resolver read the
// whole name as an IPv4 address: all decimal digits, or 0x followed by hex digits.
func numericLabel(l string) bool {
	if l == "" {
		return false
	}
	if len(l) >= 2 && l[0] == '0' && (l[1] == 'x' || l[1] == 'X') {
		for i := 2; i < len(l); i++ {
			c := l[i] | 0x20
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(l); i++ {
		if l[i] < '0' || l[i] > '9' {
			return false
		}
	}
	return true
}

// clip shortens an untrusted string before it goes into an error message.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}

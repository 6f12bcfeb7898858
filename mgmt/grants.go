package mgmt

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// A destination pattern is "host-or-cidr:port":
//
//	host.example.com:23   one host name (case-insensitive), one port
//	*.example.com:992     any host name under example.com (not example.com itself)
//	10.0.0.0/8:22         any IP literal in the network
//	[2001:db8::/32]:22    the same for IPv6 (brackets optional)
//	192.0.2.7:1000-2000   a port range
//	*:*                   anything
//
// Host names match host names only and networks match IP literals only: the
// management server does not resolve names (the proxy does, and enforces its
// own destination policy on the addresses it dials).
type destPattern struct {
	any      bool
	host     string // exact host name
	suffix   string // ".example.com" for "*.example.com"
	prefix   netip.Prefix
	isPrefix bool
	portLo   int
	portHi   int
}

func parseDestPattern(s string) (destPattern, error) {
	var p destPattern
	i := strings.LastIndexByte(s, ':')
	if i <= 0 || i == len(s)-1 {
		return p, invalidf("destination %q: use host-or-cidr:port (port a number, a range a-b or *)", s)
	}
	host, port := strings.Trim(s[:i], "[]"), s[i+1:]
	switch {
	case port == "*":
		p.portLo, p.portHi = 1, 65535
	case strings.Contains(port, "-"):
		a, b, _ := strings.Cut(port, "-")
		lo, err1 := strconv.Atoi(a)
		hi, err2 := strconv.Atoi(b)
		if err1 != nil || err2 != nil || lo < 1 || hi > 65535 || lo > hi {
			return p, invalidf("destination %q: bad port range", s)
		}
		p.portLo, p.portHi = lo, hi
	default:
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return p, invalidf("destination %q: bad port", s)
		}
		p.portLo, p.portHi = n, n
	}
	if strings.HasPrefix(host, "*") && host != "*" && (!strings.HasPrefix(host, "*.") || len(host) < 4) {
		return p, invalidf("destination %q: a wildcard is * or *.domain", s)
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	switch {
	case host == "*":
		p.any = true
	case strings.HasPrefix(host, "*."):
		if !validHostName(host[2:]) {
			return p, invalidf("destination %q: bad wildcard host", s)
		}
		p.suffix = host[1:]
	case strings.Contains(host, "/"):
		pr, err := parsePrefix(host)
		if err != nil {
			return p, invalidf("destination %q: %v", s, err)
		}
		p.prefix, p.isPrefix = pr, true
	default:
		if a, err := netip.ParseAddr(host); err == nil {
			if a.Zone() != "" {
				return p, invalidf("destination %q: zones are not allowed", s)
			}
			p.prefix, p.isPrefix = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), true
		} else if validHostName(host) {
			p.host = host
		} else {
			return p, invalidf("destination %q: bad host", s)
		}
	}
	return p, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	pr, err := netip.ParsePrefix(s)
	if err != nil {
		return pr, fmt.Errorf("not a network in CIDR form (e.g. 10.0.0.0/8)")
	}
	if pr.Addr().Is4In6() {
		pr = netip.PrefixFrom(pr.Addr().Unmap(), pr.Bits()-96)
	}
	return pr.Masked(), nil
}

func validHostName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, l := range strings.Split(h, ".") {
		if l == "" || len(l) > 63 {
			return false
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// match reports whether the normalised destination host:port matches.
func (p destPattern) match(host string, addr netip.Addr, isIP bool, port int) bool {
	if port < p.portLo || port > p.portHi {
		return false
	}
	switch {
	case p.any:
		return true
	case p.isPrefix:
		return isIP && p.prefix.Contains(addr)
	case p.suffix != "":
		return !isIP && strings.HasSuffix(host, p.suffix)
	default:
		return !isIP && host == p.host
	}
}

// splitDst splits a normalised "host:port".
func splitDst(dst string) (host string, addr netip.Addr, isIP bool, port int, err error) {
	h, ps, err := net.SplitHostPort(dst)
	if err != nil {
		return "", addr, false, 0, err
	}
	port, err = strconv.Atoi(ps)
	if err != nil {
		return "", addr, false, 0, err
	}
	if a, e := netip.ParseAddr(h); e == nil {
		return h, a.Unmap(), true, port, nil
	}
	return h, addr, false, port, nil
}

// destinationsAllow reports whether any pattern allows dst (normalised).
func destinationsAllow(patterns []string, dst string) bool {
	host, addr, isIP, port, err := splitDst(dst)
	if err != nil {
		return false
	}
	for _, s := range patterns {
		p, err := parseDestPattern(s)
		if err == nil && p.match(host, addr, isIP, port) {
			return true
		}
	}
	return false
}

// sessionGranted reports whether a grant list names the session.
func sessionGranted(grants []string, name string) bool {
	return slices.Contains(grants, name) || slices.Contains(grants, "*")
}

// Networks denied unless listed in Security.AllowedNetworks: link-local
// (which includes the cloud metadata address 169.254.169.254) and the
// IPv6 metadata address of some clouds.
var deniedByDefault = []netip.Prefix{
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("fd00:ec2::254/128"),
}

// policyAllows applies the destination policy to an IP destination. Host
// names are left to the proxy, which resolves them.
func policyAllows(sec Security, dst string) error {
	_, addr, isIP, _, err := splitDst(dst)
	if err != nil {
		return invalidf("destination %q: %v", dst, err)
	}
	if !isIP {
		return nil
	}
	var allowed []netip.Prefix
	for _, n := range sec.AllowedNetworks {
		if p, err := parsePrefix(n); err == nil {
			allowed = append(allowed, p)
		}
	}
	inAllowed := false
	for _, p := range allowed {
		if p.Contains(addr) {
			inAllowed = true
		}
	}
	if inAllowed {
		return nil
	}
	for _, p := range deniedByDefault {
		if p.Contains(addr) {
			return fmt.Errorf("%w: destination %s is in %s, denied by the destination policy unless listed in allowed_networks", ErrForbidden, dst, p)
		}
	}
	if len(allowed) > 0 {
		return fmt.Errorf("%w: destination %s is outside the allowed networks", ErrForbidden, dst)
	}
	return nil
}

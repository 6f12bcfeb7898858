package proxy

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Resolver looks host names up. *net.Resolver satisfies it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

var (
	linkLocal = []netip.Prefix{netip.MustParsePrefix("169.254.0.0/16"), netip.MustParsePrefix("fe80::/10")}
	// metadataIPs are cloud instance-metadata and platform endpoints.
	metadataIPs = []netip.Addr{
		netip.MustParseAddr("169.254.169.254"), // AWS, GCP, Azure, OpenStack, Oracle, DigitalOcean
		netip.MustParseAddr("169.254.170.2"),   // AWS ECS task metadata
		netip.MustParseAddr("169.254.169.123"), // AWS time sync
		netip.MustParseAddr("169.254.169.253"), // AWS DNS
		netip.MustParseAddr("fd00:ec2::254"),   // AWS IMDS over IPv6
		netip.MustParseAddr("fd00:ec2::123"),   // AWS time sync over IPv6
		netip.MustParseAddr("fd00:ec2::253"),   // AWS DNS over IPv6
		netip.MustParseAddr("100.100.100.200"), // Alibaba Cloud
		netip.MustParseAddr("168.63.129.16"),   // Azure wire server
		netip.MustParseAddr("192.0.0.192"),     // Oracle Cloud legacy
	}
	// restricted ranges are denied unless AllowNetworks covers the address.
	restricted = []netip.Prefix{
		netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"), // loopback
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("172.16.0.0/12"), netip.MustParsePrefix("192.168.0.0/16"),
		netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT
		netip.MustParsePrefix("fc00::/7"),      // unique local
		netip.MustParsePrefix("198.18.0.0/15"), // benchmarking
		netip.MustParsePrefix("192.0.0.0/24"),  // IETF protocol assignments
	}
	// never ranges are denied whatever AllowNetworks says.
	never = []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"), // "this network", includes 0.0.0.0
		netip.MustParsePrefix("240.0.0.0/4"),
		netip.MustParsePrefix("255.255.255.255/32"),
		netip.MustParsePrefix("::/128"),
		netip.MustParsePrefix("224.0.0.0/4"), netip.MustParsePrefix("ff00::/8"), // multicast
	}
	nat64 = netip.MustParsePrefix("64:ff9b::/96")
)

// destPolicy decides which resolved addresses the proxy may dial.
// It is immutable after construction and safe for concurrent use.
type destPolicy struct {
	allow []netip.Prefix
	own   []netip.AddrPort // the proxy's own listeners
	local []netip.Addr     // this machine's interface addresses
}

func newDestPolicy(allow []netip.Prefix) *destPolicy {
	p := &destPolicy{}
	for _, a := range allow {
		p.allow = append(p.allow, a.Masked())
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok {
					p.local = append(p.local, ip.Unmap())
				}
			}
		}
	}
	return p
}

// check returns nil if the proxy may connect to ip:port, or an error that
// says which rule refused it.
func (p *destPolicy) check(ip netip.Addr, port uint16) error {
	ip = ip.Unmap().WithZone("")
	if !ip.IsValid() {
		return fmt.Errorf("%w: invalid address", ErrDestinationDenied)
	}
	if nat64.Contains(ip) {
		b := ip.As16()
		v4 := netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
		if err := p.check(v4, port); err != nil {
			return fmt.Errorf("%s (NAT64 of %s): %w", ip, v4, err)
		}
	}
	for _, n := range never {
		if n.Contains(ip) {
			return fmt.Errorf("%w: %s is an unspecified, broadcast, reserved or multicast address", ErrDestinationDenied, ip)
		}
	}
	for _, m := range metadataIPs {
		if ip == m {
			if p.listedExactly(netip.PrefixFrom(m, m.BitLen())) {
				return p.checkOwn(ip, port)
			}
			return fmt.Errorf("%w: %s is a cloud metadata endpoint (allow it only by listing %s/%d exactly)", ErrDestinationDenied, ip, ip, ip.BitLen())
		}
	}
	for _, ll := range linkLocal {
		if ll.Contains(ip) {
			if p.listedWithin(ll, ip) {
				return p.checkOwn(ip, port)
			}
			return fmt.Errorf("%w: %s is link-local (allow it only with a network inside %s)", ErrDestinationDenied, ip, ll)
		}
	}
	for _, r := range restricted {
		if r.Contains(ip) && !p.allowed(ip) {
			return fmt.Errorf("%w: %s is a loopback or private address not in the allowed networks", ErrDestinationDenied, ip)
		}
	}
	return p.checkOwn(ip, port)
}

func (p *destPolicy) checkOwn(ip netip.Addr, port uint16) error {
	for _, o := range p.own {
		if o.Port() != port {
			continue
		}
		oa := o.Addr().Unmap()
		if oa == ip || oa.IsUnspecified() && (ip.IsLoopback() || p.isLocal(ip)) || ip.IsLoopback() && oa.IsLoopback() {
			return fmt.Errorf("%w: %s is this proxy's own listener", ErrDestinationDenied, netip.AddrPortFrom(ip, port))
		}
	}
	return nil
}

func (p *destPolicy) isLocal(ip netip.Addr) bool {
	for _, l := range p.local {
		if l == ip {
			return true
		}
	}
	return false
}

func (p *destPolicy) allowed(ip netip.Addr) bool {
	for _, a := range p.allow {
		if a.Contains(ip) {
			return true
		}
	}
	return false
}

func (p *destPolicy) listedExactly(want netip.Prefix) bool {
	for _, a := range p.allow {
		if a == want {
			return true
		}
	}
	return false
}

// listedWithin reports whether an allowed network inside rng contains ip.
func (p *destPolicy) listedWithin(rng netip.Prefix, ip netip.Addr) bool {
	for _, a := range p.allow {
		if a.Bits() >= rng.Bits() && rng.Contains(a.Addr()) && a.Contains(ip) {
			return true
		}
	}
	return false
}

// allowList is the proxy's own list of destinations used when client
// authorization is off: exact "host:port" entries (normalised) and
// "CIDR:port" entries ("10.0.0.0/8:23", "[fd00::/8]:23").
type allowList struct {
	exact map[string]bool
	nets  []netPort
}

type netPort struct {
	prefix netip.Prefix
	port   uint16
}

func newAllowList(entries []string, normalize func(string) (string, error)) (*allowList, error) {
	l := &allowList{exact: map[string]bool{}}
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if h, ps, err := net.SplitHostPort(e); err == nil && strings.Contains(h, "/") {
			pfx, err := netip.ParsePrefix(h)
			if err != nil {
				return nil, fmt.Errorf("allow entry %q: %w", e, err)
			}
			port, err := strconv.ParseUint(ps, 10, 16)
			if err != nil || port == 0 {
				return nil, fmt.Errorf("allow entry %q: bad port", e)
			}
			l.nets = append(l.nets, netPort{prefix: pfx.Masked(), port: uint16(port)})
			continue
		}
		n, err := normalize(e)
		if err != nil {
			return nil, fmt.Errorf("allow entry %q: %w", e, err)
		}
		l.exact[n] = true
	}
	return l, nil
}

func (l *allowList) empty() bool { return len(l.exact) == 0 && len(l.nets) == 0 }

// matchName reports whether the normalised target is listed by name.
func (l *allowList) matchName(target string) bool { return l.exact[target] }

// matchIP reports whether ip:port falls in a listed network.
func (l *allowList) matchIP(ip netip.Addr, port uint16) bool {
	ip = ip.Unmap()
	for _, n := range l.nets {
		if n.port == port && n.prefix.Contains(ip) {
			return true
		}
	}
	return false
}

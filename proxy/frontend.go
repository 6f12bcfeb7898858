package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
)

// prefixConn is a net.Conn whose first bytes come from a reader that
// buffered them (a PROXY header parser or a one-byte peek).
type prefixConn struct {
	net.Conn
	r io.Reader // nil once drained
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if c.r != nil {
		n, err := c.r.Read(p)
		if br, ok := c.r.(*bufio.Reader); ok && br.Buffered() == 0 || err == io.EOF {
			c.r = nil
			if err == io.EOF {
				err = nil
			}
		}
		if n > 0 || err != nil {
			return n, err
		}
	}
	return c.Conn.Read(p)
}

// NetConn returns the connection under c once c's own buffered bytes are
// read (nil before): the relay then waits on its socket without a buffer.
func (c *prefixConn) NetConn() net.Conn {
	if c.r != nil {
		return nil
	}
	return c.Conn
}

// readProxyHeader reads a PROXY protocol v1 or v2 header from r and returns
// the client address it names. A LOCAL command (the load balancer's own
// health check) returns ok == false: the connection's own address stands.
func readProxyHeader(r *bufio.Reader) (client netip.AddrPort, ok bool, err error) {
	h, err := proxyproto.Read(r)
	if err != nil {
		if errors.Is(err, proxyproto.ErrNoProxyProtocol) {
			return netip.AddrPort{}, false, fmt.Errorf("%w: required from this load balancer but missing", ErrProxyHeader)
		}
		return netip.AddrPort{}, false, fmt.Errorf("%w: %v", ErrProxyHeader, err)
	}
	if h.Command.IsLocal() {
		return netip.AddrPort{}, false, nil
	}
	src, _, tcp := h.TCPAddrs()
	if !tcp || src == nil {
		return netip.AddrPort{}, false, fmt.Errorf("%w: not a TCP source address", ErrProxyHeader)
	}
	ap := src.AddrPort()
	if !ap.IsValid() {
		return netip.AddrPort{}, false, fmt.Errorf("%w: invalid source address", ErrProxyHeader)
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true, nil
}

// frontEnd handles what arrives before TLS: a required PROXY header from a
// configured load balancer, or no PROXY header at all from anyone else.
// It returns the connection to run TLS over and the real client address.
func (s *Server) frontEnd(raw net.Conn, deadline time.Time) (net.Conn, netip.AddrPort, error) {
	remote := addrPortOf(raw.RemoteAddr())
	raw.SetReadDeadline(deadline)
	defer raw.SetReadDeadline(time.Time{})
	if s.fromLB(remote.Addr()) {
		br := bufio.NewReaderSize(raw, 256)
		client, ok, err := readProxyHeader(br)
		if err != nil {
			return nil, remote, err
		}
		if !ok {
			client = remote
		}
		return &prefixConn{Conn: raw, r: br}, client, nil
	}
	// Anyone else: the first byte of a TLS connection is a handshake record
	// (0x16); 'P' or CR starts a PROXY v1/v2 signature, which only a
	// configured load balancer may send.
	var first [1]byte
	if _, err := io.ReadFull(raw, first[:]); err != nil {
		return nil, remote, err
	}
	if first[0] == proxyproto.SIGV1[0] || first[0] == proxyproto.SIGV2[0] {
		return nil, remote, fmt.Errorf("%w: a PROXY header from %s, which is not a configured load balancer", ErrProxyHeader, remote.Addr())
	}
	return &prefixConn{Conn: raw, r: &oneByte{b: first[0]}}, remote, nil
}

// oneByte yields one byte, then io.EOF.
type oneByte struct {
	b    byte
	done bool
}

func (o *oneByte) Read(p []byte) (int, error) {
	if o.done {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	p[0], o.done = o.b, true
	return 1, io.EOF
}

func (s *Server) fromLB(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range s.cfg.ProxyProtocolFrom {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func addrPortOf(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	if a == nil {
		return netip.AddrPort{}
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

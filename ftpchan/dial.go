package ftpchan

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/termgate/termgate/emulator"
	"github.com/termgate/termgate/internal/relay"
	"github.com/termgate/termgate/internal/tlsend"
	"github.com/termgate/termgate/pki"
	"github.com/termgate/termgate/token"
)

// tunnelConn is a channel tunnel through the proxy. Its addresses are
// *net.TCPAddr, as github.com/jlaffaye/ftp requires.
type tunnelConn struct {
	*tls.Conn
	raw           *tlsend.Conn // under the TLS connection
	local, remote *net.TCPAddr

	mu      sync.Mutex
	pending []byte
}

func (c *tunnelConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		c.mu.Unlock()
		return n, nil
	}
	c.mu.Unlock()
	n, err := c.Conn.Read(p)
	if c.raw.Abrupt(err) {
		// Not the end of the data: the node carrying the channel stopped
		// (a download must not pass for complete).
		err = emulator.ErrProxyLost
	}
	return n, err
}

// Write sends a large p in as few system calls as TLS records allow.
func (c *tunnelConn) Write(p []byte) (int, error) { return relay.WriteBatched(c.Conn, p) }

func (c *tunnelConn) LocalAddr() net.Addr  { return c.local }
func (c *tunnelConn) RemoteAddr() net.Addr { return c.remote }

// dialChannel opens a ticketed channel CONNECT (docs/protocol.md) to
// target through the proxy named by opts (the token is not sent: the
// ticket authorizes the channel; the proof key, if any, proves it).
func dialChannel(ctx context.Context, opts emulator.DialOptions, kind ChannelKind, ticket, target string) (*tunnelConn, error) {
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = emulator.DefaultDialTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if strings.ContainsAny(target+ticket, "\r\n\x00 ") {
		return nil, fmt.Errorf("%s channel: invalid target or ticket", kind)
	}
	dial := opts.DialContext
	if dial == nil {
		dial = (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext
	}
	raw, err := dial(ctx, "tcp", opts.ProxyAddr)
	if err != nil {
		return nil, fmt.Errorf("%s channel: dial proxy %s: %w", kind, opts.ProxyAddr, err)
	}
	c, err := channelHandshake(ctx, raw, opts, kind, ticket, target)
	if err != nil {
		raw.Close()
		return nil, err
	}
	return c, nil
}

func channelHandshake(ctx context.Context, raw net.Conn, opts emulator.DialOptions, kind ChannelKind, ticket, target string) (*tunnelConn, error) {
	if dl, ok := ctx.Deadline(); ok {
		raw.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	serverName := opts.ServerName
	if serverName == "" {
		serverName = pki.HostOf(opts.ProxyAddr)
	}
	end := tlsend.New(raw)
	tc := tls.Client(relay.NewBatchConn(end), pki.ClientTLSConfig(opts.Trust, serverName, !opts.InsecureSkipServerIdentity))
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("%s channel: TLS handshake with proxy %s: %w", kind, opts.ProxyAddr, pki.ExplainTLSError(err, serverName))
	}
	var req bytes.Buffer
	fmt.Fprintf(&req, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n%s: %s\r\n%s: %s\r\n", target, target,
		emulator.HeaderChannel, kind, emulator.HeaderTicket, ticket)
	if opts.ProofKey != nil {
		ekm, err := token.Exporter(tc.ConnectionState())
		if err != nil {
			return nil, fmt.Errorf("%s channel: proof of possession: %w", kind, err)
		}
		proof, keyHdr, err := opts.ProofKey.Prove(ekm)
		if err != nil {
			return nil, fmt.Errorf("%s channel: proof of possession: %w", kind, err)
		}
		fmt.Fprintf(&req, "%s: %s\r\n%s: %s\r\n", emulator.HeaderProof, proof, emulator.HeaderProofKey, keyHdr)
	}
	req.WriteString("\r\n")
	if _, err := tc.Write(req.Bytes()); err != nil {
		return nil, fmt.Errorf("%s channel: CONNECT: %w", kind, err)
	}
	br := bufio.NewReaderSize(io.LimitReader(tc, 64<<10), 4096)
	tp := textproto.NewReader(br)
	line, err := tp.ReadLine()
	if err != nil {
		return nil, fmt.Errorf("%s channel: reading the proxy's response: %w", kind, err)
	}
	_, rest, _ := strings.Cut(line, " ")
	codeStr, _, _ := strings.Cut(rest, " ")
	status, err := strconv.Atoi(codeStr)
	if err != nil || len(codeStr) != 3 {
		return nil, fmt.Errorf("%s channel: malformed response status %q", kind, clip(line))
	}
	hdr, err := tp.ReadMIMEHeader()
	if err != nil {
		return nil, fmt.Errorf("%s channel: reading the response header: %w", kind, err)
	}
	if status/100 != 2 {
		n := int64(1024)
		if cl, err := strconv.ParseInt(hdr.Get("Content-Length"), 10, 64); err == nil && cl >= 0 && cl < n {
			n = cl
		}
		b, _ := io.ReadAll(io.LimitReader(br, n))
		reason, _, _ := strings.Cut(string(b), "\n")
		return nil, &emulator.ProxyError{Status: status, Code: strings.TrimSpace(hdr.Get(emulator.HeaderError)),
			Reason: clip(strings.TrimSpace(reason)), Target: target, Proxy: opts.ProxyAddr}
	}
	c := &tunnelConn{Conn: tc, raw: end, local: tcpAddr(raw.LocalAddr()), remote: tcpAddr(raw.RemoteAddr())}
	if n := br.Buffered(); n > 0 {
		p, _ := br.Peek(n)
		c.pending = bytes.Clone(p)
	}
	raw.SetDeadline(time.Time{})
	if !stop() {
		return nil, fmt.Errorf("%s channel: %w", kind, ctx.Err())
	}
	return c, nil
}

// tcpAddr converts a to *net.TCPAddr (an empty one if a is not TCP).
func tcpAddr(a net.Addr) *net.TCPAddr {
	if t, ok := a.(*net.TCPAddr); ok {
		return t
	}
	if ip := addrOf(a); ip.IsValid() {
		if ap, err := netipAddrPort(a.String()); err == nil {
			return ap
		}
	}
	return &net.TCPAddr{}
}

func netipAddrPort(s string) (*net.TCPAddr, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return nil, err
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return nil, err
	}
	return &net.TCPAddr{IP: net.ParseIP(host), Port: p}, nil
}

// deadlineConn sets a fresh deadline before every read and write, so that
// no wait of the FTP library is unbounded (with a dial function it sets
// none itself) while a long transfer that keeps moving never times out.
type deadlineConn struct {
	net.Conn
	timeout time.Duration
}

func (c *deadlineConn) Read(p []byte) (int, error) {
	c.Conn.SetReadDeadline(time.Now().Add(c.timeout))
	return c.Conn.Read(p)
}

func (c *deadlineConn) Write(p []byte) (int, error) {
	c.Conn.SetWriteDeadline(time.Now().Add(c.timeout))
	return c.Conn.Write(p)
}

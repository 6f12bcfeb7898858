package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/termgate/termgate/ftpchan"
	"github.com/termgate/termgate/internal/relay"
	"github.com/termgate/termgate/internal/tlsend"
	"github.com/termgate/termgate/token"
)

// FTP through the proxy (docs/protocol.md). A CONNECT with a proto "ftp" token
// is the control channel: the node answers 200 with Termgate-Session and a
// Termgate-Ticket naming itself as the owner, and hands both connections to
// its ftpchan.Gateway. A CONNECT with Termgate-Channel (ftp-data,
// ftp-notify) and Termgate-Ticket carries no token: the ticket (and the
// proof of possession, for sessions whose token had cnf) authorizes it. A
// channel whose session another node owns is forwarded to that node over
// the peer link (see replay.go for the link, forward.go for the message).

var errMaxDuration = errors.New("maximum session duration reached")

// LoadFTPTicketKeys reads a ticket key file: one base64 key (standard or
// URL alphabet, padded or not) per line, each at least
// ftpchan.MinTicketKeyLen bytes; empty lines and lines starting with # are
// skipped. The first key signs, all verify, so a new key is rolled out by
// adding it second on every node, then moving it first, then removing the
// old one. Create one with: head -c 32 /dev/urandom | base64.
func LoadFTPTicketKeys(path string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("FTP ticket key file: %w", err)
	}
	var keys [][]byte
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := decodeKey(line)
		if err != nil {
			return nil, fmt.Errorf("FTP ticket key file %s line %d: not base64", path, i+1)
		}
		if len(k) < ftpchan.MinTicketKeyLen {
			return nil, fmt.Errorf("FTP ticket key file %s line %d: %d bytes, want at least %d random bytes",
				path, i+1, len(k), ftpchan.MinTicketKeyLen)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("FTP ticket key file %s holds no key", path)
	}
	return keys, nil
}

func decodeKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.Strict().DecodeString(s); err == nil {
			return k, nil
		}
	}
	return nil, errors.New("not base64")
}

// newFTPGateway builds the node's FTP gateway; s.metrics and s.replay must exist.
func (s *Server) newFTPGateway() error {
	keys := s.cfg.FTPTicketKeys
	if s.cfg.FTPTicketKeyFile != "" {
		var err error
		if keys, err = LoadFTPTicketKeys(s.cfg.FTPTicketKeyFile); err != nil {
			return fmt.Errorf("proxy: %w", err)
		}
	}
	s.ftpSharedKeys = len(keys) > 0
	s.ftpActive = map[string]bool{}
	for _, d := range s.cfg.FTPServerActive {
		n, err := token.NormalizeHostPort(d)
		if err != nil {
			return fmt.Errorf("proxy: FTP server-active destination %q: %w", d, err)
		}
		s.ftpActive[n] = true
	}
	fm, err := ftpchan.NewPrometheusMetrics(s.registry)
	if err != nil {
		return fmt.Errorf("proxy: FTP metrics: %w", err)
	}
	gcfg := ftpchan.Config{
		NodeID:     s.cfg.NodeID,
		TicketKeys: keys,
		Metrics:    fm,
		Logger:     s.cfg.Logger,
		Now:        s.cfg.Now,
		Dial:       s.cfg.Dial,
	}
	if !s.cfg.FTPForwardingOff {
		gcfg.Forwarder = &ftpForwarder{s: s}
	}
	if s.ftp, err = ftpchan.New(gcfg); err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	return nil
}

// establishedFTPResponse is the 200 answer to an FTP control channel;
// direct, if set, is this node's own address for the session's other
// channels.
func establishedFTPResponse(sessionID, ticket, direct string) []byte {
	resp := "HTTP/1.1 200 Connection established\r\nTermgate-Session: " + sessionID + "\r\nTermgate-Ticket: " + ticket + "\r\n"
	if direct != "" {
		resp += "Termgate-Owner-Address: " + direct + "\r\n"
	}
	return []byte(resp + "\r\n")
}

// checkDirectAddress validates Config.FTPDirectAddress.
func checkDirectAddress(a string) error {
	if a == "" {
		return nil
	}
	if _, err := ftpchan.OwnerAddressHost(a); err != nil {
		return fmt.Errorf("proxy: FTP direct address: %w", err)
	}
	return nil
}

// ftpSessionInfo describes the FTP session of an authorized control channel.
func (s *Server) ftpSessionInfo(c *conn, id, target string, claims *token.Claims) ftpchan.SessionInfo {
	info := ftpchan.SessionInfo{ID: id, Sub: claims.Subject, ClientAddr: c.client.String(), Dst: target,
		ClientReader: c.br, ServerActive: s.ftpActive[target]}
	if claims.Cnf != nil {
		info.JKT = claims.Cnf.JKT
	}
	if claims.HTLS {
		host, _, _ := net.SplitHostPort(target)
		tc := s.hostTLSConfig(host)
		tc.ServerName = host // the key of the TLS session cache that data connections resume from
		info.HostTLS = tc
	}
	return info
}

// runFTPControl runs an FTP control channel (the 200 answer is written)
// until the session ends, and reports it like a relay.
func (s *Server) runFTPControl(ctx context.Context, c *conn, upstream net.Conn, id, target string, claims *token.Claims) relay.Result {
	start := time.Now()
	if s.cfg.MaxSessionDuration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, s.cfg.MaxSessionDuration, errMaxDuration)
		defer cancel()
	}
	info := s.ftpSessionInfo(c, id, target, claims)
	c.br = nil
	err := s.ftp.HandleControl(ctx, c.tls, upstream, info)
	res := relay.Result{Duration: time.Since(start), Reason: relay.ReasonClosed}
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errMaxDuration):
		res.Reason = relay.ReasonMaxDuration
	case cause != nil:
		res.Reason, res.Err = relay.ReasonCanceled, cause
	case err != nil:
		res.Reason, res.Err = relay.ReasonHostError, err
	}
	return res
}

// serveChannel serves an FTP data or notification channel CONNECT.
func (s *Server) serveChannel(c *conn, req *Request) {
	kind, err := ftpchan.ParseChannelKind(req.Get("Termgate-Channel"))
	if err != nil {
		s.refuse(c, req, reject(CodeBadRequest, err, "%v", err), nil)
		return
	}
	if req.Get("Proxy-Authorization") != "" {
		s.refuse(c, req, reject(CodeBadRequest, nil, "an FTP channel is authorized by its Termgate-Ticket: send no token with it"), nil)
		return
	}
	ticket := req.Get("Termgate-Ticket")
	tk, err := s.ftp.VerifyTicket(ticket)
	if err != nil {
		code, reason := Code(CodeTicketInvalid), "invalid FTP channel ticket"
		var ce *ftpchan.ChannelError
		if errors.As(err, &ce) {
			code, reason = Code(ce.Code), ce.Reason
		}
		if code == CodeTicketInvalid && !s.ftpSharedKeys && len(s.replay.peers) > 0 {
			reason += ": this node has no shared FTP ticket key, so it cannot verify tickets of sessions opened on " +
				"other nodes (give every node the same ticket key file)"
		}
		s.refuse(c, req, reject(code, err, "%s", reason), nil)
		return
	}
	if tk.Node != s.cfg.NodeID && s.cfg.FTPForwardingOff {
		s.refuse(c, req, reject(CodeOwnerUnavailable, ftpchan.ErrOwnerUnavailable,
			"the FTP session runs on node %s and this node does not forward FTP channels (forwarding is switched off)", clip(tk.Node)), nil)
		return
	}
	ctx, cancel := context.WithCancelCause(s.ctx)
	defer cancel(nil)
	st := &sessionState{stop: cancel}
	if !s.addSession(st, c) {
		return
	}
	defer s.removeSession(st)
	c.tls.SetDeadline(time.Time{})
	creq := ftpchan.ChannelRequest{Kind: kind, Ticket: ticket, Target: req.Target,
		Proof: req.Get("Termgate-Proof"), ProofKey: req.Get("Termgate-Proof-Key"), ClientAddr: c.client.String()}
	if creq.Proof != "" || creq.ProofKey != "" {
		if ekm, err := token.Exporter(c.tls.ConnectionState()); err == nil {
			creq.Exporter = ekm
		}
	}
	// A channel that ends without TLS's closing alert was cut (the client
	// died, or the network failed): the relay must pass that on as a
	// failure, or the FTP server would store a cut upload as complete.
	tlsend.Arm(c.tls)
	client := &bufferedConn{Conn: c.tls, r: c.br}
	c.br = nil
	s.channelDone(c.client, s.ftp.HandleChannel(ctx, client, creq))
}

// channelDone records a channel that the gateway refused (it wrote the answer).
func (s *Server) channelDone(client netip.AddrPort, err error) {
	code := Code(ftpchan.CodeOf(err))
	if code == "" {
		return
	}
	s.metrics.rejections.WithLabelValues(string(code)).Inc()
	switch code.Status() {
	case http.StatusBadRequest, http.StatusForbidden, http.StatusProxyAuthRequired:
		if client.IsValid() { // a forwarded channel was counted by the node the client reached
			s.fails.fail(client.Addr(), s.cfg.Now())
		}
	}
}

// addSession registers a session (or channel) for Drain and Close and stops
// tracking c as a pending connection; false if the server is closed.
func (s *Server) addSession(st *sessionState, c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.sessions[st] = struct{}{}
	if c != nil {
		delete(s.conns, c.raw)
		c.tracked = false
	}
	return true
}

func (s *Server) removeSession(st *sessionState) {
	s.mu.Lock()
	delete(s.sessions, st)
	s.mu.Unlock()
	s.notifyIdle()
}

// bufferedConn reads through r (a buffered reader over Conn holding bytes
// already received) and keeps Conn's half-close.
type bufferedConn struct {
	net.Conn
	r io.Reader
}

func (b *bufferedConn) Read(p []byte) (int, error) {
	if b.r == nil {
		return b.Conn.Read(p)
	}
	return b.r.Read(p)
}

// Abort resets the connection (relay.Abort).
func (b *bufferedConn) Abort() error { return relay.Abort(b.Conn) }

// CloseWrite half-closes the connection if it can.
func (b *bufferedConn) CloseWrite() error {
	if cw, ok := b.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// ftpForwarder implements ftpchan.Forwarder over the peer link.
type ftpForwarder struct{ s *Server }

// Forward hands a channel to its owner node: a new peer-link connection
// carries the FORWARD message; once the owner acknowledges it, the client
// stream and the peer stream are relayed until both end (the owner writes
// the CONNECT answer). Before the acknowledgement nothing is written to
// client and failures wrap ftpchan.ErrOwnerUnavailable.
func (f *ftpForwarder) Forward(ctx context.Context, node string, client net.Conn, req ftpchan.ChannelRequest) error {
	s := f.s
	session := ""
	if tk, err := s.ftp.VerifyTicket(req.Ticket); err == nil {
		session = tk.Session
	}
	p := s.replay.peers[node]
	if p == nil {
		s.metrics.ftpForwards.WithLabelValues("unknown", "unavailable").Inc()
		s.log.Warn().Str("event", "ftp_forward_failed").Str("owner", clip(node)).Str("session", session).
			Msg("FTP channel of a session owned by a node that is not a configured peer")
		return fmt.Errorf("%w: node %q is not a peer of this node", ftpchan.ErrOwnerUnavailable, clip(node))
	}
	peer, err := f.open(ctx, p, req)
	if err != nil {
		s.metrics.ftpForwards.WithLabelValues(node, "unavailable").Inc()
		s.log.Warn().Str("event", "ftp_forward_failed").Str("owner", node).Str("session", session).Err(err).
			Msg("FTP channel could not be forwarded to the session's owner node")
		return fmt.Errorf("%w: %s: %v", ftpchan.ErrOwnerUnavailable, node, err)
	}
	s.metrics.ftpForwards.WithLabelValues(node, "ok").Inc()
	s.log.Info().Str("event", "ftp_channel_forwarded").Str("owner", node).Str("session", session).
		Str("kind", string(req.Kind)).Str("client", req.ClientAddr).Msg("FTP channel forwarded to the session's owner node")
	res := relay.Run(ctx, relay.Side{Conn: client}, relay.Side{Conn: peer}, relay.Config{IdleTimeout: s.cfg.IdleTimeout, ResetOnError: true})
	s.log.Debug().Str("event", "ftp_forward_end").Str("owner", node).Str("session", session).
		Int64("bytes_in", res.BytesIn).Int64("bytes_out", res.BytesOut).Str("end_reason", string(res.Reason)).
		Msg("forwarded FTP channel ended")
	return nil
}

// open dials the owner and exchanges FORWARD / FORWARDING within PeerTimeout.
func (f *ftpForwarder) open(ctx context.Context, p *peerClient, req ftpchan.ChannelRequest) (net.Conn, error) {
	msg, err := encodeForward(req)
	if err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	c, err := p.dialConn(dctx)
	if err != nil {
		return nil, err
	}
	dl, _ := dctx.Deadline()
	c.SetDeadline(dl)
	br := bufio.NewReaderSize(c, peerMaxLine)
	if _, err := c.Write(msg); err != nil {
		c.Close()
		return nil, err
	}
	line, err := br.ReadSlice('\n')
	if err != nil {
		c.Close()
		return nil, err
	}
	if resp := strings.TrimRight(string(line), "\r\n"); resp != "FORWARDING" {
		c.Close()
		return nil, fmt.Errorf("owner answered %q", clip(resp))
	}
	c.SetDeadline(time.Time{})
	tlsend.Arm(c) // the owner's end of the channel must not pass for a clean one
	return &bufferedConn{Conn: c, r: br}, nil
}

// serveForward runs a channel forwarded by a peer (the FORWARD header line
// is read; its body follows on br). The connection belongs to the channel
// from now on.
func (s *Server) serveForward(ctx context.Context, tc *tls.Conn, br *bufio.Reader, line string) {
	fail := func(reason string) {
		tc.SetWriteDeadline(time.Now().Add(s.cfg.PeerTimeout))
		tc.Write([]byte("ERROR " + reason + "\n"))
	}
	n, err := parseForwardHeader(line)
	if err != nil {
		fail(err.Error())
		return
	}
	tc.SetReadDeadline(time.Now().Add(s.cfg.PeerTimeout))
	body := make([]byte, n)
	if _, err := io.ReadFull(br, body); err != nil {
		return
	}
	req, err := decodeForward(body)
	if err != nil {
		fail(err.Error())
		return
	}
	peer := "?"
	if cs := tc.ConnectionState(); len(cs.PeerCertificates) > 0 {
		peer = cs.PeerCertificates[0].Subject.CommonName
	}
	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	st := &sessionState{stop: cancel}
	if !s.addSession(st, nil) {
		fail("closing")
		return
	}
	defer s.removeSession(st)
	tc.SetWriteDeadline(time.Now().Add(s.cfg.PeerTimeout))
	if _, err := tc.Write([]byte("FORWARDING\n")); err != nil {
		return
	}
	tc.SetDeadline(time.Time{})
	tlsend.Arm(tc) // a cut in the forwarding node's link reaches the FTP server as a failure
	s.metrics.ftpReceived.Inc()
	s.log.Debug().Str("event", "ftp_channel_received").Str("peer", clip(peer)).Str("kind", string(req.Kind)).
		Str("client", req.ClientAddr).Msg("FTP channel forwarded by a peer node")
	s.channelDone(netip.AddrPort{}, s.ftp.HandleChannel(cctx, &bufferedConn{Conn: tc, r: br}, req))
}

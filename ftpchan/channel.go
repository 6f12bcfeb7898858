package ftpchan

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/termgate/termgate/internal/relay"
	"github.com/termgate/termgate/token"
)

// Channel is an accepted data or notification channel, ready to be served
// once the proxy has answered the CONNECT with 200. Close releases it if
// Serve is not called.
type Channel struct {
	g      *Gateway
	s      *session
	kind   ChannelKind
	port   int
	slot   *slot
	server net.Conn // passive mode: the dialled data connection
}

// HandleChannel serves one channel CONNECT end to end: it verifies the
// ticket; forwards the request to the owner node through the Forwarder if
// the session is not this node's; otherwise opens the channel, writes the
// CONNECT response (200, or the refusal of docs/protocol.md with its
// Termgate-Error code) to client and serves it. A refusal is returned as a
// *ChannelError after it was written, for the proxy's logs and metrics.
// client is closed on return.
func (g *Gateway) HandleChannel(ctx context.Context, client net.Conn, req ChannelRequest) error {
	defer client.Close()
	if !g.enter() {
		return writeRefusal(client, refusal(CodeDraining, ErrClosed, "this proxy node is closing"))
	}
	defer g.wg.Done()
	if _, err := ParseChannelKind(string(req.Kind)); err != nil {
		return g.refuse(client, refusal(CodeBadRequest, err, "%v", err))
	}
	tk, err := g.verifyTicket(req.Ticket)
	if err != nil {
		return g.refuse(client, err)
	}
	if tk.Node != g.cfg.NodeID {
		if req.Forwarded || g.cfg.Forwarder == nil {
			return g.refuse(client, refusal(CodeOwnerUnavailable, ErrOwnerUnavailable,
				"the FTP session runs on node %s, which this node cannot forward to", clip(tk.Node)))
		}
		g.metrics.ChannelForwarded(req.Kind)
		err := g.cfg.Forwarder.Forward(ctx, tk.Node, client, req)
		if errors.Is(err, ErrOwnerUnavailable) {
			return g.refuse(client, refusal(CodeOwnerUnavailable, err, "the node that owns this FTP session is unavailable"))
		}
		return err
	}
	ch, err := g.openChannel(ctx, tk, req)
	if err != nil {
		return g.refuse(client, err)
	}
	client.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := io.WriteString(client, "HTTP/1.1 200 Connection established\r\nTermgate-Session: "+ch.s.id+"\r\n\r\n"); err != nil {
		ch.Close()
		return err
	}
	client.SetWriteDeadline(time.Time{})
	return ch.Serve(ctx, client)
}

func (g *Gateway) refuse(client net.Conn, err error) error {
	var ce *ChannelError
	if !errors.As(err, &ce) {
		ce = refusal(CodeChannelDenied, err, "channel refused")
	}
	g.metrics.ChannelRefused(ce.Code)
	g.log.Info().Str("event", "ftp_channel_refused").Str("code", string(ce.Code)).Str("reason", ce.Reason).
		AnErr("cause", ce.Err).Str("client", client.RemoteAddr().String()).Msg("FTP channel refused")
	writeRefusal(client, ce)
	return ce
}

// writeRefusal writes the docs/protocol.md refusal for ce and half-closes.
func writeRefusal(client net.Conn, ce *ChannelError) error {
	body := clip(ce.Reason) + "\n"
	status := ce.Code.Status()
	resp := "HTTP/1.1 " + strconv.Itoa(status) + " " + http.StatusText(status) + "\r\nTermgate-Error: " + string(ce.Code) + "\r\n"
	if status == http.StatusProxyAuthRequired {
		resp += "Proxy-Authenticate: Bearer error=\"invalid_token\"\r\n"
	}
	resp += "Content-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	client.SetWriteDeadline(time.Now().Add(10 * time.Second))
	client.Write([]byte(resp))
	if cw, ok := client.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	return ce
}

// OpenChannel accepts a channel of a session owned by this node, without
// writing anything: the caller answers the CONNECT (200 on success, the
// *ChannelError's code otherwise) and then calls Serve. For a data channel
// in passive mode the data connection to the server is dialled here.
func (g *Gateway) OpenChannel(ctx context.Context, req ChannelRequest) (*Channel, error) {
	if _, err := ParseChannelKind(string(req.Kind)); err != nil {
		return nil, refusal(CodeBadRequest, err, "%v", err)
	}
	tk, err := g.verifyTicket(req.Ticket)
	if err != nil {
		return nil, err
	}
	if tk.Node != g.cfg.NodeID {
		return nil, refusal(CodeOwnerUnavailable, ErrOwnerUnavailable, "the FTP session runs on node %s", clip(tk.Node))
	}
	return g.openChannel(ctx, tk, req)
}

func (g *Gateway) openChannel(ctx context.Context, tk Ticket, req ChannelRequest) (*Channel, error) {
	s := g.lookup(ctx, tk.Session)
	if s == nil {
		return nil, refusal(CodeChannelDenied, ErrUnknownSession, "the FTP session of this ticket is not open")
	}
	if err := s.checkProof(req); err != nil {
		return nil, err
	}
	ch := &Channel{g: g, s: s, kind: req.Kind}
	if req.Kind == ChannelNotify {
		if !s.openNotify() {
			return nil, refusal(CodeChannelDenied, ErrNotifyOpen, "this FTP session already has a notification channel")
		}
		return ch, nil
	}
	_, portStr, err := net.SplitHostPort(req.Target)
	port, perr := strconv.Atoi(portStr)
	if err != nil || perr != nil || port < 1 || port > 65535 {
		return nil, refusal(CodeBadRequest, ErrPortNotAnnounced, "bad data channel target %q", clip(req.Target))
	}
	if norm, err := token.NormalizeHostPort(req.Target); err != nil || s.dstHost == "" || !sameHost(norm, s.dstHost) {
		return nil, refusal(CodeChannelDenied, ErrWrongHost, "a data channel must name the FTP session's host")
	}
	sl, err := s.claim(port)
	if err != nil {
		s.notify(Event{Type: EventTransferAborted, Port: port, Reason: err.Error()})
		return nil, refusal(CodeChannelDenied, err, "data port %d: %v", port, err)
	}
	ch.port, ch.slot = port, sl
	if sl.listener != nil {
		return ch, nil // server-active: the server connects to us in Serve
	}
	dctx, cancel := context.WithTimeout(ctx, g.cfg.DialTimeout)
	defer cancel()
	addr := net.JoinHostPort(s.serverIP.String(), strconv.Itoa(port))
	conn, err := g.cfg.Dial(dctx, "tcp", addr)
	if err != nil {
		s.notify(Event{Type: EventTransferAborted, Port: port, Reason: "dial failed"})
		return nil, refusal(CodeDialFailed, fmt.Errorf("%w: %w", ErrDial, err), "the data connection to the FTP server failed")
	}
	ch.server = conn
	return ch, nil
}

func sameHost(hostport, host string) bool {
	h, _, err := net.SplitHostPort(hostport)
	return err == nil && h == host
}

// checkProof enforces proof of possession for the channels of a session
// whose token carried cnf.
func (s *session) checkProof(req ChannelRequest) error {
	if s.info.JKT == "" {
		return nil
	}
	if req.Proof == "" || req.ProofKey == "" {
		return refusal(CodeProofMissing, ErrProof, "this FTP session's channels need Termgate-Proof and Termgate-Proof-Key")
	}
	thumb, err := token.VerifyProof(req.Proof, req.ProofKey, req.Exporter)
	if err != nil {
		return refusal(CodeProofInvalid, fmt.Errorf("%w: %w", ErrProof, err), "invalid proof of possession")
	}
	if subtle.ConstantTimeCompare([]byte(thumb), []byte(s.info.JKT)) != 1 {
		return refusal(CodeProofInvalid, ErrProof, "the proof was made by another key than the session's")
	}
	return nil
}

// Close releases a channel that will not be served.
func (ch *Channel) Close() error {
	if ch.server != nil {
		ch.server.Close()
	}
	if ch.slot != nil && ch.slot.listener != nil {
		ch.slot.listener.Close()
	}
	if ch.kind == ChannelNotify {
		ch.s.mu.Lock()
		ch.s.notifyOpen = false
		ch.s.mu.Unlock()
	}
	return nil
}

// Serve relays the channel until it ends, or its session or ctx ends;
// it closes client.
func (ch *Channel) Serve(ctx context.Context, client net.Conn) error {
	defer client.Close()
	ch.g.metrics.ChannelOpened(ch.kind)
	if ch.kind == ChannelNotify {
		return ch.serveNotify(ctx, client)
	}
	ch.s.activeData.Add(1)
	defer ch.s.activeData.Add(-1)
	defer ch.s.activity.touch()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ch.s.ctx, cancel)
	defer stop()

	server := ch.server
	if ch.slot.listener != nil {
		var err error
		if server, err = ch.acceptServer(ctx); err != nil {
			ch.s.notify(Event{Type: EventTransferAborted, Port: ch.port, Reason: "the FTP server did not connect"})
			return err
		}
	}
	defer server.Close()
	if ch.s.hostTLS != nil {
		tc := tls.Client(server, ch.s.hostTLS)
		hctx, hcancel := context.WithTimeout(ctx, ch.g.cfg.DataTimeout)
		err := tc.HandshakeContext(hctx)
		hcancel()
		if err != nil {
			ch.s.notify(Event{Type: EventTransferAborted, Port: ch.port, Reason: "TLS with the FTP server failed on the data connection"})
			return fmt.Errorf("data channel TLS: %w", err)
		}
		server = tc
	}
	// A failure on one side reaches the other as one: a server must not
	// store a cut upload as complete, nor a client take a cut download.
	res := relay.Run(ctx, relay.Side{Conn: client}, relay.Side{Conn: server},
		relay.Config{IdleTimeout: ch.g.cfg.IdleTimeout, ResetOnError: true})
	ch.g.metrics.DataBytes(res.BytesIn, res.BytesOut)
	ch.g.log.Debug().Str("event", "ftp_data_end").Str("session", ch.s.id).Int("port", ch.port).
		Int64("bytes_in", res.BytesIn).Int64("bytes_out", res.BytesOut).Str("end_reason", string(res.Reason)).Msg("FTP data channel ended")
	if res.Reason != relay.ReasonClosed {
		ch.s.notify(Event{Type: EventTransferAborted, Port: ch.port, Reason: string(res.Reason)})
		return fmt.Errorf("data channel: %s: %w", res.Reason, res.Err)
	}
	return nil
}

// acceptServer waits (DataTimeout) for the server to connect to the
// server-active listener; connections from any other address are closed.
func (ch *Channel) acceptServer(ctx context.Context) (net.Conn, error) {
	ln := ch.slot.listener
	defer ln.Close()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	if d, ok := ln.(interface{ SetDeadline(time.Time) error }); ok {
		d.SetDeadline(time.Now().Add(ch.g.cfg.DataTimeout))
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			return nil, fmt.Errorf("server-active data connection: %w", err)
		}
		if addrOf(c.RemoteAddr()) == ch.s.serverIP {
			return c, nil
		}
		ch.g.metrics.ChannelRefused(CodeChannelDenied)
		ch.g.log.Warn().Str("session", ch.s.id).Str("from", c.RemoteAddr().String()).
			Msg("server-active listener: connection from another address than the FTP server refused")
		c.Close()
	}
}

// serveNotify writes the session's events as JSON lines, with keep-alives,
// until the session, ctx or the client ends.
func (ch *Channel) serveNotify(ctx context.Context, client net.Conn) error {
	s := ch.s
	defer func() {
		s.mu.Lock()
		s.notifyOpen = false
		s.mu.Unlock()
	}()
	gone := make(chan struct{})
	go func() {
		// The client sends nothing; reading detects its close.
		defer close(gone)
		io.Copy(io.Discard, io.LimitReader(client, 4096))
	}()
	defer func() { client.Close(); <-gone }()
	t := time.NewTicker(ch.g.cfg.KeepAlive)
	defer t.Stop()
	write := func(e Event) error {
		client.SetWriteDeadline(time.Now().Add(writeTimeout))
		_, err := client.Write(e.MarshalLine())
		return err
	}
	for {
		select {
		case e := <-s.events:
			if err := write(e); err != nil {
				return err
			}
		case <-t.C:
			if err := write(Event{Type: EventKeepAlive, Time: ch.g.cfg.Now().UTC()}); err != nil {
				return err
			}
		case <-s.done:
			// Pass on what is queued, then end.
			for {
				select {
				case e := <-s.events:
					if err := write(e); err != nil {
						return err
					}
				default:
					return nil
				}
			}
		case <-ctx.Done():
			return ctx.Err()
		case <-gone:
			return nil
		}
	}
}

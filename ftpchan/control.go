package ftpchan

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// pendingKind says what a queued reply slot expects.
type pendingKind int

const (
	pendForward    pendingKind = iota // a command forwarded as is
	pendPASV                          // PASV forwarded: rewrite the 227
	pendEPSV                          // EPSV forwarded: check the 229
	pendActivePASV                    // PORT sent instead of the client's PASV
	pendActiveEPSV                    // PORT/EPRT sent instead of the client's EPSV
	pendLocal                         // a reply made by the gateway
)

type pending struct {
	kind     pendingKind
	local    *Reply
	listener net.Listener
}

// control is the relay engine of one control channel.
type control struct {
	s       *session
	g       *Gateway
	client  net.Conn
	clientR *bufio.Reader
	server  net.Conn
	serverR *bufio.Reader

	clientIP netip.Addr // the gateway's address as the client sees it (for 227)
	localIP  netip.Addr // the gateway's address facing the server (server-active)

	invalid int // refused lines so far (client loop only)

	mu      sync.Mutex // guards writes to client and queue
	queue   []pending
	endOnce sync.Once
	endErr  error
}

// runControl relays the control channel until either side ends.
func (s *session) runControl(ctx context.Context, client, server net.Conn) error {
	g := s.g
	stop := context.AfterFunc(ctx, s.cancel)
	defer stop()
	stopConns := context.AfterFunc(s.ctx, func() {
		client.Close()
		server.Close()
	})
	defer stopConns()

	var cr io.Reader = client
	if s.info.ClientReader != nil {
		cr = s.info.ClientReader
	}
	c := &control{s: s, g: g, client: client, clientR: bufio.NewReaderSize(cr, 4096), server: server,
		serverR: bufio.NewReaderSize(server, 4096), clientIP: addrOf(client.LocalAddr()), localIP: addrOf(server.LocalAddr())}
	s.serverIP = addrOf(server.RemoteAddr())
	if !s.serverIP.IsValid() {
		return fmt.Errorf("ftpchan: server address %v is not an IP address", server.RemoteAddr())
	}
	log := g.log.With().Str("session", s.id).Str("sub", s.info.Sub).Str("dst", s.info.Dst).Logger()

	if err := c.greet(); err != nil {
		log.Info().Err(err).Msg("FTP session set-up failed")
		return err
	}
	log.Info().Str("event", "ftp_control_start").Bool("host_tls", s.hostTLS != nil).
		Bool("server_active", s.info.ServerActive).Msg("FTP control channel started")

	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		c.end(c.clientLoop())
	}()
	go func() {
		defer wg.Done()
		c.end(c.serverLoop())
	}()
	go func() {
		defer wg.Done()
		c.watchdog()
	}()
	wg.Wait()
	c.mu.Lock()
	for _, p := range c.queue {
		if p.listener != nil {
			p.listener.Close()
		}
	}
	c.queue = nil
	c.mu.Unlock()
	log.Info().Str("event", "ftp_control_end").AnErr("cause", c.endErr).Msg("FTP control channel ended")
	if errors.Is(c.endErr, io.EOF) || errors.Is(c.endErr, net.ErrClosed) {
		return nil
	}
	return c.endErr
}

// end stops the session once, remembering the first cause.
func (c *control) end(err error) {
	c.endOnce.Do(func() {
		c.endErr = err
		c.s.cancel()
	})
}

// watchdog ends the session after IdleTimeout without activity on the
// control channel or any data channel.
func (c *control) watchdog() {
	idle := c.g.cfg.IdleTimeout
	tick := max(idle/8, 10*time.Millisecond)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-c.s.ctx.Done():
			return
		case <-t.C:
			if c.s.activeData.Load() > 0 {
				c.s.activity.touch()
				continue
			}
			if c.s.activity.since() > idle {
				c.writeClient(NewReply(421, "Idle timeout: closing the control connection."))
				c.end(errors.New("idle timeout"))
				return
			}
		}
	}
}

// greet passes the server's greeting on to the client, after securing the
// server leg with AUTH TLS if the session asks for it.
func (c *control) greet() error {
	deadline := time.Now().Add(c.g.cfg.DialTimeout)
	c.server.SetDeadline(deadline)
	var greeting []*Reply
	for {
		rep, err := ReadReply(c.serverR, c.g.cfg.MaxLine, 0)
		if err != nil {
			c.writeClient(NewReply(421, "The FTP server did not greet."))
			return fmt.Errorf("server greeting: %w", err)
		}
		greeting = append(greeting, rep)
		if !rep.Preliminary() {
			if rep.Code != 220 {
				c.writeClient(rep)
				return fmt.Errorf("server greeting: %d %s", rep.Code, clip(rep.Text()))
			}
			break
		}
	}
	if c.s.hostTLS != nil {
		if err := c.startTLS(); err != nil {
			c.writeClient(NewReply(421, "Secure connection to the FTP server failed."))
			return err
		}
	}
	c.server.SetDeadline(time.Time{})
	for _, r := range greeting {
		if err := c.writeClient(r); err != nil {
			return err
		}
	}
	return nil
}

// startTLS runs AUTH TLS, PBSZ 0 and PROT P with the server (RFC 4217).
func (c *control) startTLS() error {
	if _, err := c.exchange("AUTH TLS", 234); err != nil {
		return err
	}
	tc := tls.Client(c.server, c.s.hostTLS)
	ctx, cancel := context.WithTimeout(c.s.ctx, c.g.cfg.DialTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("TLS with the FTP server: %w", err)
	}
	c.server = tc
	c.serverR = bufio.NewReaderSize(tc, 4096)
	if _, err := c.exchange("PBSZ 0", 200); err != nil {
		return err
	}
	if _, err := c.exchange("PROT P", 200); err != nil {
		return err
	}
	return nil
}

// exchange sends one command to the server and reads its final reply.
func (c *control) exchange(cmd string, want int) (*Reply, error) {
	if _, err := io.WriteString(c.server, cmd+"\r\n"); err != nil {
		return nil, fmt.Errorf("%s: %w", cmd, err)
	}
	for {
		rep, err := ReadReply(c.serverR, c.g.cfg.MaxLine, 0)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", cmd, err)
		}
		if rep.Preliminary() {
			continue
		}
		if rep.Code != want {
			return nil, fmt.Errorf("%s: server answered %d %s", cmd, rep.Code, clip(rep.Text()))
		}
		return rep, nil
	}
}

// writeClient writes one reply to the client, serialised with the queue.
func (c *control) writeClient(r *Reply) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writeClientLocked(r)
}

func (c *control) writeClientLocked(r *Reply) error {
	c.client.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := c.client.Write(r.Encode())
	return err
}

// push queues p (after the replies still expected from the server) and
// flushes local replies that are now at the head.
func (c *control) push(p pending) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.queue = append(c.queue, p)
	return c.flushLocked()
}

func (c *control) flushLocked() error {
	for len(c.queue) > 0 && c.queue[0].kind == pendLocal {
		r := c.queue[0].local
		c.queue = c.queue[1:]
		if err := c.writeClientLocked(r); err != nil {
			return err
		}
	}
	return nil
}

// refuse answers a client line locally and counts it.
func (c *control) refuse(reason string, code int, text string) error {
	c.g.metrics.CommandRefused(reason)
	c.invalid++
	if c.invalid > c.g.cfg.MaxInvalid {
		c.push(pending{kind: pendLocal, local: NewReply(421, "Too many refused commands: closing the control connection.")})
		return fmt.Errorf("client sent %d refused commands", c.invalid)
	}
	return c.push(pending{kind: pendLocal, local: NewReply(code, text)})
}

// clientLoop reads commands, vets them and forwards or answers them.
func (c *control) clientLoop() error {
	for {
		line, err := ReadLine(c.clientR, c.g.cfg.MaxLine)
		if errors.Is(err, ErrLineTooLong) {
			if err := c.refuse("too_long", 500, "Command line too long."); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		c.s.activity.touch()
		cmd, err := ParseCommand(line)
		if err != nil {
			if err := c.refuse("malformed", 500, "Syntax error: command refused by termgate."); err != nil {
				return err
			}
			continue
		}
		if err := c.command(cmd); err != nil {
			return err
		}
	}
}

func (c *control) command(cmd Command) error {
	switch cmd.Verb {
	case "PORT", "EPRT", "LPRT":
		return c.refuse("port", 502, "Active mode is not available through termgate: use PASV or EPSV.")
	case "LPSV":
		return c.refuse("port", 502, "LPSV is not available through termgate: use PASV or EPSV.")
	case "AUTH", "CCC", "REIN", "ADAT":
		return c.refuse("auth", 502, cmd.Verb+" is not available through termgate: the connection to the proxy is already TLS.")
	case "PASV", "EPSV":
		return c.passive(cmd)
	}
	return c.forward(cmd, pending{kind: pendForward})
}

// forward queues the reply slot, then sends cmd to the server.
func (c *control) forward(cmd Command, p pending) error {
	if err := c.push(p); err != nil {
		return err
	}
	c.server.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := io.WriteString(c.server, cmd.String()+"\r\n")
	return err
}

// passive handles a client's PASV or EPSV.
func (c *control) passive(cmd Command) error {
	epsv := cmd.Verb == "EPSV"
	if epsv && cmd.Arg != "" {
		switch cmd.Arg {
		case "1", "2":
		case "ALL", "all":
			return c.refuse("epsv_all", 502, "EPSV ALL is not supported through termgate.")
		default:
			return c.push(pending{kind: pendLocal, local: NewReply(522, "Network protocol not supported, use (1,2)")})
		}
	}
	if !c.s.info.ServerActive {
		k := pendPASV
		if epsv {
			k = pendEPSV
		}
		return c.forward(cmd, pending{kind: k})
	}
	// Server-active mode: a one-shot listener on the address facing the server.
	ctx, cancel := context.WithTimeout(c.s.ctx, c.g.cfg.DialTimeout)
	ln, err := c.g.cfg.Listen(ctx, "tcp", net.JoinHostPort(c.localIP.String(), "0"))
	cancel()
	if err != nil {
		c.g.log.Warn().Err(err).Str("session", c.s.id).Msg("server-active listener failed")
		return c.push(pending{kind: pendLocal, local: NewReply(425, "Can't open data connection.")})
	}
	port := ln.Addr().(*net.TCPAddr).Port
	k := pendActivePASV
	if epsv {
		k = pendActiveEPSV
	}
	return c.forward(PortCommand(c.localIP, port), pending{kind: k, listener: ln})
}

// serverLoop reads replies, pairs final ones with the queue, rewrites
// passive-mode replies and passes them to the client.
func (c *control) serverLoop() error {
	for {
		rep, err := ReadReply(c.serverR, c.g.cfg.MaxLine, 0)
		if err != nil {
			return err
		}
		c.s.activity.touch()
		if err := c.reply(rep); err != nil {
			return err
		}
	}
}

func (c *control) reply(rep *Reply) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if rep.Preliminary() || len(c.queue) == 0 {
		// 1yz replies, or a reply to nothing (e.g. 421 on the server's timeout).
		return c.writeClientLocked(rep)
	}
	p := c.queue[0]
	c.queue = c.queue[1:]
	out := rep
	switch p.kind {
	case pendPASV:
		if rep.Code == 227 {
			// The IP the server names is ignored: data goes to the control
			// connection's peer.
			if _, port, err := ParsePASV(rep.Text()); err == nil {
				c.s.announce(port, nil)
				out = PASVReply(c.clientIP, port)
			} else {
				out = NewReply(425, "Can't open data connection: the server's 227 reply is malformed.")
			}
		}
	case pendEPSV:
		if rep.Code == 229 {
			if port, err := ParseEPSV(rep.Text()); err == nil {
				c.s.announce(port, nil)
				out = EPSVReply(port)
			} else {
				out = NewReply(425, "Can't open data connection: the server's 229 reply is malformed.")
			}
		}
	case pendActivePASV, pendActiveEPSV:
		if rep.Code/100 == 2 {
			port := p.listener.Addr().(*net.TCPAddr).Port
			c.s.announce(port, p.listener)
			if p.kind == pendActivePASV {
				out = PASVReply(c.clientIP, port)
			} else {
				out = EPSVReply(port)
			}
		} else {
			p.listener.Close()
			out = NewReply(425, "Can't open data connection: the server refused "+strconv.Itoa(rep.Code)+" to active mode.")
		}
	}
	if err := c.writeClientLocked(out); err != nil {
		return err
	}
	return c.flushLocked()
}

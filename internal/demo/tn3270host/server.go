package tn3270host

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/termgate/termgate/emulator/tn3270"
)

// Server serves the demo application. The zero value is ready to use; it is
// safe for concurrent use.
type Server struct {
	// Logger receives connection events; the zero value logs nothing.
	Logger zerolog.Logger
	// IdleTimeout bounds each wait for the terminal's next record; 0 means
	// 5 minutes.
	IdleTimeout time.Duration
	// NegotiationTimeout bounds the telnet negotiation; 0 means 10 seconds.
	NegotiationTimeout time.Duration

	mu     sync.Mutex
	lns    map[net.Listener]struct{}
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("tn3270host: server closed")

// Serve accepts connections on ln until ctx ends or Close is called; then it
// returns nil (ErrServerClosed if Close came first). It closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	if s.lns == nil {
		s.lns = map[net.Listener]struct{}{}
		s.conns = map[net.Conn]struct{}{}
	}
	s.lns[ln] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()

	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	defer func() {
		s.mu.Lock()
		delete(s.lns, ln)
		s.mu.Unlock()
		ln.Close()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			switch {
			case closed:
				return ErrServerClosed
			case ctx.Err() != nil:
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("tn3270host: accept: %w", err)
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return ErrServerClosed
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
			sess := &session{srv: s, conn: c, log: s.Logger.With().Str("peer", c.RemoteAddr().String()).Logger()}
			if err := sess.run(ctx); err != nil {
				sess.log.Debug().Err(err).Msg("tn3270host: session ended")
			}
		}()
	}
}

// Close stops every listener and connection and waits for their
// goroutines. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for ln := range s.lns {
		ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

func (s *Server) idle() time.Duration {
	if s.IdleTimeout > 0 {
		return s.IdleTimeout
	}
	return 5 * time.Minute
}

func (s *Server) negTimeout() time.Duration {
	if s.NegotiationTimeout > 0 {
		return s.NegotiationTimeout
	}
	return 10 * time.Second
}

// session is one terminal connection.
type session struct {
	srv      *Server
	conn     net.Conn
	log      zerolog.Logger
	dec      tn3270.Decoder
	queue    []tn3270.Event
	buf      []byte
	e        bool   // TN3270E mode
	respOn   bool   // TN3270E RESPONSES agreed
	termType string // the terminal type (TN3270) or device type (TN3270E)
	lu       string
	seq      uint16
	cp       *tn3270.CodePage
}

// next returns the next telnet event, reading with deadline.
func (s *session) next(deadline time.Time) (tn3270.Event, error) {
	if s.buf == nil {
		s.buf = make([]byte, 4096)
	}
	for len(s.queue) == 0 {
		if err := s.conn.SetReadDeadline(deadline); err != nil {
			return tn3270.Event{}, err
		}
		n, err := s.conn.Read(s.buf)
		if n > 0 {
			if ferr := s.dec.Feed(s.buf[:n], func(ev tn3270.Event) error {
				s.queue = append(s.queue, ev)
				return nil
			}); ferr != nil {
				return tn3270.Event{}, ferr
			}
		}
		if err != nil && len(s.queue) == 0 {
			return tn3270.Event{}, err
		}
	}
	ev := s.queue[0]
	s.queue = s.queue[1:]
	return ev, nil
}

func (s *session) write(p []byte) error {
	if err := s.conn.SetWriteDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return err
	}
	_, err := s.conn.Write(p)
	return err
}

// negotiate performs the server side of TN3270E, falling back to TN3270.
func (s *session) negotiate() error {
	deadline := time.Now().Add(s.srv.negTimeout())
	if err := s.write([]byte{tn3270.IAC, tn3270.DO, tn3270.OptTN3270E}); err != nil {
		return err
	}
	for {
		ev, err := s.next(deadline)
		if err != nil {
			return err
		}
		if ev.Kind != tn3270.EventOption || ev.Opt != tn3270.OptTN3270E {
			continue
		}
		if ev.Cmd == tn3270.WILL {
			ok, err := s.negotiateE(deadline)
			if err != nil || ok {
				return err
			}
		}
		return s.negotiateBasic(deadline)
	}
}

// negotiateE runs the TN3270E subnegotiation; false means fall back.
func (s *session) negotiateE(deadline time.Time) (bool, error) {
	send := func(data ...byte) error { return s.write(tn3270.AppendSubneg(nil, tn3270.OptTN3270E, data)) }
	if err := send(tn3270.ESend, tn3270.EDeviceType); err != nil {
		return false, err
	}
	for {
		ev, err := s.next(deadline)
		if err != nil {
			return false, err
		}
		if ev.Kind == tn3270.EventOption && ev.Opt == tn3270.OptTN3270E && ev.Cmd == tn3270.WONT {
			return false, nil
		}
		if ev.Kind != tn3270.EventSubneg || ev.Opt != tn3270.OptTN3270E || len(ev.Data) < 2 {
			continue
		}
		d := ev.Data
		switch {
		case d[0] == tn3270.EDeviceType && d[1] == tn3270.ERequest:
			dev, lu := d[2:], []byte(nil)
			for i, b := range dev {
				if b == tn3270.EConnect {
					dev, lu = d[2:2+i], d[3+i:]
					break
				}
			}
			if !strings.HasPrefix(string(dev), "IBM-327") {
				if err := send(tn3270.EDeviceType, tn3270.EReject, tn3270.EReason, 0x04); err != nil { // INV-DEVICE-TYPE
					return false, err
				}
				continue
			}
			s.termType, s.lu = string(dev), string(lu)
			if s.lu == "" {
				s.lu = "TGLU0001"
			}
			is := append([]byte{tn3270.EDeviceType, tn3270.EIs}, s.termType...)
			is = append(is, tn3270.EConnect)
			is = append(is, s.lu...)
			if err := send(is...); err != nil {
				return false, err
			}
		case d[0] == tn3270.EFunctions && d[1] == tn3270.ERequest:
			var common []byte
			for _, f := range d[2:] {
				if f == tn3270.FuncResponses {
					common = append(common, f)
				}
			}
			if len(common) == len(d[2:]) {
				if err := send(append([]byte{tn3270.EFunctions, tn3270.EIs}, common...)...); err != nil {
					return false, err
				}
				s.e, s.respOn = true, len(common) > 0
				return true, nil
			}
			if err := send(append([]byte{tn3270.EFunctions, tn3270.ERequest}, common...)...); err != nil {
				return false, err
			}
		case d[0] == tn3270.EFunctions && d[1] == tn3270.EIs:
			for _, f := range d[2:] {
				if f != tn3270.FuncResponses {
					return false, fmt.Errorf("tn3270host: client insists on TN3270E function %d", f)
				}
			}
			s.e, s.respOn = true, len(d) > 2
			return true, nil
		}
	}
}

// negotiateBasic negotiates TERMINAL-TYPE, EOR and BINARY (RFC 1576).
func (s *session) negotiateBasic(deadline time.Time) error {
	if err := s.write([]byte{tn3270.IAC, tn3270.DO, tn3270.OptTTYPE}); err != nil {
		return err
	}
	want := map[[2]byte]bool{}
	for _, o := range []byte{tn3270.OptEOR, tn3270.OptBinary} {
		want[[2]byte{tn3270.WILL, o}] = true
		want[[2]byte{tn3270.DO, o}] = true
	}
	gotType := false
	for !gotType || len(want) > 0 {
		ev, err := s.next(deadline)
		if err != nil {
			return err
		}
		switch {
		case ev.Kind == tn3270.EventOption && ev.Opt == tn3270.OptTTYPE && ev.Cmd == tn3270.WILL:
			if err := s.write(tn3270.AppendSubneg(nil, tn3270.OptTTYPE, []byte{tn3270.TTYPESend})); err != nil {
				return err
			}
		case ev.Kind == tn3270.EventOption && ev.Opt == tn3270.OptTTYPE && ev.Cmd == tn3270.WONT:
			return errors.New("tn3270host: client refused TERMINAL-TYPE")
		case ev.Kind == tn3270.EventSubneg && ev.Opt == tn3270.OptTTYPE && len(ev.Data) > 1 && ev.Data[0] == tn3270.TTYPEIs:
			s.termType = string(ev.Data[1:])
			if !strings.HasPrefix(s.termType, "IBM-327") {
				return fmt.Errorf("tn3270host: terminal type %q is not a 3270", s.termType)
			}
			gotType = true
			if err := s.write([]byte{tn3270.IAC, tn3270.DO, tn3270.OptEOR, tn3270.IAC, tn3270.WILL, tn3270.OptEOR,
				tn3270.IAC, tn3270.DO, tn3270.OptBinary, tn3270.IAC, tn3270.WILL, tn3270.OptBinary}); err != nil {
				return err
			}
		case ev.Kind == tn3270.EventOption && (ev.Opt == tn3270.OptEOR || ev.Opt == tn3270.OptBinary):
			switch ev.Cmd {
			case tn3270.WILL, tn3270.DO:
				delete(want, [2]byte{ev.Cmd, ev.Opt})
			default:
				return fmt.Errorf("tn3270host: client refused option %d", ev.Opt)
			}
		}
	}
	return nil
}

// send writes one outbound 3270 record.
func (s *session) send(rec []byte) error {
	var out []byte
	if s.e {
		flag := tn3270.RespNone
		if s.respOn {
			flag = tn3270.RespError
		}
		h := tn3270.Header{DataType: tn3270.Data3270, ResponseFlag: flag, Seq: s.seq}
		s.seq++
		out = tn3270.AppendRecord(nil, append(h.Append(nil), rec...))
	} else {
		out = tn3270.AppendRecord(nil, rec)
	}
	return s.write(out)
}

// receive returns the next inbound 3270 record, skipping TN3270E responses.
func (s *session) receive() (tn3270.Inbound, error) {
	for {
		ev, err := s.next(time.Now().Add(s.srv.idle()))
		if err != nil {
			return tn3270.Inbound{}, err
		}
		if ev.Kind != tn3270.EventRecord {
			continue
		}
		rec := ev.Data
		if s.e {
			h, data, err := tn3270.ParseHeader(rec)
			if err != nil {
				return tn3270.Inbound{}, err
			}
			if h.DataType == tn3270.DataResp {
				s.log.Debug().Stringer("header", h).Msg("tn3270host: response")
				continue
			}
			if h.DataType != tn3270.Data3270 {
				continue
			}
			rec = data
		}
		in, err := tn3270.ParseInbound(rec)
		if err != nil {
			s.log.Debug().Err(err).Msg("tn3270host: bad inbound record")
			continue
		}
		return in, nil
	}
}

func (s *session) extended() bool { return strings.HasSuffix(s.termType, "-E") }

func (s *session) run(ctx context.Context) error {
	s.cp, _ = tn3270.LookupCodePage("037")
	if err := s.negotiate(); err != nil {
		return fmt.Errorf("negotiate: %w", err)
	}
	s.log.Info().Str("type", s.termType).Bool("tn3270e", s.e).Str("lu", s.lu).Msg("tn3270host: terminal connected")
	if s.extended() {
		if err := s.send(tn3270.QueryRecord()); err != nil {
			return err
		}
		in, err := s.receive()
		if err != nil {
			return fmt.Errorf("query reply: %w", err)
		}
		s.log.Debug().Hex("queries", in.QueryReplies).Msg("tn3270host: query reply")
	}
	app := &app{s: s}
	return app.loop(ctx)
}

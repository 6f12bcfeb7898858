package vthost

import (
	"errors"
	"net"
	"os"
	"time"

	"github.com/rs/zerolog"

	"github.com/termgate/termgate/emulator/telnet"
)

// This file is the server side of telnet for one connection: it offers
// WILL ECHO and WILL SGA, asks DO TTYPE and DO NAWS, and feeds the data
// bytes to the application.

// hostLocal are the options the demo host enables on its side.
func hostLocal(opt telnet.Option) bool {
	return opt == telnet.OptEcho || opt == telnet.OptSGA
}

// hostRemote are the options the demo host lets the client enable.
func hostRemote(opt telnet.Option) bool {
	switch opt {
	case telnet.OptSGA, telnet.OptTTYPE, telnet.OptNAWS, telnet.OptBinary:
		return true
	}
	return false
}

type session struct {
	nc       net.Conn
	log      zerolog.Logger
	app      *app
	dec      telnet.Decoder
	neg      telnet.Negotiator
	keys     keyReader
	out      []byte
	quit     bool
	redraw   bool
	wtimeout time.Duration
}

func (s *Server) serveConn(nc net.Conn, log zerolog.Logger) {
	now := s.Now
	if now == nil {
		now = time.Now
	}
	idle := s.IdleTimeout
	if idle <= 0 {
		idle = DefaultIdleTimeout
	}
	wt := s.WriteTimeout
	if wt <= 0 {
		wt = DefaultWriteTimeout
	}
	ss := &session{
		nc:       nc,
		log:      log.With().Str("remote", nc.RemoteAddr().String()).Logger(),
		app:      newApp(now),
		wtimeout: wt,
	}
	ss.dec.StripCRNUL = true
	ss.dec.MaxSubnegotiation = 512
	ss.neg.Policy = telnet.Policy{Local: hostLocal, Remote: hostRemote}
	ss.log.Info().Msg("demo host connection")
	err := ss.run(idle)
	ss.log.Info().Err(err).Msg("demo host connection ended")
}

func (ss *session) run(idle time.Duration) error {
	ss.out = ss.neg.EnableLocal(ss.out, telnet.OptEcho)
	ss.out = ss.neg.EnableLocal(ss.out, telnet.OptSGA)
	ss.out = ss.neg.EnableRemote(ss.out, telnet.OptTTYPE)
	ss.out = ss.neg.EnableRemote(ss.out, telnet.OptNAWS)
	ss.data(ss.app.render())
	if err := ss.flush(); err != nil {
		return err
	}
	buf := make([]byte, 2048)
	lastInput := time.Now()
	for !ss.quit {
		deadline := lastInput.Add(idle)
		if ss.app.mode == modeClock {
			// Wake up at the next full second to redraw the clock.
			next := time.Now().Truncate(time.Second).Add(time.Second)
			if next.Before(deadline) {
				deadline = next
			}
		}
		if err := ss.nc.SetReadDeadline(deadline); err != nil {
			return err
		}
		n, err := ss.nc.Read(buf)
		if n > 0 {
			lastInput = time.Now()
			ss.input(buf[:n])
		}
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				return err
			}
			if time.Since(lastInput) >= idle {
				ss.data([]byte(clearAll + "\r\nIdle for too long: goodbye from the termgate demo host.\r\n"))
				ss.flush()
				return err
			}
			ss.data(ss.app.tick())
		}
		if ss.redraw {
			ss.redraw = false
			ss.data(ss.app.render())
		}
		if err := ss.flush(); err != nil {
			return err
		}
	}
	return nil
}

// input decodes telnet bytes, answers negotiation and runs the application.
func (ss *session) input(src []byte) {
	var data []byte
	for len(src) > 0 {
		var n int
		var ev telnet.Event
		var ok bool
		data, n, ev, ok = ss.dec.Decode(data[:0], src)
		src = src[n:]
		ss.keys.feed(data, ss.key)
		if ok {
			ss.event(ev)
		}
	}
}

func (ss *session) key(k key) {
	if ss.quit {
		return
	}
	out, quit := ss.app.handle(k)
	ss.data(out)
	ss.quit = quit
	if quit {
		// Anything drawn for the old screen is superseded.
		ss.redraw = false
	}
}

func (ss *session) event(ev telnet.Event) {
	switch ev.Kind {
	case telnet.EventNegotiation:
		had := ss.neg.Remote(ev.Option)
		ss.out = ss.neg.Receive(ss.out, ev.Command, ev.Option)
		ss.dec.StripCRNUL = !ss.neg.Remote(telnet.OptBinary)
		if ev.Option == telnet.OptTTYPE && !had && ss.neg.Remote(telnet.OptTTYPE) {
			ss.out = telnet.AppendSubnegotiation(ss.out, telnet.OptTTYPE, []byte{telnet.TTypeSend})
		}
	case telnet.EventSubnegotiation:
		switch ev.Option {
		case telnet.OptNAWS:
			rows, cols, err := telnet.ParseWindowSize(ev.Data)
			if err == nil && ss.app.resize(rows, cols) && !ss.quit {
				ss.redraw = true
			}
		case telnet.OptTTYPE:
			if len(ev.Data) > 1 && ev.Data[0] == telnet.TTypeIs {
				ss.app.ttype = printable(ev.Data[1:], 40)
				ss.log.Debug().Str("ttype", ss.app.ttype).Msg("terminal type")
				if !ss.quit {
					ss.redraw = true
				}
			}
		}
	}
}

// printable keeps at most n printable ASCII bytes of b.
func printable(b []byte, n int) string {
	out := make([]byte, 0, min(len(b), n))
	for _, c := range b {
		if c >= 0x20 && c < 0x7f && len(out) < n {
			out = append(out, c)
		}
	}
	return string(out)
}

// data queues application output as telnet data: IAC doubled and, unless
// we send in BINARY mode, a lone CR as CR NUL. Negotiation answers are
// queued in ss.out already encoded.
func (ss *session) data(b []byte) {
	ss.out = telnet.AppendData(ss.out, b, ss.neg.Local(telnet.OptBinary))
}

func (ss *session) flush() error {
	if len(ss.out) == 0 {
		return nil
	}
	if err := ss.nc.SetWriteDeadline(time.Now().Add(ss.wtimeout)); err != nil {
		return err
	}
	_, err := ss.nc.Write(ss.out)
	ss.out = ss.out[:0]
	return err
}

package emulator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/termgate/termgate/emulator/ssh"
	"github.com/termgate/termgate/emulator/vt"
)

// DefaultWriteTimeout bounds one write to the host when
// SessionOptions.WriteTimeout is zero.
const DefaultWriteTimeout = 30 * time.Second

// Session protocols this package drives (the session definition's protocol).
const (
	ProtoTelnet = "telnet"
	ProtoSSH    = "ssh"
	ProtoTCP    = "tcp"
	ProtoTN3270 = "tn3270"
	ProtoFTP    = "ftp"
)

// SessionOptions configures Open. The zero value opens the session with the
// definition's terminal, with proof of possession, and records nothing.
type SessionOptions struct {
	// TerminalType overrides the definition's terminal model (sent as the
	// telnet TTYPE or the SSH pty's TERM). Empty: the model, else "xterm".
	TerminalType string
	// Rows and Cols override the definition's screen size. Zero: the
	// definition's, else 24×80.
	Rows, Cols int
	// SSH holds the credentials and host-key check of an ssh session (they
	// belong to the caller, not to termgate). TerminalType, Rows and Cols
	// are set by the Session. An empty HostKey defaults to the host key of
	// the session definition, if it carries one.
	SSH ssh.Config
	// NoProof launches with a plain bearer token (see LaunchOptions).
	NoProof bool
	// Recorder, if set, receives the bytes from the host as an asciicast v2
	// recording (what the user saw; typed input is not recorded, so that
	// passwords do not end up in recordings).
	Recorder io.Writer
	// OnReconnect, if set, is called after each successful Reconnect.
	OnReconnect func(ReconnectInfo)
	// DialTimeout bounds each dial of the proxy; zero means DefaultDialTimeout.
	DialTimeout time.Duration
	// WriteTimeout bounds each write to the host; zero means DefaultWriteTimeout.
	WriteTimeout time.Duration
	// DialContext dials the TCP connection to the proxy; nil means a net.Dialer.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// Logger receives connection events; the zero value logs nothing.
	Logger zerolog.Logger
}

// ReconnectInfo describes a successful Reconnect.
type ReconnectInfo struct {
	Attempt      int       // 1 for the first reconnect of the Session
	Cause        error     // why the previous connection ended; nil if it was still up
	Proxy        string    // the proxy address dialled
	ProxySession string    // the proxy's Termgate-Session id of the new tunnel
	ExpiresAt    time.Time // expiry of the new token
}

// link is one connection of a Session.
type link struct {
	st      *Stream
	done    chan struct{} // closed when the reader ends
	err     error         // why; valid after done
	closing atomic.Bool
}

func (lk *link) errIfDone() error {
	select {
	case <-lk.done:
		return lk.err
	default:
		return nil
	}
}

func (lk *link) close() error {
	lk.closing.Store(true)
	return lk.st.Close()
}

// Session is a terminal session through the proxy: the connection, the
// protocol (telnet, SSH, or raw TCP) and a VT screen fed by the host's
// output. Its methods are safe for concurrent use: one goroutine may wait
// for the screen while another types.
type Session struct {
	client *Client
	name   string
	opts   SessionOptions
	log    zerolog.Logger
	screen *vt.Screen
	rec    *vt.CastRecorder
	ttype  string

	mu         sync.Mutex
	cur        *link
	closed     bool
	reconnects int
	wg         sync.WaitGroup // reader goroutines

	reconnectMu sync.Mutex // one Reconnect at a time
	wmu         sync.Mutex // serialises writes to the host
}

// Open launches the session definition name, dials the proxy, starts the
// protocol and returns the Session. It fails with ErrUnsupportedProtocol for
// a definition that is not telnet, ssh or tcp (tn3270 and ftp have their
// own clients).
func Open(ctx context.Context, c *Client, name string, opts SessionOptions) (*Session, error) {
	l, err := c.Launch(ctx, name, LaunchOptions{NoProof: opts.NoProof})
	if err != nil {
		return nil, err
	}
	if err := checkProtocol(l.Session.Protocol); err != nil {
		return nil, fmt.Errorf("open %q: %w", name, err)
	}
	rows, cols := opts.Rows, opts.Cols
	if rows <= 0 {
		rows = l.Session.Terminal.Rows
	}
	if cols <= 0 {
		cols = l.Session.Terminal.Cols
	}
	s := &Session{client: c, name: name, opts: opts, log: opts.Logger}
	s.ttype = opts.TerminalType
	if s.ttype == "" {
		s.ttype = l.Session.Terminal.Model
	}
	if s.ttype == "" {
		s.ttype = "xterm"
	}
	s.screen = vt.New(vt.Config{Rows: rows, Cols: cols, Reply: replyWriter{s}})
	rows, cols = s.screen.Size()
	if opts.Recorder != nil {
		rec, err := vt.NewCastRecorder(opts.Recorder, vt.CastHeader{
			Width: cols, Height: rows, Title: name, Env: map[string]string{"TERM": s.ttype},
		}, nil)
		if err != nil {
			return nil, fmt.Errorf("open %q: recorder: %w", name, err)
		}
		s.rec = rec
	}
	lk, err := s.connect(ctx, l)
	if err != nil {
		return nil, fmt.Errorf("open %q: %w", name, err)
	}
	s.cur = lk
	s.wg.Add(1)
	go s.readLoop(lk)
	s.log.Debug().Str("ses", name).Str("proto", l.Session.Protocol).Str("dst", l.Session.Target()).
		Str("proxy_session", lk.st.tunnel.SessionID()).Msg("session open")
	return s, nil
}

func checkProtocol(p string) error {
	switch p {
	case ProtoTelnet, ProtoSSH, ProtoTCP, "":
		return nil
	}
	return fmt.Errorf("%w %q: this client drives telnet, ssh and tcp sessions", ErrUnsupportedProtocol, p)
}

// connect dials the proxy for l and starts the protocol.
func (s *Session) connect(ctx context.Context, l *Launch) (*link, error) {
	rows, cols := s.screen.Size()
	st, err := Connect(ctx, l, StreamOptions{
		TerminalType: s.ttype,
		Rows:         rows,
		Cols:         cols,
		SSH:          s.opts.SSH,
		DialTimeout:  s.opts.DialTimeout,
		DialContext:  s.opts.DialContext,
		Logger:       s.log,
	})
	if err != nil {
		return nil, err
	}
	return &link{st: st, done: make(chan struct{})}, nil
}

// readLoop feeds the screen (and the recorder) from lk until it ends.
func (s *Session) readLoop(lk *link) {
	defer s.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := lk.st.Read(buf)
		if n > 0 {
			_, _ = s.screen.Write(buf[:n])
			if s.rec != nil {
				if _, rerr := s.rec.Write(buf[:n]); rerr != nil {
					s.log.Warn().Err(rerr).Msg("session recording failed")
				}
			}
		}
		if err != nil {
			switch {
			case lk.closing.Load():
				lk.err = ErrClosed
			case errors.Is(err, io.EOF):
				lk.err = fmt.Errorf("the host closed the connection: %w", io.EOF)
			default:
				lk.err = fmt.Errorf("connection lost: %w", err)
			}
			s.log.Debug().Err(lk.err).Str("ses", s.name).Msg("session connection ended")
			close(lk.done)
			return
		}
	}
}

// replyWriter sends the screen's answers to host queries (DA, DSR, CPR).
type replyWriter struct{ s *Session }

func (w replyWriter) Write(p []byte) (int, error) {
	if err := w.s.Send(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (s *Session) current() *link {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// Send writes raw bytes to the host.
func (s *Session) Send(p []byte) error {
	s.mu.Lock()
	lk, closed := s.cur, s.closed
	s.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if err := lk.errIfDone(); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	timeout := s.opts.WriteTimeout
	if timeout <= 0 {
		timeout = DefaultWriteTimeout
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_ = lk.st.tunnel.SetWriteDeadline(time.Now().Add(timeout))
	_, err := lk.st.Write(p)
	_ = lk.st.tunnel.SetWriteDeadline(time.Time{})
	if err != nil {
		return fmt.Errorf("send: %w", err)
	}
	return nil
}

// Type sends text as typed on the keyboard ("\r" is the Enter key).
func (s *Session) Type(text string) error { return s.Send([]byte(text)) }

// Press sends a key by name (see ParseKey: "Enter", "Tab", "F5",
// "Ctrl-C", "Shift-Tab", "Up"...), encoded for the screen's cursor-keys mode.
func (s *Session) Press(key string) error {
	k, err := ParseKey(key)
	if err != nil {
		return err
	}
	return s.Send(k.Encode(s.screen.CursorKeysApplication()))
}

// Resize changes the screen size and tells the host (telnet NAWS, SSH
// window-change).
func (s *Session) Resize(rows, cols int) error {
	if rows <= 0 || cols <= 0 {
		return fmt.Errorf("resize: invalid size %dx%d", rows, cols)
	}
	s.screen.Resize(rows, cols)
	rows, cols = s.screen.Size()
	lk := s.current()
	if err := lk.errIfDone(); err != nil {
		return fmt.Errorf("resize: %w", err)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := lk.st.Resize(rows, cols); err != nil {
		return fmt.Errorf("resize: %w", err)
	}
	return nil
}

// Name returns the session definition's name.
func (s *Session) Name() string { return s.name }

// Info returns the session definition of the current connection.
func (s *Session) Info() SessionInfo { return s.current().st.launch.Session }

// ProxySession returns the proxy's Termgate-Session id of the current tunnel.
func (s *Session) ProxySession() string { return s.current().st.tunnel.SessionID() }

// Terminal returns the VT screen, for what the Session methods do not cover
// (attributes, modes, scrollback, title).
func (s *Session) Terminal() *vt.Screen { return s.screen }

// Screen returns the rows of the screen as text, trailing spaces trimmed.
func (s *Session) Screen() []string { return s.screen.Rows() }

// String returns the screen's rows joined by newlines.
func (s *Session) String() string { return s.screen.String() }

// Cell returns the cell at (row, col), both 0-based.
func (s *Session) Cell(row, col int) vt.Cell { return s.screen.Cell(row, col) }

// Cursor returns the cursor position, 0-based.
func (s *Session) Cursor() (row, col int) {
	row, col, _ = s.screen.Cursor()
	return row, col
}

// Size returns the screen size.
func (s *Session) Size() (rows, cols int) { return s.screen.Size() }

// Text returns n cells of row from col as text (trailing spaces kept).
func (s *Session) Text(row, col, n int) string { return s.screen.Text(row, col, n) }

// Done returns a channel closed when the current connection ends (the host
// or the proxy closed it, it broke, or Close was called). After a
// Reconnect, Done returns the new connection's channel.
func (s *Session) Done() <-chan struct{} { return s.current().done }

// Err returns why the current connection ended: nil while it is up,
// ErrClosed after Close, an error wrapping io.EOF if the host closed it, or
// the error that broke it.
func (s *Session) Err() error { return s.current().errIfDone() }

// WaitForText waits until text appears on the screen (a row, or across
// rows joined by "\n").
func (s *Session) WaitForText(ctx context.Context, text string) error {
	return s.wait(ctx, fmt.Sprintf("text %q", text), func() bool {
		return strings.Contains(s.screen.String(), text)
	})
}

// WaitForRegexp waits until re matches the screen (its rows joined by "\n")
// and returns the match and its submatches.
func (s *Session) WaitForRegexp(ctx context.Context, re *regexp.Regexp) ([]string, error) {
	var m []string
	err := s.wait(ctx, fmt.Sprintf("regexp %q", re.String()), func() bool {
		m = re.FindStringSubmatch(s.screen.String())
		return m != nil
	})
	return m, err
}

// WaitForCursor waits until the cursor is at (row, col), 0-based.
func (s *Session) WaitForCursor(ctx context.Context, row, col int) error {
	return s.wait(ctx, fmt.Sprintf("cursor at %d,%d", row, col), func() bool {
		r, c := s.Cursor()
		return r == row && c == col
	})
}

// WaitForStable waits until the screen has not changed for quiet (the host
// has finished painting). A connection that has ended counts as stable.
func (s *Session) WaitForStable(ctx context.Context, quiet time.Duration) error {
	if quiet <= 0 {
		return errors.New("wait for stable screen: quiet time must be positive")
	}
	t := time.NewTimer(quiet)
	defer t.Stop()
	for {
		ch := s.screen.Changed()
		select {
		case <-ch:
			t.Reset(quiet)
		case <-t.C:
			return nil
		case <-s.Done():
			return nil
		case <-ctx.Done():
			return fmt.Errorf("wait for stable screen: %w", ctx.Err())
		}
	}
}

// wait blocks until cond holds, woken by screen changes. If the connection
// ends (and no Reconnect replaces it), it fails with the reason.
func (s *Session) wait(ctx context.Context, what string, cond func() bool) error {
	for {
		ch := s.screen.Changed()
		if cond() {
			return nil
		}
		lk := s.current()
		select {
		case <-ch:
		case <-lk.done:
			if cond() {
				return nil
			}
			if s.current() != lk {
				continue // reconnected meanwhile
			}
			return fmt.Errorf("wait for %s: %w", what, lk.err)
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %w", what, ctx.Err())
		}
	}
}

// Reconnect opens a new connection for the same session definition: a fresh
// launch (a new token; tokens are single-use) and a new dial, which the load
// balancer may send to another proxy node. The previous connection, if still
// up, is closed. The screen is kept (the host usually repaints it).
func (s *Session) Reconnect(ctx context.Context) (*ReconnectInfo, error) {
	s.reconnectMu.Lock()
	defer s.reconnectMu.Unlock()
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	l, err := s.client.Launch(ctx, s.name, LaunchOptions{NoProof: s.opts.NoProof})
	if err != nil {
		return nil, fmt.Errorf("reconnect: %w", err)
	}
	if err := checkProtocol(l.Session.Protocol); err != nil {
		return nil, fmt.Errorf("reconnect: %w", err)
	}
	lk, err := s.connect(ctx, l)
	if err != nil {
		return nil, fmt.Errorf("reconnect: %w", err)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		lk.close()
		return nil, ErrClosed
	}
	old := s.cur
	s.mu.Unlock()
	cause := old.errIfDone()
	_ = old.close() // frees the old tunnel even if the host already ended it
	<-old.done
	s.mu.Lock()
	if s.closed { // Close ran while the old connection was ending
		s.mu.Unlock()
		lk.close()
		return nil, ErrClosed
	}
	s.cur = lk
	s.reconnects++
	info := ReconnectInfo{
		Attempt:      s.reconnects,
		Cause:        cause,
		Proxy:        l.Proxy.Address,
		ProxySession: lk.st.tunnel.SessionID(),
		ExpiresAt:    l.ExpiresAt,
	}
	s.wg.Add(1)
	go s.readLoop(lk)
	s.mu.Unlock()
	s.log.Info().Str("ses", s.name).Int("attempt", info.Attempt).AnErr("cause", cause).
		Str("proxy_session", info.ProxySession).Msg("session reconnected")
	if s.opts.OnReconnect != nil {
		s.opts.OnReconnect(info)
	}
	return &info, nil
}

// Close ends the session and waits for its goroutines. It is idempotent.
func (s *Session) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	lk := s.cur
	s.mu.Unlock()
	// An error closing a connection the host may already have ended says
	// nothing useful; the recorder's does.
	_ = lk.close()
	s.wg.Wait()
	var err error
	if s.rec != nil {
		err = s.rec.Close()
	}
	return err
}

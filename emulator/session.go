package emulator

import (
	"context"
	"errors"
	"fmt"
	"github.com/termgate/termgate/emulator/metering"
	"io"
	"net"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/termgate/termgate/emulator/ssh"
	"github.com/termgate/termgate/emulator/tn3270"
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
	// For a tn3270 session it names the 3278 model (see ParseModel); empty
	// there means the definition's model, else IBM-3278-2-E.
	TerminalType string
	// Rows and Cols override the definition's screen size. Zero: the
	// definition's, else 24×80. A 3270 model fixes its screen size: for a
	// tn3270 session they must be zero or one of the model's two sizes.
	Rows, Cols int
	// TN3270 configures a tn3270 session's terminal. LU and NoTN3270E are
	// used as given. Model and Basic come from TerminalType or the
	// definition's model unless Model is set; an empty CodePage means the
	// definition's code page, else 037; a zero WriteTimeout means the
	// session's; the Logger is the session's.
	TN3270 tn3270.Config
	// SSH holds the credentials and host-key check of an ssh session (they
	// belong to the caller, not to termgate). TerminalType, Rows and Cols
	// are set by the Session. An empty HostKey defaults to the host key of
	// the session definition, if it carries one.
	SSH ssh.Config
	// NoProof launches with a plain bearer token (see LaunchOptions).
	NoProof bool
	// Recorder, if set, receives the bytes from the host as an asciicast v2
	// recording (what the user saw; typed input is not recorded, so that
	// passwords do not end up in recordings). A tn3270 session records the
	// screen as a user saw it (hidden fields, such as passwords, blank)
	// each time it changes; changes close together may share one frame.
	Recorder io.Writer
	// NoMetering turns off the metering heartbeats that a session sends
	// while it is open when the management server asks for them.
	NoMetering bool
	// OnMetering, if set, is called when metering delivery stops or
	// resumes or heartbeats are dropped. Metering never blocks or ends a
	// session.
	OnMetering func(metering.Status)
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

// link is one connection of a Session: a Stream feeding the VT screen, or
// a 3270 terminal.
type link struct {
	launch  *Launch
	tunnel  *Conn
	st      *Stream          // VT sessions
	term    *tn3270.Terminal // tn3270 sessions
	rconn   *readErrConn     // tn3270 sessions: the tunnel as the terminal reads it
	meter   *metering.Sender // nil when metering is off
	done    chan struct{}    // closed when the reader ends
	err     error            // why; valid after done
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
	if lk.term != nil {
		return lk.term.Close()
	}
	return lk.st.Close()
}

// Session is a terminal session through the proxy: the connection and
// either a VT screen fed by a telnet, SSH or raw TCP stream, or an IBM 3270
// terminal over TN3270/TN3270E.
//
// Both kinds share Screen, String, Cursor, Size, Text, Cell, the waits
// (WaitForText, WaitForRegexp, WaitForCursor, WaitForStable), Type, Press,
// Done, Err, Reconnect and Close. Send and Resize are VT only and fail with
// ErrNotVT on a 3270 session; Fields, FieldAt, SetField, Keyboard and
// WaitForUnlock are 3270 only and fail with ErrNotTN3270 on a VT session.
// Positions are 0-based (row, col) everywhere.
//
// Its methods are safe for concurrent use: one goroutine may wait for the
// screen while another types.
type Session struct {
	client  *Client
	name    string
	opts    SessionOptions
	log     zerolog.Logger
	proto   string           // the definition's protocol at Open
	screen  *vt.Screen       // VT sessions; nil for tn3270
	cfg     *tn3270.Config   // tn3270 sessions; nil for VT
	rec     *vt.CastRecorder // nil without SessionOptions.Recorder
	recMu   sync.Mutex       // orders tn3270 frames; guards recLast and recDone
	recLast string           // the last tn3270 frame written
	recDone bool             // the recorder is closed
	ttype   string

	mu         sync.Mutex
	cur        *link
	closed     bool
	reconnects int
	wg         sync.WaitGroup // reader goroutines

	reconnectMu sync.Mutex // one Reconnect at a time
	wmu         sync.Mutex // serialises writes to the host
}

// Open launches the session definition name, dials the proxy, starts the
// protocol and returns the Session: a VT screen for telnet, ssh and tcp
// definitions, a 3270 terminal for tn3270 ones (model and code page from
// the definition's terminal). It fails with ErrUnsupportedProtocol for any
// other protocol (ftp has its own client, package ftpchan).
func Open(ctx context.Context, c *Client, name string, opts SessionOptions) (*Session, error) {
	l, err := c.Launch(ctx, name, LaunchOptions{NoProof: opts.NoProof})
	if err != nil {
		return nil, err
	}
	if err := checkProtocol(l.Session.Protocol); err != nil {
		return nil, fmt.Errorf("open %q: %w", name, err)
	}
	s := &Session{client: c, name: name, opts: opts, log: opts.Logger, proto: l.Session.Protocol}
	var rows, cols int
	if l.Session.Protocol == ProtoTN3270 {
		cfg, err := tn3270Config(l.Session.Terminal, opts)
		if err != nil {
			return nil, fmt.Errorf("open %q: %w", name, err)
		}
		s.cfg = &cfg
		m, _ := tn3270.LookupModel(cfg.Model) // checked by tn3270Config
		s.ttype = m.TerminalType(!cfg.Basic)
		rows, cols = max(m.Rows, m.AltRows), max(m.Cols, m.AltCols) // the recording's size
	} else {
		rows, cols = opts.Rows, opts.Cols
		if rows <= 0 {
			rows = l.Session.Terminal.Rows
		}
		if cols <= 0 {
			cols = l.Session.Terminal.Cols
		}
		s.ttype = opts.TerminalType
		if s.ttype == "" {
			s.ttype = l.Session.Terminal.Model
		}
		if s.ttype == "" {
			s.ttype = "xterm"
		}
		s.screen = vt.New(vt.Config{Rows: rows, Cols: cols, Reply: replyWriter{s}})
		rows, cols = s.screen.Size()
	}
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
		if s.rec != nil {
			_ = s.rec.Close()
		}
		return nil, fmt.Errorf("open %q: %w", name, err)
	}
	s.cur = lk
	s.start(lk)
	s.log.Debug().Str("ses", name).Str("proto", l.Session.Protocol).Str("dst", l.Session.Target()).
		Str("proxy_session", lk.tunnel.SessionID()).Msg("session open")
	return s, nil
}

func checkProtocol(p string) error {
	switch p {
	case ProtoTelnet, ProtoSSH, ProtoTCP, ProtoTN3270, "":
		return nil
	}
	return fmt.Errorf("%w %q: a Session drives telnet, ssh, tcp and tn3270 sessions", ErrUnsupportedProtocol, p)
}

// is3270 reports whether the Session is a 3270 terminal.
func (s *Session) is3270() bool { return s.cfg != nil }

// start runs the goroutine that follows lk until it ends (s.mu held or
// not yet shared).
func (s *Session) start(lk *link) {
	if lk.meter != nil {
		// Heartbeats run while this connection lives.
		lk.meter.Start(context.Background())
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			<-lk.done
			lk.meter.Stop()
		}()
	}
	s.wg.Add(1)
	if lk.term != nil {
		go s.watch3270(lk)
		return
	}
	go s.readLoop(lk)
}

// connect dials the proxy for l and starts the protocol.
func (s *Session) connect(ctx context.Context, l *Launch) (*link, error) {
	lk, err := s.dialLink(ctx, l)
	if err != nil {
		return nil, err
	}
	lk.meter = s.newMeter(l)
	return lk, nil
}

// newMeter returns the metering sender for l, or nil when the management
// server did not ask for metering or the caller turned it off. A metering
// set-up problem is logged and never fails the session.
func (s *Session) newMeter(l *Launch) *metering.Sender {
	m := l.Metering
	if s.opts.NoMetering || m.Address == "" || m.Ticket == "" {
		return nil
	}
	addrs := m.Addresses
	if len(addrs) == 0 {
		addrs = []string{m.Address}
	}
	snd, err := metering.New(metering.Config{Addresses: addrs, Interval: m.Interval,
		Ticket: m.Ticket.Reveal(), TrustStore: m.TrustStore, OnStatus: s.opts.OnMetering})
	if err != nil {
		s.log.Warn().Err(err).Str("ses", s.name).Msg("metering off for this session")
		return nil
	}
	return snd
}

// dialLink dials the proxy for l and starts the protocol.
func (s *Session) dialLink(ctx context.Context, l *Launch) (*link, error) {
	if s.is3270() {
		return s.connect3270(ctx, l)
	}
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
	return &link{launch: l, tunnel: st.tunnel, st: st, done: make(chan struct{})}, nil
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
			case errors.Is(err, ErrProxyLost):
				lk.err = err
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

// Send writes raw bytes to the host of a VT session (ErrNotVT on a 3270
// session, whose input is fields and keys).
func (s *Session) Send(p []byte) error {
	if s.is3270() {
		return fmt.Errorf("send: %w: a 3270 session takes Type, SetField and Press", ErrNotVT)
	}
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
	_ = lk.tunnel.SetWriteDeadline(time.Now().Add(timeout))
	_, err := lk.st.Write(p)
	_ = lk.tunnel.SetWriteDeadline(time.Time{})
	if err != nil {
		return fmt.Errorf("send: %w", err)
	}
	return nil
}

// Type sends text as typed on the keyboard ("\r" is the Enter key).
//
// On a 3270 session the text is entered at the cursor with the field rules
// of a real terminal (see tn3270.Engine.Type): "\t" is Tab, "\n" Newline,
// and a "\r" at the end presses Enter. Enter sends the screen to the host
// and locks the keyboard until the host answers, so a "\r" anywhere else
// is refused (an error wrapping tn3270.ErrKeyboardLocked, nothing typed):
// type the rest after WaitForUnlock.
func (s *Session) Type(text string) error {
	if s.is3270() {
		return s.type3270(text)
	}
	return s.Send([]byte(text))
}

// Press sends a key by name (see ParseKey: "Enter", "Tab", "F5",
// "Ctrl-C", "Shift-Tab", "Up"...), encoded for the screen's cursor-keys mode.
// On a 3270 session it presses a 3270 key ("PF3", "PA1", "Clear",
// "EraseEOF", "Enter"...); an AID key (Enter, PF, PA, Clear, SysReq) sends
// the screen to the host and locks the keyboard until the host answers
// (WaitForUnlock). A key of the other keyboard fails with ErrNotVT or
// ErrNotTN3270.
func (s *Session) Press(key string) error {
	k, err := ParseKey(key)
	if err != nil {
		return err
	}
	if s.is3270() {
		return s.press3270(k)
	}
	if !k.VT() {
		return fmt.Errorf("press %s: %w: that is a 3270 key and %q is a %s session", key, ErrNotTN3270, s.name, s.proto)
	}
	return s.Send(k.Encode(s.screen.CursorKeysApplication()))
}

// Resize changes the screen size and tells the host (telnet NAWS, SSH
// window-change). A 3270 model fixes its screen size: ErrNotVT there.
func (s *Session) Resize(rows, cols int) error {
	if s.is3270() {
		return fmt.Errorf("resize: %w: a 3270 model fixes the screen size", ErrNotVT)
	}
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
func (s *Session) Info() SessionInfo { return s.current().launch.Session }

// Protocol returns the session's protocol: telnet, ssh, tcp or tn3270.
func (s *Session) Protocol() string {
	if s.proto == "" {
		return ProtoTelnet
	}
	return s.proto
}

// ProxySession returns the proxy's Termgate-Session id of the current tunnel.
func (s *Session) ProxySession() string { return s.current().tunnel.SessionID() }

// Terminal returns the VT screen, for what the Session methods do not cover
// (attributes, modes, scrollback, title); nil for a 3270 session (see
// TN3270).
func (s *Session) Terminal() *vt.Screen { return s.screen }

// TN3270 returns the 3270 terminal of the current connection, for what the
// Session methods do not cover (extended attributes, insert mode, the
// negotiated mode and LU); nil for a VT session. A Reconnect replaces it.
func (s *Session) TN3270() *tn3270.Terminal {
	if !s.is3270() {
		return nil
	}
	return s.current().term
}

// Screen returns the rows of the screen as text, trailing spaces trimmed.
// A 3270 screen shows what its user sees: field attributes as blanks and
// hidden (non-display) fields, such as passwords, blank.
func (s *Session) Screen() []string {
	if s.is3270() {
		rows := s.current().term.Screen()
		for i, r := range rows {
			rows[i] = strings.TrimRight(r, " ")
		}
		return rows
	}
	return s.screen.Rows()
}

// String returns the screen's rows joined by newlines.
func (s *Session) String() string {
	if s.is3270() {
		return strings.Join(s.Screen(), "\n")
	}
	return s.screen.String()
}

// Cell returns the cell at (row, col), both 0-based; the zero Cell outside
// the screen. A 3270 cell carries only its character.
func (s *Session) Cell(row, col int) vt.Cell {
	if s.is3270() {
		r := []rune(s.row3270(row))
		if col < 0 || col >= len(r) {
			return vt.Cell{}
		}
		return vt.Cell{Rune: r[col], Width: 1}
	}
	return s.screen.Cell(row, col)
}

// Cursor returns the cursor position, 0-based.
func (s *Session) Cursor() (row, col int) {
	if s.is3270() {
		return s.current().term.Cursor()
	}
	row, col, _ = s.screen.Cursor()
	return row, col
}

// Size returns the screen size.
func (s *Session) Size() (rows, cols int) {
	if s.is3270() {
		return s.current().term.Size()
	}
	return s.screen.Size()
}

// Text returns n cells of row from col as text (trailing spaces kept),
// clipped to the screen.
func (s *Session) Text(row, col, n int) string {
	if s.is3270() {
		r := []rune(s.row3270(row))
		col = max(col, 0)
		if n <= 0 || col >= len(r) {
			return ""
		}
		return string(r[col:min(col+n, len(r))])
	}
	return s.screen.Text(row, col, n)
}

// screenText returns the screen's rows joined by newlines, as the waits
// see it.
func (s *Session) screenText() string {
	if s.is3270() {
		return s.current().term.Text()
	}
	return s.screen.String()
}

// changed returns a channel closed at the next change of lk's screen.
func (s *Session) changed(lk *link) <-chan struct{} {
	if lk.term != nil {
		_, ch := lk.term.Changed()
		return ch
	}
	return s.screen.Changed()
}

// Done returns a channel closed when the current connection ends (the host
// or the proxy closed it, it broke, or Close was called). After a
// Reconnect, Done returns the new connection's channel.
func (s *Session) Done() <-chan struct{} { return s.current().done }

// Err returns why the current connection ended: nil while it is up,
// ErrClosed after Close, an error wrapping io.EOF if the host closed it,
// ErrProxyLost if the connection to the proxy just stopped, or the error
// that broke it.
func (s *Session) Err() error { return s.current().errIfDone() }

// WaitForText waits until text appears on the screen (a row, or across
// rows joined by "\n").
func (s *Session) WaitForText(ctx context.Context, text string) error {
	return s.wait(ctx, fmt.Sprintf("text %q", text), func() bool {
		return strings.Contains(s.screenText(), text)
	})
}

// WaitForRegexp waits until re matches the screen (its rows joined by "\n")
// and returns the match and its submatches.
func (s *Session) WaitForRegexp(ctx context.Context, re *regexp.Regexp) ([]string, error) {
	var m []string
	err := s.wait(ctx, fmt.Sprintf("regexp %q", re.String()), func() bool {
		m = re.FindStringSubmatch(s.screenText())
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
		ch := s.changed(s.current())
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
		lk := s.current()
		ch := s.changed(lk)
		if cond() {
			return nil
		}
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
// up, is closed. A VT screen is kept (the host usually repaints it); a 3270
// session gets a fresh terminal, which the host paints.
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
	if (l.Session.Protocol == ProtoTN3270) != s.is3270() {
		return nil, fmt.Errorf("reconnect: the session definition changed from %s to %s: open the session again", s.Protocol(), l.Session.Protocol)
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
		ProxySession: lk.tunnel.SessionID(),
		ExpiresAt:    l.ExpiresAt,
	}
	s.start(lk)
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
		s.recMu.Lock()
		err = s.rec.Close()
		s.recDone = true
		s.recMu.Unlock()
	}
	return err
}

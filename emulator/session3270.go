package emulator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"

	"github.com/termgate/termgate/emulator/tn3270"
)

// ParseModel parses the terminal model of a tn3270 session definition:
// "IBM-3278-2", "IBM-3278-2-E", "3278-4", "3279-5-E", or a bare model
// number "2" to "5". Case and blanks do not matter; "" is model 2. A name
// that spells out the terminal type without "-E" asks for the basic type
// (basic is true: no extended attributes, no query reply); "-E" or a bare
// number asks for the extended type. A 3279 identifies itself as the 3278
// of the same model. Other names fail with an error wrapping
// tn3270.ErrBadModel.
func ParseModel(name string) (model int, basic bool, err error) {
	n := strings.ToUpper(strings.TrimSpace(name))
	if n == "" {
		return 2, false, nil
	}
	n = strings.TrimPrefix(strings.TrimPrefix(n, "IBM-"), "IBM")
	ext := false
	if m, ok := strings.CutSuffix(n, "-E"); ok {
		n, ext = m, true
	}
	named := false
	for _, p := range []string{"3278-", "3279-"} {
		if m, ok := strings.CutPrefix(n, p); ok {
			n, named = m, true
			break
		}
	}
	if len(n) != 1 || n[0] < '2' || n[0] > '5' {
		return 0, false, fmt.Errorf("%w: terminal model %q: want IBM-3278-2 to IBM-3278-5, with -E for the extended type, or a model number 2 to 5", tn3270.ErrBadModel, name)
	}
	return int(n[0] - '0'), named && !ext, nil
}

// tn3270Config derives the terminal configuration of a tn3270 session from
// the definition's terminal and the options.
func tn3270Config(def Terminal, opts SessionOptions) (tn3270.Config, error) {
	cfg := opts.TN3270
	if cfg.Model == 0 {
		name := opts.TerminalType
		if name == "" {
			name = def.Model
		}
		model, basic, err := ParseModel(name)
		if err != nil {
			return cfg, err
		}
		cfg.Model, cfg.Basic = model, basic
	}
	m, err := tn3270.LookupModel(cfg.Model)
	if err != nil {
		return cfg, fmt.Errorf("terminal model %d: %w", cfg.Model, err)
	}
	if opts.Rows > 0 || opts.Cols > 0 {
		if (opts.Rows != m.Rows || opts.Cols != m.Cols) && (opts.Rows != m.AltRows || opts.Cols != m.AltCols) {
			return cfg, fmt.Errorf("screen size %dx%d: a 3270 model fixes its size and %s has %dx%d (alternate %dx%d); choose the model instead (27x132 is model 5)",
				opts.Rows, opts.Cols, m.TerminalType(!cfg.Basic), m.Rows, m.Cols, m.AltRows, m.AltCols)
		}
	}
	if cfg.CodePage == "" {
		cfg.CodePage = def.Codepage
	}
	if _, err := tn3270.LookupCodePage(cfg.CodePage); err != nil {
		return cfg, err
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = opts.WriteTimeout
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	cfg.Logger = opts.Logger
	return cfg, nil
}

// readErrConn remembers the first read error of the tunnel, so that the
// Session can say why a 3270 connection ended (the terminal only says that
// it did).
type readErrConn struct {
	net.Conn
	mu  sync.Mutex
	err error
}

func (c *readErrConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil {
		c.mu.Lock()
		if c.err == nil {
			c.err = err
		}
		c.mu.Unlock()
	}
	return n, err
}

func (c *readErrConn) readErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// connect3270 dials the proxy for l and negotiates TN3270(E) with the host.
// The negotiation is bounded by the dial timeout.
func (s *Session) connect3270(ctx context.Context, l *Launch) (*link, error) {
	timeout := s.opts.DialTimeout
	if timeout <= 0 {
		timeout = DefaultDialTimeout
	}
	tun, err := dialLaunch(ctx, l, timeout, s.opts.DialContext)
	if err != nil {
		return nil, err
	}
	rc := &readErrConn{Conn: tun}
	nctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	term, err := tn3270.Open(nctx, rc, *s.cfg) // closes rc on failure
	if err != nil {
		return nil, fmt.Errorf("tn3270 to %s: %w", l.Session.Target(), err)
	}
	return &link{launch: l, tunnel: tun, term: term, rconn: rc, done: make(chan struct{})}, nil
}

// watch3270 follows a 3270 connection: it records each new screen and, when
// the terminal ends, says why and closes lk.done.
func (s *Session) watch3270(lk *link) {
	defer s.wg.Done()
	for {
		_, ch := lk.term.Changed()
		if s.rec != nil {
			s.record3270(lk.term)
		}
		select {
		case <-ch:
		case <-lk.term.Done():
			if s.rec != nil {
				s.record3270(lk.term)
			}
			rerr := lk.rconn.readErr()
			switch {
			case lk.closing.Load():
				lk.err = ErrClosed
			case errors.Is(rerr, ErrProxyLost):
				lk.err = rerr
			case errors.Is(rerr, io.EOF):
				lk.err = fmt.Errorf("the host closed the connection: %w", io.EOF)
			case rerr != nil:
				lk.err = fmt.Errorf("connection lost: %w", rerr)
			default: // the terminal ended it: the host broke the protocol
				lk.err = fmt.Errorf("connection lost: the host's 3270 data stream was not acceptable: %w", tn3270.ErrClosed)
			}
			s.log.Debug().Err(lk.err).Str("ses", s.name).Msg("session connection ended")
			close(lk.done)
			return
		}
	}
}

// record3270 writes the screen to the recording if it differs from the
// last frame written.
func (s *Session) record3270(t *tn3270.Terminal) {
	s.recMu.Lock()
	defer s.recMu.Unlock()
	if s.recDone {
		return
	}
	rows := t.Screen()
	r, c := t.Cursor()
	var b strings.Builder
	b.WriteString("\x1b[H\x1b[2J")
	for i, row := range rows {
		if i > 0 {
			b.WriteString("\r\n")
		}
		b.WriteString(strings.TrimRight(row, " "))
	}
	fmt.Fprintf(&b, "\x1b[%d;%dH", r+1, c+1)
	frame := b.String()
	if frame == s.recLast {
		return
	}
	s.recLast = frame
	if _, err := s.rec.Write([]byte(frame)); err != nil {
		s.log.Warn().Err(err).Msg("session recording failed")
	}
}

// row3270 returns row of the 3270 screen, untrimmed ("" outside it).
func (s *Session) row3270(row int) string {
	rows := s.current().term.Screen()
	if row < 0 || row >= len(rows) {
		return ""
	}
	return rows[row]
}

// live3270 returns the current connection of a 3270 session that is still
// up, or why there is none.
func (s *Session) live3270(what string) (*link, error) {
	if !s.is3270() {
		return nil, fmt.Errorf("%s: %w: %q is a %s session", what, ErrNotTN3270, s.name, s.Protocol())
	}
	s.mu.Lock()
	lk, closed := s.cur, s.closed
	s.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("%s: %w", what, ErrClosed)
	}
	if err := lk.errIfDone(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return lk, nil
}

// do3270 runs op on the live terminal. If the terminal ended meanwhile, the
// error says why the connection ended.
func (s *Session) do3270(what string, op func(t *tn3270.Terminal) error) error {
	lk, err := s.live3270(what)
	if err != nil {
		return err
	}
	if s.rec != nil {
		// The screen the user acts on is recorded before the input can
		// change it, even if the watcher has not seen it yet.
		s.record3270(lk.term)
	}
	if err := op(lk.term); err != nil {
		if errors.Is(err, tn3270.ErrClosed) {
			<-lk.done // the terminal's read loop has ended: lk.done follows
			return fmt.Errorf("%s: %w", what, lk.err)
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

func (s *Session) type3270(text string) error {
	text, enter := strings.CutSuffix(text, "\r")
	if strings.Contains(text, "\r") {
		return fmt.Errorf("type: %w: on a 3270 session \"\\r\" (Enter) may only end the text: the keyboard stays locked until the host answers, so type the rest after WaitForUnlock", tn3270.ErrKeyboardLocked)
	}
	return s.do3270("type", func(t *tn3270.Terminal) error {
		if text != "" {
			if err := t.Type(text); err != nil {
				return err
			}
		}
		if enter {
			return t.Press(tn3270.KeyEnter)
		}
		return nil
	})
}

func (s *Session) press3270(k Key) error {
	tk, ok := k.TN3270()
	if !ok {
		return fmt.Errorf("press %s: %w: a 3270 keyboard has no such key (use PF1-PF24, PA1-PA3, Clear, Enter, Tab, EraseEOF...)", k, ErrNotVT)
	}
	return s.do3270("press "+k.String(), func(t *tn3270.Terminal) error { return t.Press(tk) })
}

// Fields returns the fields of a 3270 screen in buffer order (nil on an
// unformatted screen). Positions are 0-based; the contents of hidden fields
// are blanks. ErrNotTN3270 on a VT session.
func (s *Session) Fields() ([]tn3270.Field, error) {
	if !s.is3270() {
		return nil, fmt.Errorf("fields: %w: %q is a %s session", ErrNotTN3270, s.name, s.Protocol())
	}
	return s.current().term.Fields(), nil
}

// FieldAt returns the 3270 field containing (row, col), 0-based (its
// attribute position included). It fails with an error wrapping
// tn3270.ErrNoField on an unformatted screen or outside the screen, and
// with ErrNotTN3270 on a VT session.
func (s *Session) FieldAt(row, col int) (tn3270.Field, error) {
	if !s.is3270() {
		return tn3270.Field{}, fmt.Errorf("field at %d,%d: %w: %q is a %s session", row, col, ErrNotTN3270, s.name, s.Protocol())
	}
	f, ok := s.current().term.FieldAt(row, col)
	if !ok {
		return tn3270.Field{}, &tn3270.FieldError{Row: row, Col: col, Err: tn3270.ErrNoField}
	}
	return f, nil
}

// SetField replaces the contents of the unprotected 3270 field containing
// (row, col), 0-based, with text, sets its modified bit and leaves the
// cursor after the text. It works for hidden fields too (their contents go
// only to the host). Errors wrap *tn3270.FieldError (ErrProtected,
// ErrNumeric, ErrTooLong, ErrNoField, ErrKeyboardLocked, ErrUnencodable),
// the reason the connection ended, or ErrNotTN3270 on a VT session.
func (s *Session) SetField(row, col int, text string) error {
	return s.do3270("set field", func(t *tn3270.Terminal) error { return t.SetField(row, col, text) })
}

// Keyboard returns the state of a 3270 keyboard: tn3270.Unlocked when it
// takes input, else why not (waiting for the host, an operator error that
// the Reset key clears, or disconnected). ErrNotTN3270 on a VT session.
func (s *Session) Keyboard() (tn3270.KeyboardState, error) {
	if !s.is3270() {
		return 0, fmt.Errorf("keyboard: %w: %q is a %s session", ErrNotTN3270, s.name, s.Protocol())
	}
	return s.current().term.Keyboard(), nil
}

// WaitForUnlock waits until the 3270 keyboard takes input: after an AID key
// (Enter, PF, PA, Clear), the host has answered. It fails with the reason if
// the connection ends, with ctx's error on timeout, and with ErrNotTN3270
// on a VT session. An operator error (typing into a protected field) is a
// lock only the Reset key clears, so a wait for it lasts until ctx ends.
func (s *Session) WaitForUnlock(ctx context.Context) error {
	if !s.is3270() {
		return fmt.Errorf("wait for keyboard unlock: %w: %q is a %s session", ErrNotTN3270, s.name, s.Protocol())
	}
	return s.wait(ctx, "keyboard unlock", func() bool {
		return s.current().term.Keyboard() == tn3270.Unlocked
	})
}

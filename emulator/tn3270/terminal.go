package tn3270

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Config configures a Terminal. The zero value is a model 2 terminal that
// asks for TN3270E with the extended (-E) terminal type and code page 037.
type Config struct {
	// Model is the 3278 model: 2 (24x80, the default when 0), 3 (32x80),
	// 4 (43x80) or 5 (27x132). The alternate size is the model's.
	Model int
	// Basic asks for the basic terminal type IBM-3278-n instead of
	// IBM-3278-n-E (no extended attributes, no structured fields).
	Basic bool
	// NoTN3270E refuses TN3270E and speaks plain TN3270 (RFC 1576). By
	// default TN3270E is accepted when the host offers it, and plain
	// TN3270 is used when the host refuses or never offers it.
	NoTN3270E bool
	// LU asks the host for a specific LU name (TN3270E CONNECT). Empty
	// lets the host choose.
	LU string
	// CodePage is the EBCDIC code page: 037 (the default), 1047, 500, 273,
	// 285 or 297.
	CodePage string
	// WriteTimeout bounds each write to the host; 0 means 10 seconds.
	WriteTimeout time.Duration
	// Logger receives protocol events; the zero value logs nothing.
	Logger zerolog.Logger
}

// Terminal is a 3270 terminal connected to a host. It is safe for
// concurrent use: a goroutine reads the host's records into the engine while
// callers read the screen and press keys.
type Terminal struct {
	conn    net.Conn
	log     zerolog.Logger
	wtime   time.Duration
	wmu     sync.Mutex // serialises writes to conn
	readerr error      // set by the read loop before done closes

	mu         sync.Mutex // guards everything below
	eng        *Engine
	neg        *negotiator
	seq        uint16
	gen        uint64
	changed    chan struct{}
	negotiated chan struct{}
	negDone    bool
	closed     bool

	done      chan struct{} // closed when the read loop returns
	closeOnce sync.Once
}

// Open negotiates TN3270 or TN3270E over conn and returns the connected
// terminal. ctx bounds the negotiation only. The Terminal owns conn from
// then on; Close closes it. If negotiation fails, conn is closed.
func Open(ctx context.Context, conn net.Conn, cfg Config) (*Terminal, error) {
	model, err := LookupModel(cfg.Model)
	if err != nil {
		conn.Close()
		return nil, err
	}
	cp, err := LookupCodePage(cfg.CodePage)
	if err != nil {
		conn.Close()
		return nil, err
	}
	t := &Terminal{
		conn:       conn,
		log:        cfg.Logger,
		wtime:      cfg.WriteTimeout,
		eng:        NewEngine(model, cp, cfg.Logger),
		changed:    make(chan struct{}),
		negotiated: make(chan struct{}),
		done:       make(chan struct{}),
	}
	if t.wtime <= 0 {
		t.wtime = 10 * time.Second
	}
	tt := model.TerminalType(!cfg.Basic)
	t.neg = newNegotiator(tt, tt, !cfg.NoTN3270E, cfg.LU)
	go t.readLoop()
	select {
	case <-t.negotiated:
		t.log.Debug().Stringer("mode", t.Mode()).Str("lu", t.LU()).Msg("tn3270: negotiated")
		return t, nil
	case <-t.done:
		t.Close()
		return nil, fmt.Errorf("%w: %w", ErrNegotiation, t.readerr)
	case <-ctx.Done():
		t.Close()
		return nil, fmt.Errorf("%w: %w", ErrNegotiation, ctx.Err())
	}
}

// Mode returns the negotiated protocol.
func (t *Terminal) Mode() Mode {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.neg.mode()
}

// LU returns the LU name the host assigned in TN3270E mode ("" otherwise).
func (t *Terminal) LU() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.neg.eLU
}

// readLoop reads the host until the connection ends.
func (t *Terminal) readLoop() {
	defer close(t.done)
	var dec Decoder
	buf := make([]byte, 16<<10)
	for {
		n, err := t.conn.Read(buf)
		if n > 0 {
			if ferr := dec.Feed(buf[:n], t.event); ferr != nil {
				t.log.Warn().Err(ferr).Msg("tn3270: closing connection")
				err = ferr
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				err = ErrClosed
			}
			t.readerr = err
			t.mu.Lock()
			t.eng.SetDisconnected()
			t.closed = true
			t.notifyLocked()
			t.mu.Unlock()
			t.conn.Close()
			return
		}
	}
}

// event handles one decoded telnet event (read loop only).
func (t *Terminal) event(ev Event) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch ev.Kind {
	case EventOption, EventSubneg:
		before := t.neg.mode()
		out, err := t.neg.handle(ev)
		if err != nil {
			return err
		}
		if len(out) > 0 {
			if err := t.writeLocked(out); err != nil {
				return err
			}
		}
		if before == ModeNone && t.neg.mode() != ModeNone && !t.negDone {
			t.negDone = true
			close(t.negotiated)
		}
		return nil
	case EventRecord:
		return t.recordLocked(ev.Data)
	}
	return nil
}

// recordLocked applies one host record, sending any reply or TN3270E
// response.
func (t *Terminal) recordLocked(rec []byte) error {
	mode := t.neg.mode()
	if mode == ModeNone {
		t.log.Debug().Int("bytes", len(rec)).Msg("tn3270: record before negotiation ignored")
		return nil
	}
	var h Header
	if mode == ModeTN3270E {
		var err error
		h, rec, err = ParseHeader(rec)
		if err != nil {
			t.log.Warn().Err(err).Msg("tn3270: record dropped")
			return nil
		}
		if h.DataType != Data3270 {
			t.log.Debug().Stringer("header", h).Msg("tn3270: non-3270 record ignored")
			return nil
		}
	}
	reply, perr := t.eng.Process(rec)
	t.notifyLocked()
	if perr != nil {
		t.log.Warn().Err(perr).Msg("tn3270: host record")
	}
	if mode == ModeTN3270E && t.neg.responsesOn() &&
		(h.ResponseFlag == RespAlways || (h.ResponseFlag == RespError && perr != nil)) {
		r := Header{DataType: DataResp, ResponseFlag: RespPositive, Seq: h.Seq}
		body := RespDeviceEnd
		if perr != nil {
			r.ResponseFlag, body = RespNegative, RespCommandReject
		}
		if err := t.writeLocked(AppendRecord(nil, append(r.Append(nil), body))); err != nil {
			return err
		}
	}
	if reply != nil {
		return t.sendRecordLocked(reply)
	}
	return nil
}

// sendRecordLocked sends an inbound 3270 record, with a TN3270E header
// when that mode is on.
func (t *Terminal) sendRecordLocked(rec []byte) error {
	var out []byte
	if t.neg.mode() == ModeTN3270E {
		h := Header{DataType: Data3270, Seq: t.seq}
		t.seq++
		out = AppendRecord(nil, append(h.Append(nil), rec...))
	} else {
		out = AppendRecord(nil, rec)
	}
	return t.writeLocked(out)
}

func (t *Terminal) writeLocked(p []byte) error {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	if err := t.conn.SetWriteDeadline(time.Now().Add(t.wtime)); err != nil {
		return err
	}
	_, err := t.conn.Write(p)
	return err
}

// notifyLocked wakes every waiter and starts a new generation.
func (t *Terminal) notifyLocked() {
	t.gen++
	close(t.changed)
	t.changed = make(chan struct{})
}

// Changed returns the current generation and a channel that is closed at
// the next change of the screen, keyboard or connection: wait on it instead
// of polling.
func (t *Terminal) Changed() (gen uint64, ch <-chan struct{}) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.gen, t.changed
}

// Screen returns the rows as a 3270 user sees them (hidden fields blank).
func (t *Terminal) Screen() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.eng.Screen()
}

// Text returns Screen joined with newlines.
func (t *Terminal) Text() string { return strings.Join(t.Screen(), "\n") }

// Size returns the current screen size.
func (t *Terminal) Size() (rows, cols int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.eng.Size()
}

// Fields returns the fields of the screen in buffer order.
func (t *Terminal) Fields() []Field {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.eng.Fields()
}

// FieldAt returns the field containing row, col.
func (t *Terminal) FieldAt(row, col int) (Field, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.eng.FieldAt(row, col)
}

// Cursor returns the cursor position (0-based).
func (t *Terminal) Cursor() (row, col int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.eng.Cursor()
}

// MoveCursor moves the cursor (clamped to the screen).
func (t *Terminal) MoveCursor(row, col int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.eng.MoveCursor(row, col)
	t.notifyLocked()
}

// Keyboard returns the keyboard state.
func (t *Terminal) Keyboard() KeyboardState {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.eng.Keyboard()
}

// SetField fills the unprotected field at row, col; see Engine.SetField.
func (t *Terminal) SetField(row, col int, text string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	err := t.eng.SetField(row, col, text)
	t.notifyLocked()
	return err
}

// Type types text at the cursor; see Engine.Type.
func (t *Terminal) Type(text string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	err := t.eng.Type(text)
	t.notifyLocked()
	return err
}

// Press presses a key. AID keys send their record to the host at once and
// lock the keyboard until the host restores it. Attn sends telnet BREAK (IP
// in TN3270E mode); SysReq in TN3270E mode sends telnet AO, and in TN3270
// mode a Test Request Read.
func (t *Terminal) Press(k Key) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrClosed
	}
	defer t.notifyLocked()
	e := t.neg.mode() == ModeTN3270E
	switch {
	case k == KeyAttn:
		if e {
			return t.writeLocked([]byte{IAC, IP})
		}
		return t.writeLocked([]byte{IAC, BRK})
	case k == KeySysReq && e:
		return t.writeLocked([]byte{IAC, AO})
	}
	rec, err := t.eng.Press(k)
	if err != nil || rec == nil {
		return err
	}
	t.log.Debug().Stringer("key", k).Int("bytes", len(rec)).Msg("tn3270: AID sent")
	return t.sendRecordLocked(rec)
}

// WaitForUnlock waits until the keyboard is unlocked. It fails with
// ErrClosed if the connection ends and with ctx's error on timeout.
func (t *Terminal) WaitForUnlock(ctx context.Context) error {
	return t.wait(ctx, func(e *Engine) bool { return e.Keyboard() == Unlocked })
}

// WaitForText waits until s appears on the screen.
func (t *Terminal) WaitForText(ctx context.Context, s string) error {
	return t.wait(ctx, func(e *Engine) bool { return strings.Contains(e.Text(), s) })
}

// Wait waits until cond, called under the terminal's lock with the engine,
// holds. The engine must not be kept after cond returns.
func (t *Terminal) Wait(ctx context.Context, cond func(e *Engine) bool) error {
	return t.wait(ctx, cond)
}

func (t *Terminal) wait(ctx context.Context, cond func(e *Engine) bool) error {
	for {
		t.mu.Lock()
		ok, closed, ch := cond(t.eng), t.closed, t.changed
		t.mu.Unlock()
		if ok {
			return nil
		}
		if closed {
			return ErrClosed
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Done is closed when the connection to the host has ended.
func (t *Terminal) Done() <-chan struct{} { return t.done }

// Close closes the connection and waits for the read loop. It is
// idempotent.
func (t *Terminal) Close() error {
	var err error
	t.closeOnce.Do(func() {
		err = t.conn.Close()
		<-t.done
		if errors.Is(err, net.ErrClosed) {
			err = nil
		}
	})
	return err
}

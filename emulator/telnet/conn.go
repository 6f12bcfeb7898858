package telnet

import (
	"io"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Defaults used when the corresponding Config field is zero.
const (
	DefaultTerminalType = "xterm"
	DefaultRows         = 24
	DefaultCols         = 80
)

// Config configures a client Conn. The zero value is a usable xterm of 24×80
// that starts negotiation the way common clients do.
type Config struct {
	// TerminalType is sent on TTYPE SEND (RFC 1091). Empty means "xterm",
	// unless TerminalTypes is set.
	TerminalType string
	// TerminalTypes, if set, is the list of types offered in turn on
	// successive TTYPE SENDs; the last is repeated once to mark the end of
	// the list, after which the list starts over (RFC 1091). It takes
	// precedence over TerminalType.
	TerminalTypes []string
	// Rows and Cols are the window size reported by NAWS. Zero means 24 and 80.
	Rows, Cols int
	// Passive makes the Conn wait for the host to negotiate. By default it
	// proactively sends DO SGA, DO ECHO, WILL TTYPE and WILL NAWS, as common
	// clients do (inetutils telnetd then gives a login prompt).
	Passive bool
	// MaxSubnegotiation bounds a received subnegotiation payload. Zero means
	// DefaultMaxSubnegotiation.
	MaxSubnegotiation int
	// Logger receives negotiation events at debug level. The zero value logs nothing.
	Logger zerolog.Logger
}

// localOptions are the options a client Conn agrees to enable on its side.
func localOptions(opt Option) bool {
	switch opt {
	case OptBinary, OptSGA, OptTTYPE, OptNAWS, OptEOR:
		return true
	}
	return false
}

// remoteOptions are the options a client Conn lets the host enable.
func remoteOptions(opt Option) bool {
	switch opt {
	case OptBinary, OptEcho, OptSGA, OptEOR:
		return true
	}
	return false
}

// Conn is the client side of a telnet connection over a byte stream.
//
// Read returns only data bytes; negotiation is answered internally (RFC
// 1143). Write escapes IAC and, unless BINARY is agreed for what we send,
// turns a lone CR into CR NUL: an application sends "\r" for the Enter key,
// as a terminal does, and "\r\n" only when it means the NVT end-of-line.
// A received CR NUL becomes CR; CR LF is kept.
//
// One goroutine may call Read while others call Write, SetWindowSize and
// Close; Read itself must not be called concurrently.
type Conn struct {
	rw     io.ReadWriteCloser
	cfg    Config
	log    zerolog.Logger
	types  []string
	rbuf   []byte
	dec    Decoder
	data   []byte // decoded data not yet returned by Read
	rerr   error  // read error held back until the data before it is returned
	start  sync.Once
	closed sync.Once

	mu        sync.Mutex // guards the fields below and serialises writes to rw
	neg       Negotiator
	wbuf      []byte
	rows      int
	cols      int
	ttypeNext int
	werr      error
}

// NewConn wraps rw. Nothing is sent until the first Read or Write.
func NewConn(rw io.ReadWriteCloser, cfg Config) *Conn {
	c := &Conn{rw: rw, cfg: cfg, log: cfg.Logger, rbuf: make([]byte, 4096)}
	c.types = cfg.TerminalTypes
	if len(c.types) == 0 {
		t := cfg.TerminalType
		if t == "" {
			t = DefaultTerminalType
		}
		c.types = []string{t}
	}
	c.rows, c.cols = cfg.Rows, cfg.Cols
	if c.rows <= 0 {
		c.rows = DefaultRows
	}
	if c.cols <= 0 {
		c.cols = DefaultCols
	}
	c.dec.MaxSubnegotiation = cfg.MaxSubnegotiation
	c.dec.StripCRNUL = true
	c.neg.Policy = Policy{Local: localOptions, Remote: remoteOptions}
	return c
}

// begin sends the proactive negotiation once.
func (c *Conn) begin() error {
	var err error
	c.start.Do(func() {
		if c.cfg.Passive {
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		out := c.neg.EnableRemote(nil, OptSGA)
		out = c.neg.EnableRemote(out, OptEcho)
		out = c.neg.EnableLocal(out, OptTTYPE)
		out = c.neg.EnableLocal(out, OptNAWS)
		err = c.writeLocked(out)
	})
	return err
}

// Read reads data bytes from the host.
func (c *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if err := c.begin(); err != nil {
		return 0, err
	}
	for len(c.data) == 0 {
		if err := c.rerr; err != nil {
			c.rerr = nil
			return 0, err
		}
		n, err := c.rw.Read(c.rbuf)
		if n > 0 {
			c.decode(c.rbuf[:n])
		}
		if err != nil {
			// Return the data decoded so far first, then the error.
			c.rerr = err
		}
	}
	n := copy(p, c.data)
	c.data = c.data[n:]
	if len(c.data) == 0 {
		c.data = c.data[:0:0]
	}
	return n, nil
}

// decode feeds src to the decoder and handles the events. A failure to
// write an answer is not reported here: it is sticky and surfaces on the
// next Write, and a dead stream also ends Read.
func (c *Conn) decode(src []byte) {
	for len(src) > 0 {
		var ev Event
		var ok bool
		var n int
		c.data, n, ev, ok = c.dec.Decode(c.data, src)
		src = src[n:]
		if !ok {
			continue
		}
		if err := c.handle(ev); err != nil {
			c.log.Debug().Err(err).Msg("telnet negotiation answer not sent")
		}
	}
}

func (c *Conn) handle(ev Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch ev.Kind {
	case EventNegotiation:
		wasLocal := c.neg.Local(ev.Option)
		out := c.neg.Receive(c.wbuf[:0], ev.Command, ev.Option)
		c.log.Debug().Str("cmd", CommandName(ev.Command)).Stringer("opt", ev.Option).
			Bool("local", c.neg.Local(ev.Option)).Bool("remote", c.neg.Remote(ev.Option)).Msg("telnet negotiation")
		if ev.Option == OptBinary {
			c.dec.StripCRNUL = !c.neg.Remote(OptBinary)
		}
		if ev.Option == OptNAWS && !wasLocal && c.neg.Local(OptNAWS) {
			out = AppendWindowSize(out, c.rows, c.cols)
		}
		c.wbuf = out
		return c.writeLocked(out)
	case EventSubnegotiation:
		if ev.Option == OptTTYPE && len(ev.Data) >= 1 && ev.Data[0] == TTypeSend && c.neg.Local(OptTTYPE) {
			t := c.nextTerminalTypeLocked()
			c.log.Debug().Str("ttype", t).Msg("telnet terminal type sent")
			out := AppendSubnegotiation(c.wbuf[:0], OptTTYPE, append([]byte{TTypeIs}, t...))
			c.wbuf = out
			return c.writeLocked(out)
		}
		c.log.Debug().Stringer("opt", ev.Option).Int("len", len(ev.Data)).Msg("telnet subnegotiation ignored")
	case EventCommand:
		c.log.Debug().Str("cmd", CommandName(ev.Command)).Msg("telnet command")
	}
	return nil
}

// nextTerminalTypeLocked cycles through the configured types: each in turn,
// the last once more to mark the end of the list, then from the top again
// (RFC 1091).
func (c *Conn) nextTerminalTypeLocked() string {
	if len(c.types) == 1 {
		return c.types[0]
	}
	i := c.ttypeNext
	if i > len(c.types) {
		i = 0
	}
	c.ttypeNext = i + 1
	if i == len(c.types) {
		return c.types[i-1]
	}
	return c.types[i]
}

func (c *Conn) writeLocked(b []byte) error {
	if c.werr != nil {
		return c.werr
	}
	if len(b) == 0 {
		return nil
	}
	_, err := c.rw.Write(b)
	if err != nil {
		c.werr = err
	}
	return err
}

// Write sends p as data. See Conn for the CR rule.
func (c *Conn) Write(p []byte) (int, error) {
	if err := c.begin(); err != nil {
		return 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.werr != nil {
		return 0, c.werr
	}
	binary := c.neg.Local(OptBinary)
	out := AppendData(c.wbuf[:0], p, binary)
	c.wbuf = out[:0]
	if len(out) > 64<<10 {
		c.wbuf = nil // do not keep a huge buffer alive
	}
	n, err := c.rw.Write(out)
	if err != nil {
		c.werr = err
		return dataWritten(p, n, binary), err
	}
	return len(p), nil
}

// dataWritten converts a count of wire bytes into a count of bytes of p
// whose encoding was written whole.
func dataWritten(p []byte, wire int, binary bool) int {
	used := 0
	for i := range p {
		used += encodedLen(p, i, binary)
		if used > wire {
			return i
		}
	}
	return len(p)
}

// SetWindowSize records a new window size and sends it with NAWS if the
// host agreed to NAWS.
func (c *Conn) SetWindowSize(rows, cols int) error {
	if err := c.begin(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rows, c.cols = rows, cols
	if !c.neg.Local(OptNAWS) {
		return nil
	}
	out := AppendWindowSize(c.wbuf[:0], rows, cols)
	c.wbuf = out
	return c.writeLocked(out)
}

// LocalOption reports whether opt is enabled on the client's side.
func (c *Conn) LocalOption(opt Option) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.neg.Local(opt)
}

// RemoteOption reports whether opt is enabled on the host's side; for
// example RemoteOption(OptEcho) is true when the host echoes input.
func (c *Conn) RemoteOption(opt Option) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.neg.Remote(opt)
}

// SetDeadline sets the read and write deadlines of the underlying stream.
func (c *Conn) SetDeadline(t time.Time) error {
	if d, ok := c.rw.(interface{ SetDeadline(time.Time) error }); ok {
		return d.SetDeadline(t)
	}
	return ErrDeadlineUnsupported
}

// SetReadDeadline sets the read deadline of the underlying stream.
func (c *Conn) SetReadDeadline(t time.Time) error {
	if d, ok := c.rw.(interface{ SetReadDeadline(time.Time) error }); ok {
		return d.SetReadDeadline(t)
	}
	return ErrDeadlineUnsupported
}

// SetWriteDeadline sets the write deadline of the underlying stream.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if d, ok := c.rw.(interface{ SetWriteDeadline(time.Time) error }); ok {
		return d.SetWriteDeadline(t)
	}
	return ErrDeadlineUnsupported
}

// Close closes the underlying stream, which also ends a blocked Read. Later
// calls return ErrClosed.
func (c *Conn) Close() error {
	err := ErrClosed
	c.closed.Do(func() { err = c.rw.Close() })
	return err
}

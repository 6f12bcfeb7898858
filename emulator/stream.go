package emulator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/rs/zerolog"

	"github.com/termgate/termgate/emulator/ssh"
	"github.com/termgate/termgate/emulator/telnet"
)

// ErrHalfCloseUnsupported is returned by Stream.CloseWrite for a protocol
// that cannot end its input alone (SSH).
var ErrHalfCloseUnsupported = errors.New("this protocol cannot half-close its input")

// StreamOptions configures Connect. The zero value is an xterm of the
// definition's size (24×80 if it has none).
type StreamOptions struct {
	// TerminalType is the telnet TTYPE or the SSH pty's TERM; empty means
	// the definition's terminal model, else "xterm".
	TerminalType string
	// Rows and Cols are the window size told to the host; zero means the
	// definition's, else 24×80.
	Rows, Cols int
	// SSH holds the caller's credentials and host-key check for ssh
	// sessions. TerminalType, Rows and Cols are set from the fields above;
	// an empty HostKey defaults to the session definition's host key.
	SSH ssh.Config
	// DialTimeout bounds the dial of the proxy; zero means DefaultDialTimeout.
	DialTimeout time.Duration
	// DialContext dials the TCP connection to the proxy; nil means a net.Dialer.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// Logger receives protocol events; the zero value logs nothing.
	Logger zerolog.Logger
}

// Stream is a terminal connection without a screen: the tunnel with the
// session's protocol on it. Read returns what the host displays (telnet
// negotiation removed), Write sends keystrokes. Use it to render in a real
// terminal; use Session to read the screen from code. One goroutine may Read
// while others Write, Resize or Close.
type Stream struct {
	launch *Launch
	tunnel *Conn
	term   io.ReadWriteCloser
	resize func(rows, cols int) error
	proto  string
}

// Connect dials the proxy for a launch and starts the session's protocol:
// telnet, ssh or tcp (raw bytes). Other protocols fail with
// ErrUnsupportedProtocol before anything is dialled: a tn3270 session is a
// screen of fields, not a byte stream (use Open), and ftp has its own
// client (package ftpchan).
func Connect(ctx context.Context, l *Launch, opts StreamOptions) (*Stream, error) {
	if l == nil {
		return nil, errors.New("connect: nil launch")
	}
	if err := checkStreamProtocol(l.Session.Protocol); err != nil {
		return nil, fmt.Errorf("connect %q: %w", l.Session.Name, err)
	}
	ttype, rows, cols := opts.terminal(l)
	tun, err := dialLaunch(ctx, l, opts.DialTimeout, opts.DialContext)
	if err != nil {
		return nil, err
	}
	st := &Stream{launch: l, tunnel: tun, proto: l.Session.Protocol}
	switch l.Session.Protocol {
	case ProtoTelnet, "":
		tc := telnet.NewConn(tun, telnet.Config{TerminalType: ttype, Rows: rows, Cols: cols, Logger: opts.Logger})
		st.term, st.resize, st.proto = tc, tc.SetWindowSize, ProtoTelnet
	case ProtoSSH:
		cfg := opts.SSH
		cfg.TerminalType, cfg.Rows, cfg.Cols = ttype, rows, cols
		if cfg.HostKey == "" {
			cfg.HostKey = l.Session.HostKey
		}
		sess, err := ssh.Open(ctx, tun, l.Session.Target(), cfg) // closes tun on failure
		if err != nil {
			return nil, fmt.Errorf("ssh to %s: %w", l.Session.Target(), err)
		}
		st.term, st.resize = sess, sess.Resize
	case ProtoTCP:
		st.term, st.resize = tun, func(int, int) error { return nil }
	}
	return st, nil
}

func (o *StreamOptions) terminal(l *Launch) (ttype string, rows, cols int) {
	ttype, rows, cols = o.TerminalType, o.Rows, o.Cols
	if ttype == "" {
		ttype = l.Session.Terminal.Model
	}
	if ttype == "" {
		ttype = "xterm"
	}
	if rows <= 0 {
		rows = l.Session.Terminal.Rows
	}
	if cols <= 0 {
		cols = l.Session.Terminal.Cols
	}
	if rows <= 0 {
		rows = 24
	}
	if cols <= 0 {
		cols = 80
	}
	return ttype, rows, cols
}

// Read reads what the host sends for display.
func (st *Stream) Read(p []byte) (int, error) { return st.term.Read(p) }

// Write sends keystrokes to the host.
func (st *Stream) Write(p []byte) (int, error) { return st.term.Write(p) }

// Close ends the connection.
func (st *Stream) Close() error { return st.term.Close() }

// CloseWrite ends the input to the host and keeps reading (telnet and tcp;
// ErrHalfCloseUnsupported for ssh).
func (st *Stream) CloseWrite() error {
	if st.proto == ProtoSSH {
		return ErrHalfCloseUnsupported
	}
	return st.tunnel.CloseWrite()
}

// Resize tells the host the new window size (telnet NAWS, SSH
// window-change; nothing for tcp).
func (st *Stream) Resize(rows, cols int) error { return st.resize(rows, cols) }

// Launch returns the launch the stream was opened with.
func (st *Stream) Launch() *Launch { return st.launch }

// Tunnel returns the tunnel through the proxy.
func (st *Stream) Tunnel() *Conn { return st.tunnel }

// Protocol returns "telnet", "ssh" or "tcp".
func (st *Stream) Protocol() string { return st.proto }

// checkStreamProtocol accepts the protocols a Stream carries.
func checkStreamProtocol(p string) error {
	switch p {
	case ProtoTelnet, ProtoSSH, ProtoTCP, "":
		return nil
	case ProtoTN3270:
		return fmt.Errorf("%w %q as a byte stream: open it with emulator.Open (termgate screen) or a 3270 emulator", ErrUnsupportedProtocol, p)
	}
	return fmt.Errorf("%w %q: a stream carries telnet, ssh and tcp sessions", ErrUnsupportedProtocol, p)
}

// dialLaunch opens the tunnel of a launch through its proxy.
func dialLaunch(ctx context.Context, l *Launch, timeout time.Duration,
	dial func(ctx context.Context, network, addr string) (net.Conn, error)) (*Conn, error) {
	return DialProxy(ctx, DialOptions{
		ProxyAddr:                  l.Proxy.Address,
		ServerName:                 l.Proxy.ServerName,
		InsecureSkipServerIdentity: !l.Proxy.VerifyServerIdentity,
		Trust:                      l.Trust,
		Token:                      l.Token,
		ProofKey:                   l.ProofKey,
		Target:                     l.Session.Target(),
		Timeout:                    timeout,
		DialContext:                dial,
	})
}

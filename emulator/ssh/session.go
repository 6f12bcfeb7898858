package ssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	xssh "golang.org/x/crypto/ssh"
)

// Session is an interactive SSH session with a pty. Read returns the
// merged stdout and stderr, Write feeds stdin.
//
// One goroutine may Read while others Write, Resize, Wait or Close.
type Session struct {
	client *xssh.Client
	sess   *xssh.Session
	stdin  io.WriteCloser
	out    *io.PipeReader
	outW   *io.PipeWriter

	done    chan struct{} // closed when the remote command has ended
	exitErr error         // valid after done

	closeOnce sync.Once
	closeErr  error
}

// Open runs the SSH handshake over conn (for example a tunnel through the
// termgate proxy) for the host at addr ("host:port", used for the host-key
// check), authenticates, requests a pty and starts the shell, or
// cfg.Command. Open takes ownership of conn: it is closed if Open fails, and
// by Session.Close.
func Open(ctx context.Context, conn net.Conn, addr string, cfg Config) (*Session, error) {
	if conn == nil {
		return nil, errors.New("ssh: Open needs a connection")
	}
	s, err := open(ctx, conn, addr, cfg)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return s, nil
}

func open(ctx context.Context, conn net.Conn, addr string, cfg Config) (*Session, error) {
	if cfg.User == "" {
		return nil, ErrNoUser
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		addr = net.JoinHostPort(addr, "22")
	}
	hostKey, algos, err := cfg.hostKeyCheck(addr)
	if err != nil {
		return nil, err
	}
	auth, err := cfg.authMethods()
	if err != nil {
		return nil, err
	}
	log := cfg.Logger.With().Str("dst", addr).Str("proto", "ssh").Logger()

	// Bound the whole start-up by the timeout and by ctx.
	deadline := time.Now().Add(cfg.timeout())
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, fmt.Errorf("ssh: set handshake deadline: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	fail := func(err error) error {
		if ctx.Err() != nil {
			return fmt.Errorf("ssh: open %s: %w", addr, ctx.Err())
		}
		return err
	}

	cc, chans, reqs, err := xssh.NewClientConn(conn, addr, &xssh.ClientConfig{
		User:              cfg.User,
		Auth:              auth,
		HostKeyCallback:   hostKey,
		HostKeyAlgorithms: algos,
		Timeout:           cfg.timeout(),
	})
	if err != nil {
		stop()
		return nil, fail(fmt.Errorf("ssh: connect to %s: %w", addr, err))
	}
	client := xssh.NewClient(cc, chans, reqs)
	s, err := startSession(client, &cfg)
	if !stop() && err == nil {
		err = ctx.Err() // ctx ended while the session was starting
	}
	if err != nil {
		client.Close()
		return nil, fail(fmt.Errorf("ssh: start session on %s: %w", addr, err))
	}
	// Close waits for wait, so it must run before any path that closes s.
	go s.wait()
	// A short command may already have ended and the host closed the
	// connection; its output is still buffered, so that is not a failure.
	if err := conn.SetDeadline(time.Time{}); err != nil && !errors.Is(err, net.ErrClosed) {
		s.Close()
		return nil, fmt.Errorf("ssh: clear deadline: %w", err)
	}
	log.Debug().Str("user", cfg.User).Msg("ssh session started")
	return s, nil
}

func startSession(client *xssh.Client, cfg *Config) (*Session, error) {
	sess, err := client.NewSession()
	if err != nil {
		return nil, err
	}
	term, rows, cols := cfg.terminal()
	modes := xssh.TerminalModes{xssh.ECHO: 1, xssh.TTY_OP_ISPEED: 38400, xssh.TTY_OP_OSPEED: 38400}
	if err := sess.RequestPty(term, rows, cols, modes); err != nil {
		return nil, fmt.Errorf("request pty: %w", err)
	}
	stdin, err := sess.StdinPipe()
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	// io.PipeWriter serialises concurrent writes, so stdout and stderr
	// can share it.
	sess.Stdout = pw
	sess.Stderr = pw
	if cfg.Command != "" {
		err = sess.Start(cfg.Command)
	} else {
		err = sess.Shell()
	}
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", commandName(cfg.Command), err)
	}
	return &Session{client: client, sess: sess, stdin: stdin, out: pr, outW: pw, done: make(chan struct{})}, nil
}

func commandName(cmd string) string {
	if cmd == "" {
		return "shell"
	}
	return "command " + strconv.Quote(cmd)
}

// wait waits for the remote command; the output is complete when it returns.
func (s *Session) wait() {
	s.exitErr = s.sess.Wait()
	s.outW.CloseWithError(io.EOF)
	close(s.done)
}

// Read reads the session's output (stdout and stderr merged, as a pty
// does). It returns io.EOF after the remote command has ended and its
// output has been read.
func (s *Session) Read(p []byte) (int, error) { return s.out.Read(p) }

// Write sends p to the session's stdin.
func (s *Session) Write(p []byte) (int, error) { return s.stdin.Write(p) }

// Resize tells the host the terminal's new size (window-change).
func (s *Session) Resize(rows, cols int) error {
	select {
	case <-s.done:
		return ErrClosed
	default:
	}
	return s.sess.WindowChange(rows, cols)
}

// Wait waits for the remote command to end and returns nil for exit status
// 0, a *golang.org/x/crypto/ssh.ExitError for another status or a signal,
// or another error if the connection was lost.
func (s *Session) Wait() error {
	<-s.done
	return s.exitErr
}

// Close ends the session and the connection. It is idempotent and waits
// for the goroutines the Session owns.
func (s *Session) Close() error {
	s.closeOnce.Do(func() {
		// Unblock an output copy that nobody reads, then end the connection.
		s.out.CloseWithError(ErrClosed)
		s.sess.Close()
		err := s.client.Close()
		if err != nil && !errors.Is(err, net.ErrClosed) {
			s.closeErr = err
		}
		<-s.done
	})
	return s.closeErr
}

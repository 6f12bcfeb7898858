package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/termgate/termgate/emulator"
)

func init() { register(newConnectCmd) }

// escapeByte parses --escape: "^]" style or "none".
func escapeByte(s string) (byte, bool, error) {
	switch {
	case s == "none" || s == "":
		return 0, false, nil
	case len(s) == 2 && s[0] == '^':
		c := s[1]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c < '@' || c > '_' {
			return 0, false, fmt.Errorf("--escape %q: want ^@ to ^_ or a letter", s)
		}
		return c - '@', true, nil
	}
	return 0, false, fmt.Errorf("--escape %q: want e.g. ^] or none", s)
}

func newConnectCmd(g *Globals) *cobra.Command {
	var f clientFlags
	var escape string
	cmd := &cobra.Command{
		Use:   "connect",
		Short: "Open a session in this terminal",
		Long: `connect logs in to the management server, launches the session, opens a tunnel
through the security proxy (trusting only the certificates the launch ships)
and connects this terminal to the host: keystrokes go to the host, the host's
output is shown as is, window size changes are passed on. It handles telnet,
ssh and tcp sessions; drive a 3270 (tn3270) session with "termgate screen".

On a terminal, the escape character (default Ctrl-], like telnet) ends the
session. Without a terminal, stdin and stdout are a plain pipe: the end of
stdin half-closes the connection (telnet and tcp sessions) and the command ends
when the host closes.

  TERMGATE_PASSWORD=... termgate connect --mgmt https://127.0.0.1:8443 \
      --ca termgate-data/ca.pem --user admin --session demo-vt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.check(); err != nil {
				return err
			}
			esc, hasEsc, err := escapeByte(escape)
			if err != nil {
				return usagef("%v", err)
			}
			return runConnect(cmd.Context(), g, &f, esc, hasEsc)
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&escape, "escape", "^]", `escape character that ends the session on a terminal ("none" to disable)`)
	return cmd
}

func runConnect(ctx context.Context, g *Globals, f *clientFlags, esc byte, hasEsc bool) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGHUP, syscall.SIGTERM, os.Interrupt)
	defer stop()
	c, err := f.client(ctx, g)
	if err != nil {
		return err
	}
	l, err := c.Launch(ctx, f.session, emulator.LaunchOptions{})
	if err != nil {
		return err
	}
	if l.Session.Protocol == emulator.ProtoTN3270 {
		// The launch's token is single-use and short-lived; it simply expires.
		return fmt.Errorf("session %q is a 3270 session: connect relays a character terminal, "+
			"so drive it with \"termgate screen --session %s\" (fields, PF keys; see docs/screen.md)", f.session, f.session)
	}
	inFD, inTTY := terminalFD(g.Stdin)
	outFD, outTTY := terminalFD(stdoutReader(g.Stdout))
	opts := emulator.StreamOptions{SSH: f.sshConfig(g), Logger: g.Logger()}
	if outTTY {
		if cols, rows, err := term.GetSize(outFD); err == nil {
			opts.Rows, opts.Cols = rows, cols
		}
		if t := os.Getenv("TERM"); t != "" {
			opts.TerminalType = t
		}
	}
	st, err := emulator.Connect(ctx, l, opts)
	if err != nil {
		return err
	}
	defer st.Close()

	interactive := inTTY && outTTY
	if interactive {
		old, err := term.MakeRaw(inFD)
		if err != nil {
			return fmt.Errorf("raw mode: %w", err)
		}
		defer term.Restore(inFD, old) //nolint:errcheck // best effort on the way out
		fmt.Fprintf(g.Stderr, "Connected to %s (%s). Escape character is '%s'.\r\n", f.session, st.Protocol(), caret(esc, hasEsc))
		winch := make(chan os.Signal, 1)
		signal.Notify(winch, syscall.SIGWINCH)
		defer signal.Stop(winch)
		go func() {
			for range winch {
				if cols, rows, err := term.GetSize(outFD); err == nil {
					_ = st.Resize(rows, cols)
				}
			}
		}()
		// The size was read before connecting and SIGWINCH was not watched
		// until now: a resize in between would go unseen, so look once more.
		select {
		case winch <- syscall.SIGWINCH:
		default:
		}
	}

	hostDone := make(chan error, 1)
	go func() {
		_, err := io.Copy(g.Stdout, st)
		hostDone <- err
	}()
	// The input goroutine may stay blocked reading stdin after the session
	// ends; the process exits right after.
	userDone := make(chan error, 1)
	go func() {
		err := copyInput(st, g.Stdin, esc, hasEsc && interactive)
		if !interactive && errors.Is(err, io.EOF) {
			// A pipe ended: tell the host and keep showing its output.
			if cerr := st.CloseWrite(); cerr == nil {
				return
			}
		}
		userDone <- err
	}()

	select {
	case err := <-hostDone:
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("session %s: %w", f.session, err)
		}
		if interactive {
			fmt.Fprint(g.Stderr, "\r\nConnection closed by the host.\r\n")
		}
		return nil
	case err := <-userDone:
		if interactive && errors.Is(err, errEscape) {
			fmt.Fprint(g.Stderr, "\r\nConnection closed.\r\n")
		}
		return nil
	case <-ctx.Done():
		return nil
	}
}

var errEscape = errors.New("escape character typed")

// copyInput copies the user's input to the host until EOF, an error, or the
// escape byte. It returns io.EOF at the end of input.
func copyInput(w io.Writer, r io.Reader, esc byte, useEsc bool) error {
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			p := buf[:n]
			if useEsc {
				if i := bytes.IndexByte(p, esc); i >= 0 {
					if i > 0 {
						if _, werr := w.Write(p[:i]); werr != nil {
							return werr
						}
					}
					return errEscape
				}
			}
			if _, werr := w.Write(p); werr != nil {
				return werr
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return io.EOF
			}
			return err
		}
	}
}

func caret(esc byte, ok bool) string {
	if !ok {
		return "none"
	}
	return "^" + string(rune(esc+'@'))
}

// stdoutReader lets terminalFD look at stdout: an *os.File is both.
func stdoutReader(w io.Writer) io.Reader {
	if f, ok := w.(*os.File); ok {
		return f
	}
	return nil
}

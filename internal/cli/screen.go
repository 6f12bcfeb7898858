package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/termgate/termgate/emulator"
	"github.com/termgate/termgate/emulator/tn3270"
)

func init() { register(newScreenCmd) }

// Limits of the screen command language.
const (
	maxScreenLine      = 1 << 20
	maxScreenTimeout   = time.Hour
	defaultScreenWait  = 10 * time.Second
	defaultStableQuiet = 500 * time.Millisecond
	maxScreenDim       = 4096
)

// Verbs of the screen command language.
const (
	verbWait       = "wait"
	verbWaitStable = "wait stable"
	verbWaitCursor = "wait cursor"
	verbWaitUnlock = "wait unlock"
	verbType       = "type"
	verbPress      = "press"
	verbField      = "field"
	verbFields     = "fields"
	verbPrint      = "print"
	verbCursor     = "cursor"
	verbResize     = "resize"
	verbQuit       = "quit"
)

const verbList = "wait, type, press, field, fields, print, cursor, resize or quit"

// screenCommand is one parsed line of the screen command language. Screen
// positions are 1-based here, as users count rows and columns; the SDK's
// are 0-based.
type screenCommand struct {
	Verb    string
	Text    string        // wait: the text; type, field: what to type
	Key     string        // press
	Timeout time.Duration // waits; 0 means the default
	Quiet   time.Duration // wait stable
	Row     int           // wait cursor, field (1-based); resize: rows
	Col     int           // wait cursor, field (1-based); resize: cols
}

// screenWord is a word of a command line; quoted words were Go string
// literals.
type screenWord struct {
	s      string
	quoted bool
}

// splitScreenWords splits a line into words: Go string literals ("…" with
// escapes, or `…`) and runs of other non-blank characters.
func splitScreenWords(line string) ([]screenWord, error) {
	var out []screenWord
	rest := line
	for {
		rest = strings.TrimLeft(rest, " \t")
		if rest == "" {
			return out, nil
		}
		if rest[0] == '"' || rest[0] == '`' {
			lit, err := strconv.QuotedPrefix(rest)
			if err != nil {
				return nil, fmt.Errorf("unterminated or malformed quoted string at %q", clipText(rest, 20))
			}
			s, err := strconv.Unquote(lit)
			if err != nil {
				return nil, fmt.Errorf("malformed quoted string %s", clipText(lit, 20))
			}
			rest = rest[len(lit):]
			if rest != "" && rest[0] != ' ' && rest[0] != '\t' {
				return nil, fmt.Errorf("missing space after quoted string %s", clipText(lit, 20))
			}
			out = append(out, screenWord{s: s, quoted: true})
			continue
		}
		end := strings.IndexAny(rest, " \t")
		if end < 0 {
			end = len(rest)
		}
		w := rest[:end]
		if strings.ContainsAny(w, "\"`") {
			return nil, fmt.Errorf("quote inside word %q: put a space before the quoted string", clipText(w, 20))
		}
		out = append(out, screenWord{s: w})
		rest = rest[end:]
	}
}

// parseScreenCommand parses one line. It reports empty for a blank line or
// a comment (# …), which get no answer.
func parseScreenCommand(line string) (cmd screenCommand, empty bool, err error) {
	if !utf8.ValidString(line) {
		return cmd, false, errors.New("line is not valid UTF-8")
	}
	line = strings.TrimRight(line, "\r")
	if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "#") {
		return cmd, true, nil
	}
	words, err := splitScreenWords(line)
	if err != nil {
		return cmd, false, err
	}
	if words[0].quoted {
		return cmd, false, errors.New("a command starts with a verb: " + verbList)
	}
	verb, args := strings.ToLower(words[0].s), words[1:]
	bare := func(i int) bool { return i < len(args) && !args[i].quoted }
	switch verb {
	case verbWait:
		switch {
		case len(args) == 0:
			return cmd, false, errors.New(`usage: wait "text" [timeout] | wait stable [ms] | wait cursor ROW COL [timeout] | wait unlock [timeout]`)
		case args[0].quoted:
			cmd = screenCommand{Verb: verbWait, Text: args[0].s}
			if cmd.Text == "" {
				return cmd, false, errors.New("wait: empty text")
			}
			cmd.Timeout, err = optTimeout(args[1:])
		case strings.EqualFold(args[0].s, "stable"):
			cmd = screenCommand{Verb: verbWaitStable, Quiet: defaultStableQuiet}
			switch len(args) {
			case 1:
			case 2:
				ms, perr := strconv.Atoi(args[1].s)
				if perr != nil || !bare(1) || ms <= 0 || time.Duration(ms)*time.Millisecond > maxScreenTimeout {
					return cmd, false, fmt.Errorf("wait stable: %q is not a quiet time in milliseconds (1 to %d)", clipText(args[1].s, 20), maxScreenTimeout.Milliseconds())
				}
				cmd.Quiet = time.Duration(ms) * time.Millisecond
			default:
				return cmd, false, errors.New("usage: wait stable [ms]")
			}
		case strings.EqualFold(args[0].s, "cursor"):
			if len(args) < 3 || !bare(1) || !bare(2) {
				return cmd, false, errors.New("usage: wait cursor ROW COL [timeout] (1-based)")
			}
			cmd = screenCommand{Verb: verbWaitCursor}
			if cmd.Row, err = parseDim(args[1].s, 1); err != nil {
				return cmd, false, fmt.Errorf("wait cursor: row %w", err)
			}
			if cmd.Col, err = parseDim(args[2].s, 1); err != nil {
				return cmd, false, fmt.Errorf("wait cursor: column %w", err)
			}
			cmd.Timeout, err = optTimeout(args[3:])
		case strings.EqualFold(args[0].s, "unlock"):
			cmd = screenCommand{Verb: verbWaitUnlock}
			cmd.Timeout, err = optTimeout(args[1:])
		default:
			return cmd, false, fmt.Errorf(`wait: quote the text (wait "%s"), or use wait stable / wait cursor / wait unlock`, clipText(args[0].s, 20))
		}
		return cmd, false, err
	case verbType:
		if len(args) != 1 || !args[0].quoted {
			return cmd, false, errors.New(`usage: type "text" (a Go string literal: "\r" is Enter, "\t" Tab, "\x1b" Escape)`)
		}
		return screenCommand{Verb: verbType, Text: args[0].s}, false, nil
	case verbPress:
		if len(args) != 1 {
			return cmd, false, errors.New("usage: press KEY (Enter, Tab, F1…F24, Up, Ctrl-C…; on 3270: PF1…PF24, PA1…PA3, Clear, EraseEOF…)")
		}
		if _, err := emulator.ParseKey(args[0].s); err != nil {
			return cmd, false, err
		}
		return screenCommand{Verb: verbPress, Key: args[0].s}, false, nil
	case verbField:
		if len(args) != 3 || !bare(0) || !bare(1) || !args[2].quoted {
			return cmd, false, errors.New(`usage: field ROW COL "text" (1-based; a 3270 input field)`)
		}
		cmd = screenCommand{Verb: verbField, Text: args[2].s}
		if cmd.Row, err = parseDim(args[0].s, 1); err != nil {
			return cmd, false, fmt.Errorf("field: row %w", err)
		}
		if cmd.Col, err = parseDim(args[1].s, 1); err != nil {
			return cmd, false, fmt.Errorf("field: column %w", err)
		}
		return cmd, false, nil
	case verbPrint, verbCursor, verbQuit, verbFields:
		if len(args) != 0 {
			return cmd, false, fmt.Errorf("%s takes no arguments", verb)
		}
		return screenCommand{Verb: verb}, false, nil
	case verbResize:
		if len(args) != 2 || !bare(0) || !bare(1) {
			return cmd, false, errors.New("usage: resize ROWS COLS")
		}
		cmd = screenCommand{Verb: verbResize}
		if cmd.Row, err = parseDim(args[0].s, 1); err != nil {
			return cmd, false, fmt.Errorf("resize: rows %w", err)
		}
		if cmd.Col, err = parseDim(args[1].s, 1); err != nil {
			return cmd, false, fmt.Errorf("resize: columns %w", err)
		}
		return cmd, false, nil
	}
	return cmd, false, fmt.Errorf("unknown command %q: use %s", clipText(verb, 20), verbList)
}

func parseDim(s string, min int) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < min || n > maxScreenDim {
		return 0, fmt.Errorf("%q is not a number from %d to %d", clipText(s, 20), min, maxScreenDim)
	}
	return n, nil
}

// optTimeout parses an optional timeout: seconds ("10") or a Go duration
// ("1.5s", "500ms").
func optTimeout(args []screenWord) (time.Duration, error) {
	switch len(args) {
	case 0:
		return 0, nil
	case 1:
	default:
		return 0, errors.New("too many arguments")
	}
	if args[0].quoted {
		return 0, errors.New("the timeout is not quoted")
	}
	s := args[0].s
	var d time.Duration
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > int(maxScreenTimeout/time.Second) {
			return 0, fmt.Errorf("timeout %q out of range (1 to %d seconds)", clipText(s, 20), int(maxScreenTimeout/time.Second))
		}
		d = time.Duration(n) * time.Second
	} else {
		d, err = time.ParseDuration(s)
		if err != nil || d <= 0 || d > maxScreenTimeout {
			return 0, fmt.Errorf("timeout %q: want seconds (10) or a duration (500ms, 1.5s) up to 1h", clipText(s, 20))
		}
	}
	return d, nil
}

func clipText(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

// screenDriver is what the screen command needs of a session; *emulator.Session
// implements it. Its positions are 0-based.
type screenDriver interface {
	WaitForText(ctx context.Context, text string) error
	WaitForCursor(ctx context.Context, row, col int) error
	WaitForStable(ctx context.Context, quiet time.Duration) error
	WaitForUnlock(ctx context.Context) error
	Type(text string) error
	Press(key string) error
	SetField(row, col int, text string) error
	Fields() ([]tn3270.Field, error)
	Screen() []string
	Cursor() (row, col int)
	Resize(rows, cols int) error
}

// runScreenScript reads commands from in and answers each on out with "ok
// …" or "error CODE reason", output first as "data: " lines. It returns at
// quit or the end of input.
func runScreenScript(ctx context.Context, d screenDriver, in io.Reader, out io.Writer, waitTimeout time.Duration) error {
	if waitTimeout <= 0 {
		waitTimeout = defaultScreenWait
	}
	w := bufio.NewWriter(out)
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 4096), maxScreenLine)
	for sc.Scan() {
		cmd, empty, err := parseScreenCommand(sc.Text())
		if empty {
			continue
		}
		if err != nil {
			answerError(w, "bad_command", err)
		} else if quit := execScreen(ctx, d, cmd, w, waitTimeout); quit {
			return w.Flush()
		}
		if err := w.Flush(); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if err := sc.Err(); err != nil {
		answerError(w, "bad_command", err)
		w.Flush()
		return err
	}
	return w.Flush()
}

func execScreen(ctx context.Context, d screenDriver, cmd screenCommand, w *bufio.Writer, waitTimeout time.Duration) (quit bool) {
	timeout := cmd.Timeout
	if timeout == 0 {
		timeout = waitTimeout
	}
	var err error
	switch cmd.Verb {
	case verbWait:
		wctx, cancel := context.WithTimeout(ctx, timeout)
		err = d.WaitForText(wctx, cmd.Text)
		cancel()
	case verbWaitCursor:
		wctx, cancel := context.WithTimeout(ctx, timeout)
		err = d.WaitForCursor(wctx, cmd.Row-1, cmd.Col-1)
		cancel()
	case verbWaitUnlock:
		wctx, cancel := context.WithTimeout(ctx, timeout)
		err = d.WaitForUnlock(wctx)
		cancel()
	case verbWaitStable:
		wctx, cancel := context.WithTimeout(ctx, waitTimeout+cmd.Quiet)
		err = d.WaitForStable(wctx, cmd.Quiet)
		cancel()
	case verbType:
		err = d.Type(cmd.Text)
	case verbPress:
		err = d.Press(cmd.Key)
	case verbField:
		err = d.SetField(cmd.Row-1, cmd.Col-1, cmd.Text)
	case verbFields:
		var fields []tn3270.Field
		if fields, err = d.Fields(); err == nil {
			for _, f := range fields {
				fmt.Fprintf(w, "data: %s\n", fieldLine(f))
			}
		}
	case verbResize:
		err = d.Resize(cmd.Row, cmd.Col)
	case verbPrint:
		for _, row := range d.Screen() {
			fmt.Fprintf(w, "data: %s\n", sanitizeRow(row))
		}
	case verbCursor:
		r, c := d.Cursor()
		fmt.Fprintf(w, "ok %d %d\n", r+1, c+1)
		return false
	case verbQuit:
		fmt.Fprintln(w, "ok")
		return true
	}
	if err != nil {
		answerError(w, errorCode(ctx, err), err)
		return false
	}
	fmt.Fprintln(w, "ok")
	return false
}

// fieldLine formats a 3270 field for the "fields" command: 1-based row and
// column of its first character, its length, its attributes, and its
// contents quoted (trailing blanks trimmed; always "" for a hidden field).
func fieldLine(f tn3270.Field) string {
	attrs := []string{"input"}
	if f.Protected {
		attrs[0] = "protected"
	}
	for _, a := range []struct {
		on   bool
		name string
	}{{f.Numeric, "numeric"}, {f.Skip, "skip"}, {f.Intensified, "intensified"}, {f.Hidden, "hidden"}, {f.Modified, "modified"}} {
		if a.on {
			attrs = append(attrs, a.name)
		}
	}
	contents := strings.TrimRight(f.Contents, " ")
	if f.Hidden {
		contents = ""
	}
	return fmt.Sprintf("%d %d %d %s %s", f.Row+1, f.Col+1, f.Len, strings.Join(attrs, ","), strconv.Quote(contents))
}

// errorCode classifies an error for the "error CODE reason" answer.
func errorCode(ctx context.Context, err error) string {
	switch {
	case ctx.Err() != nil:
		return "interrupted"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, emulator.ErrUnknownKey), errors.Is(err, emulator.ErrNotTN3270), errors.Is(err, emulator.ErrNotVT):
		return "bad_command"
	case errors.Is(err, io.EOF), errors.Is(err, emulator.ErrClosed), errors.Is(err, emulator.ErrProxyLost):
		return "disconnected"
	}
	return "failed"
}

func answerError(w io.Writer, code string, err error) {
	fmt.Fprintf(w, "error %s %s\n", code, sanitizeRow(err.Error()))
}

// sanitizeRow keeps an answer on one line.
func sanitizeRow(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

func newScreenCmd(g *Globals) *cobra.Command {
	var (
		f       clientFlags
		timeout time.Duration
		record  string
		rows    int
		cols    int
	)
	cmd := &cobra.Command{
		Use:   "screen",
		Short: "Drive a session headless, one command per line on stdin",
		Long: `screen opens the session like connect, but keeps the screen in memory and reads
commands from stdin, one per line, answering each on stdout with "ok …" or
"error CODE reason". Output of a command comes first, as "data: " lines.

  wait "text" [timeout]       wait until text is on the screen (timeout: 10, 2.5s, 500ms)
  wait stable [ms]            wait until the screen has not changed for ms (default 500)
  wait cursor ROW COL [timeout]   wait for the cursor
  type "text"                 send text; a Go string literal ("\r" is Enter)
  press KEY                   Enter, Tab, Backspace, Escape, Up, Down, Left, Right,
                              Home, End, PgUp, PgDn, Insert, Delete, F1…F24,
                              Ctrl-A…Ctrl-Z, Alt-x, Shift-Tab
  print                       the screen, one "data: " line per row
  cursor                      "ok ROW COL"
  resize ROWS COLS            resize the screen and tell the host (VT sessions)
  quit                        close the session and exit

3270 sessions (tn3270) also take:
  field ROW COL "text"        fill the input field at ROW COL (hidden ones too)
  fields                      one "data: ROW COL LEN ATTRS \"contents\"" line per
                              field; hidden fields never show their contents
  wait unlock [timeout]       wait until the host has answered (keyboard unlocked)
  press KEY                   PF1…PF24, PA1…PA3, Clear, Enter, SysReq, Attn, Tab,
                              Backtab, Home, Newline, EraseEOF, EraseInput, Erase,
                              Dup, FieldMark, Reset, arrows

Rows and columns are 1-based (the top-left corner is 1 1).
Error codes: bad_command, timeout, disconnected, interrupted, failed.
Blank lines and lines starting with # are ignored. See docs/screen.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.check(); err != nil {
				return err
			}
			if timeout <= 0 {
				return usagef("--timeout must be positive")
			}
			ctx := cmd.Context()
			c, err := f.client(ctx, g)
			if err != nil {
				return err
			}
			opts := emulator.SessionOptions{SSH: f.sshConfig(g), Rows: rows, Cols: cols, Logger: g.Logger()}
			if record != "" {
				rf, err := os.OpenFile(record, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
				if err != nil {
					return fmt.Errorf("recording: %w", err)
				}
				defer rf.Close()
				opts.Recorder = rf
			}
			s, err := emulator.Open(ctx, c, f.session, opts)
			if err != nil {
				return err
			}
			defer s.Close()
			if err := runScreenScript(ctx, s, g.Stdin, g.Stdout, timeout); err != nil {
				return err
			}
			return s.Close()
		},
	}
	f.register(cmd)
	fs := cmd.Flags()
	fs.DurationVar(&timeout, "timeout", defaultScreenWait, "default timeout of a wait command")
	fs.StringVar(&record, "record", "", "write what the host sends to this file as an asciicast v2 recording")
	fs.IntVar(&rows, "rows", 0, "screen rows (default: the session definition's)")
	fs.IntVar(&cols, "cols", 0, "screen columns (default: the session definition's)")
	return cmd
}

// String formats the command as a line that parses back to it.
func (c screenCommand) String() string {
	var b strings.Builder
	b.WriteString(c.Verb)
	switch c.Verb {
	case verbWait:
		b.WriteString(" " + strconv.Quote(c.Text))
	case verbWaitStable:
		fmt.Fprintf(&b, " %d", c.Quiet.Milliseconds())
	case verbWaitCursor, verbResize:
		fmt.Fprintf(&b, " %d %d", c.Row, c.Col)
	case verbField:
		fmt.Fprintf(&b, " %d %d %s", c.Row, c.Col, strconv.Quote(c.Text))
	case verbType:
		b.WriteString(" " + strconv.Quote(c.Text))
	case verbPress:
		b.WriteString(" " + c.Key)
	}
	if c.Timeout > 0 {
		b.WriteString(" " + c.Timeout.String())
	}
	return b.String()
}

package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/termgate/termgate/emulator"
)

func TestParseScreenCommand(t *testing.T) {
	tests := []struct {
		line  string
		want  screenCommand
		empty bool
	}{
		{line: `wait "login:"`, want: screenCommand{Verb: verbWait, Text: "login:"}},
		{line: `  WAIT "a \"quoted\" word" 5`, want: screenCommand{Verb: verbWait, Text: `a "quoted" word`, Timeout: 5 * time.Second}},
		{line: "wait `raw\\n` 1.5s", want: screenCommand{Verb: verbWait, Text: `raw\n`, Timeout: 1500 * time.Millisecond}},
		{line: `wait stable`, want: screenCommand{Verb: verbWaitStable, Quiet: defaultStableQuiet}},
		{line: `wait stable 250`, want: screenCommand{Verb: verbWaitStable, Quiet: 250 * time.Millisecond}},
		{line: `wait cursor 3 10 2s`, want: screenCommand{Verb: verbWaitCursor, Row: 3, Col: 10, Timeout: 2 * time.Second}},
		{line: `type "admin\r"`, want: screenCommand{Verb: verbType, Text: "admin\r"}},
		{line: `type "\x1b[A\u00e9"`, want: screenCommand{Verb: verbType, Text: "\x1b[Aé"}},
		{line: `type ""`, want: screenCommand{Verb: verbType, Text: ""}},
		{line: `press Enter`, want: screenCommand{Verb: verbPress, Key: "Enter"}},
		{line: `press ctrl-c`, want: screenCommand{Verb: verbPress, Key: "ctrl-c"}},
		{line: `print`, want: screenCommand{Verb: verbPrint}},
		{line: "cursor\r", want: screenCommand{Verb: verbCursor}},
		{line: `resize 30 100`, want: screenCommand{Verb: verbResize, Row: 30, Col: 100}},
		{line: `quit`, want: screenCommand{Verb: verbQuit}},
		{line: ``, empty: true},
		{line: `   # a comment`, empty: true},
	}
	for _, tt := range tests {
		got, empty, err := parseScreenCommand(tt.line)
		if err != nil || empty != tt.empty || got != tt.want {
			t.Errorf("parse(%q) = %+v, %v, %v; want %+v, %v", tt.line, got, empty, err, tt.want, tt.empty)
		}
	}
	bad := []string{
		`wait`, `wait login:`, `wait ""`, `wait "x" 0`, `wait "x" -1s`, `wait "x" 2h`, `wait "x" "5"`, `wait "x" 5 6`,
		`wait "unterminated`, `wait "x"y`, `wait stable 0`, `wait stable x`, `wait stable 1 2`, `wait cursor 1`,
		`wait cursor -1 0`, `wait cursor 1 99999`, `type`, `type hello`, `type "a" "b"`, `press`, `press Hyper-X`,
		`press Enter Tab`, `print 1`, `cursor now`, `quit please`, `resize 0 80`, `resize 24`, `resize "24" "80"`,
		`launch "x"`, `"type" "x"`, "type \"\xff\"", `ty"pe" "x"`,
	}
	for _, line := range bad {
		if cmd, empty, err := parseScreenCommand(line); err == nil || empty {
			t.Errorf("parse(%q) = %+v, empty %v: want an error", line, cmd, empty)
		}
	}
}

func FuzzScreenCommand(f *testing.F) {
	for _, s := range []string{`wait "login:" 10`, `wait stable 300`, `wait cursor 0 0 1s`, `type "a\tb\r"`,
		`press F12`, `press Ctrl-Alt-Delete`, `print`, `cursor`, `resize 24 80`, `quit`, `# c`, "type `x`", `wait "\u00e9"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		cmd, empty, err := parseScreenCommand(line)
		if err != nil || empty {
			return
		}
		again, empty, err := parseScreenCommand(cmd.String())
		if err != nil || empty || again != cmd {
			t.Fatalf("%q parsed to %+v, formatted %q, reparsed to %+v (%v)", line, cmd, cmd.String(), again, err)
		}
	})
}

// fakeDriver is a screen of fixed rows whose waits succeed when the text is
// on it; typing appends to the last row.
type fakeDriver struct {
	rows   []string
	typed  []string
	ended  bool
	sizeRC [2]int
}

func (d *fakeDriver) WaitForText(ctx context.Context, text string) error {
	if d.ended {
		return fmt.Errorf("wait: the host closed the connection: %w", io.EOF)
	}
	if strings.Contains(strings.Join(d.rows, "\n"), text) {
		return nil
	}
	<-ctx.Done()
	return ctx.Err()
}
func (d *fakeDriver) WaitForCursor(ctx context.Context, row, col int) error {
	if row == 1 && col == 2 {
		return nil
	}
	<-ctx.Done()
	return ctx.Err()
}
func (d *fakeDriver) WaitForStable(context.Context, time.Duration) error { return nil }
func (d *fakeDriver) Type(s string) error {
	if d.ended {
		return fmt.Errorf("send: %w", emulator.ErrClosed)
	}
	d.typed = append(d.typed, s)
	d.rows[len(d.rows)-1] += s
	return nil
}
func (d *fakeDriver) Press(k string) error {
	if _, err := emulator.ParseKey(k); err != nil {
		return err
	}
	d.typed = append(d.typed, "<"+k+">")
	return nil
}
func (d *fakeDriver) Screen() []string      { return d.rows }
func (d *fakeDriver) Cursor() (int, int)    { return 1, 2 }
func (d *fakeDriver) Resize(r, c int) error { d.sizeRC = [2]int{r, c}; return nil }

func TestRunScreenScript(t *testing.T) {
	d := &fakeDriver{rows: []string{"termgate demo host", "> "}}
	script := strings.Join([]string{
		`wait "demo host"`,
		`# comment`,
		``,
		`type "hi"`,
		`press Enter`,
		`print`,
		`cursor`,
		`wait cursor 1 2`,
		`wait "absent" 50ms`,
		`bogus`,
		`resize 30 100`,
		`wait stable 10`,
		`quit`,
		`print`,
	}, "\n")
	var out strings.Builder
	if err := runScreenScript(context.Background(), d, strings.NewReader(script), &out, time.Second); err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"ok",
		"ok",
		"ok",
		"data: termgate demo host",
		"data: > hi",
		"ok",
		"ok 1 2",
		"ok",
		"error timeout context deadline exceeded",
		`error bad_command unknown command "bogus": use wait, type, press, print, cursor, resize or quit`,
		"ok",
		"ok",
		"ok",
	}, "\n") + "\n"
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
	if strings.Join(d.typed, "|") != "hi|<Enter>" || d.sizeRC != [2]int{30, 100} {
		t.Errorf("typed %q, size %v", d.typed, d.sizeRC)
	}

	// A session that ended answers "disconnected"; the end of input ends the script.
	d = &fakeDriver{rows: []string{""}, ended: true}
	out.Reset()
	if err := runScreenScript(context.Background(), d, strings.NewReader("type \"x\"\nwait \"y\"\n"), &out, time.Second); err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if !strings.HasPrefix(l, "error disconnected ") {
			t.Errorf("answer %q, want error disconnected", l)
		}
	}

	// An over-long line is an error, not a hang.
	out.Reset()
	err := runScreenScript(context.Background(), d, strings.NewReader(strings.Repeat("x", maxScreenLine+10)), &out, time.Second)
	if err == nil || !strings.HasPrefix(out.String(), "error bad_command") {
		t.Errorf("long line: %v, %q", err, out.String())
	}
}

func TestClientCommandsUsage(t *testing.T) {
	t.Setenv("TERMGATE_PASSWORD", "x")
	for _, args := range [][]string{
		{"screen"},
		{"screen", "--mgmt", "https://127.0.0.1:1"},
		{"screen", "--mgmt", "https://127.0.0.1:1", "--session", "s"},
		{"connect", "--mgmt", "https://127.0.0.1:1", "--session", "s", "--user", "u", "--login-token-file", "f"},
		{"connect", "--mgmt", "https://127.0.0.1:1", "--session", "s", "--user", "u", "--escape", "xx"},
		{"screen", "extra-arg"},
	} {
		var out, errb strings.Builder
		err := Run(context.Background(), args, strings.NewReader(""), &out, &errb)
		if ExitCode(err) != ExitUsage {
			t.Errorf("%q: exit %d (%v), want usage error", args, ExitCode(err), err)
		}
	}
	// A management server that is not there: a failure, not a usage error.
	var out, errb strings.Builder
	err := Run(context.Background(), []string{"screen", "--mgmt", "https://127.0.0.1:1", "--session", "s", "--user", "u"},
		strings.NewReader("quit\n"), &out, &errb)
	if ExitCode(err) != ExitFailure || !strings.Contains(errb.String(), "login") {
		t.Errorf("unreachable server: exit %d, stderr %q", ExitCode(err), errb.String())
	}
}

func TestEscapeByte(t *testing.T) {
	for in, want := range map[string]byte{"^]": 0x1d, "^c": 0x03, "^@": 0} {
		if b, ok, err := escapeByte(in); err != nil || !ok || b != want {
			t.Errorf("escapeByte(%q) = %#x %v %v", in, b, ok, err)
		}
	}
	if _, ok, err := escapeByte("none"); ok || err != nil {
		t.Error("none")
	}
	var got strings.Builder
	err := copyInput(&got, strings.NewReader("ab\x1dcd"), 0x1d, true)
	if err != errEscape || got.String() != "ab" {
		t.Errorf("copyInput: %q %v", got.String(), err)
	}
	got.Reset()
	if err := copyInput(&got, strings.NewReader("ab\x1dcd"), 0x1d, false); err != io.EOF || got.String() != "ab\x1dcd" {
		t.Errorf("copyInput without escape: %q %v", got.String(), err)
	}
}

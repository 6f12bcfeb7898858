package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/termgate/termgate/emulator"
	"github.com/termgate/termgate/emulator/tn3270"
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
		{line: `wait unlock`, want: screenCommand{Verb: verbWaitUnlock}},
		{line: `Wait UNLOCK 3`, want: screenCommand{Verb: verbWaitUnlock, Timeout: 3 * time.Second}},
		{line: `field 6 21 "demo"`, want: screenCommand{Verb: verbField, Row: 6, Col: 21, Text: "demo"}},
		{line: `field 1 1 ""`, want: screenCommand{Verb: verbField, Row: 1, Col: 1, Text: ""}},
		{line: "field 24 80 `a b`", want: screenCommand{Verb: verbField, Row: 24, Col: 80, Text: "a b"}},
		{line: `fields`, want: screenCommand{Verb: verbFields}},
		{line: `press PF3`, want: screenCommand{Verb: verbPress, Key: "PF3"}},
		{line: `press pa1`, want: screenCommand{Verb: verbPress, Key: "pa1"}},
		{line: `press EraseEOF`, want: screenCommand{Verb: verbPress, Key: "EraseEOF"}},
		{line: `press Clear`, want: screenCommand{Verb: verbPress, Key: "Clear"}},
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
		`wait cursor 0 5`, `wait cursor 5 0`, `wait unlock 0`, `wait unlock x`, `wait unlock 1 2`, `wait unlock "1"`,
		`field`, `field 1 1`, `field 1 1 x`, `field 0 1 "x"`, `field 1 0 "x"`, `field "1" 1 "x"`, `field 1 1 "x" "y"`,
		`field 1 99999 "x"`, `fields 1`, `press PF25`, `press PA4`, `press Shift-PF1`,
	}
	for _, line := range bad {
		if cmd, empty, err := parseScreenCommand(line); err == nil || empty {
			t.Errorf("parse(%q) = %+v, empty %v: want an error", line, cmd, empty)
		}
	}
}

func FuzzScreenCommand(f *testing.F) {
	for _, s := range []string{`wait "login:" 10`, `wait stable 300`, `wait cursor 0 0 1s`, `type "a\tb\r"`,
		`press F12`, `press Ctrl-Alt-Delete`, `print`, `cursor`, `resize 24 80`, `quit`, `# c`, "type `x`", `wait "\u00e9"`,
		`wait unlock`, `wait unlock 2s`, `field 6 21 "demo"`, "field 1 1 `x`", `fields`, `press PF24`, `press PA3`,
		`press EraseInput`, `field 24 80 "\u00e9\""`} {
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
// on it; typing appends to the last row. With fields it is a 3270 screen.
type fakeDriver struct {
	rows   []string
	typed  []string
	ended  bool
	sizeRC [2]int
	fields []tn3270.Field // nil: a VT session
	set    []string       // SetField calls as "row,col=text" (0-based)
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
func (d *fakeDriver) WaitForUnlock(ctx context.Context) error {
	if d.fields == nil {
		return fmt.Errorf("wait for keyboard unlock: %w", emulator.ErrNotTN3270)
	}
	return nil
}
func (d *fakeDriver) SetField(row, col int, text string) error {
	if d.fields == nil {
		return fmt.Errorf("set field: %w", emulator.ErrNotTN3270)
	}
	if row == 0 {
		return &tn3270.FieldError{Row: row, Col: col, Err: tn3270.ErrProtected}
	}
	d.set = append(d.set, fmt.Sprintf("%d,%d=%s", row, col, text))
	return nil
}
func (d *fakeDriver) Fields() ([]tn3270.Field, error) {
	if d.fields == nil {
		return nil, fmt.Errorf("fields: %w", emulator.ErrNotTN3270)
	}
	return d.fields, nil
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
		`wait cursor 2 3`,
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
		"ok 2 3",
		"ok",
		"error timeout context deadline exceeded",
		`error bad_command unknown command "bogus": use wait, type, press, field, fields, print, cursor, resize or quit`,
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

	// 3270 commands on a VT session are bad commands.
	d = &fakeDriver{rows: []string{""}}
	out.Reset()
	if err := runScreenScript(context.Background(), d, strings.NewReader("fields\nfield 1 1 \"x\"\nwait unlock\n"), &out, time.Second); err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if !strings.HasPrefix(l, "error bad_command ") || !strings.Contains(l, "not a 3270 session") {
			t.Errorf("answer %q, want error bad_command … not a 3270 session", l)
		}
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

func TestRunScreenScript3270(t *testing.T) {
	d := &fakeDriver{
		rows: []string{"TERMGATE DEMO 3270", ""},
		fields: []tn3270.Field{
			{Row: 0, Col: 1, Len: 78, Protected: true, Intensified: true, Contents: "TERMGATE DEMO 3270   "},
			{Row: 5, Col: 20, Len: 8, Contents: "alice   ", Modified: true},
			{Row: 6, Col: 20, Len: 8, Hidden: true, Modified: true, Contents: "        "},
			{Row: 10, Col: 14, Len: 1, Numeric: true, Contents: " "},
			{Row: 5, Col: 29, Len: 50, Protected: true, Numeric: true, Skip: true, Contents: ""},
		},
	}
	script := strings.Join([]string{
		`wait "DEMO 3270"`,
		`wait unlock 2s`,
		`field 6 21 "alice"`,
		`field 7 21 "demo"`,
		`field 1 2 "x"`,
		`fields`,
		`press PF3`,
		`press PA1`,
		`quit`,
	}, "\n")
	var out strings.Builder
	if err := runScreenScript(context.Background(), d, strings.NewReader(script), &out, time.Second); err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"ok",
		"ok",
		"ok",
		"ok",
		"error failed tn3270: field at row 0 col 1: tn3270: protected field",
		`data: 1 2 78 protected,intensified "TERMGATE DEMO 3270"`,
		`data: 6 21 8 input,modified "alice"`,
		`data: 7 21 8 input,hidden,modified ""`,
		`data: 11 15 1 input,numeric ""`,
		`data: 6 30 50 protected,numeric,skip ""`,
		"ok",
		"ok",
		"ok",
		"ok",
	}, "\n") + "\n"
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
	if strings.Join(d.set, "|") != "5,20=alice|6,20=demo" || strings.Join(d.typed, "|") != "<PF3>|<PA1>" {
		t.Errorf("set %q, typed %q", d.set, d.typed)
	}
}

// TestFieldLineNeverShowsHidden: even if a hidden field's contents were
// not blank, the fields command would not print them.
func TestFieldLineNeverShowsHidden(t *testing.T) {
	got := fieldLine(tn3270.Field{Row: 6, Col: 20, Len: 8, Hidden: true, Contents: "s3cr3tpw"})
	if strings.Contains(got, "s3cr3tpw") || got != `7 21 8 input,hidden ""` {
		t.Errorf("fieldLine = %q", got)
	}
}

// TestScreenDemoEndToEnd runs the worked examples of docs/screen.md against
// "termgate up": the real management server, proxy and demo hosts.
func TestScreenDemoEndToEnd(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	a := freeUpAddrs(t)
	up := startCLI(t, upDone, a.args(data)...)
	t.Cleanup(func() { up.stop(t) })
	t.Setenv(envMgmtPassword, readTrim(t, filepath.Join(data, "admin-password")))
	client := func(session string, extra ...string) []string {
		return append([]string{"screen", "--mgmt", "https://" + a.mgmt, "--ca", filepath.Join(data, "ca.pem"),
			"--user", "admin", "--session", session, "--timeout", "20s"}, extra...)
	}

	logon := strings.Join([]string{
		`wait "TERMGATE DEMO 3270"`,
		`wait unlock`,
		`fields`,
		`field 6 21 "alice"`,
		`field 7 21 "demo"`,
		`press Enter`,
		`wait "MAIN MENU"`,
		`wait unlock`,
		`print`,
		`cursor`,
		`press PF3`,
		`wait "GOODBYE"`,
		`resize 30 100`,
		`quit`,
	}, "\n")
	r := runCLIStdin(t, logon, client("demo-3270")...)
	r.must(t, ExitOK)
	wantFields := strings.Join([]string{
		`ok`,
		`ok`,
		`data: 1 2 159 protected,intensified "                              TERMGATE DEMO 3270"`,
		`data: 3 2 240 protected "Sign on to the termgate demonstration host."`,
		`data: 6 3 17 protected "User . . . . . ."`,
		`data: 6 21 8 input ""`,
		`data: 6 30 52 protected,numeric,skip ""`,
		`data: 7 3 17 protected "Password . . . ."`,
		`data: 7 21 8 input,hidden ""`,
		`data: 7 30 212 protected,numeric,skip ""`,
		`data: 10 3 1038 protected "Any user name; the password is: demo"`,
		`data: 23 2 79 protected,intensified ""`,
		`data: 24 2 79 protected "Enter=Sign on  PF3=Exit"`,
		`ok`, `ok`, `ok`, `ok`, `ok`, `ok`,
		`data:                                    MAIN MENU`,
		`data: `,
		`data:   Signed on as ALICE`,
	}, "\n")
	if !strings.HasPrefix(r.stdout, wantFields) {
		t.Errorf("3270 logon script:\n%s\nwant it to start with:\n%s", r.stdout, wantFields)
	}
	wantEnd := "data:  Enter=Select  PF3=Sign off\nok\nok 11 15\nok\nok\nerror bad_command resize: not a VT session: a 3270 model fixes the screen size\nok\n"
	if !strings.HasSuffix(r.stdout, wantEnd) {
		t.Errorf("3270 logon script:\n%s\nwant it to end with:\n%s", r.stdout, wantEnd)
	}

	// A wrong password: refused, and shown nowhere, recording included.
	const secret = "s3cr3tpw"
	rec := filepath.Join(t.TempDir(), "3270.cast")
	r = runCLIStdin(t, strings.Join([]string{
		`wait "TERMGATE DEMO 3270"`,
		`wait unlock`,
		`field 6 21 "bob"`,
		`field 7 21 "` + secret + `"`,
		`fields`,
		`print`,
		`press Enter`,
		`wait "INVALID PASSWORD"`,
		`wait unlock`,
		`fields`,
		`print`,
		`press Escape`,
		`field 1 2 "x"`,
		`quit`,
	}, "\n"), client("demo-3270", "--record", rec)...)
	r.must(t, ExitOK, `data: 7 21 8 input,hidden,modified ""`, "data:  INVALID PASSWORD",
		"error bad_command press Escape: not a VT session", "error failed set field: tn3270: field at row 0 col 1: tn3270: protected field")
	cast, err := os.ReadFile(rec)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(r.stdout, secret) || strings.Contains(string(cast), secret) || !strings.Contains(string(cast), "INVALID PASSWORD") {
		t.Errorf("the password leaked, or the recording lacks the screens\nstdout:\n%s\nrecording:\n%s", r.stdout, cast)
	}

	// The VT worked example.
	r = runCLIStdin(t, strings.Join([]string{
		`wait "Select an option" 10`,
		`wait stable 300`,
		`type "2"`,
		`wait "Echo mode"`,
		`type "hello"`,
		`press Enter`,
		`wait "HELLO"`,
		`cursor`,
		`fields`,
		`quit`,
	}, "\n"), client("demo-vt")...)
	r.must(t, ExitOK)
	if want := "ok\nok\nok\nok\nok\nok\nok\nok 23 3\nerror bad_command fields: not a 3270 session: \"demo-vt\" is a telnet session\nok\n"; r.stdout != want {
		t.Errorf("VT script:\n%s\nwant:\n%s", r.stdout, want)
	}

	// connect refuses a 3270 session and says what to use.
	r = runCLI(t, "connect", "--mgmt", "https://"+a.mgmt, "--ca", filepath.Join(data, "ca.pem"), "--user", "admin", "--session", "demo-3270")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "termgate screen --session demo-3270") {
		t.Errorf("connect to a 3270 session: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestErrorCodeDisconnected: the host's end, a closed session and a lost
// proxy node all answer "disconnected".
func TestErrorCodeDisconnected(t *testing.T) {
	ctx := context.Background()
	for _, err := range []error{
		fmt.Errorf("wait: the host closed the connection: %w", io.EOF),
		fmt.Errorf("send: %w", emulator.ErrClosed),
		fmt.Errorf("wait: %w", emulator.ErrProxyLost),
	} {
		if got := errorCode(ctx, err); got != "disconnected" {
			t.Errorf("errorCode(%v) = %s, want disconnected", err, got)
		}
	}
}

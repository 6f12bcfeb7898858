package emulator_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/termgate/termgate/emulator"
	"github.com/termgate/termgate/emulator/tn3270"
	"github.com/termgate/termgate/emulator/vt"
)

// Positions of the demo 3270 host's logon panel (0-based).
const (
	userRow, userCol = 5, 20
	passRow, passCol = 6, 20
	fieldLen         = 8
)

// open3270 opens the demo 3270 session and waits for the logon panel with
// the keyboard unlocked.
func open3270(t *testing.T, env *testEnv, opts emulator.SessionOptions) *emulator.Session {
	t.Helper()
	s := openSession(t, env, session3270, logon3270, opts)
	if err := s.WaitForUnlock(ctxT(t)); err != nil {
		t.Fatalf("%v; screen:\n%s", err, s)
	}
	return s
}

// enter presses an AID key and waits for the host's answer: text on the
// screen and the keyboard unlocked.
func enter(t *testing.T, s *emulator.Session, key, text string) {
	t.Helper()
	ctx := ctxT(t)
	if err := s.Press(key); err != nil {
		t.Fatalf("press %s: %v", key, err)
	}
	if err := s.WaitForText(ctx, text); err != nil {
		t.Fatalf("after %s: %v; screen:\n%s", key, err, s)
	}
	if err := s.WaitForUnlock(ctx); err != nil {
		t.Fatalf("after %s: %v; screen:\n%s", key, err, s)
	}
}

func TestSession3270SignOn(t *testing.T) {
	env := newEnv(t)
	ctx := ctxT(t)
	s := open3270(t, env, emulator.SessionOptions{})

	if s.Protocol() != emulator.ProtoTN3270 || s.TN3270() == nil || s.Terminal() != nil {
		t.Fatalf("protocol %q, 3270 terminal %v, VT screen %v", s.Protocol(), s.TN3270() != nil, s.Terminal() != nil)
	}
	if mode := s.TN3270().Mode(); mode != tn3270.ModeTN3270E {
		t.Errorf("negotiated %v, want TN3270E", mode)
	}
	if r, c := s.Size(); r != 24 || c != 80 || len(s.Screen()) != 24 {
		t.Errorf("size %dx%d, %d rows", r, c, len(s.Screen()))
	}
	if r, c := s.Cursor(); r != userRow || c != userCol {
		t.Errorf("cursor %d,%d, want the user field %d,%d", r, c, userRow, userCol)
	}
	if kb, err := s.Keyboard(); err != nil || kb != tn3270.Unlocked {
		t.Errorf("keyboard %v, %v", kb, err)
	}
	if got := strings.TrimSpace(s.Screen()[0]); got != logon3270 {
		t.Errorf("title %q", got)
	}
	if got := s.Text(userRow, 2, 16); got != "User . . . . . ." {
		t.Errorf("Text = %q", got)
	}
	if c := s.Cell(userRow, 2); c.Rune != 'U' || c.Width != 1 {
		t.Errorf("Cell = %+v", c)
	}
	if c := s.Cell(99, 0); c != (vt.Cell{}) {
		t.Errorf("Cell outside = %+v", c)
	}

	fields, err := s.Fields()
	if err != nil {
		t.Fatal(err)
	}
	var inputs []tn3270.Field
	for _, f := range fields {
		if !f.Protected {
			inputs = append(inputs, f)
		}
	}
	if len(inputs) != 2 || inputs[0].Row != userRow || inputs[0].Col != userCol || inputs[0].Hidden ||
		inputs[1].Row != passRow || inputs[1].Col != passCol || !inputs[1].Hidden || inputs[1].Len != fieldLen {
		t.Fatalf("input fields %+v", inputs)
	}
	pw, err := s.FieldAt(passRow, passCol+3)
	if err != nil || pw.Addr != inputs[1].Addr {
		t.Fatalf("FieldAt in the password field: %+v, %v", pw, err)
	}

	// Wrong input is refused with the field's reason, and changes nothing.
	if err := s.SetField(2, 5, "x"); !errors.Is(err, tn3270.ErrProtected) {
		t.Errorf("SetField on a label: %v", err)
	}
	if err := s.SetField(userRow, userCol, "much too long"); !errors.Is(err, tn3270.ErrTooLong) {
		t.Errorf("SetField too long: %v", err)
	}
	var fe *tn3270.FieldError
	if err := s.SetField(userRow, userCol, "\x01"); !errors.As(err, &fe) || fe.Row != userRow {
		t.Errorf("SetField with a control character: %v", err)
	}
	// VT-only operations and keys say what is wrong.
	for name, err := range map[string]error{
		"Send":       s.Send([]byte("x")),
		"Resize":     s.Resize(30, 100),
		"Press Esc":  s.Press("Escape"),
		"Press C-c":  s.Press("Ctrl-C"),
		"Press PgUp": s.Press("PgUp"),
	} {
		if !errors.Is(err, emulator.ErrNotVT) {
			t.Errorf("%s on a 3270 session: %v", name, err)
		}
	}
	if err := s.Press("Hyper-Q"); !errors.Is(err, emulator.ErrUnknownKey) {
		t.Errorf("unknown key: %v", err)
	}

	if err := s.SetField(userRow, userCol, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetField(passRow, passCol, password3270); err != nil {
		t.Fatal(err)
	}
	// The hidden field shows blank everywhere; "demo" appears on the panel
	// only in its hint line.
	if got := s.Text(passRow, passCol, fieldLen); got != strings.Repeat(" ", fieldLen) {
		t.Errorf("password field shows %q", got)
	}
	if f, _ := s.FieldAt(passRow, passCol); strings.TrimSpace(f.Contents) != "" || !f.Modified {
		t.Errorf("password field %+v", f)
	}
	word := regexp.MustCompile(`\b` + password3270 + `\b`)
	if n := len(word.FindAllString(s.String(), -1)); n != 1 {
		t.Errorf("%q appears %d times on the screen, want once (the hint):\n%s", password3270, n, s)
	}
	if got := s.Text(userRow, userCol, 5); got != "alice" {
		t.Errorf("user field shows %q", got)
	}

	enter(t, s, "Enter", "MAIN MENU")
	if !strings.Contains(s.String(), "Signed on as ALICE") {
		t.Errorf("menu:\n%s", s)
	}
	if word.MatchString(s.String()) {
		t.Errorf("the menu shows %q:\n%s", password3270, s)
	}
	// Type: the option field takes the cursor; "\r" is Enter.
	if err := s.Type("2\r"); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitForText(ctx, "SYSTEM STATUS"); err != nil {
		t.Fatalf("%v\n%s", err, s)
	}
	if err := s.WaitForUnlock(ctx); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Terminal . . : IBM-3278-2-E", "Protocol . . : TN3270E"} {
		if !strings.Contains(s.String(), want) {
			t.Errorf("status panel lacks %q:\n%s", want, s)
		}
	}
	// Text after an Enter would meet a locked keyboard: refused up front.
	if err := s.Type("\rx"); !errors.Is(err, tn3270.ErrKeyboardLocked) {
		t.Errorf("typing after Enter: %v", err)
	}
	// Typing into a protected position is an operator error that Reset clears.
	if err := s.Type("x"); !errors.Is(err, tn3270.ErrProtected) {
		t.Errorf("typing on a panel without input fields: %v", err)
	}
	if kb, _ := s.Keyboard(); kb != tn3270.LockedProtected {
		t.Errorf("keyboard %v after an operator error", kb)
	}
	if err := s.Press("Reset"); err != nil {
		t.Fatal(err)
	}
	if kb, _ := s.Keyboard(); kb != tn3270.Unlocked {
		t.Errorf("keyboard %v after Reset", kb)
	}

	// PF3 returns to the menu; F3 is the same key and signs off.
	enter(t, s, "PF3", "MAIN MENU")
	if err := s.Press("F3"); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitForText(ctx, "GOODBYE FROM TERMGATE DEMO 3270"); err != nil {
		t.Fatalf("%v\n%s", err, s)
	}
	select {
	case <-s.Done():
	case <-ctx.Done():
		t.Fatal("the host's close did not end the session")
	}
	if !errors.Is(s.Err(), io.EOF) {
		t.Errorf("Err() = %v, want io.EOF", s.Err())
	}
	if kb, _ := s.Keyboard(); kb != tn3270.LockedDisconnected {
		t.Errorf("keyboard %v after the host closed", kb)
	}
	if err := s.SetField(userRow, userCol, "x"); !errors.Is(err, io.EOF) {
		t.Errorf("SetField on an ended session: %v", err)
	}
	if err := s.WaitForUnlock(ctx); !errors.Is(err, io.EOF) {
		t.Errorf("WaitForUnlock on an ended session: %v", err)
	}
	if !strings.Contains(s.String(), "GOODBYE") {
		t.Errorf("last screen lost:\n%s", s)
	}
}

// TestSession3270WrongPassword: a wrong password is refused, and neither the
// screen, the fields nor the recording ever show it.
func TestSession3270WrongPassword(t *testing.T) {
	env := newEnv(t)
	const secret = "s3cr3tpw"
	var rec bytes.Buffer
	s := open3270(t, env, emulator.SessionOptions{Recorder: &rec})
	if err := s.SetField(userRow, userCol, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetField(passRow, passCol, secret); err != nil {
		t.Fatal(err)
	}
	leaked := func(when string) {
		t.Helper()
		if strings.Contains(s.String(), secret) || strings.Contains(strings.Join(s.Screen(), ""), secret) {
			t.Errorf("%s: the screen shows the password", when)
		}
		fields, _ := s.Fields()
		for _, f := range fields {
			if strings.Contains(f.Contents, secret) {
				t.Errorf("%s: field %d,%d shows the password", when, f.Row, f.Col)
			}
		}
	}
	leaked("before Enter")
	enter(t, s, "Enter", "INVALID PASSWORD")
	leaked("after Enter")
	if strings.Contains(s.String(), "MAIN MENU") {
		t.Fatalf("signed on with a wrong password:\n%s", s)
	}
	enter(t, s, "PA1", logon3270) // PA keys repaint the panel
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(s.Err(), emulator.ErrClosed) {
		t.Errorf("Err after Close = %v", s.Err())
	}
	if err := s.Press("Enter"); !errors.Is(err, emulator.ErrClosed) {
		t.Errorf("Press after Close = %v", err)
	}

	cr, err := vt.NewCastReader(&rec)
	if err != nil {
		t.Fatal(err)
	}
	if h := cr.Header(); h.Width != 80 || h.Height != 24 || h.Env["TERM"] != "IBM-3278-2-E" {
		t.Errorf("cast header %+v", h)
	}
	var out strings.Builder
	for {
		ev, err := cr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		out.WriteString(ev.Data)
	}
	// Changes close together may be coalesced into one frame; a screen that
	// stays until the next input is recorded.
	if !strings.Contains(out.String(), logon3270) || !strings.Contains(out.String(), "INVALID PASSWORD") {
		t.Errorf("recording lacks the screens: %q", out.String())
	}
	if strings.Contains(out.String(), secret) {
		t.Error("the recording holds the password")
	}
}

// TestSession3270Model: the model comes from the definition or the options,
// and a basic terminal type goes without -E.
func TestSession3270Model(t *testing.T) {
	env := newEnv(t)
	s := open3270(t, env, emulator.SessionOptions{TerminalType: "IBM-3278-5", TN3270: tn3270.Config{NoTN3270E: true}})
	if err := s.SetField(userRow, userCol, "carol"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetField(passRow, passCol, password3270); err != nil {
		t.Fatal(err)
	}
	enter(t, s, "Enter", "MAIN MENU")
	if err := s.SetField(10, 14, "2"); err != nil {
		t.Fatal(err)
	}
	enter(t, s, "Enter", "SYSTEM STATUS")
	for _, want := range []string{"Terminal . . : IBM-3278-5\n", "Protocol . . : TN3270\n"} {
		if !strings.Contains(s.String()+"\n", want) {
			t.Errorf("status panel lacks %q:\n%s", want, s)
		}
	}

	ctx := ctxT(t)
	for _, opts := range []emulator.SessionOptions{
		{Rows: 30, Cols: 100},
		{TerminalType: "vt220"},
		{TN3270: tn3270.Config{CodePage: "cp9999"}},
	} {
		if s, err := emulator.Open(ctx, env.Client(t), session3270, opts); err == nil {
			s.Close()
			t.Errorf("Open with %+v succeeded", opts)
		}
	}
	s5, err := emulator.Open(ctx, env.Client(t), session3270, emulator.SessionOptions{TerminalType: "3278-5-E", Rows: 27, Cols: 132})
	if err != nil {
		t.Fatalf("model 5 with its alternate size: %v", err)
	}
	s5.Close()
}

// TestSession3270Reconnect: a dropped tunnel is replaced by a fresh
// terminal, which the host paints.
func TestSession3270Reconnect(t *testing.T) {
	env := newEnv(t)
	ctx := ctxT(t)
	s := open3270(t, env, emulator.SessionOptions{})
	if err := s.SetField(userRow, userCol, "dave"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetField(passRow, passCol, password3270); err != nil {
		t.Fatal(err)
	}
	enter(t, s, "Enter", "MAIN MENU")
	old := s.TN3270()
	env.proxy.Kill()
	select {
	case <-s.Done():
	case <-ctx.Done():
		t.Fatal("a dropped tunnel did not end the session's connection")
	}
	if !errors.Is(s.Err(), emulator.ErrProxyLost) {
		t.Errorf("Err() = %v, want ErrProxyLost", s.Err())
	}
	if err := s.Press("Enter"); err == nil {
		t.Error("Press on a dropped connection succeeded")
	}
	if _, err := s.Reconnect(ctx); err != nil {
		t.Fatal(err)
	}
	if s.TN3270() == old || s.Err() != nil {
		t.Errorf("reconnect kept the old terminal (err %v)", s.Err())
	}
	if err := s.WaitForText(ctx, logon3270); err != nil {
		t.Fatalf("%v\n%s", err, s)
	}
	if err := s.WaitForUnlock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.SetField(userRow, userCol, "dave"); err != nil {
		t.Fatal(err)
	}
}

// TestSessionVTRefuses3270 checks the 3270-only methods on a VT session.
func TestSessionVTRefuses3270(t *testing.T) {
	env := newEnv(t)
	s := openDemo(t, env, emulator.SessionOptions{})
	short, cancel := context.WithTimeout(ctxT(t), time.Second)
	defer cancel()
	_, fieldsErr := s.Fields()
	_, fieldAtErr := s.FieldAt(0, 0)
	_, kbErr := s.Keyboard()
	for name, err := range map[string]error{
		"Fields":        fieldsErr,
		"FieldAt":       fieldAtErr,
		"Keyboard":      kbErr,
		"SetField":      s.SetField(0, 0, "x"),
		"WaitForUnlock": s.WaitForUnlock(short),
		"Press PA1":     s.Press("PA1"),
		"Press Clear":   s.Press("Clear"),
	} {
		if !errors.Is(err, emulator.ErrNotTN3270) {
			t.Errorf("%s on a VT session: %v", name, err)
		}
	}
	if s.TN3270() != nil {
		t.Error("TN3270() on a VT session")
	}
}

func TestSession3270NoGoroutineLeak(t *testing.T) {
	env := newEnv(t)
	ignore := goleak.IgnoreCurrent()
	func() {
		var rec bytes.Buffer
		s := open3270(t, env, emulator.SessionOptions{Recorder: &rec})
		if err := s.SetField(userRow, userCol, "erin"); err != nil {
			t.Fatal(err)
		}
		s.Close()
	}()
	env.Close()
	goleak.VerifyNone(t, ignore)
}

func TestParseModel(t *testing.T) {
	tests := []struct {
		name  string
		model int
		basic bool
	}{
		{"", 2, false},
		{"IBM-3278-2", 2, true},
		{"IBM-3278-2-E", 2, false},
		{"ibm-3278-4-e", 4, false},
		{" 3278-3 ", 3, true},
		{"3279-5-E", 5, false},
		{"IBM3278-5", 5, true},
		{"5", 5, false},
		{"2-E", 2, false},
	}
	for _, tt := range tests {
		m, basic, err := emulator.ParseModel(tt.name)
		if err != nil || m != tt.model || basic != tt.basic {
			t.Errorf("ParseModel(%q) = %d, %v, %v; want %d, %v", tt.name, m, basic, err, tt.model, tt.basic)
		}
	}
	for _, bad := range []string{"1", "6", "IBM-3278-22", "IBM-3270-2", "vt220", "xterm", "3278", "IBM-3278-2-EE", "-E", "3278-2-X"} {
		if _, _, err := emulator.ParseModel(bad); !errors.Is(err, tn3270.ErrBadModel) {
			t.Errorf("ParseModel(%q) = %v, want ErrBadModel", bad, err)
		}
	}
}

package emulator_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/termgate/termgate/emulator"
	"github.com/termgate/termgate/emulator/vt"
	"github.com/termgate/termgate/internal/testpeer"
)

// openSession opens the session name and waits for text on its screen.
func openSession(t *testing.T, env *testEnv, name, text string, opts emulator.SessionOptions) *emulator.Session {
	t.Helper()
	s, err := emulator.Open(ctxT(t), env.Client(t), name, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.WaitForText(ctxT(t), text); err != nil {
		t.Fatalf("%v; screen:\n%s", err, s)
	}
	return s
}

// openDemo opens the demo VT host and waits until it shows its menu.
func openDemo(t *testing.T, env *testEnv, opts emulator.SessionOptions) *emulator.Session {
	t.Helper()
	s := openSession(t, env, sessionDemo, demoPrompt, opts)
	waitDemoReady(t, s)
	return s
}

// waitDemoReady waits until the demo VT host's status line shows our window
// size and terminal type. Until then the host may still repaint the whole
// screen (when TTYPE and NAWS arrive), which would wipe what it echoed.
func waitDemoReady(t *testing.T, s *emulator.Session) {
	t.Helper()
	rows, cols := s.Size()
	re := regexp.MustCompile(fmt.Sprintf(`(?m)\| %dx%d \| [a-z0-9.-]+ *$`, cols, rows))
	if _, err := s.WaitForRegexp(ctxT(t), re); err != nil {
		t.Fatalf("%v; screen:\n%s", err, s)
	}
}

// echoMode switches the demo VT host to echo mode, where each line typed is
// printed back as "line  =>  LINE".
func echoMode(t *testing.T, s *emulator.Session) {
	t.Helper()
	if err := s.Type("2"); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitForText(ctxT(t), "Echo mode:"); err != nil {
		t.Fatalf("%v; screen:\n%s", err, s)
	}
}

func TestSessionDemoVT(t *testing.T) {
	env := newEnv(t)
	ctx := ctxT(t)
	s := openDemo(t, env, emulator.SessionOptions{})
	if got := s.String(); !strings.Contains(got, demoBanner) || !strings.Contains(got, "2  Echo mode") {
		t.Fatalf("first screen:\n%s", got)
	}
	if s.Protocol() != "telnet" || s.Terminal() == nil || s.TN3270() != nil {
		t.Errorf("protocol %q, terminal %v, 3270 %v", s.Protocol(), s.Terminal() != nil, s.TN3270() != nil)
	}
	echoMode(t, s)
	if err := s.Type("hello"); err != nil {
		t.Fatal(err)
	}
	if err := s.Press("Enter"); err != nil {
		t.Fatal(err)
	}
	m, err := s.WaitForRegexp(ctx, regexp.MustCompile(`hello  =>  (\S+)`))
	if err != nil {
		t.Fatalf("%v; screen:\n%s", err, s)
	}
	if m[1] != "HELLO" {
		t.Errorf("echo %q, want HELLO", m[1])
	}
	// A blank line returns to the menu; q quits and the host closes.
	if err := s.Press("Enter"); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitForText(ctx, demoPrompt); err != nil {
		t.Fatal(err)
	}
	if err := s.Type("q"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Done():
	case <-ctx.Done():
		t.Fatal("session did not end after q")
	}
	if !errors.Is(s.Err(), io.EOF) {
		t.Errorf("Err() = %v, want io.EOF", s.Err())
	}
	if !strings.Contains(s.String(), "Goodbye from the termgate demo host.") {
		t.Errorf("last screen lost:\n%s", s)
	}
}

// TestSessionLineHost checks key encodings, TTYPE, NAWS and Resize against
// the line host, which shows what it received.
func TestSessionLineHost(t *testing.T) {
	env := newEnv(t)
	ctx := ctxT(t)
	s := openSession(t, env, sessionLine, lineBanner, emulator.SessionOptions{})
	if got := s.Screen(); got[0] != lineBanner || got[1] != ">" || len(got) != 24 {
		t.Fatalf("first screen rows %q", got[:3])
	}
	if err := s.WaitForCursor(ctx, 1, 2); err != nil {
		t.Fatal(err)
	}
	if err := s.Type("hello"); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitForText(ctx, "> hello"); err != nil {
		t.Fatal(err)
	}
	if err := s.Press("Enter"); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitForText(ctx, `got "hello"`); err != nil {
		t.Fatal(err)
	}
	if got := s.Text(2, 0, 11); got != `got "hello"` {
		t.Errorf("Text(2,0,11) = %q", got)
	}
	if c := s.Cell(2, 0); c.Rune != 'g' || c.Width != 1 {
		t.Errorf("Cell(2,0) = %+v", c)
	}
	if r, c := s.Cursor(); r != 3 || c != 2 {
		t.Errorf("cursor %d,%d, want 3,2", r, c)
	}

	// Keys as the host receives them.
	for _, tt := range []struct{ key, want string }{
		{"Up", `\x1b[A`}, {"F5", `\x1b[15~`}, {"Ctrl-B", `\x02`}, {"Shift-Tab", `\x1b[Z`}, {"Tab", `\t`}, {"Alt-x", `\x1bx`},
	} {
		if err := s.Press(tt.key); err != nil {
			t.Fatal(err)
		}
		if err := s.Press("Enter"); err != nil {
			t.Fatal(err)
		}
		if err := s.WaitForText(ctx, `got "`+tt.want+`"`); err != nil {
			t.Fatalf("%s: %v; screen:\n%s", tt.key, err, s)
		}
	}
	if err := s.Press("Hyper-Q"); !errors.Is(err, emulator.ErrUnknownKey) {
		t.Errorf("unknown key: %v", err)
	}
	if err := s.Press("PF3"); !errors.Is(err, emulator.ErrNotTN3270) {
		t.Errorf("a 3270 key on a VT session: %v", err)
	}

	// Terminal model from the definition → TTYPE; size → NAWS; Resize.
	if err := s.Type("ttype\r"); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitForText(ctx, "ttype vt220"); err != nil {
		t.Fatal(err)
	}
	if err := s.Resize(30, 100); err != nil {
		t.Fatal(err)
	}
	if r, c := s.Size(); r != 30 || c != 100 {
		t.Errorf("size %dx%d", r, c)
	}
	if err := s.Type("size\r"); err != nil {
		t.Fatal(err)
	}
	m, err := s.WaitForRegexp(ctx, regexp.MustCompile(`size (\d+)x(\d+)`))
	if err != nil {
		t.Fatal(err)
	}
	if m[1] != "30" || m[2] != "100" {
		t.Errorf("host sees %sx%s, want 30x100", m[1], m[2])
	}
	if err := s.WaitForStable(ctx, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}

	// A wait that cannot succeed ends with its context.
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if err := s.WaitForText(short, "never shown"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("impossible wait: %v", err)
	}

	// The host ends the session.
	if err := s.Type("quit\r"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Done():
	case <-ctx.Done():
		t.Fatal("session did not end after quit")
	}
	if !errors.Is(s.Err(), io.EOF) {
		t.Errorf("Err() = %v, want io.EOF", s.Err())
	}
	if err := s.WaitForText(ctx, "never shown"); !errors.Is(err, io.EOF) {
		t.Errorf("wait on an ended session: %v", err)
	}
	if err := s.Type("x"); !errors.Is(err, io.EOF) {
		t.Errorf("type on an ended session: %v", err)
	}
	if !strings.Contains(s.String(), "bye") {
		t.Errorf("last screen lost:\n%s", s)
	}
}

func TestSessionOptions(t *testing.T) {
	env := newEnv(t)
	ctx := ctxT(t)
	var rec bytes.Buffer
	s := openDemo(t, env, emulator.SessionOptions{TerminalType: "xterm-256color", Rows: 40, Cols: 120, Recorder: &rec})
	// The demo host's status line shows the size (NAWS) and type (TTYPE).
	if err := s.WaitForText(ctx, "| 120x40 | xterm-256color"); err != nil {
		t.Fatalf("%v\n%s", err, s)
	}
	if r, c := s.Size(); r != 40 || c != 120 || !strings.Contains(s.Screen()[39], "termgate demo host |") {
		t.Errorf("size %dx%d, last row %q", r, c, s.Screen()[39])
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if !errors.Is(s.Err(), emulator.ErrClosed) {
		t.Errorf("Err after Close = %v", s.Err())
	}
	if err := s.Type("x"); !errors.Is(err, emulator.ErrClosed) {
		t.Errorf("Type after Close = %v", err)
	}

	cr, err := vt.NewCastReader(&rec)
	if err != nil {
		t.Fatal(err)
	}
	if h := cr.Header(); h.Width != 120 || h.Height != 40 || h.Env["TERM"] != "xterm-256color" {
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
		if ev.Type != vt.CastOutput {
			t.Errorf("event type %q recorded", ev.Type)
		}
		out.WriteString(ev.Data)
	}
	if !strings.Contains(out.String(), demoBanner) || !strings.Contains(out.String(), "120x40") {
		t.Errorf("recording lacks the session output: %q", out.String())
	}
}

func TestOpenUnsupportedProtocol(t *testing.T) {
	env := newEnv(t)
	_, err := emulator.Open(ctxT(t), env.Client(t), sessionFTP, emulator.SessionOptions{})
	if !errors.Is(err, emulator.ErrUnsupportedProtocol) {
		t.Fatalf("ftp session: %v", err)
	}
	// A 3270 session is a screen, not a byte stream.
	l, err := env.Client(t).Launch(ctxT(t), session3270, emulator.LaunchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := emulator.Connect(ctxT(t), l, emulator.StreamOptions{}); !errors.Is(err, emulator.ErrUnsupportedProtocol) {
		t.Fatalf("Connect of a tn3270 session: %v", err)
	}
}

// TestSessionConcurrent types from one goroutine while another waits for
// each answer; run it with -race.
func TestSessionConcurrent(t *testing.T) {
	env := newEnv(t)
	ctx := ctxT(t)
	const n = 40
	// Tall enough that no answer scrolls off before its waiter looks.
	s := openDemo(t, env, emulator.SessionOptions{Rows: 2*n + 10})
	echoMode(t, s)
	var wg sync.WaitGroup
	errc := make(chan error, 3)
	wg.Add(3)
	go func() {
		defer wg.Done()
		for i := range n {
			if err := s.Type("line" + strconv.Itoa(i) + "\r"); err != nil {
				errc <- err
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		for i := range n {
			if err := s.WaitForText(ctx, fmt.Sprintf("line%d  =>  LINE%d\n", i, i)); err != nil {
				errc <- err
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		for range 200 {
			_ = s.Screen()
			_, _ = s.Cursor()
			_ = s.Cell(0, 0)
		}
	}()
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	if err := s.WaitForText(ctx, fmt.Sprintf("LINE%d", n-1)); err != nil {
		t.Fatal(err)
	}
}

func TestSessionReconnect(t *testing.T) {
	env := newEnv(t)
	ctx := ctxT(t)
	var infos []emulator.ReconnectInfo
	s := openDemo(t, env, emulator.SessionOptions{OnReconnect: func(i emulator.ReconnectInfo) { infos = append(infos, i) }})
	first := s.ProxySession()
	echoMode(t, s)
	if err := s.Type("before\r"); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitForText(ctx, "BEFORE"); err != nil {
		t.Fatal(err)
	}

	env.proxy.Kill() // the proxy node dies
	select {
	case <-s.Done():
	case <-ctx.Done():
		t.Fatal("a dropped tunnel did not end the session's connection")
	}
	if !errors.Is(s.Err(), emulator.ErrProxyLost) || strings.Contains(s.Err().Error(), "host closed") {
		t.Fatalf("Err() = %v, want ErrProxyLost", s.Err())
	}

	info, err := s.Reconnect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Attempt != 1 || info.Cause == nil || info.ProxySession == first || info.Proxy != env.proxy.Addr() {
		t.Errorf("reconnect info %+v (first proxy session %s)", info, first)
	}
	if len(infos) != 1 || infos[0].Attempt != 1 {
		t.Errorf("OnReconnect calls %+v", infos)
	}
	if got := env.Launches.Load(); got != 2 {
		t.Errorf("%d launches, want 2 (a reconnect needs a fresh token)", got)
	}
	if s.Err() != nil {
		t.Errorf("Err() after reconnect = %v", s.Err())
	}
	// A new connection: the host paints its menu again.
	if err := s.WaitForText(ctx, demoPrompt); err != nil {
		t.Fatalf("%v\n%s", err, s)
	}
	waitDemoReady(t, s)
	if err := s.Type("2after\r"); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitForText(ctx, "AFTER"); err != nil {
		t.Fatalf("%v\n%s", err, s)
	}

	// A reconnect of a live connection replaces it.
	info, err = s.Reconnect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Attempt != 2 || info.Cause != nil {
		t.Errorf("second reconnect info %+v", info)
	}
	if err := s.WaitForText(ctx, demoPrompt); err != nil {
		t.Fatalf("%v\n%s", err, s)
	}
	waitDemoReady(t, s)
	if err := s.Type("2again\r"); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitForText(ctx, "AGAIN"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := s.Reconnect(ctx); !errors.Is(err, emulator.ErrClosed) {
		t.Errorf("Reconnect after Close: %v", err)
	}
}

// TestSessionWaitSurvivesReconnect: a wait started before the drop is
// satisfied by the new connection.
func TestSessionWaitSurvivesReconnect(t *testing.T) {
	env := newEnv(t)
	ctx := ctxT(t)
	s := openDemo(t, env, emulator.SessionOptions{})
	echoMode(t, s) // so that the menu prompt shows only after the reconnect
	errc := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		close(started)
		errc <- s.WaitForText(ctx, "RESUMED")
	}()
	<-started
	env.proxy.Kill()
	<-s.Done()
	if _, err := s.Reconnect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitForText(ctx, demoPrompt); err != nil {
		t.Fatalf("%v\n%s", err, s)
	}
	waitDemoReady(t, s)
	if err := s.Type("2resumed\r"); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		// The waiter may have seen the drop before the reconnect: that is
		// the documented behaviour, and the error must say why.
		if !strings.Contains(err.Error(), "connection") {
			t.Fatal(err)
		}
		if err := s.WaitForText(ctx, "RESUMED"); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSessionNoGoroutineLeak(t *testing.T) {
	env := newEnv(t)
	ignore := goleak.IgnoreCurrent()
	func() {
		s := openDemo(t, env, emulator.SessionOptions{})
		echoMode(t, s)
		if err := s.Type("x\r"); err != nil {
			t.Fatal(err)
		}
		if err := s.WaitForText(ctxT(t), "x  =>  X"); err != nil {
			t.Fatal(err)
		}
		s.Close()
	}()
	env.Close()
	goleak.VerifyNone(t, ignore)
}

// TestSessionRealTelnetd drives inetutils telnetd (with a shell instead of
// login) through the proxy.
func TestSessionRealTelnetd(t *testing.T) {
	telnetd := testpeer.Require(t, "telnetd", "inetutils-telnetd")
	socat := testpeer.Require(t, "socat", "socat")
	env := newEnv(t)
	port := freePort(t)
	cmd := exec.Command(socat, fmt.Sprintf("TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork", port),
		fmt.Sprintf(`EXEC:"%s -h -E /bin/sh",nofork`, telnetd))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitListening(t, port)
	env.sessions["telnetd"] = emulator.SessionInfo{Name: "telnetd", Protocol: "telnet", Host: "127.0.0.1", Port: port,
		Terminal: emulator.Terminal{Model: "xterm", Rows: 24, Cols: 80}}

	ctx := ctxT(t)
	s, err := emulator.Open(ctx, env.Client(t), "telnetd", emulator.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.WaitForStable(ctx, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := s.Type("echo termgate-$((6*7)); stty size\r"); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitForText(ctx, "termgate-42"); err != nil {
		t.Fatalf("%v; screen:\n%s", err, s)
	}
	if err := s.WaitForText(ctx, "24 80"); err != nil {
		t.Fatalf("NAWS not seen by the host: %v; screen:\n%s", err, s)
	}
}

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

func openDemo(t *testing.T, env *testEnv, opts emulator.SessionOptions) *emulator.Session {
	t.Helper()
	s, err := emulator.Open(ctxT(t), env.Client(t), sessionDemo, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.WaitForText(ctxT(t), demoBanner); err != nil {
		t.Fatalf("%v; screen:\n%s", err, s)
	}
	return s
}

func TestSessionDemoHost(t *testing.T) {
	env := newEnv(t)
	ctx := ctxT(t)
	s := openDemo(t, env, emulator.SessionOptions{})
	if got := s.Screen(); got[0] != demoBanner || got[1] != ">" || len(got) != 24 {
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
	if err := s.Type("ttype\rsize\r"); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitForText(ctx, "size 40x120"); err != nil {
		t.Fatalf("%v\n%s", err, s)
	}
	if err := s.WaitForText(ctx, "ttype xterm-256color"); err != nil {
		t.Fatal(err)
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
	if !strings.Contains(out.String(), demoBanner) || !strings.Contains(out.String(), "size 40x120") {
		t.Errorf("recording lacks the session output: %q", out.String())
	}
}

func TestOpenUnsupportedProtocol(t *testing.T) {
	env := newEnv(t)
	_, err := emulator.Open(ctxT(t), env.Client(t), sessionDenied, emulator.SessionOptions{})
	if !errors.Is(err, emulator.ErrUnsupportedProtocol) {
		t.Fatalf("tn3270 session: %v", err)
	}
}

// TestSessionConcurrent types from one goroutine while another waits for
// each answer; run it with -race.
func TestSessionConcurrent(t *testing.T) {
	env := newEnv(t)
	ctx := ctxT(t)
	const n = 40
	// Tall enough that no answer scrolls off before its waiter looks.
	s := openDemo(t, env, emulator.SessionOptions{Rows: 2*n + 4})
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
			if err := s.WaitForText(ctx, fmt.Sprintf(`got "line%d"`, i)); err != nil {
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
	if err := s.WaitForText(ctx, fmt.Sprintf(`got "line%d"`, n-1)); err != nil {
		t.Fatal(err)
	}
}

func TestSessionReconnect(t *testing.T) {
	env := newEnv(t)
	ctx := ctxT(t)
	var infos []emulator.ReconnectInfo
	s := openDemo(t, env, emulator.SessionOptions{OnReconnect: func(i emulator.ReconnectInfo) { infos = append(infos, i) }})
	first := s.ProxySession()
	if err := s.Type("before\r"); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitForText(ctx, `got "before"`); err != nil {
		t.Fatal(err)
	}

	env.proxy.Kill() // the proxy node dies
	select {
	case <-s.Done():
	case <-ctx.Done():
		t.Fatal("a dropped tunnel did not end the session's connection")
	}
	if s.Err() == nil || errors.Is(s.Err(), emulator.ErrClosed) {
		t.Fatalf("Err() = %v", s.Err())
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
	if err := s.Type("after\r"); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitForText(ctx, `got "after"`); err != nil {
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
	if err := s.Type("again\r"); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitForText(ctx, `got "again"`); err != nil {
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
	errc := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		close(started)
		errc <- s.WaitForText(ctx, `got "resumed"`)
	}()
	<-started
	env.proxy.Kill()
	<-s.Done()
	if _, err := s.Reconnect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Type("resumed\r"); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		// The waiter may have seen the drop before the reconnect: that is
		// the documented behaviour, and the error must say why.
		if !strings.Contains(err.Error(), "connection") {
			t.Fatal(err)
		}
		if err := s.WaitForText(ctx, `got "resumed"`); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSessionNoGoroutineLeak(t *testing.T) {
	env := newEnv(t)
	ignore := goleak.IgnoreCurrent()
	func() {
		s := openDemo(t, env, emulator.SessionOptions{})
		if err := s.Type("x\r"); err != nil {
			t.Fatal(err)
		}
		if err := s.WaitForText(ctxT(t), `got "x"`); err != nil {
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

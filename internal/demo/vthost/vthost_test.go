package vthost

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/termgate/termgate/emulator/telnet"
)

func startServer(t *testing.T, srv *Server) (addr string, served <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(context.Background(), ln) }()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), errc
}

// client is a telnet client reading the demo host's output in the background.
type client struct {
	c   *telnet.Conn
	ch  chan []byte
	buf []byte
}

func connect(t *testing.T, addr string, cfg telnet.Config) *client {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	cl := &client{c: telnet.NewConn(nc, cfg), ch: make(chan []byte, 256)}
	go func() {
		defer close(cl.ch)
		b := make([]byte, 4096)
		for {
			n, err := cl.c.Read(b)
			if n > 0 {
				cl.ch <- append([]byte(nil), b[:n]...)
			}
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		cl.c.Close()
		for range cl.ch {
		}
	})
	return cl
}

// waitFor consumes output up to and including want.
func (cl *client) waitFor(t *testing.T, want string) string {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		if i := strings.Index(string(cl.buf), want); i >= 0 {
			got := string(cl.buf[:i+len(want)])
			cl.buf = cl.buf[i+len(want):]
			return got
		}
		select {
		case b, ok := <-cl.ch:
			if !ok {
				t.Fatalf("connection ended before %q; got %q", want, cl.buf)
			}
			cl.buf = append(cl.buf, b...)
		case <-timeout:
			t.Fatalf("timed out waiting for %q; got %q", want, cl.buf)
		}
	}
}

// waitEOF consumes output until the host closes the connection.
func (cl *client) waitEOF(t *testing.T) string {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case b, ok := <-cl.ch:
			if !ok {
				return string(cl.buf)
			}
			cl.buf = append(cl.buf, b...)
		case <-timeout:
			t.Fatalf("connection not closed; got %q", cl.buf)
		}
	}
}

func (cl *client) send(t *testing.T, s string) {
	t.Helper()
	if _, err := cl.c.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
}

func TestDemoSession(t *testing.T) {
	defer goleak.VerifyNone(t)
	fixed := time.Date(2026, 3, 14, 13, 37, 42, 0, time.UTC)
	srv := &Server{Now: func() time.Time { return fixed }}
	addr, served := startServer(t, srv)
	cl := connect(t, addr, telnet.Config{TerminalType: "VT220", Rows: 30, Cols: 100})

	first := cl.waitFor(t, "Select an option")
	if !strings.Contains(first, "termgate demo host") {
		t.Errorf("first screen lacks the banner: %q", first)
	}
	// The client's window size and terminal type reach the host.
	cl.waitFor(t, "100x30 | vt220")
	cl.waitFor(t, "Select an option")
	if !cl.c.RemoteOption(telnet.OptEcho) || !cl.c.RemoteOption(telnet.OptSGA) || !cl.c.LocalOption(telnet.OptNAWS) {
		t.Errorf("negotiation: echo=%v sga=%v naws=%v", cl.c.RemoteOption(telnet.OptEcho),
			cl.c.RemoteOption(telnet.OptSGA), cl.c.LocalOption(telnet.OptNAWS))
	}

	cl.send(t, "2")
	cl.waitFor(t, "Echo mode")
	cl.send(t, "hellp\x7fo\r")
	got := cl.waitFor(t, "HELLO")
	if !strings.Contains(got, "hellp\b \bo") {
		t.Errorf("typed characters not echoed with the correction: %q", got)
	}
	if !strings.Contains(got, "hello  =>  ") {
		t.Errorf("line not echoed as typed: %q", got)
	}
	cl.send(t, "\r")
	cl.waitFor(t, "Select an option")

	if err := cl.c.SetWindowSize(40, 120); err != nil {
		t.Fatal(err)
	}
	cl.waitFor(t, "120x40")
	cl.waitFor(t, "Select an option")

	cl.send(t, "3")
	card := cl.waitFor(t, "DEC line drawing:")
	for _, want := range []string{"\x1b[41m", "\x1b[48;5;", "\x1b(0lqqqqqwqqqqqk\x1b(B"} {
		if !strings.Contains(card, want) {
			t.Errorf("test card lacks %q", want)
		}
	}
	cl.send(t, "x")
	cl.waitFor(t, "Select an option")

	cl.send(t, "1")
	cl.waitFor(t, "13:37:42")
	cl.waitFor(t, "Saturday, 14 March 2026, UTC")
	cl.send(t, "\x1b[A") // an arrow key returns too
	cl.waitFor(t, "Select an option")

	cl.send(t, "z")
	cl.waitFor(t, "There is no option 'z'")

	cl.send(t, "q")
	if rest := cl.waitEOF(t); !strings.Contains(rest, "Goodbye") {
		t.Errorf("quit: output %q lacks the goodbye", rest)
	}

	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve = %v, want ErrServerClosed", err)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestCloseEndsConnections(t *testing.T) {
	defer goleak.VerifyNone(t)
	srv := &Server{}
	addr, served := startServer(t, srv)
	a := connect(t, addr, telnet.Config{})
	b := connect(t, addr, telnet.Config{Passive: true})
	a.waitFor(t, "Select an option")
	b.waitFor(t, "Select an option")
	srv.Close()
	a.waitEOF(t)
	b.waitEOF(t)
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve = %v, want ErrServerClosed", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(context.Background(), ln); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Close = %v", err)
	}
}

func TestServeContext(t *testing.T) {
	defer goleak.VerifyNone(t)
	srv := &Server{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ctx, ln) }()
	cl := connect(t, ln.Addr().String(), telnet.Config{})
	cl.waitFor(t, "termgate demo host")
	cancel()
	cl.waitEOF(t)
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Serve = %v, want context.Canceled", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	srv.Close()
}

func TestIdleTimeout(t *testing.T) {
	defer goleak.VerifyNone(t)
	srv := &Server{IdleTimeout: 300 * time.Millisecond}
	addr, _ := startServer(t, srv)
	cl := connect(t, addr, telnet.Config{})
	cl.waitFor(t, "Select an option")
	if rest := cl.waitEOF(t); !strings.Contains(rest, "Idle for too long") {
		t.Errorf("idle close without notice: %q", rest)
	}
	srv.Close()
}

func TestMaxConns(t *testing.T) {
	defer goleak.VerifyNone(t)
	srv := &Server{MaxConns: 1}
	addr, _ := startServer(t, srv)
	a := connect(t, addr, telnet.Config{})
	a.waitFor(t, "Select an option")
	b := connect(t, addr, telnet.Config{})
	if rest := b.waitEOF(t); !strings.Contains(rest, "too many connections") {
		t.Errorf("second connection: %q", rest)
	}
	srv.Close()
}

func TestListenAndServe(t *testing.T) {
	defer goleak.VerifyNone(t)
	srv := &Server{Addr: "127.0.0.1:0"}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := srv.ListenAndServe(ctx); err == nil {
		t.Error("ListenAndServe with a done ctx returned nil")
	}
	srv.Close()
}

func TestKeyReader(t *testing.T) {
	var kr keyReader
	var got []key
	emit := func(k key) { got = append(got, k) }
	for _, chunk := range []string{"a\r", "\nb\r", "\x00\n", "\x1b[", "1;5A\x1bOP\x7f\x03é"} {
		kr.feed([]byte(chunk), emit)
	}
	want := []key{{r: 'a'}, {enter: true}, {r: 'b'}, {enter: true}, {enter: true}, {other: true}, {other: true}, {back: true}, {intr: true}, {r: 'é'}}
	if len(got) != len(want) {
		t.Fatalf("keys = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("key %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestAppLimits(t *testing.T) {
	a := newApp(time.Now)
	if a.resize(0, 80) || a.resize(24, 100000) || a.resize(24, 80) {
		t.Error("resize accepted an absurd or unchanged size")
	}
	if !a.resize(5, 10) {
		t.Fatal("resize refused a small size")
	}
	// A tiny window is drawn at the minimum size without panicking.
	for _, m := range []mode{modeMenu, modeClock, modeEcho, modeCard} {
		a.mode = m
		if len(a.render()) == 0 {
			t.Errorf("mode %d rendered nothing", m)
		}
	}
	a.mode = modeEcho
	for range 500 {
		a.handle(key{r: 'x'})
	}
	if len(a.line) > maxLine || len(a.line) > minCols-4 {
		t.Errorf("echo line grew to %d bytes", len(a.line))
	}
	if out, quit := a.handle(key{enter: true}); quit || !strings.Contains(string(out), "XXXX") {
		t.Errorf("Enter in echo mode: %q, quit=%v", out, quit)
	}
}

// FuzzInput feeds arbitrary client bytes to a session: no panic, and the
// host's output stays bounded.
func FuzzInput(f *testing.F) {
	f.Add([]byte("2hello\r\r3x1q"))
	f.Add([]byte{255, 251, 31, 255, 250, 31, 0, 100, 0, 30, 255, 240, '2', 'a', '\r', 0})
	f.Add([]byte{255, 251, 24, 255, 250, 24, 0, 'v', 't', 255, 255, 1, 255, 240, 0x1b, '[', '2', '0', '0', '~'})
	f.Fuzz(func(t *testing.T, in []byte) {
		ss := &session{app: newApp(func() time.Time { return time.Unix(0, 0) })}
		ss.dec.StripCRNUL = true
		ss.dec.MaxSubnegotiation = 512
		ss.neg.Policy = telnet.Policy{Local: hostLocal, Remote: hostRemote}
		for len(in) > 0 {
			k := min(len(in), 7)
			ss.input(in[:k])
			in = in[k:]
			if ss.redraw {
				ss.redraw = false
				ss.data(ss.app.render())
			}
			ss.data(ss.app.tick())
			if len(ss.out) > 1<<20 {
				t.Fatalf("output grew to %d bytes", len(ss.out))
			}
			ss.out = ss.out[:0]
		}
		if len(ss.app.line) > maxLine {
			t.Fatalf("line grew to %d", len(ss.app.line))
		}
	})
}

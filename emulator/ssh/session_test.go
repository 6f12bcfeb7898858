package ssh

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	xssh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func authorizedLine(k xssh.PublicKey) string { return string(xssh.MarshalAuthorizedKey(k)) }

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// reader collects a Session's output in the background.
type reader struct {
	ch  chan []byte
	buf []byte
}

func newReader(r io.Reader) *reader {
	rd := &reader{ch: make(chan []byte, 64)}
	go func() {
		defer close(rd.ch)
		b := make([]byte, 1024)
		for {
			n, err := r.Read(b)
			if n > 0 {
				rd.ch <- append([]byte(nil), b[:n]...)
			}
			if err != nil {
				return
			}
		}
	}()
	return rd
}

// waitFor reads until the output since the last match contains want.
func (rd *reader) waitFor(t *testing.T, want string) string {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		if i := strings.Index(string(rd.buf), want); i >= 0 {
			got := string(rd.buf[:i+len(want)])
			rd.buf = rd.buf[i+len(want):]
			return got
		}
		select {
		case b, ok := <-rd.ch:
			if !ok {
				t.Fatalf("output ended before %q; got %q", want, rd.buf)
			}
			rd.buf = append(rd.buf, b...)
		case <-timeout:
			t.Fatalf("timed out waiting for %q; got %q", want, rd.buf)
		}
	}
}

// drain reads to the end of the output.
func (rd *reader) drain(t *testing.T) string {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case b, ok := <-rd.ch:
			if !ok {
				return string(rd.buf)
			}
			rd.buf = append(rd.buf, b...)
		case <-timeout:
			t.Fatalf("output did not end; got %q", rd.buf)
		}
	}
}

func TestOpenShell(t *testing.T) {
	client := newSigner(t)
	srv := startTestServer(t, client.PublicKey(), "")
	s, err := Open(context.Background(), dial(t, srv.addr), srv.addr, Config{
		User: "tester", Signers: []xssh.Signer{client}, HostKey: authorizedLine(srv.hostKey.PublicKey()),
		TerminalType: "vt220", Rows: 30, Cols: 100,
	})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	out := newReader(s)
	s.Write([]byte("echo TERM=$TERM; stty size\r"))
	out.waitFor(t, "TERM=vt220")
	out.waitFor(t, "30 100")
	if err := s.Resize(40, 120); err != nil {
		t.Fatalf("Resize: %v", err)
	}
	// The window change and the next command travel on different requests;
	// repeat the query until the size shows up.
	for i := 0; ; i++ {
		s.Write([]byte("stty size\r"))
		got := out.waitFor(t, "$ ")
		if strings.Contains(got, "40 120") {
			break
		}
		if i == 50 {
			t.Fatalf("window change not applied; last output %q", got)
		}
	}
	s.Write([]byte("exit 3\r"))
	out.drain(t)
	var exit *xssh.ExitError
	if err := s.Wait(); !errors.As(err, &exit) || exit.ExitStatus() != 3 {
		t.Fatalf("Wait = %v, want exit status 3", err)
	}
	if err := s.Resize(1, 1); !errors.Is(err, ErrClosed) {
		t.Errorf("Resize after exit = %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestOpenCommandWithPassword(t *testing.T) {
	srv := startTestServer(t, nil, "correct horse")
	s, err := Open(context.Background(), dial(t, srv.addr), srv.addr, Config{
		User: "tester", Password: "correct horse", HostKey: authorizedLine(srv.hostKey.PublicKey()),
		Command: "echo out-$((2+3)); echo err >&2",
	})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	got := newReader(s).drain(t)
	if !strings.Contains(got, "out-5") || !strings.Contains(got, "err") {
		t.Errorf("output = %q, want stdout and stderr", got)
	}
	if err := s.Wait(); err != nil {
		t.Errorf("Wait = %v, want nil", err)
	}

	_, err = Open(context.Background(), dial(t, srv.addr), srv.addr, Config{
		User: "tester", Password: "wrong", HostKey: authorizedLine(srv.hostKey.PublicKey()),
	})
	if err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
		t.Errorf("wrong password: err = %v", err)
	}
}

func TestHostKeyMismatch(t *testing.T) {
	client := newSigner(t)
	srv := startTestServer(t, client.PublicKey(), "")
	other := newSigner(t).PublicKey()
	conn := dial(t, srv.addr)
	_, err := Open(context.Background(), conn, srv.addr, Config{
		User: "tester", Signers: []xssh.Signer{client}, HostKey: authorizedLine(other),
	})
	var herr *HostKeyError
	if !errors.As(err, &herr) {
		t.Fatalf("Open = %v, want a HostKeyError", err)
	}
	got, want := xssh.FingerprintSHA256(srv.hostKey.PublicKey()), xssh.FingerprintSHA256(other)
	if herr.Got != got || len(herr.Want) != 1 || !strings.HasPrefix(herr.Want[0], want) {
		t.Errorf("HostKeyError = %+v, want got %s, want %s", herr, got, want)
	}
	if msg := err.Error(); !strings.Contains(msg, got) || !strings.Contains(msg, want) {
		t.Errorf("message %q does not name both fingerprints", msg)
	}
	if _, err := conn.Write([]byte("x")); err == nil {
		t.Error("conn still open after a failed Open")
	}
}

func TestKnownHosts(t *testing.T) {
	client := newSigner(t)
	srv := startTestServer(t, client.PublicKey(), "")
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// A host with an RSA key known as well: the client must ask for the ed25519 key.
	good := write("good", knownhosts.Line([]string{srv.addr}, srv.hostKey.PublicKey())+"\n")
	wrongKey := newSigner(t).PublicKey()
	wrong := write("wrong", "# comment\n"+knownhosts.Line([]string{srv.addr}, wrongKey)+"\n")
	unknown := write("unknown", knownhosts.Line([]string{"elsewhere.example:22"}, srv.hostKey.PublicKey())+"\n")

	cfg := Config{User: "tester", Signers: []xssh.Signer{client}, Command: "true"}
	cfg.KnownHostsFile = good
	s, err := Open(context.Background(), dial(t, srv.addr), srv.addr, cfg)
	if err != nil {
		t.Fatalf("known host refused: %v", err)
	}
	newReader(s).drain(t)
	s.Close()

	cfg.KnownHostsFile = wrong
	_, err = Open(context.Background(), dial(t, srv.addr), srv.addr, cfg)
	var herr *HostKeyError
	if !errors.As(err, &herr) || len(herr.Want) != 1 || !strings.Contains(herr.Want[0], wrong+":2") ||
		!strings.Contains(herr.Want[0], xssh.FingerprintSHA256(wrongKey)) {
		t.Errorf("mismatch: err = %v (%+v)", err, herr)
	}

	cfg.KnownHostsFile = unknown
	_, err = Open(context.Background(), dial(t, srv.addr), srv.addr, cfg)
	if !errors.As(err, &herr) || len(herr.Want) != 0 || !strings.Contains(err.Error(), "not known") {
		t.Errorf("unknown host: err = %v", err)
	}

	cfg.KnownHostsFile = filepath.Join(dir, "missing")
	if _, err = Open(context.Background(), dial(t, srv.addr), srv.addr, cfg); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err = %v, want ErrNotExist", err)
	}
}

func TestConfigErrors(t *testing.T) {
	key := authorizedLine(newSigner(t).PublicKey())
	tests := []struct {
		name string
		cfg  Config
		want error
	}{
		{"no host key", Config{User: "u", Password: "p"}, ErrNoHostKey},
		{"no user", Config{Password: "p", HostKey: key}, ErrNoUser},
		{"no credential", Config{User: "u", HostKey: key}, ErrNoAuth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := net.Pipe()
			defer b.Close()
			_, err := Open(context.Background(), a, "h:22", tt.cfg)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Open = %v, want %v", err, tt.want)
			}
			if _, err := a.Write([]byte("x")); !errors.Is(err, io.ErrClosedPipe) {
				t.Errorf("conn not closed after failure: %v", err)
			}
		})
	}
	a, b := net.Pipe()
	defer b.Close()
	_, err := Open(context.Background(), a, "h:22", Config{User: "u", Password: "p", HostKey: "not a key"})
	if err == nil || !strings.Contains(err.Error(), "authorized_keys") {
		t.Errorf("bad HostKey: err = %v", err)
	}
}

// silentHost accepts connections and never answers.
func silentHost(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var conns []net.Conn
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

func TestHandshakeBounded(t *testing.T) {
	addr := silentHost(t)
	cfg := Config{User: "u", Password: "p", InsecureIgnoreHostKey: true, Timeout: 100 * time.Millisecond}
	_, err := Open(context.Background(), dial(t, addr), addr, cfg)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("silent host with Timeout: err = %v, want a timeout", err)
	}

	cfg.Timeout = time.Minute
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	_, err = Open(ctx, dial(t, addr), addr, cfg)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled ctx: err = %v, want context.Canceled", err)
	}
}

func TestCloseWithUnreadOutput(t *testing.T) {
	client := newSigner(t)
	srv := startTestServer(t, client.PublicKey(), "")
	s, err := Open(context.Background(), dial(t, srv.addr), srv.addr, Config{
		User: "tester", Signers: []xssh.Signer{client}, HostKey: authorizedLine(srv.hostKey.PublicKey()),
		Command: "yes termgate",
	})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	if _, err := io.ReadFull(s, buf); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("Close blocked on unread output")
	}
	if _, err := s.Read(buf); err == nil {
		t.Error("Read after Close succeeded")
	}
}

// clearFails is a connection whose clearing of the deadline, the last step
// of Open, fails: first closing the connection (as when the host has
// already ended a short command and hung up) or with err.
type clearFails struct {
	net.Conn
	closeFirst bool
	err        error
}

func (c *clearFails) SetDeadline(t time.Time) error {
	if !t.IsZero() {
		return c.Conn.SetDeadline(t)
	}
	if c.closeFirst {
		c.Conn.Close()
		return c.Conn.SetDeadline(t)
	}
	return c.err
}

// TestOpenAfterHostHungUp: Open neither hangs nor fails when the host has
// already closed the connection of a command that ended at once, and it
// fails (without hanging) for another error at its last step.
func TestOpenAfterHostHungUp(t *testing.T) {
	client := newSigner(t)
	srv := startTestServer(t, client.PublicKey(), "")
	cfg := Config{User: "tester", Signers: []xssh.Signer{client}, HostKey: authorizedLine(srv.hostKey.PublicKey()), Command: "true"}
	open := func(conn net.Conn) (*Session, error) {
		type result struct {
			s   *Session
			err error
		}
		ch := make(chan result, 1)
		go func() {
			s, err := Open(context.Background(), conn, srv.addr, cfg)
			ch <- result{s, err}
		}()
		select {
		case r := <-ch:
			return r.s, r.err
		case <-time.After(15 * time.Second):
			t.Fatal("Open hung")
			return nil, nil
		}
	}

	s, err := open(&clearFails{Conn: dial(t, srv.addr), closeFirst: true})
	if err != nil {
		t.Fatalf("Open after the host hung up: %v", err)
	}
	newReader(s).drain(t)
	s.Close()

	boom := errors.New("boom")
	_, err = open(&clearFails{Conn: dial(t, srv.addr), err: boom})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "clear deadline") {
		t.Errorf("err = %v, want the clear-deadline failure", err)
	}
}

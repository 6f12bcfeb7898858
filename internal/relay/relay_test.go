package relay

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"math/big"
	"net"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// tcpPair returns two connected TCP connections on loopback.
func tcpPair(t testing.TB) (a, b *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			ch <- nil
			return
		}
		ch <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-ch
	if s == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

// plainConn hides *net.TCPConn so the buffered path is used.
type plainConn struct{ net.Conn }

func (p plainConn) CloseWrite() error { return p.Conn.(*net.TCPConn).CloseWrite() }

// Abort lets the relay reset the connection it hides.
func (p plainConn) Abort() error { return Abort(p.Conn) }

type rig struct {
	clientEnd net.Conn       // the far end the test drives as the client: TCP, or TLS in mode waiting
	hostEnd   *net.TCPConn   // the far end the test drives as the host
	rec       *recordingConn // mode waiting: the TCP connection under clientEnd
	done      chan Result
}

// recordingConn keeps what is written while hold is set instead of
// sending it, so that a test can send TLS records in pieces or together.
type recordingConn struct {
	net.Conn
	hold bool
	kept []byte
}

func (c *recordingConn) Write(p []byte) (int, error) {
	if c.hold {
		c.kept = append(c.kept, p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

func (c *recordingConn) CloseWrite() error { return c.Conn.(*net.TCPConn).CloseWrite() }

// release sends the kept bytes in two writes split at cut, pausing between them.
func (c *recordingConn) release(cut int, pause time.Duration) error {
	c.hold = false
	kept := c.kept
	c.kept = nil
	if _, err := c.Conn.Write(kept[:cut]); err != nil {
		return err
	}
	time.Sleep(pause)
	_, err := c.Conn.Write(kept[cut:])
	return err
}

// Relay modes: both near ends TCP (splice); both hidden behind plainConn
// (the small-buffer loop); the client near end TLS over TCP and the host
// near end TCP (both directions wait on their sockets without a buffer).
const (
	modeSplice   = "splice"
	modeBuffered = "buffered"
	modeWaiting  = "waiting"
)

var modes = []string{modeSplice, modeBuffered, modeWaiting}

func startRelay(t testing.TB, ctx context.Context, cfg Config, mode string, prefix []byte) *rig {
	t.Helper()
	clientEnd, clientNear := tcpPair(t)
	hostNear, hostEnd := tcpPair(t)
	r := &rig{clientEnd: clientEnd, hostEnd: hostEnd, done: make(chan Result, 1)}
	cs, hs := Side{Conn: clientNear}, Side{Conn: hostNear}
	switch mode {
	case modeBuffered:
		cs.Conn, hs.Conn = plainConn{clientNear}, plainConn{hostNear}
	case modeWaiting:
		r.rec = &recordingConn{Conn: clientEnd}
		r.clientEnd, cs.Conn = tlsPair(t, r.rec, NewBatchConn(clientNear)) // as the proxy does
	}
	cs.Buffered = prefix
	go func() { r.done <- Run(ctx, cs, hs, cfg) }()
	return r
}

// tlsPair runs TLS over a connected pair: client side on a, server side on b.
func tlsPair(t testing.TB, a, b net.Conn) (client, server *tls.Conn) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"relay.test"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	client = tls.Client(a, &tls.Config{RootCAs: pool, ServerName: "relay.test"})
	server = tls.Server(b, &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}})
	errc := make(chan error, 1)
	go func() { errc <- server.Handshake() }()
	if err := client.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return client, server
}

func (r *rig) wait(t testing.TB) Result {
	t.Helper()
	select {
	case res := <-r.done:
		return res
	case <-time.After(20 * time.Second):
		t.Fatal("relay did not end")
		return Result{}
	}
}

// sendAndHash writes n random bytes to w then half-closes it; it returns the hash sent.
func sendAndHash(w net.Conn, n int, seed []byte) <-chan [32]byte {
	ch := make(chan [32]byte, 1)
	go func() {
		h := sha256.New()
		h.Write(seed)
		io.CopyN(io.MultiWriter(w, h), rand.Reader, int64(n))
		closeWrite(w)
		var s [32]byte
		copy(s[:], h.Sum(nil))
		ch <- s
	}()
	return ch
}

func readHash(r io.Reader) <-chan [32]byte {
	ch := make(chan [32]byte, 1)
	go func() {
		h := sha256.New()
		io.Copy(h, r)
		var s [32]byte
		copy(s[:], h.Sum(nil))
		ch <- s
	}()
	return ch
}

func TestIntegrityAndHalfClose(t *testing.T) {
	const size = 8 << 20
	type tcase struct {
		name, mode string
		prefix     []byte
	}
	var cases []tcase
	for _, m := range modes {
		cases = append(cases, tcase{name: m, mode: m}, tcase{name: m + "-with-prefix", mode: m, prefix: []byte("pipelined bytes\r\n")})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := startRelay(t, context.Background(), Config{}, tc.mode, tc.prefix)
			up := sendAndHash(r.clientEnd, size, tc.prefix)
			down := sendAndHash(r.hostEnd, size, nil)
			gotUp := readHash(r.hostEnd)
			gotDown := readHash(r.clientEnd)
			sentUp := <-up // includes the prefix: the host must see it first
			res := r.wait(t)
			if g := <-gotUp; g != sentUp {
				t.Errorf("client→host hash mismatch")
			}
			if g, w := <-gotDown, <-down; g != w {
				t.Errorf("host→client hash mismatch")
			}
			wantIn := int64(size + len(tc.prefix))
			if res.BytesIn != wantIn || res.BytesOut != size {
				t.Errorf("bytes in/out = %d/%d, want %d/%d", res.BytesIn, res.BytesOut, wantIn, size)
			}
			if res.Reason != ReasonClosed {
				t.Errorf("reason = %s (%v), want %s", res.Reason, res.Err, ReasonClosed)
			}
		})
	}
}

func TestPrefixOrder(t *testing.T) {
	for _, mode := range modes {
		r := startRelay(t, context.Background(), Config{}, mode, []byte("first-"))
		r.clientEnd.Write([]byte("second"))
		closeWrite(r.clientEnd)
		br := bufio.NewReader(r.hostEnd)
		got, _ := io.ReadAll(br)
		if string(got) != "first-second" {
			t.Errorf("%s: host got %q, want %q", mode, got, "first-second")
		}
		r.hostEnd.CloseWrite()
		io.Copy(io.Discard, r.clientEnd)
		r.wait(t)
	}
}

// TestInteractive sends small writes with pauses both ways, the shape of
// a terminal session, and several TLS records in one TCP segment: every
// byte must come through at once, not when the next one arrives.
func TestInteractive(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			r := startRelay(t, context.Background(), Config{}, mode, nil)
			r.clientEnd.SetDeadline(time.Now().Add(10 * time.Second))
			r.hostEnd.SetDeadline(time.Now().Add(10 * time.Second))
			one := make([]byte, 64)
			for i := range 20 {
				key := []byte{byte('a' + i)}
				if _, err := r.clientEnd.Write(key); err != nil {
					t.Fatal(err)
				}
				if _, err := io.ReadFull(r.hostEnd, one[:1]); err != nil || one[0] != key[0] {
					t.Fatalf("keystroke %d: host read %q, %v", i, one[:1], err)
				}
				screen := bytes.Repeat(key, 10+i*100) // up to about 2 KiB, across the small-read size
				if _, err := r.hostEnd.Write(screen); err != nil {
					t.Fatal(err)
				}
				got := make([]byte, len(screen))
				if _, err := io.ReadFull(r.clientEnd, got); err != nil || !bytes.Equal(got, screen) {
					t.Fatalf("screen %d: client read %d bytes, %v", i, len(got), err)
				}
				if i%5 == 0 {
					time.Sleep(150 * time.Millisecond) // past flowPause: back to waiting without a buffer
				}
			}
			if mode == modeWaiting {
				// Three records in one TCP segment: the socket shows them
				// at once, then nothing; after the relay reads the first,
				// the other two are in the TLS layer's buffer only.
				r.rec.hold = true
				for _, k := range []string{"x", "y", "z"} {
					r.clientEnd.Write([]byte(k))
				}
				if err := r.rec.release(len(r.rec.kept), 0); err != nil {
					t.Fatal(err)
				}
				got := make([]byte, 3)
				if _, err := io.ReadFull(r.hostEnd, got); err != nil || string(got) != "xyz" {
					t.Fatalf("records in one segment: host read %q, %v", got, err)
				}
			}
			closeWrite(r.clientEnd)
			r.hostEnd.CloseWrite()
			io.Copy(io.Discard, r.clientEnd)
			io.Copy(io.Discard, r.hostEnd)
			if res := r.wait(t); res.Reason != ReasonClosed {
				t.Errorf("reason = %s (%v)", res.Reason, res.Err)
			}
		})
	}
}

func TestHalfCloseKeepsOtherDirection(t *testing.T) {
	for _, mode := range modes {
		r := startRelay(t, context.Background(), Config{}, mode, nil)
		r.clientEnd.Write([]byte("request"))
		closeWrite(r.clientEnd)
		got, err := io.ReadAll(r.hostEnd) // EOF arrives because the relay half-closed
		if err != nil || string(got) != "request" {
			t.Fatalf("%s: host read %q, %v", mode, got, err)
		}
		// the host can still answer after the client's half-close
		r.hostEnd.Write([]byte("response"))
		r.hostEnd.CloseWrite()
		resp, err := io.ReadAll(r.clientEnd)
		if err != nil || string(resp) != "response" {
			t.Fatalf("%s: client read %q, %v", mode, resp, err)
		}
		res := r.wait(t)
		if res.Reason != ReasonClosed || res.BytesIn != 7 || res.BytesOut != 8 {
			t.Errorf("%s: result = %+v", mode, res)
		}
	}
}

func TestIdleTimeout(t *testing.T) {
	for _, mode := range modes {
		// Generous margins: the check is that activity every quarter of the
		// idle period keeps the relay alive well past one idle period, even
		// on a loaded machine.
		r := startRelay(t, context.Background(), Config{IdleTimeout: time.Second}, mode, nil)
		for i := 0; i < 6; i++ {
			time.Sleep(250 * time.Millisecond)
			r.clientEnd.Write([]byte("x"))
		}
		select {
		case res := <-r.done:
			t.Fatalf("%s: relay ended during activity: %+v", mode, res)
		default:
		}
		res := r.wait(t)
		if res.Reason != ReasonIdle {
			t.Errorf("%s: reason = %s, want %s", mode, res.Reason, ReasonIdle)
		}
		if res.BytesIn != 6 {
			t.Errorf("%s: bytes in = %d, want 6", mode, res.BytesIn)
		}
	}
}

// TestPartialRecord: a record that arrives in two pieces, the second
// after the relay gave its buffer back, still comes through whole.
func TestPartialRecord(t *testing.T) {
	r := startRelay(t, context.Background(), Config{}, modeWaiting, nil)
	msg := bytes.Repeat([]byte("p"), 3000)
	r.rec.hold = true
	if _, err := r.clientEnd.Write(msg); err != nil {
		t.Fatal(err)
	}
	if err := r.rec.release(len(r.rec.kept)/2, 3*flowPause); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	r.hostEnd.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(r.hostEnd, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("host read %d bytes, %v", len(got), err)
	}
	closeWrite(r.clientEnd)
	r.hostEnd.CloseWrite()
	io.Copy(io.Discard, r.clientEnd)
	if res := r.wait(t); res.BytesIn != int64(len(msg)) {
		t.Errorf("bytes in = %d", res.BytesIn)
	}
}

func TestMaxDuration(t *testing.T) {
	r := startRelay(t, context.Background(), Config{MaxDuration: 100 * time.Millisecond}, modeBuffered, nil)
	res := r.wait(t)
	if res.Reason != ReasonMaxDuration {
		t.Errorf("reason = %s, want %s", res.Reason, ReasonMaxDuration)
	}
}

func TestCancel(t *testing.T) {
	for _, mode := range modes {
		cause := errors.New("draining")
		ctx, cancel := context.WithCancelCause(context.Background())
		r := startRelay(t, ctx, Config{}, mode, nil)
		cancel(cause)
		res := r.wait(t)
		if res.Reason != ReasonCanceled || !errors.Is(res.Err, cause) {
			t.Errorf("%s: result = %s / %v, want canceled / %v", mode, res.Reason, res.Err, cause)
		}
		// both far ends see the close
		r.clientEnd.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := r.clientEnd.Read(make([]byte, 1)); err == nil {
			t.Errorf("%s: client end still open", mode)
		}
	}
}

func TestStart(t *testing.T) {
	clientEnd, clientNear := tcpPair(t)
	hostNear, hostEnd := tcpPair(t)
	done := make(chan Result, 1)
	Start(context.Background(), Side{Conn: clientNear}, Side{Conn: hostNear}, Config{}, func(r Result) { done <- r })
	clientEnd.Write([]byte("hi"))
	clientEnd.CloseWrite()
	hostEnd.CloseWrite()
	got, _ := io.ReadAll(hostEnd)
	io.Copy(io.Discard, clientEnd)
	select {
	case res := <-done:
		if string(got) != "hi" || res.Reason != ReasonClosed || res.BytesIn != 2 {
			t.Errorf("host got %q, result %+v", got, res)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("done not called")
	}
}

func TestHostReset(t *testing.T) {
	for _, mode := range modes {
		r := startRelay(t, context.Background(), Config{}, mode, nil)
		r.hostEnd.SetLinger(0)
		r.hostEnd.Close()
		res := r.wait(t)
		if res.Reason != ReasonHostError && res.Reason != ReasonClosed {
			t.Errorf("%s: reason = %s", mode, res.Reason)
		}
	}
}

func benchRelay(b *testing.B, mode string) {
	r := startRelay(b, context.Background(), Config{}, mode, nil)
	buf := make([]byte, 64<<10)
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	go func() {
		for i := 0; i < b.N; i++ {
			r.clientEnd.Write(buf)
		}
		closeWrite(r.clientEnd)
	}()
	io.Copy(io.Discard, r.hostEnd)
	b.StopTimer()
	r.hostEnd.CloseWrite()
	io.Copy(io.Discard, r.clientEnd)
	<-r.done
}

// benchRelayDown is benchRelay host to client.
func benchRelayDown(b *testing.B, mode string) {
	r := startRelay(b, context.Background(), Config{}, mode, nil)
	buf := make([]byte, 64<<10)
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	go func() {
		for i := 0; i < b.N; i++ {
			r.hostEnd.Write(buf)
		}
		r.hostEnd.CloseWrite()
	}()
	io.Copy(io.Discard, r.clientEnd)
	b.StopTimer()
	closeWrite(r.clientEnd)
	io.Copy(io.Discard, r.hostEnd)
	<-r.done
}

func BenchmarkRelaySplice(b *testing.B)   { benchRelay(b, modeSplice) }
func BenchmarkRelayBuffered(b *testing.B) { benchRelay(b, modeBuffered) }
func BenchmarkRelayTLSUp(b *testing.B)    { benchRelay(b, modeWaiting) }
func BenchmarkRelayTLSDown(b *testing.B)  { benchRelayDown(b, modeWaiting) }

// TestResetOnError: with ResetOnError a client that fails (here: resets
// its connection) makes the relay reset the host's connection, so that
// the host reads an error, not an end of stream; without it the host
// reads io.EOF.
func TestResetOnError(t *testing.T) {
	for _, mode := range modes {
		for _, reset := range []bool{false, true} {
			r := startRelay(t, context.Background(), Config{ResetOnError: reset}, mode, nil)
			tcp := r.clientEnd
			if r.rec != nil {
				tcp = r.rec.Conn
			}
			tcp.(*net.TCPConn).SetLinger(0)
			tcp.Close()
			res := r.wait(t)
			r.hostEnd.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err := r.hostEnd.Read(make([]byte, 1))
			switch {
			case res.Reason != ReasonClientError:
				t.Errorf("%s, reset %v: reason = %s, want %s", mode, reset, res.Reason, ReasonClientError)
			case reset && !errors.Is(err, syscall.ECONNRESET):
				t.Errorf("%s: the host read %v, want a reset", mode, err)
			case !reset && err != io.EOF:
				t.Errorf("%s, without ResetOnError: the host read %v, want io.EOF", mode, err)
			}
		}
	}
}

package relay

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"net"
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

type rig struct {
	clientEnd, hostEnd *net.TCPConn // the far ends the test drives
	done               chan Result
}

func startRelay(t *testing.T, ctx context.Context, cfg Config, buffered bool, prefix []byte) *rig {
	t.Helper()
	clientEnd, clientNear := tcpPair(t)
	hostNear, hostEnd := tcpPair(t)
	var cs, hs Side
	if buffered {
		cs = Side{Conn: plainConn{clientNear}}
		hs = Side{Conn: plainConn{hostNear}}
	} else {
		cs = Side{Conn: clientNear}
		hs = Side{Conn: hostNear}
	}
	if prefix != nil {
		cs.Reader = io.MultiReader(bytes.NewReader(prefix), clientNear)
	}
	r := &rig{clientEnd: clientEnd, hostEnd: hostEnd, done: make(chan Result, 1)}
	go func() { r.done <- Run(ctx, cs, hs, cfg) }()
	return r
}

func (r *rig) wait(t *testing.T) Result {
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
func sendAndHash(w *net.TCPConn, n int, seed []byte) <-chan [32]byte {
	ch := make(chan [32]byte, 1)
	go func() {
		h := sha256.New()
		h.Write(seed)
		io.CopyN(io.MultiWriter(w, h), rand.Reader, int64(n))
		w.CloseWrite()
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
	for _, tc := range []struct {
		name     string
		buffered bool
		prefix   []byte
	}{
		{name: "splice", buffered: false},
		{name: "buffered", buffered: true},
		{name: "buffered-with-prefix", buffered: true, prefix: []byte("pipelined bytes\r\n")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startRelay(t, context.Background(), Config{}, tc.buffered, tc.prefix)
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
	r := startRelay(t, context.Background(), Config{}, true, []byte("first-"))
	r.clientEnd.Write([]byte("second"))
	r.clientEnd.CloseWrite()
	br := bufio.NewReader(r.hostEnd)
	got, _ := io.ReadAll(br)
	if string(got) != "first-second" {
		t.Errorf("host got %q, want %q", got, "first-second")
	}
	r.hostEnd.CloseWrite()
	io.Copy(io.Discard, r.clientEnd)
	r.wait(t)
}

func TestHalfCloseKeepsOtherDirection(t *testing.T) {
	for _, buffered := range []bool{false, true} {
		r := startRelay(t, context.Background(), Config{}, buffered, nil)
		r.clientEnd.Write([]byte("request"))
		r.clientEnd.CloseWrite()
		got, err := io.ReadAll(r.hostEnd) // EOF arrives because the relay half-closed
		if err != nil || string(got) != "request" {
			t.Fatalf("host read %q, %v", got, err)
		}
		// the host can still answer after the client's half-close
		r.hostEnd.Write([]byte("response"))
		r.hostEnd.CloseWrite()
		resp, err := io.ReadAll(r.clientEnd)
		if err != nil || string(resp) != "response" {
			t.Fatalf("client read %q, %v", resp, err)
		}
		res := r.wait(t)
		if res.Reason != ReasonClosed || res.BytesIn != 7 || res.BytesOut != 8 {
			t.Errorf("result = %+v", res)
		}
	}
}

func TestIdleTimeout(t *testing.T) {
	for _, buffered := range []bool{false, true} {
		// Generous margins: the check is that activity every quarter of the
		// idle period keeps the relay alive well past one idle period, even
		// on a loaded machine.
		r := startRelay(t, context.Background(), Config{IdleTimeout: time.Second}, buffered, nil)
		for i := 0; i < 6; i++ {
			time.Sleep(250 * time.Millisecond)
			r.clientEnd.Write([]byte("x"))
		}
		select {
		case res := <-r.done:
			t.Fatalf("relay ended during activity: %+v", res)
		default:
		}
		res := r.wait(t)
		if res.Reason != ReasonIdle {
			t.Errorf("buffered=%v: reason = %s, want %s", buffered, res.Reason, ReasonIdle)
		}
		if res.BytesIn != 6 {
			t.Errorf("bytes in = %d, want 6", res.BytesIn)
		}
	}
}

func TestMaxDuration(t *testing.T) {
	r := startRelay(t, context.Background(), Config{MaxDuration: 100 * time.Millisecond}, true, nil)
	res := r.wait(t)
	if res.Reason != ReasonMaxDuration {
		t.Errorf("reason = %s, want %s", res.Reason, ReasonMaxDuration)
	}
}

func TestCancel(t *testing.T) {
	cause := errors.New("draining")
	ctx, cancel := context.WithCancelCause(context.Background())
	r := startRelay(t, ctx, Config{}, false, nil)
	cancel(cause)
	res := r.wait(t)
	if res.Reason != ReasonCanceled || !errors.Is(res.Err, cause) {
		t.Errorf("result = %s / %v, want canceled / %v", res.Reason, res.Err, cause)
	}
	// both far ends see the close
	r.clientEnd.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.clientEnd.Read(make([]byte, 1)); err == nil {
		t.Error("client end still open")
	}
}

func TestHostReset(t *testing.T) {
	r := startRelay(t, context.Background(), Config{}, true, nil)
	r.hostEnd.SetLinger(0)
	r.hostEnd.Close()
	res := r.wait(t)
	if res.Reason != ReasonHostError && res.Reason != ReasonClosed {
		t.Errorf("reason = %s", res.Reason)
	}
}

func benchRelay(b *testing.B, buffered bool) {
	r := startRelayB(b, buffered)
	buf := make([]byte, 64<<10)
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	go func() {
		for i := 0; i < b.N; i++ {
			r.clientEnd.Write(buf)
		}
		r.clientEnd.CloseWrite()
	}()
	io.Copy(io.Discard, r.hostEnd)
	b.StopTimer()
	r.hostEnd.CloseWrite()
	<-r.done
}

func startRelayB(b *testing.B, buffered bool) *rig {
	clientEnd, clientNear := tcpPair(b)
	hostNear, hostEnd := tcpPair(b)
	cs, hs := Side{Conn: clientNear}, Side{Conn: hostNear}
	if buffered {
		cs, hs = Side{Conn: plainConn{clientNear}}, Side{Conn: plainConn{hostNear}}
	}
	r := &rig{clientEnd: clientEnd, hostEnd: hostEnd, done: make(chan Result, 1)}
	go func() { r.done <- Run(context.Background(), cs, hs, Config{}) }()
	return r
}

func BenchmarkRelaySplice(b *testing.B)   { benchRelay(b, false) }
func BenchmarkRelayBuffered(b *testing.B) { benchRelay(b, true) }

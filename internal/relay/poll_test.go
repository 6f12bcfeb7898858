package relay

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"testing"
	"time"
)

// idleTLSRelay starts a relay between a TLS client side and a TCP host
// side (so that neither direction splices), and returns the far ends.
func idleTLSRelay(t *testing.T, ctx context.Context, done chan<- Result) (client net.Conn, host *net.TCPConn) {
	t.Helper()
	clientEnd, clientNear := tcpPair(t)
	hostNear, hostEnd := tcpPair(t)
	client, server := tlsPair(t, clientEnd, clientNear)
	Start(ctx, Side{Conn: server}, Side{Conn: hostNear}, Config{}, func(r Result) { done <- r })
	return client, hostEnd
}

// waitGoroutines waits until the number of goroutines is at most max.
func waitGoroutines(t *testing.T, max int) int {
	t.Helper()
	var n int
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if n = runtime.NumGoroutine(); n <= max {
			return n
		}
	}
	return n
}

// On Linux an idle session is parked on the shared poller: it holds no
// goroutine of its own, wakes when either side sends, and ends (with the
// poller's goroutine) when its context does.
func TestIdleSessionsParkWithoutGoroutines(t *testing.T) {
	if !canPark {
		t.Skip("no shared poller on " + runtime.GOOS)
	}
	const sessions = 40
	base := waitGoroutines(t, runtime.NumGoroutine())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan Result, sessions)
	clients := make([]net.Conn, sessions)
	hosts := make([]*net.TCPConn, sessions)
	for i := range sessions {
		clients[i], hosts[i] = idleTLSRelay(t, ctx, done)
	}
	// Idle: the poller's goroutine and its watchdog, none per session.
	if n := waitGoroutines(t, base+2); n > base+2 {
		t.Fatalf("%d idle sessions hold %d goroutines, want at most 2 (the poller's)", sessions, n-base)
	}
	// Every parked direction wakes: each session echoes a line both ways.
	for i := range sessions {
		msg := []byte{'c', byte('0' + i%10), '\n'}
		clients[i].Write(msg)
		got := make([]byte, len(msg))
		hosts[i].SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(hosts[i], got); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("session %d: host read %q, %v", i, got, err)
		}
		hosts[i].Write(msg)
		clients[i].SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(clients[i], got); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("session %d: client read %q, %v", i, got, err)
		}
	}
	if n := waitGoroutines(t, base+2); n > base+2 {
		t.Fatalf("after a burst, %d sessions hold %d goroutines, want at most 2", sessions, n-base)
	}
	// Ending the context resumes and ends every parked direction.
	cancel()
	for i := range sessions {
		select {
		case r := <-done:
			if r.Reason != ReasonCanceled || r.BytesIn != 3 || r.BytesOut != 3 {
				t.Errorf("result %+v, want canceled with 3 bytes each way", r)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d of %d parked sessions ended", i, sessions)
		}
	}
	if n := waitGoroutines(t, base); n > base {
		t.Errorf("%d goroutines left after every session ended (the poller's should end too)", n-base)
	}
}

// A parked session whose host resets the connection ends with host_error
// at once; one whose host half-closes keeps the other way open.
func TestParkedSessionSeesResetAndHalfClose(t *testing.T) {
	t.Run("reset", func(t *testing.T) {
		done := make(chan Result, 1)
		_, host := idleTLSRelay(t, context.Background(), done)
		time.Sleep(50 * time.Millisecond) // both directions parked
		host.SetLinger(0)
		host.Close()
		select {
		case r := <-done:
			if r.Reason != ReasonHostError {
				t.Errorf("reason after reset = %s, want %s", r.Reason, ReasonHostError)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a parked session did not see its host's reset")
		}
	})
	t.Run("half-close", func(t *testing.T) {
		done := make(chan Result, 1)
		client, host := idleTLSRelay(t, context.Background(), done)
		time.Sleep(50 * time.Millisecond)
		host.CloseWrite()
		client.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := client.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("client read after the host's half-close: %d, %v; want EOF", n, err)
		}
		client.Write([]byte("still open"))
		got := make([]byte, len("still open"))
		host.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(host, got); err != nil || string(got) != "still open" {
			t.Fatalf("after half-close, host read %q, %v", got, err)
		}
		client.Close()
		select {
		case r := <-done:
			if r.Reason != ReasonClosed || r.BytesIn != int64(len(got)) {
				t.Errorf("result %+v, want closed with %d bytes in", r, len(got))
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the session did not end after both sides closed")
		}
	})
}

// Bytes a *tls.Conn decoded before the relay started (the rest of a record
// that also carried the request) are relayed at once, although the socket
// under it has nothing more to read.
func TestDecodedInputRelayedBeforeWaiting(t *testing.T) {
	clientEnd, clientNear := tcpPair(t)
	hostNear, hostEnd := tcpPair(t)
	client, server := tlsPair(t, clientEnd, clientNear)
	if _, err := client.Write([]byte("REQ\npipelined after the request")); err != nil { // one record
		t.Fatal(err)
	}
	head := make([]byte, 4)
	if _, err := io.ReadFull(server, head); err != nil || string(head) != "REQ\n" {
		t.Fatalf("request read %q, %v", head, err)
	}
	done := make(chan Result, 1)
	Start(context.Background(), Side{Conn: server}, Side{Conn: hostNear}, Config{}, func(r Result) { done <- r })
	got := make([]byte, len("pipelined after the request"))
	hostEnd.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.ReadFull(hostEnd, got); err != nil || string(got) != "pipelined after the request" {
		t.Fatalf("host read %q, %v", got, err)
	}
	client.Close()
	hostEnd.Close()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("relay did not end")
	}
}

// A sustained transfer moves up to the bulk buffer, and gives it back.
func TestBulkBufferTakenAndReturned(t *testing.T) {
	taken := bulkTaken.Load()
	r := startRelay(t, context.Background(), Config{}, modeWaiting, nil)
	sent := sendAndHash(r.clientEnd, 8<<20, nil)
	got := readHash(r.hostEnd)
	if <-sent != <-got {
		t.Fatal("8 MiB through the relay arrived different")
	}
	r.hostEnd.CloseWrite()
	io.Copy(io.Discard, r.clientEnd)
	r.wait(t)
	if bulkTaken.Load() == taken {
		t.Error("an 8 MiB transfer never moved up to the bulk buffer")
	}
	if n := bulkUsed.Load(); n != 0 {
		t.Errorf("%d bulk buffers still counted in use after the session", n)
	}
}

// Cancel on what Start returns ends a session started without a
// cancelable context, parked or not, with the cause given.
func TestCancelHandle(t *testing.T) {
	cause := errors.New("node closing")
	done := make(chan Result, 1)
	clientEnd, clientNear := tcpPair(t)
	hostNear, _ := tcpPair(t)
	_, server := tlsPair(t, clientEnd, clientNear)
	s := Start(context.Background(), Side{Conn: server}, Side{Conn: hostNear}, Config{}, func(r Result) { done <- r })
	time.Sleep(20 * time.Millisecond)
	s.Cancel(cause)
	s.Cancel(errors.New("second cause, ignored"))
	select {
	case r := <-done:
		if r.Reason != ReasonCanceled || !errors.Is(r.Err, cause) {
			t.Errorf("result %s / %v, want canceled / %v", r.Reason, r.Err, cause)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Cancel did not end the session")
	}
}

// gatedConn's writes wait until gate is closed: a client that stopped
// reading.
type gatedConn struct {
	net.Conn
	gate chan struct{}
}

func (c gatedConn) Write(p []byte) (int, error) {
	<-c.gate
	return c.Conn.Write(p)
}

// A direction that blocks while the poller's own goroutine serves it does
// not hold up other sessions: the loop is handed on to another goroutine.
func TestBlockedDirectionDoesNotStallOthers(t *testing.T) {
	if !canPark {
		t.Skip("no shared poller on " + runtime.GOOS)
	}
	// Session A: its host's bytes go to a client whose writes block.
	clientEndA, clientNearA := tcpPair(t)
	hostNearA, hostEndA := tcpPair(t)
	gate := make(chan struct{})
	doneA := make(chan Result, 1)
	Start(context.Background(), Side{Conn: gatedConn{clientNearA, gate}}, Side{Conn: hostNearA}, Config{}, func(r Result) { doneA <- r })
	// Session B, idle and parked.
	doneB := make(chan Result, 1)
	clientB, hostB := idleTLSRelay(t, context.Background(), doneB)
	time.Sleep(50 * time.Millisecond)

	hostEndA.Write([]byte("stuck")) // served by the loop, which then blocks
	time.Sleep(20 * time.Millisecond)
	for i := range 3 {
		clientB.Write([]byte("ping"))
		got := make([]byte, 4)
		hostB.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := io.ReadFull(hostB, got); err != nil {
			t.Fatalf("round %d: session B's host got nothing while session A is blocked: %v", i, err)
		}
		hostB.Write(got)
		clientB.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := io.ReadFull(clientB, got); err != nil {
			t.Fatalf("round %d: session B's client got nothing back: %v", i, err)
		}
	}
	close(gate)
	got := make([]byte, 5)
	clientEndA.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.ReadFull(clientEndA, got); err != nil || string(got) != "stuck" {
		t.Fatalf("session A's client read %q, %v after the gate opened", got, err)
	}
	clientEndA.Close()
	hostEndA.Close()
	clientB.Close()
	hostB.Close()
	for _, ch := range []chan Result{doneA, doneB} {
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatal("a session did not end")
		}
	}
}

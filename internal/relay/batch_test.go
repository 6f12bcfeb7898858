package relay

import (
	"bytes"
	"crypto/rand"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// countingConn counts the writes that reach it.
type countingConn struct {
	net.Conn
	mu     sync.Mutex
	writes int
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.writes++
	c.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *countingConn) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes
}

func TestBatchConnHoldAndFlush(t *testing.T) {
	a, b := tcpPair(t)
	cc := &countingConn{Conn: a}
	bc := NewBatchConn(cc)
	bc.Write([]byte("direct "))
	if cc.count() != 1 {
		t.Fatalf("an unheld write made %d writes, want 1", cc.count())
	}
	bc.Hold()
	bc.Hold()
	bc.Write([]byte("one "))
	bc.Write([]byte("two "))
	if err := bc.Flush(); err != nil || cc.count() != 1 {
		t.Fatalf("inner Flush: %v, %d writes; want nothing written yet", err, cc.count())
	}
	bc.Write([]byte("three"))
	if err := bc.Flush(); err != nil {
		t.Fatal(err)
	}
	// The flushing write runs on its own; a direct write waits for it.
	bc.Write([]byte(" four"))
	if err := bc.Wait(); err != nil || cc.count() != 3 {
		t.Fatalf("outer Flush and a direct write: %v, %d writes; want 3 in all", err, cc.count())
	}
	if err := bc.Flush(); err != nil || bc.Wait() != nil || cc.count() != 3 {
		t.Fatalf("an unmatched Flush wrote: %v, %d writes", err, cc.count())
	}
	a.CloseWrite()
	got, _ := io.ReadAll(b)
	if string(got) != "direct one two three four" {
		t.Fatalf("peer read %q", got)
	}
	if bc.NetConn() != net.Conn(cc) {
		t.Error("NetConn does not return the connection under it")
	}
}

// A large write through TLS over a BatchConn reaches the socket in one
// call per bulk buffer, not one per record, and arrives intact.
func TestWriteBatchedThroughTLS(t *testing.T) {
	a, b := tcpPair(t)
	cc := &countingConn{Conn: a}
	client, server := tlsPair(t, NewBatchConn(cc), b)
	payload := make([]byte, 1<<20) // 64 TLS records
	rand.Read(payload)
	got := make(chan []byte, 1)
	go func() {
		buf, _ := io.ReadAll(io.LimitReader(server, int64(len(payload))))
		got <- buf
	}()
	before := cc.count()
	n, err := WriteBatched(client, payload)
	if err != nil || n != len(payload) {
		t.Fatalf("WriteBatched = %d, %v", n, err)
	}
	if w := cc.count() - before; w > len(payload)/bulkSize+1 {
		t.Errorf("1 MiB through TLS took %d socket writes, want at most %d", w, len(payload)/bulkSize+1)
	}
	if !bytes.Equal(<-got, payload) {
		t.Fatal("payload arrived different")
	}
	// A keystroke is not held back.
	before = cc.count()
	if _, err := WriteBatched(client, []byte("k")); err != nil || cc.count() != before+1 {
		t.Errorf("a one-byte write: %v, %d socket writes; want 1", err, cc.count()-before)
	}
}

// A flushing write that fails is reported by Wait, the next Flush and the
// next direct write.
func TestBatchConnReportsFailedFlush(t *testing.T) {
	a, b := tcpPair(t)
	b.SetLinger(0)
	b.Close()
	bc := NewBatchConn(a)
	var err error
	for i := 0; i < 50 && err == nil; i++ { // the reset may take a write or two to show
		bc.Hold()
		bc.Write(make([]byte, 64<<10))
		err = bc.Flush()
		if err == nil {
			err = bc.Wait()
		}
	}
	if err == nil {
		t.Fatal("writes to a reset connection never failed")
	}
	if bc.Wait() == nil {
		t.Error("Wait forgot the failure")
	}
	if _, werr := bc.Write([]byte("x")); werr == nil {
		t.Error("a direct write after a failed flush succeeded")
	}
}

// A BatchConn over TCP passes a half-close on, after what it gathered.
func TestBatchConnCloseWrite(t *testing.T) {
	a, b := tcpPair(t)
	bc := NewBatchConn(a)
	bc.Hold()
	bc.Write([]byte("last words"))
	bc.Flush()
	if err := bc.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(b)
	if err != nil || string(got) != "last words" {
		t.Fatalf("peer read %q, %v; want the data, then end of stream", got, err)
	}
}

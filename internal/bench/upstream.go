package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// The host's protocol. A client sends one command byte:
//
//	'E'            the host answers 'E', then echoes every byte until EOF;
//	'S' + uint64   the host reads and discards that many bytes (big-endian
//	               count), answers 'D', and waits for the next command.
const (
	cmdEcho = 'E'
	cmdSink = 'S'
	ackSink = 'D'
)

// hostIdle bounds every read of the host: a session the benchmark forgot
// ends by itself.
const hostIdle = 5 * time.Minute

var sinkPool = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// host is the upstream every target relays to: an echo and sink server on
// 127.0.0.1 inside the benchmark's process.
type host struct {
	ln net.Listener
	wg sync.WaitGroup

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{}
}

func startHost() (*host, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("bench: host listener: %w", err)
	}
	h := &host{ln: ln, conns: map[net.Conn]struct{}{}}
	h.wg.Add(1)
	go h.accept()
	return h, nil
}

func (h *host) addr() string { return h.ln.Addr().String() }

func (h *host) accept() {
	defer h.wg.Done()
	for {
		c, err := h.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			return
		}
		h.mu.Lock()
		if h.closed {
			h.mu.Unlock()
			c.Close()
			return
		}
		h.conns[c] = struct{}{}
		h.wg.Add(1)
		h.mu.Unlock()
		go func() {
			defer h.wg.Done()
			serveHost(c)
			h.mu.Lock()
			delete(h.conns, c)
			h.mu.Unlock()
			c.Close()
		}()
	}
}

// serveHost runs the host protocol on c until EOF, an error or a bad command.
func serveHost(c net.Conn) {
	var hdr [9]byte
	for {
		c.SetReadDeadline(time.Now().Add(hostIdle))
		if _, err := io.ReadFull(c, hdr[:1]); err != nil {
			return
		}
		switch hdr[0] {
		case cmdEcho:
			c.SetWriteDeadline(time.Now().Add(hostIdle))
			if _, err := c.Write(hdr[:1]); err != nil {
				return
			}
			echo(c)
			return
		case cmdSink:
			if _, err := io.ReadFull(c, hdr[1:9]); err != nil {
				return
			}
			if err := sink(c, binary.BigEndian.Uint64(hdr[1:9])); err != nil {
				return
			}
			c.SetWriteDeadline(time.Now().Add(hostIdle))
			if _, err := c.Write([]byte{ackSink}); err != nil {
				return
			}
		default:
			return
		}
	}
}

func echo(c net.Conn) {
	var buf [1024]byte
	for {
		c.SetReadDeadline(time.Now().Add(hostIdle))
		n, err := c.Read(buf[:])
		if n > 0 {
			c.SetWriteDeadline(time.Now().Add(hostIdle))
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func sink(c net.Conn, n uint64) error {
	bp := sinkPool.Get().(*[]byte)
	defer sinkPool.Put(bp)
	buf := *bp
	for n > 0 {
		c.SetReadDeadline(time.Now().Add(hostIdle))
		want := uint64(len(buf))
		if n < want {
			want = n
		}
		k, err := c.Read(buf[:want])
		n -= uint64(k)
		if err != nil && n > 0 {
			return err
		}
	}
	return nil
}

// close stops the listener and every connection, and waits for their goroutines.
func (h *host) close() {
	h.mu.Lock()
	h.closed = true
	for c := range h.conns {
		c.Close()
	}
	h.mu.Unlock()
	h.ln.Close()
	h.wg.Wait()
}

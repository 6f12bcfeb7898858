package relay

import (
	"net"
	"sync"
)

// BatchConn is a connection to put under a record layer such as TLS, so
// that one large write through that layer reaches the network in one
// system call: crypto/tls writes each record of at most 16 KiB with a
// call of its own, and on a bulk transfer those calls cost more than the
// encryption. Between Hold and Flush, writes are gathered in a pooled
// buffer, which Flush hands to a goroutine that writes it while the caller
// prepares the next one; otherwise writes go straight through (after any
// such write, to keep the order), so a handshake, an alert or a keystroke
// is never delayed.
//
// The relay holds and flushes on its own when it writes a bulk chunk to a
// connection with a BatchConn under it (a *tls.Conn over a BatchConn, for
// example); WriteBatched does the same for other writers.
//
//	tc := tls.Server(relay.NewBatchConn(raw), cfg)
type BatchConn struct {
	net.Conn

	mu       sync.Mutex
	hold     int           // nested Hold calls not yet flushed
	buf      *[]byte       // gathered writes while held; pooled
	inflight chan struct{} // closed when the flushing write ends; nil when none runs
	err      error         // the first error of a flushing write
}

// NewBatchConn wraps c.
func NewBatchConn(c net.Conn) *BatchConn { return &BatchConn{Conn: c} }

// NetConn returns the connection under c, where the relay waits for input.
func (c *BatchConn) NetConn() net.Conn { return c.Conn }

// Write gathers p while c is held, and writes it through otherwise (after
// what Flush handed on).
func (c *BatchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if c.hold == 0 {
		err := c.waitLocked()
		c.mu.Unlock()
		if err != nil {
			return 0, err
		}
		return c.Conn.Write(p)
	}
	defer c.mu.Unlock()
	if c.buf == nil {
		c.buf = batchPool.Get().(*[]byte)
	}
	*c.buf = append(*c.buf, p...)
	return len(p), nil
}

// CloseWrite half-closes the connection under c, if it can, once what
// Flush handed on is written.
func (c *BatchConn) CloseWrite() error {
	if err := c.Wait(); err != nil {
		return err
	}
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// Hold starts gathering writes until the matching Flush.
func (c *BatchConn) Hold() {
	c.mu.Lock()
	c.hold++
	c.mu.Unlock()
}

// Flush ends a Hold. When no Hold is left it hands what was gathered to a
// goroutine that writes it in one call, and returns: the caller encrypts
// (or reads) the next chunk while this one goes out. It first waits for
// the previous such write, and returns its error if it failed; Wait, a
// direct Write and the next Flush report a failure too.
func (c *BatchConn) Flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hold > 0 {
		c.hold--
	}
	if c.hold > 0 || c.buf == nil {
		return nil
	}
	if err := c.waitLocked(); err != nil {
		return err
	}
	b := c.buf
	c.buf = nil
	done := make(chan struct{})
	c.inflight = done
	go func() {
		_, err := c.Conn.Write(*b)
		if cap(*b) <= 2*batchSize {
			*b = (*b)[:0]
			batchPool.Put(b)
		}
		c.mu.Lock()
		if err != nil && c.err == nil {
			c.err = err
		}
		c.mu.Unlock()
		close(done)
	}()
	return nil
}

// Wait waits until what Flush handed on is written, and returns the first
// error such a write met.
func (c *BatchConn) Wait() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.waitLocked()
}

// waitLocked waits, with c.mu released, for the flushing write.
func (c *BatchConn) waitLocked() error {
	for c.inflight != nil {
		done := c.inflight
		c.mu.Unlock()
		<-done
		c.mu.Lock()
		if c.inflight == done {
			c.inflight = nil
		}
	}
	return c.err
}

// batchSize holds a bulk buffer's worth of TLS records: 16 records of at
// most 16 KiB, each with its header and tag.
const batchSize = bulkSize + 16*(5+16+1)

var batchPool = sync.Pool{New: func() any { b := make([]byte, 0, batchSize); return &b }}

// batchMin: a write this long or longer is batched (two TLS records or more).
const batchMin = 16<<10 + 1

// batcherOf finds a BatchConn under c: c itself, or under the layers
// socketOf walks.
func batcherOf(c net.Conn) *BatchConn {
	for depth := 0; depth < 8 && c != nil; depth++ {
		if b, ok := c.(*BatchConn); ok {
			return b
		}
		nc, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			return nil
		}
		c = nc.NetConn()
	}
	return nil
}

// WriteBatched writes p to c, gathering what a layer over a BatchConn
// writes for it into one system call per bulk buffer's worth of p.
func WriteBatched(c net.Conn, p []byte) (int, error) {
	if len(p) < batchMin {
		return c.Write(p)
	}
	b := batcherOf(c)
	if b == nil {
		return c.Write(p)
	}
	written := 0
	for len(p) > 0 {
		chunk := p[:min(len(p), bulkSize)]
		b.Hold()
		n, err := c.Write(chunk)
		if ferr := b.Flush(); err == nil && ferr != nil {
			// What the layer reported written did not leave: the
			// connection is broken.
			return written, ferr
		}
		written += n
		if err != nil {
			return written, err
		}
		p = p[len(chunk):]
	}
	return written, nil
}

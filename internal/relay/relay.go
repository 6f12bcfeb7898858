// Package relay copies bytes both ways between two connections until both
// directions are done, propagating half-close, enforcing an idle timeout and
// an optional maximum duration, and counting what moved.
//
//	res := relay.Run(ctx, relay.Side{Conn: client, Buffered: pipelined}, relay.Side{Conn: upstream}, relay.Config{})
//	log.Info().Int64("bytes_in", res.BytesIn).Int64("bytes_out", res.BytesOut).Str("reason", string(res.Reason)).Send()
//
// Start does the same without waiting: it returns at once and hands the
// result to a callback, so that the caller's goroutine (often one whose
// stack grew during a TLS handshake) can end while the session lasts.
//
// An idle session holds no goroutine and no buffer when its sources are TCP
// sockets, or connections over one that tell which (a *tls.Conn, or
// anything with a NetConn method, see Side): on Linux each idle direction
// is one entry in an epoll instance shared by the process, served when its
// socket becomes readable by the goroutine that waits on that instance (a
// keystroke then costs no goroutine start and no timer) or, for a transfer,
// by a goroutine of its own; elsewhere each idle direction waits on a small
// goroutine of its own. A direction takes a pooled 32 KiB buffer only
// while data moves, moves up to a 256 KiB one during a sustained transfer,
// and gives it back when the data stops. Other sources are read through a
// small buffer first. When both ends are *net.TCPConn the copy uses the
// kernel's splice path; records of a TLS source that are already complete
// in the socket are read together, and written together through a
// BatchConn.
package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// DefaultIdleTimeout ends a session after this long without a byte in either direction.
const DefaultIdleTimeout = 30 * time.Minute

// BufferSize is the size of the pooled buffers used while data moves.
const BufferSize = 32 << 10

// bulkSize is the buffer of a sustained transfer: a direction whose reads
// keep filling BufferSize moves up to it, which cuts the number of system
// calls (and, through TLS, of record writes) per byte. At most maxBulk are
// in use at a time, so that many concurrent transfers cannot make the
// relay's memory grow without bound; beyond that they keep BufferSize.
const (
	bulkSize  = 256 << 10
	bulkAfter = 4 // full reads in a row before moving up
	maxBulk   = 64
)

// smallSize is the first-read buffer that an idle direction holds when its
// source cannot be waited on without a buffer.
const smallSize = 2 << 10

// smallRead: a read shorter than this is interactive traffic (keystrokes,
// screen updates); after it the direction goes back to waiting without a
// buffer at once instead of holding one for flowPause.
const smallRead = 1 << 10

// flowPause is how long a direction keeps its buffer, reading, after the
// last bulk read: a transfer keeps reading into the same buffer; a
// direction that receives nothing for this long gives it back.
const flowPause = 100 * time.Millisecond

var (
	smallPool = sync.Pool{New: func() any { b := make([]byte, smallSize); return &b }}
	bufPool   = sync.Pool{New: func() any { b := make([]byte, BufferSize); return &b }}
	bulkPool  = sync.Pool{New: func() any { b := make([]byte, bulkSize); return &b }}
	bulkUsed  atomic.Int32
	bulkTaken atomic.Int64 // moves up to a bulk buffer, ever (for tests)
)

// Config bounds a relay. The zero value applies DefaultIdleTimeout and no
// maximum duration.
type Config struct {
	// IdleTimeout ends the session after no byte moved in either direction
	// for this long. Zero means DefaultIdleTimeout; negative means none.
	IdleTimeout time.Duration
	// MaxDuration ends the session this long after it started. Zero means no limit.
	MaxDuration time.Duration
	// ResetOnError passes a failure on: when one side fails, the other is
	// aborted (Abort) instead of closed, so that its peer sees a failed
	// connection rather than an end of stream (an FTP server must not
	// store a cut upload as complete).
	ResetOnError bool
}

// Side is one end of a relay.
//
// A Conn that wraps another connection may have a method NetConn()
// net.Conn returning the connection that its Read reads next, when it
// holds no input of its own (nil otherwise): the relay then waits for the
// socket underneath to become readable without holding a buffer. A
// *tls.Conn is understood as such a wrapper (the relay takes care of the
// records it has buffered).
type Side struct {
	// Conn is the connection; it is written to, half-closed and closed.
	Conn net.Conn
	// Buffered holds bytes already read from Conn (pipelined after a
	// request, for example); they are relayed before anything read from
	// Conn.
	Buffered []byte
}

// Reason says why a relay ended.
type Reason string

// End reasons.
const (
	ReasonClosed      Reason = "closed"       // both sides finished (EOF each way)
	ReasonClientError Reason = "client_error" // reading from or writing to the client side failed
	ReasonHostError   Reason = "host_error"   // reading from or writing to the host side failed
	ReasonIdle        Reason = "idle_timeout" // nothing moved for IdleTimeout
	ReasonMaxDuration Reason = "max_duration" // MaxDuration reached
	ReasonCanceled    Reason = "canceled"     // the context ended (see Result.Err for its cause)
)

// Result is what a relay did.
type Result struct {
	// BytesIn is what moved from the client to the host; BytesOut from the host to the client.
	BytesIn, BytesOut int64
	Duration          time.Duration
	Reason            Reason
	// Err is the first error that ended the relay (nil for ReasonClosed), or
	// the context's cause for ReasonCanceled.
	Err error
}

// Run relays between client and host until both directions reach EOF, an
// error occurs, a timeout fires or ctx ends. It closes both connections
// before returning. It is safe to call concurrently for different pairs.
func Run(ctx context.Context, client, host Side, cfg Config) Result {
	ch := make(chan Result, 1)
	Start(ctx, client, host, cfg, func(r Result) { ch <- r })
	return <-ch
}

// Start is Run without waiting: it starts one goroutine per direction and
// returns. The last of them to finish closes both connections, stops the
// timers and calls done with the result; done runs on that goroutine,
// which ends when done returns. The session ends when ctx does, or when
// Cancel is called on what Start returns (which costs an idle session
// less than a context of its own).
func Start(ctx context.Context, client, host Side, cfg Config, done func(Result)) *Session {
	idle := cfg.IdleTimeout
	if idle == 0 {
		idle = DefaultIdleTimeout
	}
	s := &Session{idle: idle, start: time.Now(), client: client.Conn, host: host.Conn, done: done, resetOnError: cfg.ResetOnError}
	s.last.Store(s.start.UnixNano())
	s.running.Store(2)
	s.dirs[0] = dir{session: s, dst: host.Conn, src: client, srcReason: ReasonClientError, dstReason: ReasonHostError, count: &s.in}
	s.dirs[1] = dir{session: s, dst: client.Conn, src: host, srcReason: ReasonHostError, dstReason: ReasonClientError, count: &s.out}
	if ctx.Done() != nil {
		s.stopCtx = context.AfterFunc(ctx, func() { s.end(ReasonCanceled, context.Cause(ctx)) })
	}
	if cfg.MaxDuration > 0 {
		s.maxTimer = time.AfterFunc(cfg.MaxDuration, func() { s.end(ReasonMaxDuration, nil) })
	}
	if idle > 0 {
		s.mu.Lock()
		s.watchdog = time.AfterFunc(idle, s.checkIdle)
		s.mu.Unlock()
	}
	go s.direction(&s.dirs[0])
	go s.direction(&s.dirs[1])
	return s
}

// Cancel ends the session with ReasonCanceled and cause as its error, unless
// it has ended already.
func (s *Session) Cancel(cause error) {
	if cause == nil {
		cause = context.Canceled
	}
	s.end(ReasonCanceled, cause)
}

// dir is one direction of a session: what it copies from and to, and its
// place on the shared poller while it is parked there.
type dir struct {
	session              *Session
	dst                  net.Conn
	src                  Side
	srcReason, dstReason Reason
	count                *atomic.Int64

	sock    syscall.RawConn // the socket under src, when it can be waited on
	layered bool            // src is not sock itself (see socketOf)

	// guarded by the poller's lock
	registered bool   // sock is in the poller's epoll set
	key        uint64 // non-zero while parked

	// inline is the poller's serving generation while its goroutine
	// serves this direction itself (0 otherwise); only that goroutine
	// touches it.
	inline uint64
}

// Session is one relay in progress.
type Session struct {
	idle    time.Duration
	start   time.Time
	last    atomic.Int64 // unix nanoseconds of the last byte moved in either direction
	running atomic.Int32 // directions not finished yet
	in, out atomic.Int64

	client, host net.Conn
	resetOnError bool
	dirs         [2]dir
	done         func(Result)
	stopCtx      func() bool
	maxTimer     *time.Timer

	endOnce sync.Once
	reason  Reason
	endErr  error

	mu       sync.Mutex // guards watchdog's re-arming against its stop
	watchdog *time.Timer
}

func (s *Session) touch() { s.last.Store(time.Now().UnixNano()) }

// end records why the session ends (the first call wins) and closes both
// connections, which ends both directions: one that is running sees its
// reads or writes fail; one parked on the poller (whose closed socket
// leaves the epoll set without an event) is resumed here.
func (s *Session) end(r Reason, err error) {
	s.endOnce.Do(func() {
		s.reason, s.endErr = r, err
		if s.resetOnError {
			switch r {
			case ReasonClientError:
				Abort(s.host)
			case ReasonHostError:
				Abort(s.client)
			}
		}
		s.client.Close()
		s.host.Close()
		for i := range s.dirs {
			if d := &s.dirs[i]; sharedPoller.unpark(d) {
				go s.resume(d)
			}
		}
	})
}

func (s *Session) checkIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.watchdog == nil {
		return // the session finished
	}
	left := s.idle - time.Since(time.Unix(0, s.last.Load()))
	if left <= 0 {
		s.end(ReasonIdle, nil)
		return
	}
	s.watchdog.Reset(left)
}

// direction copies d.src to d.dst until it ends or parks on the poller.
func (s *Session) direction(d *dir) {
	r, err, parked := s.pipe(d)
	if !parked {
		s.finish(r, err)
	}
}

// resume continues a parked direction whose socket became readable (or
// whose session ended).
func (s *Session) resume(d *dir) {
	r, err, parked := s.copyWaiting(d, true)
	if !parked {
		s.finish(r, err)
	}
}

// finish ends a direction that stopped for reason r (empty at end of
// stream) and, if it is the last one, ends the session and reports it.
func (s *Session) finish(r Reason, err error) {
	if r != "" {
		s.end(r, err)
	}
	if s.running.Add(-1) > 0 {
		return
	}
	s.end(ReasonClosed, nil)
	if s.stopCtx != nil {
		s.stopCtx()
	}
	if s.maxTimer != nil {
		s.maxTimer.Stop()
	}
	s.mu.Lock()
	if s.watchdog != nil {
		s.watchdog.Stop()
		s.watchdog = nil
	}
	s.mu.Unlock()
	s.done(Result{BytesIn: s.in.Load(), BytesOut: s.out.Load(), Duration: time.Since(s.start), Reason: s.reason, Err: s.endErr})
}

// pipe copies d.src to d.dst, adding what it wrote to d.count. On EOF it
// half-closes dst and returns an empty reason; otherwise it returns why the
// session must end: srcReason when reading failed, dstReason when writing
// failed. parked reports that the direction waits on the poller instead
// and will be resumed.
func (s *Session) pipe(d *dir) (r Reason, err error, parked bool) {
	if b := d.src.Buffered; len(b) > 0 {
		s.touch()
		if _, err := d.dst.Write(b); err != nil {
			return d.dstReason, err, false
		}
		d.count.Add(int64(len(b)))
	}
	var readErr bool
	dt, dok := d.dst.(*net.TCPConn)
	st, sok := d.src.Conn.(*net.TCPConn)
	switch d.sock, d.layered = socketOf(d.src.Conn); {
	case dok && sok:
		readErr, err = s.splice(dt, st, d.count)
	case d.sock != nil && canWait:
		return s.copyWaiting(d, false)
	default:
		readErr, err = s.copyBuffered(d.dst, d.src.Conn, d.count)
	}
	return d.outcome(readErr, err), err, false
}

// outcome turns how a copy ended into the direction's end reason,
// half-closing dst at end of stream.
func (d *dir) outcome(readErr bool, err error) Reason {
	switch {
	case err == nil:
		closeWrite(d.dst)
		return ""
	case readErr:
		return d.srcReason
	default:
		return d.dstReason
	}
}

// socketOf finds the TCP socket that reading c reads next: c itself, or
// the connection under a *tls.Conn or under a wrapper with a NetConn
// method. layered reports that c is not the socket itself (or a BatchConn
// over it), so it may hold decoded input that the socket does not show.
func socketOf(c net.Conn) (sock syscall.RawConn, layered bool) {
	for depth := 0; depth < 8 && c != nil; depth++ {
		if t, ok := c.(*net.TCPConn); ok {
			rc, err := t.SyscallConn()
			if err != nil {
				return nil, false
			}
			return rc, layered
		}
		next, l := beneath(c)
		c, layered = next, layered || l
	}
	return nil, false
}

// beneath returns the connection under c (nil if none is known): under a
// BatchConn, whose reads go straight through, or under a *tls.Conn or a
// wrapper with a NetConn method, which are layered: they may hold input
// that the connection under them no longer shows.
func beneath(c net.Conn) (next net.Conn, layered bool) {
	switch v := c.(type) {
	case *BatchConn:
		return v.Conn, false
	case *tls.Conn:
		return v.NetConn(), true
	case interface{ NetConn() net.Conn }:
		return v.NetConn(), true
	}
	return nil, false
}

// splice copies between two TCP connections with io.Copy, which uses the
// kernel's splice path. Each round is bounded by a read deadline so that
// activity is recorded for the idle watchdog while a long transfer runs.
func (s *Session) splice(dst, src *net.TCPConn, count *atomic.Int64) (bool, error) {
	for {
		if s.idle > 0 {
			src.SetReadDeadline(time.Now().Add(s.idle / 4))
		}
		n, err := io.Copy(dst, src)
		count.Add(n)
		if n > 0 {
			s.touch()
		}
		if err == nil {
			return true, nil
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			continue
		}
		var op *net.OpError
		readErr := !errors.As(err, &op) || op.Op != "write"
		return readErr, err
	}
}

// copyWaiting is the loop of a source over a socket: wait, holding no
// buffer, until the socket is readable; then copy a burst into a pooled
// buffer. Where the shared poller works the wait is a parked entry there
// (parked is then true and the goroutine ends; resume continues with
// woken set). Elsewhere the goroutine waits itself, and each burst runs
// on a goroutine of its own: decrypting and encrypting TLS records needs
// a deep stack, which a goroutine keeps once grown, so the goroutine that
// waits (for as long as the session is idle) keeps the smallest stack.
//
// A layered source may hold input it decoded already (a *tls.Conn with
// the rest of a record read along with the request before the relay):
// before its first wait it is drained, without touching the socket.
func (s *Session) copyWaiting(d *dir, woken bool) (r Reason, err error, parked bool) {
	first := !woken
	for {
		if woken || (first && d.layered) {
			var eof, readErr bool
			if canPark {
				eof, readErr, err = s.burst(d, first)
			} else {
				ch := make(chan burstEnd, 1)
				go func() {
					var b burstEnd
					b.eof, b.readErr, b.err = s.burst(d, first)
					ch <- b
				}()
				b := <-ch
				eof, readErr, err = b.eof, b.readErr, b.err
			}
			if eof && err == nil {
				// What the last bulk write handed on must be out
				// before end of stream is passed on.
				if b := batcherOf(d.dst); b != nil {
					if werr := b.Wait(); werr != nil {
						return d.dstReason, werr, false
					}
				}
			}
			if err != nil || eof {
				return d.outcome(readErr, err), err, false
			}
		}
		woken, first = true, false
		d.inline = 0
		if sharedPoller.park(d) {
			return "", nil, true
		}
		if err := waitReadable(d.sock); err != nil {
			return d.srcReason, err, false
		}
	}
}

type burstEnd struct {
	eof, readErr bool
	err          error
}

// burst copies what src has to offer, and returns when src has nothing
// more right now. It starts with a small pooled buffer and no deadline
// (src is readable: only a record split across segments can make that
// read wait, and then it holds just this goroutine), so that a keystroke
// costs no timer. A read that fills it moves to a BufferSize buffer under
// a flowPause read deadline: a transfer keeps reading into it, and gives
// it back when nothing arrived for flowPause. After a short read it
// returns at once: a layered source is first drained of the input it
// decoded already, by reads under an expired deadline (which never touch
// the socket). drainOnly: only that draining.
func (s *Session) burst(d *dir, drainOnly bool) (eof, readErr bool, err error) {
	dst, src, sock, layered, count := d.dst, d.src.Conn, d.sock, d.layered, d.count
	sp := smallPool.Get().(*[]byte)
	buf := *sp
	var bp *[]byte // the pooled buffer, once taken
	bulk := false
	defer func() {
		smallPool.Put(sp)
		switch {
		case bulk:
			bulkPool.Put(bp)
			bulkUsed.Add(-1)
		case bp != nil:
			bufPool.Put(bp)
		}
	}()
	deadline := false // a read deadline is set on src
	defer func() {
		if deadline {
			src.SetReadDeadline(time.Time{})
		}
	}()
	draining := false
	if drainOnly {
		draining, deadline = true, true
		src.SetReadDeadline(longAgo)
	}
	moved := false // a byte arrived since the deadline was armed
	full := 0      // reads in a row that filled buf
	for {
		n, rerr := src.Read(buf)
		filled := n == len(buf)
		if bp != nil && layered && rerr == nil && n >= smallRead && !draining {
			// A record layer returns a record at a time: gather the
			// records that are already here, so that they are written
			// (and, through TLS, batched) together.
			for n <= len(buf)-maxRecordWire && recordReady(sock) {
				m, err := src.Read(buf[n:])
				n += m
				if err != nil {
					rerr = err
					break
				}
			}
			filled = n > len(buf)-maxRecordWire
		}
		if n > 0 {
			s.touch()
			moved = true
			if _, werr := WriteBatched(dst, buf[:n]); werr != nil {
				return false, false, werr
			}
			count.Add(int64(n))
			switch {
			case bp == nil:
				if filled {
					bp = bufPool.Get().(*[]byte)
					buf = *bp
					// A transfer: the shared poller's goroutine, if
					// this is it, lets another one wait for events.
					sharedPoller.handOn(d)
				}
			case !filled:
				full = 0
			default:
				if full++; full >= bulkAfter && !bulk {
					if bulkUsed.Add(1) <= maxBulk {
						bufPool.Put(bp)
						bp, bulk = bulkPool.Get().(*[]byte), true
						bulkTaken.Add(1)
						buf = *bp
					} else {
						bulkUsed.Add(-1)
						full = 0
					}
				}
			}
		}
		switch {
		case rerr == io.EOF:
			return true, true, nil
		case rerr != nil && errors.Is(rerr, os.ErrDeadlineExceeded):
			if draining || !moved {
				return false, false, nil // nothing buffered, nothing flowing: wait without the buffer
			}
			moved = false
			src.SetReadDeadline(time.Now().Add(flowPause))
		case rerr != nil:
			return false, true, rerr
		case draining:
		case n < smallRead && !layered:
			return false, false, nil // the socket shows whether more is there
		case n < smallRead:
			draining, deadline = true, true
			src.SetReadDeadline(longAgo)
		case !deadline:
			deadline, moved = true, false
			src.SetReadDeadline(time.Now().Add(flowPause))
		}
	}
}

var longAgo = time.Unix(1, 0)

// maxRecordWire is the most a TLS record takes on the wire: a header, 16
// KiB of data, and up to 256 bytes of expansion (RFC 8446, section 5.2).
const maxRecordWire = 5 + 16<<10 + 256

// recordReady reports whether the socket holds a whole record of the
// largest size, so that reading one more record from the layer over it
// cannot block.
func recordReady(sock syscall.RawConn) bool {
	return sock != nil && readable(sock) >= maxRecordWire
}

// copyBuffered is the general loop: a small first read, a pooled buffer
// while data flows.
func (s *Session) copyBuffered(dst net.Conn, r io.Reader, count *atomic.Int64) (bool, error) {
	var small [smallSize]byte
	var big *[]byte
	defer func() {
		if big != nil {
			bufPool.Put(big)
		}
	}()
	for {
		buf := small[:]
		if big != nil {
			buf = *big
		}
		n, rerr := r.Read(buf)
		if n > 0 {
			s.touch()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return false, werr
			}
			count.Add(int64(n))
			switch {
			case big == nil && n == len(buf):
				big = bufPool.Get().(*[]byte)
			case big != nil && n < smallSize:
				bufPool.Put(big)
				big = nil
			}
		}
		if rerr != nil {
			if rerr == io.EOF {
				return true, nil
			}
			return true, rerr
		}
	}
}

// Abort closes c at once with a TCP reset: no TLS closing alert and no
// FIN, so that its peer sees a failed connection, not an end of stream. It
// finds the TCP connection as socketOf does; a layer with an Abort method
// aborts itself. Other connections are just closed.
func Abort(c net.Conn) error {
	for depth := 0; depth < 8; depth++ {
		switch v := c.(type) {
		case interface{ Abort() error }:
			return v.Abort()
		case *net.TCPConn:
			v.SetLinger(0)
			return v.Close()
		}
		next, _ := beneath(c)
		if next == nil {
			break
		}
		c = next
	}
	return c.Close()
}

// closeWrite half-closes c if it can (TCP, TLS, or anything with CloseWrite).
func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}

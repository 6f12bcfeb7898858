// Package relay copies bytes both ways between two connections until both
// directions are done, propagating half-close, enforcing an idle timeout and
// an optional maximum duration, and counting what moved.
//
//	res := relay.Run(ctx, relay.Side{Conn: client, Reader: br}, relay.Side{Conn: upstream}, relay.Config{})
//	log.Info().Int64("bytes_in", res.BytesIn).Int64("bytes_out", res.BytesOut).Str("reason", string(res.Reason)).Send()
//
// Buffers come from a shared pool of 32 KiB buffers and are held only while
// data moves: each direction first reads into a small buffer, takes a large
// one when traffic fills the small one, and gives it back when traffic slows
// down, so an idle session holds a few KiB. When both ends are *net.TCPConn
// and no reader is interposed, the copy uses the kernel's splice path.
package relay

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultIdleTimeout ends a session after this long without a byte in either direction.
const DefaultIdleTimeout = 30 * time.Minute

// BufferSize is the size of the pooled buffers used while data moves.
const BufferSize = 32 << 10

// smallSize is the first-read buffer that an idle direction holds.
const smallSize = 2 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, BufferSize); return &b }}

// Config bounds a relay. The zero value applies DefaultIdleTimeout and no
// maximum duration.
type Config struct {
	// IdleTimeout ends the session after no byte moved in either direction
	// for this long. Zero means DefaultIdleTimeout; negative means none.
	IdleTimeout time.Duration
	// MaxDuration ends the session this long after it started. Zero means no limit.
	MaxDuration time.Duration
}

// Side is one end of a relay.
type Side struct {
	// Conn is the connection; it is written to, half-closed and closed.
	Conn net.Conn
	// Reader, if not nil, is read instead of Conn: typically a *bufio.Reader
	// over Conn that holds bytes already received (pipelined after a
	// request). It must eventually read from Conn itself.
	Reader io.Reader
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
	idle := cfg.IdleTimeout
	if idle == 0 {
		idle = DefaultIdleTimeout
	}
	start := time.Now()
	s := &session{idle: idle}
	s.last.Store(start.UnixNano())

	var (
		endOnce sync.Once
		reason  Reason
		endErr  error
	)
	end := func(r Reason, err error) {
		endOnce.Do(func() {
			reason, endErr = r, err
			client.Conn.Close()
			host.Conn.Close()
		})
	}

	stop := context.AfterFunc(ctx, func() { end(ReasonCanceled, context.Cause(ctx)) })
	defer stop()
	if cfg.MaxDuration > 0 {
		t := time.AfterFunc(cfg.MaxDuration, func() { end(ReasonMaxDuration, nil) })
		defer t.Stop()
	}
	if idle > 0 {
		var watchdog *time.Timer
		var mu sync.Mutex
		check := func() {
			mu.Lock()
			defer mu.Unlock()
			left := idle - time.Since(time.Unix(0, s.last.Load()))
			if left <= 0 {
				end(ReasonIdle, nil)
				return
			}
			watchdog.Reset(left)
		}
		mu.Lock()
		watchdog = time.AfterFunc(idle, check)
		mu.Unlock()
		defer func() {
			mu.Lock()
			watchdog.Stop()
			mu.Unlock()
		}()
	}

	var wg sync.WaitGroup
	var in, out int64
	wg.Add(2)
	go func() {
		defer wg.Done()
		n, r, err := s.pipe(host.Conn, client, ReasonClientError, ReasonHostError)
		atomic.StoreInt64(&in, n)
		if r != "" {
			end(r, err)
		}
	}()
	go func() {
		defer wg.Done()
		n, r, err := s.pipe(client.Conn, host, ReasonHostError, ReasonClientError)
		atomic.StoreInt64(&out, n)
		if r != "" {
			end(r, err)
		}
	}()
	wg.Wait()
	end(ReasonClosed, nil)
	return Result{BytesIn: in, BytesOut: out, Duration: time.Since(start), Reason: reason, Err: endErr}
}

type session struct {
	idle time.Duration
	last atomic.Int64 // unix nanoseconds of the last byte moved in either direction
}

func (s *session) touch() { s.last.Store(time.Now().UnixNano()) }

// pipe copies src to dst. On EOF it half-closes dst and returns an empty
// reason; otherwise it returns why the session must end: srcReason when
// reading failed, dstReason when writing failed.
func (s *session) pipe(dst net.Conn, src Side, srcReason, dstReason Reason) (int64, Reason, error) {
	var (
		total   int64
		readErr bool
		err     error
	)
	dt, dok := dst.(*net.TCPConn)
	st, sok := src.Conn.(*net.TCPConn)
	if src.Reader == nil && dok && sok {
		total, readErr, err = s.splice(dt, st)
	} else {
		total, readErr, err = s.copyBuffered(dst, src)
	}
	if err == nil {
		closeWrite(dst)
		return total, "", nil
	}
	if readErr {
		return total, srcReason, err
	}
	return total, dstReason, err
}

// splice copies between two TCP connections with io.Copy, which uses the
// kernel's splice path. Each round is bounded by a read deadline so that
// activity is recorded for the idle watchdog while a long transfer runs.
func (s *session) splice(dst, src *net.TCPConn) (int64, bool, error) {
	var total int64
	for {
		if s.idle > 0 {
			src.SetReadDeadline(time.Now().Add(s.idle / 4))
		}
		n, err := io.Copy(dst, src)
		total += n
		if n > 0 {
			s.touch()
		}
		if err == nil {
			return total, true, nil
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			continue
		}
		var op *net.OpError
		readErr := !errors.As(err, &op) || op.Op != "write"
		return total, readErr, err
	}
}

// copyBuffered is the general loop: a small first read, a pooled buffer
// while data flows.
func (s *session) copyBuffered(dst net.Conn, src Side) (int64, bool, error) {
	r := src.Reader
	if r == nil {
		r = src.Conn
	}
	var small [smallSize]byte
	var big *[]byte
	defer func() {
		if big != nil {
			bufPool.Put(big)
		}
	}()
	var total int64
	for {
		buf := small[:]
		if big != nil {
			buf = *big
		}
		n, rerr := r.Read(buf)
		if n > 0 {
			s.touch()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return total, false, werr
			}
			total += int64(n)
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
				return total, true, nil
			}
			return total, true, rerr
		}
	}
}

// closeWrite half-closes c if it can (TCP, TLS, or anything with CloseWrite).
func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}

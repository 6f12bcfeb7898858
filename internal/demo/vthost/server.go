package vthost

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Defaults used when the corresponding Server field is zero.
const (
	DefaultAddr         = "127.0.0.1:2323"
	DefaultIdleTimeout  = 10 * time.Minute
	DefaultWriteTimeout = 10 * time.Second
	DefaultMaxConns     = 100
)

// Server is the demo VT host: a telnet server that presents a small
// full-screen application. The zero value is ready to use; configure it
// before the first Serve and do not change it afterwards.
//
// Serve, ListenAndServe and Close are safe for concurrent use.
type Server struct {
	// Addr is the address ListenAndServe listens on. Empty means
	// 127.0.0.1:2323.
	Addr string
	// IdleTimeout ends a connection with no input for this long. Zero
	// means 10 minutes.
	IdleTimeout time.Duration
	// WriteTimeout bounds each write to a client. Zero means 10 s.
	WriteTimeout time.Duration
	// MaxConns bounds concurrent connections; more are told the host is
	// busy and closed. Zero means 100.
	MaxConns int
	// Now is the clock shown by the clock screen. Nil means time.Now.
	Now func() time.Time
	// Logger receives connection events. The zero value logs nothing.
	Logger zerolog.Logger

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
	connWG    sync.WaitGroup // connection handlers
	serveWG   sync.WaitGroup // Serve loops
}

// ListenAndServe listens on s.Addr and serves until ctx ends or Close is
// called.
func (s *Server) ListenAndServe(ctx context.Context) error {
	addr := s.Addr
	if addr == "" {
		addr = DefaultAddr
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(ctx, ln)
}

// Serve accepts connections on ln and serves each until it quits, idles
// out, or the server stops. It returns ctx.Err() when ctx ends (after
// closing the connections it accepted), ErrServerClosed after Close, or
// the listener's error. Serve closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	if s.listeners == nil {
		s.listeners = map[net.Listener]struct{}{}
		s.conns = map[net.Conn]struct{}{}
	}
	s.listeners[ln] = struct{}{}
	s.serveWG.Add(1)
	s.mu.Unlock()
	defer s.serveWG.Done()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		ln.Close()
	}()

	// Close the listener when ctx ends; the watcher is waited for.
	stopWatch := make(chan struct{})
	var watchWG sync.WaitGroup
	watchWG.Add(1)
	go func() {
		defer watchWG.Done()
		select {
		case <-ctx.Done():
			ln.Close()
		case <-stopWatch:
		}
	}()
	defer watchWG.Wait()
	defer close(stopWatch)

	mine := map[net.Conn]struct{}{} // connections accepted here, to end with ctx
	var mineMu sync.Mutex
	var mineWG sync.WaitGroup
	log := s.Logger.With().Str("listen", ln.Addr().String()).Logger()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				mineMu.Lock()
				for c := range mine {
					c.Close()
				}
				mineMu.Unlock()
				mineWG.Wait()
				return ctx.Err()
			}
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		if ok, busy := s.track(nc); !ok {
			if busy {
				log.Warn().Str("remote", nc.RemoteAddr().String()).Msg("demo host full: connection refused")
				nc.SetWriteDeadline(time.Now().Add(time.Second))
				nc.Write([]byte("termgate demo host: too many connections, try again later\r\n"))
			}
			nc.Close()
			continue
		}
		mineMu.Lock()
		mine[nc] = struct{}{}
		mineMu.Unlock()
		mineWG.Add(1)
		go func() {
			defer s.connWG.Done()
			defer mineWG.Done()
			s.serveConn(nc, log)
			nc.Close()
			s.mu.Lock()
			delete(s.conns, nc)
			s.mu.Unlock()
			mineMu.Lock()
			delete(mine, nc)
			mineMu.Unlock()
		}()
	}
}

// track registers nc, or refuses it when the server is closed or full.
func (s *Server) track(nc net.Conn) (ok, busy bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false, false
	}
	limit := s.MaxConns
	if limit <= 0 {
		limit = DefaultMaxConns
	}
	if len(s.conns) >= limit {
		return false, true
	}
	s.conns[nc] = struct{}{}
	s.connWG.Add(1)
	return true, false
}

// Close stops every Serve, closes every connection and waits for their
// goroutines. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for ln := range s.listeners {
		ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.connWG.Wait()
	s.serveWG.Wait()
	return nil
}

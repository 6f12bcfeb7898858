package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// RelayConfig configures the plain relay, the baseline that shows what
// crypto/tls and io.Copy alone cost. Listen and Upstream are required.
type RelayConfig struct {
	// Listen is the TLS listener, host:port.
	Listen string
	// Certificate is served to every client.
	Certificate tls.Certificate
	// Upstream is where every connection is relayed to, host:port.
	Upstream string
	// Timeout bounds the TLS handshake and the dial. Zero means DefaultOpTimeout.
	Timeout time.Duration
}

// Relay terminates TLS and copies bytes to and from one fixed upstream
// with io.Copy: no request, no token, no policy, no limits beyond a
// handshake and dial timeout. It is the "plain Go" baseline. Its methods
// are safe for concurrent use.
type Relay struct {
	cfg  RelayConfig
	ln   net.Listener
	conf *tls.Config
	wg   sync.WaitGroup

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{}
}

// NewRelay binds the listener; Serve starts relaying.
func NewRelay(cfg RelayConfig) (*Relay, error) {
	if cfg.Listen == "" || cfg.Upstream == "" {
		return nil, fmt.Errorf("%w: the relay needs a listen and an upstream address", ErrConfig)
	}
	if len(cfg.Certificate.Certificate) == 0 {
		return nil, fmt.Errorf("%w: the relay needs a certificate", ErrConfig)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultOpTimeout
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("bench: relay listen %s: %w", cfg.Listen, err)
	}
	return &Relay{
		cfg:   cfg,
		ln:    ln,
		conf:  &tls.Config{Certificates: []tls.Certificate{cfg.Certificate}, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}},
		conns: map[net.Conn]struct{}{},
	}, nil
}

// Addr is the listener's address.
func (r *Relay) Addr() net.Addr { return r.ln.Addr() }

// Serve relays until ctx ends or Close is called, then closes everything.
func (r *Relay) Serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { r.Close() })
	defer stop()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			r.Close()
			return nil
		}
		if !r.track(c) {
			continue
		}
		go func() {
			defer r.wg.Done()
			defer r.untrack(c)
			r.handle(c)
		}()
	}
}

// track registers c for Close and counts its goroutine; it returns false
// (and closes c) once the relay is closed.
func (r *Relay) track(c net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		c.Close()
		return false
	}
	r.conns[c] = struct{}{}
	r.wg.Add(1)
	return true
}

func (r *Relay) untrack(c net.Conn) {
	r.mu.Lock()
	delete(r.conns, c)
	r.mu.Unlock()
	c.Close()
}

func (r *Relay) handle(raw net.Conn) {
	tc := tls.Server(raw, r.conf)
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.Timeout)
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		return
	}
	up, err := net.DialTimeout("tcp", r.cfg.Upstream, r.cfg.Timeout)
	if err != nil {
		return
	}
	defer up.Close()
	done := make(chan struct{})
	go func() {
		io.Copy(tc, up)
		tc.CloseWrite()
		close(done)
	}()
	io.Copy(up, tc)
	up.(*net.TCPConn).CloseWrite()
	<-done
}

// Close stops the listener and every connection, and waits for them. It is idempotent.
func (r *Relay) Close() error {
	r.mu.Lock()
	r.closed = true
	for c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.ln.Close()
	r.wg.Wait()
	return nil
}

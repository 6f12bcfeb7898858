package metering

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/rs/zerolog"

	"github.com/termgate/termgate/pki"
)

// Config configures a Sender. Addresses and Ticket are required; every
// other zero value has the meaning given in its comment.
type Config struct {
	// Addresses are the metering listeners (host:port, UDP) of the group's
	// nodes, tried in order; the sender stays on one until it fails.
	Addresses []string
	// Interval is the time between heartbeats; 0 means 30 s.
	Interval time.Duration
	// Ticket is the signed metering ticket from the launch response.
	Ticket string
	// TrustStore is the PEM the nodes' certificates are verified against
	// (launch metering.trust_store); nil means the system roots.
	TrustStore []byte
	// ServerName is the name the node's certificate must carry; "" means
	// the host of the address dialled.
	ServerName string
	// MaxPending bounds the heartbeats kept while no node answers (the
	// oldest are dropped first); 0 means 1024.
	MaxPending int
	// AckTimeout bounds the wait for each acknowledgement and each
	// handshake; 0 means 3 s.
	AckTimeout time.Duration
	// Spread sends each heartbeat to the next address in turn instead of
	// staying on one node (any node takes any heartbeat).
	Spread bool
	// OnStatus is called (from the sender's goroutine) when delivery stops
	// or resumes, and when heartbeats are dropped. nil: not called.
	OnStatus func(Status)
	// Logger receives delivery events; the zero value logs nothing.
	Logger zerolog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Status is the sender's delivery state.
type Status struct {
	// Delivering is false while heartbeats cannot be delivered (a gap).
	Delivering bool
	// Address is the node last used (or tried).
	Address string
	// Pending is how many heartbeats wait to be sent.
	Pending int
	// Sent, Dropped and Refused count heartbeats acknowledged, dropped
	// because MaxPending was reached, and refused for good by a node.
	Sent, Dropped, Refused uint64
	// GapSince is when delivery stopped (zero while delivering).
	GapSince time.Time
	// Err is the last delivery error.
	Err error
}

// Sender sends metering heartbeats. Start it once, Stop it when the session
// ends. Its methods are safe for concurrent use.
type Sender struct {
	cfg  Config
	pool *x509.CertPool
	now  func() time.Time

	mu      sync.Mutex
	st      Status
	seq     uint64
	pending []heartbeat
	addrIx  int
	conn    *dtls.Conn
	started bool

	beat    chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}
	stopped sync.Once
}

type heartbeat struct {
	Ticket string `json:"ticket"`
	Seq    uint64 `json:"seq"`
	TS     int64  `json:"ts"`
}

type ack struct {
	Seq   uint64 `json:"seq"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// New checks cfg and returns a stopped Sender.
func New(cfg Config) (*Sender, error) {
	if len(cfg.Addresses) == 0 {
		return nil, ErrNoAddress
	}
	if cfg.Ticket == "" {
		return nil, ErrNoTicket
	}
	for _, a := range cfg.Addresses {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return nil, fmt.Errorf("metering: address %q: %w", a, err)
		}
	}
	s := &Sender{cfg: cfg, now: cfg.Now, beat: make(chan struct{}, 1), done: make(chan struct{})}
	if s.now == nil {
		s.now = time.Now
	}
	if cfg.TrustStore != nil {
		ts, err := pki.ParseTrustStore(cfg.TrustStore)
		if err != nil {
			return nil, fmt.Errorf("metering: trust store: %w", err)
		}
		if ts.Len() == 0 {
			return nil, errors.New("metering: the trust store holds no certificate")
		}
		s.pool = ts.Pool()
	}
	s.st.Delivering = true
	return s, nil
}

func (s *Sender) interval() time.Duration {
	if s.cfg.Interval <= 0 {
		return 30 * time.Second
	}
	return s.cfg.Interval
}

func (s *Sender) ackTimeout() time.Duration {
	if s.cfg.AckTimeout <= 0 {
		return 3 * time.Second
	}
	return s.cfg.AckTimeout
}

func (s *Sender) maxPending() int {
	if s.cfg.MaxPending <= 0 {
		return 1024
	}
	return s.cfg.MaxPending
}

// Start sends the first heartbeat at once and then one every interval,
// in a goroutine, until ctx ends or Stop is called. A second Start does
// nothing.
func (s *Sender) Start(ctx context.Context) {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return
	}
	s.started = true
	ctx, s.cancel = context.WithCancel(ctx)
	s.mu.Unlock()
	go s.run(ctx)
}

// Stop ends the sender and waits for its goroutine. It is idempotent;
// heartbeats still pending are given up.
func (s *Sender) Stop() {
	s.stopped.Do(func() {
		s.mu.Lock()
		started, cancel := s.started, s.cancel
		s.started = true // a later Start does nothing
		s.mu.Unlock()
		if !started || cancel == nil {
			close(s.done)
			return
		}
		cancel()
		<-s.done
	})
}

// Beat sends a heartbeat now (without waiting for the interval).
func (s *Sender) Beat() {
	select {
	case s.beat <- struct{}{}:
	default:
	}
}

// Status returns the delivery state.
func (s *Sender) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	st.Pending = len(s.pending)
	return st
}

func (s *Sender) run(ctx context.Context) {
	defer close(s.done)
	defer s.closeConn()
	t := time.NewTicker(s.interval())
	defer t.Stop()
	for {
		s.enqueue()
		s.flush(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.beat:
		}
	}
}

func (s *Sender) enqueue() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	s.pending = append(s.pending, heartbeat{Ticket: s.cfg.Ticket, Seq: s.seq, TS: s.now().UnixMilli()})
	if over := len(s.pending) - s.maxPending(); over > 0 {
		s.pending = s.pending[over:]
		s.st.Dropped += uint64(over)
		s.notifyLocked()
	}
}

// flush sends the pending heartbeats in order, moving to the next address
// when one fails; it gives up for this round after trying each address once.
func (s *Sender) flush(ctx context.Context) {
	tries := 0
	for ctx.Err() == nil {
		s.mu.Lock()
		if len(s.pending) == 0 {
			s.mu.Unlock()
			return
		}
		hb := s.pending[0]
		s.mu.Unlock()
		err := s.send(ctx, hb)
		var re *RefusedError
		switch {
		case err == nil:
			s.mu.Lock()
			s.pending = s.pending[1:]
			s.st.Sent++
			s.deliveredLocked()
			s.mu.Unlock()
			if s.cfg.Spread {
				s.rotate()
			}
		case errors.As(err, &re):
			s.mu.Lock()
			s.pending = s.pending[1:]
			s.st.Refused++
			s.st.Err = err
			s.notifyLocked()
			s.mu.Unlock()
			s.cfg.Logger.Warn().Uint64("seq", hb.Seq).Str("code", re.Code).Msg("metering heartbeat refused")
		default:
			s.rotate()
			s.mu.Lock()
			s.st.Err = err
			if s.st.Delivering {
				s.st.Delivering, s.st.GapSince = false, s.now()
				s.notifyLocked()
			}
			s.mu.Unlock()
			s.cfg.Logger.Debug().Err(err).Msg("metering heartbeat not delivered")
			tries++
			if tries >= len(s.cfg.Addresses) {
				return
			}
		}
	}
}

func (s *Sender) deliveredLocked() {
	if !s.st.Delivering {
		s.st.Delivering, s.st.GapSince, s.st.Err = true, time.Time{}, nil
		s.notifyLocked()
	}
}

func (s *Sender) notifyLocked() {
	if s.cfg.OnStatus == nil {
		return
	}
	st := s.st
	st.Pending = len(s.pending)
	f := s.cfg.OnStatus
	s.mu.Unlock()
	f(st)
	s.mu.Lock()
}

func (s *Sender) rotate() {
	s.closeConn()
	s.mu.Lock()
	s.addrIx = (s.addrIx + 1) % len(s.cfg.Addresses)
	s.mu.Unlock()
}

func (s *Sender) closeConn() {
	s.mu.Lock()
	c := s.conn
	s.conn = nil
	s.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

// send delivers one heartbeat and reads its acknowledgement. A "replayed"
// answer means the node already has it (an earlier ack was lost): delivered.
func (s *Sender) send(ctx context.Context, hb heartbeat) error {
	c, err := s.dial(ctx)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(hb)
	c.SetWriteDeadline(time.Now().Add(s.ackTimeout()))
	if _, err := c.Write(b); err != nil {
		return fmt.Errorf("metering: send: %w", err)
	}
	buf := make([]byte, 1024)
	deadline := time.Now().Add(s.ackTimeout())
	for {
		c.SetReadDeadline(deadline)
		n, err := c.Read(buf)
		if err != nil {
			return fmt.Errorf("%w from %s: %v", ErrNoAck, c.RemoteAddr(), err)
		}
		a, err := decodeAck(buf[:n])
		if err != nil || a.Seq != hb.Seq {
			continue // a late ack of an earlier try, or noise
		}
		switch {
		case a.OK, a.Error == "replayed":
			return nil
		case a.Error == "internal":
			return fmt.Errorf("metering: node %s could not record heartbeat %d", c.RemoteAddr(), hb.Seq)
		default:
			return &RefusedError{Seq: hb.Seq, Code: a.Error}
		}
	}
}

func decodeAck(b []byte) (ack, error) {
	var a ack
	if len(b) > 1024 {
		return a, errors.New("ack too large")
	}
	err := json.Unmarshal(b, &a)
	return a, err
}

func (s *Sender) dial(ctx context.Context) (*dtls.Conn, error) {
	s.mu.Lock()
	if s.conn != nil {
		c := s.conn
		s.mu.Unlock()
		return c, nil
	}
	addr := s.cfg.Addresses[s.addrIx]
	s.st.Address = addr
	s.mu.Unlock()
	raddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("metering: resolve %s: %w", addr, err)
	}
	pc, err := net.ListenUDP("udp", nil)
	if err != nil {
		return nil, fmt.Errorf("metering: %w", err)
	}
	name := s.cfg.ServerName
	if name == "" {
		name = pki.HostOf(addr)
	}
	opts := []dtls.ClientOption{
		dtls.WithServerName(name),
		dtls.WithExtendedMasterSecret(dtls.RequireExtendedMasterSecret),
		dtls.WithFlightInterval(300 * time.Millisecond),
	}
	if s.pool != nil {
		opts = append(opts, dtls.WithRootCAs(s.pool))
	}
	c, err := dtls.ClientWithOptions(pc, raddr, opts...)
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("metering: %s: %w", addr, err)
	}
	hctx, cancel := context.WithTimeout(ctx, s.ackTimeout())
	err = c.HandshakeContext(hctx)
	cancel()
	if err != nil {
		c.Close()
		pc.Close()
		return nil, fmt.Errorf("metering: DTLS handshake with %s: %w", addr, err)
	}
	s.mu.Lock()
	s.conn = c
	s.mu.Unlock()
	return c, nil
}

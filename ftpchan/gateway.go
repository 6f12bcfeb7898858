package ftpchan

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Defaults of Config.
const (
	DefaultTicketTTL   = 12 * time.Hour
	DefaultDataTimeout = 30 * time.Second
	DefaultDialTimeout = 10 * time.Second
	DefaultIdleTimeout = 30 * time.Minute
	DefaultKeepAlive   = 15 * time.Second
	DefaultMaxInvalid  = 16
	// attachWait is how long a channel that arrives before its session's
	// control channel is attached waits for it.
	attachWait = 5 * time.Second
	// pendingAttach is how long a ticket issued for a session waits for
	// HandleControl before the session is forgotten.
	pendingAttach = time.Minute
	writeTimeout  = 30 * time.Second
)

// ChannelKind is the value of the Termgate-Channel request header.
type ChannelKind string

// Channel kinds.
const (
	ChannelData   ChannelKind = "ftp-data"
	ChannelNotify ChannelKind = "ftp-notify"
)

// ParseChannelKind checks a Termgate-Channel header value.
func ParseChannelKind(s string) (ChannelKind, error) {
	switch k := ChannelKind(s); k {
	case ChannelData, ChannelNotify:
		return k, nil
	}
	return "", fmt.Errorf("%w %q", ErrBadChannel, clip(s))
}

// Config configures a Gateway. Only NodeID is required; the zero value of
// every other field is the safe default.
type Config struct {
	// NodeID is this proxy node's id: tickets name it as the owner of the
	// sessions whose control channel runs here. Required.
	NodeID string
	// TicketKeys are the cluster's ticket keys (each ≥ 32 random bytes):
	// the first signs, all verify. Every node of a cluster must share them,
	// or channels forwarded between nodes are refused. Empty: a random key,
	// good for a single node only.
	TicketKeys [][]byte
	// TicketTTL is the lifetime of a control channel's ticket; zero means
	// DefaultTicketTTL. A ticket is also useless once its session ends.
	TicketTTL time.Duration
	// DataTimeout is how long an announced data port may be used (once),
	// and how long a server-active listener waits for the server; zero
	// means DefaultDataTimeout.
	DataTimeout time.Duration
	// DialTimeout bounds dials to the FTP server and the TLS set-up with
	// it; zero means DefaultDialTimeout.
	DialTimeout time.Duration
	// IdleTimeout ends a session whose control channel and data channels
	// moved nothing for this long; zero means DefaultIdleTimeout.
	IdleTimeout time.Duration
	// KeepAlive is the interval of keep-alive notifications; zero means
	// DefaultKeepAlive.
	KeepAlive time.Duration
	// MaxLine bounds one control line; zero means DefaultMaxLine.
	MaxLine int
	// MaxInvalid is how many refused lines (too long, malformed, PORT…) a
	// session may send before it is closed; zero means DefaultMaxInvalid.
	MaxInvalid int
	// Forwarder hands channels of sessions owned by other nodes to them;
	// nil refuses such channels with owner_unavailable.
	Forwarder Forwarder
	// Metrics receives counters; nil counts nothing.
	Metrics Metrics
	// Logger receives events; the zero value logs nothing.
	Logger zerolog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Dial opens data connections to the FTP server; nil means a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Listen opens server-active listeners; nil means net.ListenConfig.
	Listen func(ctx context.Context, network, addr string) (net.Listener, error)
}

// SessionInfo describes the FTP session of a control channel, as the proxy
// authorized it.
type SessionInfo struct {
	// ID is the proxy's session id (the Termgate-Session header): the one
	// passed to IssueTicket. Required.
	ID string
	// Sub is the token's subject (for logs).
	Sub string
	// ClientAddr is the client's address (for logs).
	ClientAddr string
	// Dst is the token's dst (normalised host:port). Data channels must
	// name its host.
	Dst string
	// JKT is the token's cnf.jkt: if set, every channel of the session
	// must carry a proof of possession by the same key.
	JKT string
	// HostTLS, if set, makes the gateway secure the control and data
	// connections to the server with explicit FTPS (AUTH TLS, PBSZ 0,
	// PROT P, RFC 4217). ServerName must be set; a ClientSessionCache is
	// added if missing (servers such as vsftpd require data connections to
	// resume the control connection's TLS session).
	HostTLS *tls.Config
	// ServerActive makes the gateway use active mode towards the server
	// (PORT/EPRT naming a one-shot gateway listener) while the client
	// still uses passive mode.
	ServerActive bool
	// ClientReader, if set, is read instead of the client connection
	// (e.g. a bufio.Reader holding bytes pipelined after the CONNECT).
	ClientReader io.Reader
}

// ChannelRequest is a data or notification channel CONNECT.
type ChannelRequest struct {
	Kind       ChannelKind // Termgate-Channel
	Ticket     string      // Termgate-Ticket
	Target     string      // the CONNECT target: the session's host and the data port
	Proof      string      // Termgate-Proof ("" if none)
	ProofKey   string      // Termgate-Proof-Key ("" if none)
	Exporter   []byte      // token.Exporter of the client's TLS connection to the first node
	ClientAddr string      // for logs
	// Forwarded is true when the request came from another node over the
	// peer link; a forwarded request is never forwarded again.
	Forwarded bool
}

// Forwarder is implemented by the proxy: it hands a channel whose session
// another node owns to that node over the authenticated peer link. The
// owner calls its Gateway's HandleChannel with the same request (with
// Forwarded set) and the forwarded stream as client; bytes are then relayed
// between client and that stream until both ends close. Forward writes
// nothing to client itself; if it cannot reach node it returns an error
// wrapping ErrOwnerUnavailable before anything was written, and the
// gateway answers the client.
type Forwarder interface {
	Forward(ctx context.Context, node string, client net.Conn, req ChannelRequest) error
}

// Gateway is the FTP application-level gateway of one proxy node. It is
// safe for concurrent use.
type Gateway struct {
	cfg     Config
	log     zerolog.Logger
	metrics Metrics
	tickets *Ticketer

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	sessions map[string]*session
}

// New returns a Gateway.
func New(cfg Config) (*Gateway, error) {
	if cfg.NodeID == "" {
		return nil, errors.New("ftpchan: Config.NodeID is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.TicketTTL, DefaultTicketTTL)
	def(&cfg.DataTimeout, DefaultDataTimeout)
	def(&cfg.DialTimeout, DefaultDialTimeout)
	def(&cfg.IdleTimeout, DefaultIdleTimeout)
	def(&cfg.KeepAlive, DefaultKeepAlive)
	if cfg.MaxLine <= 0 {
		cfg.MaxLine = DefaultMaxLine
	}
	if cfg.MaxInvalid <= 0 {
		cfg.MaxInvalid = DefaultMaxInvalid
	}
	if cfg.Dial == nil {
		cfg.Dial = (&net.Dialer{}).DialContext
	}
	if cfg.Listen == nil {
		cfg.Listen = (&net.ListenConfig{}).Listen
	}
	t, err := NewTicketer(cfg.TicketKeys, cfg.Now)
	if err != nil {
		return nil, fmt.Errorf("ftpchan: %w", err)
	}
	g := &Gateway{cfg: cfg, log: cfg.Logger.With().Str("node", cfg.NodeID).Logger(), metrics: cfg.Metrics,
		tickets: t, sessions: map[string]*session{}}
	if g.metrics == nil {
		g.metrics = nopMetrics{}
	}
	g.ctx, g.cancel = context.WithCancel(context.Background())
	return g, nil
}

// IssueTicket returns the signed ticket for the control channel of session
// id, to be sent in the 200 response's Termgate-Ticket header before
// HandleControl is called. Channels presenting it are accepted only while
// that session's control channel runs on this node.
func (g *Gateway) IssueTicket(sessionID string) (string, error) {
	now := g.cfg.Now()
	tk, err := g.tickets.Issue(Ticket{Session: sessionID, Node: g.cfg.NodeID, Expires: now.Add(g.cfg.TicketTTL)})
	if err != nil {
		return "", err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return "", ErrClosed
	}
	for id, s := range g.sessions {
		if !s.attached && now.Sub(s.created) > pendingAttach {
			delete(g.sessions, id)
		}
	}
	if _, ok := g.sessions[sessionID]; !ok {
		g.sessions[sessionID] = newSession(g, sessionID, now)
	}
	return tk, nil
}

// Owner verifies ticket and returns the id of the node that owns its
// session: the proxy forwards the channel there when it is not NodeID.
// Errors are *ChannelError (ticket_invalid, ticket_expired).
func (g *Gateway) Owner(ticket string) (string, error) {
	tk, err := g.verifyTicket(ticket)
	if err != nil {
		return "", err
	}
	return tk.Node, nil
}

// VerifyTicket verifies ticket and returns what it names (session, owner
// node, expiry), e.g. for the proxy's logs of a forwarded channel. Errors
// are *ChannelError (ticket_invalid, ticket_expired).
func (g *Gateway) VerifyTicket(ticket string) (Ticket, error) {
	return g.verifyTicket(ticket)
}

func (g *Gateway) verifyTicket(ticket string) (Ticket, error) {
	tk, err := g.tickets.Verify(ticket)
	switch {
	case errors.Is(err, ErrTicketExpired):
		return Ticket{}, refusal(CodeTicketExpired, err, "the FTP channel ticket has expired: reconnect the FTP session")
	case err != nil:
		return Ticket{}, refusal(CodeTicketInvalid, err, "invalid FTP channel ticket")
	}
	return tk, nil
}

// Sessions returns the number of control channels running here.
func (g *Gateway) Sessions() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, s := range g.sessions {
		if s.attached {
			n++
		}
	}
	return n
}

// Drain tells every session's client (over its notification channel) that
// this node drains and will close the session at deadline.
func (g *Gateway) Drain(deadline time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, s := range g.sessions {
		s.notify(Event{Type: EventDraining, Deadline: deadline})
	}
}

// Close ends every session and channel and waits for the calls of
// HandleControl and HandleChannel to return. It is idempotent.
func (g *Gateway) Close() error {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.cancel()
	g.wg.Wait()
	return nil
}

// enter registers a call that Close waits for.
func (g *Gateway) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.wg.Add(1)
	return true
}

// HandleControl runs the control channel of an FTP session: client is the
// client's tunnel (the 200 response already written), server the
// connection the proxy dialled to info.Dst. It returns when the session
// ends, having closed both connections.
func (g *Gateway) HandleControl(ctx context.Context, client, server net.Conn, info SessionInfo) error {
	defer client.Close()
	defer server.Close()
	if info.ID == "" {
		return errors.New("ftpchan: SessionInfo.ID is required")
	}
	if !g.enter() {
		return ErrClosed
	}
	defer g.wg.Done()
	s, err := g.attach(info)
	if err != nil {
		return err
	}
	defer g.detach(s)
	return s.runControl(ctx, client, server)
}

func (g *Gateway) attach(info SessionInfo) (*session, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s, ok := g.sessions[info.ID]
	if !ok {
		s = newSession(g, info.ID, g.cfg.Now())
		g.sessions[info.ID] = s
	}
	if s.attached {
		return nil, fmt.Errorf("ftpchan: session %s already has a control channel", info.ID)
	}
	s.attached = true
	close(s.attachCh)
	s.info = info
	if info.HostTLS != nil {
		c := info.HostTLS.Clone()
		if c.ClientSessionCache == nil {
			c.ClientSessionCache = tls.NewLRUClientSessionCache(4)
		}
		s.hostTLS = c
	}
	if host, _, err := net.SplitHostPort(info.Dst); err == nil {
		s.dstHost = host
	}
	return s, nil
}

func (g *Gateway) detach(s *session) {
	g.mu.Lock()
	if g.sessions[s.id] == s {
		delete(g.sessions, s.id)
	}
	g.mu.Unlock()
	s.end()
}

// lookup returns the attached session id. A client opens its channels as
// soon as the control channel's answer (which carries the ticket) arrives,
// which can be before the proxy has attached the control session: a
// session whose ticket was issued is waited for, up to attachWait.
func (g *Gateway) lookup(ctx context.Context, id string) *session {
	g.mu.Lock()
	s := g.sessions[id]
	attached := s != nil && s.attached
	g.mu.Unlock()
	if s == nil || attached {
		return s
	}
	t := time.NewTimer(attachWait)
	defer t.Stop()
	select {
	case <-s.attachCh:
	case <-s.done:
		return nil
	case <-ctx.Done():
		return nil
	case <-t.C:
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.sessions[id] != s {
		return nil // ended in between
	}
	return s
}

// addrOf returns the IP address of a.
func addrOf(a net.Addr) netip.Addr {
	if t, ok := a.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(t.IP); ok {
			return ip.Unmap()
		}
	}
	if a != nil {
		if ap, err := netip.ParseAddrPort(a.String()); err == nil {
			return ap.Addr().Unmap()
		}
	}
	return netip.Addr{}
}

// clip shortens s for a message and removes control characters.
func clip(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	b := []byte(s)
	for i, c := range b {
		if c < ' ' || c == 0x7f {
			b[i] = '?'
		}
	}
	return string(b)
}

// counter is an atomic activity clock.
type counter struct{ last atomic.Int64 }

func (c *counter) touch()               { c.last.Store(time.Now().UnixNano()) }
func (c *counter) since() time.Duration { return time.Since(time.Unix(0, c.last.Load())) }

package proxy

import (
	"context"
	"crypto/tls"
	"net"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/termgate/termgate/pki"
)

// Defaults of Config.
const (
	DefaultListen               = "127.0.0.1:9443"
	DefaultOpsListen            = "127.0.0.1:9090"
	DefaultHandshakeTimeout     = 10 * time.Second
	DefaultHeaderTimeout        = 10 * time.Second
	DefaultDialTimeout          = 10 * time.Second
	DefaultPeerTimeout          = 2 * time.Second
	DefaultCertReloadInterval   = 5 * time.Second
	DefaultTrustRefresh         = 5 * time.Minute
	DefaultTrustRefreshMinDelay = 10 * time.Second
	DefaultDrainGrace           = 5 * time.Second
	DefaultDrainTimeout         = 30 * time.Second
	DefaultMaxSessions          = 10000
	DefaultMaxSessionsPerSub    = 100
	DefaultMaxPending           = 4096
	DefaultAuthFailureRate      = 1.0
	DefaultAuthFailureBurst     = 10
)

// Peer is another proxy node of the cluster, reached over the peer link.
type Peer struct {
	ID   string // its node id (Config.NodeID on that node)
	Addr string // host:port of its peer listener
}

// Config configures a Server. The zero value is safe: it listens on
// loopback, requires a valid token for every CONNECT (so with no trust store
// it refuses everything), and denies loopback, private, link-local and
// metadata destinations.
type Config struct {
	// Listen is the TLS listener for clients. Empty means DefaultListen.
	Listen string
	// OpsListen is the plain-HTTP listener for /healthz, /readyz and
	// /metrics. Empty means DefaultOpsListen; "-" disables it.
	OpsListen string
	// PeerListen is the mutually authenticated TLS listener for the other
	// nodes' replay checks. Empty means none (a single node, or a node
	// that owns no jti).
	PeerListen string

	// CertFile and KeyFile are the node's TLS certificate (chain) and key,
	// reloaded when their modification time changes (checked every
	// CertReloadInterval) and on ReloadCertificate. Certificate is an
	// in-process alternative, used when CertFile is empty.
	CertFile, KeyFile string
	Certificate       *tls.Certificate
	// CertReloadInterval: zero means DefaultCertReloadInterval; negative disables polling.
	CertReloadInterval time.Duration

	// NodeID names this node (audit events, jti ownership). Empty means the host name.
	NodeID string

	// MgmtTrustFile holds the management signing certificates tokens are
	// verified against (written by Enroll, refreshed from MgmtURLs, saved
	// atomically). MgmtTrust is an in-process alternative, used when
	// MgmtTrustFile is empty. Neither: no token verifies.
	MgmtTrustFile string
	MgmtTrust     *pki.TrustStore
	// MgmtTLSTrustFile is what HTTPS to the management servers is verified
	// against (from Enroll). Empty or missing: the system roots.
	MgmtTLSTrustFile string
	MgmtTLSTrust     *pki.TrustStore
	// MgmtURLs are management servers' base URLs (https://host:port), tried
	// in turn to refresh the signer store from GET /api/v1/trust/mgmt.pem.
	// Empty: no refresh (the file is still re-read when it changes).
	MgmtURLs []string
	// TrustRefreshInterval: zero means DefaultTrustRefresh.
	TrustRefreshInterval time.Duration
	// TrustRefreshMinDelay is the least time between two refreshes
	// triggered by an unknown kid. Zero means DefaultTrustRefreshMinDelay.
	TrustRefreshMinDelay time.Duration
	// TrustMaxAge makes /readyz fail when the signer store was last loaded
	// or refreshed longer ago than this. Zero means no bound.
	TrustMaxAge time.Duration
	// Audience is the token aud to require. Empty means token.DefaultAudience.
	Audience string

	// Peers are the other nodes; with PeerTrustFile they make each jti
	// single-use across the cluster. Empty: this node's cache only.
	Peers []Peer
	// PeerTrustFile (or PeerTrust in process) verifies peers' certificates
	// (both directions of the link). Required when Peers or PeerListen is set.
	PeerTrustFile string
	PeerTrust     *pki.TrustStore
	// PeerTimeout bounds one replay check over the peer link. Zero means DefaultPeerTimeout.
	PeerTimeout time.Duration

	// ProxyProtocolFrom are the load balancers' networks: a connection from
	// them MUST start with a PROXY v1/v2 header; from anywhere else a PROXY
	// header is refused. Empty: PROXY protocol is refused from everyone.
	ProxyProtocolFrom []netip.Prefix

	// ClientAuthorizationOff turns the token requirement off. Then only
	// destinations in Allow may be reached; with Allow empty every CONNECT
	// is denied. The destination policy applies either way.
	ClientAuthorizationOff bool
	// Allow lists destinations ("host:port", "CIDR:port") reachable without
	// a token when ClientAuthorizationOff is set. Ignored otherwise.
	Allow []string
	// AllowNetworks re-enables loopback and private destinations inside these
	// networks. Link-local needs a network inside 169.254.0.0/16 or
	// fe80::/10; a metadata address needs its exact /32 or /128.
	AllowNetworks []netip.Prefix

	// HostTrustFile (or HostTrust in process) verifies destination hosts'
	// certificates for tokens with htls. Neither: htls tokens fail with dial_failed.
	HostTrustFile string
	HostTrust     *pki.TrustStore

	// HandshakeTimeout bounds the client TLS handshake (and a PROXY
	// header). Zero means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// HeaderTimeout bounds reading the CONNECT request. Zero means DefaultHeaderTimeout.
	HeaderTimeout time.Duration
	// DialTimeout bounds resolving and dialling the destination (and its
	// TLS handshake for htls). Zero means DefaultDialTimeout.
	DialTimeout time.Duration
	// IdleTimeout ends a session with no traffic either way for this long.
	// Zero means relay.DefaultIdleTimeout (30 min); negative means none.
	IdleTimeout time.Duration
	// MaxSessionDuration ends any session this long after it started. Zero means no limit.
	MaxSessionDuration time.Duration

	// MaxSessions caps concurrent sessions on this node (503 overloaded).
	// Zero means DefaultMaxSessions.
	MaxSessions int
	// MaxSessionsPerSubject caps concurrent sessions of one token subject
	// (429 rate_limited). Zero means DefaultMaxSessionsPerSub; negative: no cap.
	MaxSessionsPerSubject int
	// MaxPending caps connections still in TLS handshake or request
	// reading; beyond it new connections are closed at once. Zero means DefaultMaxPending.
	MaxPending int
	// AuthFailureRate and AuthFailureBurst limit failed authorizations per
	// client address (a token bucket): beyond it, CONNECTs from that
	// address get 429 rate_limited until the bucket refills. Zero means
	// DefaultAuthFailureRate per second and DefaultAuthFailureBurst.
	AuthFailureRate  float64
	AuthFailureBurst int

	// WebSocketOrigins are the browser origins (scheme://host[:port], e.g.
	// "https://console.example.com:8443") allowed to open GET /ws. Empty:
	// only the proxy's own origin (https:// and the Host the client
	// dialled), so a console served by the management server needs its
	// origin listed. A request without an Origin header (not a browser) is
	// not subject to this check. Wildcards are refused by New.
	WebSocketOrigins []string
	// WebSocketMaxMessage bounds one message from a /ws client, in bytes
	// (beyond it the session closes with 1009). Zero means DefaultWebSocketMaxMessage.
	WebSocketMaxMessage int64
	// WebSocketPingInterval is how often /ws sessions are pinged; a client
	// that sends no frame and answers no ping for two intervals is
	// disconnected. Zero means DefaultWebSocketPingInterval; negative
	// means no pings (only IdleTimeout applies).
	WebSocketPingInterval time.Duration

	// FTPTicketKeys are the cluster's FTP channel ticket keys (each at
	// least 32 random bytes; the first signs, all verify). Every node of a
	// cluster must share them. FTPTicketKeyFile, if set, is read by New
	// instead (LoadFTPTicketKeys: one base64 key per line). Neither: a
	// random key of this process, so FTP works on a single node but a
	// data or notification channel that reaches another node is refused
	// (ticket_invalid, saying that the key is not shared).
	FTPTicketKeys    [][]byte
	FTPTicketKeyFile string
	// FTPServerActive lists FTP destinations (host:port, as in tokens) that
	// need active mode: the proxy sends PORT/EPRT naming its own one-shot
	// listener to the server while clients stay in passive mode. Empty:
	// passive mode towards every server.
	FTPServerActive []string
	// FTPForwardingOff stops this node from forwarding FTP data and
	// notification channels to the node that owns their session: such
	// channels get 503 owner_unavailable. Only for debugging and for the
	// experiment that shows why forwarding exists (behind a round-robin
	// load balancer, transfers then fail). Zero: forwarding on.
	FTPForwardingOff bool
	// FTPDirectAddress is the host:port at which clients can reach this
	// node itself, bypassing the load balancer (its certificate must name
	// that host). When set, the answer to an FTP control channel carries
	// it (Termgate-Owner-Address), and clients open the session's data and
	// notification channels there instead of through the load balancer,
	// so no channel needs forwarding. Empty: every channel goes through
	// the load balancer and is forwarded to the owner node when needed.
	FTPDirectAddress string

	// DrainGrace is how long Drain keeps accepting after /readyz turns
	// false, for the load balancer to notice. Zero means DefaultDrainGrace.
	DrainGrace time.Duration
	// DrainTimeout is how long Drain waits for sessions before closing
	// them. Zero means DefaultDrainTimeout.
	DrainTimeout time.Duration

	// Resolver resolves destination names. Nil means net.DefaultResolver.
	Resolver Resolver
	// Dial connects to a checked destination IP. Nil means a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Now is the clock. Nil means time.Now.
	Now func() time.Time

	// Logger receives audit events (session start/end, rejections) and
	// operational messages. The zero value logs nothing.
	Logger zerolog.Logger
	// Registry receives the metrics. Nil means a new registry with the Go
	// and process collectors (see Server.Registry).
	Registry *prometheus.Registry
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.OpsListen == "" {
		c.OpsListen = DefaultOpsListen
	}
	def(&c.HandshakeTimeout, DefaultHandshakeTimeout)
	def(&c.HeaderTimeout, DefaultHeaderTimeout)
	def(&c.DialTimeout, DefaultDialTimeout)
	def(&c.PeerTimeout, DefaultPeerTimeout)
	def(&c.CertReloadInterval, DefaultCertReloadInterval)
	def(&c.TrustRefreshInterval, DefaultTrustRefresh)
	def(&c.TrustRefreshMinDelay, DefaultTrustRefreshMinDelay)
	def(&c.DrainGrace, DefaultDrainGrace)
	def(&c.DrainTimeout, DefaultDrainTimeout)
	def(&c.WebSocketPingInterval, DefaultWebSocketPingInterval)
	if c.WebSocketMaxMessage <= 0 {
		c.WebSocketMaxMessage = DefaultWebSocketMaxMessage
	}
	if c.MaxSessions <= 0 {
		c.MaxSessions = DefaultMaxSessions
	}
	if c.MaxSessionsPerSubject == 0 {
		c.MaxSessionsPerSubject = DefaultMaxSessionsPerSub
	}
	if c.MaxPending <= 0 {
		c.MaxPending = DefaultMaxPending
	}
	if c.AuthFailureRate <= 0 {
		c.AuthFailureRate = DefaultAuthFailureRate
	}
	if c.AuthFailureBurst <= 0 {
		c.AuthFailureBurst = DefaultAuthFailureBurst
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Resolver == nil {
		c.Resolver = net.DefaultResolver
	}
}

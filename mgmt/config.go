package mgmt

import (
	"path/filepath"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// DefaultAddr is where the management server listens by default (loopback).
const DefaultAddr = "127.0.0.1:8443"

// Files of a data directory.
const (
	StoreFile         = "store.db"
	CACertFile        = "ca.pem"
	CAKeyFile         = "ca.key"
	TLSCertFile       = "tls.crt"
	TLSKeyFile        = "tls.key"
	AdminPasswordFile = "admin-password"
)

// Config configures a management server. The zero value of every field but
// DataDir has a safe meaning, given in its comment.
type Config struct {
	// DataDir holds the store, the node's keys and certificates (see Init). Required.
	DataDir string
	// Addr is the HTTPS listen address; "" means DefaultAddr (loopback).
	Addr string
	// NodeID names this node (the iss of its tokens, the CommonName of its
	// signing certificate). "" means the one recorded by Init; a different
	// value is an error.
	NodeID string
	// TLSCertFile and TLSKeyFile are the HTTPS certificate (chain) and key;
	// "" means DataDir/tls.crt and DataDir/tls.key.
	TLSCertFile string
	TLSKeyFile  string
	// ProxyAddress is what clients dial to reach a proxy (usually the load
	// balancer's name, e.g. "proxy.example.com:443"); launch returns it.
	// Empty makes launch fail with 503 until it is set.
	ProxyAddress string
	// ProxyServerName is the name clients check in the proxy's certificate;
	// "" means the host of ProxyAddress.
	ProxyServerName string
	// Logger receives operational and audit events; the zero value logs nothing.
	Logger zerolog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Registry receives the server's metrics and is what /metrics serves;
	// nil means a new registry with the Go and process collectors.
	Registry *prometheus.Registry
	// KeyPublishDelay is how long a rotated signing key is published before
	// it signs (so every proxy learns it first); 0 means 10 min.
	KeyPublishDelay time.Duration
	// LoginTTL is the lifetime of a login token; 0 means 15 min.
	LoginTTL time.Duration
	// LoginMaxAge bounds refreshing: a login older than this needs the
	// password again; 0 means 12 h.
	LoginMaxAge time.Duration
	// Password is the argon2id cost of new password hashes (see PasswordParams).
	Password PasswordParams
	// MaxConcurrentHashes bounds parallel password checks; 0 means 2 × GOMAXPROCS.
	MaxConcurrentHashes int
	// Lockout limits password guessing (see LockoutPolicy).
	Lockout LockoutPolicy
	// AuditKeep is how many audit events the store keeps for the admin API; 0 means 10000.
	AuditKeep int
	// CertWarnBefore is how long before expiry certificates are warned
	// about in the log; 0 means 30 days.
	CertWarnBefore time.Duration
	// MaxBodyBytes caps request bodies; 0 means 1 MiB.
	MaxBodyBytes int64

	// Role is this node's replication role: "" or RoleStandalone (no
	// replication), RoleMaster or RoleSlave. It applies on the first start
	// only: afterwards the role and epoch recorded in the store win (a
	// promoted slave stays master, a master that stepped down stays slave).
	Role string
	// AdvertiseURL is how the other nodes reach this node's HTTPS API;
	// "" means "https://" + the listen address.
	AdvertiseURL string
	// Peers are the other nodes of the group, by id and URL. They add to
	// (and override the URL of) the members recorded at join time.
	Peers []Peer
	// ReplicationTrust is PEM that the HTTPS of the other nodes is verified
	// against, in addition to the certificates the members exchanged at
	// join time and this node's own HTTPS trust. nil adds nothing.
	ReplicationTrust []byte
	// PushInterval is how often the master pushes even without a change;
	// 0 means 30 s.
	PushInterval time.Duration
	// PushDebounce is the least time between two pushes to one peer (a
	// burst of changes goes out as one snapshot); 0 means 200 ms.
	PushDebounce time.Duration
	// ForwardWait bounds how long a slave waits for a forwarded change to
	// come back in a snapshot before it answers; 0 means 5 s.
	ForwardWait time.Duration
	// ArchiveKeep is how many overwritten snapshots a node keeps; 0 means 20.
	ArchiveKeep int
	// MaxSnapshotBytes caps a pushed snapshot; 0 means 64 MiB.
	MaxSnapshotBytes int64

	// DTLSAddr is the metering listener (UDP, DTLS 1.2); "" means no
	// metering: launch answers "metering": null. `termgate mgmt serve`
	// defaults it to DefaultDTLSAddr.
	DTLSAddr string
	// DTLSAdvertise is the address clients send heartbeats to; "" means
	// the listen address.
	DTLSAdvertise string
	// MeteringInterval is the heartbeat interval clients are told; 0 means 30 s.
	MeteringInterval time.Duration
	// MeteringTicketTTL is the lifetime of a metering ticket; 0 means 12 h.
	MeteringTicketTTL time.Duration
	// MeteringKeep is how long heartbeat records are kept; 0 means 31 days.
	MeteringKeep time.Duration
	// MeteringConcurrencyLimit raises an alert (log and metric) when a user
	// has more concurrent sessions; 0 means no alert.
	MeteringConcurrencyLimit int
	// MaxMeteringConns bounds concurrent DTLS associations; 0 means 4096.
	MaxMeteringConns int
}

// Replication roles.
const (
	RoleStandalone = "standalone"
	RoleMaster     = "master"
	RoleSlave      = "slave"
)

// DefaultDTLSAddr is the default metering listener of `termgate mgmt serve`.
const DefaultDTLSAddr = "127.0.0.1:8444"

// Peer is another management node of the replication group.
type Peer struct {
	ID  string `json:"id"`
	URL string `json:"url"`
}

func orDur(v, def time.Duration) time.Duration {
	if v <= 0 {
		return def
	}
	return v
}

func (c *Config) pushInterval() time.Duration  { return orDur(c.PushInterval, 30*time.Second) }
func (c *Config) pushDebounce() time.Duration  { return orDur(c.PushDebounce, 200*time.Millisecond) }
func (c *Config) forwardWait() time.Duration   { return orDur(c.ForwardWait, 5*time.Second) }
func (c *Config) meterInterval() time.Duration { return orDur(c.MeteringInterval, 30*time.Second) }
func (c *Config) ticketTTL() time.Duration     { return orDur(c.MeteringTicketTTL, 12*time.Hour) }
func (c *Config) meterKeep() time.Duration     { return orDur(c.MeteringKeep, 31*24*time.Hour) }

func (c *Config) archiveKeep() int {
	if c.ArchiveKeep <= 0 {
		return 20
	}
	return c.ArchiveKeep
}

func (c *Config) maxSnapshot() int64 {
	if c.MaxSnapshotBytes <= 0 {
		return 64 << 20
	}
	return c.MaxSnapshotBytes
}

func (c *Config) maxMeterConns() int {
	if c.MaxMeteringConns <= 0 {
		return 4096
	}
	return c.MaxMeteringConns
}

func (c *Config) addr() string {
	if c.Addr == "" {
		return DefaultAddr
	}
	return c.Addr
}

func (c *Config) tlsFiles() (string, string) {
	cf, kf := c.TLSCertFile, c.TLSKeyFile
	if cf == "" {
		cf = filepath.Join(c.DataDir, TLSCertFile)
	}
	if kf == "" {
		kf = filepath.Join(c.DataDir, TLSKeyFile)
	}
	return cf, kf
}

func (c *Config) keyPublishDelay() time.Duration {
	if c.KeyPublishDelay <= 0 {
		return 10 * time.Minute
	}
	return c.KeyPublishDelay
}

func (c *Config) loginTTL() time.Duration {
	if c.LoginTTL <= 0 {
		return 15 * time.Minute
	}
	return c.LoginTTL
}

func (c *Config) loginMaxAge() time.Duration {
	if c.LoginMaxAge <= 0 {
		return 12 * time.Hour
	}
	return c.LoginMaxAge
}

func (c *Config) hashConcurrency() int {
	if c.MaxConcurrentHashes <= 0 {
		return 2 * runtime.GOMAXPROCS(0)
	}
	return c.MaxConcurrentHashes
}

func (c *Config) auditKeep() int {
	if c.AuditKeep <= 0 {
		return 10000
	}
	return c.AuditKeep
}

func (c *Config) certWarnBefore() time.Duration {
	if c.CertWarnBefore <= 0 {
		return 30 * 24 * time.Hour
	}
	return c.CertWarnBefore
}

func (c *Config) maxBody() int64 {
	if c.MaxBodyBytes <= 0 {
		return 1 << 20
	}
	return c.MaxBodyBytes
}

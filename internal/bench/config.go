package bench

import (
	"crypto/tls"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/termgate/termgate/pki"
	"github.com/termgate/termgate/token"
)

// Target names, in the order they are measured and printed.
const (
	TargetDirect   = "direct"
	TargetPlainGo  = "plain-go"
	TargetHAProxy  = "haproxy"
	TargetTermgate = "termgate"
)

// Defaults of Config: a default run takes well under a minute on two cores.
const (
	DefaultBytes      = 1 << 30
	DefaultConns      = 8
	DefaultSetupCount = 5000
	DefaultSetupTime  = 4 * time.Second
	DefaultPings      = 3000
	DefaultIdle       = 2000
	DefaultSettle     = 2 * time.Second
	DefaultOpTimeout  = 10 * time.Second
	DefaultRounds     = 3
)

// Config says what to measure. The zero value of every field but Exe means
// its default.
type Config struct {
	// Exe is the termgate binary, re-executed as "termgate proxy --config
	// FILE" (unless External is set) and as "termgate bench relay-baseline".
	// Required.
	Exe string
	// ExeArgs are put before the subcommand on every re-execution (for
	// example a test binary's own arguments). Usually empty.
	ExeArgs []string

	// Rounds splits every timed measurement (set-up, latency, bulk) into
	// this many rounds that visit the targets in turn, each round in a
	// rotated order, so that a burst of load from elsewhere on the machine
	// hits every target alike. Zero means DefaultRounds.
	Rounds int

	// Bytes is the size of the bulk transfer, split over the rounds. Zero
	// means DefaultBytes.
	Bytes int64
	// Conns is the number of concurrent clients while measuring the set-up
	// rate and opening idle sessions. Zero means DefaultConns.
	Conns int
	// SetupCount and SetupTime bound the set-up measurement of one target
	// (all rounds): it stops at whichever comes first. Zero means
	// DefaultSetupCount, DefaultSetupTime.
	SetupCount int
	SetupTime  time.Duration
	// Pings is the number of one-byte round trips of the latency
	// measurement of one target (all rounds). Zero means DefaultPings.
	Pings int
	// Idle is the number of idle sessions of the memory measurement. Zero
	// means DefaultIdle; negative skips the measurement.
	Idle int
	// Settle is how long to wait after opening the idle sessions before
	// reading the resident set size. Zero means DefaultSettle.
	Settle time.Duration
	// OpTimeout bounds every network operation (a dial, a handshake, one
	// write or read). Zero means DefaultOpTimeout.
	OpTimeout time.Duration

	// HAProxy is the haproxy binary. Empty: the HAProxy baseline is skipped.
	HAProxy string
	// Curves restricts the key-exchange groups the client offers. Nil means
	// Go's defaults.
	Curves []tls.CurveID

	// External, if set, measures a proxy someone else runs instead of
	// starting one.
	External *External

	// Logger receives progress messages. The zero value logs nothing.
	Logger zerolog.Logger
}

// External describes a running proxy to measure. It must allow CONNECT to
// 127.0.0.1 (the host the benchmark starts) and trust Issuer's certificate
// as a management signer.
type External struct {
	// Addr is the proxy's client listener, host:port.
	Addr string
	// ServerName is the name its certificate must carry. Empty means the
	// host of Addr.
	ServerName string
	// Trust verifies the proxy's certificate.
	Trust *pki.TrustStore
	// Issuer mints one token per connection.
	Issuer *token.Issuer
	// PID is the proxy's process, whose VmRSS is read. Zero: the memory
	// measurement is skipped for the proxy.
	PID int
}

// Quick returns a Config sized for a run of about ten seconds.
func Quick() Config {
	return Config{
		Rounds:     2,
		Bytes:      128 << 20,
		Conns:      4,
		SetupCount: 1000,
		SetupTime:  time.Second,
		Pings:      500,
		Idle:       300,
		Settle:     500 * time.Millisecond,
	}
}

func (c *Config) setDefaults() {
	if c.Rounds == 0 {
		c.Rounds = DefaultRounds
	}
	if c.Bytes == 0 {
		c.Bytes = DefaultBytes
	}
	if c.Conns == 0 {
		c.Conns = DefaultConns
	}
	if c.SetupCount == 0 {
		c.SetupCount = DefaultSetupCount
	}
	if c.SetupTime == 0 {
		c.SetupTime = DefaultSetupTime
	}
	if c.Pings == 0 {
		c.Pings = DefaultPings
	}
	if c.Idle == 0 {
		c.Idle = DefaultIdle
	}
	if c.Settle == 0 {
		c.Settle = DefaultSettle
	}
	if c.OpTimeout == 0 {
		c.OpTimeout = DefaultOpTimeout
	}
}

// maxIdle bounds Config.Idle: every idle session holds two descriptors in
// this process and two in the middle process.
const maxIdle = 50000

func (c *Config) check() error {
	switch {
	case c.Exe == "":
		return fmt.Errorf("%w: the termgate binary (Exe) is required", ErrConfig)
	case c.Rounds < 1 || c.Rounds > 100:
		return fmt.Errorf("%w: rounds %d: want 1 to 100", ErrConfig, c.Rounds)
	case c.Bytes < 1<<20 || c.Bytes > 64<<30:
		return fmt.Errorf("%w: bytes %d: want 1 MiB to 64 GiB", ErrConfig, c.Bytes)
	case c.Conns < 1 || c.Conns > 1024:
		return fmt.Errorf("%w: conns %d: want 1 to 1024", ErrConfig, c.Conns)
	case c.SetupCount < c.Rounds || c.SetupCount > 1_000_000:
		return fmt.Errorf("%w: setup count %d: want rounds (%d) to 1000000", ErrConfig, c.SetupCount, c.Rounds)
	case c.SetupTime < 0 || c.SetupTime > 10*time.Minute:
		return fmt.Errorf("%w: setup time %v: want up to 10m", ErrConfig, c.SetupTime)
	case c.Pings < c.Rounds || c.Pings > 1_000_000:
		return fmt.Errorf("%w: pings %d: want rounds (%d) to 1000000", ErrConfig, c.Pings, c.Rounds)
	case c.Idle > maxIdle:
		return fmt.Errorf("%w: idle %d: want at most %d", ErrConfig, c.Idle, maxIdle)
	case c.Settle < 0 || c.OpTimeout < 0:
		return fmt.Errorf("%w: negative duration", ErrConfig)
	}
	if e := c.External; e != nil {
		if e.Addr == "" || e.Trust == nil || e.Issuer == nil {
			return fmt.Errorf("%w: an external proxy needs its address, a trust store for its certificate and a token issuer", ErrConfig)
		}
	}
	return nil
}

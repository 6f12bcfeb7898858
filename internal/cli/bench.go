package cli

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/termgate/termgate/internal/bench"
	"github.com/termgate/termgate/pki"
	"github.com/termgate/termgate/token"
)

func init() { register(newBenchCmd) }

func newBenchCmd(g *Globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure termgate against baselines on loopback",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newBenchProxyCmd(g), newBenchRelayCmd(g))
	return cmd
}

type benchProxyFlags struct {
	bytes             string
	rounds            int
	conns, setupCount int
	setupTime         time.Duration
	pings, idle       int
	settle, opTimeout time.Duration
	quick, json       bool
	haproxy           string
	curves            []string
	proxy, ca, server string
	cert, key, nodeID string
	proxyPID          int
	timeout           time.Duration
}

func newBenchProxyCmd(g *Globals) *cobra.Command {
	f := &benchProxyFlags{}
	cmd := &cobra.Command{
		Use:   "proxy",
		Short: "Measure the proxy beside a direct connection, a plain Go relay and HAProxy",
		Long: `Measure the security proxy on loopback, each figure beside the same measurement
made directly to the host, through a plain Go relay (crypto/tls + io.Copy) and,
when haproxy is installed, through HAProxy terminating TLS in mode tcp:

  1. bulk throughput, client to host (--bytes, one session per round);
  2. set-up rate: TCP + TLS handshake + CONNECT with a fresh token (the proxy
     only) + one byte echoed by the host, with --conns concurrent clients,
     bounded by --setup-count and --setup-time; beside it, the CPU time the
     middle process spent per session opened (from /proc/PID/stat);
  3. keystroke latency: p50/p99 of one-byte round trips over an established
     session (--pings), and what each adds to the direct round trip;
  4. resident memory per idle session: the middle process's VmRSS before and
     after opening --idle sessions, divided by their number.

By default the proxy is this binary re-executed as "termgate proxy" with a
generated configuration, the plain relay as "termgate bench relay-baseline",
both as child processes so that the client side is not counted. With --proxy
a running proxy is measured instead: it must allow CONNECT to 127.0.0.1 and
trust --cert (a management signing certificate, with --key) for tokens.

Everything stays on loopback, is bounded in count and time (--timeout), and
every process and temporary file the run creates is removed at the end. The
timed figures come from --rounds rounds that visit the targets in turn, so
that load from elsewhere on the machine hits every target alike: rates are
the median round, latency percentiles are over every round trip.
A default run takes under a minute on two cores; --quick about ten seconds.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.config(cmd)
			if err != nil {
				return err
			}
			cfg.Logger = g.Logger()
			ctx := cmd.Context()
			if f.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, f.timeout)
				defer cancel()
			}
			rep, err := bench.Run(ctx, cfg)
			if err != nil {
				return err
			}
			if f.json {
				return rep.WriteJSON(g.Stdout)
			}
			return rep.WriteTable(g.Stdout)
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&f.rounds, "rounds", bench.DefaultRounds, "split every timed measurement into this many rounds that visit the targets in turn")
	fl.StringVar(&f.bytes, "bytes", "1GiB", "bulk transfer size per target, over all rounds (e.g. 256MiB, 1GiB)")
	fl.IntVar(&f.conns, "conns", bench.DefaultConns, "concurrent clients for the set-up rate and for opening idle sessions")
	fl.IntVar(&f.setupCount, "setup-count", bench.DefaultSetupCount, "at most this many sessions in the set-up measurement")
	fl.DurationVar(&f.setupTime, "setup-time", bench.DefaultSetupTime, "at most this long for the set-up measurement")
	fl.IntVar(&f.pings, "pings", bench.DefaultPings, "one-byte round trips in the latency measurement")
	fl.IntVar(&f.idle, "idle", bench.DefaultIdle, "idle sessions in the memory measurement (-1 skips it)")
	fl.DurationVar(&f.settle, "settle", bench.DefaultSettle, "wait this long after opening the idle sessions before reading memory")
	fl.DurationVar(&f.opTimeout, "op-timeout", bench.DefaultOpTimeout, "timeout of every dial, handshake, read and write")
	fl.BoolVar(&f.quick, "quick", false, "small sizes for a run of about ten seconds (flags given explicitly still win)")
	fl.BoolVar(&f.json, "json", false, "print the report as JSON instead of a table")
	fl.StringVar(&f.haproxy, "haproxy", "", `haproxy binary (default: found in PATH or /usr/sbin; "none" leaves HAProxy out)`)
	fl.StringSliceVar(&f.curves, "curves", nil, "key-exchange groups the client offers: x25519, p256, p384, p521, x25519mlkem768 (default: Go's)")
	fl.StringVar(&f.proxy, "proxy", "", "measure this running proxy (host:port) instead of starting one")
	fl.StringVar(&f.ca, "ca", "", "with --proxy: PEM trust for the proxy's certificate")
	fl.StringVar(&f.server, "server-name", "", "with --proxy: the name its certificate carries (default: the host of --proxy)")
	fl.StringVar(&f.cert, "cert", "", "with --proxy: management signing certificate PEM that the proxy trusts, to mint tokens")
	fl.StringVar(&f.key, "key", "", "with --proxy: that certificate's private key PEM")
	fl.StringVar(&f.nodeID, "node-id", "", "with --proxy: the tokens' issuer (default: the signing certificate's common name)")
	fl.IntVar(&f.proxyPID, "proxy-pid", 0, "with --proxy: its process id, to read its memory (0: no memory figure for the proxy)")
	fl.DurationVar(&f.timeout, "timeout", 5*time.Minute, "give up after this long")
	return cmd
}

func (f *benchProxyFlags) config(cmd *cobra.Command) (bench.Config, error) {
	var cfg bench.Config
	if f.quick {
		cfg = bench.Quick()
	}
	set := func(name string) bool { return !f.quick || cmd.Flags().Changed(name) }
	if set("bytes") {
		n, err := bench.ParseSize(f.bytes)
		if err != nil {
			return cfg, usagef("--bytes: %v", err)
		}
		cfg.Bytes = n
	}
	if set("rounds") {
		cfg.Rounds = f.rounds
	}
	if set("conns") {
		cfg.Conns = f.conns
	}
	if set("setup-count") {
		cfg.SetupCount = f.setupCount
	}
	if set("setup-time") {
		cfg.SetupTime = f.setupTime
	}
	if set("pings") {
		cfg.Pings = f.pings
	}
	if set("idle") {
		cfg.Idle = f.idle
	}
	if set("settle") {
		cfg.Settle = f.settle
	}
	cfg.OpTimeout = f.opTimeout
	for _, name := range f.curves {
		id, err := bench.ParseCurve(name)
		if err != nil {
			return cfg, usagef("--curves: %v", err)
		}
		cfg.Curves = append(cfg.Curves, id)
	}
	exe, err := os.Executable()
	if err != nil {
		return cfg, fmt.Errorf("find this program to re-execute it: %w", err)
	}
	cfg.Exe = exe

	switch f.haproxy {
	case "none":
	case "":
		cfg.HAProxy = findProgram("haproxy")
		if cfg.HAProxy == "" {
			fmt.Fprintln(cmd.ErrOrStderr(), "haproxy not found, so it is left out of the comparison: apt-get install -y haproxy")
		}
	default:
		cfg.HAProxy = f.haproxy
	}

	ext, err := f.external()
	if err != nil {
		return cfg, err
	}
	cfg.External = ext
	return cfg, nil
}

// external reads the flags of an external proxy, or returns nil without --proxy.
func (f *benchProxyFlags) external() (*bench.External, error) {
	if f.proxy == "" {
		if f.ca != "" || f.cert != "" || f.key != "" || f.proxyPID != 0 || f.server != "" || f.nodeID != "" {
			return nil, usagef("--ca, --server-name, --cert, --key, --node-id and --proxy-pid go with --proxy")
		}
		return nil, nil
	}
	if f.ca == "" || f.cert == "" || f.key == "" {
		return nil, usagef("--proxy needs --ca (its certificate's trust) and --cert/--key (a management signing certificate it trusts)")
	}
	trust, err := pki.LoadTrustStore(f.ca)
	if err != nil {
		return nil, err
	}
	signer, err := pki.LoadPair(f.cert, f.key)
	if err != nil {
		return nil, err
	}
	iss, err := token.NewIssuer(token.IssuerConfig{NodeID: f.nodeID, Cert: signer.Cert, Key: signer.Key})
	if err != nil {
		return nil, err
	}
	return &bench.External{Addr: f.proxy, ServerName: f.server, Trust: trust, Issuer: iss, PID: f.proxyPID}, nil
}

// findProgram looks for bin in PATH, then where daemons live.
func findProgram(bin string) string {
	if p, err := exec.LookPath(bin); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := filepath.Join(dir, bin)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

func newBenchRelayCmd(g *Globals) *cobra.Command {
	var listen, certFile, keyFile, upstream string
	cmd := &cobra.Command{
		Use:    "relay-baseline",
		Short:  "Run the plain Go TLS relay that 'termgate bench proxy' compares the proxy with",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if certFile == "" || keyFile == "" || upstream == "" {
				return usagef("--cert, --key and --upstream are required")
			}
			cert, err := tls.LoadX509KeyPair(certFile, keyFile)
			if err != nil {
				return fmt.Errorf("load %s and %s: %w", certFile, keyFile, err)
			}
			r, err := bench.NewRelay(bench.RelayConfig{Listen: listen, Certificate: cert, Upstream: upstream})
			if err != nil {
				return err
			}
			fmt.Fprintf(g.Stdout, "relay-baseline listening on %s\n", r.Addr())
			return r.Serve(cmd.Context())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&listen, "listen", "127.0.0.1:0", "TLS listener host:port")
	fl.StringVar(&certFile, "cert", "", "TLS certificate PEM")
	fl.StringVar(&keyFile, "key", "", "TLS key PEM")
	fl.StringVar(&upstream, "upstream", "", "host:port every connection is relayed to")
	return cmd
}

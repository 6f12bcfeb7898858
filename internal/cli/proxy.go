package cli

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/termgate/termgate/pki"
	"github.com/termgate/termgate/proxy"
)

func init() { register(newProxyCmd) }

type proxyFlags struct {
	listen, opsAddr, peerListen  string
	cert, key, data              string
	mgmtTrust, mgmtTLSTrust      string
	mgmtURLs                     []string
	nodeID                       string
	peers                        []string
	peerTrust                    string
	proxyProtocolFrom            []string
	allowNetworks                []string
	clientAuthorization          bool
	allow                        []string
	hostTrust                    string
	audience                     string
	drainGrace, drainTimeout     time.Duration
	idleTimeout, maxDuration     time.Duration
	handshakeTimeout, hdrTimeout time.Duration
	dialTimeout                  time.Duration
	trustRefresh, trustMaxAge    time.Duration
	maxSessions, maxPerUser      int
	wsOrigins                    []string
	ftpTicketKeyFile             string
	ftpServerActive              []string
	ftpForwarding                bool
	ftpDirectAddress             string
}

func newProxyCmd(g *Globals) *cobra.Command {
	f := &proxyFlags{}
	cmd := &cobra.Command{
		Use:   "proxy",
		Short: "Run a security proxy node (TLS + HTTP CONNECT, token-checked relay)",
		Long: `Run a security proxy node. Clients connect with TLS and send one HTTP CONNECT
request carrying a token signed by a management server; the node verifies it,
applies its destination policy, dials the host and relays bytes.

Enroll the node first ("termgate proxy enroll"): that writes the management
signer bundle and the management TLS trust into --data.

Signals: SIGTERM or SIGINT drains (readiness off, a grace period for the load
balancer, sessions may finish until --drain-timeout) and exits 0; a second one
closes at once. SIGHUP reloads the certificate and key.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.config()
			if err != nil {
				return err
			}
			cfg.Logger = g.Logger()
			return runProxy(cmd.Context(), cfg, g)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.listen, "listen", proxy.DefaultListen, "client TLS listener host:port")
	fl.StringVar(&f.opsAddr, "ops-addr", proxy.DefaultOpsListen, `ops HTTP listener for /healthz, /readyz, /metrics ("-" disables)`)
	fl.StringVar(&f.peerListen, "peer-listen", "", "peer link listener host:port (mutual TLS, for cluster-wide single use of tokens)")
	fl.StringVar(&f.cert, "cert", "", "TLS certificate (chain) PEM file, reloaded when it changes (required)")
	fl.StringVar(&f.key, "key", "", "TLS private key PEM file (required)")
	fl.StringVar(&f.data, "data", "termgate-proxy", "data directory (where enrollment wrote "+proxy.MgmtSignersFile+" and "+proxy.MgmtTLSFile+")")
	fl.StringVar(&f.mgmtTrust, "mgmt-trust", "", "management signing certificates PEM (default DATA/"+proxy.MgmtSignersFile+")")
	fl.StringVar(&f.mgmtTLSTrust, "mgmt-tls-trust", "", "trust for HTTPS to the management servers (default DATA/"+proxy.MgmtTLSFile+"; system roots if absent)")
	fl.StringSliceVar(&f.mgmtURLs, "mgmt-url", nil, "management server base URL https://host:port to refresh the signer store from (repeatable)")
	fl.StringVar(&f.nodeID, "node-id", "", "this node's id (default: the host name)")
	fl.StringSliceVar(&f.peers, "peer", nil, "another proxy node as id=host:port of its peer listener (repeatable; this node's own entry is ignored)")
	fl.StringVar(&f.peerTrust, "peer-trust", "", "PEM trust store for the peer link (required with --peer or --peer-listen)")
	fl.StringSliceVar(&f.proxyProtocolFrom, "proxy-protocol-from", nil, "load balancer CIDR that must send a PROXY v1/v2 header (repeatable)")
	fl.StringSliceVar(&f.allowNetworks, "allow-network", nil, "CIDR of loopback/private destinations to allow (repeatable)")
	fl.BoolVar(&f.clientAuthorization, "client-authorization", true, "require a token on every CONNECT; false allows only --allow destinations")
	fl.StringSliceVar(&f.allow, "allow", nil, "destination host:port or CIDR:port reachable without a token when --client-authorization=false (repeatable)")
	fl.StringVar(&f.hostTrust, "host-trust", "", "PEM trust store for hosts reached with TLS (tokens with htls)")
	fl.StringVar(&f.audience, "audience", "", "token audience to require (default termgate-proxy)")
	fl.DurationVar(&f.drainGrace, "drain-grace", proxy.DefaultDrainGrace, "how long a draining node keeps accepting, for the load balancer to notice")
	fl.DurationVar(&f.drainTimeout, "drain-timeout", proxy.DefaultDrainTimeout, "how long a draining node lets sessions finish")
	fl.DurationVar(&f.idleTimeout, "idle-timeout", 30*time.Minute, "end a session idle this long in both directions")
	fl.DurationVar(&f.maxDuration, "max-session-duration", 0, "end any session this long after it started (0: no limit)")
	fl.DurationVar(&f.handshakeTimeout, "handshake-timeout", proxy.DefaultHandshakeTimeout, "client TLS handshake timeout")
	fl.DurationVar(&f.hdrTimeout, "header-timeout", proxy.DefaultHeaderTimeout, "CONNECT request header timeout")
	fl.DurationVar(&f.dialTimeout, "dial-timeout", proxy.DefaultDialTimeout, "destination resolve+connect timeout")
	fl.DurationVar(&f.trustRefresh, "trust-refresh", proxy.DefaultTrustRefresh, "how often to refresh the signer store from --mgmt-url")
	fl.DurationVar(&f.trustMaxAge, "trust-max-age", 0, "/readyz fails when the signer store is older than this (0: no bound)")
	fl.IntVar(&f.maxSessions, "max-sessions", proxy.DefaultMaxSessions, "concurrent sessions on this node (beyond: 503 overloaded)")
	fl.IntVar(&f.maxPerUser, "max-sessions-per-user", proxy.DefaultMaxSessionsPerSub, "concurrent sessions per token subject (beyond: 429 rate_limited; -1: no cap)")
	fl.StringSliceVar(&f.wsOrigins, "ws-origin", nil, "browser origin https://host:port allowed to open the WebSocket front end GET /ws, e.g. the management console's (repeatable; default: only the proxy's own origin)")
	fl.StringVar(&f.ftpTicketKeyFile, "ftp-ticket-key-file", "", "FTP channel ticket keys shared by every node of the cluster: one base64 key (32+ random bytes) per line, the first signs (default: a random key of this process; FTP channels reaching another node are then refused)")
	fl.StringSliceVar(&f.ftpServerActive, "ftp-server-active", nil, "FTP destination host:port that needs active mode towards the server (repeatable)")
	fl.StringVar(&f.ftpDirectAddress, "ftp-direct-address", "", "host:port at which clients reach this node directly (its certificate must name the host): FTP clients then open data and notification channels there instead of through the load balancer (default: through the load balancer, forwarded to the owner node)")
	fl.BoolVar(&f.ftpForwarding, "ftp-forwarding", true, "forward FTP data and notification channels to the node that owns their session; false only for debugging (channels reaching another node get 503 owner_unavailable)")
	cmd.AddCommand(newProxyEnrollCmd(g))
	return cmd
}

func (f *proxyFlags) config() (proxy.Config, error) {
	if f.cert == "" || f.key == "" {
		return proxy.Config{}, usagef("--cert and --key are required")
	}
	mgmtTrust := f.mgmtTrust
	if mgmtTrust == "" {
		mgmtTrust = filepath.Join(f.data, proxy.MgmtSignersFile)
	}
	mgmtTLS := f.mgmtTLSTrust
	if mgmtTLS == "" {
		mgmtTLS = filepath.Join(f.data, proxy.MgmtTLSFile)
	}
	cfg := proxy.Config{
		Listen: f.listen, OpsListen: f.opsAddr, PeerListen: f.peerListen,
		CertFile: f.cert, KeyFile: f.key,
		NodeID:        f.nodeID,
		MgmtTrustFile: mgmtTrust, MgmtTLSTrustFile: mgmtTLS, MgmtURLs: f.mgmtURLs,
		TrustRefreshInterval: f.trustRefresh, TrustMaxAge: f.trustMaxAge,
		Audience:               f.audience,
		PeerTrustFile:          f.peerTrust,
		ClientAuthorizationOff: !f.clientAuthorization,
		Allow:                  f.allow,
		HostTrustFile:          f.hostTrust,
		HandshakeTimeout:       f.handshakeTimeout, HeaderTimeout: f.hdrTimeout, DialTimeout: f.dialTimeout,
		IdleTimeout: f.idleTimeout, MaxSessionDuration: f.maxDuration,
		MaxSessions: f.maxSessions, MaxSessionsPerSubject: f.maxPerUser,
		DrainGrace: f.drainGrace, DrainTimeout: f.drainTimeout,
		WebSocketOrigins: f.wsOrigins,
		FTPTicketKeyFile: f.ftpTicketKeyFile, FTPServerActive: f.ftpServerActive,
		FTPForwardingOff: !f.ftpForwarding,
		FTPDirectAddress: f.ftpDirectAddress,
	}
	if f.idleTimeout == 0 {
		cfg.IdleTimeout = -1 // explicit 0 on the command line: no idle timeout
	}
	for _, p := range f.peers {
		id, addr, ok := strings.Cut(p, "=")
		if !ok || id == "" || addr == "" {
			return cfg, usagef("--peer %q: want id=host:port", p)
		}
		cfg.Peers = append(cfg.Peers, proxy.Peer{ID: id, Addr: addr})
	}
	var err error
	if cfg.ProxyProtocolFrom, err = parsePrefixes("--proxy-protocol-from", f.proxyProtocolFrom); err != nil {
		return cfg, err
	}
	if cfg.AllowNetworks, err = parsePrefixes("--allow-network", f.allowNetworks); err != nil {
		return cfg, err
	}
	return cfg, nil
}

func parsePrefixes(flag string, in []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range in {
		s = strings.TrimSpace(s)
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, usagef("%s %q: not a CIDR or address", flag, s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p)
	}
	return out, nil
}

func runProxy(ctx context.Context, cfg proxy.Config, g *Globals) error {
	srv, err := proxy.New(cfg)
	if err != nil {
		return err
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, os.Interrupt)
	defer signal.Stop(sigs)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background()) }()
	fmt.Fprintf(g.Stdout, "proxy %s listening on %s (ops %v, peer %v)\n", srv.NodeID(), srv.Addr(), srv.OpsAddr(), srv.PeerAddr())

	draining := false
	drain := func() {
		if !draining {
			draining = true
			go srv.Drain(context.Background())
		}
	}
	done := ctx.Done()
	terms := 0
	for {
		select {
		case err := <-served:
			return err
		case <-done:
			done = nil
			drain()
		case s := <-sigs:
			if s == syscall.SIGHUP {
				srv.ReloadCertificate()
				continue
			}
			if terms++; terms > 1 {
				srv.Close() // a second SIGTERM/SIGINT: stop now
				continue
			}
			drain()
		}
	}
}

func newProxyEnrollCmd(g *Globals) *cobra.Command {
	var opts proxy.EnrollOptions
	var mgmtCA string
	cmd := &cobra.Command{
		Use:   "enroll",
		Short: "Exchange certificates with a management server using a one-time code",
		Long: `Post this node's TLS certificate to POST {mgmt}/api/v1/enroll with a one-time
enrollment code, and write the management signer bundle and the management TLS
trust it answers with into --data. Both sides print SHA-256 fingerprints:
compare them out of band.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.MgmtURL == "" || opts.Code == "" || opts.CertFile == "" || opts.KeyFile == "" {
				return usagef("--mgmt, --code, --cert and --key are required")
			}
			if mgmtCA != "" {
				ts, err := pki.LoadTrustStore(mgmtCA)
				if err != nil {
					return err
				}
				opts.MgmtCA = ts
			}
			res, err := proxy.Enroll(cmd.Context(), opts)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.Stdout, "enrolled with %s\n", opts.MgmtURL)
			fmt.Fprintf(g.Stdout, "this proxy's certificate:   %s\n", res.ProxyFingerprint)
			for _, fp := range res.MgmtFingerprints {
				fmt.Fprintf(g.Stdout, "management signer:          %s\n", fp)
			}
			fmt.Fprintf(g.Stdout, "wrote %s and %s\n", res.SignersFile, res.TLSFile)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.MgmtURL, "mgmt", "", "management server base URL (https://host:port)")
	fl.StringVar(&opts.Code, "code", "", "one-time enrollment code from an administrator")
	fl.StringVar(&opts.CertFile, "cert", "", "this node's TLS certificate PEM")
	fl.StringVar(&opts.KeyFile, "key", "", "this node's TLS key PEM")
	fl.StringVar(&opts.DataDir, "data", "termgate-proxy", "directory to write "+proxy.MgmtSignersFile+" and "+proxy.MgmtTLSFile+" into")
	fl.StringVar(&mgmtCA, "mgmt-ca", "", "PEM trust for the management server's HTTPS certificate (default: system roots)")
	fl.StringVar(&opts.NodeID, "node-id", "", "this node's id (default: the host name)")
	fl.StringVar(&opts.Address, "address", "", "this node's own host:port, if peers or clients may use it")
	return cmd
}

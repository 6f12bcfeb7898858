package cli

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/termgate/termgate/mgmt"
)

func init() { register(newMgmtCmd) }

// Environment variables of the mgmt commands.
const (
	envMgmtPassword    = "TERMGATE_PASSWORD"     // admin password for commands that talk to a running server
	envMgmtNewPassword = "TERMGATE_NEW_PASSWORD" // the password `mgmt user set` sets
)

// mgmtFlags are shared by every `termgate mgmt` command.
type mgmtFlags struct {
	data            string
	addr            string
	nodeID          string
	proxyAddress    string
	proxyServerName string
	tlsNames        []string
	publishDelay    time.Duration
	// replication and metering
	role          string
	peers         []string
	replicationCA string
	advertiseURL  string
	dtlsAddr      string
	meterInterval time.Duration
	meterLimit    int
	// talking to a running server
	url            string
	ca             string
	user           string
	loginTokenFile string
}

func (f *mgmtFlags) registerServer(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.addr, "addr", mgmt.DefaultAddr, "HTTPS listen address (host:port)")
	fl.StringVar(&f.nodeID, "node-id", "", "this node's id (default: the one recorded at init; init: the host name)")
	fl.StringVar(&f.proxyAddress, "proxy-address", "", "address clients dial to reach the proxies, e.g. the load balancer's proxy.example.com:443")
	fl.StringVar(&f.proxyServerName, "proxy-server-name", "", "name clients check in the proxy certificate (default: host of --proxy-address)")
	fl.StringSliceVar(&f.tlsNames, "tls-name", nil, "DNS name or IP of the HTTPS certificate made at init (repeatable; default localhost, 127.0.0.1, ::1)")
	fl.DurationVar(&f.publishDelay, "key-publish-delay", 0, "how long a rotated signing key is published before it signs (default 10m)")
	fl.StringVar(&f.role, "role", "", "replication role on the first start: standalone (default), master or slave (later starts keep the recorded role)")
	fl.StringArrayVar(&f.peers, "peer", nil, "another node of the group as id=https://host:port (repeatable; adds to the members recorded at join)")
	fl.StringVar(&f.replicationCA, "replication-ca", "", "PEM trusted for the other nodes' HTTPS, in addition to what they exchanged at join")
	fl.StringVar(&f.advertiseURL, "advertise-url", "", "URL the other nodes reach this one at (default https://--addr)")
	fl.StringVar(&f.dtlsAddr, "dtls-addr", mgmt.DefaultDTLSAddr, "metering DTLS listen address (UDP host:port); empty disables metering")
	fl.DurationVar(&f.meterInterval, "metering-interval", 0, "heartbeat interval clients are told (default 30s)")
	fl.IntVar(&f.meterLimit, "metering-limit", 0, "alert when a user has more concurrent sessions (0: no alert)")
}

func (f *mgmtFlags) registerRemote(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.url, "mgmt", "", "URL of a running management server (default: work on --data directly, or on https://--addr if the server holds it)")
	fl.StringVar(&f.addr, "addr", mgmt.DefaultAddr, "address of the local server, used when it holds the data directory")
	fl.StringVar(&f.ca, "ca", "", "PEM to trust for the server's HTTPS certificate (default: DATA/ca.pem)")
	fl.StringVar(&f.user, "user", "admin", "admin user to log in as (password from "+envMgmtPassword+", else DATA/admin-password for admin)")
	fl.StringVar(&f.loginTokenFile, "login-token-file", "", "file holding a login token to use instead of a password")
	fl.StringVar(&f.proxyAddress, "proxy-address", "", "address clients dial to reach the proxies (offline check-proxies)")
	fl.StringVar(&f.proxyServerName, "proxy-server-name", "", "name clients check in the proxy certificate (offline check-proxies)")
	fl.DurationVar(&f.publishDelay, "key-publish-delay", 0, "publish delay of a rotated key (offline rotate-key; default 10m)")
}

func (f *mgmtFlags) config(g *Globals) mgmt.Config {
	return mgmt.Config{
		DataDir: f.data, Addr: f.addr, NodeID: f.nodeID, ProxyAddress: f.proxyAddress, ProxyServerName: f.proxyServerName,
		KeyPublishDelay: f.publishDelay, Logger: g.Logger(),
	}
}

// serveConfig is config plus the replication and metering flags of serve.
func (f *mgmtFlags) serveConfig(g *Globals) (mgmt.Config, error) {
	cfg := f.config(g)
	cfg.Role, cfg.AdvertiseURL, cfg.DTLSAddr = f.role, f.advertiseURL, f.dtlsAddr
	cfg.MeteringInterval, cfg.MeteringConcurrencyLimit = f.meterInterval, f.meterLimit
	for _, p := range f.peers {
		id, u, ok := strings.Cut(p, "=")
		if !ok || id == "" || !strings.HasPrefix(u, "http") {
			return cfg, usagef("--peer %q: want id=https://host:port", p)
		}
		cfg.Peers = append(cfg.Peers, mgmt.Peer{ID: id, URL: strings.TrimRight(u, "/")})
	}
	if f.replicationCA != "" {
		b, err := os.ReadFile(f.replicationCA)
		if err != nil {
			return cfg, fmt.Errorf("--replication-ca: %w", err)
		}
		cfg.ReplicationTrust = b
	}
	return cfg, nil
}

func newMgmtCmd(g *Globals) *cobra.Command {
	f := &mgmtFlags{}
	cmd := &cobra.Command{
		Use:   "mgmt",
		Short: "Run and administer the management server",
		Long: `The management server decides who may reach which host:port and signs the
short-lived tokens that proxies verify. "termgate mgmt" alone is "termgate mgmt serve".

Commands that change or read the store (enroll-code, rotate-key, check-proxies,
user set, backup) work directly on --data when the server is stopped. When a
server holds the data directory they talk to it over HTTPS instead: --mgmt URL
(default https://--addr), --ca (default DATA/ca.pem), and an admin login:
--user with the password in TERMGATE_PASSWORD (for admin, DATA/admin-password
is used if readable), or --login-token-file. restore works on a stopped server only.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runMgmtServe(cmd.Context(), g, f) },
	}
	cmd.PersistentFlags().StringVar(&f.data, "data", "./termgate-mgmt", "data directory (store, keys, certificates)")
	f.registerServer(cmd)
	cmd.AddCommand(newMgmtServeCmd(g, f), newMgmtInitCmd(g, f), newMgmtBackupCmd(g, f), newMgmtRestoreCmd(g, f),
		newMgmtEnrollCodeCmd(g, f), newMgmtRotateKeyCmd(g, f), newMgmtCheckProxiesCmd(g, f), newMgmtUserCmd(g, f),
		newMgmtJoinCodeCmd(g, f), newMgmtJoinCmd(g, f), newMgmtPromoteCmd(g, f), newMgmtReplicationCmd(g, f),
		newMgmtArchiveCmd(g, f), newMgmtMeteringCmd(g, f))
	return cmd
}

func newMgmtServeCmd(g *Globals, f *mgmtFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the management server (initialising --data if it is new)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return runMgmtServe(cmd.Context(), g, f) },
	}
	f.registerServer(cmd)
	return cmd
}

func mgmtInit(g *Globals, f *mgmtFlags) (*mgmt.InitResult, error) {
	res, err := mgmt.Init(f.data, mgmt.InitOptions{NodeID: f.nodeID, TLSNames: f.tlsNames})
	if err != nil {
		return nil, err
	}
	if res.Created {
		fmt.Fprintf(g.Stdout, "initialised %s (node %s)\n  HTTPS trust: %s\n  admin password: %s\n", res.DataDir, res.NodeID, res.CAFile, res.AdminPasswordFile)
	}
	return res, nil
}

func runMgmtServe(ctx context.Context, g *Globals, f *mgmtFlags) error {
	// Check the address before init, so a typo leaves no data directory behind.
	if _, _, err := net.SplitHostPort(f.addr); err != nil {
		return usagef("--addr %q: want host:port", f.addr)
	}
	if _, err := mgmtInit(g, f); err != nil {
		return err
	}
	cfg, err := f.serveConfig(g)
	if err != nil {
		return err
	}
	srv, err := mgmt.New(cfg)
	if err != nil {
		return err
	}
	defer srv.Close()
	role, epoch, master := srv.Role()
	line := fmt.Sprintf("ready %s", srv.URL())
	if a := srv.DTLSAddr(); a != nil {
		line += " dtls " + a.String()
	}
	fmt.Fprintf(g.Stdout, "%s role %s epoch %d master %s\n", line, role, epoch, master)
	return srv.Serve(ctx)
}

func newMgmtInitCmd(g *Globals, f *mgmtFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create the data directory (local CA, HTTPS and signing certificates, store, user admin); a no-op if it exists",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := mgmtInit(g, f)
			if err != nil {
				return err
			}
			if !res.Created {
				fmt.Fprintf(g.Stdout, "%s already initialised (node %s); nothing changed\n", res.DataDir, res.NodeID)
			}
			return nil
		},
	}
	f.registerServer(cmd)
	return cmd
}

// withMgmt runs offline on the data directory when no server holds it (and
// --mgmt is not given), else against the running server over HTTPS.
func withMgmt(ctx context.Context, g *Globals, f *mgmtFlags, offline func(*mgmt.Server) error, online func(*mgmt.Client) error) error {
	if f.url == "" {
		srv, err := mgmt.Open(f.config(g))
		switch {
		case err == nil:
			defer srv.Close()
			return offline(srv)
		case errors.Is(err, mgmt.ErrStoreLocked):
			f.url = "https://" + f.addr
		default:
			return err
		}
	}
	c, err := mgmtClient(ctx, f)
	if err != nil {
		return err
	}
	defer c.HTTP.CloseIdleConnections()
	return online(c)
}

func mgmtClient(ctx context.Context, f *mgmtFlags) (*mgmt.Client, error) {
	caFile := f.ca
	if caFile == "" {
		caFile = filepath.Join(f.data, mgmt.CACertFile)
	}
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("trust for %s: %w (give --ca)", f.url, err)
	}
	c, err := mgmt.NewClient(f.url, caPEM)
	if err != nil {
		return nil, err
	}
	if f.loginTokenFile != "" {
		b, err := os.ReadFile(f.loginTokenFile)
		if err != nil {
			return nil, err
		}
		c.Token = strings.TrimSpace(string(b))
		return c, nil
	}
	pw, ok := os.LookupEnv(envMgmtPassword)
	if !ok && f.user == "admin" {
		if b, err := os.ReadFile(filepath.Join(f.data, mgmt.AdminPasswordFile)); err == nil {
			pw, ok = strings.TrimSpace(string(b)), true
		}
	}
	if !ok {
		return nil, fmt.Errorf("no admin password: set %s or use --login-token-file", envMgmtPassword)
	}
	if _, err := c.Login(ctx, f.user, pw); err != nil {
		return nil, fmt.Errorf("log in to %s as %s: %w", f.url, f.user, err)
	}
	return c, nil
}

func newMgmtBackupCmd(g *Globals, f *mgmtFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backup FILE",
		Short: "Write a consistent copy of the store to FILE (works while the server runs)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			file := args[0]
			if f.url == "" {
				n, err := mgmt.BackupOffline(f.data, file)
				if err == nil {
					fmt.Fprintf(g.Stdout, "wrote %s (%d bytes, offline)\n", file, n)
					return nil
				}
				if !errors.Is(err, mgmt.ErrStoreLocked) {
					return err
				}
				f.url = "https://" + f.addr // the server holds the store: ask it
			}
			c, err := mgmtClient(cmd.Context(), f)
			if err != nil {
				return err
			}
			defer c.HTTP.CloseIdleConnections()
			tmp := file + ".part"
			out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
			if err != nil {
				return err
			}
			n, err := c.Backup(cmd.Context(), out)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err == nil {
				err = os.Rename(tmp, file)
			}
			if err != nil {
				os.Remove(tmp)
				return err
			}
			fmt.Fprintf(g.Stdout, "wrote %s (%d bytes)\n", file, n)
			return nil
		},
	}
	f.registerRemote(cmd)
	return cmd
}

func newMgmtRestoreCmd(g *Globals, f *mgmtFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "restore FILE",
		Short: "Replace the store with a backup (server stopped; the file is validated first)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rev, err := mgmt.Restore(f.data, args[0])
			if errors.Is(err, mgmt.ErrStoreLocked) {
				return fmt.Errorf("%w: stop the server first", err)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(g.Stdout, "restored %s into %s (revision %d); the previous store is %s.before-restore\n",
				args[0], f.data, rev, filepath.Join(f.data, mgmt.StoreFile))
			return nil
		},
	}
	return cmd
}

func newMgmtEnrollCodeCmd(g *Globals, f *mgmtFlags) *cobra.Command {
	return newMgmtCodeCmd(g, f, "enroll-code", "Create a one-time proxy enrollment code (valid 1 h)",
		(*mgmt.Server).CreateEnrollCode, (*mgmt.Client).CreateEnrollCode)
}

// newMgmtCodeCmd is a command that creates a one-time code, on the local
// data directory when the server is stopped or through the running server,
// and prints it (its expiry goes to stderr, so scripts can capture the code).
func newMgmtCodeCmd(g *Globals, f *mgmtFlags, use, short string,
	local func(*mgmt.Server, context.Context) (string, time.Time, error),
	remote func(*mgmt.Client, context.Context) (string, time.Time, error)) *cobra.Command {
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var (
				code string
				exp  time.Time
			)
			err := withMgmt(cmd.Context(), g, f, func(s *mgmt.Server) (err error) {
				code, exp, err = local(s, mgmt.WithActor(cmd.Context(), "cli"))
				return err
			}, func(c *mgmt.Client) (err error) {
				code, exp, err = remote(c, cmd.Context())
				return err
			})
			if err != nil {
				return err
			}
			fmt.Fprintln(g.Stdout, code)
			fmt.Fprintf(g.Stderr, "single use, expires %s\n", exp.Local().Format(time.RFC3339))
			return nil
		},
	}
	f.registerRemote(cmd)
	return cmd
}

func newMgmtRotateKeyCmd(g *Globals, f *mgmtFlags) *cobra.Command {
	var now bool
	cmd := &cobra.Command{
		Use:   "rotate-key",
		Short: "Publish a new signing key now and sign with it after the publish delay",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var k mgmt.SigningKey
			err := withMgmt(cmd.Context(), g, f, func(s *mgmt.Server) (err error) {
				k, err = s.RotateKey(mgmt.WithActor(cmd.Context(), "cli"), now)
				return err
			}, func(c *mgmt.Client) (err error) {
				k, err = c.RotateKey(cmd.Context(), now)
				return err
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(g.Stdout, "new signing key %s (%s); signs from %s\n", k.KID, k.State, k.ActivateAt.Local().Format(time.RFC3339))
			return nil
		},
	}
	cmd.Flags().BoolVar(&now, "now", false, "sign with the new key at once (proxies that have not refreshed their trust refuse its tokens until they do)")
	f.registerRemote(cmd)
	return cmd
}

func newMgmtCheckProxiesCmd(g *Globals, f *mgmtFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "check-proxies",
		Short: "Connect to the proxy address as a client would and check its certificate and name",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var rep mgmt.ProxyCheckReport
			err := withMgmt(cmd.Context(), g, f, func(s *mgmt.Server) error {
				rep = s.CheckProxies(cmd.Context())
				return nil
			}, func(c *mgmt.Client) (err error) {
				rep, err = c.CheckProxies(cmd.Context())
				return err
			})
			if err != nil {
				return err
			}
			for _, c := range rep.Checks {
				if c.Address == "" { // nothing to check: say what to configure
					fmt.Fprintf(g.Stdout, "FAIL no proxy address configured (%s): start the server with --proxy-address HOST:PORT, the address clients dial\n", c.Error)
					continue
				}
				if c.OK {
					fmt.Fprintf(g.Stdout, "ok   %s (name %s): %s\n", c.Address, c.ServerName, c.Certificate)
				} else {
					fmt.Fprintf(g.Stdout, "FAIL %s (name %s): %s\n", c.Address, c.ServerName, c.Error)
				}
			}
			if !rep.OK {
				return &ExitError{Code: ExitFailure}
			}
			return nil
		},
	}
	f.registerRemote(cmd)
	return cmd
}

func newMgmtUserCmd(g *Globals, f *mgmtFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Manage users"}
	var spec mgmt.UserSpec
	set := &cobra.Command{
		Use:   "set NAME",
		Short: "Create or update a user (password from " + envMgmtNewPassword + " or a prompt; kept if unset for an existing user)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, err := mgmtNewPassword(g)
			if err != nil {
				return err
			}
			spec.Password = pw
			var u mgmt.User
			err = withMgmt(cmd.Context(), g, f, func(s *mgmt.Server) error {
				ctx := mgmt.WithActor(cmd.Context(), "cli")
				if err := s.PutUser(ctx, args[0], spec); err != nil {
					return err
				}
				u, err = s.User(ctx, args[0])
				return err
			}, func(c *mgmt.Client) (err error) {
				u, err = c.PutUser(cmd.Context(), args[0], spec)
				return err
			})
			if err != nil {
				return err
			}
			b, _ := json.Marshal(u)
			fmt.Fprintln(g.Stdout, string(b))
			return nil
		},
	}
	set.Flags().StringVar(&spec.Role, "role", "user", "role: admin or user")
	set.Flags().StringSliceVar(&spec.Sessions, "session", nil, "session the user may launch (repeatable; * for all)")
	set.Flags().StringSliceVar(&spec.Destinations, "destination", nil, "host-or-cidr:port the user may request tokens for (repeatable; port may be * or a-b)")
	f.registerRemote(set)
	cmd.AddCommand(set)
	return cmd
}

// mgmtNewPassword reads TERMGATE_NEW_PASSWORD, else prompts twice on a
// terminal; "" (keep the current password) when neither is available.
func mgmtNewPassword(g *Globals) (string, error) {
	if pw, ok := os.LookupEnv(envMgmtNewPassword); ok {
		return pw, nil
	}
	fdIn, ok := g.Stdin.(*os.File)
	if !ok || !term.IsTerminal(int(fdIn.Fd())) {
		return "", nil
	}
	read := func(prompt string) (string, error) {
		fmt.Fprint(g.Stderr, prompt)
		b, err := term.ReadPassword(int(fdIn.Fd()))
		fmt.Fprintln(g.Stderr)
		return string(b), err
	}
	a, err := read("New password (empty: keep): ")
	if err != nil || a == "" {
		return "", err
	}
	b, err := read("Repeat: ")
	if err != nil {
		return "", err
	}
	if a != b {
		return "", errors.New("the passwords differ")
	}
	return a, nil
}

func newMgmtJoinCodeCmd(g *Globals, f *mgmtFlags) *cobra.Command {
	return newMgmtCodeCmd(g, f, "join-code", "Create a one-time code for a new node to join this master's replication group (valid 1 h)",
		(*mgmt.Server).CreateJoinCode, (*mgmt.Client).CreateJoinCode)
}

func newMgmtJoinCmd(g *Globals, f *mgmtFlags) *cobra.Command {
	var master, masterCA, code string
	cmd := &cobra.Command{
		Use:   "join",
		Short: "Make --data a slave of a replication group (initialising it if new); run it afterwards with serve --role slave",
		Long: `join initialises --data if needed (its own CA, HTTPS and signing keys), sends
this node's signing certificate, URL and HTTPS trust to the master with a
one-time code from "termgate mgmt join-code", and applies the group's state
from the answer: users, sessions, settings, proxies and every member's signing
certificate. Private keys never leave the node. The server must be stopped.
Afterwards: termgate mgmt serve --data DIR --role slave (same --addr and
--dtls-addr). The admin password is then the group's.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if master == "" || code == "" || masterCA == "" {
				return usagef("join needs --master, --master-ca and --code")
			}
			ca, err := os.ReadFile(masterCA)
			if err != nil {
				return fmt.Errorf("--master-ca: %w", err)
			}
			advertise := f.advertiseURL
			if advertise == "" {
				advertise = "https://" + f.addr
			}
			dtls := f.dtlsAddr
			res, err := mgmt.Join(cmd.Context(), mgmt.JoinOptions{DataDir: f.data, Init: mgmt.InitOptions{NodeID: f.nodeID, TLSNames: f.tlsNames},
				MasterURL: strings.TrimRight(master, "/"), MasterCA: ca, Code: strings.TrimSpace(code), AdvertiseURL: advertise, DTLSAddress: dtls})
			if err != nil {
				return err
			}
			fmt.Fprintf(g.Stdout, "node %s joined %s; start it with: termgate mgmt serve --data %s --role slave --addr %s --dtls-addr %s\n",
				res.NodeID, master, res.DataDir, f.addr, dtls)
			return nil
		},
	}
	fl := cmd.Flags()
	f.registerServer(cmd)
	fl.StringVar(&master, "master", "", "URL of the group's master, e.g. https://mgmt-1.example.com:8443")
	fl.StringVar(&masterCA, "master-ca", "", "PEM to trust for the master's HTTPS (its DATA/ca.pem)")
	fl.StringVar(&code, "code", "", "one-time join code (termgate mgmt join-code on the master)")
	return cmd
}

func newMgmtPromoteCmd(g *Globals, f *mgmtFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "promote",
		Short: "Make this node the replication master of a new epoch (failover); a returning old master steps down",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var st mgmt.ReplicationStatus
			err := withMgmt(cmd.Context(), g, f, func(s *mgmt.Server) (err error) {
				st, err = s.Promote(mgmt.WithActor(cmd.Context(), "cli"))
				return err
			}, func(c *mgmt.Client) (err error) {
				st, err = c.Promote(cmd.Context())
				return err
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(g.Stdout, "node %s is master of epoch %d (revision %d)\n", st.Node, st.Epoch, st.Revision)
			return nil
		},
	}
	f.registerRemote(cmd)
	return cmd
}

func newMgmtReplicationCmd(g *Globals, f *mgmtFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "replication",
		Short: "Show the replication status (role, epoch, revision, per peer: last push, result, lag)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var st mgmt.ReplicationStatus
			err := withMgmt(cmd.Context(), g, f, func(s *mgmt.Server) error {
				st = s.ReplicationStatus()
				return nil
			}, func(c *mgmt.Client) (err error) {
				st, err = c.ReplicationStatus(cmd.Context())
				return err
			})
			if err != nil {
				return err
			}
			b, _ := json.MarshalIndent(st, "", "  ")
			fmt.Fprintln(g.Stdout, string(b))
			return nil
		},
	}
	f.registerRemote(cmd)
	return cmd
}

func newMgmtArchiveCmd(g *Globals, f *mgmtFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "archive", Short: "List, show and restore the snapshots replication overwrote"}
	list := &cobra.Command{
		Use: "list", Short: "List archived snapshots, newest first", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out []mgmt.ArchiveEntry
			err := withMgmt(cmd.Context(), g, f, func(s *mgmt.Server) (err error) {
				out, err = s.Archive(cmd.Context())
				return err
			}, func(c *mgmt.Client) (err error) {
				out, err = c.Archive(cmd.Context())
				return err
			})
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(g.Stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "REVISION\tEPOCH\tMASTER\tARCHIVED\tREPLACED BY\tREASON\tBYTES")
			for _, e := range out {
				fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%d/%d\t%s\t%d\n", e.Revision, e.Epoch, e.Master, e.ArchivedAt.Local().Format(time.RFC3339),
					e.ReplacedByEpoch, e.ReplacedByRevision, e.Reason, e.Size)
			}
			return tw.Flush()
		},
	}
	show := &cobra.Command{
		Use: "show REVISION", Short: "Show what an archived snapshot holds (object names)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rev, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil {
				return usagef("revision %q: want a number", args[0])
			}
			return withMgmt(cmd.Context(), g, f, func(s *mgmt.Server) error {
				_, e, err := s.ArchivedSnapshot(cmd.Context(), rev)
				if err == nil {
					b, _ := json.MarshalIndent(e, "", "  ")
					fmt.Fprintln(g.Stdout, string(b))
				}
				return err
			}, func(c *mgmt.Client) error {
				b, err := c.ArchiveShow(cmd.Context(), rev)
				if err == nil {
					fmt.Fprintln(g.Stdout, string(b))
				}
				return err
			})
		},
	}
	restore := &cobra.Command{
		Use: "restore REVISION", Short: "Make an archived snapshot current again (a new revision that replicates)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rev, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil {
				return usagef("revision %q: want a number", args[0])
			}
			var now uint64
			err = withMgmt(cmd.Context(), g, f, func(s *mgmt.Server) (err error) {
				now, err = s.RestoreArchived(mgmt.WithActor(cmd.Context(), "cli"), rev)
				return err
			}, func(c *mgmt.Client) (err error) {
				now, err = c.RestoreArchive(cmd.Context(), rev)
				return err
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(g.Stdout, "restored revision %d as revision %d\n", rev, now)
			return nil
		},
	}
	for _, c := range []*cobra.Command{list, show, restore} {
		f.registerRemote(c)
		cmd.AddCommand(c)
	}
	return cmd
}

func newMgmtMeteringCmd(g *Globals, f *mgmtFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "metering", Short: "Metering reports"}
	var from, to, format string
	var window time.Duration
	report := &cobra.Command{
		Use:   "report",
		Short: "The group's merged metering report: sessions, peak concurrency per user and session definition, alerts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t1 := time.Now()
			t0 := t1.Add(-24 * time.Hour)
			var err error
			if from != "" {
				if t0, err = time.Parse(time.RFC3339, from); err != nil {
					return usagef("--from: want RFC 3339, e.g. 2026-01-02T15:04:05Z")
				}
			}
			if to != "" {
				if t1, err = time.Parse(time.RFC3339, to); err != nil {
					return usagef("--to: want RFC 3339")
				}
			}
			switch format {
			case "table", "csv", "json":
			default:
				return usagef("--format %q: use table, csv or json", format)
			}
			if f.url == "" {
				f.url = "https://" + f.addr // the report merges the group's records: ask the running server
			}
			c, err := mgmtClient(cmd.Context(), f)
			if err != nil {
				return err
			}
			defer c.HTTP.CloseIdleConnections()
			rep, err := c.MeteringReport(cmd.Context(), t0, t1, window)
			if err != nil {
				return err
			}
			return writeMeteringReport(g, rep, format)
		},
	}
	fl := report.Flags()
	fl.StringVar(&from, "from", "", "start (RFC 3339; default 24 h ago)")
	fl.StringVar(&to, "to", "", "end (RFC 3339; default now)")
	fl.StringVar(&format, "format", "table", "table, csv or json")
	fl.DurationVar(&window, "window", time.Hour, "window of the per-window peaks")
	f.registerRemote(report)
	cmd.AddCommand(report)
	return cmd
}

func writeMeteringReport(g *Globals, rep mgmt.MeteringReport, format string) error {
	switch format {
	case "json":
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(g.Stdout, string(b))
		return err
	case "csv":
		w := csv.NewWriter(g.Stdout)
		w.Write([]string{"launch", "user", "session", "start", "end", "heartbeats", "gaps", "nodes"})
		for _, s := range rep.Sessions {
			w.Write([]string{s.Launch, s.User, s.Session, s.Start.Format(time.RFC3339), s.End.Format(time.RFC3339),
				strconv.Itoa(s.Heartbeats), strconv.Itoa(s.Gaps), strings.Join(s.Nodes, " ")})
		}
		w.Flush()
		return w.Error()
	}
	tw := tabwriter.NewWriter(g.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "nodes: %s", strings.Join(rep.Nodes, ", "))
	if len(rep.Missing) > 0 {
		fmt.Fprintf(tw, " (NOT ASKED: %s)", strings.Join(rep.Missing, ", "))
	}
	fmt.Fprintf(tw, "\npeak concurrent sessions: %d\n\nUSER\tSESSION\tSTART\tEND\tHEARTBEATS\tGAPS\tNODES\n", rep.Peak.Total)
	for _, s := range rep.Sessions {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\n", s.User, s.Session, s.Start.Local().Format(time.RFC3339),
			s.End.Local().Format(time.RFC3339), s.Heartbeats, s.Gaps, strings.Join(s.Nodes, ","))
	}
	for _, a := range rep.Alerts {
		fmt.Fprintf(tw, "ALERT\t%s has %d concurrent sessions (limit %d) at %s\n", a.User, a.Peak, a.Limit, a.At.Local().Format(time.RFC3339))
	}
	return tw.Flush()
}

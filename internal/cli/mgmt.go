package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
		newMgmtEnrollCodeCmd(g, f), newMgmtRotateKeyCmd(g, f), newMgmtCheckProxiesCmd(g, f), newMgmtUserCmd(g, f))
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
	if _, err := mgmtInit(g, f); err != nil {
		return err
	}
	srv, err := mgmt.New(f.config(g))
	if err != nil {
		return err
	}
	defer srv.Close()
	fmt.Fprintf(g.Stdout, "ready %s\n", srv.URL())
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
	cmd := &cobra.Command{
		Use:   "enroll-code",
		Short: "Create a one-time proxy enrollment code (valid 1 h)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var (
				code string
				exp  time.Time
			)
			err := withMgmt(cmd.Context(), g, f, func(s *mgmt.Server) (err error) {
				code, exp, err = s.CreateEnrollCode(mgmt.WithActor(cmd.Context(), "cli"))
				return err
			}, func(c *mgmt.Client) (err error) {
				code, exp, err = c.CreateEnrollCode(cmd.Context())
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

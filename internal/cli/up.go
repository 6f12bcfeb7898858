package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/termgate/termgate/internal/demo/tn3270host"
	"github.com/termgate/termgate/internal/demo/vthost"
	"github.com/termgate/termgate/mgmt"
	"github.com/termgate/termgate/pki"
	"github.com/termgate/termgate/proxy"
)

func init() { register(newUpCmd) }

// upOptions are the flags of termgate up (docs/README.md).
type upOptions struct {
	Data         string
	MgmtAddr     string
	DTLSAddr     string
	ProxyAddr    string
	OpsAddr      string
	DemoVTAddr   string
	Demo3270Addr string
}

func newUpCmd(g *Globals) *cobra.Command {
	o := &upOptions{}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run everything on loopback: management server, proxy and demo hosts",
		Long: `up runs the all-in-one embedded termgate: a management server, a security
proxy enrolled with it, and two demo hosts (a VT menu application over telnet
and a TN3270 application), with sessions demo-vt and demo-3270 granted to user
admin. State lives in --data (created on the first run, reused afterwards); the
generated admin password is in DATA/admin-password. It prints "ready" when
everything listens, then the commands to try. Ctrl-C stops it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runUp(cmd.Context(), g, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.Data, "data", "termgate-data", "data directory (PKI, store, admin password)")
	f.StringVar(&o.MgmtAddr, "mgmt-addr", "127.0.0.1:8443", "management server HTTPS address")
	f.StringVar(&o.DTLSAddr, "dtls-addr", mgmt.DefaultDTLSAddr, "management server metering DTLS address (UDP)")
	f.StringVar(&o.ProxyAddr, "proxy-addr", "127.0.0.1:9443", "proxy TLS address")
	f.StringVar(&o.OpsAddr, "ops-addr", "127.0.0.1:9090", "proxy operations address (/healthz, /readyz, /metrics)")
	f.StringVar(&o.DemoVTAddr, "demo-vt-addr", "127.0.0.1:2323", "demo VT (telnet) host address")
	f.StringVar(&o.Demo3270Addr, "demo-3270-addr", "127.0.0.1:3270", "demo TN3270 host address")
	return cmd
}

func runUp(ctx context.Context, g *Globals, o *upOptions) error {
	for name, addr := range map[string]string{"--mgmt-addr": o.MgmtAddr, "--dtls-addr": o.DTLSAddr, "--proxy-addr": o.ProxyAddr,
		"--ops-addr": o.OpsAddr, "--demo-vt-addr": o.DemoVTAddr, "--demo-3270-addr": o.Demo3270Addr} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return usagef("%s %q: want host:port", name, addr)
		}
	}
	log := g.Logger()
	data, err := filepath.Abs(o.Data)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(data, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}

	// The local CA signs the management and proxy certificates; clients
	// trust DATA/ca.pem for the management server's HTTPS.
	ca, err := pki.LoadCADir(data)
	if errors.Is(err, os.ErrNotExist) {
		ca, err = pki.InitCADir(data, pki.CertSpec{CommonName: "termgate local CA"}, false)
	}
	if err != nil {
		return fmt.Errorf("local CA: %w", err)
	}

	mgmtDir := filepath.Join(data, "mgmt")
	mgmtHost := pki.HostOf(o.MgmtAddr)
	init, err := mgmt.Init(mgmtDir, mgmt.InitOptions{NodeID: "mgmt-1", CA: ca,
		TLSNames: uniq("localhost", "127.0.0.1", "::1", mgmtHost)})
	if err != nil {
		return fmt.Errorf("management data: %w", err)
	}
	pwFile := filepath.Join(data, "admin-password")
	if init.AdminPassword != "" {
		if err := pki.WriteFileAtomic(pwFile, []byte(init.AdminPassword+"\n"), 0o600); err != nil {
			return err
		}
	}

	ms, err := mgmt.New(mgmt.Config{DataDir: mgmtDir, Addr: o.MgmtAddr, DTLSAddr: o.DTLSAddr, ProxyAddress: o.ProxyAddr,
		Logger: log.With().Str("component", "mgmt").Logger()})
	if err != nil {
		return fmt.Errorf("management server: %w", err)
	}
	defer ms.Close()

	// The proxy's certificate names the address clients dial.
	proxyDir := filepath.Join(data, "proxy")
	if err := os.MkdirAll(proxyDir, 0o700); err != nil {
		return err
	}
	certFile, keyFile := filepath.Join(proxyDir, "tls.pem"), filepath.Join(proxyDir, "tls-key.pem")
	if _, err := os.Stat(certFile); err != nil {
		names, ips := splitNames(uniq("localhost", "127.0.0.1", "::1", pki.HostOf(o.ProxyAddr)))
		c, err := ca.Issue(pki.CertSpec{CommonName: "proxy-1", DNSNames: names, IPs: ips, Usage: pki.UsageServer})
		if err != nil {
			return fmt.Errorf("proxy certificate: %w", err)
		}
		if err := c.Save(certFile, keyFile); err != nil {
			return err
		}
	}

	grp, gctx := errgroup.WithContext(ctx)
	gctx, stopAll := context.WithCancel(gctx)
	// On every return, including a failure half-way, stop what was started
	// and wait for it (before the deferred Close calls above run).
	defer func() { stopAll(); _ = grp.Wait() }()
	grp.Go(func() error { return ms.Serve(gctx) })

	if _, err := os.Stat(filepath.Join(proxyDir, proxy.MgmtSignersFile)); err != nil {
		if err := enrollLocalProxy(ctx, ms, proxyDir, certFile, keyFile, data); err != nil {
			return err
		}
	}

	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	ps, err := proxy.New(proxy.Config{
		Listen: o.ProxyAddr, OpsListen: o.OpsAddr, CertFile: certFile, KeyFile: keyFile, NodeID: "proxy-1",
		MgmtTrustFile:    filepath.Join(proxyDir, proxy.MgmtSignersFile),
		MgmtTLSTrustFile: filepath.Join(proxyDir, proxy.MgmtTLSFile),
		MgmtURLs:         []string{ms.URL()},
		AllowNetworks:    loopback,
		// The browser terminal is served by the management server: its
		// origin may open /ws on the proxy.
		WebSocketOrigins: consoleOrigins(ms.URL()),
		Logger:           log.With().Str("component", "proxy").Logger(),
	})
	if err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	defer ps.Close()
	grp.Go(func() error { return ps.Serve(gctx) })

	vtLn, err := net.Listen("tcp", o.DemoVTAddr)
	if err != nil {
		return fmt.Errorf("demo VT host: %w", err)
	}
	vt := &vthost.Server{Logger: log.With().Str("component", "demo-vt").Logger()}
	defer vt.Close()
	grp.Go(func() error { return ignoreClosed(vt.Serve(gctx, vtLn)) })

	tnLn, err := net.Listen("tcp", o.Demo3270Addr)
	if err != nil {
		return fmt.Errorf("demo 3270 host: %w", err)
	}
	tn := &tn3270host.Server{Logger: log.With().Str("component", "demo-3270").Logger()}
	defer tn.Close()
	grp.Go(func() error { return ignoreClosed(tn.Serve(gctx, tnLn)) })

	if err := defineDemoSessions(ctx, ms, o); err != nil {
		return err
	}

	printReady(g, o, data, ms)
	log.Info().Str("mgmt", ms.URL()).Str("proxy", o.ProxyAddr).Msg("termgate up is running; Ctrl-C stops it")

	<-gctx.Done()
	// Orderly stop: the proxy first (sessions end), then hosts and the management server.
	ps.Close()
	vt.Close()
	tn.Close()
	ms.Close()
	err = grp.Wait()
	if ctx.Err() != nil && (err == nil || errors.Is(err, context.Canceled)) {
		fmt.Fprintln(g.Stderr, "termgate up: stopped")
		return nil
	}
	return err
}

// enrollLocalProxy enrolls the embedded proxy with the embedded management
// server through the real enrollment endpoint, as a separate node would.
func enrollLocalProxy(ctx context.Context, ms *mgmt.Server, proxyDir, certFile, keyFile, data string) error {
	code, _, err := ms.CreateEnrollCode(ctx)
	if err != nil {
		return fmt.Errorf("enrollment code: %w", err)
	}
	caStore, err := pki.LoadTrustStore(filepath.Join(data, pki.CACertFile))
	if err != nil {
		return err
	}
	ectx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var res *proxy.EnrollResult
	for {
		res, err = proxy.Enroll(ectx, proxy.EnrollOptions{MgmtURL: ms.URL(), Code: code, CertFile: certFile,
			KeyFile: keyFile, NodeID: "proxy-1", DataDir: proxyDir, MgmtCA: caStore})
		if err == nil || ectx.Err() != nil {
			break
		}
		var ne net.Error
		var oe *net.OpError
		if !errors.As(err, &oe) && !errors.As(err, &ne) {
			break // not a "server still starting" error
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("enroll the proxy: %w", err)
	}
	_ = res
	return nil
}

func defineDemoSessions(ctx context.Context, ms *mgmt.Server, o *upOptions) error {
	vtHost, vtPort, _ := net.SplitHostPort(o.DemoVTAddr)
	tnHost, tnPort, _ := net.SplitHostPort(o.Demo3270Addr)
	defs := map[string]mgmt.SessionDef{
		"demo-vt": {Protocol: "telnet", Host: vtHost, Port: atoiPort(vtPort),
			Terminal: mgmt.Terminal{Model: "xterm", Rows: 24, Cols: 80}, Description: "demo VT application over telnet"},
		"demo-3270": {Protocol: "tn3270", Host: tnHost, Port: atoiPort(tnPort),
			Terminal: mgmt.Terminal{Model: "IBM-3278-2-E", Rows: 24, Cols: 80, Codepage: "037"}, Description: "demo TN3270 application"},
	}
	for name, def := range defs {
		if err := ms.PutSession(ctx, name, def); err != nil {
			return fmt.Errorf("define session %s: %w", name, err)
		}
	}
	return ms.GrantSessions(ctx, "admin", "demo-vt", "demo-3270")
}

func printReady(g *Globals, o *upOptions, data string, ms *mgmt.Server) {
	w := g.Stdout
	mgmtURL, dtls := ms.URL(), o.DTLSAddr
	if a := ms.DTLSAddr(); a != nil {
		dtls = a.String()
	}
	fmt.Fprintf(w, "ready mgmt=%s dtls=%s proxy=%s ops=http://%s demo-vt=%s demo-3270=%s\n", mgmtURL, dtls, o.ProxyAddr, o.OpsAddr, o.DemoVTAddr, o.Demo3270Addr)
	rel := data
	if wd, err := os.Getwd(); err == nil {
		if r, err := filepath.Rel(wd, data); err == nil && !filepath.IsAbs(r) && len(r) < len(data) {
			rel = r
		}
	}
	flags := fmt.Sprintf("--mgmt %s --ca %s --user admin", mgmtURL, filepath.Join(rel, pki.CACertFile))
	fmt.Fprintf(w, `
The admin password is in %[1]s/admin-password. Try, in another terminal:

  export TERMGATE_PASSWORD="$(cat %[1]s/admin-password)"
  %[3]s connect %[2]s --session demo-vt
  printf 'wait "Select an option"\nprint\nquit\n' | %[3]s screen %[2]s --session demo-vt
  printf 'wait "TERMGATE DEMO 3270"\nprint\nquit\n' | %[3]s screen %[2]s --session demo-3270

Ctrl-C stops termgate up; the next run reuses %[1]s.
`, rel, flags, selfCommand())
}

// consoleOrigins are the browser origins of the management server's pages
// (its URL, and the same port on localhost when it listens on loopback).
func consoleOrigins(mgmtURL string) []string {
	out := []string{mgmtURL}
	if u, err := url.Parse(mgmtURL); err == nil {
		if ip := net.ParseIP(u.Hostname()); ip != nil && ip.IsLoopback() {
			out = append(out, "https://localhost:"+u.Port())
		}
	}
	return out
}

// selfCommand is how the user can run this binary again: "go run
// ./cmd/termgate" when it was started by go run (a binary in the build
// cache), else its path as invoked.
func selfCommand() string {
	exe := os.Args[0]
	if strings.Contains(exe, string(filepath.Separator)+"go-build") {
		return "go run ./cmd/termgate"
	}
	return exe
}

func ignoreClosed(err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, vthost.ErrServerClosed) || errors.Is(err, tn3270host.ErrServerClosed) {
		return nil
	}
	return err
}

func uniq(xs ...string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range xs {
		if x == "" || seen[x] {
			continue
		}
		seen[x] = true
		out = append(out, x)
	}
	return out
}

func splitNames(xs []string) ([]string, []net.IP) {
	var names []string
	var ips []net.IP
	for _, x := range xs {
		if ip := net.ParseIP(x); ip != nil {
			ips = append(ips, ip)
		} else {
			names = append(names, x)
		}
	}
	return names, ips
}

func atoiPort(s string) int {
	var n int
	fmt.Sscanf(s, "%d", &n)
	return n
}

var _ = zerolog.Nop

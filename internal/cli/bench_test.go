package cli

import (
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/termgate/termgate/internal/bench"
	"github.com/termgate/termgate/internal/testpeer"
	"github.com/termgate/termgate/pki"
	"github.com/termgate/termgate/proxy"
)

// reexecEnv makes the test binary act as the termgate binary: "termgate
// bench proxy" re-executes itself as "termgate proxy" and "termgate bench
// relay-baseline".
const reexecEnv = "TERMGATE_CLI_TEST_REEXEC"

func TestMain(m *testing.M) {
	if os.Getenv(reexecEnv) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
		stop()
		os.Exit(ExitCode(err))
	}
	os.Exit(m.Run())
}

// tinyBench are sizes that exercise every measurement in a few seconds.
var tinyBench = []string{"bench", "proxy", "--quick", "--bytes", "2MiB", "--idle", "20", "--pings", "50",
	"--setup-count", "40", "--setup-time", "5s", "--settle", "100ms", "--conns", "2", "--log-level", "off", "--timeout", "2m"}

func benchArgs(extra ...string) []string { return append(append([]string{}, tinyBench...), extra...) }

func TestBenchProxyTable(t *testing.T) {
	t.Setenv(reexecEnv, "1")
	r := runCLI(t, benchArgs("--haproxy", "none")...)
	r.must(t, ExitOK, "bulk throughput, client to host (MB/s)", "set-up rate", "keystroke round trip p50 (µs)",
		"keystroke round trip p99 (µs)", "added latency p50 (µs)", "added latency p99 (µs)", "RSS per idle session (KiB)",
		"termgate/plain-go", "TLS termgate:", "TLS plain-go:", "lower is better")
	if strings.Contains(r.stdout, "haproxy") {
		t.Errorf("--haproxy none, yet the table names haproxy:\n%s", r.stdout)
	}
	// Every metric row has a figure for termgate and a computed ratio for
	// throughput and set-up.
	for _, line := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(line, "bulk throughput") || strings.HasPrefix(line, "set-up rate") {
			f := strings.Fields(line)
			if ratio := f[len(f)-2]; !strings.HasSuffix(ratio, "x") {
				t.Errorf("row %q: ratio %q not computed", line, ratio)
			}
		}
	}
}

func TestBenchProxyJSONWithHAProxy(t *testing.T) {
	haproxy := testpeer.Require(t, "haproxy", "haproxy")
	t.Setenv(reexecEnv, "1")
	r := runCLI(t, benchArgs("--json", "--haproxy", haproxy)...)
	r.must(t, ExitOK)
	var rep bench.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, r.stdout)
	}
	checkReport(t, &rep, []string{bench.TargetDirect, bench.TargetPlainGo, bench.TargetHAProxy, bench.TargetTermgate}, 20)
	if !strings.Contains(rep.Env.HAProxy, "HAProxy") {
		t.Errorf("env.haproxy = %q, want its version line", rep.Env.HAProxy)
	}
	if len(rep.Ratios) != 2 || rep.Ratios[0].Name != "termgate/haproxy" || rep.Ratios[1].Name != "termgate/plain-go" {
		t.Fatalf("ratios = %+v", rep.Ratios)
	}
	for _, q := range rep.Ratios {
		if q.Throughput == nil || q.SetupRate == nil || q.RTTP50 == nil || q.RSSPerIdle == nil {
			t.Errorf("%s: a ratio is missing: %+v", q.Name, q)
		}
	}
	if h := rep.Result(bench.TargetHAProxy); h.TLS == nil || h.TLS.CipherSuite != rep.Result(bench.TargetTermgate).TLS.CipherSuite {
		t.Errorf("HAProxy and termgate negotiated different cipher suites: %+v vs %+v", h.TLS, rep.Result(bench.TargetTermgate).TLS)
	}
}

// checkReport asserts sane, non-zero figures for every target; it asserts
// no timing thresholds.
func checkReport(t *testing.T, rep *bench.Report, targets []string, idle int) {
	t.Helper()
	if len(rep.Results) != len(targets) {
		t.Fatalf("%d results, want %v", len(rep.Results), targets)
	}
	for i, want := range targets {
		x := rep.Results[i]
		if x.Target != want {
			t.Errorf("result %d is %q, want %q", i, x.Target, want)
		}
		if x.ThroughputMBps <= 0 || x.BulkBytes != 2<<20 || x.SetupPerSec <= 0 || x.SetupConns <= 0 ||
			x.RTTP50us <= 0 || x.RTTP99us < x.RTTP50us {
			t.Errorf("%s: implausible figures %+v", want, x)
		}
		if want == bench.TargetDirect {
			if x.RSSPerIdleBytes != nil || x.AddedP50us != nil || x.TLS != nil {
				t.Errorf("direct: memory, added latency or TLS reported: %+v", x)
			}
			continue
		}
		if x.AddedP50us == nil || x.AddedP99us == nil {
			t.Errorf("%s: added latency missing", want)
		}
		if x.TLS == nil || x.TLS.Version != "TLS 1.3" {
			t.Errorf("%s: TLS = %+v, want TLS 1.3", want, x.TLS)
		}
		if x.IdleSessions != idle || x.RSSPerIdleBytes == nil || x.RSSBeforeBytes <= 0 || x.RSSAfterBytes <= 0 {
			t.Errorf("%s: memory figures %+v", want, x)
		}
	}
}

// TestBenchExternalProxy measures a proxy that the test runs in process,
// as an operator would measure a running node.
func TestBenchExternalProxy(t *testing.T) {
	t.Setenv(reexecEnv, "1")
	dir := t.TempDir()
	ca, err := pki.NewCA(pki.CertSpec{CommonName: "ext CA"})
	if err != nil {
		t.Fatal(err)
	}
	server, err := ca.Issue(pki.CertSpec{CommonName: "127.0.0.1", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Usage: pki.UsageServer})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ca.Issue(pki.CertSpec{CommonName: "ext-mgmt", Usage: pki.UsageTokenSigning})
	if err != nil {
		t.Fatal(err)
	}
	caFile, certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "signer.pem"), filepath.Join(dir, "signer.key")
	if err := os.WriteFile(caFile, pki.EncodeCertPEM(ca.Cert.Cert), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := signer.Save(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	tc := server.TLSCertificate()
	srv, err := proxy.New(proxy.Config{
		Listen: "127.0.0.1:0", OpsListen: "-", NodeID: "ext", Certificate: &tc,
		MgmtTrust:             pki.NewTrustStore(signer.Cert),
		AllowNetworks:         []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		MaxSessionsPerSubject: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background()) }()
	t.Cleanup(func() {
		srv.Close()
		<-served
	})

	r := runCLI(t, benchArgs("--json", "--haproxy", "none", "--proxy", srv.Addr().String(), "--ca", caFile,
		"--cert", certFile, "--key", keyFile, "--proxy-pid", strconv.Itoa(os.Getpid()))...)
	r.must(t, ExitOK)
	var rep bench.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, r.stdout)
	}
	checkReport(t, &rep, []string{bench.TargetDirect, bench.TargetPlainGo, bench.TargetTermgate}, 20)
	if rep.Env.External != srv.Addr().String() {
		t.Errorf("env.external_proxy = %q, want %s", rep.Env.External, srv.Addr())
	}
}

func TestBenchProxyUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"bad size", []string{"bench", "proxy", "--bytes", "lots"}, "--bytes"},
		{"bad curve", []string{"bench", "proxy", "--curves", "p224"}, "--curves"},
		{"external flag alone", []string{"bench", "proxy", "--ca", "x.pem"}, "go with --proxy"},
		{"external without keys", []string{"bench", "proxy", "--proxy", "127.0.0.1:1"}, "--proxy needs"},
		{"relay without upstream", []string{"bench", "relay-baseline", "--cert", "a", "--key", "b"}, "required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, tt.args...)
			if r.code != ExitUsage {
				t.Fatalf("exit %d, want %d; stderr:\n%s", r.code, ExitUsage, r.stderr)
			}
			r.stderrHas(t, tt.want)
		})
	}
}

package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"math"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  bool
	}{
		{in: "4096", want: 4096},
		{in: "1GiB", want: 1 << 30},
		{in: "512MiB", want: 512 << 20},
		{in: "512m", want: 512 << 20},
		{in: "64 KiB", want: 64 << 10},
		{in: "1.5GB", want: 1_500_000_000},
		{in: "2MB", want: 2_000_000},
		{in: "10b", want: 10},
		{in: "", err: true},
		{in: "GiB", err: true},
		{in: "-1", err: true},
		{in: "-1.5MiB", err: true},
		{in: "lots", err: true},
		{in: "NaN", err: true},
		{in: "Inf", err: true},
		{in: "9223372036854775807GiB", err: true},
		{in: "1e300", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if (err != nil) != tt.err {
				t.Fatalf("ParseSize(%q) = %d, %v; want error %v", tt.in, got, err, tt.err)
			}
			if !tt.err && got != tt.want {
				t.Errorf("ParseSize(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"1GiB", "512M", "1.5GB", "4096", "", "-3k", "1e18GiB", "0x10"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err == nil && n < 0 {
			t.Fatalf("ParseSize(%q) = %d, a negative size without error", s, n)
		}
	})
}

func TestParseCurve(t *testing.T) {
	for in, want := range map[string]tls.CurveID{"x25519": tls.X25519, "P-256": tls.CurveP256, "X25519MLKEM768": tls.X25519MLKEM768} {
		if got, err := ParseCurve(in); err != nil || got != want {
			t.Errorf("ParseCurve(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseCurve("p224"); err == nil {
		t.Error("ParseCurve(p224): want an error")
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i))
	}
	if got := percentile(d, 0.5); got != 50 {
		t.Errorf("p50 = %d, want 50", got)
	}
	if got := percentile(d, 0.99); got != 99 {
		t.Errorf("p99 = %d, want 99", got)
	}
	if got := percentile(d[:1], 0.99); got != 1 {
		t.Errorf("p99 of one = %d, want 1", got)
	}
	if got := percentile(nil, 0.5); got != 0 {
		t.Errorf("p50 of none = %d, want 0", got)
	}
}

func TestMedian(t *testing.T) {
	for _, tt := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		in := append([]float64(nil), tt.in...)
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
		if !slices.Equal(in, tt.in) {
			t.Errorf("median reordered its input: %v", tt.in)
		}
	}
}

func TestConfigCheck(t *testing.T) {
	base := func() Config { c := Config{Exe: "/bin/true"}; c.setDefaults(); return c }
	tests := []struct {
		name string
		mod  func(*Config)
	}{
		{"no exe", func(c *Config) { c.Exe = "" }},
		{"tiny bytes", func(c *Config) { c.Bytes = 10 }},
		{"no conns", func(c *Config) { c.Conns = -1 }},
		{"too many idle", func(c *Config) { c.Idle = maxIdle + 1 }},
		{"fewer pings than rounds", func(c *Config) { c.Rounds, c.Pings = 5, 4 }},
		{"no rounds", func(c *Config) { c.Rounds = -1 }},
		{"external without issuer", func(c *Config) { c.External = &External{Addr: "127.0.0.1:1"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base()
			tt.mod(&c)
			if err := c.check(); !errors.Is(err, ErrConfig) {
				t.Fatalf("check() = %v, want ErrConfig", err)
			}
		})
	}
	if c := base(); c.check() != nil {
		t.Fatalf("defaults: %v", c.check())
	}
}

func TestReportRatiosAndTable(t *testing.T) {
	rep := &Report{
		Env:      Env{GoVersion: "go1.x", NumCPU: 2, GOMAXPROCS: 2},
		Settings: Settings{Bytes: 1 << 30, Conns: 8, SetupCount: 100, SetupSeconds: 1, Pings: 10, Idle: 100},
		Results: []Result{
			{Target: TargetDirect, ThroughputMBps: 4000, SetupPerSec: 20000, RTTP50us: 10, RTTP99us: 20},
			{Target: TargetPlainGo, ThroughputMBps: 800, SetupPerSec: 1000, RTTP50us: 30, RTTP99us: 60, RSSPerIdleBytes: ptr(64 << 10)},
			{Target: TargetHAProxy, ThroughputMBps: 1000, SetupPerSec: 2000, RTTP50us: 25, RTTP99us: 50, RSSPerIdleBytes: ptr(32 << 10), SetupCPUus: ptr(200)},
			{Target: TargetTermgate, ThroughputMBps: 1100, SetupPerSec: 1500, RTTP50us: 40, RTTP99us: 80, RSSPerIdleBytes: ptr(16 << 10), SetupCPUus: ptr(300)},
		},
	}
	rep.finish()
	if got := *rep.Result(TargetTermgate).AddedP50us; got != 30 {
		t.Errorf("termgate added p50 = %v, want 30", got)
	}
	if len(rep.Ratios) != 2 || rep.Ratios[0].Name != "termgate/haproxy" || rep.Ratios[1].Name != "termgate/plain-go" {
		t.Fatalf("ratios = %+v", rep.Ratios)
	}
	h := rep.Ratios[0]
	for name, c := range map[string]struct {
		got  *float64
		want float64
	}{
		"throughput": {h.Throughput, 1.1}, "setup": {h.SetupRate, 0.75}, "added p50": {h.AddedP50, 2},
		"added p99": {h.AddedP99, 2}, "rss": {h.RSSPerIdle, 0.5}, "set-up cpu": {h.SetupCPU, 1.5},
	} {
		if c.got == nil || math.Abs(*c.got-c.want) > 1e-9 {
			t.Errorf("termgate/haproxy %s = %v, want %v", name, c.got, c.want)
		}
	}
	if rep.Result(TargetDirect).RSSPerIdleBytes != nil || rep.Result(TargetDirect).AddedP50us != nil {
		t.Error("the direct baseline must have no memory figure and no added latency")
	}

	var b bytes.Buffer
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"bulk throughput", "set-up rate", "round trip p50", "round trip p99", "added latency p50",
		"added latency p99", "RSS per idle session (KiB)", "proxy CPU per set-up (µs)", "1.50x", "termgate/haproxy", "termgate/plain-go", "1.10x", "0.50x", "lower", "higher"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	// 16 KiB per idle session for the proxy.
	if !strings.Contains(out, "16.0") {
		t.Errorf("table lacks the proxy's 16 KiB per session:\n%s", out)
	}

	var j bytes.Buffer
	if err := rep.WriteJSON(&j); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(j.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Ratios[1].Throughput == nil || *back.Ratios[1].Throughput != 1100.0/800 {
		t.Errorf("JSON round trip lost the plain-go throughput ratio: %+v", back.Ratios[1])
	}
}

func TestRatioNeedsPositiveFigures(t *testing.T) {
	if r := ratio(ptr(1), ptr(-2)); r != nil {
		t.Errorf("ratio over a negative baseline = %v, want nil", *r)
	}
	if r := ratio(nil, ptr(1)); r != nil {
		t.Errorf("ratio of a missing figure = %v, want nil", *r)
	}
}

func TestParseStatCPU(t *testing.T) {
	// utime 250 and stime 50 ticks: 3 s; the command name holds ") (".
	line := []byte("4242 (odd) (name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 7 0 100 1000 200\n")
	got, err := parseStatCPU(line)
	if err != nil || got != 3*time.Second {
		t.Fatalf("parseStatCPU = %v, %v; want 3s", got, err)
	}
	for _, bad := range []string{"", "4242 no-parens S 1", "1 (x) S 1 2 3", "1 (x) S 1 2 3 4 5 6 7 8 9 10 -5 6 7", "1 (x) S 1 2 3 4 5 6 7 8 9 10 ten 6 7"} {
		if _, err := parseStatCPU([]byte(bad)); err == nil {
			t.Errorf("parseStatCPU(%q): want an error", bad)
		}
	}
	if runtime.GOOS == "linux" {
		// Spend a little CPU (the clock is in 10 ms ticks), then read it back.
		var d time.Duration
		for end, x := time.Now().Add(5*time.Second), 1.0; time.Now().Before(end) && d < 20*time.Millisecond; {
			for range 1_000_000 {
				x = math.Sqrt(x + 1)
			}
			if d, err = readCPU(os.Getpid()); err != nil {
				t.Fatal(err)
			}
		}
		if d < 20*time.Millisecond {
			t.Errorf("readCPU(self) = %v after spinning; want at least 20ms", d)
		}
	}
}

func FuzzParseStatCPU(f *testing.F) {
	f.Add([]byte("1 (termgate) S 0 1 1 0 -1 0 0 0 0 0 12 3 0 0 20 0 1 0 1 1 1"))
	f.Add([]byte("1 ((a) b)) R 0 1 1 0 -1 0 0 0 0 0 99999999999 3 0 0"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if d, err := parseStatCPU(b); err == nil && d < 0 {
			t.Fatalf("negative CPU time %v from %q", d, b)
		}
	})
}

func TestReadRSSSelf(t *testing.T) {
	n, err := readRSS(os.Getpid())
	if errors.Is(err, ErrUnsupported) {
		t.Skip(err)
	}
	if err != nil || n < 1<<20 {
		t.Fatalf("readRSS(self) = %d, %v; want at least 1 MiB", n, err)
	}
	if _, err := readRSS(-1); err == nil {
		t.Error("readRSS(-1): want an error")
	}
}

// TestHostAndRelay runs every measurement against the host directly and
// through an in-process plain relay, and checks that nothing is left running.
func TestHostAndRelay(t *testing.T) {
	defer goleak.VerifyNone(t)
	dir := t.TempDir()
	m, err := newMaterial(dir)
	if err != nil {
		t.Fatal(err)
	}
	h, err := startHost()
	if err != nil {
		t.Fatal(err)
	}
	defer h.close()
	r, err := NewRelay(RelayConfig{Listen: "127.0.0.1:0", Certificate: m.server.TLSCertificate(), Upstream: h.addr()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- r.Serve(ctx) }()
	defer func() {
		r.Close()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()

	for _, tg := range []*target{
		directTarget(h.addr()),
		{name: TargetPlainGo, addr: r.Addr().String(), tlsConf: clientTLS("127.0.0.1", m.trust, nil)},
	} {
		t.Run(tg.name, func(t *testing.T) {
			s, err := measureSetup(ctx, tg, 2, 20, 5*time.Second, 5*time.Second)
			if err != nil || s.conns != 20 || s.errors != 0 || s.rate() <= 0 {
				t.Fatalf("set-up: %+v, %v; want 20 sessions", s, err)
			}
			rtts, info, err := measureLatency(ctx, tg, 20, 5*time.Second)
			if err != nil || len(rtts) != 20 {
				t.Fatalf("latency: %d round trips, %v; want 20", len(rtts), err)
			}
			for _, d := range rtts {
				if d <= 0 {
					t.Fatalf("a round trip of %v", d)
				}
			}
			if (info != nil) != (tg.tlsConf != nil) {
				t.Errorf("TLS info %+v for a target with TLS %v", info, tg.tlsConf != nil)
			}
			b, err := measureBulk(ctx, tg, 2<<20, 5*time.Second)
			if err != nil || b.bytes != 2<<20 || b.mbPerSec() <= 0 {
				t.Fatalf("bulk: %+v, %v", b, err)
			}
		})
	}
}

func TestHostRefusesUnknownCommand(t *testing.T) {
	h, err := startHost()
	if err != nil {
		t.Fatal(err)
	}
	defer h.close()
	c, err := net.Dial("tcp", h.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte("X"))
	var b [1]byte
	if n, err := c.Read(b[:]); err == nil {
		t.Fatalf("the host answered %q to an unknown command; want it to close", b[:n])
	}
}

func TestNewRelayNeedsAddresses(t *testing.T) {
	if _, err := NewRelay(RelayConfig{Listen: "127.0.0.1:0"}); !errors.Is(err, ErrConfig) {
		t.Fatalf("NewRelay without upstream = %v, want ErrConfig", err)
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	if _, err := Run(context.Background(), Config{}); !errors.Is(err, ErrConfig) {
		t.Fatalf("Run without Exe = %v, want ErrConfig", err)
	}
}

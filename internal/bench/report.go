package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Report is the outcome of Run: one Result per target and the proxy's
// ratios to each baseline.
type Report struct {
	Env      Env      `json:"env"`
	Settings Settings `json:"settings"`
	Results  []Result `json:"results"`
	Ratios   []Ratio  `json:"ratios"`
}

// Env describes where the run happened.
type Env struct {
	GoVersion  string `json:"go_version"`
	OS         string `json:"os"`
	Arch       string `json:"arch"`
	CPUModel   string `json:"cpu_model,omitempty"`
	NumCPU     int    `json:"num_cpu"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	HAProxy    string `json:"haproxy,omitempty"` // its version line; empty: not measured
	External   string `json:"external_proxy,omitempty"`
}

// Settings are the sizes and bounds the run used.
type Settings struct {
	Rounds       int      `json:"rounds"`
	Bytes        int64    `json:"bytes"`
	Conns        int      `json:"conns"`
	SetupCount   int      `json:"setup_count"`
	SetupSeconds float64  `json:"setup_seconds"`
	Pings        int      `json:"pings"`
	Idle         int      `json:"idle"`
	Curves       []string `json:"curves,omitempty"`
}

// TLSInfo is what a TLS target negotiated with the client.
type TLSInfo struct {
	Version     string `json:"version"`
	CipherSuite string `json:"cipher_suite"`
	Group       string `json:"group"`
}

// Result is every measurement of one target. Pointers are nil where a
// figure does not apply (no middle process, or the direct baseline itself).
type Result struct {
	Target string `json:"target"`

	ThroughputMBps float64 `json:"throughput_mb_per_s"` // 10^6 bytes per second, client to host
	BulkBytes      int64   `json:"bulk_bytes"`
	BulkSeconds    float64 `json:"bulk_seconds"`

	SetupPerSec float64 `json:"setup_per_s"`
	SetupConns  int     `json:"setup_conns"`
	SetupErrors int     `json:"setup_errors"`
	// SetupCPUus is the middle process's CPU time (user and system) per
	// session of the set-up measurement, in microseconds: what one TLS
	// handshake, request and first byte cost the proxy itself.
	SetupCPUus *float64 `json:"setup_cpu_us"`

	RTTP50us   float64  `json:"rtt_p50_us"`
	RTTP99us   float64  `json:"rtt_p99_us"`
	AddedP50us *float64 `json:"added_p50_us"` // RTT minus the direct RTT
	AddedP99us *float64 `json:"added_p99_us"`

	IdleSessions    int      `json:"idle_sessions,omitempty"`
	RSSBeforeBytes  int64    `json:"rss_before_bytes,omitempty"`
	RSSAfterBytes   int64    `json:"rss_after_bytes,omitempty"`
	RSSPerIdleBytes *float64 `json:"rss_per_idle_session_bytes"`

	TLS *TLSInfo `json:"tls,omitempty"`
}

// Ratio is the proxy's figure divided by a baseline's. Throughput and
// set-up rate: higher is better; latency and memory: lower is better.
// A nil field could not be computed (a figure missing or not positive).
type Ratio struct {
	Name       string   `json:"name"` // "termgate/haproxy"
	Throughput *float64 `json:"throughput"`
	SetupRate  *float64 `json:"setup_rate"`
	SetupCPU   *float64 `json:"setup_cpu"`
	RTTP50     *float64 `json:"rtt_p50"`
	RTTP99     *float64 `json:"rtt_p99"`
	AddedP50   *float64 `json:"added_p50"`
	AddedP99   *float64 `json:"added_p99"`
	RSSPerIdle *float64 `json:"rss_per_idle_session"`
}

// Result returns the result of the named target, or nil.
func (r *Report) Result(target string) *Result {
	for i := range r.Results {
		if r.Results[i].Target == target {
			return &r.Results[i]
		}
	}
	return nil
}

func ptr(v float64) *float64 { return &v }

func val(v float64) *float64 {
	if v == 0 {
		return nil
	}
	return &v
}

func ratio(a, b *float64) *float64 {
	if a == nil || b == nil || *a <= 0 || *b <= 0 {
		return nil
	}
	return ptr(*a / *b)
}

// finish computes the added latencies and the ratios.
func (r *Report) finish() {
	if d := r.Result(TargetDirect); d != nil {
		for i := range r.Results {
			if x := &r.Results[i]; x.Target != TargetDirect {
				x.AddedP50us = ptr(x.RTTP50us - d.RTTP50us)
				x.AddedP99us = ptr(x.RTTP99us - d.RTTP99us)
			}
		}
	}
	p := r.Result(TargetTermgate)
	if p == nil {
		return
	}
	for _, base := range []string{TargetHAProxy, TargetPlainGo} {
		b := r.Result(base)
		if b == nil {
			continue
		}
		r.Ratios = append(r.Ratios, Ratio{
			Name:       TargetTermgate + "/" + base,
			Throughput: ratio(val(p.ThroughputMBps), val(b.ThroughputMBps)),
			SetupRate:  ratio(val(p.SetupPerSec), val(b.SetupPerSec)),
			SetupCPU:   ratio(p.SetupCPUus, b.SetupCPUus),
			RTTP50:     ratio(val(p.RTTP50us), val(b.RTTP50us)),
			RTTP99:     ratio(val(p.RTTP99us), val(b.RTTP99us)),
			AddedP50:   ratio(p.AddedP50us, b.AddedP50us),
			AddedP99:   ratio(p.AddedP99us, b.AddedP99us),
			RSSPerIdle: ratio(p.RSSPerIdleBytes, b.RSSPerIdleBytes),
		})
	}
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// row is one line of the table.
type row struct {
	label  string
	better string
	get    func(*Result) *float64
	ratio  func(*Ratio) *float64
	scale  float64
}

var rows = []row{
	{"bulk throughput, client to host (MB/s)", "higher", func(x *Result) *float64 { return val(x.ThroughputMBps) }, func(q *Ratio) *float64 { return q.Throughput }, 1},
	{"set-up rate: TLS+CONNECT+token+1st byte (/s)", "higher", func(x *Result) *float64 { return val(x.SetupPerSec) }, func(q *Ratio) *float64 { return q.SetupRate }, 1},
	{"proxy CPU per set-up (µs)", "lower", func(x *Result) *float64 { return x.SetupCPUus }, func(q *Ratio) *float64 { return q.SetupCPU }, 1},
	{"keystroke round trip p50 (µs)", "lower", func(x *Result) *float64 { return val(x.RTTP50us) }, func(q *Ratio) *float64 { return q.RTTP50 }, 1},
	{"keystroke round trip p99 (µs)", "lower", func(x *Result) *float64 { return val(x.RTTP99us) }, func(q *Ratio) *float64 { return q.RTTP99 }, 1},
	{"added latency p50 (µs)", "lower", func(x *Result) *float64 { return x.AddedP50us }, func(q *Ratio) *float64 { return q.AddedP50 }, 1},
	{"added latency p99 (µs)", "lower", func(x *Result) *float64 { return x.AddedP99us }, func(q *Ratio) *float64 { return q.AddedP99 }, 1},
	{"RSS per idle session (KiB)", "lower", func(x *Result) *float64 { return x.RSSPerIdleBytes }, func(q *Ratio) *float64 { return q.RSSPerIdle }, 1.0 / 1024},
}

// WriteTable writes the report as an aligned text table: absolute figures
// per target, then the proxy's ratios to each baseline.
func (r *Report) WriteTable(w io.Writer) error {
	var b strings.Builder
	e, s := r.Env, r.Settings
	fmt.Fprintf(&b, "termgate bench proxy: loopback, %s, %d CPUs (GOMAXPROCS %d), %s %s/%s",
		orDash(e.CPUModel), e.NumCPU, e.GOMAXPROCS, e.GoVersion, e.OS, e.Arch)
	if e.HAProxy != "" {
		fmt.Fprintf(&b, ", %s", e.HAProxy)
	}
	if e.External != "" {
		fmt.Fprintf(&b, ", external proxy %s", e.External)
	}
	fmt.Fprintf(&b, "\nper target: bulk %s; set-up: %d concurrent clients, at most %d sessions or %gs; %d pings; %d idle sessions\n",
		sizeString(s.Bytes), s.Conns, s.SetupCount, s.SetupSeconds, s.Pings, s.Idle)
	if len(s.Curves) > 0 {
		fmt.Fprintf(&b, "client key-exchange groups: %s\n", strings.Join(s.Curves, ", "))
	}
	fmt.Fprintf(&b, "timed figures: %d rounds visiting the targets in turn; rates are the median round, latency percentiles over all round trips\n\n", s.Rounds)

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "metric")
	for _, x := range r.Results {
		fmt.Fprintf(tw, "\t%s", x.Target)
	}
	for _, q := range r.Ratios {
		fmt.Fprintf(tw, "\t%s", q.Name)
	}
	fmt.Fprint(tw, "\tbetter\n")
	for _, rw := range rows {
		fmt.Fprint(tw, rw.label)
		for i := range r.Results {
			v := rw.get(&r.Results[i])
			if v != nil {
				v = ptr(*v * rw.scale)
			}
			fmt.Fprintf(tw, "\t%s", num(v))
		}
		for i := range r.Ratios {
			fmt.Fprintf(tw, "\t%s", times(rw.ratio(&r.Ratios[i])))
		}
		fmt.Fprintf(tw, "\t%s\n", rw.better)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	b.WriteString("\n")
	for _, x := range r.Results {
		if x.TLS != nil {
			fmt.Fprintf(&b, "TLS %-9s %s, %s, %s\n", x.Target+":", x.TLS.Version, x.TLS.CipherSuite, x.TLS.Group)
		}
	}
	for _, x := range r.Results {
		if x.SetupErrors > 0 {
			fmt.Fprintf(&b, "set-up errors %s: %d of %d\n", x.Target, x.SetupErrors, x.SetupErrors+x.SetupConns)
		}
		if x.IdleSessions > 0 {
			fmt.Fprintf(&b, "RSS %-9s %s before, %s after %d idle sessions\n", x.Target+":",
				sizeString(x.RSSBeforeBytes), sizeString(x.RSSAfterBytes), x.IdleSessions)
		}
	}
	b.WriteString("Ratios are termgate divided by the baseline. Throughput and set-up rate: higher is better (above 1x the proxy wins).\n")
	b.WriteString("Latency and RSS: lower is better (below 1x the proxy wins). Added latency = round trip minus the direct one.\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func num(v *float64) string {
	switch {
	case v == nil:
		return "-"
	case *v >= 100 || *v <= -100:
		return fmt.Sprintf("%.0f", *v)
	case *v >= 10 || *v <= -10:
		return fmt.Sprintf("%.1f", *v)
	default:
		return fmt.Sprintf("%.2f", *v)
	}
}

func times(v *float64) string {
	if v == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.2fx", *v)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// sizeString prints a byte count in binary units.
func sizeString(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/termgate/termgate/emulator"
	"github.com/termgate/termgate/mgmt"
)

// loadConfig is one load run through HAProxy and the proxy nodes.
type loadConfig struct {
	Sessions int           // concurrent sessions
	Hold     time.Duration // how long every session stays open, echoing
	Interval time.Duration // between two echoes of one session (0: back to back)
	MinEchos int           // echoes per session at least
	Bin      string        // termgate binary of the nodes
	EchoHost string        // host:port of an echo host; "" starts one in process
	Waves    int           // how many times the whole load runs (0: once)
	// LBs and ProxyNodes size the System (see fdPlan); 0 means 1 and 2.
	LBs        int
	ProxyNodes int
	// Procs are more processes whose descriptors the figures report
	// (e.g. the echo host's), by label.
	Procs map[string]*Proc
}

// fdPlan is how a load run spreads its descriptors: a process may not hold
// more than RLIMIT_NOFILE (whose hard limit an unprivileged process cannot
// raise). Per session the test process holds one (its client connection),
// an HAProxy two (client side and node side) and a proxy node two (client
// side and host side).
type fdPlan struct {
	Limit      uint64 // RLIMIT_NOFILE in effect for this process and its children
	LBs        int    // HAProxy instances the sessions are split across
	ProxyNodes int
	MaxConn    int // each HAProxy's maxconn
}

// fdReserve is what a process needs besides its sessions' descriptors
// (listeners, health checks, peer links, log pipes...).
const fdReserve = 1024

// planFDs returns the fewest load balancers and proxy nodes (at least
// lbs and nodes) whose share of sessions fits limit, and HAProxy's maxconn
// (twice its share, as far as the limit allows: room for connections that
// are closing). It fails if the test process itself cannot hold sessions.
func planFDs(sessions int, limit uint64, lbs, nodes int) (fdPlan, error) {
	p := fdPlan{Limit: limit, LBs: max(lbs, 1), ProxyNodes: max(nodes, 2)}
	if limit < 2*fdReserve {
		return p, fmt.Errorf("RLIMIT_NOFILE %d is too low for a load run", limit)
	}
	if uint64(sessions+fdReserve) > limit {
		return p, fmt.Errorf("RLIMIT_NOFILE %d: the test process cannot hold %d client connections", limit, sessions)
	}
	perProc := int(limit-fdReserve) / 2 // sessions one HAProxy or one node can carry
	p.LBs = max(p.LBs, (sessions+perProc-1)/perProc)
	p.ProxyNodes = max(p.ProxyNodes, (sessions+perProc-1)/perProc)
	perLB := (sessions + p.LBs - 1) / p.LBs
	p.MaxConn = min(2*perLB+256, perProc)
	return p, nil
}

// loadFigures are what a run measured.
type loadFigures struct {
	Setup         time.Duration // launches + dials of every session
	Launch        time.Duration
	Dial          time.Duration
	Echoes        int64
	P50, P99, Max time.Duration
	Before, Peak  map[string]nodeSample // Peak: the highest seen while the sessions were open
	HoldEnd       map[string]nodeSample // the last sample while they were open (nil without a hold)
	After         map[string]nodeSample
	FDs           []procFDs // once every session is open
}

// procFDs is how many descriptors a process held, and its limit.
type procFDs struct {
	Label       string
	Open, Limit int
}

// countFDs reads /proc for the open descriptors and the soft
// RLIMIT_NOFILE of pid (Open is -1 where /proc does not tell).
func countFDs(label string, pid int) procFDs {
	p := procFDs{Label: label, Open: -1}
	if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
		p.Open = len(ents)
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid)); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(strings.TrimPrefix(line, "Max open files")); len(f) > 0 && strings.HasPrefix(line, "Max open files") {
				p.Limit, _ = strconv.Atoi(f[0])
			}
		}
	}
	return p
}

// systemFDs counts the descriptors of this process, every HAProxy, every
// proxy node and the extra processes.
func systemFDs(sys *System, extra map[string]*Proc) []procFDs {
	out := []procFDs{countFDs("test process", os.Getpid())}
	for i, lb := range sys.LBs {
		out = append(out, countFDs(fmt.Sprintf("haproxy-%d", i+1), lb.Cmd.Process.Pid))
	}
	for _, n := range sys.Nodes {
		out = append(out, countFDs(n.ID, n.Proc.Cmd.Process.Pid))
	}
	labels := slices.Sorted(maps.Keys(extra))
	for _, l := range labels {
		out = append(out, countFDs(l, extra[l].Cmd.Process.Pid))
	}
	return out
}

type nodeSample struct {
	Goroutines float64
	RSS        float64
	Active     int
}

func sampleNodes(t *testing.T, sys *System) map[string]nodeSample {
	t.Helper()
	out, err := trySampleNodes(sys)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func trySampleNodes(sys *System) (map[string]nodeSample, error) {
	out := map[string]nodeSample{}
	for _, n := range sys.Nodes {
		m, err := n.Metrics()
		if err != nil {
			return nil, fmt.Errorf("%s /metrics: %w", n.ID, err)
		}
		out[n.ID] = nodeSample{Goroutines: m["go_goroutines"], RSS: m["process_resident_memory_bytes"], Active: n.ActiveSessions()}
	}
	return out, nil
}

// samplePeaks samples the nodes every period until until or stop, and
// returns (on done) the highest goroutines and RSS seen, starting from
// first, and the last sample.
func samplePeaks(sys *System, first map[string]nodeSample, period time.Duration, until time.Time, stop <-chan struct{}) (done <-chan [2]map[string]nodeSample) {
	out := make(chan [2]map[string]nodeSample, 1)
	go func() {
		peak := maps.Clone(first)
		var last map[string]nodeSample
		tick := time.NewTicker(period)
		defer tick.Stop()
		for time.Now().Add(period).Before(until) {
			select {
			case <-stop:
				out <- [2]map[string]nodeSample{peak, last}
				return
			case <-tick.C:
			}
			now, err := trySampleNodes(sys)
			if err != nil {
				continue
			}
			last = now
			for id, x := range now {
				p := peak[id]
				p.Goroutines, p.RSS = max(p.Goroutines, x.Goroutines), max(p.RSS, x.RSS)
				peak[id] = p
			}
		}
		out <- [2]map[string]nodeSample{peak, last}
	}()
	return out
}

// runLoad opens cfg.Sessions tcp sessions through the load balancer (one
// login, launches from a bounded worker pool), keeps them all open while
// each echoes unique payloads and checks every byte, closes them, and
// checks that the proxy nodes return to their baseline of goroutines and
// memory.
func runLoad(t *testing.T, cfg loadConfig) []loadFigures {
	limit := raiseFileLimit(1 << 20) // as far as the hard limit goes
	plan, err := planFDs(cfg.Sessions, limit, cfg.LBs, cfg.ProxyNodes)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("RLIMIT_NOFILE %d: %d sessions over %d HAProxy (maxconn %d each) and %d proxy nodes",
		limit, cfg.Sessions, plan.LBs, plan.MaxConn, plan.ProxyNodes)
	sys := StartSystem(t, SystemConfig{Bin: cfg.Bin, MaxConn: plan.MaxConn, LBs: plan.LBs, ProxyNodes: plan.ProxyNodes,
		ProxyArgs: []string{"--max-sessions-per-user=-1", "--max-sessions", strconv.Itoa(cfg.Sessions + 1000), "--log-level", "warn"}})
	echoAddr := cfg.EchoHost
	if echoAddr == "" {
		echoAddr = StartEchoHost(t, "127.0.0.20").Addr
	}
	hh, hp := hostPort(t, echoAddr)
	sys.PutSession(t, "echo", mgmt.SessionDef{Protocol: "tcp", Host: hh, Port: hp, TokenTTLSeconds: 900})
	c := sys.User(t, "loader", []string{"echo"}, nil)

	ctx, cancel := context.WithTimeout(context.Background(), cfg.Hold+10*time.Minute)
	defer cancel()

	// Warm up (first TLS handshakes, pools), then take the baseline.
	for i := 0; i < 2*len(sys.Nodes); i++ {
		l, err := c.Launch(ctx, "echo", emulator.LaunchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		conn, err := emulator.Dial(ctx, l)
		if err != nil {
			t.Fatal(err)
		}
		echoOnce(conn, []byte("warm-up\n"), make([]byte, 8))
		conn.Close()
	}
	waitIdle(t, sys, 30*time.Second)
	before := sampleNodes(t, sys)
	var figs []loadFigures
	for w := 0; w < max(cfg.Waves, 1); w++ {
		f := runWave(ctx, t, sys, c, cfg)
		f.Before = before
		// The nodes return to their baseline once the sessions are gone.
		waitIdle(t, sys, 60*time.Second)
		f.After = settle(t, sys, before)
		figs = append(figs, f)
	}
	for w, f := range figs {
		for id, a := range f.After {
			b, p := before[id], f.Peak[id]
			if a.Goroutines > b.Goroutines+goroutineSlack {
				t.Errorf("wave %d, %s: %v goroutines after the load, %v before (peak %v): goroutines leaked", w+1, id, a.Goroutines, b.Goroutines, p.Goroutines)
			}
			if limit := b.RSS + rssSlack(b.RSS, p.RSS); a.RSS > limit {
				t.Errorf("wave %d, %s: RSS %.1f MiB after the load, %.1f MiB before, peak %.1f MiB: above the allowed %.1f MiB",
					w+1, id, a.RSS/(1<<20), b.RSS/(1<<20), p.RSS/(1<<20), limit/(1<<20))
			}
			if w == 0 {
				continue
			}
			// The same load again must not leave more memory behind: what
			// one wave left is reused by the next, unless it leaked.
			if prev := figs[w-1].After[id].RSS; a.RSS > prev+rssWaveSlack {
				t.Errorf("wave %d, %s: RSS %.1f MiB after, %.1f MiB after the previous wave: memory grows with every wave",
					w+1, id, a.RSS/(1<<20), prev/(1<<20))
			}
		}
	}
	return figs
}

// runWave launches and dials cfg.Sessions sessions, keeps them all open
// while each echoes, and closes them.
func runWave(ctx context.Context, t *testing.T, sys *System, c *emulator.Client, cfg loadConfig) loadFigures {
	t.Helper()
	var fig loadFigures

	// Launch every session: one login, a bounded pool of launches.
	start := time.Now()
	launches := make([]*emulator.Launch, cfg.Sessions)
	var next atomic.Int64
	var wg sync.WaitGroup
	var launchErr atomic.Value
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= cfg.Sessions || ctx.Err() != nil {
					return
				}
				l, err := c.Launch(ctx, "echo", emulator.LaunchOptions{})
				if err != nil {
					launchErr.CompareAndSwap(nil, fmt.Errorf("launch %d: %w", i, err))
					return
				}
				launches[i] = l
			}
		}()
	}
	wg.Wait()
	if err, _ := launchErr.Load().(error); err != nil {
		t.Fatal(err)
	}
	fig.Launch = time.Since(start)

	// Dial them all (at most 64 handshakes in flight), then every session
	// echoes while all are open. With several load balancers the sessions
	// take turns, as clients of a name with several addresses do.
	dialStart := time.Now()
	conns := make([]*emulator.Conn, cfg.Sessions)
	sem := make(chan struct{}, 64)
	var failed atomic.Int64
	var firstErr atomic.Value
	fail := func(err error) {
		failed.Add(1)
		firstErr.CompareAndSwap(nil, err)
	}
	for i := range launches {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			conn, err := emulator.Dial(ctx, sys.ViaLB(launches[i], i))
			if err != nil {
				fail(fmt.Errorf("session %d: dial: %w", i, err))
				return
			}
			conns[i] = conn
		}()
	}
	wg.Wait()
	fig.Dial = time.Since(dialStart)
	fig.Setup = time.Since(start)
	fig.Peak = sampleNodes(t, sys)
	fig.FDs = systemFDs(sys, cfg.Procs)
	peakActive := 0
	for _, s := range fig.Peak {
		peakActive += s.Active
	}
	if peakActive != cfg.Sessions-int(failed.Load()) {
		t.Errorf("nodes report %d active sessions, want %d", peakActive, cfg.Sessions-int(failed.Load()))
	}

	lat := make([][]time.Duration, cfg.Sessions)
	var echoes atomic.Int64
	holdUntil := time.Now().Add(cfg.Hold)
	// While they echo, the nodes are sampled every few seconds.
	stopSampling := make(chan struct{})
	sampled := samplePeaks(sys, fig.Peak, min(max(cfg.Hold/20, time.Second), 10*time.Second), holdUntil, stopSampling)
	for i, conn := range conns {
		if conn == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conn.Close()
			buf := make([]byte, 128)
			for round := 0; round < cfg.MinEchos || time.Now().Before(holdUntil); round++ {
				msg := []byte(fmt.Sprintf("session %06d round %06d %x\n", i, round, uint32(i*7919+round*104729)))
				t0 := time.Now()
				if err := echoOnce(conn, msg, buf); err != nil {
					fail(fmt.Errorf("session %d round %d: %w", i, round, err))
					return
				}
				lat[i] = append(lat[i], time.Since(t0))
				echoes.Add(1)
				if cfg.Interval > 0 {
					select {
					case <-time.After(cfg.Interval):
					case <-ctx.Done():
						fail(ctx.Err())
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(stopSampling)
	peaks := <-sampled
	fig.Peak, fig.HoldEnd = peaks[0], peaks[1]
	fig.Echoes = echoes.Load()
	if n := failed.Load(); n > 0 {
		t.Errorf("%d of %d sessions failed; first: %v", n, cfg.Sessions, firstErr.Load())
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	if len(all) > 0 {
		fig.P50, fig.P99, fig.Max = all[len(all)/2], all[len(all)*99/100], all[len(all)-1]
	}

	return fig
}

// settle samples the nodes until their goroutines are back near before (at
// most 30 s) and returns the last sample.
func settle(t *testing.T, sys *System, before map[string]nodeSample) map[string]nodeSample {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		after := sampleNodes(t, sys)
		ok := true
		for id, a := range after {
			if a.Goroutines > before[id].Goroutines+goroutineSlack {
				ok = false
			}
		}
		if ok || time.Now().After(deadline) {
			return after
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// rssWaveSlack is how much more resident memory a node may keep after a
// wave than after the wave before it.
const rssWaveSlack = 16 << 20

// goroutineSlack is how many more goroutines a node may have after a load
// than before it (idle HTTP keep-alive connections of the health checks,
// timers).
const goroutineSlack = 25

// rssSlack is how far above its baseline a node's resident memory may stay
// once the sessions are gone. The Go runtime frees heap only at the next
// garbage collection and hands it back to the kernel gradually, so an idle
// node keeps about its peak for minutes; it must not go on to grow beyond
// it. The wave-on-wave comparison (rssWaveSlack) is the sharper leak check.
func rssSlack(before, peak float64) float64 {
	return max(peak-before, 0) + 16<<20
}

// echoOnce writes msg and reads the same number of bytes back, comparing
// every byte.
func echoOnce(conn *emulator.Conn, msg, buf []byte) error {
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := conn.Write(msg); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	buf = buf[:len(msg)]
	if _, err := io.ReadFull(conn, buf); err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if !bytes.Equal(buf, msg) {
		return fmt.Errorf("corrupted echo: sent %q, got %q", msg, buf)
	}
	return nil
}

// waitIdle waits until no node reports an active session.
func waitIdle(t *testing.T, sys *System, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		busy := sys.activeByNode()
		total := 0
		for _, n := range busy {
			total += n
		}
		if total == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("sessions still active on the nodes after %v: %v", d, busy)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func logFigures(t *testing.T, cfg loadConfig, wave int, f loadFigures) {
	t.Logf("load wave %d: %d concurrent sessions through HAProxy → %d proxy nodes → echo host", wave, cfg.Sessions, len(f.Before))
	for _, p := range f.FDs {
		t.Logf("  %s: %d descriptors open with every session open, RLIMIT_NOFILE %d", p.Label, p.Open, p.Limit)
	}
	t.Logf("  setup %v (launch %v = %.0f/s, dial %v = %.0f/s)", f.Setup.Round(time.Millisecond),
		f.Launch.Round(time.Millisecond), float64(cfg.Sessions)/f.Launch.Seconds(),
		f.Dial.Round(time.Millisecond), float64(cfg.Sessions)/f.Dial.Seconds())
	t.Logf("  %d echoes checked; latency p50 %v, p99 %v, max %v", f.Echoes, f.P50, f.P99, f.Max)
	ids := make([]string, 0, len(f.Before))
	for id := range f.Before {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		b, p, a := f.Before[id], f.Peak[id], f.After[id]
		t.Logf("  %s: goroutines %v → peak %v → %v; RSS %.1f → peak %.1f → %.1f MiB; sessions at peak %d",
			id, b.Goroutines, p.Goroutines, a.Goroutines, b.RSS/(1<<20), p.RSS/(1<<20), a.RSS/(1<<20), p.Active)
		if e, ok := f.HoldEnd[id]; ok {
			t.Logf("  %s: at the end of the hold: goroutines %v, RSS %.1f MiB", id, e.Goroutines, e.RSS/(1<<20))
		}
	}
}

// TestSystemLoad holds 2,000 concurrent interactive sessions through
// HAProxy and two proxy nodes: no session fails, every echoed byte is
// checked, and the nodes return to their baseline afterwards. The nodes run
// a binary built without the race detector (see PlainBinary); the test
// process itself is whatever go test built.
func TestSystemLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test: not with -short")
	}
	cfg := loadConfig{Sessions: 2000, MinEchos: 5, Waves: 2, Bin: PlainBinary(t)}
	for i, f := range runLoad(t, cfg) {
		logFigures(t, cfg, i+1, f)
	}
}

// TestSoak is `make soak`: 10,000 concurrent sessions for 10 minutes, each
// echoing every 3 seconds. It runs only with TERMGATE_SOAK=1;
// TERMGATE_SOAK_SESSIONS and TERMGATE_SOAK_DURATION (a Go duration) change
// the count and the hold time.
//
// No process may hold more descriptors than its RLIMIT_NOFILE, whose hard
// limit (20,000 on the reference machine) an unprivileged process cannot
// raise, and one HAProxy holds two per session: 10,000 sessions do not fit
// one. The run is laid out as a deployment that outgrows one load balancer
// is: several HAProxy instances (a name with one address per load
// balancer), each in front of every proxy node, with the clients spread
// over them; planFDs chooses how many load balancers and nodes the limit
// asks for, and the figures show each process's descriptors at the peak.
// The echo host runs in a child process, with descriptors of its own.
func TestSoak(t *testing.T) {
	if os.Getenv("TERMGATE_SOAK") != "1" {
		t.Skip("soak test: runs with TERMGATE_SOAK=1 (make soak)")
	}
	sessions := 10000
	hold := 10 * time.Minute
	if v := os.Getenv("TERMGATE_SOAK_SESSIONS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("TERMGATE_SOAK_SESSIONS=%q: want a positive number", v)
		}
		sessions = n
	}
	if v := os.Getenv("TERMGATE_SOAK_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("TERMGATE_SOAK_DURATION=%q: want a positive Go duration", v)
		}
		hold = d
	}
	echo, echoProc := startEchoHostProcess(t, "127.0.0.20")
	cfg := loadConfig{Sessions: sessions, Hold: hold, Interval: 3 * time.Second, MinEchos: 3, Bin: PlainBinary(t),
		EchoHost: echo, Procs: map[string]*Proc{"echo host": echoProc}}
	for i, f := range runLoad(t, cfg) {
		logFigures(t, cfg, i+1, f)
	}
}

// startEchoHostProcess runs the echo host in a child process (this test
// binary, TestEchoHostProcess), so that its descriptors do not count
// against this process's limit.
func startEchoHostProcess(t *testing.T, ip string) (string, *Proc) {
	t.Helper()
	addr := FreeAddr(t, ip)
	p := Start(t, "echo host", []string{"TERMGATE_ECHO_HOST_ADDR=" + addr}, os.Args[0],
		"-test.run=^TestEchoHostProcess$", "-test.timeout=0", "-test.count=1")
	p.WaitLine(t, "echo host listening", 30*time.Second)
	return addr, p
}

// TestEchoHostProcess is not a test: it is the child process of
// startEchoHostProcess, an echo host that serves until it is killed. Run
// without TERMGATE_ECHO_HOST_ADDR it returns at once.
func TestEchoHostProcess(t *testing.T) {
	addr := os.Getenv("TERMGATE_ECHO_HOST_ADDR")
	if addr == "" {
		return
	}
	raiseFileLimit(1 << 20)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("echo host listening on", ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go func() { echoConn(c); c.Close() }()
	}
}

// TestSystemLoadPlan checks how planFDs spreads sessions over processes
// for a descriptor limit.
func TestSystemLoadPlan(t *testing.T) {
	for _, tc := range []struct {
		sessions        int
		limit           uint64
		lbs, nodes, max int
		wantErr         bool
	}{
		{sessions: 2000, limit: 20000, lbs: 1, nodes: 2, max: 4256},  // the CI load test: as before
		{sessions: 10000, limit: 20000, lbs: 2, nodes: 2, max: 9488}, // the soak: two HAProxy
		{sessions: 7000, limit: 8192, lbs: 2, nodes: 2, max: 3584},
		{sessions: 2000, limit: 4096, lbs: 2, nodes: 2, max: 1536},
		{sessions: 19500, limit: 20000, wantErr: true}, // the test process's own connections
		{sessions: 10, limit: 1000, wantErr: true},
	} {
		p, err := planFDs(tc.sessions, tc.limit, 0, 0)
		if tc.wantErr {
			if err == nil {
				t.Errorf("planFDs(%d, %d) = %+v, want an error", tc.sessions, tc.limit, p)
			}
			continue
		}
		if err != nil || p.LBs != tc.lbs || p.ProxyNodes != tc.nodes || p.MaxConn != tc.max {
			t.Errorf("planFDs(%d, %d) = %+v, %v; want %d LBs, %d nodes, maxconn %d", tc.sessions, tc.limit, p, err, tc.lbs, tc.nodes, tc.max)
			continue
		}
		// Every process's share fits the limit with the reserve to spare.
		perLB := (tc.sessions + p.LBs - 1) / p.LBs
		perNode := (tc.sessions + p.ProxyNodes - 1) / p.ProxyNodes
		for what, need := range map[string]int{"HAProxy": 2 * perLB, "proxy node": 2 * perNode, "test process": tc.sessions} {
			if uint64(need+fdReserve) > tc.limit {
				t.Errorf("planFDs(%d, %d): a %s needs %d descriptors", tc.sessions, tc.limit, what, need+fdReserve)
			}
		}
		if p.MaxConn < perLB {
			t.Errorf("planFDs(%d, %d): maxconn %d below the %d sessions of one HAProxy", tc.sessions, tc.limit, p.MaxConn, perLB)
		}
	}
	if p, err := planFDs(100, 20000, 3, 4); err != nil || p.LBs != 3 || p.ProxyNodes != 4 {
		t.Errorf("planFDs with a floor of 3 LBs and 4 nodes = %+v, %v", p, err)
	}
}

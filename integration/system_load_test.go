package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
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
}

// loadFigures are what a run measured.
type loadFigures struct {
	Setup         time.Duration // launches + dials of every session
	Launch        time.Duration
	Dial          time.Duration
	Echoes        int64
	P50, P99, Max time.Duration
	Before, Peak  map[string]nodeSample
	After         map[string]nodeSample
}

type nodeSample struct {
	Goroutines float64
	RSS        float64
	Active     int
}

func sampleNodes(t *testing.T, sys *System) map[string]nodeSample {
	t.Helper()
	out := map[string]nodeSample{}
	for _, n := range sys.Nodes {
		m, err := n.Metrics()
		if err != nil {
			t.Fatalf("%s /metrics: %v", n.ID, err)
		}
		out[n.ID] = nodeSample{Goroutines: m["go_goroutines"], RSS: m["process_resident_memory_bytes"], Active: n.ActiveSessions()}
	}
	return out
}

// runLoad opens cfg.Sessions tcp sessions through the load balancer (one
// login, launches from a bounded worker pool), keeps them all open while
// each echoes unique payloads and checks every byte, closes them, and
// checks that the proxy nodes return to their baseline of goroutines and
// memory.
func runLoad(t *testing.T, cfg loadConfig) []loadFigures {
	fdWant := uint64(2*cfg.Sessions + 2048)
	if got := raiseFileLimit(fdWant); got < fdWant {
		t.Fatalf("RLIMIT_NOFILE is %d, the run needs about %d (ulimit -n)", got, fdWant)
	}
	sys := StartSystem(t, SystemConfig{Bin: cfg.Bin, MaxConn: 2*cfg.Sessions + 256,
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
	// echoes while all are open.
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
			conn, err := emulator.Dial(ctx, launches[i])
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
// echoing every few seconds. It runs only with TERMGATE_SOAK=1.
func TestSoak(t *testing.T) {
	if os.Getenv("TERMGATE_SOAK") != "1" {
		t.Skip("soak test: runs with TERMGATE_SOAK=1 (make soak)")
	}
	sessions := 10000
	hold := 10 * time.Minute
	if v, err := strconv.Atoi(os.Getenv("TERMGATE_SOAK_SESSIONS")); err == nil && v > 0 {
		sessions = v
	}
	if v, err := time.ParseDuration(os.Getenv("TERMGATE_SOAK_DURATION")); err == nil && v > 0 {
		hold = v
	}
	// HAProxy holds two descriptors per session, and it cannot go past
	// the hard RLIMIT_NOFILE this process inherited.
	var limit uint64 = raiseFileLimit(uint64(2*sessions + 2048))
	if fit := int(limit-512) / 2; fit < sessions {
		t.Logf("RLIMIT_NOFILE %d fits %d sessions through HAProxy, not %d: running %d (raise the hard limit for the full run)",
			limit, fit, sessions, fit)
		sessions = fit
	}
	echo := startEchoHostProcess(t, "127.0.0.20")
	cfg := loadConfig{Sessions: sessions, Hold: hold, Interval: 3 * time.Second, MinEchos: 3, Bin: PlainBinary(t), EchoHost: echo}
	for i, f := range runLoad(t, cfg) {
		logFigures(t, cfg, i+1, f)
	}
}

// startEchoHostProcess runs the echo host in a child process (this test
// binary, TestEchoHostProcess), so that its descriptors do not count
// against this process's limit.
func startEchoHostProcess(t *testing.T, ip string) string {
	t.Helper()
	addr := FreeAddr(t, ip)
	p := Start(t, "echo host", []string{"TERMGATE_ECHO_HOST_ADDR=" + addr}, os.Args[0],
		"-test.run=^TestEchoHostProcess$", "-test.timeout=0", "-test.count=1")
	p.WaitLine(t, "echo host listening", 30*time.Second)
	return addr
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
		go func() { io.Copy(c, c); c.Close() }()
	}
}

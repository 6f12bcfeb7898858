package bench

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Run measures every target (direct, plain-go, haproxy when cfg.HAProxy
// is set, termgate) and returns the report. The memory measurement visits
// one target at a time; the timed ones run in cfg.Rounds rounds that visit
// every target in a rotated order. Run stops every process it started and
// removes its temporary directory before returning, also when ctx ends or
// a measurement fails.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.setDefaults()
	if err := cfg.check(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "termgate-bench-")
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(dir)
	m, err := newMaterial(dir)
	if err != nil {
		return nil, fmt.Errorf("bench: certificates: %w", err)
	}
	h, err := startHost()
	if err != nil {
		return nil, err
	}
	defer h.close()

	names := []string{TargetDirect, TargetPlainGo}
	if cfg.HAProxy != "" {
		names = append(names, TargetHAProxy)
	}
	names = append(names, TargetTermgate)
	var runs []*targetRun
	defer func() {
		for _, r := range runs {
			r.t.stop()
		}
	}()
	for _, name := range names {
		t, err := startTarget(ctx, &cfg, m, h.addr(), name)
		if err != nil {
			return nil, fmt.Errorf("bench: start %s: %w", name, err)
		}
		runs = append(runs, &targetRun{t: t, res: Result{Target: name}})
	}

	for _, r := range runs {
		if r.t.pid == 0 || cfg.Idle <= 0 {
			continue
		}
		cfg.Logger.Info().Str("target", r.t.name).Int("sessions", cfg.Idle).Msg("memory per idle session")
		idle, err := measureIdle(ctx, &cfg, r.t)
		if err != nil {
			return nil, r.fail("idle sessions", err)
		}
		r.res.IdleSessions, r.res.RSSBeforeBytes, r.res.RSSAfterBytes = idle.sessions, idle.before, idle.after
		r.res.RSSPerIdleBytes = ptr(float64(idle.after-idle.before) / float64(idle.sessions))
	}
	// Let the middle processes see the idle sessions close before timing them.
	if err := sleep(ctx, 500*time.Millisecond); err != nil {
		return nil, err
	}

	rounds := cfg.Rounds
	phases := []struct {
		name string
		run  func(*targetRun) error
	}{
		{"set-up rate", func(r *targetRun) error {
			cpu0, cpuErr := r.cpu()
			s, err := measureSetup(ctx, r.t, cfg.Conns, cfg.SetupCount/rounds, cfg.SetupTime/time.Duration(rounds), cfg.OpTimeout)
			r.setupRates = append(r.setupRates, s.rate())
			r.res.SetupConns += s.conns
			r.res.SetupErrors += s.errors
			if cpu1, err := r.cpu(); err == nil && cpuErr == nil {
				r.setupCPU += cpu1 - cpu0
			} else {
				r.noCPU = true
			}
			return err
		}},
		{"keystroke latency", func(r *targetRun) error {
			rtts, info, err := measureLatency(ctx, r.t, cfg.Pings/rounds, cfg.OpTimeout)
			r.rtts = append(r.rtts, rtts...)
			r.res.TLS = info
			return err
		}},
		{"bulk throughput", func(r *targetRun) error {
			b, err := measureBulk(ctx, r.t, cfg.Bytes/int64(rounds), cfg.OpTimeout)
			if err == nil {
				r.bulkRates = append(r.bulkRates, b.mbPerSec())
				r.res.BulkBytes += b.bytes
				r.res.BulkSeconds += b.elapsed.Seconds()
			}
			return err
		}},
	}
	for _, ph := range phases {
		cfg.Logger.Info().Int("rounds", rounds).Msg(ph.name)
		for round := range rounds {
			for i := range runs {
				r := runs[(i+round)%len(runs)]
				if err := ph.run(r); err != nil {
					return nil, r.fail(ph.name, err)
				}
				if err := r.t.alive(); err != nil {
					return nil, r.fail(ph.name, err)
				}
			}
		}
	}

	rep := &Report{Env: environment(ctx, &cfg), Settings: Settings{
		Rounds: rounds, Bytes: cfg.Bytes, Conns: cfg.Conns, SetupCount: cfg.SetupCount, SetupSeconds: cfg.SetupTime.Seconds(),
		Pings: cfg.Pings, Idle: max(cfg.Idle, 0), Curves: curveNames(cfg.Curves),
	}}
	for _, r := range runs {
		rep.Results = append(rep.Results, r.result())
	}
	rep.finish()
	return rep, nil
}

// targetRun collects the measurements of one target.
type targetRun struct {
	t          *target
	res        Result
	setupRates []float64
	rtts       []time.Duration
	bulkRates  []float64
	setupCPU   time.Duration // the middle process's CPU time over the set-up rounds
	noCPU      bool          // it could not be read (no middle process, or not on Linux)
}

func (r *targetRun) cpu() (time.Duration, error) {
	if r.t.pid == 0 {
		return 0, ErrUnsupported
	}
	return readCPU(r.t.pid)
}

func (r *targetRun) fail(phase string, err error) error {
	if dead := r.t.alive(); dead != nil {
		err = dead
	}
	return fmt.Errorf("bench: %s, %s: %w", r.t.name, phase, err)
}

// result is the median of the rounds' rates and the percentiles of every
// round trip of every round.
func (r *targetRun) result() Result {
	res := r.res
	res.SetupPerSec = median(r.setupRates)
	if !r.noCPU && res.SetupConns > 0 {
		res.SetupCPUus = ptr(micros(r.setupCPU) / float64(res.SetupConns))
	}
	res.ThroughputMBps = median(r.bulkRates)
	slices.Sort(r.rtts)
	res.RTTP50us, res.RTTP99us = micros(percentile(r.rtts, 0.50)), micros(percentile(r.rtts, 0.99))
	return res
}

func startTarget(ctx context.Context, cfg *Config, m *material, hostAddr, name string) (*target, error) {
	cfg.Logger.Info().Str("target", name).Msg("starting")
	switch {
	case name == TargetDirect:
		return directTarget(hostAddr), nil
	case name == TargetPlainGo:
		return startPlain(cfg, m, hostAddr)
	case name == TargetHAProxy:
		return startHAProxy(ctx, cfg, m, hostAddr)
	case cfg.External != nil:
		return externalTarget(cfg, hostAddr), nil
	default:
		return startTermgate(cfg, m, hostAddr)
	}
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func environment(ctx context.Context, cfg *Config) Env {
	e := Env{
		GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH,
		CPUModel: cpuModel(), NumCPU: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
	}
	if cfg.HAProxy != "" {
		// "HAProxy version 2.6.12-1+deb12u4 2026/10/17 - https://haproxy.org/"
		v := haproxyVersion(ctx, cfg.HAProxy)
		if f := strings.Fields(v); len(f) >= 3 && f[0] == "HAProxy" {
			v = strings.Join(f[:3], " ")
		}
		if v == "" {
			v = cfg.HAProxy
		}
		e.HAProxy = v
	}
	if cfg.External != nil {
		e.External = cfg.External.Addr
	}
	return e
}

func curveNames(cs []tls.CurveID) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.String())
	}
	return out
}

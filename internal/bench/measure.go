package bench

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"math"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// warmSessions are opened and closed before the memory baseline is read,
// so that lazily built state (TLS tables, pools) is not charged to the idle
// sessions.
const warmSessions = 16

// idleResult is the memory measurement of one target.
type idleResult struct {
	sessions      int
	before, after int64
}

// measureIdle reads the middle process's resident set size before and
// after opening cfg.Idle sessions that then stay idle.
func measureIdle(ctx context.Context, cfg *Config, t *target) (idleResult, error) {
	if err := t.mint(warmSessions + cfg.Idle); err != nil {
		return idleResult{}, err
	}
	for range warmSessions {
		c, err := t.open(ctx, cfg.OpTimeout)
		if err != nil {
			return idleResult{}, fmt.Errorf("warm-up session: %w", err)
		}
		c.Close()
	}
	if err := sleep(ctx, 300*time.Millisecond); err != nil {
		return idleResult{}, err
	}
	before, err := readRSS(t.pid)
	if err != nil {
		return idleResult{}, err
	}

	var (
		mu    sync.Mutex
		conns = make([]net.Conn, 0, cfg.Idle)
		first error
		next  atomic.Int64
		wg    sync.WaitGroup
	)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range cfg.Conns {
		wg.Go(func() {
			for next.Add(1) <= int64(cfg.Idle) && ctx.Err() == nil {
				c, err := t.open(ctx, cfg.OpTimeout)
				mu.Lock()
				if err != nil {
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
				conns = append(conns, c)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if first != nil {
		return idleResult{}, fmt.Errorf("idle session %d of %d: %w", len(conns)+1, cfg.Idle, first)
	}
	if err := ctx.Err(); err != nil {
		return idleResult{}, err
	}
	if err := sleep(ctx, cfg.Settle); err != nil {
		return idleResult{}, err
	}
	// Every session must still be there: one byte round trip on each.
	if err := pingAll(conns, cfg.OpTimeout); err != nil {
		return idleResult{}, err
	}
	after, err := readRSS(t.pid)
	if err != nil {
		return idleResult{}, err
	}
	return idleResult{sessions: len(conns), before: before, after: after}, nil
}

// pingAll sends one byte on every connection and reads it back.
func pingAll(conns []net.Conn, timeout time.Duration) error {
	var b [1]byte
	for i, c := range conns {
		c.SetDeadline(time.Now().Add(timeout))
		if err := roundTrip(c, b[:]); err != nil {
			return fmt.Errorf("idle session %d no longer answers: %w", i, err)
		}
	}
	return nil
}

func roundTrip(c net.Conn, b []byte) error {
	b[0] = 'k'
	if _, err := c.Write(b); err != nil {
		return err
	}
	if _, err := c.Read(b); err != nil {
		return err
	}
	if b[0] != 'k' {
		return fmt.Errorf("echoed %q, want %q", b[0], 'k')
	}
	return nil
}

// setupResult is one round of the set-up measurement of one target.
type setupResult struct {
	conns, errors int
	elapsed       time.Duration
}

func (r setupResult) rate() float64 { return float64(r.conns) / r.elapsed.Seconds() }

// maxSetupErrors ends the set-up measurement early: past it the figure
// would measure failures, not set-ups.
const maxSetupErrors = 20

// measureSetup opens and closes sessions with conns concurrent clients
// until count sessions or dur.
func measureSetup(ctx context.Context, t *target, conns, count int, dur, timeout time.Duration) (setupResult, error) {
	if err := t.mint(count); err != nil {
		return setupResult{}, err
	}
	var (
		issued, done, failed atomic.Int64
		mu                   sync.Mutex
		first                error
		wg                   sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(dur)
	for range conns {
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(deadline) && failed.Load() < maxSetupErrors {
				if issued.Add(1) > int64(count) {
					return
				}
				c, err := t.open(ctx, timeout)
				if err != nil {
					failed.Add(1)
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					continue
				}
				c.Close()
				done.Add(1)
			}
		})
	}
	wg.Wait()
	res := setupResult{conns: int(done.Load()), errors: int(failed.Load()), elapsed: time.Since(start)}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if res.conns == 0 || res.errors >= maxSetupErrors {
		return res, fmt.Errorf("set-up: %d of %d connections failed, the first with: %w", res.errors, res.errors+res.conns, first)
	}
	return res, nil
}

const warmPings = 50

// measureLatency times pings one-byte round trips over one session and
// returns them with what TLS negotiated.
func measureLatency(ctx context.Context, t *target, pings int, timeout time.Duration) ([]time.Duration, *TLSInfo, error) {
	if err := t.mint(1); err != nil {
		return nil, nil, err
	}
	c, err := t.open(ctx, timeout)
	if err != nil {
		return nil, nil, err
	}
	defer c.Close()
	var b [1]byte
	rtts := make([]time.Duration, 0, pings)
	for i := range warmPings + pings {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, nil, err
			}
		}
		c.SetDeadline(time.Now().Add(timeout))
		t0 := time.Now()
		if err := roundTrip(c, b[:]); err != nil {
			return nil, nil, fmt.Errorf("round trip %d: %w", i, err)
		}
		if i >= warmPings {
			rtts = append(rtts, time.Since(t0))
		}
	}
	return rtts, tlsInfo(c), nil
}

// percentile is the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// median is the median of xs (the mean of the middle two for an even count).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func tlsInfo(c net.Conn) *TLSInfo {
	if bc, ok := c.(*bufferedConn); ok {
		c = bc.Conn
	}
	tc, ok := c.(*tls.Conn)
	if !ok {
		return nil
	}
	cs := tc.ConnectionState()
	return &TLSInfo{Version: tls.VersionName(cs.Version), CipherSuite: tls.CipherSuiteName(cs.CipherSuite), Group: cs.CurveID.String()}
}

// bulkChunk is the size of one write of the bulk transfer.
const bulkChunk = 256 << 10

// bulkResult is one round of the throughput measurement of one target.
type bulkResult struct {
	bytes   int64
	elapsed time.Duration
}

func (r bulkResult) mbPerSec() float64 { return float64(r.bytes) / r.elapsed.Seconds() / 1e6 }

// measureBulk sends n bytes to the host's sink over one session, after a
// warm-up transfer, and times it until the host acknowledges the last byte.
func measureBulk(ctx context.Context, t *target, n int64, timeout time.Duration) (bulkResult, error) {
	if err := t.mint(1); err != nil {
		return bulkResult{}, err
	}
	c, err := t.dial(ctx, timeout)
	if err != nil {
		return bulkResult{}, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	buf := make([]byte, bulkChunk)
	for i := range buf {
		buf[i] = byte(i*7 + i>>8)
	}
	if err := sinkTransfer(c, buf, max(1, min(n/8, 32<<20)), timeout); err != nil {
		return bulkResult{}, fmt.Errorf("warm-up transfer: %w", err)
	}
	start := time.Now()
	if err := sinkTransfer(c, buf, n, timeout); err != nil {
		if ctx.Err() != nil {
			return bulkResult{}, ctx.Err()
		}
		return bulkResult{}, err
	}
	return bulkResult{bytes: n, elapsed: time.Since(start)}, nil
}

// sinkTransfer runs one sink command of n bytes.
func sinkTransfer(c net.Conn, buf []byte, n int64, timeout time.Duration) error {
	var hdr [9]byte
	hdr[0] = cmdSink
	binary.BigEndian.PutUint64(hdr[1:], uint64(n))
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write(hdr[:]); err != nil {
		return err
	}
	for left := n; left > 0; {
		k := min(left, int64(len(buf)))
		c.SetWriteDeadline(time.Now().Add(timeout))
		if _, err := c.Write(buf[:k]); err != nil {
			return fmt.Errorf("bulk write with %d bytes left: %w", left, err)
		}
		left -= k
	}
	c.SetReadDeadline(time.Now().Add(timeout))
	var ack [1]byte
	if _, err := c.Read(ack[:]); err != nil {
		return fmt.Errorf("bulk acknowledgement: %w", err)
	}
	if ack[0] != ackSink {
		return fmt.Errorf("bulk acknowledgement %q, want %q", ack[0], ackSink)
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

package proxy

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxTrackedAddrs bounds the failed-authorization limiter's memory.
const maxTrackedAddrs = 100_000

// failLimiter is a token bucket of failed authorizations per client address.
// It is safe for concurrent use.
type failLimiter struct {
	mu    sync.Mutex
	m     map[netip.Addr]*rate.Limiter
	r     rate.Limit
	burst int
}

func newFailLimiter(perSecond float64, burst int) *failLimiter {
	return &failLimiter{m: map[netip.Addr]*rate.Limiter{}, r: rate.Limit(perSecond), burst: burst}
}

// blocked reports whether addr used up its failures.
func (f *failLimiter) blocked(addr netip.Addr, now time.Time) bool {
	f.mu.Lock()
	l := f.m[addr]
	f.mu.Unlock()
	return l != nil && l.TokensAt(now) < 1
}

// fail records one failed authorization from addr.
func (f *failLimiter) fail(addr netip.Addr, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.m[addr]
	if l == nil {
		if len(f.m) >= maxTrackedAddrs {
			f.sweepLocked(now)
			if len(f.m) >= maxTrackedAddrs {
				return
			}
		}
		l = rate.NewLimiter(f.r, f.burst)
		f.m[addr] = l
	}
	l.AllowN(now, 1)
}

// sweep forgets addresses whose bucket is full again.
func (f *failLimiter) sweep(now time.Time) {
	f.mu.Lock()
	f.sweepLocked(now)
	f.mu.Unlock()
}

func (f *failLimiter) sweepLocked(now time.Time) {
	for a, l := range f.m {
		if l.TokensAt(now) >= float64(f.burst) {
			delete(f.m, a)
		}
	}
}

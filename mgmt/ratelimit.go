package mgmt

import (
	"fmt"
	"math"
	"sync"
	"time"
)

// LockoutPolicy limits password guessing. After MaxFailures failed logins in
// a row for one user name (or MaxAddrFailures from one client address) the
// key is locked for Lockout, doubling with every further lock up to
// MaxLockout. A success resets the user's counter. Failures older than
// Window are forgotten. Locked attempts are refused before the password is
// checked, with 429 and Retry-After. The zero value means the defaults.
type LockoutPolicy struct {
	MaxFailures     int           // per user name; 0 means 5
	MaxAddrFailures int           // per client address; 0 means 20
	Window          time.Duration // 0 means 15 min
	Lockout         time.Duration // first lock; 0 means 1 min
	MaxLockout      time.Duration // 0 means 15 min
}

func (p LockoutPolicy) withDefaults() LockoutPolicy {
	if p.MaxFailures <= 0 {
		p.MaxFailures = 5
	}
	if p.MaxAddrFailures <= 0 {
		p.MaxAddrFailures = 20
	}
	if p.Window <= 0 {
		p.Window = 15 * time.Minute
	}
	if p.Lockout <= 0 {
		p.Lockout = time.Minute
	}
	if p.MaxLockout <= 0 {
		p.MaxLockout = 15 * time.Minute
	}
	return p
}

// RateLimitError says how long to wait.
type RateLimitError struct {
	Retry time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("too many failed attempts; retry in %d s", e.retrySeconds())
}

func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }

func (e *RateLimitError) retrySeconds() int {
	s := int(math.Ceil(e.Retry.Seconds()))
	if s < 1 {
		s = 1
	}
	return s
}

type failState struct {
	failures int
	last     time.Time
	locks    int
	until    time.Time
}

// limiter tracks failures per key ("user:NAME", "addr:IP"). It is safe for
// concurrent use and bounded in size.
type limiter struct {
	mu     sync.Mutex
	policy LockoutPolicy
	now    func() time.Time
	m      map[string]*failState
}

const maxLimiterKeys = 100_000

func newLimiter(p LockoutPolicy, now func() time.Time) *limiter {
	return &limiter{policy: p.withDefaults(), now: now, m: map[string]*failState{}}
}

// check returns a *RateLimitError if any key is locked.
func (l *limiter) check(keys ...string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	var wait time.Duration
	for _, k := range keys {
		if st := l.m[k]; st != nil && now.Before(st.until) {
			wait = max(wait, st.until.Sub(now))
		}
	}
	if wait > 0 {
		return &RateLimitError{Retry: wait}
	}
	return nil
}

// fail records a failure for each key with its threshold.
func (l *limiter) fail(key string, threshold int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	st := l.m[key]
	if st == nil {
		if len(l.m) >= maxLimiterKeys {
			l.pruneLocked(now)
		}
		st = &failState{}
		l.m[key] = st
	}
	if now.Sub(st.last) > l.policy.Window {
		st.failures = 0
	}
	st.failures++
	st.last = now
	if st.failures >= threshold {
		d := l.policy.Lockout << min(st.locks, 16)
		if d > l.policy.MaxLockout || d <= 0 {
			d = l.policy.MaxLockout
		}
		st.until = now.Add(d)
		st.locks++
		st.failures = 0
	}
}

func (l *limiter) reset(key string) {
	l.mu.Lock()
	delete(l.m, key)
	l.mu.Unlock()
}

// pruneLocked drops entries that are neither locked nor recent.
func (l *limiter) pruneLocked(now time.Time) {
	for k, st := range l.m {
		if now.After(st.until) && now.Sub(st.last) > l.policy.Window {
			delete(l.m, k)
		}
	}
	if len(l.m) >= maxLimiterKeys { // under attack from many keys: forget the oldest half arbitrarily
		i := 0
		for k := range l.m {
			if i%2 == 0 {
				delete(l.m, k)
			}
			i++
		}
	}
}

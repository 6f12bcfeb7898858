package token

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// DefaultReplayCacheSize is the capacity of a ReplayCache made with max 0.
const DefaultReplayCacheSize = 1_000_000

// ReplayCache is a node-local ReplayChecker: a bounded set of used jti
// values, each kept until the expiry it was recorded with (the Verifier
// passes exp + leeway, after which it refuses the token anyway).
//
// When the cache is full, it first drops expired entries and then evicts the
// entry that expires soonest: of all remembered tokens, that one has the
// least validity left, so the replay window eviction opens is the shortest
// possible. Evictions counts how often that happened; a non-zero value means
// the cache is too small for the token rate times the token lifetime.
//
// Check and Len cost O(log n). A ReplayCache is safe for concurrent use.
type ReplayCache struct {
	mu        sync.Mutex
	max       int
	now       func() time.Time
	byJTI     map[string]*replayEntry
	queue     replayQueue // min-heap by expiry
	evictions uint64
}

type replayEntry struct {
	jti     string
	expires time.Time
}

// NewReplayCache returns a cache that remembers at most max jti values
// (0 means DefaultReplayCacheSize).
func NewReplayCache(max int) *ReplayCache {
	if max <= 0 {
		max = DefaultReplayCacheSize
	}
	return &ReplayCache{max: max, now: time.Now, byJTI: make(map[string]*replayEntry)}
}

// Check records jti as used until expires. It returns an error wrapping
// ErrReplayed if jti was recorded before and has not expired. A jti whose
// expires has already passed is not recorded (its token is refused
// anyway). ctx is not used: the check never waits.
func (c *ReplayCache) Check(_ context.Context, jti string, expires time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	c.expireLocked(now)
	if _, ok := c.byJTI[jti]; ok {
		return ErrReplayed
	}
	if !expires.After(now) {
		return nil
	}
	if len(c.queue) >= c.max {
		e := heap.Pop(&c.queue).(*replayEntry)
		delete(c.byJTI, e.jti)
		c.evictions++
	}
	e := &replayEntry{jti: jti, expires: expires}
	heap.Push(&c.queue, e)
	c.byJTI[jti] = e
	return nil
}

// expireLocked drops the entries whose expiry has passed; c.mu must be held.
func (c *ReplayCache) expireLocked(now time.Time) {
	for len(c.queue) > 0 && !c.queue[0].expires.After(now) {
		e := heap.Pop(&c.queue).(*replayEntry)
		delete(c.byJTI, e.jti)
	}
}

// Len is the number of jti values remembered (expired ones are dropped first).
func (c *ReplayCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expireLocked(c.now())
	return len(c.queue)
}

// Evictions is how many unexpired entries were dropped because the cache was full.
func (c *ReplayCache) Evictions() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.evictions
}

// replayQueue is a container/heap of entries ordered by expiry.
type replayQueue []*replayEntry

func (q replayQueue) Len() int           { return len(q) }
func (q replayQueue) Less(i, j int) bool { return q[i].expires.Before(q[j].expires) }
func (q replayQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *replayQueue) Push(x any)        { *q = append(*q, x.(*replayEntry)) }
func (q *replayQueue) Pop() any {
	old := *q
	n := len(old)
	e := old[n-1]
	old[n-1] = nil
	*q = old[:n-1]
	return e
}

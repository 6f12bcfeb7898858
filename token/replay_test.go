package token

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestReplayCache(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	c := NewReplayCache(3)
	c.now = func() time.Time { return now }
	ctx := context.Background()
	check := func(jti string, ttl time.Duration) error { return c.Check(ctx, jti, now.Add(ttl)) }

	if err := check("a", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := check("a", 10*time.Second); !errors.Is(err, ErrReplayed) {
		t.Fatalf("second use = %v, want ErrReplayed", err)
	}
	if CodeOf(check("a", time.Second)) != CodeReplayed {
		t.Fatal("CodeOf(replay) != token_replayed")
	}
	// Already expired: nothing to remember.
	if err := check("old", -time.Second); err != nil || c.Len() != 1 {
		t.Fatalf("expired jti: %v, Len %d", err, c.Len())
	}
	// Entries live until their expiry, not a moment longer.
	now = now.Add(10*time.Second - time.Nanosecond)
	if err := check("a", time.Second); !errors.Is(err, ErrReplayed) {
		t.Fatalf("just before expiry: %v", err)
	}
	now = now.Add(time.Nanosecond)
	if c.Len() != 0 {
		t.Fatalf("Len after expiry = %d", c.Len())
	}
	if err := check("a", 10*time.Second); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
}

func TestReplayCacheEvictsSoonestExpiring(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	c := NewReplayCache(3)
	c.now = func() time.Time { return now }
	ctx := context.Background()
	for jti, ttl := range map[string]time.Duration{"long": time.Hour, "short": time.Minute, "mid": 30 * time.Minute} {
		if err := c.Check(ctx, jti, now.Add(ttl)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Check(ctx, "new", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if c.Len() != 3 || c.Evictions() != 1 {
		t.Fatalf("Len %d, Evictions %d; want 3, 1", c.Len(), c.Evictions())
	}
	for _, jti := range []string{"long", "mid", "new"} {
		if err := c.Check(ctx, jti, now.Add(time.Hour)); !errors.Is(err, ErrReplayed) {
			t.Errorf("%s forgotten: %v", jti, err)
		}
	}
	if err := c.Check(ctx, "short", now.Add(time.Minute)); err != nil {
		t.Errorf("the soonest-expiring entry was not the one evicted: %v", err)
	}
}

func TestReplayCacheConcurrent(t *testing.T) {
	c := NewReplayCache(0)
	exp := time.Now().Add(time.Minute)
	const workers, jtis = 8, 200
	var accepted atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < jtis; i++ {
				if c.Check(context.Background(), fmt.Sprint("jti-", i), exp) == nil {
					accepted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if accepted.Load() != jtis || c.Len() != jtis {
		t.Fatalf("accepted %d, Len %d; want each of %d jti exactly once", accepted.Load(), c.Len(), jtis)
	}
}

func TestNewReplayCacheDefault(t *testing.T) {
	if c := NewReplayCache(0); c.max != DefaultReplayCacheSize {
		t.Fatalf("max = %d", c.max)
	}
}

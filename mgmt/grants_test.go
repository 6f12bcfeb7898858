package mgmt

import (
	"context"
	"testing"
	"time"
)

func TestDestinationPatterns(t *testing.T) {
	cases := []struct {
		pattern, dst string
		want         bool
	}{
		{"db2.example.com:23", "db2.example.com:23", true},
		{"DB2.Example.com.:23", "db2.example.com:23", true},
		{"db2.example.com:23", "db2.example.com:24", false},
		{"db2.example.com:*", "db2.example.com:992", true},
		{"*.example.com:23", "a.b.example.com:23", true},
		{"*.example.com:23", "example.com:23", false},
		{"*.example.com:23", "badexample.com:23", false},
		{"10.0.0.0/8:22", "10.200.0.1:22", true},
		{"10.0.0.0/8:22", "11.0.0.1:22", false},
		{"10.0.0.0/8:22", "ten.example.com:22", false},
		{"192.0.2.7:1000-2000", "192.0.2.7:1500", true},
		{"192.0.2.7:1000-2000", "192.0.2.7:2001", false},
		{"[2001:db8::/32]:22", "[2001:db8::1]:22", true},
		{"2001:db8::/32:22", "[2001:db8:1::1]:22", true},
		{"::1:22", "[::1]:22", true},
		{"*:*", "anything.example:1", true},
		{"*:*", "[::1]:65535", true},
	}
	for _, c := range cases {
		if got := destinationsAllow([]string{c.pattern}, c.dst); got != c.want {
			t.Errorf("%q allows %q = %v, want %v", c.pattern, c.dst, got, c.want)
		}
	}
	for _, bad := range []string{"", "host", "host:", ":22", "host:0", "host:65536", "host:2-1", "host:a", "bad host:22", "*.:22", "10.0.0.0/33:22", "[fe80::1%eth0]:22"} {
		if _, err := parseDestPattern(bad); err == nil {
			t.Errorf("pattern %q accepted", bad)
		}
	}
}

func TestPasswordHashing(t *testing.T) {
	h := newHasher(PasswordParams{}, 2)
	if h.params != (PasswordParams{Time: 2, MemoryKiB: 19456, Threads: 1}) {
		t.Fatalf("default argon2id parameters %+v", h.params)
	}
	ctx := context.Background()
	phc, err := h.hash(ctx, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := h.verify(ctx, "correct horse", phc); !ok || err != nil {
		t.Fatalf("verify right password: %v %v", ok, err)
	}
	if ok, _ := h.verify(ctx, "correct horsE", phc); ok {
		t.Fatal("wrong password verified")
	}
	// a hash made with other parameters still verifies (they travel in the PHC string)
	cheap := newHasher(testPassword, 1)
	phc2, _ := cheap.hash(ctx, "pw")
	if ok, _ := h.verify(ctx, "pw", phc2); !ok {
		t.Fatal("hash with other parameters did not verify")
	}
	// bounded concurrency: a full semaphore makes a caller wait, then give up
	full := newHasher(testPassword, 1)
	full.sem <- struct{}{}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := full.verify(cctx, "pw", phc2); err == nil {
		t.Fatal("verify ran beyond the concurrency bound")
	}
}

func TestLimiterBackoff(t *testing.T) {
	clk := newFakeClock()
	l := newLimiter(LockoutPolicy{MaxFailures: 2, Lockout: time.Minute, MaxLockout: 3 * time.Minute}, clk.Now)
	for i, want := range []time.Duration{time.Minute, 2 * time.Minute, 3 * time.Minute, 3 * time.Minute} {
		l.fail("k", 2)
		l.fail("k", 2)
		err := l.check("k")
		re, ok := err.(*RateLimitError)
		if !ok || re.Retry != want {
			t.Fatalf("lock %d: %v, want %v", i, err, want)
		}
		clk.Advance(want)
		if err := l.check("k"); err != nil {
			t.Fatalf("still locked after %v", want)
		}
	}
	l.reset("k")
	l.fail("k", 2)
	if l.check("k") != nil {
		t.Fatal("one failure after reset locked")
	}
}

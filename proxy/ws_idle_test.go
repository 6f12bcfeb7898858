package proxy

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/termgate/termgate/token"
)

// ourGoroutines counts the goroutines running termgate code other than
// this package's test helpers.
func ourGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "github.com/termgate/termgate/") && !strings.Contains(g, "_test.go") {
			count++
		}
	}
	return count
}

// TestWebSocketIdleGoroutines: an idle /ws session holds one goroutine (the
// read of the client's next message); the keepalive ping is a timer.
func TestWebSocketIdleGoroutines(t *testing.T) {
	const first, more = 10, 20
	f := getFixture(t)
	echo := echoServer(t)
	s := startServer(t, func(c *Config) { c.WebSocketPingInterval = time.Minute })
	open := func(n int) {
		for range n {
			wsEcho(t, s.Addr().String(), wsOpts{protocols: bearerProtocols(f.token(t, token.Request{Dst: echo}))})
		}
	}
	// settled counts once the sessions' first bursts have ended.
	settled := func(want int) int {
		n := ourGoroutines()
		for i := 0; i < 50 && n > want; i++ {
			time.Sleep(20 * time.Millisecond)
			n = ourGoroutines()
		}
		return n
	}
	// The difference between two counts leaves out what the node runs
	// anyway (listeners, the relay's poller).
	open(first)
	base := settled(0) // the full second: bursts that outlive the echo end meanwhile
	open(more)
	per := float64(settled(base+more)-base) / more
	t.Logf("%.2f goroutines per idle /ws session", per)
	if per > 1 {
		t.Errorf("%.2f goroutines per idle /ws session, want at most 1", per)
	}
}

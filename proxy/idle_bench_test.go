package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/termgate/termgate/pki"
	"github.com/termgate/termgate/token"
)

// BenchmarkIdleSessions measures what one idle CONNECT session costs the
// proxy: goroutine stacks, live heap after a forced collection, and
// goroutines, each the difference before and after idleSessions sessions
// divided by their number. The clients and the echo host run in a child
// process (this test binary re-executed), so that only the proxy's memory
// is in this process. The measurement runs once whatever b.N is: run it
// with -benchtime=1x.
func BenchmarkIdleSessions(b *testing.B) {
	const idleSessions = 1000
	f := getFixture(b)
	s := benchProxy(b)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestIdleSessionClients$", "-test.v")
	cmd.Env = append(os.Environ(), "TERMGATE_IDLE_CLIENTS=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	lines := bufio.NewScanner(stdout)
	expect := func(prefix string) string {
		for lines.Scan() {
			if v, ok := strings.CutPrefix(lines.Text(), prefix); ok {
				return v
			}
		}
		b.Fatalf("child ended before %q: %v", prefix, lines.Err())
		return ""
	}
	host := expect("host ")
	tokFile := b.TempDir() + "/tokens"
	toks := make([]string, 0, idleSessions+warmSessions)
	for range idleSessions + warmSessions {
		toks = append(toks, f.token(b, token.Request{Dst: host}))
	}
	if err := os.WriteFile(tokFile, []byte(strings.Join(toks, "\n")), 0o600); err != nil {
		b.Fatal(err)
	}
	fmt.Fprintf(stdin, "warm %s %s %s %d\n", s.Addr(), f.caFile, tokFile, warmSessions)
	expect("done")
	before := idleMemory()
	fmt.Fprintf(stdin, "open %d\n", idleSessions)
	expect("done")
	time.Sleep(500 * time.Millisecond)
	after := idleMemory()
	if path := os.Getenv("TERMGATE_IDLE_HEAP_PROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			pprof.Lookup("heap").WriteTo(f, 0)
			f.Close()
		}
	}
	n := float64(idleSessions)
	b.ReportMetric(float64(after.stack-before.stack)/n, "stack-B/session")
	b.ReportMetric(float64(after.heap-before.heap)/n, "heap-B/session")
	b.ReportMetric(float64(after.goroutines-before.goroutines)/n, "goroutines/session")
	if after.rss > 0 {
		b.ReportMetric(float64(after.rss-before.rss)/n, "rss-B/session")
	}
	b.ReportMetric(0, "ns/op")
}

const warmSessions = 16

type idleMem struct {
	stack, heap, rss int64
	goroutines       int
}

// idleMemory reads the resident set size, then collects garbage and reads
// the live heap and the stacks.
func idleMemory() idleMem {
	m := idleMem{rss: selfRSS()}
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m.stack, m.heap, m.goroutines = int64(ms.StackInuse), int64(ms.HeapAlloc), runtime.NumGoroutine()
	return m
}

func selfRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// TestIdleSessionClients is the child process of BenchmarkIdleSessions: an
// echo host, and clients that open sessions through the proxy on command
// and keep them idle until stdin closes.
func TestIdleSessionClients(t *testing.T) {
	if os.Getenv("TERMGATE_IDLE_CLIENTS") != "1" {
		t.Skip("child process of BenchmarkIdleSessions")
	}
	host := echoServer(t)
	fmt.Printf("host %s\n", host)
	var (
		proxyAddr string
		conf      *tls.Config
		toks      []string
		held      []net.Conn
	)
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	open := func(n int, keep bool) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		next := make(chan string, n)
		for range n {
			next <- toks[0]
			toks = toks[1:]
		}
		close(next)
		for range 4 {
			wg.Go(func() {
				for tok := range next {
					c, err := idleClient(proxyAddr, conf, host, tok)
					if err != nil {
						t.Error(err)
						return
					}
					if !keep {
						c.Close()
						continue
					}
					mu.Lock()
					held = append(held, c)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		fmt.Println("done")
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		switch {
		case len(f) == 5 && f[0] == "warm":
			proxyAddr = f[1]
			ca, err := pki.OpenTrustStore(f[2])
			if err != nil {
				t.Fatal(err)
			}
			conf = &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"}
			b, err := os.ReadFile(f[3])
			if err != nil {
				t.Fatal(err)
			}
			toks = strings.Split(string(b), "\n")
			n, _ := strconv.Atoi(f[4])
			open(n, false)
		case len(f) == 2 && f[0] == "open":
			n, _ := strconv.Atoi(f[1])
			open(n, true)
		}
	}
}

// idleClient opens one session and echoes one byte through it.
func idleClient(addr string, conf *tls.Config, host, tok string) (net.Conn, error) {
	d := &tls.Dialer{Config: conf, NetDialer: &net.Dialer{Timeout: 5 * time.Second}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\nProxy-Authorization: Bearer %s\r\n\r\n", host, host, tok)
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil || !strings.Contains(line, " 200 ") {
		c.Close()
		return nil, fmt.Errorf("CONNECT: %q %v", line, err)
	}
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			c.Close()
			return nil, err
		}
		if l == "\r\n" {
			break
		}
	}
	one := []byte{'k'}
	if _, err := c.Write(one); err != nil {
		c.Close()
		return nil, err
	}
	if _, err := io.ReadFull(br, one); err != nil {
		c.Close()
		return nil, err
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

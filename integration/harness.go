package integration

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// Binary builds ./cmd/termgate once per test binary and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "termgate-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "termgate")
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Dir(filepath.Dir(file))
		cmd := exec.Command("go", "build", "-race", "-o", buildPath, "./cmd/termgate")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// Proc is a child process whose output is kept for inspection and for the
// failure report.
type Proc struct {
	Name string
	Cmd  *exec.Cmd

	mu    sync.Mutex
	out   bytes.Buffer
	lines []string
	cond  *sync.Cond
	done  chan struct{}
	err   error
}

// Start runs name with args; the process (and its process group) is killed
// at the end of the test, and its output is logged if the test failed.
func Start(t testing.TB, label string, env []string, name string, args ...string) *Proc {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &Proc{Name: label, Cmd: cmd, done: make(chan struct{})}
	p.cond = sync.NewCond(&p.mu)
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", label, err)
	}
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.out.WriteString(sc.Text() + "\n")
			p.lines = append(p.lines, sc.Text())
			p.cond.Broadcast()
			p.mu.Unlock()
		}
		io.Copy(io.Discard, pr) // past a line too long to scan: the process must not block on its output
	}()
	go func() {
		err := cmd.Wait()
		pw.Close()
		<-scanned // every line is in p.lines before the process counts as exited
		p.mu.Lock()
		p.err = err
		p.cond.Broadcast()
		p.mu.Unlock()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("---- output of %s ----\n%s", label, p.Output())
		}
	})
	return p
}

// Output returns everything the process printed so far.
func (p *Proc) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Wait waits for the process to end, at most d; it returns the exit error.
func (p *Proc) Wait(d time.Duration) (error, bool) {
	select {
	case <-p.done:
		return p.err, true
	case <-time.After(d):
		return nil, false
	}
}

// Signal sends sig to the process.
func (p *Proc) Signal(sig syscall.Signal) {
	if p.Cmd.Process != nil {
		p.Cmd.Process.Signal(sig)
	}
}

// Kill ends the whole process group and waits for it.
func (p *Proc) Kill() {
	if p.Cmd.Process == nil || p.Exited() {
		return
	}
	syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
	p.Wait(10 * time.Second)
}

// WaitLine waits until a line containing substr appears and returns it.
func (p *Proc) WaitLine(t testing.TB, substr string, d time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(d)
	timer := time.AfterFunc(d, func() { p.mu.Lock(); p.cond.Broadcast(); p.mu.Unlock() })
	defer timer.Stop()
	p.mu.Lock()
	seen := 0
	for {
		for ; seen < len(p.lines); seen++ {
			if strings.Contains(p.lines[seen], substr) {
				line := p.lines[seen]
				p.mu.Unlock()
				return line
			}
		}
		if p.Exited() && seen == len(p.lines) {
			p.mu.Unlock()
			t.Fatalf("%s exited (%v) before printing %q", p.Name, p.err, substr)
		}
		if time.Now().After(deadline) {
			p.mu.Unlock()
			t.Fatalf("%s did not print %q within %v", p.Name, substr, d)
		}
		p.cond.Wait()
	}
}

// FreePort returns a TCP port that is free on ip right now.
//
// The kernel may hand the same port out again once its listener is closed,
// so FreePort never returns a port it returned before in this process:
// two addresses of one node (listen and ops, say) must not collide.
func FreePort(t testing.TB, ip string) int {
	t.Helper()
	givenMu.Lock()
	defer givenMu.Unlock()
	for range 100 {
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Fatalf("free port on %s: %v", ip, err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		key := net.JoinHostPort(ip, fmt.Sprint(port))
		if !given[key] {
			given[key] = true
			return port
		}
	}
	t.Fatalf("no fresh free port on %s", ip)
	return 0
}

var (
	givenMu sync.Mutex
	given   = map[string]bool{} // "ip:port" that FreePort returned
)

// FreeAddr returns "ip:port" with a free port.
func FreeAddr(t testing.TB, ip string) string {
	return net.JoinHostPort(ip, fmt.Sprint(FreePort(t, ip)))
}

// WaitTCP waits until addr accepts TCP connections.
func WaitTCP(t testing.TB, addr string, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for {
		c, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s not listening after %v: %v", addr, d, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

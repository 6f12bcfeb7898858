package bench

import (
	"bytes"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"time"
)

// tailSize is how much of a child's output is kept for error messages.
const tailSize = 64 << 10

// tail keeps the last tailSize bytes written to it. It is safe for concurrent use.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - tailSize; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.TrimSpace(t.buf))
}

// child is a process the benchmark started, in its own process group.
type child struct {
	name    string
	cmd     *exec.Cmd
	out     *tail // stdout and stderr
	done    chan struct{}
	waitErr error
	stopped sync.Once
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// fail wraps err with the end of the child's output.
func (c *child) fail(err error) error {
	return &ChildError{Name: c.name, Err: err, Output: lastLines(c.out.String(), 20)}
}

// waitFor waits until the child's output matches re and returns the
// submatches; it fails when the child exits or timeout passes first.
func (c *child) waitFor(re *regexp.Regexp, timeout time.Duration) ([]string, error) {
	deadline := time.Now().Add(timeout)
	for {
		if m := re.FindStringSubmatch(c.out.String()); m != nil {
			return m, nil
		}
		select {
		case <-c.done:
			return nil, c.fail(fmt.Errorf("exited before it was ready: %v", c.waitErr))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, c.fail(fmt.Errorf("not ready after %v", timeout))
		}
	}
}

// alive reports an error if the child has exited.
func (c *child) alive() error {
	select {
	case <-c.done:
		return c.fail(fmt.Errorf("exited: %v", c.waitErr))
	default:
		return nil
	}
}

// stop ends the child's process group: SIGTERM, then SIGKILL after a grace
// period. It waits for the process and is idempotent.
func (c *child) stop() {
	c.stopped.Do(func() {
		pid := c.pid()
		signalGroup(pid, false)
		select {
		case <-c.done:
		case <-time.After(3 * time.Second):
		}
		signalGroup(pid, true) // whatever is left of the group
		<-c.done
	})
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

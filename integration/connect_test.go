package integration

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/termgate/termgate/internal/testpeer"
)

// paneWait bounds every wait on the terminal's screen.
const paneWait = 15 * time.Second

var tmuxServers atomic.Int64

// tmuxTerm is a tmux server with one detached window: a real terminal
// (a pseudo-terminal with an emulator behind it) that the test types into
// and reads the screen of.
type tmuxTerm struct {
	t    *testing.T
	bin  string
	name string
	env  []string
	last string // the last screen captured, for failure reports
}

// startTmux starts a private tmux server (own socket directory, no user
// configuration) running command in a cols x rows window. extraEnv goes
// into the server's environment, so into the window's, and never onto a
// command line.
func startTmux(t *testing.T, cols, rows int, extraEnv []string, command string) *tmuxTerm {
	t.Helper()
	bin := testpeer.Require(t, "tmux", "tmux")
	// A short directory keeps the socket path under the 108-byte limit.
	sockDir, err := os.MkdirTemp("", "tgtmux")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	conf := filepath.Join(sockDir, "tmux.conf")
	// No status bar: the window is exactly cols x rows. The window stays
	// after its command ends so its last screen can be read.
	confText := "set -g status off\nset -g remain-on-exit on\nset -g default-terminal tmux-256color\n" +
		"set -g default-shell /bin/sh\nset -g history-limit 100\n"
	if err := os.WriteFile(conf, []byte(confText), 0o600); err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TMUX=") && !strings.HasPrefix(kv, "TMUX_PANE=") && !strings.HasPrefix(kv, "TMUX_TMPDIR=") {
			env = append(env, kv)
		}
	}
	env = append(env, "TMUX_TMPDIR="+sockDir)
	tm := &tmuxTerm{t: t, bin: bin, env: env,
		name: fmt.Sprintf("tgconnect%d-%d", os.Getpid(), tmuxServers.Add(1))}

	cmd := exec.Command(bin, "-L", tm.name, "-f", conf, "new-session", "-d",
		"-x", strconv.Itoa(cols), "-y", strconv.Itoa(rows), command)
	cmd.Env = append(append([]string(nil), env...), extraEnv...)
	if out, err := runBounded(cmd); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(tm.run("display-message", "-p", "#{pid}")))
	if err != nil {
		t.Fatalf("tmux server pid: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("---- last screen of the terminal ----\n%s", tm.last)
		}
		if _, err := runBounded(tm.command("kill-server")); err != nil {
			t.Logf("tmux kill-server: %v", err)
		}
		// The server is a daemon: make sure it is gone.
		deadline := time.Now().Add(5 * time.Second)
		for syscall.Kill(pid, 0) == nil {
			if time.Now().After(deadline) {
				syscall.Kill(pid, syscall.SIGKILL)
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	return tm
}

func (tm *tmuxTerm) command(args ...string) *exec.Cmd {
	cmd := exec.Command(tm.bin, append([]string{"-L", tm.name}, args...)...)
	cmd.Env = tm.env
	return cmd
}

// run runs a tmux command against the server and returns its output.
func (tm *tmuxTerm) run(args ...string) string {
	tm.t.Helper()
	out, err := runBounded(tm.command(args...))
	if err != nil {
		tm.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// runBounded runs cmd and kills it if it takes more than 10 s.
func runBounded(cmd *exec.Cmd) ([]byte, error) {
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return []byte(out.String()), err
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
		return []byte(out.String()), errors.New("timed out after 10 s")
	}
}

// screen returns what the terminal shows now.
func (tm *tmuxTerm) screen() string {
	tm.t.Helper()
	tm.last = tm.run("capture-pane", "-p")
	return tm.last
}

// waitScreen polls the screen until ok accepts it, at most paneWait.
func (tm *tmuxTerm) waitScreen(what string, ok func(string) bool) string {
	tm.t.Helper()
	deadline := time.Now().Add(paneWait)
	for {
		s := tm.screen()
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("the terminal did not show %s within %v; screen:\n%s", what, paneWait, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitText waits until every one of texts is on the screen.
func (tm *tmuxTerm) waitText(texts ...string) string {
	tm.t.Helper()
	return tm.waitScreen(fmt.Sprintf("%q", texts), func(s string) bool {
		for _, x := range texts {
			if !strings.Contains(s, x) {
				return false
			}
		}
		return true
	})
}

// ttyModes returns the icanon and echo settings of the window's terminal,
// read from outside ("icanon echo" when cooked, "-icanon -echo" when raw).
func (tm *tmuxTerm) ttyModes(tty string) string {
	tm.t.Helper()
	out, err := runBounded(exec.Command("stty", "-a", "-F", tty))
	if err != nil {
		tm.t.Fatalf("stty -F %s: %v\n%s", tty, err, out)
	}
	var modes []string
	for _, f := range strings.FieldsFunc(string(out), func(r rune) bool { return r == ' ' || r == ';' || r == '\n' }) {
		if strings.TrimPrefix(f, "-") == "icanon" || strings.TrimPrefix(f, "-") == "echo" {
			modes = append(modes, f)
		}
	}
	return strings.Join(modes, " ")
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// TestConnectInTerminal runs `termgate connect` as a user does, in a real
// terminal: it shows the demo host's menu with the window's size and
// terminal type, passes keystrokes on in raw mode, passes a window resize
// on (SIGWINCH to NAWS), and on the host's goodbye exits 0 with the
// terminal back in cooked mode.
func TestConnectInTerminal(t *testing.T) {
	testpeer.Require(t, "tmux", "tmux")
	testpeer.Require(t, "stty", "coreutils")
	dir := t.TempDir()
	u := startUp(t, dir)
	bin := Binary(t)
	pw, err := os.ReadFile(filepath.Join(dir, "termgate-data", "admin-password"))
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(dir, "termgate-data", "ca.pem")

	// After connect ends, the shell reports its exit status and the
	// terminal modes it left behind.
	command := fmt.Sprintf("%s connect --mgmt %s --ca %s --user admin --session demo-vt; "+
		`echo "EXIT=$?"; echo "MODES=$(stty -a | tr ' ;' '\n\n' | grep -x -e '-*icanon' -e '-*echo' | tr '\n' ' ')"; sleep 60`,
		shellQuote(bin), shellQuote(u.MgmtURL), shellQuote(ca))
	tm := startTmux(t, 100, 30, []string{"TERMGATE_PASSWORD=" + strings.TrimSpace(string(pw))}, command)
	tty := strings.TrimSpace(tm.run("display-message", "-p", "#{pane_tty}"))

	// 1. The menu, drawn for the size and terminal type the host learned.
	s := tm.waitText("termgate demo host", "Select an option", "| 100x30 | tmux-256color")
	if strings.Contains(s, "EXIT=") {
		t.Fatalf("connect ended early; screen:\n%s", s)
	}
	if got := tm.ttyModes(tty); got != "-icanon -echo" {
		t.Errorf("terminal modes while connected = %q, want raw (-icanon -echo)", got)
	}

	// 2. Echo mode: the host upper-cases each line.
	tm.run("send-keys", "2")
	tm.waitText("Echo mode: type a line", " echo mode | 100x30 |")
	tm.run("send-keys", "hello", "Enter")
	s = tm.waitText("HELLO")
	if !strings.Contains(s, "hello  =>  HELLO") {
		t.Errorf("echo line not as expected; screen:\n%s", s)
	}

	// 3. A window resize reaches the host, which redraws for the new size.
	tm.run("resize-window", "-x", "120", "-y", "40")
	if got := strings.TrimSpace(tm.run("display-message", "-p", "#{pane_width}x#{pane_height}")); got != "120x40" {
		t.Fatalf("tmux window is %s after resize-window, want 120x40", got)
	}
	s = tm.waitText(" echo mode | 120x40 | tmux-256color")
	if lines := strings.Split(strings.TrimRight(s, "\n"), "\n"); len(lines) != 40 ||
		!strings.Contains(lines[39], "120x40") {
		t.Errorf("status line is not on row 40 of the resized screen:\n%s", s)
	}

	// 4. An empty line returns to the menu; q says goodbye and connect ends.
	tm.run("send-keys", "Enter")
	tm.waitText("Select an option", " termgate demo host | 120x40 | tmux-256color")
	tm.run("send-keys", "q")
	s = tm.waitText("Goodbye from the termgate demo host.", "EXIT=", "MODES=")
	if !strings.Contains(s, "Connection closed by the host.") {
		t.Errorf("connect did not report the host's close; screen:\n%s", s)
	}
	if !strings.Contains(s, "EXIT=0\n") {
		t.Errorf("termgate connect did not exit 0; screen:\n%s", s)
	}
	if !strings.Contains(s, "MODES=icanon echo\n") {
		t.Errorf("termgate connect did not restore the terminal (want MODES=icanon echo); screen:\n%s", s)
	}
	if got := tm.ttyModes(tty); got != "icanon echo" {
		t.Errorf("terminal modes after connect = %q, want icanon echo", got)
	}
}

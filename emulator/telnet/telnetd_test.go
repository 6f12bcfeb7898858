package telnet

import (
	"fmt"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/termgate/termgate/internal/testpeer"
)

// startTelnetd runs inetutils telnetd with args behind socat on a free
// loopback port and returns its address.
func startTelnetd(t *testing.T, args ...string) string {
	t.Helper()
	telnetd := testpeer.Require(t, "/usr/sbin/telnetd", "inetutils-telnetd")
	socat := testpeer.Require(t, "socat", "socat")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(socat,
		fmt.Sprintf("TCP-LISTEN:%s,bind=127.0.0.1,reuseaddr,fork", port),
		fmt.Sprintf("EXEC:%s %s,nofork", telnetd, strings.Join(args, " ")))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			// That probe connection made socat fork a telnetd; let it go.
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("telnetd on %s did not start: %v; socat: %s", addr, err, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestRealTelnetd(t *testing.T) {
	addr := startTelnetd(t, "-h", "-E", "/bin/sh")
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	c := NewConn(nc, Config{TerminalType: "xterm", Rows: 24, Cols: 80})
	defer c.Close()
	data := readClient(c)

	// The shell's first prompt arrives.
	first := collect(t, data, " ")
	if !strings.ContainsAny(first, "$#") {
		t.Errorf("first output %q has no shell prompt", first)
	}
	if !c.RemoteOption(OptEcho) {
		t.Error("telnetd did not enable ECHO")
	}
	if c.LocalOption(OptAuth) || c.LocalOption(OptEncrypt) || c.LocalOption(OptLinemode) {
		t.Error("an option that must be refused is enabled")
	}
	// Typed input echoes, and the shell runs it.
	if _, err := c.Write([]byte("echo termgate-$((6*7))\r")); err != nil {
		t.Fatal(err)
	}
	out := collect(t, data, "termgate-42\r\n")
	if !strings.Contains(out, "echo termgate-$((6*7))") {
		t.Errorf("typed input did not echo: %q", out)
	}
	// The window size reached the pty.
	if _, err := c.Write([]byte("stty size\r")); err != nil {
		t.Fatal(err)
	}
	collect(t, data, "24 80")
	if err := c.SetWindowSize(33, 99); err != nil {
		t.Fatal(err)
	}
	// telnetd applies NAWS before it passes on the data that follows it.
	if _, err := c.Write([]byte("stty size\r")); err != nil {
		t.Fatal(err)
	}
	collect(t, data, "33 99")
}

// TestRealTelnetdLogin checks that the default opening negotiation gets a
// real login prompt from telnetd (no -E), as common clients do.
func TestRealTelnetdLogin(t *testing.T) {
	addr := startTelnetd(t, "-h")
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	c := NewConn(nc, Config{})
	defer c.Close()
	collect(t, readClient(c), "login: ")
}

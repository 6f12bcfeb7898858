package tn3270_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/termgate/termgate/emulator/tn3270"
	"github.com/termgate/termgate/internal/testpeer"
)

// startHercules runs Hercules with two 3270 devices on a loopback console
// port; with no operating system loaded it shows its logo screen to every
// terminal that connects. It is killed at cleanup.
func startHercules(t *testing.T) string {
	t.Helper()
	bin := testpeer.Require(t, "hercules", "hercules")
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	port := addr[strings.LastIndexByte(addr, ':')+1:]
	cfg := fmt.Sprintf("CPUSERIAL 002623\nCPUMODEL 3090\nMAINSIZE 16\nXPNDSIZE 0\nCNSLPORT 127.0.0.1:%s\n"+
		"NUMCPU 1\nARCHMODE S/370\n00C0 3270\n00C1 3270\n", port)
	if err := os.WriteFile(filepath.Join(dir, "hercules.cnf"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	// Hercules exits when its standard input ends: give it a FIFO that we
	// hold open for writing.
	fifo := filepath.Join(dir, "stdin")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	stdin, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "hercules.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-d", "-f", "hercules.cnf")
	cmd.Dir, cmd.Stdin, cmd.Stdout, cmd.Stderr = dir, stdin, logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		stdin.Close()
		logf.Close()
	})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(logPath)
		if bytes.Contains(b, []byte("Waiting for console connection")) {
			return "127.0.0.1:" + port
		}
		time.Sleep(100 * time.Millisecond)
	}
	b, _ := os.ReadFile(logPath)
	t.Fatalf("hercules did not open its console port in 30 s; log:\n%s", b)
	return ""
}

// s3270Run runs an s3270 script (with extra arguments) and returns its
// stdout; the data blocks are split by s3270Screens.
func s3270Run(t *testing.T, script string, args ...string) string {
	t.Helper()
	bin := testpeer.Require(t, "s3270", "s3270")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin = strings.NewReader(script)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("s3270: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), stderr.String())
	}
	return out.String()
}

// s3270Screens returns the consecutive blocks of "data:" lines.
func s3270Screens(out string) [][]string {
	var screens [][]string
	var cur []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "data: "); ok || line == "data:" {
			cur = append(cur, rest)
			continue
		}
		if cur != nil {
			screens = append(screens, cur)
			cur = nil
		}
	}
	if cur != nil {
		screens = append(screens, cur)
	}
	return screens
}

func TestHerculesLogoMatchesS3270(t *testing.T) {
	addr := startHercules(t)
	out := s3270Run(t, "Connect("+addr+")\nWait(20,Output)\nAscii()\nQuery(ConnectionState)\nQuit()\n",
		"-model", "3279-2-E", "-codepage", "cp037")
	screens := s3270Screens(out)
	if len(screens) != 2 || len(screens[0]) != 24 {
		t.Fatalf("s3270 output:\n%s", out)
	}
	theirs := screens[0]
	if got := screens[1][0]; got != "connected-3270" {
		t.Errorf("s3270 state %q", got)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	term, err := tn3270.Open(ctx, conn, tn3270.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer term.Close()
	if term.Mode() != tn3270.ModeTN3270 {
		t.Errorf("mode %v; Hercules speaks plain TN3270", term.Mode())
	}
	if err := term.WaitForText(ctx, "MAINFRAME"); err != nil {
		t.Fatalf("%v\n%s", err, term.Text())
	}
	ours := term.Screen()
	text := strings.Join(ours, "\n")
	for _, s := range []string{"Hercules Version", "HHHHHHHHHHHHHHHH", "My PC thinks it's a MAINFRAME", "Roger Bowler"} {
		if !strings.Contains(text, s) {
			t.Errorf("our screen lacks %q", s)
		}
	}
	for i := range ours {
		if strings.Contains(theirs[i], "Device number") || strings.Contains(theirs[i], "Subchannel") {
			continue // each connection gets its own device
		}
		if strings.TrimRight(ours[i], " ") != strings.TrimRight(theirs[i], " ") {
			t.Errorf("row %d:\n ours  %q\n s3270 %q", i, ours[i], theirs[i])
		}
	}
	for _, f := range term.Fields() {
		if !f.Protected {
			t.Errorf("unprotected field on the logo screen: %+v", f)
		}
	}
}

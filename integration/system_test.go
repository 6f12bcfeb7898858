package integration

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	xssh "golang.org/x/crypto/ssh"

	"github.com/termgate/termgate/emulator"
	"github.com/termgate/termgate/emulator/ssh"
	"github.com/termgate/termgate/internal/demo/tn3270host"
	"github.com/termgate/termgate/mgmt"
	"github.com/termgate/termgate/pki"
)

// startTN3270Host runs the demo 3270 application in process on ip.
func startTN3270Host(t *testing.T, ip string) string {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	h := &tn3270host.Server{}
	done := make(chan struct{})
	go func() { defer close(done); h.Serve(context.Background(), ln) }()
	t.Cleanup(func() { h.Close(); <-done })
	return ln.Addr().String()
}

func hostPort(t *testing.T, addr string) (string, int) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return h, n
}

// TestSystemEndToEnd drives telnet (inetutils telnetd), SSH (OpenSSH sshd)
// and TN3270 (the demo 3270 host) sessions at the same time through HAProxy
// and two proxy nodes whose certificates name the load balancer, with
// tokens from the management server, all through the SDK.
func TestSystemEndToEnd(t *testing.T) {
	sys := StartSystem(t, SystemConfig{})

	telnetAddr := FreeAddr(t, "127.0.0.20")
	StartTelnetd(t, telnetAddr, "/bin/bash")
	sshd := StartSSHD(t, FreeAddr(t, "127.0.0.21"))
	tnAddr := startTN3270Host(t, "127.0.0.22")

	th, tp := hostPort(t, telnetAddr)
	sh, sp := hostPort(t, sshd.Addr)
	nh, np := hostPort(t, tnAddr)
	sys.PutSession(t, "shell-telnet", mgmt.SessionDef{Protocol: "telnet", Host: th, Port: tp,
		Terminal: mgmt.Terminal{Model: "xterm", Rows: 24, Cols: 80}})
	sys.PutSession(t, "shell-ssh", mgmt.SessionDef{Protocol: "ssh", Host: sh, Port: sp, HostKey: sshd.HostKeyPub,
		Terminal: mgmt.Terminal{Model: "xterm", Rows: 24, Cols: 80}})
	sys.PutSession(t, "bank-3270", mgmt.SessionDef{Protocol: "tn3270", Host: nh, Port: np,
		Terminal: mgmt.Terminal{Model: "IBM-3278-2-E", Rows: 24, Cols: 80, Codepage: "037"}})
	c := sys.User(t, "alice", []string{"shell-telnet", "shell-ssh", "bank-3270"}, nil)

	keyPEM, err := os.ReadFile(sshd.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := xssh.ParsePrivateKey(keyPEM)
	if err != nil {
		t.Fatal(err)
	}

	// The launch names the load balancer; the shipped trust store holds
	// both enrolled nodes' certificates, and both name the LB.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	l, err := c.Launch(ctx, "shell-telnet", emulator.LaunchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if l.Proxy.Address != sys.LBAddr || l.Proxy.ServerName != sys.LBName || !l.Proxy.VerifyServerIdentity {
		t.Errorf("launch proxy = %+v, want address %s, name %s, verify on", l.Proxy, sys.LBAddr, sys.LBName)
	}
	if got := l.Trust.Len(); got != len(sys.Nodes) {
		t.Errorf("shipped trust store has %d certificates, want %d (one per enrolled node)", got, len(sys.Nodes))
	}
	for _, cert := range l.Trust.Certificates() {
		if err := cert.VerifyHostname(sys.LBName); err != nil {
			t.Errorf("node certificate %q does not name the load balancer: %v", cert.Subject.CommonName, err)
		}
	}

	type result struct {
		name string
		err  error
	}
	results := make(chan result, 3)
	sessions := make(chan *emulator.Session, 3)
	var wg sync.WaitGroup
	run := func(name string, f func() (*emulator.Session, error)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := f()
			if s != nil {
				sessions <- s
			}
			results <- result{name, err}
		}()
	}
	run("telnet", func() (*emulator.Session, error) {
		s, err := emulator.Open(ctx, c, "shell-telnet", emulator.SessionOptions{})
		if err != nil {
			return nil, err
		}
		// bash behind telnetd: the typed line echoes, and its output proves
		// that the shell ran it (the digits are not in the input).
		if err := s.Type("echo tg-telnet-$((6*7))\r"); err != nil {
			return s, err
		}
		if err := s.WaitForText(ctx, "echo tg-telnet-$((6*7))"); err != nil {
			return s, errors.New("typed input did not echo: " + err.Error() + "\n" + s.String())
		}
		if err := s.WaitForText(ctx, "tg-telnet-42"); err != nil {
			return s, errors.New("command output missing: " + err.Error() + "\n" + s.String())
		}
		return s, nil
	})
	run("ssh", func() (*emulator.Session, error) {
		s, err := emulator.Open(ctx, c, "shell-ssh", emulator.SessionOptions{
			SSH: ssh.Config{User: sshd.User, Signers: []xssh.Signer{signer}}})
		if err != nil {
			return nil, err
		}
		if err := s.Type("echo tg-ssh-$((7*6))\r"); err != nil {
			return s, err
		}
		if err := s.WaitForText(ctx, "tg-ssh-42"); err != nil {
			return s, errors.New("command output missing: " + err.Error() + "\n" + s.String())
		}
		return s, nil
	})
	run("tn3270", func() (*emulator.Session, error) {
		s, err := emulator.Open(ctx, c, "bank-3270", emulator.SessionOptions{})
		if err != nil {
			return nil, err
		}
		if err := s.WaitForText(ctx, "TERMGATE DEMO 3270"); err != nil {
			return s, err
		}
		if err := s.WaitForUnlock(ctx); err != nil {
			return s, err
		}
		for _, step := range []func() error{
			func() error { return s.Type("alice") },
			func() error { return s.Press("Tab") },
			func() error { return s.Type("demo") },
			func() error { return s.Press("Enter") },
		} {
			if err := step(); err != nil {
				return s, err
			}
		}
		if err := s.WaitForText(ctx, "Signed on as ALICE"); err != nil {
			return s, errors.New("sign-on failed: " + err.Error() + "\n" + s.String())
		}
		return s, nil
	})
	wg.Wait()
	close(results)
	close(sessions)
	var open []*emulator.Session
	for s := range sessions {
		open = append(open, s)
	}
	for r := range results {
		if r.err != nil {
			t.Errorf("%s session: %v", r.name, r.err)
		}
	}
	// The three sessions are up at the same time, spread by round robin.
	active := sys.activeByNode()
	total, nodes := 0, 0
	for _, n := range active {
		total += n
		if n > 0 {
			nodes++
		}
	}
	if total != len(open) || nodes != len(sys.Nodes) {
		t.Errorf("active sessions by node %v: want %d in total on all %d nodes", active, len(open), len(sys.Nodes))
	}
	for _, s := range open {
		s.Close()
	}

	// Every node is correctly named: check-proxies passes.
	out, errOut, err := sys.Exec(t, "mgmt", "check-proxies", "--data", sys.Mgmt[0].Data, "--mgmt", sys.Mgmt[0].URL)
	if err != nil {
		t.Errorf("check-proxies: %v\n%s%s", err, out, errOut)
	}
	if strings.Count(out, "ok   ") != len(sys.Nodes) || strings.Contains(out, "FAIL") {
		t.Errorf("check-proxies output, want one ok line per node:\n%s", out)
	}
}

// TestSystemCheckProxiesNameMismatch enrolls a node whose certificate names
// its own address instead of the load balancer's: termgate mgmt
// check-proxies reports it and exits non-zero, and a client sent to that
// node refuses it with an error naming both names.
func TestSystemCheckProxiesNameMismatch(t *testing.T) {
	sys := StartSystem(t, SystemConfig{Specs: []ProxySpec{{}, {DNSNames: []string{"node2.internal.test"}, IPs: []string{"127.0.0.3"}}}})
	out, errOut, err := sys.Exec(t, "mgmt", "check-proxies", "--data", sys.Mgmt[0].Data, "--mgmt", sys.Mgmt[0].URL)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() == 0 {
		t.Fatalf("check-proxies with a misnamed node: err %v, want a non-zero exit\n%s%s", err, out, errOut)
	}
	var failLine string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "FAIL") {
			failLine = line
		}
	}
	if failLine == "" || !strings.Contains(failLine, sys.LBName) || !strings.Contains(failLine, "node2.internal.test") {
		t.Errorf("check-proxies output lacks a FAIL line naming %s and the node's name:\n%s", sys.LBName, out)
	}
	if !strings.Contains(out, "ok   ") {
		t.Errorf("check-proxies did not also report the correctly named node:\n%s", out)
	}

	// A client reaches the misnamed node on one of two round-robin dials.
	h := StartEchoHost(t, "127.0.0.20")
	hh, hp := hostPort(t, h.Addr)
	sys.PutSession(t, "echo", mgmt.SessionDef{Protocol: "tcp", Host: hh, Port: hp})
	c := sys.User(t, "bob", []string{"echo"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var nameErr *pki.NameMismatchError
	ok := 0
	for i := 0; i < 4; i++ {
		l, err := c.Launch(ctx, "echo", emulator.LaunchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		conn, err := emulator.Dial(ctx, l)
		if err == nil {
			ok++
			conn.Close()
			continue
		}
		if !errors.As(err, &nameErr) {
			t.Fatalf("dial: %v, want a *pki.NameMismatchError or success", err)
		}
	}
	if nameErr == nil || ok == 0 {
		t.Fatalf("4 dials: %d succeeded, name error %v; want both kinds", ok, nameErr)
	}
	if nameErr.Dialled != sys.LBName || !strings.Contains(nameErr.Error(), "node2.internal.test") {
		t.Errorf("name error %q: want it to name %s and the node's names", nameErr, sys.LBName)
	}
}

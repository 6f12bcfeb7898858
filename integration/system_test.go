package integration

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	xssh "golang.org/x/crypto/ssh"

	"github.com/termgate/termgate/emulator"
	"github.com/termgate/termgate/emulator/ssh"
	"github.com/termgate/termgate/ftpchan"
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

// TestSystemEndToEnd drives telnet (inetutils telnetd), SSH (OpenSSH
// sshd), TN3270 (the demo 3270 host) and FTP (vsftpd) sessions at the same
// time through HAProxy and two proxy nodes whose certificates name the load
// balancer, with tokens from the management server, all through the SDK.
// All four sessions are open before any of them works; then files go up
// and down over FTP (its data channels spread over both nodes by
// round-robin, the node without the session forwarding them to its owner)
// while the other three sessions keep typing and reading their screens.
func TestSystemEndToEnd(t *testing.T) {
	sys := StartSystem(t, SystemConfig{})

	telnetAddr := FreeAddr(t, "127.0.0.20")
	StartTelnetd(t, telnetAddr, "/bin/bash")
	sshd := StartSSHD(t, FreeAddr(t, "127.0.0.21"))
	tnAddr := startTN3270Host(t, "127.0.0.22")
	ftpd := startVsftpd(t, "127.0.0.23")

	th, tp := hostPort(t, telnetAddr)
	sh, sp := hostPort(t, sshd.Addr)
	nh, np := hostPort(t, tnAddr)
	fh, fp := hostPort(t, ftpd.Addr)
	sys.PutSession(t, "shell-telnet", mgmt.SessionDef{Protocol: "telnet", Host: th, Port: tp,
		Terminal: mgmt.Terminal{Model: "xterm", Rows: 24, Cols: 80}})
	sys.PutSession(t, "shell-ssh", mgmt.SessionDef{Protocol: "ssh", Host: sh, Port: sp, HostKey: sshd.HostKeyPub,
		Terminal: mgmt.Terminal{Model: "xterm", Rows: 24, Cols: 80}})
	sys.PutSession(t, "bank-3270", mgmt.SessionDef{Protocol: "tn3270", Host: nh, Port: np,
		Terminal: mgmt.Terminal{Model: "IBM-3278-2-E", Rows: 24, Cols: 80, Codepage: "037"}})
	sys.PutSession(t, "files", mgmt.SessionDef{Protocol: "ftp", Host: fh, Port: fp})
	c := sys.User(t, "alice", []string{"shell-telnet", "shell-ssh", "bank-3270", "files"}, nil)

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
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
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

	files := []fileSpec{
		{name: "empty.bin", size: 0, seed: 1},
		{name: "one.bin", size: 1, seed: 2},
		{name: "small.bin", size: 100 << 10, seed: 3},
		{name: "medium.bin", size: 1<<20 + 7, seed: 4},
		{name: "large.bin", size: 3 << 20, seed: 5},
	}

	// Every session goroutine arrives at opened once (opened or failed to
	// open); none works before start, which is closed once all have
	// arrived and the nodes' session counts are taken. The terminal
	// sessions keep working until ftpDone is closed.
	const kinds = 4
	const maxPasses = 10
	var opened sync.WaitGroup
	opened.Add(kinds)
	start := make(chan struct{})
	ftpDone := make(chan struct{})
	type result struct {
		name   string
		rounds int
		err    error
	}
	results := make(chan result, kinds)
	closers := make(chan io.Closer, kinds)
	var wg sync.WaitGroup
	// run opens a session with open, waits until every session is open and
	// then works with work, which returns how many rounds it did.
	run := func(name string, open func() (io.Closer, error), work func() (int, error)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sess, err := open()
			if sess != nil {
				closers <- sess
			}
			opened.Done()
			<-start
			if err != nil {
				results <- result{name: name, err: err}
				return
			}
			n, err := work()
			results <- result{name, n, err}
		}()
	}
	// untilFTPDone runs round (at least once) until the FTP transfers are
	// over, with a short pause between two rounds; done[k] counts the
	// rounds of terminal session k.
	var done [kinds - 1]atomic.Int64
	untilFTPDone := func(k int, round func(i int) error) (int, error) {
		for i := 0; ; i++ {
			if err := round(i); err != nil {
				return i, err
			}
			done[k].Add(1)
			select {
			case <-ftpDone:
				return i + 1, nil
			case <-ctx.Done():
				return i + 1, ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	}

	var telnet, sshS, tn *emulator.Session
	run("telnet", func() (io.Closer, error) {
		s, err := emulator.Open(ctx, c, "shell-telnet", emulator.SessionOptions{})
		telnet = s
		return closerOf(s), err
	}, func() (int, error) {
		// bash behind telnetd: the typed line echoes, and its output
		// proves that the shell ran it (the digits are not in the input).
		return untilFTPDone(0, func(i int) error {
			cmd := fmt.Sprintf("echo tg-telnet-$((6*7+%d))", i)
			if err := telnet.Type(cmd + "\r"); err != nil {
				return err
			}
			if err := telnet.WaitForText(ctx, cmd); err != nil {
				return fmt.Errorf("round %d: typed input did not echo: %w\n%s", i, err, telnet)
			}
			if err := telnet.WaitForText(ctx, fmt.Sprintf("tg-telnet-%d", 42+i)); err != nil {
				return fmt.Errorf("round %d: command output missing: %w\n%s", i, err, telnet)
			}
			return nil
		})
	})
	run("ssh", func() (io.Closer, error) {
		s, err := emulator.Open(ctx, c, "shell-ssh", emulator.SessionOptions{
			SSH: ssh.Config{User: sshd.User, Signers: []xssh.Signer{signer}}})
		sshS = s
		return closerOf(s), err
	}, func() (int, error) {
		return untilFTPDone(1, func(i int) error {
			if err := sshS.Type(fmt.Sprintf("echo tg-ssh-$((7*6+%d))\r", i)); err != nil {
				return err
			}
			if err := sshS.WaitForText(ctx, fmt.Sprintf("tg-ssh-%d", 42+i)); err != nil {
				return fmt.Errorf("round %d: command output missing: %w\n%s", i, err, sshS)
			}
			return nil
		})
	})
	run("tn3270", func() (io.Closer, error) {
		s, err := emulator.Open(ctx, c, "bank-3270", emulator.SessionOptions{})
		tn = s
		return closerOf(s), err
	}, func() (int, error) {
		if err := tn.WaitForText(ctx, "TERMGATE DEMO 3270"); err != nil {
			return 0, err
		}
		if err := keys3270(ctx, tn, "alice", "Tab", "demo", "Enter"); err != nil {
			return 0, err
		}
		if err := tn.WaitForText(ctx, "Signed on as ALICE"); err != nil {
			return 0, fmt.Errorf("sign-on failed: %w\n%s", err, tn)
		}
		// Back and forth between the menu and the account balances.
		return untilFTPDone(2, func(i int) error {
			if err := keys3270(ctx, tn, "1", "Enter"); err != nil {
				return err
			}
			if err := tn.WaitForText(ctx, "12,450.00"); err != nil {
				return fmt.Errorf("round %d: account balances missing: %w\n%s", i, err, tn)
			}
			if err := keys3270(ctx, tn, "PF3"); err != nil {
				return err
			}
			if err := tn.WaitForText(ctx, "Option ===>"); err != nil {
				return fmt.Errorf("round %d: menu missing: %w\n%s", i, err, tn)
			}
			return nil
		})
	})
	var fc *ftpchan.Client
	run("ftp", func() (io.Closer, error) {
		fl, err := c.Launch(ctx, "files", emulator.LaunchOptions{})
		if err != nil {
			close(ftpDone)
			return nil, err
		}
		fc, err = ftpchan.Dial(ctx, fl, ftpchan.ClientConfig{Timeout: 30 * time.Second})
		if err != nil {
			close(ftpDone)
			return nil, err
		}
		return fc, nil
	}, func() (int, error) {
		// Round trips until every terminal session has done two rounds
		// while the transfers went on (at most maxPasses).
		defer close(ftpDone)
		for pass := 1; ; pass++ {
			if err := ftpRoundTrip(fc, files); err != nil {
				return pass - 1, fmt.Errorf("pass %d: %w", pass, err)
			}
			busy := false
			for k := range done {
				busy = busy || done[k].Load() < 2
			}
			if !busy || pass == maxPasses {
				return pass, nil
			}
		}
	})
	opened.Wait()
	activeAtOpen := sys.activeByNode()
	close(start)
	wg.Wait()
	close(results)
	close(closers)
	rounds := map[string]int{}
	for r := range results {
		rounds[r.name] = r.rounds
		if r.err != nil {
			t.Errorf("%s session: %v", r.name, r.err)
		}
	}
	t.Logf("FTP passes (%d files up and down each): %d; terminal rounds meanwhile: telnet %d, ssh %d, tn3270 %d",
		len(files), rounds["ftp"], rounds["telnet"], rounds["ssh"], rounds["tn3270"])

	// All four sessions were up at the same time, on both nodes: a node
	// counts each terminal session, the FTP control channel and the FTP
	// notification channel (on the node the load balancer sent it to,
	// which forwards it to the owner if it is the other one).
	total, nodes := 0, 0
	for _, n := range activeAtOpen {
		total += n
		if n > 0 {
			nodes++
		}
	}
	if total != kinds+1 || nodes != len(sys.Nodes) {
		t.Errorf("active connections by node with every session open %v: want %d in total (3 terminal sessions, FTP control and notification) on all %d nodes",
			activeAtOpen, kinds+1, len(sys.Nodes))
	}
	// Both nodes carried the FTP data channels: the owner served every
	// transfer, and round-robin sent some to the other node, which
	// forwarded them.
	var served, forwarded, received float64
	for _, n := range sys.Nodes {
		served += nodeCounter(t, n, "termgate_ftp_channels_total", map[string]string{"kind": "ftp-data"})
		forwarded += nodeCounter(t, n, "termgate_proxy_ftp_forwards_total", map[string]string{"result": "ok"})
		received += nodeCounter(t, n, "termgate_proxy_ftp_forwards_received_total", nil)
	}
	if want := float64(2 * len(files) * rounds["ftp"]); served != want {
		t.Errorf("FTP data channels served = %v, want %v (one STOR and one RETR per file and pass)", served, want)
	}
	if forwarded == 0 || received != forwarded {
		t.Errorf("FTP channels forwarded %v, received %v: want some, each received by the owner", forwarded, received)
	}
	for cl := range closers {
		cl.Close()
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

// closerOf is s as an io.Closer, or nil for a nil session.
func closerOf(s *emulator.Session) io.Closer {
	if s == nil {
		return nil
	}
	return s
}

// keys3270 waits for the keyboard to unlock, then types each of keys: a
// 3270 key name is pressed, any other text typed into the current field.
func keys3270(ctx context.Context, s *emulator.Session, keys ...string) error {
	if err := s.WaitForUnlock(ctx); err != nil {
		return err
	}
	for _, k := range keys {
		var err error
		switch k {
		case "Tab", "Enter", "PF3", "Clear":
			err = s.Press(k)
		default:
			err = s.Type(k)
		}
		if err != nil {
			return fmt.Errorf("3270 key %q: %w", k, err)
		}
	}
	return nil
}

// ftpRoundTrip uploads files, downloads each one and compares its
// SHA-256 with what was uploaded.
func ftpRoundTrip(c *ftpchan.Client, files []fileSpec) error {
	for _, f := range files {
		if err := c.Stor(f.name, f.reader()); err != nil {
			return fmt.Errorf("STOR %s (%d bytes): %w", f.name, f.size, err)
		}
	}
	for _, f := range files {
		r, err := c.Retr(f.name)
		if err != nil {
			return fmt.Errorf("RETR %s: %w", f.name, err)
		}
		h := sha256.New()
		n, err := io.Copy(h, r)
		if cerr := r.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("RETR %s: %w after %d bytes", f.name, err, n)
		}
		if got, want := [32]byte(h.Sum(nil)), f.sum(); got != want || n != f.size {
			return fmt.Errorf("%s: downloaded %d bytes with SHA-256 %x, uploaded %d bytes with %x", f.name, n, got[:8], f.size, want[:8])
		}
	}
	return nil
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

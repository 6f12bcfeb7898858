package integration

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/termgate/termgate/emulator"
	"github.com/termgate/termgate/internal/testpeer"
	"github.com/termgate/termgate/mgmt"
	"github.com/termgate/termgate/pki"
	"github.com/termgate/termgate/proxy"
)

// echoSystem is a System with an in-process echo host, a tcp session
// definition "echo" and a user allowed to launch it.
func echoSystem(t *testing.T, cfg SystemConfig) (*System, *emulator.Client) {
	t.Helper()
	sys := StartSystem(t, cfg)
	h := StartEchoHost(t, "127.0.0.20")
	hh, hp := hostPort(t, h.Addr)
	sys.PutSession(t, "echo", mgmt.SessionDef{Protocol: "tcp", Host: hh, Port: hp})
	return sys, sys.User(t, "carol", []string{"echo"}, nil)
}

// openOn opens an echo session and returns it with the node that took it.
func openOn(ctx context.Context, t *testing.T, sys *System, c *emulator.Client) (*emulator.Session, *ProxyNode) {
	t.Helper()
	before := sys.activeByNode()
	s, err := emulator.Open(ctx, c, "echo", emulator.SessionOptions{})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	echo(ctx, t, s, "hello")
	for _, n := range sys.Nodes {
		if n.ActiveSessions() == before[n.ID]+1 {
			return s, n
		}
	}
	t.Fatalf("no node took the session: before %v, now %v", before, sys.activeByNode())
	return nil, nil
}

var echoSeq atomic.Int64

// echo types a unique line and waits for the echo host to send it back.
func echo(ctx context.Context, t *testing.T, s *emulator.Session, what string) {
	t.Helper()
	line := fmt.Sprintf("%s-%d", what, echoSeq.Add(1))
	if err := s.Type(line + "\r\n"); err != nil {
		t.Fatalf("type %q: %v", line, err)
	}
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := s.WaitForText(wctx, line); err != nil {
		t.Fatalf("echo of %q: %v\n%s", line, err, s)
	}
}

// TestSystemProxyKilled kills a proxy node with SIGKILL mid-session: its
// session ends with an error on the client, the session on the other node
// goes on, and Session.Reconnect resumes through the load balancer on the
// surviving node.
func TestSystemProxyKilled(t *testing.T) {
	sys, c := echoSystem(t, SystemConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s1, n1 := openOn(ctx, t, sys, c)
	s2, n2 := openOn(ctx, t, sys, c)
	if n1 == n2 {
		t.Fatalf("round robin put both sessions on %s", n1.ID)
	}

	n1.Proc.Kill() // SIGKILL to the process group, then wait
	select {
	case <-s1.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("the session on the killed node did not end within 15 s")
	}
	cause := s1.Err()
	if cause == nil {
		t.Fatal("the session on the killed node ended without an error")
	}
	t.Logf("client error when %s was killed: %v", n1.ID, cause)
	if strings.Contains(cause.Error(), "host closed") {
		t.Errorf("a killed proxy node reads as the host's end: %v", cause)
	}
	if err := s1.Type("x"); err == nil {
		t.Error("typing into the dead session succeeded")
	}
	echo(ctx, t, s2, "survivor")

	var info *emulator.ReconnectInfo
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if info, err = s1.Reconnect(ctx); err == nil {
			break
		}
		t.Logf("reconnect attempt %d: %v", attempt+1, err)
		time.Sleep(time.Second)
	}
	if err != nil {
		t.Fatalf("reconnect: %v", err)
	}
	if info.Cause == nil || info.Proxy != sys.LBAddr {
		t.Errorf("reconnect info %+v: want the cause of the loss and the load balancer's address", info)
	}
	echo(ctx, t, s1, "resumed")
	if got := n2.ActiveSessions(); got != 2 {
		t.Errorf("%s has %d active sessions after the reconnect, want 2", n2.ID, got)
	}
	sys.WaitLBStatus(t, n1.ID, "DOWN", 10*time.Second)
}

// TestSystemProxyDrain sends SIGTERM to a proxy node: /readyz turns false,
// HAProxy takes the node out of rotation so new sessions go to the other
// node, the node's open session keeps working until the drain deadline, and
// the process exits 0.
func TestSystemProxyDrain(t *testing.T) {
	const grace, timeout = 2 * time.Second, 8 * time.Second
	sys, c := echoSystem(t, SystemConfig{ProxyArgs: []string{"--drain-grace", grace.String(), "--drain-timeout", timeout.String()}})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s1, n1 := openOn(ctx, t, sys, c)
	_, n2 := openOn(ctx, t, sys, c)
	if n1 == n2 {
		t.Fatalf("round robin put both sessions on %s", n1.ID)
	}
	sys.WaitLBStatus(t, n1.ID, "UP", 10*time.Second)

	termAt := time.Now()
	n1.Proc.Signal(syscall.SIGTERM)
	var ended atomic.Int64
	go func() {
		<-s1.Done()
		ended.Store(int64(time.Since(termAt)))
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r, code, err := n1.Ready()
		if err == nil && code == 503 && r.Draining && !r.Ready {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s /readyz after SIGTERM: %d %+v %v, want 503 draining", n1.ID, code, r, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	sys.WaitLBStatus(t, n1.ID, "DOWN", 10*time.Second)

	// New sessions all go to the node that is not draining.
	before1, before2 := n1.ActiveSessions(), n2.ActiveSessions()
	for i := 0; i < 4; i++ {
		s, err := emulator.Open(ctx, c, "echo", emulator.SessionOptions{})
		if err != nil {
			t.Fatalf("open during drain: %v", err)
		}
		defer s.Close()
		echo(ctx, t, s, "during-drain")
	}
	if a1, a2 := n1.ActiveSessions(), n2.ActiveSessions(); a1 != before1 || a2 != before2+4 {
		t.Errorf("during the drain: %s %d→%d, %s %d→%d sessions; want every new one on %s",
			n1.ID, before1, a1, n2.ID, before2, a2, n2.ID)
	}

	// The draining node's session works until the deadline...
	echo(ctx, t, s1, "still-here")
	for time.Since(termAt) < grace+timeout-2*time.Second {
		if ended.Load() != 0 {
			t.Fatalf("the session on the draining node ended %v after SIGTERM, before the %v deadline", time.Duration(ended.Load()), grace+timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
	echo(ctx, t, s1, "before-deadline")
	// ...and the node exits cleanly once it has passed.
	err, done := n1.Proc.Wait(grace + timeout + 15*time.Second)
	if !done {
		t.Fatal("the draining node did not exit")
	}
	if err != nil {
		t.Errorf("the draining node exited with %v, want 0", err)
	}
	select {
	case <-s1.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the drained session did not end")
	}
	if at := time.Duration(ended.Load()); at < grace+timeout-time.Second {
		t.Errorf("the drained session ended %v after SIGTERM, before the deadline %v", at, grace+timeout)
	}
}

// inProcessNode is a management server and a proxy node in this process,
// with the management server's clock set by an offset that the test moves.
type inProcessNode struct {
	ms       *mgmt.Server
	ps       *proxy.Server
	offset   atomic.Int64 // nanoseconds added to the management server's clock
	trust    *pki.TrustStore
	proxyAdr string
	hostAddr string
	apiKey   string
	mgmtURL  string
	mgmtCA   string
}

func startInProcess(t *testing.T) *inProcessNode {
	t.Helper()
	n := &inProcessNode{}
	dir := t.TempDir()
	host := StartEchoHost(t, "127.0.0.40")
	n.hostAddr = host.Addr
	n.proxyAdr = FreeAddr(t, "127.0.0.41")

	ca, err := pki.NewCA(pki.CertSpec{CommonName: "skew test CA"})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue(pki.CertSpec{CommonName: "proxy-skew", DNSNames: []string{DefaultLBName}, Usage: pki.UsageServer})
	if err != nil {
		t.Fatal(err)
	}
	n.trust = pki.NewTrustStore()
	n.trust.Add("proxy-skew", cert.Cert)

	data := filepath.Join(dir, "mgmt")
	if _, err := mgmt.Init(data, mgmt.InitOptions{NodeID: "mgmt-skew", TLSNames: []string{"127.0.0.42"}}); err != nil {
		t.Fatal(err)
	}
	n.ms, err = mgmt.New(mgmt.Config{DataDir: data, Addr: FreeAddr(t, "127.0.0.42"), ProxyAddress: n.proxyAdr,
		ProxyServerName: DefaultLBName, Now: func() time.Time { return time.Now().Add(time.Duration(n.offset.Load())) }})
	if err != nil {
		t.Fatal(err)
	}
	mctx, mcancel := context.WithCancel(context.Background())
	mdone := make(chan struct{})
	go func() { defer close(mdone); n.ms.Serve(mctx) }()
	t.Cleanup(func() { mcancel(); n.ms.Close(); <-mdone })
	n.mgmtURL, n.mgmtCA = n.ms.URL(), filepath.Join(data, mgmt.CACertFile)

	signers, err := pki.ParseTrustStore(n.ms.MgmtSigners())
	if err != nil {
		t.Fatal(err)
	}
	tc := cert.TLSCertificate()
	n.ps, err = proxy.New(proxy.Config{Listen: n.proxyAdr, OpsListen: "-", Certificate: &tc, NodeID: "proxy-skew",
		MgmtTrust: signers, AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	if err != nil {
		t.Fatal(err)
	}
	pdone := make(chan struct{})
	go func() { defer close(pdone); n.ps.Serve(context.Background()) }()
	t.Cleanup(func() { n.ps.Close(); <-pdone })

	hh, _ := hostPort(t, host.Addr)
	_, key, err := n.ms.CreateAPIKey(mgmt.WithActor(context.Background(), "test"),
		mgmt.APIKeySpec{Name: "skew", Destinations: []string{hh + ":*"}})
	if err != nil {
		t.Fatal(err)
	}
	n.apiKey = key
	WaitTCP(t, strings.TrimPrefix(n.mgmtURL, "https://"), 10*time.Second)
	return n
}

// dial gets a token from the management server (through its HTTPS API,
// with an API key) and presents it to the proxy.
func (n *inProcessNode) dial(ctx context.Context, t *testing.T) (*emulator.Conn, error) {
	t.Helper()
	c, err := emulator.NewClient(n.mgmtURL, emulator.ClientOptions{CAFile: n.mgmtCA})
	if err != nil {
		t.Fatal(err)
	}
	c.UseToken(n.apiKey)
	hh, hp := hostPort(t, n.hostAddr)
	tok, err := c.Token(ctx, emulator.TokenRequest{Host: hh, Port: hp, Protocol: "tcp"})
	if err != nil {
		t.Fatalf("token: %v", err)
	}
	return emulator.DialProxy(ctx, emulator.DialOptions{ProxyAddr: n.proxyAdr, ServerName: DefaultLBName, Trust: n.trust,
		Token: tok.Token, ProofKey: tok.ProofKey, Target: n.hostAddr})
}

// TestSystemClockSkew runs a management server whose clock is off against
// the proxy's: 20 s either way is within the verifier's leeway, 5 minutes is
// refused, with an error that states the offset when the issuer is ahead and
// the expiry when it is behind; /readyz reports the observed offset either way.
func TestSystemClockSkew(t *testing.T) {
	n := startInProcess(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	offsetOf := func() float64 { return n.ps.Ready().ClockOffsets["mgmt-skew"] }

	for _, off := range []time.Duration{20 * time.Second, -20 * time.Second} {
		n.offset.Store(int64(off))
		conn, err := n.dial(ctx, t)
		if err != nil {
			t.Fatalf("management clock %v off: %v, want the session accepted", off, err)
		}
		if err := echoOnce(conn, []byte("skew ok\n"), make([]byte, 8)); err != nil {
			t.Errorf("management clock %v off: %v", off, err)
		}
		conn.Close()
		if got := offsetOf(); got < off.Seconds()-3 || got > off.Seconds()+3 {
			t.Errorf("management clock %v off: /readyz reports offset %v s", off, got)
		}
	}

	n.offset.Store(int64(5 * time.Minute))
	_, err := n.dial(ctx, t)
	var pe *emulator.ProxyError
	if !errors.Is(err, emulator.ErrTokenNotYetValid) || !errors.As(err, &pe) {
		t.Fatalf("management clock 5 min ahead: %v, want token_not_yet_valid", err)
	}
	m := regexp.MustCompile(`ahead by (\d+) s`).FindStringSubmatch(pe.Reason)
	if m == nil {
		t.Fatalf("refusal %q does not state the offset", pe.Reason)
	}
	if s, _ := strconv.Atoi(m[1]); s < 295 || s > 305 {
		t.Errorf("refusal states an offset of %d s, want about 300: %q", s, pe.Reason)
	}
	t.Logf("5 min ahead: %v", err)

	n.offset.Store(int64(-5 * time.Minute))
	_, err = n.dial(ctx, t)
	if !errors.Is(err, emulator.ErrTokenExpired) || !errors.As(err, &pe) {
		t.Fatalf("management clock 5 min behind: %v, want token_expired", err)
	}
	m = regexp.MustCompile(`behind by (\d+) s`).FindStringSubmatch(pe.Reason)
	if m == nil {
		t.Fatalf("refusal %q does not state the offset", pe.Reason)
	}
	if s, _ := strconv.Atoi(m[1]); s < 295 || s > 305 {
		t.Errorf("refusal states an offset of %d s, want about 300: %q", s, pe.Reason)
	}
	if got := offsetOf(); got < -305 || got > -295 {
		t.Errorf("management clock 5 min behind: /readyz reports offset %v s, want about -300", got)
	}
	t.Logf("5 min behind: %v", err)
}

// TestSystemMgmtDiskFull runs termgate mgmt with its data directory on a
// 2 MiB tmpfs, fills the file system, and checks that admin writes fail
// with a server error that names the disk, that the store survives intact
// (every acknowledged write is there after a restart), and that writes work
// again once space returns.
func TestSystemMgmtDiskFull(t *testing.T) {
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt).CombinedOutput(); err != nil {
		msg := fmt.Sprintf("cannot mount a small tmpfs (needs root or CAP_SYS_ADMIN): %v %s", err, strings.TrimSpace(string(out)))
		if testpeer.InCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })

	bin := Binary(t)
	data := filepath.Join(mnt, "mgmt")
	addr := FreeAddr(t, "127.0.0.50")
	dtls := freeUDPAddr(t, "127.0.0.50")
	sys := &System{Bin: bin}
	sys.Run(t, "mgmt", "init", "--data", data, "--node-id", "mgmt-disk", "--tls-name", "127.0.0.50")
	serve := func() *Proc {
		p := Start(t, "mgmt-disk", nil, bin, "mgmt", "serve", "--data", data, "--addr", addr, "--dtls-addr", dtls,
			"--proxy-address", "127.0.0.9:443", "--log-format", "json")
		p.WaitLine(t, "ready", 60*time.Second)
		return p
	}
	p := serve()
	sys.Mgmt = []*MgmtNode{{ID: "mgmt-disk", Addr: addr, URL: "https://" + addr, Data: data, Proc: p}}
	admin := sys.Admin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	def := func(i int) mgmt.SessionDef {
		return mgmt.SessionDef{Protocol: "telnet", Host: "10.0.0.1", Port: 23, Description: strings.Repeat(strconv.Itoa(i%10), 1000)}
	}
	acked := map[string]bool{}
	for i := 0; i < 5; i++ {
		name := fmt.Sprintf("before-%d", i)
		if _, err := admin.PutSession(ctx, name, def(i)); err != nil {
			t.Fatalf("write before the disk is full: %v", err)
		}
		acked[name] = true
	}

	// Fill the file system.
	filler := filepath.Join(mnt, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the disk: %v", err)
			}
			break
		}
	}
	for _, n := range []int{4096, 512, 1} { // the last few bytes too
		for {
			if _, err := f.Write(chunk[:n]); err != nil {
				break
			}
		}
	}
	f.Close()

	var apiErr *mgmt.APIError
	for i := 0; i < 500; i++ {
		name := fmt.Sprintf("full-%d", i)
		_, err := admin.PutSession(ctx, name, def(i))
		if err == nil {
			acked[name] = true // space that bbolt had already reserved
			continue
		}
		if !errors.As(err, &apiErr) {
			t.Fatalf("write on a full disk: %v, want an API error", err)
		}
		break
	}
	if apiErr == nil {
		t.Fatal("500 writes on a full disk all succeeded")
	}
	t.Logf("write on a full disk: %v", apiErr)
	if apiErr.Status < 500 {
		t.Errorf("status %d, want a 5xx", apiErr.Status)
	}
	if msg := strings.ToLower(apiErr.Message); !strings.Contains(msg, "disk") && !strings.Contains(msg, "space") {
		t.Errorf("message %q does not say that the disk is full: the management server must report ENOSPC from its store as such (a 5xx naming the data directory's disk), not as an internal error", apiErr.Message)
	}
	if p.Exited() {
		t.Fatalf("the management server died on a full disk:\n%s", p.Output())
	}

	// Space returns: writes work again.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.PutSession(ctx, "after", def(7)); err != nil {
		t.Fatalf("write after space returned: %v", err)
	}
	acked["after"] = true

	// The store is intact: restart the server and read everything back.
	p.Signal(syscall.SIGTERM)
	if _, done := p.Wait(30 * time.Second); !done {
		t.Fatal("the management server did not stop on SIGTERM")
	}
	sys.Mgmt[0].Proc = serve()
	sys.admin = nil
	var list struct {
		Sessions []mgmt.SessionDef `json:"sessions"`
	}
	if err := sys.Admin(t).Do(ctx, "GET", "/api/v1/admin/sessions", nil, &list); err != nil {
		t.Fatalf("list sessions after restart: %v", err)
	}
	got := map[string]bool{}
	for _, d := range list.Sessions {
		got[d.Name] = true
	}
	for name := range acked {
		if !got[name] {
			t.Errorf("acknowledged session %s is missing after the restart", name)
		}
	}
}

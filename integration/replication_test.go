package integration

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/termgate/termgate/emulator/metering"
	"github.com/termgate/termgate/mgmt"
	"github.com/termgate/termgate/pki"
	"github.com/termgate/termgate/proxy"
)

// mgmtNode is one `termgate mgmt serve` process of a replication group.
type mgmtNode struct {
	ID, Dir, Addr, DTLS string
	Args                []string
	Proc                *Proc
}

func (n *mgmtNode) URL() string { return "https://" + n.Addr }

func (n *mgmtNode) start(t *testing.T) {
	t.Helper()
	n.Proc = Start(t, n.ID, nil, Binary(t), append([]string{"mgmt", "serve", "--log-format", "json", "--log-level", "debug"}, n.Args...)...)
	n.Proc.WaitLine(t, "ready", 60*time.Second)
}

// runCLI runs a short termgate command and returns its standard output.
func runCLI(t *testing.T, env []string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, Binary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("termgate %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

// snapshotSpy is an HTTPS "peer" that keeps what a master pushes to it.
type snapshotSpy struct {
	mu     sync.Mutex
	bodies [][]byte
	srv    *http.Server
	ln     net.Listener
	caFile string
}

func newSnapshotSpy(t *testing.T, dir string) *snapshotSpy {
	t.Helper()
	ca, err := pki.NewCA(pki.CertSpec{CommonName: "spy CA"})
	must(t, err)
	leaf, err := ca.Issue(pki.CertSpec{CommonName: "spy", IPs: []net.IP{net.ParseIP("127.0.0.1")}, Usage: pki.UsageServer})
	must(t, err)
	s := &snapshotSpy{caFile: filepath.Join(dir, "spy-ca.pem")}
	must(t, os.WriteFile(s.caFile, pki.EncodeCertPEM(ca.Cert.Cert), 0o644))
	tc := leaf.TLSCertificate()
	s.ln, err = tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{tc}})
	must(t, err)
	s.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 64<<20))
		s.mu.Lock()
		s.bodies = append(s.bodies, b)
		s.mu.Unlock()
		w.WriteHeader(200)
	})}
	go s.srv.Serve(s.ln)
	t.Cleanup(func() { s.srv.Close() })
	return s
}

func (s *snapshotSpy) last() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.bodies) == 0 {
		return nil
	}
	return s.bodies[len(s.bodies)-1]
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func eventually(t *testing.T, what string, d time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < d {
		if cond() {
			return time.Since(start)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s", d, what)
	return 0
}

// echoServer accepts TCP connections on loopback and echoes them.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

func TestReplicationThreeNodes(t *testing.T) {
	dir := t.TempDir()
	spy := newSnapshotSpy(t, dir)
	proxyAddr := FreeAddr(t, "127.0.0.1")
	echo := echoServer(t)
	nodes := make([]*mgmtNode, 3)
	for i, id := range []string{"mgmt-a", "mgmt-b", "mgmt-c"} {
		n := &mgmtNode{ID: id, Dir: filepath.Join(dir, id), Addr: FreeAddr(t, "127.0.0.1"), DTLS: FreeAddr(t, "127.0.0.1")}
		n.Args = []string{"--data", n.Dir, "--addr", n.Addr, "--dtls-addr", n.DTLS, "--proxy-address", proxyAddr, "--metering-interval", "1s"}
		nodes[i] = n
	}
	a, b, c := nodes[0], nodes[1], nodes[2]

	// The master: init, then serve with a spy peer that records its pushes.
	runCLI(t, nil, "mgmt", "init", "--data", a.Dir, "--node-id", a.ID)
	a.Args = append(a.Args, "--role", "master", "--peer", "spy="+"https://"+spy.ln.Addr().String(), "--replication-ca", spy.caFile)
	a.start(t)
	pwb, err := os.ReadFile(filepath.Join(a.Dir, mgmt.AdminPasswordFile))
	must(t, err)
	pw := strings.TrimSpace(string(pwb))
	pwEnv := []string{"TERMGATE_PASSWORD=" + pw}

	// Two slaves join with one-time codes made on the master.
	for _, n := range []*mgmtNode{b, c} {
		code := strings.TrimSpace(runCLI(t, nil, "mgmt", "join-code", "--data", a.Dir, "--addr", a.Addr))
		runCLI(t, nil, "mgmt", "join", "--data", n.Dir, "--node-id", n.ID, "--addr", n.Addr, "--dtls-addr", n.DTLS,
			"--master", a.URL(), "--master-ca", filepath.Join(a.Dir, "ca.pem"), "--code", code)
		n.Args = append(n.Args, "--role", "slave")
		n.start(t)
	}

	// One client trusting every node's HTTPS CA.
	var caPEM []byte
	for _, n := range nodes {
		b, err := os.ReadFile(filepath.Join(n.Dir, "ca.pem"))
		must(t, err)
		caPEM = append(caPEM, b...)
	}
	client := func(n *mgmtNode, user, pass string) *mgmt.Client {
		cl, err := mgmt.NewClient(n.URL(), caPEM)
		must(t, err)
		t.Cleanup(cl.HTTP.CloseIdleConnections)
		if user != "" {
			if _, err := cl.Login(context.Background(), user, pass); err != nil {
				t.Fatalf("login %s on %s: %v", user, n.ID, err)
			}
		}
		return cl
	}
	ctx := context.Background()
	ac := client(a, "admin", pw)
	eventually(t, "all nodes know 3 signers", 20*time.Second, func() bool {
		for _, n := range nodes {
			ts, err := fetchPEM(client(n, "", ""), "/api/v1/trust/mgmt.pem")
			if err != nil || ts.Len() != 3 {
				return false
			}
		}
		return true
	})

	// A change on the master appears on both slaves: measure it.
	bc, cc := client(b, "admin", pw), client(c, "admin", pw)
	start := time.Now()
	_, err = ac.PutSession(ctx, "echo", mgmt.SessionDef{Protocol: "tcp", Host: "127.0.0.1", Port: portOf(echo)})
	must(t, err)
	var seenB, seenC time.Duration
	eventually(t, "session on both slaves", 10*time.Second, func() bool {
		if seenB == 0 && bc.Do(ctx, "GET", "/api/v1/admin/sessions/echo", nil, nil) == nil {
			seenB = time.Since(start)
		}
		if seenC == 0 && cc.Do(ctx, "GET", "/api/v1/admin/sessions/echo", nil, nil) == nil {
			seenC = time.Since(start)
		}
		return seenB > 0 && seenC > 0
	})
	t.Logf("PROPAGATION master → slaves (3 processes, HTTPS, signed snapshots): b %v, c %v", seenB, seenC)

	// An admin write on a slave lands through the master.
	_, err = bc.PutUser(ctx, "alice", mgmt.UserSpec{Password: "alice-password", Sessions: []string{"echo"}, Destinations: []string{}})
	must(t, err)
	if _, err := bc.PutUser(ctx, "admin", mgmt.UserSpec{Role: "admin", Sessions: []string{"echo"}}); err != nil {
		t.Fatal(err)
	}
	var u mgmt.User
	must(t, ac.Do(ctx, "GET", "/api/v1/admin/users/alice", nil, &u))

	// A conflicting concurrent edit is refused with 412.
	st, hdr, _ := doRaw(t, cc, "GET", "/api/v1/admin/sessions/echo", nil, "")
	etag := hdr.Get("ETag")
	if st != 200 || etag == "" {
		t.Fatalf("GET with ETag: %d %q", st, etag)
	}
	if st, _, body := doRaw(t, ac, "PUT", "/api/v1/admin/sessions/echo", mgmt.SessionDef{Protocol: "tcp", Host: "127.0.0.1", Port: portOf(echo), Description: "first"}, etag); st != 200 {
		t.Fatalf("first edit: %d %s", st, body)
	}
	if st, _, body := doRaw(t, bc, "PUT", "/api/v1/admin/sessions/echo", mgmt.SessionDef{Protocol: "tcp", Host: "127.0.0.1", Port: portOf(echo), Description: "second"}, etag); st != 412 || !bytes.Contains(body, []byte("precondition_failed")) {
		t.Fatalf("conflicting edit: %d %s", st, body)
	}

	// A proxy, enrolled with the master, refreshes its signers from the slaves.
	px := startProxy(t, ac, proxyAddr, caPEM, []string{b.URL(), c.URL()})
	defer px.Close()

	// Metering: one client's heartbeats go to the three nodes in turn.
	var lr mgmt.LaunchResponse
	must(t, ac.Do(ctx, "POST", "/api/v1/sessions/echo/launch", nil, &lr))
	if lr.Metering == nil || len(lr.Metering.Addresses) != 3 {
		t.Fatalf("launch metering: %+v", lr.Metering)
	}
	snd, err := metering.New(metering.Config{Addresses: lr.Metering.Addresses, Interval: time.Hour, Ticket: lr.Metering.Ticket,
		TrustStore: []byte(lr.Metering.TrustStore), Spread: true})
	must(t, err)
	snd.Start(ctx)
	defer snd.Stop()
	for i := 1; i < 6; i++ {
		eventually(t, "heartbeat delivered", 10*time.Second, func() bool { return snd.Status().Sent == uint64(i) })
		snd.Beat()
	}
	eventually(t, "6 heartbeats", 10*time.Second, func() bool { return snd.Status().Sent == 6 })
	rep, err := cc.MeteringReport(ctx, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), time.Minute)
	must(t, err)
	if len(rep.Sessions) != 1 || rep.Sessions[0].Heartbeats != 6 || rep.Sessions[0].Gaps != 0 || len(rep.Sessions[0].Nodes) != 3 {
		t.Fatalf("merged metering report: %+v", rep.Sessions)
	}
	csvOut := runCLI(t, pwEnv, "mgmt", "metering", "report", "--data", c.Dir, "--mgmt", c.URL(), "--ca", filepath.Join(c.Dir, "ca.pem"), "--format", "csv")
	if strings.Count(csvOut, "\n") != 2 || !strings.Contains(csvOut, "mgmt-a mgmt-b mgmt-c") {
		t.Fatalf("metering report csv:\n%s", csvOut)
	}

	// Capture a snapshot of epoch 1 as the spy received it.
	eventually(t, "spy got a push", 40*time.Second, func() bool { return spy.last() != nil })
	oldSnap := spy.last()

	// The master dies. Users still log in, launch and get tokens from the slaves,
	// and the proxy verifies a slave's token.
	a.Proc.Kill()
	for _, n := range []*mgmtNode{b, c} {
		al := client(n, "alice", "alice-password")
		var l launchResponse
		if st := postJSON(t, al.HTTP, n.URL()+"/api/v1/sessions/echo/launch", al.Token, map[string]any{}, &l); st != 200 {
			t.Fatalf("launch on %s with the master down: %d", n.ID, st)
		}
		conn, br := connectThroughProxy(t, l)
		fmt.Fprintf(conn, "ping from %s\n", n.ID)
		readUntil(t, br, "ping from "+n.ID)
		conn.Close()
	}
	if st, _, body := doRaw(t, bc, "PUT", "/api/v1/admin/sessions/x", mgmt.SessionDef{Protocol: "tcp", Host: "h", Port: 1}, ""); st != 503 || !bytes.Contains(body, []byte("master_unreachable")) {
		t.Fatalf("write with the master down: %d %s", st, body)
	}

	// b is promoted (CLI); c follows; writes land again.
	out := runCLI(t, pwEnv, "mgmt", "promote", "--data", b.Dir, "--addr", b.Addr, "--ca", filepath.Join(b.Dir, "ca.pem"))
	if !strings.Contains(out, "epoch 2") {
		t.Fatalf("promote: %s", out)
	}
	eventually(t, "c follows b", 20*time.Second, func() bool {
		var rs mgmt.ReplicationStatus
		return cc.Do(ctx, "GET", "/api/v1/admin/replication", nil, &rs) == nil && rs.Epoch == 2 && rs.Master == "mgmt-b"
	})
	_, err = cc.PutSession(ctx, "after-failover", mgmt.SessionDef{Protocol: "tcp", Host: "127.0.0.1", Port: 1})
	must(t, err)

	// The old snapshot replayed to a slave is refused.
	req, _ := http.NewRequest("POST", c.URL()+"/api/v1/replication/snapshot", bytes.NewReader(oldSnap))
	resp, err := cc.HTTP.Do(req)
	must(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 409 || !bytes.Contains(body, []byte("stale_epoch")) {
		t.Fatalf("replayed epoch-1 snapshot: %d %s", resp.StatusCode, body)
	}

	// The old master returns (same command line, --role master) and steps down.
	a.start(t)
	a.Proc.WaitLine(t, "stepped down", 30*time.Second)
	ac = client(a, "admin", pw)
	eventually(t, "a has the change made after failover", 20*time.Second, func() bool {
		return ac.Do(ctx, "GET", "/api/v1/admin/sessions/after-failover", nil, nil) == nil
	})
	var rs mgmt.ReplicationStatus
	must(t, ac.Do(ctx, "GET", "/api/v1/admin/replication", nil, &rs))
	if rs.Role != mgmt.RoleSlave || rs.Epoch != 2 || rs.Master != "mgmt-b" {
		t.Fatalf("old master after return: %+v", rs)
	}

	// The archive holds overwritten revisions; restoring one brings its state back.
	arch, err := cc.Archive(ctx)
	must(t, err)
	if len(arch) < 3 {
		t.Fatalf("archive of c: %d entries", len(arch))
	}
	var target uint64
	for _, e := range arch {
		var show struct {
			Summary map[string][]string `json:"summary"`
		}
		raw, err := cc.ArchiveShow(ctx, e.Revision)
		must(t, err)
		must(t, json.Unmarshal(raw, &show))
		if e.Reason == "replication" && contains(show.Summary["sessions"], "echo") && !contains(show.Summary["sessions"], "after-failover") {
			target = e.Revision
			break
		}
	}
	if target == 0 {
		t.Fatalf("no archived revision before the failover change: %+v", arch)
	}
	out = runCLI(t, pwEnv, "mgmt", "archive", "restore", fmt.Sprint(target), "--data", c.Dir, "--addr", c.Addr, "--ca", filepath.Join(c.Dir, "ca.pem"))
	if !strings.Contains(out, "restored revision") {
		t.Fatalf("archive restore: %s", out)
	}
	eventually(t, "restore everywhere", 20*time.Second, func() bool {
		for _, cl := range []*mgmt.Client{ac, bc, cc} {
			if cl.Do(ctx, "GET", "/api/v1/admin/sessions/after-failover", nil, nil) == nil {
				return false
			}
		}
		return true
	})
	list := runCLI(t, pwEnv, "mgmt", "archive", "list", "--data", c.Dir, "--addr", c.Addr, "--ca", filepath.Join(c.Dir, "ca.pem"))
	if !strings.Contains(list, "REVISION") || strings.Count(list, "\n") < 4 {
		t.Fatalf("archive list:\n%s", list)
	}
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

func portOf(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	var n int
	fmt.Sscan(p, &n)
	return n
}

func fetchPEM(c *mgmt.Client, path string) (*pki.TrustStore, error) {
	resp, err := c.HTTP.Get(c.BaseURL + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return pki.ParseTrustStore(b)
}

func doRaw(t *testing.T, c *mgmt.Client, method, path string, in any, ifMatch string) (int, http.Header, []byte) {
	t.Helper()
	var r io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.BaseURL+path, r)
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if ifMatch != "" {
		req.Header.Set("If-Match", ifMatch)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// startProxy enrolls an in-process proxy with the master and starts it;
// it refreshes its signer store from refresh (the slaves).
func startProxy(t *testing.T, admin *mgmt.Client, addr string, mgmtCA []byte, refresh []string) *proxy.Server {
	t.Helper()
	ca, err := pki.NewCA(pki.CertSpec{CommonName: "proxy CA"})
	must(t, err)
	leaf, err := ca.Issue(pki.CertSpec{CommonName: "proxy-1", IPs: []net.IP{net.ParseIP("127.0.0.1")}, Usage: pki.UsageServer})
	must(t, err)
	code, _, err := admin.CreateEnrollCode(context.Background())
	must(t, err)
	er, err := admin.Enroll(context.Background(), pki.EnrollRequest{Code: code, NodeID: "proxy-1", Address: addr, Certificate: string(pki.EncodeCertPEM(leaf.Cert))})
	must(t, err)
	signers, err := pki.ParseTrustStore([]byte(er.MgmtSigners))
	must(t, err)
	tlsTrust, err := pki.ParseTrustStore(mgmtCA)
	must(t, err)
	tc := leaf.TLSCertificate()
	px, err := proxy.New(proxy.Config{Listen: addr, OpsListen: "-", Certificate: &tc, NodeID: "proxy-1",
		MgmtTrust: signers, MgmtTLSTrust: tlsTrust, MgmtURLs: refresh,
		AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { px.Serve(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	WaitTCP(t, addr, 10*time.Second)
	return px
}

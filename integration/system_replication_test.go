package integration

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/termgate/termgate/emulator"
	"github.com/termgate/termgate/mgmt"
)

// attempt is one try of a load worker's cycle on one management node:
// (login), launch, connect through the load balancer, echo, close.
type attempt struct {
	worker     int
	node       int // index in System.Mgmt
	start, end time.Time
	login      bool   // a password login was part of it
	stage      string // where it failed: login, launch, connect, echo
	err        error
	iss        string // the token's issuer (on success)
}

// mgmtUnreachable reports whether the attempt failed because the
// management node did not answer (no HTTP answer at all), the one case in
// which a client tries the next node.
func (a attempt) mgmtUnreachable() bool {
	var ae *emulator.APIError
	return a.err != nil && (a.stage == "login" || a.stage == "launch") && !errors.As(a.err, &ae)
}

// tokenIssuer returns the iss claim of a compact JWT without verifying it
// (the proxies verify; the test only sorts its tokens by signer).
func tokenIssuer(tok string) string {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var c struct {
		Iss string `json:"iss"`
	}
	if json.Unmarshal(b, &c) != nil {
		return ""
	}
	return c.Iss
}

// loadWorker runs cycles until stop, picking the management node round
// robin and failing over to the next node when one does not answer. It
// logs in with the password every loginEvery cycles (on the node of that
// cycle) and otherwise reuses its login token, which every node of the
// group accepts.
type loadWorker struct {
	id       int
	sys      *System
	password string
	clients  []*emulator.Client
	token    string
	cycles   int
}

const loginEvery = 8

func (w *loadWorker) cycle(ctx context.Context, first int, record func(attempt)) {
	fresh := w.token == "" || w.cycles%loginEvery == 0
	w.cycles++
	for k := range w.sys.Mgmt {
		a := w.try(ctx, (first+k)%len(w.sys.Mgmt), fresh)
		record(a)
		if !a.mgmtUnreachable() {
			return
		}
	}
}

func (w *loadWorker) try(ctx context.Context, node int, fresh bool) (a attempt) {
	a = attempt{worker: w.id, node: node, start: time.Now()}
	defer func() { a.end = time.Now() }()
	c := w.clients[node]
	if fresh {
		a.login = true
		if a.err = c.Login(ctx, "loader", w.password); a.err != nil {
			a.stage = "login"
			return a
		}
		tok, _ := c.LoginToken()
		w.token = string(tok)
	} else {
		c.UseToken(w.token)
	}
	l, err := c.Launch(ctx, "echo", emulator.LaunchOptions{})
	if err != nil {
		a.stage, a.err = "launch", err
		return a
	}
	st, err := emulator.Connect(ctx, l, emulator.StreamOptions{DialTimeout: 15 * time.Second})
	if err != nil {
		a.stage, a.err = "connect", err
		return a
	}
	defer st.Close()
	msg := []byte(fmt.Sprintf("worker %02d cycle %06d via %s\n", w.id, w.cycles, w.sys.Mgmt[node].ID))
	st.Tunnel().SetDeadline(time.Now().Add(15 * time.Second))
	buf := make([]byte, len(msg))
	if _, err := st.Write(msg); err != nil {
		a.stage, a.err = "echo", fmt.Errorf("write: %w", err)
		return a
	}
	if _, err := io.ReadFull(st, buf); err != nil {
		a.stage, a.err = "echo", fmt.Errorf("read: %w", err)
		return a
	}
	if !bytes.Equal(buf, msg) {
		a.stage, a.err = "echo", fmt.Errorf("sent %q, got %q", msg, buf)
		return a
	}
	a.iss = tokenIssuer(string(l.Token))
	return a
}

// TestSystemMasterKilledUnderLoad runs a three-node management group and
// two proxy nodes behind HAProxy under a steady load of logins, launches
// and sessions, and kills the master with SIGKILL in the middle of it.
// The workers go on through the slaves (a request to the master that was
// in flight at the kill may fail; those are counted and bounded), the
// proxies verify the slaves' tokens and refresh their signers from the
// slaves, and an admin write to a slave is refused with 503
// master_unreachable. Promoting a slave makes admin writes work again, and
// they replicate to the other slave.
func TestSystemMasterKilledUnderLoad(t *testing.T) {
	const (
		workers      = 20
		loadFor      = 20 * time.Second
		killAfter    = 5 * time.Second
		trustRefresh = 2 * time.Second
	)
	sys := StartSystem(t, SystemConfig{MgmtNodes: 3,
		ProxyArgs: []string{"--trust-refresh", trustRefresh.String(), "--log-level", "warn"}})
	host := StartEchoHost(t, "127.0.0.20")
	hh, hp := hostPort(t, host.Addr)
	sys.PutSession(t, "echo", mgmt.SessionDef{Protocol: "tcp", Host: hh, Port: hp})
	password := sys.PutUser(t, "loader", []string{"echo"}, nil)
	sys.WaitReplicated(t, 30*time.Second)
	master, b, c := sys.Mgmt[0], sys.Mgmt[1], sys.Mgmt[2]
	adminB, adminC := sys.AdminOn(t, b), sys.AdminOn(t, c)

	ctx, cancel := context.WithTimeout(context.Background(), loadFor+time.Minute)
	defer cancel()
	var (
		mu       sync.Mutex
		attempts []attempt
		rr       atomic.Int64
		wg       sync.WaitGroup
	)
	record := func(a attempt) {
		mu.Lock()
		attempts = append(attempts, a)
		mu.Unlock()
	}
	// Every worker logs in and runs one cycle before the clock starts, so
	// that the figures before the kill are not those of a cold start.
	var (
		warm     sync.WaitGroup
		warmErr  atomic.Value
		release  = make(chan struct{})
		stopAt   time.Time
		warmDone = func(a attempt) {
			if a.err != nil {
				warmErr.CompareAndSwap(nil, fmt.Errorf("warm-up of worker %d: %s on %s: %w", a.worker, a.stage, sys.Mgmt[a.node].ID, a.err))
			}
		}
	)
	pool := make([]*loadWorker, workers)
	for i := range pool {
		pool[i] = &loadWorker{id: i, sys: sys, password: password}
		for _, n := range sys.Mgmt {
			cl, err := emulator.NewClient(n.URL, emulator.ClientOptions{CAFile: sys.MgmtCA(), Timeout: 15 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			pool[i].clients = append(pool[i].clients, cl)
		}
	}
	for _, w := range pool {
		wg.Add(1)
		warm.Add(1)
		go func() {
			defer wg.Done()
			w.cycle(ctx, w.id%len(sys.Mgmt), warmDone)
			warm.Done()
			<-release
			for time.Now().Before(stopAt) && ctx.Err() == nil {
				w.cycle(ctx, int(rr.Add(1))%len(sys.Mgmt), record)
			}
		}()
	}
	warm.Wait()
	if err, _ := warmErr.Load().(error); err != nil {
		cancel()
		close(release)
		wg.Wait()
		t.Fatal(err)
	}
	loadStart := time.Now()
	stopAt = loadStart.Add(loadFor)
	close(release)

	time.Sleep(time.Until(loadStart.Add(killAfter)))
	killAt := time.Now()
	master.Proc.Kill() // SIGKILL to its process group, then wait for it

	// While the master is down and the load goes on: a write to a slave is
	// refused plainly and at once, not queued or hung.
	time.Sleep(time.Second)
	writeStart := time.Now()
	_, err := adminB.PutSession(ctx, "during-outage", mgmt.SessionDef{Protocol: "tcp", Host: hh, Port: hp})
	writeTook := time.Since(writeStart)
	var ae *mgmt.APIError
	if !errors.As(err, &ae) || ae.Status != 503 || ae.Code != mgmt.CodeMasterUnreachable {
		t.Errorf("admin write to %s with the master down: %v, want 503 %s", b.ID, err, mgmt.CodeMasterUnreachable)
	} else if !strings.Contains(ae.Message, master.ID) && !strings.Contains(strings.ToLower(ae.Message), "master") {
		t.Errorf("the refusal %q does not say that the master is unreachable", ae.Message)
	}

	// Each proxy refreshes its signers from a slave: wait for two refresh
	// periods after the kill, then the signer store must be younger than
	// the outage and still hold every node's certificate.
	time.Sleep(time.Until(killAt.Add(2*trustRefresh + time.Second)))
	for _, n := range sys.Nodes {
		r, code, err := n.Ready()
		if err != nil || code != 200 {
			t.Errorf("%s /readyz with the master down: %d %v", n.ID, code, err)
			continue
		}
		if down := time.Since(killAt).Seconds(); r.TrustAgeSeconds < 0 || r.TrustAgeSeconds >= down {
			t.Errorf("%s: signer store is %.1f s old, the master has been down %.1f s: no refresh from a slave", n.ID, r.TrustAgeSeconds, down)
		}
		if r.MgmtCerts != len(sys.Mgmt) {
			t.Errorf("%s trusts %d management signers after refreshing from a slave, want %d", n.ID, r.MgmtCerts, len(sys.Mgmt))
		}
		for _, s := range []*MgmtNode{b, c} {
			if _, ok := r.ClockOffsets[s.ID]; !ok {
				t.Errorf("%s has verified no token of %s (clock offsets %v)", n.ID, s.ID, r.ClockOffsets)
			}
		}
	}
	wg.Wait()
	loadEnd := time.Now()

	// Sort the attempts out.
	var (
		ok, okBefore, okAfter, okLast5s int
		logins, loginsAfter             int
		inFlight, deadNode              []attempt
		unexpected                      []attempt
		issAfter                        = map[string]int{}
		nodeAfter                       = map[string]int{}
		workerAfter                     = map[int]int{}
		latBefore, latAfter             []time.Duration
	)
	for _, a := range attempts {
		if a.err == nil {
			ok++
			if a.login {
				logins++
			}
			d := a.end.Sub(a.start)
			switch {
			case a.end.Before(killAt):
				okBefore++
				latBefore = append(latBefore, d)
			case a.start.After(killAt):
				okAfter++
				latAfter = append(latAfter, d)
				issAfter[a.iss]++
				nodeAfter[sys.Mgmt[a.node].ID]++
				workerAfter[a.worker]++
				if a.login {
					loginsAfter++
				}
				if a.end.After(loadEnd.Add(-5 * time.Second)) {
					okLast5s++
				}
			}
			continue
		}
		onMaster := a.node == 0 && a.mgmtUnreachable()
		switch {
		case onMaster && a.start.Before(killAt) && !a.end.Before(killAt):
			inFlight = append(inFlight, a)
		case onMaster && !a.start.Before(killAt):
			deadNode = append(deadNode, a)
		default:
			unexpected = append(unexpected, a)
		}
	}
	before := killAt.Sub(loadStart).Seconds()
	after := loadEnd.Sub(killAt).Seconds()
	t.Logf("MASTER KILLED UNDER LOAD: %d workers, 3 mgmt nodes, 2 proxy nodes behind HAProxy, %v of load, SIGKILL of %s after %v",
		workers, loadEnd.Sub(loadStart).Round(time.Millisecond), master.ID, killAt.Sub(loadStart).Round(time.Millisecond))
	t.Logf("  before the kill: %d cycles in %.1f s = %.1f/s (p50 %v)", okBefore, before, float64(okBefore)/before, p50(latBefore))
	t.Logf("  after the kill:  %d cycles in %.1f s = %.1f/s (p50 %v), by node %v, tokens by signer %v", okAfter, after, float64(okAfter)/after, p50(latAfter), nodeAfter, issAfter)
	t.Logf("  %d cycles succeeded in all; password logins: %d, %d of them after the kill (the other cycles reused a login token)", ok, logins, loginsAfter)
	refused := 0
	for _, a := range deadNode {
		if errors.Is(a.err, syscall.ECONNREFUSED) {
			refused++
		}
	}
	t.Logf("  failures: %d requests in flight to the master at the kill; %d requests to the dead master after it (%d connection refused, %d on a connection it had left open), each retried on a slave; %d other",
		len(inFlight), len(deadNode), refused, len(deadNode)-refused, len(unexpected))
	t.Logf("  admin write to a slave with the master down: 503 %s in %v", mgmt.CodeMasterUnreachable, writeTook.Round(time.Millisecond))
	for _, a := range inFlight {
		t.Logf("    in flight at the kill: worker %d %s on %s after %v: %v", a.worker, a.stage, master.ID, killAt.Sub(a.start).Round(time.Millisecond), a.err)
	}

	for i, a := range unexpected {
		if i == 10 {
			t.Errorf("... and %d more failures", len(unexpected)-10)
			break
		}
		t.Errorf("worker %d: %s on %s (%v after the kill): %v", a.worker, a.stage, sys.Mgmt[a.node].ID, a.start.Sub(killAt).Round(time.Millisecond), a.err)
	}
	if len(inFlight) > workers {
		t.Errorf("%d requests failed as in flight at the kill; each of the %d workers has at most one", len(inFlight), workers)
	}
	if okBefore == 0 {
		t.Fatal("no cycle succeeded before the kill: the load never ran")
	}
	for _, s := range []*MgmtNode{b, c} {
		if nodeAfter[s.ID] == 0 || issAfter[s.ID] == 0 {
			t.Errorf("no cycle through %s after the kill (by node %v, by signer %v)", s.ID, nodeAfter, issAfter)
		}
	}
	if issAfter[master.ID] != 0 || nodeAfter[master.ID] != 0 {
		t.Errorf("%d tokens of the dead master after the kill", issAfter[master.ID])
	}
	if len(workerAfter) != workers {
		t.Errorf("only %d of %d workers succeeded after the kill", len(workerAfter), workers)
	}
	if loginsAfter == 0 {
		t.Error("no password login succeeded on a slave after the kill")
	}
	if okLast5s == 0 {
		t.Error("no cycle succeeded in the last 5 s of the load: the workers stalled")
	}

	// Failover: promote b with the CLI; c follows, and admin writes work
	// again and replicate.
	promoteStart := time.Now()
	out := runTermgate(t, sys, []string{"TERMGATE_PASSWORD=" + sys.AdminPassword(t)},
		"mgmt", "promote", "--data", b.Data, "--addr", b.Addr, "--ca", sys.MgmtCA())
	if !strings.Contains(out, "epoch 2") {
		t.Fatalf("promote printed %q, want epoch 2", out)
	}
	sys.WaitReplicated(t, 30*time.Second)
	followed := time.Since(promoteStart)
	st, err := sys.Replication(t, c)
	if err != nil || st.Master != b.ID || st.Epoch != 2 || st.Role != mgmt.RoleSlave {
		t.Fatalf("%s after the promotion of %s: %+v %v", c.ID, b.ID, st, err)
	}
	writeStart = time.Now()
	if _, err := adminB.PutSession(ctx, "after-promotion", mgmt.SessionDef{Protocol: "tcp", Host: hh, Port: hp}); err != nil {
		t.Fatalf("admin write to the new master %s: %v", b.ID, err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for adminC.Do(ctx, "GET", "/api/v1/admin/sessions/after-promotion", nil, nil) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("the write to %s did not reach %s within 20 s", b.ID, c.ID)
		}
		time.Sleep(20 * time.Millisecond)
	}
	seen := time.Since(writeStart)
	// A write to the remaining slave goes through the new master.
	if _, err := adminC.PutSession(ctx, "via-slave", mgmt.SessionDef{Protocol: "tcp", Host: hh, Port: hp}); err != nil {
		t.Fatalf("admin write to %s after the promotion: %v", c.ID, err)
	}
	if err := adminB.Do(ctx, "GET", "/api/v1/admin/sessions/via-slave", nil, nil); err != nil {
		t.Errorf("the write forwarded by %s is not on the master %s: %v", c.ID, b.ID, err)
	}
	t.Logf("  promotion of %s: group converged on epoch 2 in %v; a write to it reached %s in %v",
		b.ID, followed.Round(time.Millisecond), c.ID, seen.Round(time.Millisecond))
}

// p50 is the median of d (0 if empty).
func p50(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	d = slices.Clone(d)
	slices.Sort(d)
	return d[len(d)/2].Round(time.Millisecond)
}

// runTermgate runs the system's binary with extra environment and fails
// the test if it exits non-zero; it returns stdout.
func runTermgate(t *testing.T, sys *System, env []string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, sys.Bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		t.Fatalf("termgate %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, o.String(), e.String())
	}
	return o.String()
}

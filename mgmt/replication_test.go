package mgmt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/termgate/termgate/pki"
	"github.com/termgate/termgate/token"
)

// gnode is one in-process node of a test replication group.
type gnode struct {
	t      *testing.T
	id     string
	dir    string
	cfg    Config
	srv    *Server
	cancel context.CancelFunc
	done   chan error
}

func freeTCP(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

func freeUDP(t *testing.T) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	must(t, err)
	defer c.Close()
	return c.LocalAddr().String()
}

func (n *gnode) start() {
	n.t.Helper()
	srv, err := New(n.cfg)
	if err != nil {
		n.t.Fatalf("New %s: %v", n.id, err)
	}
	n.srv = srv
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel, n.done = cancel, make(chan error, 1)
	go func() { n.done <- srv.Serve(ctx) }()
}

func (n *gnode) stop() {
	if n.srv == nil {
		return
	}
	n.cancel()
	<-n.done
	n.srv.Close()
	n.srv = nil
}

func (n *gnode) client() *Client {
	n.t.Helper()
	c, err := NewClient("https://"+n.cfg.Addr, n.srv.repl.groupTLSTrust().Encode())
	must(n.t, err)
	n.t.Cleanup(c.HTTP.CloseIdleConnections)
	return c
}

func (n *gnode) admin() *Client {
	n.t.Helper()
	c := n.client()
	if _, err := c.Login(ctxb, "admin", "admin-secret-1"); err != nil {
		n.t.Fatalf("admin login on %s: %v", n.id, err)
	}
	return c
}

// newGroup makes a master and len(ids)-1 slaves joined to it, all running.
func newGroup(t *testing.T, meter bool, ids ...string) []*gnode {
	t.Helper()
	var nodes []*gnode
	base := t.TempDir()
	for i, id := range ids {
		n := &gnode{t: t, id: id, dir: filepath.Join(base, id)}
		n.cfg = Config{DataDir: n.dir, Addr: freeTCP(t), ProxyAddress: "proxy.example.com:443", Password: testPassword,
			Logger: zerolog.Nop(), PushDebounce: 20 * time.Millisecond, PushInterval: 2 * time.Second, ForwardWait: 5 * time.Second}
		if meter {
			n.cfg.DTLSAddr = freeUDP(t)
			n.cfg.MeteringInterval = time.Second
		}
		if i == 0 {
			_, err := Init(n.dir, InitOptions{NodeID: id, Password: testPassword, AdminPassword: "admin-secret-1"})
			must(t, err)
			n.cfg.Role = RoleMaster
		} else {
			code, _, err := nodes[0].srv.CreateJoinCode(ctxb)
			must(t, err)
			_, err = Join(ctxb, JoinOptions{DataDir: n.dir, Init: InitOptions{NodeID: id, Password: testPassword},
				MasterURL: nodes[0].srv.URL(), MasterCA: nodes[0].srv.TLSTrust(), Code: code,
				AdvertiseURL: "https://" + n.cfg.Addr, DTLSAddress: n.cfg.DTLSAddr})
			must(t, err)
			n.cfg.Role = RoleSlave
		}
		n.start()
		t.Cleanup(n.stop)
		nodes = append(nodes, n)
	}
	return nodes
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < 10*time.Second {
		if cond() {
			return time.Since(start)
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
	return 0
}

func hasSession(n *gnode, name string) bool {
	_, err := n.srv.Session(ctxb, name)
	return err == nil
}

func TestReplicationGroup(t *testing.T) {
	g := newGroup(t, false, "mgmt-a", "mgmt-b", "mgmt-c")
	a, b, c := g[0], g[1], g[2]
	if r, e, m := b.srv.Role(); r != RoleSlave || e != 1 || m != "mgmt-a" {
		t.Fatalf("b: role %s epoch %d master %s", r, e, m)
	}

	// Every node lists every group signer (what proxies verify against).
	for _, n := range g {
		waitFor(t, n.id+" publishes 3 signers", func() bool { return mustTrust(t, n.srv.MgmtSigners()).Len() == 3 })
	}

	// A change on the master reaches both slaves.
	start := time.Now()
	must(t, a.srv.PutSession(ctxb, "vt", SessionDef{Protocol: "telnet", Host: "127.0.0.1", Port: 2323}))
	waitFor(t, "session on b and c", func() bool { return hasSession(b, "vt") && hasSession(c, "vt") })
	t.Logf("propagation master → 2 slaves: %v", time.Since(start))

	// An admin write on a slave lands through the master and is readable on the slave at once.
	bc := b.admin()
	status, hdr, body := rawReq(t, bc, "PUT", "/api/v1/admin/users/alice", UserSpec{Password: "alice-password", Sessions: []string{"vt"}}, nil)
	if status != 200 || hdr.Get(HeaderReplication) != "applied" {
		t.Fatalf("PUT on slave: %d %s %s", status, hdr.Get(HeaderReplication), body)
	}
	if _, err := b.srv.User(ctxb, "alice"); err != nil {
		t.Fatalf("alice not on b right after the answer: %v", err)
	}
	if _, err := a.srv.User(ctxb, "alice"); err != nil {
		t.Fatalf("alice not on the master: %v", err)
	}
	waitFor(t, "alice on c", func() bool { _, err := c.srv.User(ctxb, "alice"); return err == nil })
	// a direct in-process change on a slave is refused
	if err := b.srv.PutSession(ctxb, "x", SessionDef{Protocol: "telnet", Host: "h", Port: 23}); !errorsIs(err, ErrReplica) {
		t.Fatalf("PutSession on a slave: %v", err)
	}

	// Conflicting concurrent edits: the second PUT with the old ETag is refused.
	status, hdr, _ = rawReq(t, bc, "GET", "/api/v1/admin/sessions/vt", nil, nil)
	etag := hdr.Get("ETag")
	if status != 200 || etag == "" {
		t.Fatalf("GET session: %d etag %q", status, etag)
	}
	ac := a.admin()
	status, _, body = rawReq(t, ac, "PUT", "/api/v1/admin/sessions/vt", SessionDef{Protocol: "telnet", Host: "127.0.0.1", Port: 2324}, map[string]string{"If-Match": etag})
	if status != 200 {
		t.Fatalf("first edit: %d %s", status, body)
	}
	status, _, body = rawReq(t, bc, "PUT", "/api/v1/admin/sessions/vt", SessionDef{Protocol: "telnet", Host: "127.0.0.1", Port: 2325}, map[string]string{"If-Match": etag})
	if status != http.StatusPreconditionFailed || errCode(t, body) != CodePreconditionFailed {
		t.Fatalf("conflicting edit: %d %s", status, body)
	}

	// Login tokens of any node work on every node; a logout replicates.
	alice := b.client()
	if _, err := alice.Login(ctxb, "alice", "alice-password"); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*gnode{a, c} {
		st, _, body := rawReqURL(t, alice, n, "GET", "/api/v1/sessions", nil, nil)
		if st != 200 {
			t.Fatalf("b's login token on %s: %d %s", n.id, st, body)
		}
	}
	if st, _, body := rawReq(t, alice, "POST", "/api/v1/logout", nil, nil); st != 200 {
		t.Fatalf("logout on slave: %d %s", st, body)
	}
	waitFor(t, "revocation on c", func() bool {
		st, _, _ := rawReqURL(t, alice, c, "GET", "/api/v1/sessions", nil, nil)
		return st == 401
	})

	// An old snapshot, captured now, is replayed later.
	oldSnap, _, err := a.srv.repl.signedSnapshot(1)
	must(t, err)

	// The master dies: slaves still log in and launch; writes get master_unreachable.
	enrollInGroup(t, a)
	waitFor(t, "proxy on c", func() bool { ps, _ := c.srv.Proxies(ctxb); return len(ps) == 1 })
	must(t, a.srv.GrantSessions(ctxb, "admin", "vt"))
	waitFor(t, "grant on b", func() bool { u, _ := b.srv.User(ctxb, "admin"); return len(u.Sessions) == 1 })
	a.stop()
	bc = b.admin()
	var lr LaunchResponse
	must(t, bc.Do(ctxb, "POST", "/api/v1/sessions/vt/launch", nil, &lr))
	ver := token.NewVerifier(token.VerifierConfig{Trust: mustTrust(t, c.srv.MgmtSigners())})
	if _, err := ver.Verify(ctxb, token.Presentation{Token: lr.Token, Dst: "127.0.0.1:2324"}); err != nil {
		t.Fatalf("a token from slave b does not verify with c's published signers: %v", err)
	}
	st, _, body := rawReq(t, bc, "PUT", "/api/v1/admin/sessions/y", SessionDef{Protocol: "telnet", Host: "h", Port: 23}, nil)
	if st != 503 || errCode(t, body) != CodeMasterUnreachable {
		t.Fatalf("write with the master down: %d %s", st, body)
	}

	// b is promoted; c follows it; writes work again through b.
	if _, err := b.srv.Promote(ctxb); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "c follows b", func() bool { _, e, m := c.srv.Role(); return e == 2 && m == "mgmt-b" })
	cc := c.admin()
	st, hdr, body = rawReq(t, cc, "PUT", "/api/v1/admin/sessions/after", SessionDef{Protocol: "telnet", Host: "h", Port: 23}, nil)
	if st != 200 || hdr.Get(HeaderReplication) != "applied" {
		t.Fatalf("write through the new master: %d %s", st, body)
	}

	// The old snapshot (epoch 1) is refused by c.
	if _, err := c.srv.ApplySnapshot(ctxb, oldSnap); !isSnapReason(err, SnapshotStaleEpoch) {
		t.Fatalf("replayed old snapshot: %v", err)
	}

	// The old master returns (still configured master) and steps down.
	a.start()
	waitFor(t, "a steps down", func() bool { r, e, m := a.srv.Role(); return r == RoleSlave && e == 2 && m == "mgmt-b" })
	waitFor(t, "a has b's change", func() bool { return hasSession(a, "after") })

	// The archive holds the overwritten revisions; restore brings one back.
	arch, err := c.srv.Archive(ctxb)
	must(t, err)
	if len(arch) < 3 {
		t.Fatalf("archive of c has %d entries", len(arch))
	}
	var before uint64
	for _, e := range arch {
		if snap, _, err := c.srv.ArchivedSnapshot(ctxb, e.Revision); err == nil {
			if _, ok := snap.Buckets["sessions"]["after"]; !ok && e.Reason == "replication" && len(snap.Buckets["sessions"]) > 0 {
				before = e.Revision
				break
			}
		}
	}
	if before == 0 {
		t.Fatal("no archived revision without session 'after'")
	}
	st, _, body = rawReq(t, cc, "POST", "/api/v1/admin/archive/"+strconv.FormatUint(before, 10)+"/restore", nil, nil)
	if st != 200 {
		t.Fatalf("restore via slave c: %d %s", st, body)
	}
	waitFor(t, "restore everywhere", func() bool { return !hasSession(a, "after") && !hasSession(b, "after") && !hasSession(c, "after") })
	// the signers survive a restore: every node still publishes 3
	if ts := mustTrust(t, c.srv.MgmtSigners()); ts.Len() != 3 {
		t.Fatalf("signers after restore: %d", ts.Len())
	}
	rs := b.srv.ReplicationStatus()
	if rs.Role != RoleMaster || len(rs.Peers) != 2 {
		t.Fatalf("status: %+v", rs)
	}
}

func isSnapReason(err error, reason string) bool {
	var se *SnapshotError
	return err != nil && errors.As(err, &se) && se.Reason == reason
}

func mustTrust(t *testing.T, pemBytes []byte) *pki.TrustStore {
	t.Helper()
	ts, err := pki.ParseTrustStore(pemBytes)
	must(t, err)
	return ts
}

func enrollInGroup(t *testing.T, n *gnode) {
	t.Helper()
	ca, err := pki.NewCA(pki.CertSpec{})
	must(t, err)
	leaf, err := ca.Issue(pki.CertSpec{CommonName: "proxy-1", DNSNames: []string{"proxy.example.com"}, Usage: pki.UsageServer})
	must(t, err)
	code, _, err := n.srv.CreateEnrollCode(ctxb)
	must(t, err)
	_, err = n.client().Enroll(ctxb, pki.EnrollRequest{Code: code, NodeID: "proxy-1", Certificate: string(pki.EncodeCertPEM(leaf.Cert))})
	must(t, err)
}

func rawReq(t *testing.T, c *Client, method, path string, in any, hdr map[string]string) (int, http.Header, []byte) {
	t.Helper()
	var body []byte
	if in != nil {
		body, _ = json.Marshal(in)
	}
	req, err := http.NewRequest(method, c.BaseURL+path, bytes.NewReader(body))
	must(t, err)
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, resp.Header, b.Bytes()
}

func rawReqURL(t *testing.T, c *Client, n *gnode, method, path string, in any, hdr map[string]string) (int, http.Header, []byte) {
	t.Helper()
	cc := *c
	cc.BaseURL = "https://" + n.cfg.Addr
	return rawReq(t, &cc, method, path, in, hdr)
}

func TestSnapshotEndpointRefusesBadInput(t *testing.T) {
	g := newGroup(t, false, "mgmt-a", "mgmt-b")
	a, b := g[0], g[1]
	must(t, a.srv.PutSession(ctxb, "vt", SessionDef{Protocol: "telnet", Host: "127.0.0.1", Port: 2323}))
	waitFor(t, "sync", func() bool { return hasSession(b, "vt") })
	a.stop() // no more pushes: b's state must stay as it is
	rev := b.srv.Revision()
	snapBefore, _ := b.srv.Export()

	good, err := func() ([]byte, error) {
		s, err := Open(Config{DataDir: a.dir, Password: testPassword})
		if err != nil {
			return nil, err
		}
		defer s.Close()
		must(t, s.PutSession(ctxb, "evil", SessionDef{Protocol: "telnet", Host: "10.0.0.1", Port: 23}))
		b, _, err := s.repl.signedSnapshot(1)
		return b, err
	}()
	must(t, err)
	var env SignedSnapshot
	must(t, json.Unmarshal(good, &env))

	unsigned := env
	unsigned.Signatures = nil
	ub, _ := json.Marshal(unsigned)

	foreign := newForeignSigned(t, env)
	lowerEpoch := resign(t, a.dir, env, func(h *SnapshotHeader) { h.Epoch = 0 })

	cases := []struct {
		name   string
		body   []byte
		status int
		code   string
	}{
		{"unsigned", ub, 400, SnapshotUnsigned},
		{"truncated", good[:len(good)/2], 400, SnapshotMalformed},
		{"garbage", []byte("not json at all"), 400, SnapshotMalformed},
		{"huge", bytes.Repeat([]byte("x"), 2<<20), 413, SnapshotTooLarge},
		{"foreign signer", foreign, 403, SnapshotBadSignature},
		{"epoch zero", lowerEpoch, 400, SnapshotMalformed},
	}
	// b's limit is lowered so "huge" is cheap
	b.srv.cfg.MaxSnapshotBytes = 1 << 20
	c := b.client()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", c.BaseURL+"/api/v1/replication/snapshot", bytes.NewReader(tc.body))
			resp, err := c.HTTP.Do(req)
			must(t, err)
			var eb errorBody
			json.NewDecoder(resp.Body).Decode(&eb)
			resp.Body.Close()
			if resp.StatusCode != tc.status || eb.Error.Code != tc.code {
				t.Fatalf("got %d %s (%s), want %d %s", resp.StatusCode, eb.Error.Code, eb.Error.Message, tc.status, tc.code)
			}
		})
	}
	if b.srv.Revision() != rev || hasSession(b, "evil") {
		t.Fatalf("a refused snapshot changed b: revision %d → %d", rev, b.srv.Revision())
	}
	if after, _ := b.srv.Export(); len(after.Buckets["sessions"]) != len(snapBefore.Buckets["sessions"]) {
		t.Fatal("sessions changed")
	}
	// the good one applies; the same again is stale
	if _, err := b.srv.ApplySnapshot(ctxb, good); err != nil {
		t.Fatalf("good snapshot: %v", err)
	}
	if !hasSession(b, "evil") {
		t.Fatal("the good snapshot was not applied")
	}
	if _, err := b.srv.ApplySnapshot(ctxb, good); !isSnapReason(err, SnapshotStaleRevision) {
		t.Fatalf("same snapshot twice: %v", err)
	}
	// after b's promotion (epoch 2), a newer revision of epoch 1 is refused
	if _, err := b.srv.Promote(ctxb); err != nil {
		t.Fatal(err)
	}
	newer := resign(t, a.dir, env, func(h *SnapshotHeader) {})
	st, _, body := rawReq(t, c, "POST", "/api/v1/replication/snapshot", json.RawMessage(newer), nil)
	if st != 409 || errCode(t, body) != SnapshotStaleEpoch {
		t.Fatalf("lower epoch: %d %s", st, body)
	}
}

// newForeignSigned re-signs env with a key of the right node name that is
// not a group signer.
func newForeignSigned(t *testing.T, env SignedSnapshot) []byte {
	t.Helper()
	var h SnapshotHeader
	must(t, json.Unmarshal(env.Header, &h))
	c, err := pki.SelfSigned(pki.CertSpec{CommonName: h.Master, Usage: pki.UsageTokenSigning})
	must(t, err)
	sig, err := signMessage(c.Key, signedBytes(env.Header))
	must(t, err)
	env.Signatures = []SnapshotSig{{KID: pki.KID(c.Cert), Sig: sig}}
	b, _ := json.Marshal(env)
	return b
}

// resign changes the header and signs it again with the master's own keys.
func resign(t *testing.T, dir string, env SignedSnapshot, edit func(*SnapshotHeader)) []byte {
	t.Helper()
	var h SnapshotHeader
	must(t, json.Unmarshal(env.Header, &h))
	edit(&h)
	hb, _ := json.Marshal(h)
	env.Header = hb
	s, err := Open(Config{DataDir: dir, Password: testPassword})
	must(t, err)
	defer s.Close()
	env.Signatures = nil
	for _, k := range s.ownSigningKeys() {
		sig, err := signMessage(k.key, signedBytes(hb))
		must(t, err)
		env.Signatures = append(env.Signatures, SnapshotSig{KID: k.kid, Sig: sig})
	}
	b, _ := json.Marshal(env)
	return b
}

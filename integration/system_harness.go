package integration

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/termgate/termgate/emulator"
	"github.com/termgate/termgate/internal/testpeer"
	"github.com/termgate/termgate/mgmt"
	"github.com/termgate/termgate/pki"
	"github.com/termgate/termgate/proxy"
)

// DefaultLBName is the load balancer's public name in system tests: every
// proxy node's certificate names it, and clients check it.
const DefaultLBName = "lb.termgate.test"

// Loopback addresses of the system's parts. Linux answers all of 127/8, so
// each part gets its own address and logs read like a real network.
const (
	lbIP        = "127.0.0.9" // load balancer 1; load balancer i on 127.0.0.(9-i)
	lbIPBase    = 9
	mgmtIPBase  = 10 // mgmt node i on 127.0.0.(10+i)
	proxyIPBase = 2  // proxy node i on 127.0.0.(2+i)
	// haproxySource is where HAProxy's connections to the proxy nodes come
	// from (pinned with "source" in its configuration), the one network
	// the nodes accept PROXY protocol headers from.
	haproxySource = "127.0.0.1"
)

// SystemConfig describes a System. The zero value is one management node,
// two proxy nodes and the race-built binary.
type SystemConfig struct {
	// MgmtNodes is the number of management nodes; 0 means 1. With more
	// than one they form a replication group: node 1 is the master, the
	// others join it with one-time codes and serve as slaves, and every
	// node names every other one with --peer.
	MgmtNodes int
	// ProxyNodes is the number of proxy nodes behind the load balancer; 0 means 2.
	ProxyNodes int
	// Bin is the termgate binary; "" means Binary(t) (built with -race).
	Bin string
	// LBName is the name in the proxies' certificates; "" means DefaultLBName.
	LBName string
	// ProxyArgs are extra flags for every proxy node.
	ProxyArgs []string
	// MaxConn is each HAProxy's connection limit; 0 means 4096.
	MaxConn int
	// LBs is the number of HAProxy instances, each in front of every proxy
	// node; 0 means 1. They listen on the same port of different addresses,
	// as a load balancer name with several DNS addresses would: clients
	// pick one (see System.LBAddrs).
	LBs int
	// NoLB starts no load balancer (the proxies are reachable directly).
	NoLB bool
	// Specs vary the proxy nodes one by one (Specs[i] for node i); a node
	// beyond the slice gets the zero ProxySpec.
	Specs []ProxySpec
}

// MgmtNode is a running `termgate mgmt serve`.
type MgmtNode struct {
	ID   string
	Addr string // host:port of its HTTPS listener
	URL  string // https://Addr
	DTLS string // host:port of its metering (DTLS) listener
	Data string // its data directory
	Proc *Proc

	bin  string
	args []string // the serve command line, for Start
}

// Start (re)starts the node with the command line it first ran with and
// waits for its "ready" line. The recorded role wins over --role on a
// restart, so a returning master that was replaced steps down.
func (n *MgmtNode) Start(t testing.TB) {
	t.Helper()
	n.Proc = Start(t, n.ID, nil, n.bin, n.args...)
	n.Proc.WaitLine(t, "ready", 60*time.Second)
}

// ProxyNode is a running `termgate proxy`.
type ProxyNode struct {
	ID       string
	Addr     string // client TLS listener
	OpsAddr  string // /healthz, /readyz, /metrics
	PeerAddr string // peer link listener
	Data     string // enrollment output
	Cert     string // TLS certificate PEM file
	Key      string // TLS key PEM file
	Proc     *Proc
}

// System is a whole termgate deployment on loopback: management nodes,
// proxy nodes each with a certificate from the group CA that names the load
// balancer, and a real HAProxy in front of the proxies sending PROXY
// protocol v2 and checking each node's /readyz. The proxy nodes form one
// cluster: each names every other one with --peer, and all share one FTP
// channel ticket key file. Everything is stopped at the end of the test,
// and every process's output is logged if it failed.
type System struct {
	Bin    string
	Dir    string
	CADir  string // the group CA (ca.pem, ca-key.pem) that issues node certificates
	LBName string
	LBAddr string // host:port clients dial: the load balancer (the first one)
	// LBAddrs are every load balancer's host:port (LBAddrs[0] == LBAddr);
	// all have the same port.
	LBAddrs []string
	Mgmt    []*MgmtNode
	Nodes   []*ProxyNode
	LB      *Proc   // the first load balancer
	LBs     []*Proc // every load balancer
	// FTPTicketKeys is the FTP channel ticket key file every proxy node
	// shares (--ftp-ticket-key-file).
	FTPTicketKeys string

	cfg     SystemConfig
	planned []*ProxyNode // nodes whose addresses are chosen, started or not
	lbSocks []string     // each HAProxy's stats socket
	admin   *mgmt.Client
	adminOn map[*MgmtNode]*mgmt.Client
	mgmtCA  string // every management node's HTTPS trust in one file
}

// StartSystem starts management nodes, enrolls and starts proxy nodes, and
// puts HAProxy in front of them. It returns when every proxy is ready and
// the load balancer listens.
func StartSystem(t testing.TB, cfg SystemConfig) *System {
	t.Helper()
	if cfg.MgmtNodes == 0 {
		cfg.MgmtNodes = 1
	}
	if cfg.ProxyNodes == 0 {
		cfg.ProxyNodes = 2
	}
	if cfg.LBName == "" {
		cfg.LBName = DefaultLBName
	}
	if cfg.MaxConn == 0 {
		cfg.MaxConn = 4096
	}
	if cfg.LBs == 0 {
		cfg.LBs = 1
	}
	if lbIPBase-(cfg.LBs-1) <= proxyIPBase+cfg.ProxyNodes-1 {
		t.Fatalf("%d load balancers and %d proxy nodes: their loopback addresses overlap", cfg.LBs, cfg.ProxyNodes)
	}
	if !cfg.NoLB {
		testpeer.Require(t, "haproxy", "haproxy")
	}
	s := &System{Bin: cfg.Bin, Dir: t.TempDir(), LBName: cfg.LBName, cfg: cfg}
	if s.Bin == "" {
		s.Bin = Binary(t)
	}
	s.LBAddrs = lbAddrs(t, cfg.LBs)
	s.LBAddr = s.LBAddrs[0]
	s.CADir = filepath.Join(s.Dir, "group-ca")
	s.Run(t, "pki", "init", "--dir", s.CADir, "--cn", "termgate group CA")
	s.FTPTicketKeys = filepath.Join(s.Dir, "ftp-ticket.keys")
	key := make([]byte, 32)
	rand.Read(key)
	if err := os.WriteFile(s.FTPTicketKeys, []byte("# shared by every proxy node\n"+base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	s.startMgmtGroup(t)
	// Every node's addresses are chosen before any node starts, so that
	// each one names all the others with --peer: the early nodes reach the
	// later ones once those are up (a replay check that finds its owner
	// down falls back as the proxy documents).
	for i := 0; i < cfg.ProxyNodes; i++ {
		s.plan(t, s.spec(i))
	}
	for i := 0; i < cfg.ProxyNodes; i++ {
		s.AddProxy(t, s.spec(i))
	}
	if !cfg.NoLB {
		for i, addr := range s.LBAddrs {
			s.LBs = append(s.LBs, s.startLB(t, i, addr))
		}
		s.LB = s.LBs[0]
	}
	return s
}

// spec is cfg.Specs[i], or the zero ProxySpec beyond the slice.
func (s *System) spec(i int) ProxySpec {
	if i < len(s.cfg.Specs) {
		return s.cfg.Specs[i]
	}
	return ProxySpec{}
}

// lbAddrs chooses n load balancer addresses: 127.0.0.9, 127.0.0.8... with
// one port that is free on all of them.
func lbAddrs(t testing.TB, n int) []string {
	t.Helper()
	for try := 0; try < 50; try++ {
		port := strconv.Itoa(FreePort(t, lbIP))
		out := []string{net.JoinHostPort(lbIP, port)}
		for i := 1; i < n; i++ {
			a := net.JoinHostPort(fmt.Sprintf("127.0.0.%d", lbIPBase-i), port)
			ln, err := net.Listen("tcp", a)
			if err != nil {
				break
			}
			ln.Close()
			out = append(out, a)
		}
		if len(out) == n {
			return out
		}
	}
	t.Fatalf("no port free on all %d load balancer addresses", n)
	return nil
}

// lbIPs are the load balancers' addresses without ports.
func (s *System) lbIPs() []string {
	var out []string
	for _, a := range s.LBAddrs {
		h, _, _ := net.SplitHostPort(a)
		out = append(out, h)
	}
	return out
}

// Run runs the termgate binary with args and fails the test if it exits
// non-zero; it returns stdout.
func (s *System) Run(t testing.TB, args ...string) string {
	t.Helper()
	out, errOut, err := s.Exec(t, args...)
	if err != nil {
		t.Fatalf("termgate %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// Exec runs the termgate binary with args (at most one minute) and returns
// stdout, stderr and the exit error.
func (s *System) Exec(t testing.TB, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.Bin, args...)
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// startMgmtGroup starts the management nodes. One node is standalone, as
// `termgate mgmt serve` runs by default. A group is made as mgmt/doc.go
// shows: node 1 serves as master, each other node joins it with a
// one-time code from `termgate mgmt join-code` and serves as slave, and
// each node lists every other one with --peer (addresses are chosen before
// any node starts, so the master names slaves that do not exist yet and
// reaches them once they have joined). It returns when every node holds
// every member's signing certificate and the master's revision.
func (s *System) startMgmtGroup(t testing.TB) {
	t.Helper()
	group := s.cfg.MgmtNodes > 1
	for i := 0; i < s.cfg.MgmtNodes; i++ {
		ip := fmt.Sprintf("127.0.0.%d", mgmtIPBase+i)
		id := fmt.Sprintf("mgmt-%d", i+1)
		n := &MgmtNode{ID: id, Addr: FreeAddr(t, ip), DTLS: freeUDPAddr(t, ip), Data: filepath.Join(s.Dir, id), bin: s.Bin}
		n.URL = "https://" + n.Addr
		s.Mgmt = append(s.Mgmt, n)
	}
	for i, n := range s.Mgmt {
		ip, _, _ := net.SplitHostPort(n.Addr)
		n.args = []string{"mgmt", "serve", "--data", n.Data, "--addr", n.Addr, "--dtls-addr", n.DTLS,
			"--proxy-address", s.LBAddr, "--proxy-server-name", s.LBName, "--log-format", "json"}
		if group {
			role := "master"
			if i > 0 {
				role = "slave"
			}
			n.args = append(n.args, "--role", role)
			for _, other := range s.Mgmt {
				if other != n {
					n.args = append(n.args, "--peer", other.ID+"="+other.URL)
				}
			}
		}
		if i == 0 {
			s.Run(t, "mgmt", "init", "--data", n.Data, "--node-id", n.ID, "--tls-name", ip, "--tls-name", "localhost")
		} else {
			m := s.Mgmt[0]
			code := strings.TrimSpace(s.Run(t, "mgmt", "join-code", "--data", m.Data, "--addr", m.Addr))
			if !strings.HasPrefix(code, "tgj_") {
				t.Fatalf("join-code printed %q, want a tgj_ code", code)
			}
			out := s.Run(t, "mgmt", "join", "--data", n.Data, "--node-id", n.ID, "--addr", n.Addr, "--dtls-addr", n.DTLS,
				"--tls-name", ip, "--tls-name", "localhost",
				"--master", m.URL, "--master-ca", filepath.Join(m.Data, mgmt.CACertFile), "--code", code)
			if !strings.Contains(out, "joined") {
				t.Fatalf("mgmt join printed %q", out)
			}
		}
		n.Start(t)
	}
	if !group {
		s.mgmtCA = filepath.Join(s.Mgmt[0].Data, mgmt.CACertFile)
		return
	}
	var bundle []byte
	for _, n := range s.Mgmt {
		b, err := os.ReadFile(filepath.Join(n.Data, mgmt.CACertFile))
		if err != nil {
			t.Fatal(err)
		}
		bundle = append(bundle, b...)
	}
	s.mgmtCA = filepath.Join(s.Dir, "mgmt-group-ca.pem")
	if err := os.WriteFile(s.mgmtCA, bundle, 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, n := range s.Mgmt {
		for {
			got, err := s.mgmtSigners(n)
			if err == nil && got == len(s.Mgmt) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s knows %d management signers after 30 s, want %d: %v", n.ID, got, len(s.Mgmt), err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	s.WaitReplicated(t, 30*time.Second)
}

// mgmtSigners counts the certificates of node's GET /api/v1/trust/mgmt.pem.
func (s *System) mgmtSigners(n *MgmtNode) (int, error) {
	ca, err := os.ReadFile(s.mgmtCA)
	if err != nil {
		return 0, err
	}
	c, err := mgmt.NewClient(n.URL, ca)
	if err != nil {
		return 0, err
	}
	defer c.HTTP.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.URL+"/api/v1/trust/mgmt.pem", nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET trust/mgmt.pem: %s", resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, err
	}
	ts, err := pki.ParseTrustStore(b)
	if err != nil {
		return 0, err
	}
	return ts.Len(), nil
}

// freeUDPAddr returns "ip:port" with a UDP port that is free right now.
func freeUDPAddr(t testing.TB, ip string) string {
	t.Helper()
	c, err := net.ListenPacket("udp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatalf("free UDP port on %s: %v", ip, err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}

// ProxySpec varies one proxy node.
type ProxySpec struct {
	// DNSNames and IPs are the certificate's names; both empty means the
	// load balancer's name and IP (what a correct deployment has).
	DNSNames []string
	IPs      []string
	// Args are extra flags for this node.
	Args []string
}

// plan chooses the next node's id and addresses. A --peer-listen in
// spec.Args (or SystemConfig.ProxyArgs) is the node's peer address, and a
// --listen in spec.Args its client address.
func (s *System) plan(t testing.TB, spec ProxySpec) *ProxyNode {
	t.Helper()
	i := len(s.planned)
	ip := fmt.Sprintf("127.0.0.%d", proxyIPBase+i)
	n := &ProxyNode{ID: fmt.Sprintf("proxy-%d", i+1), Addr: FreeAddr(t, ip), OpsAddr: FreeAddr(t, ip),
		Data: filepath.Join(s.Dir, fmt.Sprintf("proxy-%d", i+1))}
	if v := flagValues(spec.Args, "listen"); len(v) > 0 {
		n.Addr = v[len(v)-1]
	}
	if v := flagValues(append(slices.Clone(s.cfg.ProxyArgs), spec.Args...), "peer-listen"); len(v) > 0 {
		n.PeerAddr = v[len(v)-1]
	} else {
		n.PeerAddr = FreeAddr(t, ip)
	}
	s.planned = append(s.planned, n)
	return n
}

// flagValues returns the values of --name (as "--name v" or "--name=v") in args.
func flagValues(args []string, name string) []string {
	var out []string
	for i, a := range args {
		switch {
		case a == "--"+name && i+1 < len(args):
			out = append(out, args[i+1])
		case strings.HasPrefix(a, "--"+name+"="):
			out = append(out, strings.TrimPrefix(a, "--"+name+"="))
		}
	}
	return out
}

// AddProxy issues a certificate for a new node from the group CA, enrolls
// it with a one-time code from `termgate mgmt enroll-code`, starts it and
// waits until its /readyz answers 200. The node names as peers every other
// node whose addresses are chosen (within StartSystem, all of them); a
// --peer for the same id in spec.Args or SystemConfig.ProxyArgs replaces
// the one the harness would give. A node added after StartSystem knows the
// running nodes, but they do not know it, and the load balancers, if
// running, do not know it either.
func (s *System) AddProxy(t testing.TB, spec ProxySpec) *ProxyNode {
	t.Helper()
	if len(s.Nodes) == len(s.planned) {
		s.plan(t, spec)
	}
	n := s.planned[len(s.Nodes)]
	if err := os.MkdirAll(n.Data, 0o700); err != nil {
		t.Fatal(err)
	}
	prefix := filepath.Join(n.Data, "tls")
	n.Cert, n.Key = prefix+".pem", prefix+"-key.pem"
	issue := []string{"pki", "issue", "--ca-dir", s.CADir, "--cn", n.ID, "--out", prefix}
	dns, ips := spec.DNSNames, spec.IPs
	if len(dns) == 0 && len(ips) == 0 {
		dns, ips = []string{s.LBName}, s.lbIPs()
	}
	for _, d := range dns {
		issue = append(issue, "--dns", d)
	}
	for _, a := range ips {
		issue = append(issue, "--ip", a)
	}
	s.Run(t, issue...)

	m := s.Mgmt[0]
	code := strings.TrimSpace(s.Run(t, "mgmt", "enroll-code", "--data", m.Data, "--mgmt", m.URL))
	if !strings.HasPrefix(code, "tge_") {
		t.Fatalf("enroll-code printed %q, want a tge_ code", code)
	}
	out := s.Run(t, "proxy", "enroll", "--mgmt", m.URL, "--code", code, "--cert", n.Cert, "--key", n.Key,
		"--data", n.Data, "--mgmt-ca", filepath.Join(m.Data, mgmt.CACertFile), "--node-id", n.ID, "--address", n.Addr)
	if !strings.Contains(out, "enrolled with") {
		t.Fatalf("proxy enroll printed %q", out)
	}

	args := []string{"proxy", "--listen", n.Addr, "--ops-addr", n.OpsAddr, "--peer-listen", n.PeerAddr,
		"--cert", n.Cert, "--key", n.Key, "--data", n.Data, "--node-id", n.ID,
		"--peer-trust", filepath.Join(s.CADir, "ca.pem"), "--ftp-ticket-key-file", s.FTPTicketKeys,
		"--proxy-protocol-from", haproxySource + "/32", "--allow-network", "127.0.0.0/8", "--log-format", "json"}
	for _, mn := range s.Mgmt {
		args = append(args, "--mgmt-url", mn.URL)
	}
	if len(s.Mgmt) > 1 {
		// Enrollment wrote the enrolling node's HTTPS trust only; the node
		// refreshes its signers from every member of the group.
		args = append(args, "--mgmt-tls-trust", s.mgmtCA)
	}
	extra := append(slices.Clone(s.cfg.ProxyArgs), spec.Args...)
	given := map[string]bool{}
	for _, p := range flagValues(extra, "peer") {
		id, _, _ := strings.Cut(p, "=")
		given[id] = true
	}
	for _, other := range s.planned {
		if other != n && !given[other.ID] {
			args = append(args, "--peer", other.ID+"="+other.PeerAddr)
		}
	}
	args = append(args, extra...)
	n.Proc = Start(t, n.ID, nil, s.Bin, args...)
	n.Proc.WaitLine(t, "listening on", 60*time.Second)
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, code, err := n.Ready()
		if err == nil && code == http.StatusOK && r.Ready {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after 30 s: status %d, %+v, %v", n.ID, code, r, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.Nodes = append(s.Nodes, n)
	return n
}

// startLB writes the HAProxy configuration the deployment guide shows
// (docs/deployment.md) for load balancer i listening on addr, checks it
// with haproxy -c and runs it.
func (s *System) startLB(t testing.TB, i int, addr string) *Proc {
	t.Helper()
	bin := testpeer.Require(t, "haproxy", "haproxy")
	sock := filepath.Join(s.Dir, fmt.Sprintf("haproxy-%d.sock", i+1))
	s.lbSocks = append(s.lbSocks, sock)
	cfgText := HAProxyConfigText(addr, s.cfg.MaxConn, s.Nodes)
	cfgText = strings.Replace(cfgText, "global\n", "global\n  stats socket "+sock+" mode 600 level admin\n", 1)
	path := filepath.Join(s.Dir, fmt.Sprintf("haproxy-%d.cfg", i+1))
	if err := os.WriteFile(path, []byte(cfgText), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-c", "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s\n%s", err, out, cfgText)
	}
	label := "haproxy"
	if len(s.LBAddrs) > 1 {
		label = fmt.Sprintf("haproxy-%d", i+1)
	}
	p := Start(t, label, nil, bin, "-db", "-f", path)
	WaitTCP(t, addr, 10*time.Second)
	return p
}

// HAProxyConfigText is a TCP round-robin load balancer in front of nodes:
// PROXY protocol v2 to each node, an HTTP check of each node's /readyz on
// its ops port (a draining node leaves the rotation), redispatch to another
// node when a connect fails.
func HAProxyConfigText(listen string, maxconn int, nodes []*ProxyNode) string {
	var b strings.Builder
	fmt.Fprintf(&b, `global
  maxconn %[1]d

defaults
  mode tcp
  maxconn %[1]d
  timeout connect 5s
  timeout client 30m
  timeout server 30m
  timeout check 2s
  retries 2
  option redispatch

frontend termgate_proxies
  bind %[2]s
  default_backend termgate_nodes

backend termgate_nodes
  balance roundrobin
  option httpchk GET /readyz
  http-check expect status 200
  default-server source %[3]s check inter 500ms fall 2 rise 2 send-proxy-v2
`, maxconn, listen, haproxySource)
	for _, n := range nodes {
		_, port, _ := net.SplitHostPort(n.OpsAddr)
		fmt.Fprintf(&b, "  server %s %s port %s\n", n.ID, n.Addr, port)
	}
	return b.String()
}

// ViaLB returns l to be dialled through load balancer i mod len(LBAddrs):
// the launch names the first one, and the others listen on the same port
// of other addresses, as one load balancer name with several DNS addresses
// would resolve. With one load balancer it returns l.
func (s *System) ViaLB(l *emulator.Launch, i int) *emulator.Launch {
	if len(s.LBAddrs) < 2 {
		return l
	}
	_, port, err := net.SplitHostPort(l.Proxy.Address)
	if err != nil {
		return l
	}
	host, _, _ := net.SplitHostPort(s.LBAddrs[i%len(s.LBAddrs)])
	c := *l
	c.Proxy.Address = net.JoinHostPort(host, port)
	return &c
}

// LBStatus returns the first HAProxy's view of each proxy node ("UP",
// "DOWN", "UP 1/2"...), read from its stats socket.
func (s *System) LBStatus() (map[string]string, error) {
	if len(s.lbSocks) == 0 {
		return nil, errors.New("no load balancer")
	}
	return lbStatus(s.lbSocks[0])
}

// lbStatus reads the node statuses from the HAProxy stats socket sock.
func lbStatus(sock string) (map[string]string, error) {
	c, err := net.DialTimeout("unix", sock, 2*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "show stat\n"); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(c, 1<<20))
	if err != nil {
		return nil, err
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "# ") {
		return nil, fmt.Errorf("haproxy show stat: unexpected answer %q", b)
	}
	header := strings.Split(strings.TrimPrefix(lines[0], "# "), ",")
	col := map[string]int{}
	for i, h := range header {
		col[h] = i
	}
	out := map[string]string{}
	for _, line := range lines[1:] {
		f := strings.Split(line, ",")
		if len(f) < len(header) || f[col["pxname"]] != "termgate_nodes" {
			continue
		}
		if sv := f[col["svname"]]; sv != "BACKEND" {
			out[sv] = f[col["status"]]
		}
	}
	return out, nil
}

// WaitLBStatus waits until every HAProxy reports node with a status that
// starts with want ("UP" or "DOWN").
func (s *System) WaitLBStatus(t testing.TB, node, want string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for _, sock := range s.lbSocks {
		for {
			st, err := lbStatus(sock)
			if err == nil && strings.HasPrefix(st[node], want) && !strings.Contains(st[node], "/") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("HAProxy (%s) did not report %s %s within %v: %v %v", filepath.Base(sock), node, want, d, st, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// Ready fetches the node's /readyz.
func (n *ProxyNode) Ready() (proxy.Readiness, int, error) {
	var r proxy.Readiness
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get("http://" + n.OpsAddr + "/readyz")
	if err != nil {
		return r, 0, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&r)
	return r, resp.StatusCode, err
}

// ActiveSessions is the node's active_sessions from /readyz (-1 if it
// does not answer).
func (n *ProxyNode) ActiveSessions() int {
	r, _, err := n.Ready()
	if err != nil {
		return -1
	}
	return r.ActiveSessions
}

// Metrics fetches the node's /metrics and returns every sample without
// labels by name (e.g. go_goroutines, process_resident_memory_bytes).
func (n *ProxyNode) Metrics() (map[string]float64, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + n.OpsAddr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return parseMetrics(resp.Body)
}

func parseMetrics(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' || strings.ContainsRune(line, '{') {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if sp := strings.IndexByte(val, ' '); sp >= 0 { // a timestamp follows
			val = val[:sp]
		}
		f, err := strconv.ParseFloat(val, 64)
		if err != nil {
			return nil, fmt.Errorf("metric %s: %w", name, err)
		}
		out[name] = f
	}
	return out, sc.Err()
}

// MgmtCA is the PEM file clients trust for the management servers' HTTPS
// (every node's, in a group).
func (s *System) MgmtCA() string {
	if s.mgmtCA == "" { // a System put together by hand around one node
		return filepath.Join(s.Mgmt[0].Data, mgmt.CACertFile)
	}
	return s.mgmtCA
}

// AdminPassword is the password of user admin (made by node 1's init and
// replicated to the group).
func (s *System) AdminPassword(t testing.TB) string {
	t.Helper()
	pw, err := os.ReadFile(filepath.Join(s.Mgmt[0].Data, mgmt.AdminPasswordFile))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(pw))
}

// Admin returns a management client logged in as admin (one login per System).
func (s *System) Admin(t testing.TB) *mgmt.Client {
	t.Helper()
	if s.admin != nil {
		return s.admin
	}
	ca, err := os.ReadFile(s.MgmtCA())
	if err != nil {
		t.Fatal(err)
	}
	c, err := mgmt.NewClient(s.Mgmt[0].URL, ca)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Login(ctx, "admin", s.AdminPassword(t)); err != nil {
		t.Fatalf("admin login: %v", err)
	}
	t.Cleanup(c.HTTP.CloseIdleConnections)
	s.admin = c
	return c
}

// AdminOn returns a management client for node n that uses the admin's
// login token from Admin (login tokens are valid on every node of a
// group). Admin must have been called while node 1 was up.
func (s *System) AdminOn(t testing.TB, n *MgmtNode) *mgmt.Client {
	t.Helper()
	admin := s.Admin(t)
	if c := s.adminOn[n]; c != nil {
		return c
	}
	ca, err := os.ReadFile(s.MgmtCA())
	if err != nil {
		t.Fatal(err)
	}
	c, err := mgmt.NewClient(n.URL, ca)
	if err != nil {
		t.Fatal(err)
	}
	c.Token = admin.Token
	t.Cleanup(c.HTTP.CloseIdleConnections)
	if s.adminOn == nil {
		s.adminOn = map[*MgmtNode]*mgmt.Client{}
	}
	s.adminOn[n] = c
	return c
}

// Replication returns node n's GET /api/v1/admin/replication.
func (s *System) Replication(t testing.TB, n *MgmtNode) (mgmt.ReplicationStatus, error) {
	t.Helper()
	c := s.AdminOn(t, n)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.ReplicationStatus(ctx)
}

// WaitReplicated waits until every running management node agrees on the
// epoch and master and holds the master's revision. It is a no-op for a
// single node.
func (s *System) WaitReplicated(t testing.TB, d time.Duration) {
	t.Helper()
	if len(s.Mgmt) < 2 {
		return
	}
	deadline := time.Now().Add(d)
	for {
		st, err := s.replicationOfLive(t)
		if err == nil && converged(st) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("management nodes did not converge within %v: %+v %v", d, st, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *System) replicationOfLive(t testing.TB) ([]mgmt.ReplicationStatus, error) {
	var out []mgmt.ReplicationStatus
	for _, n := range s.Mgmt {
		if n.Proc.Exited() {
			continue
		}
		st, err := s.Replication(t, n)
		if err != nil {
			return out, fmt.Errorf("%s: %w", n.ID, err)
		}
		out = append(out, st)
	}
	return out, nil
}

// converged reports whether the statuses name one master, which is among
// them, and every node has its epoch and revision.
func converged(st []mgmt.ReplicationStatus) bool {
	var master *mgmt.ReplicationStatus
	for i := range st {
		if st[i].Role == mgmt.RoleMaster {
			if master != nil {
				return false
			}
			master = &st[i]
		}
	}
	if master == nil {
		return false
	}
	for _, x := range st {
		if x.Epoch != master.Epoch || x.Master != master.Node || x.Revision != master.Revision {
			return false
		}
	}
	return true
}

// PutSession defines (or replaces) a session definition.
func (s *System) PutSession(t testing.TB, name string, def mgmt.SessionDef) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.Admin(t).PutSession(ctx, name, def); err != nil {
		t.Fatalf("define session %s: %v", name, err)
	}
}

// User creates user name with a random password, granted sessions and
// destinations, and returns an SDK client logged in as that user.
func (s *System) User(t testing.TB, name string, sessions, destinations []string) *emulator.Client {
	t.Helper()
	pw := s.PutUser(t, name, sessions, destinations)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := s.Client(t, s.Mgmt[0])
	if err := c.Login(ctx, name, pw); err != nil {
		t.Fatalf("login as %s: %v", name, err)
	}
	return c
}

// PutUser creates (or replaces) user name with a random password, granted
// sessions and destinations, and returns the password.
func (s *System) PutUser(t testing.TB, name string, sessions, destinations []string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pw := "pw-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-Aa9!"
	if sessions == nil {
		sessions = []string{}
	}
	if destinations == nil {
		destinations = []string{}
	}
	if _, err := s.Admin(t).PutUser(ctx, name, mgmt.UserSpec{Password: pw, Role: "user", Sessions: sessions, Destinations: destinations}); err != nil {
		t.Fatalf("create user %s: %v", name, err)
	}
	return pw
}

// Client returns an SDK client of management node n, not logged in.
func (s *System) Client(t testing.TB, n *MgmtNode) *emulator.Client {
	t.Helper()
	c, err := emulator.NewClient(n.URL, emulator.ClientOptions{CAFile: s.MgmtCA()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// activeByNode snapshots active_sessions of every live node.
func (s *System) activeByNode() map[string]int {
	m := map[string]int{}
	for _, n := range s.Nodes {
		m[n.ID] = n.ActiveSessions()
	}
	return m
}

// EchoHost is an in-process TCP host that echoes every byte back. It
// stops (closing every connection) at the end of the test.
type EchoHost struct {
	Addr string
	ln   net.Listener
	wg   sync.WaitGroup

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

// StartEchoHost listens on ip with a free port.
func StartEchoHost(t testing.TB, ip string) *EchoHost {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	h := &EchoHost{Addr: ln.Addr().String(), ln: ln, conns: map[net.Conn]struct{}{}}
	h.wg.Add(1)
	go h.accept()
	t.Cleanup(h.Close)
	return h
}

func (h *EchoHost) accept() {
	defer h.wg.Done()
	for {
		c, err := h.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return
		}
		h.mu.Lock()
		if h.closed {
			h.mu.Unlock()
			c.Close()
			return
		}
		h.conns[c] = struct{}{}
		h.wg.Add(1)
		h.mu.Unlock()
		go func() {
			defer h.wg.Done()
			echoConn(c)
			c.Close()
			h.mu.Lock()
			delete(h.conns, c)
			h.mu.Unlock()
		}()
	}
}

// echoConn sends back what c receives until it ends. The copy goes through
// a buffer: io.Copy from a TCP connection to itself would splice through a
// pipe, three descriptors per connection instead of one, which puts 10,000
// echoed sessions past the per-process descriptor limit.
func echoConn(c net.Conn) {
	buf := make([]byte, 4<<10)
	io.CopyBuffer(struct{ io.Writer }{c}, struct{ io.Reader }{c}, buf)
}

// Conns is the number of open connections.
func (h *EchoHost) Conns() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.conns)
}

// Close stops the host and waits for its goroutines.
func (h *EchoHost) Close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	h.ln.Close()
	for c := range h.conns {
		c.Close()
	}
	h.mu.Unlock()
	h.wg.Wait()
}

var (
	plainBuildOnce sync.Once
	plainBuildPath string
	plainBuildErr  error
)

// PlainBinary builds ./cmd/termgate once without the race detector, for the
// load tests: a race-built proxy pays several times the CPU per byte and
// has a hard limit of 8128 live goroutines, which thousands of relayed
// sessions exceed.
func PlainBinary(t testing.TB) string {
	t.Helper()
	plainBuildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "termgate-plain-bin-")
		if err != nil {
			plainBuildErr = err
			return
		}
		plainBuildPath = filepath.Join(dir, "termgate")
		_, file, _, _ := runtime.Caller(0)
		cmd := exec.Command("go", "build", "-o", plainBuildPath, "./cmd/termgate")
		cmd.Dir = filepath.Dir(filepath.Dir(file))
		if out, err := cmd.CombinedOutput(); err != nil {
			plainBuildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if plainBuildErr != nil {
		t.Fatal(plainBuildErr)
	}
	return plainBuildPath
}

// raiseFileLimit raises RLIMIT_NOFILE of this process (and so of the
// processes it starts) to at least want, as far as the hard limit (or
// privileges) allow, and returns the soft limit in effect.
func raiseFileLimit(want uint64) uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	if rl.Cur >= want {
		return rl.Cur
	}
	if rl.Max < want {
		try := syscall.Rlimit{Cur: want, Max: want}
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &try) == nil {
			return want
		}
	}
	rl.Cur = min(want, rl.Max)
	syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	return rl.Cur
}

package integration

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/termgate/termgate/emulator"
	"github.com/termgate/termgate/ftpchan"
	"github.com/termgate/termgate/internal/testpeer"
	"github.com/termgate/termgate/mgmt"
	"github.com/termgate/termgate/pki"
)

// ftpServer is a running vsftpd.
type ftpServer struct {
	Addr string
	Root string // the anonymous root, writable by nobody
	Log  string
}

// startVsftpd runs a real vsftpd (testpeer.StartVsftpd) on ip with an
// anonymous, writable root.
func startVsftpd(t testing.TB, ip string) *ftpServer {
	v := testpeer.StartVsftpd(t, testpeer.VsftpdOptions{IP: ip})
	return &ftpServer{Addr: v.Addr, Root: v.Root, Log: v.Log}
}

// ftpCluster is a System of two peered proxy nodes sharing an FTP ticket
// key behind round-robin HAProxy, a vsftpd, an "files" ftp session and a
// user granted it.
type ftpCluster struct {
	*System
	FTP      *ftpServer
	User     string
	Password string
	Client   *emulator.Client
}

// startFTPCluster starts the cluster; extra are flags for every proxy node.
// The proxy processes are the non-race build: a race-built proxy moves
// bytes several times slower, and this test moves hundreds of MiB.
func startFTPCluster(t *testing.T, extra ...string) *ftpCluster {
	t.Helper()
	return startFTPClusterNodes(t, [2]ProxySpec{}, extra...)
}

// startFTPClusterNodes is startFTPCluster with more for each node: its
// certificate names and flags.
func startFTPClusterNodes(t *testing.T, nodes [2]ProxySpec, extra ...string) *ftpCluster {
	t.Helper()
	ftpd := startVsftpd(t, "127.0.0.1")
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "ftp-ticket.keys")
	k := make([]byte, 32)
	rand.Read(k)
	if err := os.WriteFile(keyFile, []byte("# shared by every proxy node\n"+base64.StdEncoding.EncodeToString(k)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// StartSystem gives each node the peers started before it; node 1 must
	// know node 2 too, so node 2's peer listener address is chosen here.
	peer2 := FreeAddr(t, "127.0.0.3")
	sys := StartSystem(t, SystemConfig{
		Bin:       PlainBinary(t),
		ProxyArgs: append([]string{"--ftp-ticket-key-file", keyFile}, extra...),
		Specs: []ProxySpec{
			{DNSNames: nodes[0].DNSNames, IPs: nodes[0].IPs, Args: append([]string{"--peer", "proxy-2=" + peer2}, nodes[0].Args...)},
			{DNSNames: nodes[1].DNSNames, IPs: nodes[1].IPs, Args: append([]string{"--peer-listen", peer2}, nodes[1].Args...)},
		},
	})
	host, port := hostPort(t, ftpd.Addr)
	sys.PutSession(t, "files", mgmt.SessionDef{Protocol: "ftp", Host: host, Port: port, TokenTTLSeconds: 900})
	fc := &ftpCluster{System: sys, FTP: ftpd, User: "ftpuser", Password: "pw-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-Aa9!"}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := sys.Admin(t).PutUser(ctx, fc.User, mgmt.UserSpec{Password: fc.Password, Role: "user",
		Sessions: []string{"files"}, Destinations: []string{}}); err != nil {
		t.Fatal(err)
	}
	c, err := emulator.NewClient(sys.Mgmt[0].URL, emulator.ClientOptions{CAFile: sys.MgmtCA()})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(ctx, fc.User, fc.Password); err != nil {
		t.Fatal(err)
	}
	fc.Client = c
	return fc
}

// dialFTP launches "files" and opens an FTP client through the load balancer.
func (fc *ftpCluster) dialFTP(t *testing.T, cfg ftpchan.ClientConfig) *ftpchan.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := fc.Client.Launch(ctx, "files", emulator.LaunchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := ftpchan.Dial(ctx, l, cfg)
	if err != nil {
		t.Fatalf("FTP session through the load balancer: %v", err)
	}
	return c
}

// nodeCounter sums the samples of metric name on a node's /metrics whose
// labels include want.
func nodeCounter(t testing.TB, n *ProxyNode, name string, want map[string]string) float64 {
	t.Helper()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + n.OpsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
line:
	for sc.Scan() {
		l := sc.Text()
		if !strings.HasPrefix(l, name) {
			continue
		}
		rest := l[len(name):]
		labels := ""
		if strings.HasPrefix(rest, "{") {
			end := strings.Index(rest, "}")
			if end < 0 {
				continue
			}
			labels, rest = rest[1:end], rest[end+1:]
		}
		if !strings.HasPrefix(rest, " ") {
			continue // a longer metric name
		}
		for k, v := range want {
			if !strings.Contains(","+labels+",", ","+k+"=\""+v+"\",") {
				continue line
			}
		}
		f, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", l, err)
		}
		sum += f
	}
	return sum
}

// fileSpec is one test file: its bytes come from a seeded generator, so
// 50 files up to 8 MiB need no memory.
type fileSpec struct {
	name string
	size int64
	seed uint64
}

func (f fileSpec) reader() io.Reader {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(f.seed >> (8 * i))
	}
	return io.LimitReader(mrand.NewChaCha8(s), f.size)
}

func (f fileSpec) sum() [32]byte {
	h := sha256.New()
	io.Copy(h, f.reader())
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// TestFTPDirectAddress runs the direct option with real processes: each
// node names its own address (--ftp-direct-address, in its certificate
// too), so an FTP session's data and notification channels go straight
// to the node that took its control channel through HAProxy, and no node
// forwards anything.
func TestFTPDirectAddress(t *testing.T) {
	var nodes [2]ProxySpec
	addrs := make([]string, 2)
	for i := range nodes {
		ip := fmt.Sprintf("127.0.0.%d", proxyIPBase+i)
		addrs[i] = FreeAddr(t, ip)
		nodes[i] = ProxySpec{DNSNames: []string{DefaultLBName}, IPs: []string{ip},
			Args: []string{"--listen", addrs[i], "--ftp-direct-address", addrs[i]}}
	}
	fc := startFTPClusterNodes(t, nodes)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	l, err := fc.Client.Launch(ctx, "files", emulator.LaunchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The nodes expect a PROXY header from HAProxy's address, 127.0.0.1: a
	// client that reaches them directly comes from another one.
	src := &net.TCPAddr{IP: net.ParseIP("127.0.0.50")}
	c, err := ftpchan.DialProxy(ctx, emulator.DialOptions{
		ProxyAddr: l.Proxy.Address, ServerName: l.Proxy.ServerName, Trust: l.Trust, Token: l.Token,
		ProofKey: l.ProofKey, Target: l.Session.Target(),
		DialContext: (&net.Dialer{LocalAddr: src, Timeout: 10 * time.Second}).DialContext,
	}, ftpchan.ClientConfig{Timeout: 30 * time.Second})
	if err != nil {
		t.Fatalf("FTP session through the load balancer: %v", err)
	}
	defer c.Close()
	if d := c.DirectAddress(); d != addrs[0] && d != addrs[1] {
		t.Fatalf("direct address %q, want one of the nodes' %v", d, addrs)
	}
	rng := mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for i := range 8 {
		f := fileSpec{name: fmt.Sprintf("d%d.bin", i), size: rng.Int64N(2<<20 + 1), seed: rng.Uint64()}
		if err := c.Stor(f.name, f.reader()); err != nil {
			t.Fatalf("STOR %s: %v", f.name, err)
		}
		r, err := c.Retr(f.name)
		if err != nil {
			t.Fatalf("RETR %s: %v", f.name, err)
		}
		h := sha256.New()
		_, err = io.Copy(h, r)
		r.Close()
		if err != nil || [32]byte(h.Sum(nil)) != f.sum() {
			t.Fatalf("RETR %s: %v, or different bytes", f.name, err)
		}
	}
	served := 0.0
	for _, n := range fc.Nodes {
		if got := nodeCounter(t, n, "termgate_ftp_channels_forwarded_total", nil); got != 0 {
			t.Errorf("%s forwarded %v channels, want 0", n.ID, got)
		}
		served += nodeCounter(t, n, "termgate_ftp_channels_total", map[string]string{"kind": "ftp-data"})
	}
	if served != 16 {
		t.Errorf("the nodes served %v data channels, want 16", served)
	}
}

// TestFTPRoundRobinForwarding is the FTP must-show: HAProxy in plain
// round-robin (no stickiness) spreads the control, notification and data
// connections of FTP sessions over two proxy nodes, and the node that did
// not take the control channel forwards the others to the one that did.
func TestFTPRoundRobinForwarding(t *testing.T) {
	fc := startFTPCluster(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("file sizes seed %d", seed)
	rng := mrand.New(mrand.NewPCG(seed, 42))
	files := make([]fileSpec, 50)
	for i := range files {
		size := rng.Int64N(8<<20 + 1)
		switch i {
		case 0:
			size = 0
		case 1:
			size = 1
		case 2:
			size = 8 << 20
		}
		files[i] = fileSpec{name: fmt.Sprintf("f%02d.bin", i), size: size, seed: rng.Uint64()}
	}

	c := fc.dialFTP(t, ftpchan.ClientConfig{Timeout: 30 * time.Second})
	defer c.Close()
	var total int64
	start := time.Now()
	for _, f := range files {
		if err := c.Stor(f.name, f.reader()); err != nil {
			t.Fatalf("STOR %s (%d bytes): %v", f.name, f.size, err)
		}
		total += f.size
	}
	up := time.Since(start)
	start = time.Now()
	for _, f := range files {
		r, err := c.Retr(f.name)
		if err != nil {
			t.Fatalf("RETR %s: %v", f.name, err)
		}
		h := sha256.New()
		n, err := io.Copy(h, r)
		r.Close()
		if err != nil {
			t.Fatalf("RETR %s: %v after %d bytes", f.name, err, n)
		}
		if got, want := [32]byte(h.Sum(nil)), f.sum(); got != want || n != f.size {
			t.Fatalf("%s: downloaded %d bytes with SHA-256 %x, uploaded %d bytes with %x", f.name, n, got[:8], f.size, want[:8])
		}
	}
	down := time.Since(start)
	t.Logf("50 files, %.1f MiB each way: upload %v (%.0f MiB/s), download %v (%.0f MiB/s)",
		float64(total)/(1<<20), up.Round(time.Millisecond), float64(total)/(1<<20)/up.Seconds(),
		down.Round(time.Millisecond), float64(total)/(1<<20)/down.Seconds())

	// Which node owns the session, and how many channels the other forwarded.
	var forwarded, received, served float64
	for _, n := range fc.Nodes {
		f := nodeCounter(t, n, "termgate_proxy_ftp_forwards_total", map[string]string{"result": "ok"})
		r := nodeCounter(t, n, "termgate_proxy_ftp_forwards_received_total", nil)
		s := nodeCounter(t, n, "termgate_ftp_channels_total", map[string]string{"kind": "ftp-data"})
		t.Logf("%s: forwarded %v channels, received %v forwarded channels, served %v data channels", n.ID, f, r, s)
		forwarded += f
		received += r
		served += s
	}
	// 100 data channels + 1 notification channel; round-robin sends about
	// half of them to the node that does not own the session.
	if served != 100 {
		t.Errorf("data channels served = %v, want 100 (50 STOR + 50 RETR, all on the owner)", served)
	}
	if forwarded < 25 || received != forwarded {
		t.Errorf("forwarded %v channels, received %v: want ≥ 25, and every forwarded one received by the owner", forwarded, received)
	}
	logged := 0
	for _, n := range fc.Nodes {
		logged += strings.Count(n.Proc.Output(), `"event":"ftp_channel_forwarded"`)
	}
	if float64(logged) != forwarded {
		t.Errorf("%d ftp_channel_forwarded log events, %v forwarded channels", logged, forwarded)
	}

	t.Run("attacks during a transfer", func(t *testing.T) { ftpAttacks(t, fc) })
	t.Run("cli", func(t *testing.T) { ftpCLI(t, fc) })
	t.Run("throughput", func(t *testing.T) { ftpThroughput(t, fc) })
}

// TestFTPWithoutForwardingFails is the control experiment: the same
// cluster with --ftp-forwarding=false. Round-robin sends some data
// connections to the node that does not own the session, and those
// transfers fail (owner_unavailable): this is what forwarding fixes, and
// it shows that the must-show test would see the problem.
func TestFTPWithoutForwardingFails(t *testing.T) {
	fc := startFTPCluster(t, "--ftp-forwarding=false")
	c := fc.dialFTP(t, ftpchan.ClientConfig{Timeout: 15 * time.Second, NoNotify: true})
	defer c.Close()
	failed, ok := 0, 0
	for i := 0; i < 8; i++ {
		err := c.Stor(fmt.Sprintf("nf%d.bin", i), strings.NewReader(strings.Repeat("x", 1000)))
		if err == nil {
			ok++
			continue
		}
		failed++
		var pe *emulator.ProxyError
		if !errors.As(err, &pe) || pe.Code != "owner_unavailable" || pe.Status != http.StatusServiceUnavailable {
			t.Errorf("transfer %d failed with %v, want the proxy's 503 owner_unavailable", i, err)
		}
	}
	t.Logf("without forwarding: %d transfers failed, %d succeeded", failed, ok)
	if failed < 3 {
		t.Fatalf("only %d of 8 transfers failed without forwarding: the load balancer did not spread data connections, so the forwarding test proves nothing", failed)
	}
	refused := 0.0
	for _, n := range fc.Nodes {
		refused += nodeCounter(t, n, "termgate_proxy_rejections_total", map[string]string{"code": "owner_unavailable"})
		if f := nodeCounter(t, n, "termgate_proxy_ftp_forwards_total", nil); f != 0 {
			t.Errorf("%s forwarded %v channels with forwarding off", n.ID, f)
		}
	}
	if int(refused) != failed {
		t.Errorf("owner_unavailable rejections = %v, failed transfers = %d", refused, failed)
	}
}

// slowReader hands out at most 32 KiB per read, one read every 5 ms, so a
// transfer lasts long enough for the attacks to happen during it.
type slowReader struct{ r io.Reader }

func (s slowReader) Read(p []byte) (int, error) {
	time.Sleep(5 * time.Millisecond)
	return s.r.Read(p[:min(len(p), 32<<10)])
}

// rawControl opens an FTP control channel through the load balancer with
// launch l and logs in anonymously; it returns the connection, a reader and
// the channel ticket.
func rawControl(t *testing.T, ctx context.Context, l *emulator.Launch) (*emulator.Conn, *bufio.Reader, string) {
	t.Helper()
	conn, err := emulator.DialProxy(ctx, emulator.DialOptions{ProxyAddr: l.Proxy.Address, ServerName: l.Proxy.ServerName,
		Trust: l.Trust, Token: l.Token, ProofKey: l.ProofKey, Target: l.Session.Target()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(conn)
	ftpReply(t, br, "2")
	fmt.Fprintf(conn, "USER anonymous\r\n")
	if r := ftpReply(t, br, ""); strings.HasPrefix(r, "331") {
		fmt.Fprintf(conn, "PASS x@\r\n")
		ftpReply(t, br, "2")
	}
	return conn, br, conn.Header().Get(emulator.HeaderTicket)
}

// ftpReply reads one (possibly multi-line) reply; prefix "" accepts any.
func ftpReply(t *testing.T, br *bufio.Reader, prefix string) string {
	t.Helper()
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("FTP reply: %v", err)
		}
		if len(l) >= 4 && l[3] == ' ' {
			if !strings.HasPrefix(l, prefix) {
				t.Fatalf("FTP reply %q, want %s…", strings.TrimSpace(l), prefix)
			}
			return strings.TrimSpace(l)
		}
	}
}

// channelConnect sends a data-channel CONNECT through the load balancer
// with ticket and returns the status and Termgate-Error code.
func channelConnect(t *testing.T, l *emulator.Launch, target, ticket string) (int, string) {
	t.Helper()
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second},
		Config: pki.ClientTLSConfig(l.Trust, l.Proxy.ServerName, true)}
	c, err := d.Dial("tcp", l.Proxy.Address)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\nTermgate-Channel: ftp-data\r\nTermgate-Ticket: %s\r\n\r\n", target, target, ticket)
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: http.MethodConnect})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get(emulator.HeaderError)
}

// ftpAttacks runs attacks through the real proxy processes while a
// legitimate download is in progress; the download must complete intact.
func ftpAttacks(t *testing.T, fc *ftpCluster) {
	ports := make(chan int, 16)
	victim := fc.dialFTP(t, ftpchan.ClientConfig{Timeout: 30 * time.Second, OnEvent: func(e ftpchan.Event) {
		if e.Type == ftpchan.EventDataReady {
			select {
			case ports <- e.Port:
			default:
			}
		}
	}})
	defer victim.Close()
	want := fileSpec{name: "victim.bin", size: 6 << 20, seed: 7}
	if err := victim.Stor(want.name, want.reader()); err != nil {
		t.Fatal(err)
	}
	for len(ports) > 0 {
		<-ports
	}
	r, err := victim.Retr(want.name)
	if err != nil {
		t.Fatal(err)
	}
	var victimPort int
	select {
	case victimPort = <-ports:
	case <-time.After(10 * time.Second):
		t.Fatal("no data-ready notification for the victim's download")
	}
	done := make(chan error, 1)
	var got [32]byte
	var n int64
	go func() {
		h := sha256.New()
		var err error
		n, err = io.Copy(h, slowReader{r})
		copy(got[:], h.Sum(nil))
		if cerr := r.Close(); err == nil {
			err = cerr
		}
		done <- err
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	l, err := fc.Client.Launch(ctx, "files", emulator.LaunchOptions{NoProof: true})
	if err != nil {
		t.Fatal(err)
	}
	ctl, br, attackerTicket := rawControl(t, ctx, l)
	host, _ := hostPort(t, fc.FTP.Addr)

	// 1. The attacker's own (valid) ticket for the victim's data port.
	for i := 0; i < 2; i++ { // twice: round-robin tries both nodes
		status, code := channelConnect(t, l, net.JoinHostPort(host, strconv.Itoa(victimPort)), attackerTicket)
		if status != http.StatusForbidden || code != "channel_denied" {
			t.Errorf("another session's ticket for the victim's data port: %d %s, want 403 channel_denied", status, code)
		}
	}
	// 2. A forged ticket.
	status, code := channelConnect(t, l, net.JoinHostPort(host, strconv.Itoa(victimPort)), attackerTicket[:len(attackerTicket)-6]+"AAAAAA")
	if status != http.StatusProxyAuthRequired || code != "ticket_invalid" {
		t.Errorf("forged ticket: %d %s, want 407 ticket_invalid", status, code)
	}
	// 3. PORT/EPRT to a third party: refused by the gateway, and the third
	// party never hears from the FTP server.
	third, err := net.Listen("tcp", "127.0.0.30:0")
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		if c, err := third.Accept(); err == nil {
			c.Close()
			accepted <- struct{}{}
		}
	}()
	tp := third.Addr().(*net.TCPAddr).Port
	for _, cmd := range []string{fmt.Sprintf("PORT 127,0,0,30,%d,%d", tp>>8, tp&0xff), fmt.Sprintf("EPRT |1|127.0.0.30|%d|", tp)} {
		fmt.Fprintf(ctl, "%s\r\n", cmd)
		if rep := ftpReply(t, br, ""); !strings.HasPrefix(rep, "5") {
			t.Errorf("%s answered %q, want a 5xx refusal", cmd, rep)
		}
	}
	fmt.Fprintf(ctl, "LIST\r\n")
	ftpReply(t, br, "") // 425 or similar: no data connection was set up
	select {
	case <-accepted:
		t.Error("the third party received a connection: bounce attack possible")
	case <-time.After(500 * time.Millisecond):
	}

	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the victim's download failed: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the victim's download did not finish")
	}
	if n != want.size || got != want.sum() {
		t.Fatalf("the victim's download: %d bytes, SHA-256 %x; want %d bytes, %x", n, got[:8], want.size, want.sum())
	}
	denied := 0.0
	for _, n := range fc.Nodes {
		denied += nodeCounter(t, n, "termgate_ftp_channels_refused_total", map[string]string{"code": "channel_denied"})
	}
	if denied < 2 {
		t.Errorf("channel_denied refusals on the owners = %v, want ≥ 2", denied)
	}
}

// ftpCLI drives `termgate ftp put|ls|get` (non-TTY: no progress bar) and a
// resumed get against the cluster.
func ftpCLI(t *testing.T, fc *ftpCluster) {
	dir := t.TempDir()
	src := filepath.Join(dir, "report.bin")
	f := fileSpec{name: "report.bin", size: 3<<20 + 12345, seed: 99}
	out, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(out, f.reader())
	out.Close()
	run := func(args ...string) (string, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		full := append([]string{"ftp"}, args...)
		full = append(full, "--mgmt", fc.Mgmt[0].URL, "--ca", fc.MgmtCA(), "--user", fc.User, "--session", "files")
		cmd := exec.CommandContext(ctx, fc.Bin, full...)
		cmd.Env = append(os.Environ(), "TERMGATE_PASSWORD="+fc.Password)
		var o, e strings.Builder
		cmd.Stdout, cmd.Stderr = &o, &e
		if err := cmd.Run(); err != nil {
			t.Fatalf("termgate %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(full, " "), err, o.String(), e.String())
		}
		if strings.ContainsRune(e.String(), '\r') {
			t.Errorf("termgate %s drew a progress bar on a non-terminal stderr: %q", args[0], e.String())
		}
		return o.String(), e.String()
	}
	run("mkdir", "cli")
	run("put", src, "cli/report.bin")
	ls, _ := run("ls", "cli")
	if !strings.Contains(ls, "report.bin") || !strings.Contains(ls, strconv.FormatInt(f.size, 10)) {
		t.Fatalf("ls cli printed %q, want report.bin with %d bytes", ls, f.size)
	}
	dst := filepath.Join(dir, "copy.bin")
	run("get", "cli/report.bin", dst)
	checkFile(t, dst, f)
	// Interrupted download: cut the local copy, then resume it.
	if err := os.Truncate(dst, f.size/3); err != nil {
		t.Fatal(err)
	}
	run("get", "--resume", "cli/report.bin", dst)
	checkFile(t, dst, f)
	_, e := run("get", "--resume", "cli/report.bin", dst)
	if !strings.Contains(e, "is complete") {
		t.Errorf("a second resume printed %q, want that the file is complete", e)
	}
}

func checkFile(t *testing.T, path string, f fileSpec) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) != f.size || sha256.Sum256(b) != f.sum() {
		t.Fatalf("%s: %d bytes, want %d with the uploaded SHA-256", path, len(b), f.size)
	}
}

// ftpThroughput measures transfers through one node and through a
// forwarding node as ratios to a direct FTP transfer to the same vsftpd in
// the same run (a logged measurement, not an assertion). The client
// reaches the nodes directly, from 127.0.0.50 (outside the load balancer's
// network, so no PROXY header is expected). The three paths take turns,
// round after round, and each keeps its best round, so that a burst of
// load on the machine does not favour one of them.
func ftpThroughput(t *testing.T, fc *ftpCluster) {
	const size = 64 << 20
	const rounds = 3
	f := fileSpec{name: "bench.bin", size: size, seed: 5}
	src := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.50")}, Timeout: 10 * time.Second}

	type path struct {
		label    string
		stor     func(string, io.Reader) error
		retr     func(string) (io.ReadCloser, error)
		up, down float64 // MiB/s, best round
	}
	// Direct: the FTP library straight to vsftpd.
	dc, err := ftp.Dial(fc.FTP.Addr, ftp.DialWithTimeout(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Quit()
	if err := dc.Login("anonymous", "anonymous@"); err != nil {
		t.Fatal(err)
	}
	through := func(control, others string) *ftpchan.Client {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		l, err := fc.Client.Launch(ctx, "files", emulator.LaunchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		first := true
		c, err := ftpchan.DialProxy(ctx, emulator.DialOptions{ProxyAddr: control, ServerName: l.Proxy.ServerName,
			Trust: l.Trust, Token: l.Token, ProofKey: l.ProofKey, Target: l.Session.Target(),
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				mu.Lock()
				a := others
				if first {
					a, first = control, false
				}
				mu.Unlock()
				return src.DialContext(ctx, network, a)
			}}, ftpchan.ClientConfig{Timeout: 30 * time.Second, NoNotify: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	n1, n2 := fc.Nodes[0], fc.Nodes[1]
	one, fwd := through(n1.Addr, n1.Addr), through(n1.Addr, n2.Addr)
	paths := []*path{
		{label: "direct", stor: dc.Stor, retr: func(p string) (io.ReadCloser, error) { return dc.Retr(p) }},
		{label: "one node", stor: one.Stor, retr: func(p string) (io.ReadCloser, error) { return one.Retr(p) }},
		{label: "forwarding node", stor: fwd.Stor, retr: func(p string) (io.ReadCloser, error) { return fwd.Retr(p) }},
	}
	before := nodeCounter(t, n2, "termgate_proxy_ftp_forwards_total", map[string]string{"result": "ok"})
	for range rounds {
		for i, p := range paths {
			name := fmt.Sprintf("bench-%d.bin", i)
			start := time.Now()
			if err := p.stor(name, f.reader()); err != nil {
				t.Fatalf("%s: STOR: %v", p.label, err)
			}
			p.up = max(p.up, size/(1<<20)/time.Since(start).Seconds())
			start = time.Now()
			r, err := p.retr(name)
			if err != nil {
				t.Fatalf("%s: RETR: %v", p.label, err)
			}
			n, err := io.Copy(io.Discard, r)
			r.Close()
			if err != nil || n != size {
				t.Fatalf("%s: RETR: %d bytes, %v", p.label, n, err)
			}
			p.down = max(p.down, size/(1<<20)/time.Since(start).Seconds())
		}
	}
	if got := nodeCounter(t, n2, "termgate_proxy_ftp_forwards_total", map[string]string{"result": "ok"}) - before; got != 2*rounds {
		t.Errorf("the forwarding path forwarded %v data channels, want %d", got, 2*rounds)
	}
	ceiling := tlsCeiling(t, size)
	direct := paths[0]
	t.Logf("FTP throughput, %d MiB files, best of %d rounds (MiB/s; ratios to direct):", size>>20, rounds)
	t.Logf("  one TLS stream on loopback, in process (context): %.0f", ceiling)
	t.Logf("  direct to vsftpd:   upload %5.0f  download %5.0f", direct.up, direct.down)
	for _, p := range paths[1:] {
		t.Logf("  %-18s  upload %5.0f  download %5.0f  ratio up %.2f  down %.2f", p.label+":", p.up, p.down, p.up/direct.up, p.down/direct.down)
	}
}

// tlsCeiling is what one TLS 1.3 stream over loopback moves on this
// machine (MiB/s): with the client, the proxy and the FTP server on the
// same cores, a download through the proxy cannot beat it.
func tlsCeiling(t *testing.T, size int64) float64 {
	c, err := pki.SelfSigned(pki.CertSpec{CommonName: "127.0.0.1", IPs: []net.IP{net.ParseIP("127.0.0.1")}, Usage: pki.UsageServer})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{c.TLSCertificate()}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		s, err := ln.Accept()
		if err != nil {
			return
		}
		defer s.Close()
		io.Copy(s, io.LimitReader(zeroReader{}, size))
	}()
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pki.NewTrustStore(c.Cert).Pool(), ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Minute))
	start := time.Now()
	n, _ := io.Copy(io.Discard, conn)
	return float64(n) / (1 << 20) / time.Since(start).Seconds()
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/termgate/termgate/emulator"
	"github.com/termgate/termgate/ftpchan"
	"github.com/termgate/termgate/internal/testpeer"
	"github.com/termgate/termgate/pki"
	"github.com/termgate/termgate/token"
)

// startVsftpd runs a real vsftpd (testpeer.StartVsftpd) and returns its address.
func startVsftpd(t testing.TB) string {
	return testpeer.StartVsftpd(t, testpeer.VsftpdOptions{}).Addr
}

// ftpOpts are a client's options for an FTP session to dst through the
// nodes: the control channel goes to first, every other connection to rest
// (round-robin), as a load balancer may send them.
func ftpOpts(t testing.TB, dst string, pop bool, first string, rest ...string) emulator.DialOptions {
	t.Helper()
	f := getFixture(t)
	req := token.Request{Dst: dst, Proto: token.ProtoFTP}
	var key *token.ProofKey
	if pop {
		var err error
		if key, err = token.NewProofKey(); err != nil {
			t.Fatal(err)
		}
		req.PoPKey = key.JWK()
	}
	if len(rest) == 0 {
		rest = []string{first}
	}
	var mu sync.Mutex
	n := -1
	return emulator.DialOptions{
		ProxyAddr: first, ServerName: "127.0.0.1", Trust: pki.NewTrustStore(f.ca.Cert.Cert),
		Token: emulator.Secret(f.token(t, req)), ProofKey: key, Target: dst,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			mu.Lock()
			n++
			a := first
			if n > 0 {
				a = rest[(n-1)%len(rest)]
			}
			mu.Unlock()
			return (&net.Dialer{}).DialContext(ctx, network, a)
		},
	}
}

// transfer uploads and downloads files of the given sizes and checks them.
func transfer(t testing.TB, c *ftpchan.Client, prefix string, sizes ...int) {
	t.Helper()
	for i, n := range sizes {
		data := make([]byte, n)
		rand.Read(data)
		name := fmt.Sprintf("%s-%d.bin", prefix, i)
		if err := c.Stor(name, bytes.NewReader(data)); err != nil {
			t.Fatalf("STOR %s: %v", name, err)
		}
		r, err := c.Retr(name)
		if err != nil {
			t.Fatalf("RETR %s: %v", name, err)
		}
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatalf("RETR %s: %v", name, err)
		}
		if sha256.Sum256(got) != sha256.Sum256(data) {
			t.Fatalf("%s: downloaded %d bytes differ from the %d uploaded", name, len(got), len(data))
		}
	}
}

// counter sums the samples of a counter family whose labels include want.
func counter(t testing.TB, reg *prometheus.Registry, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue metric
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

func ticketKey(t testing.TB) []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

func TestFTPThroughOneNode(t *testing.T) {
	ftpd := startVsftpd(t)
	srv := startServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := ftpchan.DialProxy(ctx, ftpOpts(t, ftpd, true, srv.Addr().String()), ftpchan.ClientConfig{Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	transfer(t, c, "one", 0, 1, 100_000, 3<<20)
	if _, err := c.List("/"); err != nil {
		t.Fatalf("LIST: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("QUIT: %v", err)
	}
	reg := srv.Registry()
	if got := counter(t, reg, "termgate_ftp_channels_total", map[string]string{"kind": "ftp-data"}); got < 9 {
		t.Errorf("data channels served = %v, want ≥ 9 (4 STOR, 4 RETR, 1 LIST)", got)
	}
	if got := counter(t, reg, "termgate_ftp_channels_total", map[string]string{"kind": "ftp-notify"}); got != 1 {
		t.Errorf("notification channels = %v, want 1", got)
	}
	if got := counter(t, reg, "termgate_ftp_data_bytes_total", nil); got < 2*(3<<20) {
		t.Errorf("data bytes = %v, want ≥ %d", got, 2*(3<<20))
	}
	if !strings.Contains(srv.logs.String(), `"proto":"ftp"`) {
		t.Errorf("no session_start with proto ftp in the logs:\n%s", srv.logs.String())
	}
}

// twoNodes starts two peered nodes; mutate adjusts both configs.
func twoNodes(t *testing.T, mutate func(*Config)) (a, b *testServer) {
	t.Helper()
	f := getFixture(t)
	peerTrust := pki.NewTrustStore(f.ca.Cert.Cert)
	addrA, addrB := freeAddr(t), freeAddr(t)
	peers := []Peer{{ID: "node-a", Addr: addrA}, {ID: "node-b", Addr: addrB}}
	a = startServer(t, func(c *Config) {
		c.NodeID, c.PeerListen, c.Peers, c.PeerTrust = "node-a", addrA, peers, peerTrust
		if mutate != nil {
			mutate(c)
		}
	})
	b = startServer(t, func(c *Config) {
		c.NodeID, c.PeerListen, c.Peers, c.PeerTrust = "node-b", addrB, peers, peerTrust
		if mutate != nil {
			mutate(c)
		}
	})
	return a, b
}

// With FTPDirectAddress, the owner names its own address in the control
// channel's answer and the client opens data and notification channels
// there: nothing reaches the other node, nothing is forwarded. A client
// with NoDirect keeps using the load balancer (and forwarding).
func TestFTPDirectAddress(t *testing.T) {
	ftpd := startVsftpd(t)
	keys := [][]byte{ticketKey(t)}
	direct := freeAddr(t)
	a, b := twoNodes(t, func(c *Config) {
		c.FTPTicketKeys = keys
		if c.NodeID == "node-a" {
			c.Listen, c.FTPDirectAddress = direct, direct
		}
	})
	// The client knows only the load balancer's address: its first dial
	// there reaches A, every later one B. Other addresses are dialled as
	// asked.
	const lb = "lb.test:9443"
	var mu sync.Mutex
	lbDials, otherDials := 0, 0
	lbOpts := func(t *testing.T) emulator.DialOptions {
		o := ftpOpts(t, ftpd, true, a.Addr().String())
		o.ProxyAddr = lb
		o.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			mu.Lock()
			to := addr
			if addr == lb {
				to = b.Addr().String()
				if lbDials == 0 {
					to = a.Addr().String()
				}
				lbDials++
			} else {
				otherDials++
			}
			mu.Unlock()
			return (&net.Dialer{}).DialContext(ctx, network, to)
		}
		return o
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := ftpchan.DialProxy(ctx, lbOpts(t), ftpchan.ClientConfig{Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if c.DirectAddress() != direct {
		t.Fatalf("client's direct address = %q, want node A's %q", c.DirectAddress(), direct)
	}
	transfer(t, c, "direct", 10, 1<<20, 0)
	c.Close()
	mu.Lock()
	if lbDials != 1 || otherDials != 7 { // 3 STOR + 3 RETR + the notification channel
		t.Errorf("dials: %d to the load balancer, %d to node A directly; want 1 and 7", lbDials, otherDials)
	}
	mu.Unlock()
	if got := counter(t, b.Registry(), "termgate_ftp_channels_forwarded_total", nil); got != 0 {
		t.Errorf("node B forwarded %v channels, want 0", got)
	}
	if got := counter(t, a.Registry(), "termgate_ftp_channels_total", map[string]string{"kind": "ftp-data"}); got != 6 {
		t.Errorf("node A served %v data channels, want 6", got)
	}

	// NoDirect: through the load balancer, forwarded by B.
	mu.Lock()
	lbDials, otherDials = 0, 0
	mu.Unlock()
	c, err = ftpchan.DialProxy(ctx, lbOpts(t), ftpchan.ClientConfig{Timeout: 20 * time.Second, NoDirect: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.DirectAddress() != "" {
		t.Errorf("DirectAddress with NoDirect = %q, want empty", c.DirectAddress())
	}
	transfer(t, c, "lb", 10)
	if got := counter(t, b.Registry(), "termgate_ftp_channels_forwarded_total", nil); got < 3 {
		t.Errorf("with NoDirect node B forwarded %v channels, want the session's 3", got)
	}
}

func TestFTPDirectAddressChecked(t *testing.T) {
	f := getFixture(t)
	for _, bad := range []string{"node-a", "node-a:0", "node-a:70000", ":9443", "node a:9443", "node-a:9443\r\nX-Evil: 1"} {
		_, err := New(Config{Listen: "127.0.0.1:0", Certificate: f.tlsCert(), MgmtTrust: f.signers, FTPDirectAddress: bad})
		if err == nil || !strings.Contains(err.Error(), "FTP direct address") {
			t.Errorf("FTPDirectAddress %q: err = %v, want a refusal naming it", bad, err)
		}
	}
}

func TestFTPChannelsForwardedToOwner(t *testing.T) {
	ftpd := startVsftpd(t)
	keys := [][]byte{ticketKey(t)}
	a, b := twoNodes(t, func(c *Config) { c.FTPTicketKeys = keys })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// The control channel on node A, every data and notification channel on node B.
	events := make(chan ftpchan.Event, 16)
	c, err := ftpchan.DialProxy(ctx, ftpOpts(t, ftpd, true, a.Addr().String(), b.Addr().String()),
		ftpchan.ClientConfig{Timeout: 20 * time.Second, OnEvent: func(e ftpchan.Event) {
			select {
			case events <- e:
			default:
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	transfer(t, c, "fwd", 10, 2<<20, 0)

	// 3 STOR + 3 RETR data channels and the notification channel went through B to A.
	if got := counter(t, b.Registry(), "termgate_proxy_ftp_forwards_total", map[string]string{"owner": "node-a", "result": "ok"}); got != 7 {
		t.Errorf("node B forwarded %v channels to node A, want 7", got)
	}
	if got := counter(t, b.Registry(), "termgate_ftp_channels_forwarded_total", nil); got != 7 {
		t.Errorf("termgate_ftp_channels_forwarded_total on B = %v, want 7", got)
	}
	if got := counter(t, a.Registry(), "termgate_proxy_ftp_forwards_received_total", nil); got != 7 {
		t.Errorf("node A received %v forwarded channels, want 7", got)
	}
	if got := counter(t, a.Registry(), "termgate_ftp_channels_total", map[string]string{"kind": "ftp-data"}); got != 6 {
		t.Errorf("node A served %v data channels, want 6", got)
	}
	if got := counter(t, b.Registry(), "termgate_ftp_channels_total", nil); got != 0 {
		t.Errorf("node B served %v channels itself, want 0 (all forwarded)", got)
	}
	if !strings.Contains(b.logs.String(), `"event":"ftp_channel_forwarded"`) || !strings.Contains(b.logs.String(), `"owner":"node-a"`) {
		t.Errorf("node B logged no ftp_channel_forwarded event:\n%s", b.logs.String())
	}
	// The notification channel, forwarded too, carries the owner's events.
	select {
	case e := <-events:
		if e.Type != ftpchan.EventDataReady {
			t.Errorf("first event = %+v, want data-ready", e)
		}
	case <-time.After(5 * time.Second):
		t.Error("no event over the forwarded notification channel")
	}
}

// controlTicket opens an FTP control channel on addr and returns the
// ticket and the response (whose connection stays open).
func controlTicket(t *testing.T, addr, ftpd string) (string, *response) {
	t.Helper()
	f := getFixture(t)
	tok := f.token(t, token.Request{Dst: ftpd, Proto: token.ProtoFTP})
	r := connect(t, addr, ftpd, bearer(tok), nil)
	if r.status != 200 {
		t.Fatalf("control CONNECT: %d %s", r.status, r.body)
	}
	tk := r.header.Get("Termgate-Ticket")
	if tk == "" || r.header.Get("Termgate-Session") == "" {
		t.Fatalf("control answer without ticket or session: %v", r.header)
	}
	line, err := r.br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "220") {
		t.Fatalf("greeting through the proxy: %q %v", line, err)
	}
	return tk, r
}

func channelHeaders(kind, ticket string) map[string]string {
	return map[string]string{"Termgate-Channel": kind, "Termgate-Ticket": ticket}
}

func TestFTPChannelRefusals(t *testing.T) {
	ftpd := startVsftpd(t)
	host, _, _ := net.SplitHostPort(ftpd)
	t.Run("one node", func(t *testing.T) {
		srv := startServer(t, nil)
		addr := srv.Addr().String()
		ticket, _ := controlTicket(t, addr, ftpd)
		cases := []struct {
			name    string
			headers map[string]string
			target  string
			status  int
			code    string
		}{
			{"forged ticket", channelHeaders("ftp-data", ticket[:len(ticket)-4]+"AAAA"), ftpd, 407, "ticket_invalid"},
			{"no ticket", map[string]string{"Termgate-Channel": "ftp-data"}, ftpd, 407, "ticket_invalid"},
			{"unknown kind", channelHeaders("ftp-ctl", ticket), ftpd, 400, "bad_request"},
			{"port not announced", channelHeaders("ftp-data", ticket), net.JoinHostPort(host, "1"), 403, "channel_denied"},
			{"another host", channelHeaders("ftp-data", ticket), "127.0.0.2:21", 403, "channel_denied"},
			{"token with a channel", map[string]string{"Termgate-Channel": "ftp-data", "Termgate-Ticket": ticket,
				"Proxy-Authorization": "Bearer x"}, ftpd, 400, "bad_request"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				r := connect(t, addr, tc.target, tc.headers, nil)
				if r.status != tc.status || r.code() != tc.code {
					t.Fatalf("got %d %s (%s), want %d %s", r.status, r.code(), r.body, tc.status, tc.code)
				}
			})
		}
		if got := counter(t, srv.Registry(), "termgate_proxy_rejections_total", map[string]string{"code": "channel_denied"}); got != 2 {
			t.Errorf("channel_denied rejections = %v, want 2", got)
		}
	})
	t.Run("keys not shared", func(t *testing.T) {
		a, b := twoNodes(t, nil)
		ticket, _ := controlTicket(t, a.Addr().String(), ftpd)
		r := connect(t, b.Addr().String(), ftpd, channelHeaders("ftp-notify", ticket), nil)
		if r.status != 407 || r.code() != "ticket_invalid" || !strings.Contains(r.body, "no shared FTP ticket key") {
			t.Fatalf("got %d %s %q, want 407 ticket_invalid naming the missing shared key", r.status, r.code(), r.body)
		}
	})
	t.Run("forwarding off", func(t *testing.T) {
		keys := [][]byte{ticketKey(t)}
		a, b := twoNodes(t, func(c *Config) { c.FTPTicketKeys = keys; c.FTPForwardingOff = true })
		ticket, _ := controlTicket(t, a.Addr().String(), ftpd)
		r := connect(t, b.Addr().String(), ftpd, channelHeaders("ftp-notify", ticket), nil)
		if r.status != 503 || r.code() != "owner_unavailable" {
			t.Fatalf("got %d %s %q, want 503 owner_unavailable", r.status, r.code(), r.body)
		}
		// On the owner itself the channel is fine.
		r = connect(t, a.Addr().String(), ftpd, channelHeaders("ftp-notify", ticket), nil)
		if r.status != 200 {
			t.Fatalf("notify on the owner: %d %s", r.status, r.body)
		}
	})
	t.Run("owner down", func(t *testing.T) {
		keys := [][]byte{ticketKey(t)}
		a, b := twoNodes(t, func(c *Config) { c.FTPTicketKeys = keys })
		ticket, ctl := controlTicket(t, a.Addr().String(), ftpd)
		a.Close()
		ctl.conn.Close()
		r := connect(t, b.Addr().String(), ftpd, channelHeaders("ftp-notify", ticket), nil)
		if r.status != 503 || r.code() != "owner_unavailable" {
			t.Fatalf("got %d %s %q, want 503 owner_unavailable", r.status, r.code(), r.body)
		}
		if got := counter(t, b.Registry(), "termgate_proxy_ftp_forwards_total", map[string]string{"result": "unavailable"}); got != 1 {
			t.Errorf("unavailable forwards = %v, want 1", got)
		}
	})
}

func TestFTPControlRefusesPortBounce(t *testing.T) {
	ftpd := startVsftpd(t)
	srv := startServer(t, nil)
	_, r := controlTicket(t, srv.Addr().String(), ftpd)
	cmd := func(line string) string {
		t.Helper()
		fmt.Fprintf(r.conn, "%s\r\n", line)
		for {
			l, err := r.br.ReadString('\n')
			if err != nil {
				t.Fatalf("after %q: %v", line, err)
			}
			if len(l) >= 4 && l[3] == ' ' {
				return l
			}
		}
	}
	if l := cmd("USER anonymous"); !strings.HasPrefix(l, "230") && !strings.HasPrefix(l, "331") {
		t.Fatalf("USER: %q", l)
	}
	for _, c := range []string{"PORT 10,0,0,1,0,80", "EPRT |1|10.0.0.1|80|"} {
		if l := cmd(c); !strings.HasPrefix(l, "5") {
			t.Errorf("%s answered %q, want a 5xx refusal", c, l)
		}
	}
	if got := counter(t, srv.Registry(), "termgate_ftp_commands_refused_total", map[string]string{"reason": "port"}); got != 2 {
		t.Errorf("refused port commands = %v, want 2", got)
	}
}

func TestLoadFTPTicketKeys(t *testing.T) {
	dir := t.TempDir()
	k1, k2 := ticketKey(t), ticketKey(t)
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good", "# cluster keys\n"+base64.StdEncoding.EncodeToString(k1)+"\n\n"+base64.RawURLEncoding.EncodeToString(k2)+"\n")
	keys, err := LoadFTPTicketKeys(good)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || !bytes.Equal(keys[0], k1) || !bytes.Equal(keys[1], k2) {
		t.Fatalf("keys = %x, want %x %x", keys, k1, k2)
	}
	for name, text := range map[string]string{
		"short": base64.StdEncoding.EncodeToString(k1[:16]) + "\n",
		"empty": "# nothing\n",
		"junk":  "not base64!\n",
	} {
		if _, err := LoadFTPTicketKeys(write(name, text)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := New(Config{Listen: "127.0.0.1:0", OpsListen: "-", FTPTicketKeyFile: filepath.Join(dir, "short")}); err == nil {
		t.Error("New accepted a short ticket key")
	}
}

func TestForwardMessageRoundTrip(t *testing.T) {
	req := ftpchan.ChannelRequest{Kind: ftpchan.ChannelData, Ticket: "t1.abc", Target: "127.0.0.1:2121",
		Proof: "p", ProofKey: "k", Exporter: bytes.Repeat([]byte{7}, 32), ClientAddr: "192.0.2.1:5555"}
	msg, err := encodeForward(req)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(bytes.NewReader(msg))
	line, _ := br.ReadString('\n')
	n, err := parseForwardHeader(strings.TrimSuffix(line, "\n"))
	if err != nil {
		t.Fatal(err)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(br, body); err != nil {
		t.Fatal(err)
	}
	got, err := decodeForward(body)
	if err != nil {
		t.Fatal(err)
	}
	req.Forwarded = true
	if fmt.Sprint(got) != fmt.Sprint(req) {
		t.Fatalf("got %+v, want %+v", got, req)
	}
	for _, bad := range []string{"FORWARD", "FORWARD 0", "FORWARD -1", "FORWARD 01", "FORWARD 99999999", "CHECK 1"} {
		if _, err := parseForwardHeader(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	for _, bad := range []string{`{}`, `{"kind":"ftp-data","ticket":"t","target":"h:1","x":1}`, `{"kind":"ftp-x","ticket":"t","target":"h:1"}`, `[]`, `{"kind":"ftp-data","ticket":"t","target":"h:1"} {}`} {
		if _, err := decodeForward([]byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestFTPDrainNotifiesAndCloseEndsSessions(t *testing.T) {
	ftpd := startVsftpd(t)
	keys := [][]byte{ticketKey(t)}
	before := goleak.IgnoreCurrent()
	a, b := twoNodes(t, func(c *Config) { c.FTPTicketKeys = keys; c.DrainTimeout = 200 * time.Millisecond })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	drained := make(chan ftpchan.Event, 1)
	// The notification channel is forwarded from B to A, the owner.
	c, err := ftpchan.DialProxy(ctx, ftpOpts(t, ftpd, false, a.Addr().String(), b.Addr().String()),
		ftpchan.ClientConfig{Timeout: 10 * time.Second, OnEvent: func(e ftpchan.Event) {
			if e.Type == ftpchan.EventDraining {
				select {
				case drained <- e:
				default:
				}
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	transfer(t, c, "drain", 1000)
	drainDone := make(chan error, 1)
	go func() { drainDone <- a.Drain(ctx) }()
	select {
	case e := <-drained:
		if e.Deadline.IsZero() {
			t.Errorf("draining event without a deadline: %+v", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no draining notification")
	}
	select {
	case err := <-drainDone:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Drain did not end the FTP session at its timeout")
	}
	if _, err := c.List("/"); err == nil {
		t.Error("the FTP session survived its node's drain")
	}
	c.Close()
	a.Close()
	b.Close()
	if err := goleak.Find(before, goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreAnyFunction("internal/poll.runtime_pollWait")); err != nil {
		t.Error(err)
	}
}

// BenchmarkFTPTransfer compares 16 MiB downloads and uploads through one
// node, and through a node that forwards the data channels to the owner,
// with the same transfers straight to vsftpd in the same run: in plain FTP
// ("direct") and in explicit FTPS ("direct-ftps", TLS on control and data
// like the client's leg through the proxy). The ratios are the MB/s
// figures of the sub-benchmarks divided by a direct one's.
func BenchmarkFTPTransfer(b *testing.B) {
	ftpd := startVsftpd(b)
	const size = 16 << 20
	data := make([]byte, size)
	rand.Read(data)
	login := func(addr string, opts ...ftp.DialOption) *ftp.ServerConn {
		c, err := ftp.Dial(addr, append(opts, ftp.DialWithTimeout(10*time.Second))...)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Quit() })
		if err := c.Login("anonymous", "x@"); err != nil {
			b.Fatal(err)
		}
		if err := c.Stor("bench.bin", bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
		return c
	}
	direct := login(ftpd)
	ftps := testpeer.StartVsftpd(b, testpeer.VsftpdOptions{TLSName: "ftp.test"})
	directTLS := login(ftps.Addr, ftp.DialWithExplicitTLS(&tls.Config{
		RootCAs: pki.NewTrustStore(ftps.Cert.Cert).Pool(), ServerName: "ftp.test",
		ClientSessionCache: tls.NewLRUClientSessionCache(4), // vsftpd wants data TLS to resume the control session
		MaxVersion:         tls.VersionTLS12,                // vsftpd 3.0.3 fails uploads (426) over TLS 1.3 data connections from this client
	}))
	retr := func(b *testing.B, get func(string) (*ftp.Response, error)) {
		b.SetBytes(size)
		for b.Loop() {
			r, err := get("bench.bin")
			if err != nil {
				b.Fatal(err)
			}
			n, err := io.Copy(io.Discard, r)
			r.Close()
			if err != nil || n != size {
				b.Fatalf("read %d bytes: %v", n, err)
			}
		}
	}
	stor := func(b *testing.B, put func(string, io.Reader) error) {
		b.SetBytes(size)
		for b.Loop() {
			if err := put("up.bin", bytes.NewReader(data)); err != nil {
				b.Fatal(err)
			}
		}
	}
	keys := [][]byte{ticketKey(b)}
	f := getFixture(b)
	peerTrust := pki.NewTrustStore(f.ca.Cert.Cert)
	la, _ := net.Listen("tcp", "127.0.0.1:0")
	lb, _ := net.Listen("tcp", "127.0.0.1:0")
	addrA, addrB := la.Addr().String(), lb.Addr().String()
	la.Close()
	lb.Close()
	peers := []Peer{{ID: "node-a", Addr: addrA}, {ID: "node-b", Addr: addrB}}
	na := startServer(b, func(c *Config) {
		c.NodeID, c.PeerListen, c.Peers, c.PeerTrust, c.FTPTicketKeys = "node-a", addrA, peers, peerTrust, keys
	})
	nb := startServer(b, func(c *Config) {
		c.NodeID, c.PeerListen, c.Peers, c.PeerTrust, c.FTPTicketKeys = "node-b", addrB, peers, peerTrust, keys
	})
	client := func(b *testing.B, rest ...string) *ftpchan.Client {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := ftpchan.DialProxy(ctx, ftpOpts(b, ftpd, true, na.Addr().String(), rest...), ftpchan.ClientConfig{NoNotify: true})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		return c
	}
	b.Run("retr/direct", func(b *testing.B) { retr(b, direct.Retr) })
	b.Run("retr/direct-ftps", func(b *testing.B) { retr(b, directTLS.Retr) })
	b.Run("retr/one-node", func(b *testing.B) { retr(b, client(b).Retr) })
	b.Run("retr/forwarding", func(b *testing.B) { retr(b, client(b, nb.Addr().String()).Retr) })
	b.Run("stor/direct", func(b *testing.B) { stor(b, direct.Stor) })
	b.Run("stor/direct-ftps", func(b *testing.B) { stor(b, directTLS.Stor) })
	b.Run("stor/one-node", func(b *testing.B) { stor(b, client(b).Stor) })
	b.Run("stor/forwarding", func(b *testing.B) { stor(b, client(b, nb.Addr().String()).Stor) })
}

// An FTP token on the WebSocket front end would be a raw tunnel past the
// FTP gateway (PORT bounce, unchecked data ports): it is refused.
func TestFTPTokenRefusedOnWebSocket(t *testing.T) {
	f := getFixture(t)
	echo := echoServer(t)
	s := startServer(t, nil)
	c, _, err := wsDial(t, s.Addr().String(), wsOpts{protocols: bearerProtocols(f.token(t, token.Request{Dst: echo, Proto: token.ProtoFTP}))})
	if err != nil {
		t.Fatal(err)
	}
	checkWSClosed(t, c, 4400, "bad_request")
}

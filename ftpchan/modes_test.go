package ftpchan

import (
	"context"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/termgate/termgate/emulator"
	"github.com/termgate/termgate/pki"
)

func TestVsftpdServerActiveMode(t *testing.T) {
	v := startVsftpd(t, vsftpdOptions{})
	f := newFront(t, Config{}, frontOptions{serverActive: true}, identity)
	c := dialClient(t, dialOpts(t, v.addr, f.addr()), ClientConfig{})
	roundTrip(t, c, 5, 1<<20, 2)
	if _, err := c.List(""); err != nil {
		t.Fatalf("List in server-active mode: %v", err)
	}
}

func TestServerActiveListenerAcceptsOnlyTheServer(t *testing.T) {
	v := startVsftpd(t, vsftpdOptions{})
	f := newFront(t, Config{}, frontOptions{serverActive: true}, identity)
	opts := dialOpts(t, v.addr, f.addr())
	r := openRaw(t, opts)
	port := r.epsv() // the gateway's listener, announced to the server with PORT
	// Another local address connects first: it must be dropped.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.3")}, Timeout: 2 * time.Second}
	intruder, err := d.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatalf("dial the listener: %v", err)
	}
	defer intruder.Close()
	dc, err := r.dataConn(r.ticket, "127.0.0.1", port)
	if err != nil {
		t.Fatalf("data channel: %v", err)
	}
	r.send("NLST\r\n")
	r.expect(150)
	intruder.SetReadDeadline(time.Now().Add(3 * time.Second))
	if n, err := intruder.Read(make([]byte, 16)); err == nil || n > 0 {
		t.Fatalf("the intruder read %d bytes (%v); want its connection closed", n, err)
	}
	dc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	for {
		if _, err := dc.Read(buf); err != nil {
			break
		}
	}
	dc.Close()
	r.expect(226)
}

func TestVsftpdExplicitFTPSToHost(t *testing.T) {
	v := startVsftpd(t, vsftpdOptions{tls: true})
	hostTLS := pki.ClientTLSConfig(pki.NewTrustStore(v.cert.Cert), "ftp.test", true)
	f := newFront(t, Config{}, frontOptions{hostTLS: hostTLS}, identity)
	c := dialClient(t, dialOpts(t, v.addr, f.addr()), ClientConfig{})
	roundTrip(t, c, 6, 1<<20, 3)

	// Without FTPS, the server refuses the anonymous login: the test server
	// really requires TLS.
	plain := newFront(t, Config{NodeID: "plain"}, frontOptions{}, identity)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if c, err := DialProxy(ctx, dialOpts(t, v.addr, plain.addr()), ClientConfig{NoNotify: true}); err == nil {
		c.Close()
		t.Fatal("plain FTP login accepted by a server that forces TLS")
	}
}

func TestTwoNodesRoundRobinForwarding(t *testing.T) {
	v := startVsftpd(t, vsftpdOptions{})
	key := [][]byte{[]byte("0123456789abcdef0123456789abcdef")}
	fw := &loopForwarder{nodes: map[string]*front{}}
	ma, _ := NewPrometheusMetrics(nil)
	mb, _ := NewPrometheusMetrics(nil)
	a := newFront(t, Config{NodeID: "a", TicketKeys: key, Forwarder: fw, Metrics: ma}, frontOptions{}, identity)
	b := newFront(t, Config{NodeID: "b", TicketKeys: key, Forwarder: fw, Metrics: mb}, frontOptions{bind: "127.0.0.2:0"}, identity)
	fw.nodes["a"], fw.nodes["b"] = a, b
	c := dialClient(t, dialOpts(t, v.addr, a.addr(), b.addr()), ClientConfig{})
	roundTrip(t, c, 6, 512<<10, 4)
	if a.gw.Sessions()+b.gw.Sessions() != 1 {
		t.Fatalf("sessions: a=%d b=%d, want one in all", a.gw.Sessions(), b.gw.Sessions())
	}
	if counterSum(t, ma.forwarded)+counterSum(t, mb.forwarded) < 6 {
		t.Fatalf("forwarded channels a=%v b=%v: round-robin must have sent some to the other node",
			counterSum(t, ma.forwarded), counterSum(t, mb.forwarded))
	}

	// Control experiment: without a forwarder the other node refuses.
	lone := newFront(t, Config{NodeID: "lone", TicketKeys: key}, frontOptions{bind: "127.0.0.3:0"}, identity)
	r := openRaw(t, dialOpts(t, v.addr, a.addr()))
	port := r.epsv()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cc, err := dialChannel(ctx, dialOpts(t, v.addr, lone.addr()), ChannelData, r.ticket, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	wantRefused(t, "node without forwarder", cc, err, CodeOwnerUnavailable)
}

func TestNotificationsDrainingAndKeepAlive(t *testing.T) {
	v := startVsftpd(t, vsftpdOptions{})
	f := newFront(t, Config{KeepAlive: 50 * time.Millisecond}, frontOptions{}, identity)
	var mu sync.Mutex
	seen := map[EventType]int{}
	opts := dialOpts(t, v.addr, f.addr())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ctrl, err := emulator.DialProxy(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer ctrl.Close()
	ticket := ctrl.Header().Get(emulator.HeaderTicket)
	n, err := dialChannel(ctx, opts, ChannelNotify, ticket, v.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	deadline := time.Now().Add(3 * time.Second)
	f.gw.Drain(deadline)
	go func() {
		buf := make([]byte, 0, 4096)
		tmp := make([]byte, 512)
		for {
			k, err := n.Read(tmp)
			buf = append(buf, tmp[:k]...)
			for {
				i := indexByte(buf, '\n')
				if i < 0 {
					break
				}
				if e, err := ParseEvent(buf[:i]); err == nil {
					mu.Lock()
					seen[e.Type]++
					mu.Unlock()
				}
				buf = buf[i+1:]
			}
			if err != nil {
				return
			}
		}
	}()
	for {
		mu.Lock()
		ok := seen[EventDraining] == 1 && seen[EventKeepAlive] >= 2
		mu.Unlock()
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("events seen: %v; want one draining and keep-alives", seen)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

func TestGatewayCloseEndsSessionsWithoutLeaks(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	v := startVsftpd(t, vsftpdOptions{})
	gw, err := New(Config{NodeID: "n"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		cl, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		up, err := net.Dial("tcp", v.addr)
		if err != nil {
			cl.Close()
			done <- err
			return
		}
		if _, err := gw.IssueTicket("s1"); err != nil {
			done <- err
			return
		}
		done <- gw.HandleControl(context.Background(), cl, up, SessionInfo{ID: "s1", Dst: v.addr})
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 64)); err != nil || n == 0 {
		t.Fatalf("no greeting through the gateway: %v", err)
	}
	for gw.Sessions() != 1 {
		time.Sleep(5 * time.Millisecond)
	}
	gw.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("HandleControl did not return after Close")
	}
	if gw.Sessions() != 0 {
		t.Fatalf("Sessions() = %d after Close", gw.Sessions())
	}
	if _, err := gw.IssueTicket("s2"); err == nil {
		t.Fatal("IssueTicket after Close succeeded")
	}
}

func counterSum(t testing.TB, v interface {
	Collect(chan<- prometheus.Metric)
}) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 16)
	go func() { v.Collect(ch); close(ch) }()
	sum := 0.0
	for m := range ch {
		var d dto.Metric
		m.Write(&d)
		sum += d.GetCounter().GetValue()
	}
	return sum
}

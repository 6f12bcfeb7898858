package mgmt

import (
	"context"
	"encoding/json"
	"net"
	"testing"
	"time"

	"github.com/pion/dtls/v3"

	"github.com/termgate/termgate/emulator/metering"
	"github.com/termgate/termgate/pki"
)

func launchMetered(t *testing.T, n *gnode) *LaunchResponse {
	t.Helper()
	must(t, n.srv.PutSession(ctxb, "vt", SessionDef{Protocol: "telnet", Host: "127.0.0.1", Port: 2323}))
	must(t, n.srv.GrantSessions(ctxb, "admin", "vt"))
	enrollInGroup(t, n)
	lr, err := n.srv.Launch(ctxb, "admin", "vt", nil)
	must(t, err)
	if lr.Metering == nil || lr.Metering.Ticket == "" || lr.Metering.IntervalS != 1 {
		t.Fatalf("launch metering: %+v", lr.Metering)
	}
	return lr
}

func TestMeteringMergedAcrossNodes(t *testing.T) {
	g := newGroup(t, true, "mgmt-a", "mgmt-b", "mgmt-c")
	launchMetered(t, g[0])
	for _, n := range g {
		waitFor(t, "members on "+n.id, func() bool { return len(n.srv.peerRecords()) == 3 })
	}
	lr, err := g[0].srv.Launch(ctxb, "admin", "vt", nil) // now with every member
	must(t, err)
	if len(lr.Metering.Addresses) != 3 {
		t.Fatalf("metering addresses %v, want one per node", lr.Metering.Addresses)
	}
	snd, err := metering.New(metering.Config{Addresses: lr.Metering.Addresses, Interval: time.Hour, Ticket: lr.Metering.Ticket,
		TrustStore: []byte(lr.Metering.TrustStore), Spread: true})
	must(t, err)
	snd.Start(ctxb)
	defer snd.Stop()
	for i := 0; i < 5; i++ { // the first beat is sent by Start
		waitFor(t, "delivery", func() bool { return snd.Status().Sent == uint64(i+1) })
		snd.Beat()
	}
	waitFor(t, "6 delivered", func() bool { return snd.Status().Sent == 6 })
	// each node holds only part of the heartbeats...
	for _, n := range g {
		rs, _ := n.srv.MeteringRecords(time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
		if len(rs) != 2 {
			t.Fatalf("%s holds %d heartbeats, want 2 (spread over 3 nodes)", n.id, len(rs))
		}
	}
	// ...and the report of any node is whole: one continuous session.
	c := g[1].admin()
	var rep MeteringReport
	must(t, c.Do(ctxb, "GET", "/api/v1/admin/metering?window=1m", nil, &rep))
	if len(rep.Sessions) != 1 || rep.Sessions[0].Heartbeats != 6 || rep.Sessions[0].Gaps != 0 || len(rep.Sessions[0].Nodes) != 3 {
		t.Fatalf("merged report: %+v", rep.Sessions)
	}
	if len(rep.Nodes) != 3 || len(rep.Missing) != 0 || rep.Peak.ByUser["admin"] != 1 || rep.Peak.BySession["vt"] != 1 {
		t.Fatalf("report: nodes %v missing %v peak %+v", rep.Nodes, rep.Missing, rep.Peak)
	}
}

func TestMeteringDownDoesNotBlock(t *testing.T) {
	dead := freeUDP(t) // nothing listens there
	var gaps []metering.Status
	snd, err := metering.New(metering.Config{Addresses: []string{dead}, Interval: 20 * time.Millisecond, Ticket: "x",
		AckTimeout: 100 * time.Millisecond, MaxPending: 3, OnStatus: func(s metering.Status) { gaps = append(gaps, s) }})
	must(t, err)
	snd.Start(ctxb)
	waitFor(t, "drops", func() bool { return snd.Status().Dropped > 0 })
	st := snd.Status()
	if st.Delivering || st.Pending != 3 || st.GapSince.IsZero() {
		t.Fatalf("status: %+v", st)
	}
	done := make(chan struct{})
	go func() { snd.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop blocked while metering is down")
	}
	if len(gaps) == 0 || gaps[0].Delivering {
		t.Fatalf("gap not reported: %+v", gaps)
	}
}

// dtlsSend performs a DTLS handshake with n's metering listener and sends raw datagrams.
func dtlsSend(t *testing.T, n *gnode, msgs ...[]byte) []HeartbeatAck {
	t.Helper()
	raddr, _ := net.ResolveUDPAddr("udp", n.cfg.DTLSAddr)
	pc, err := net.ListenUDP("udp", nil)
	must(t, err)
	c, err := dtls.ClientWithOptions(pc, raddr, dtls.WithRootCAs(mustTrust(t, n.srv.TLSTrust()).Pool()), dtls.WithServerName("127.0.0.1"))
	must(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctxb, 5*time.Second)
	defer cancel()
	must(t, c.HandshakeContext(ctx))
	var out []HeartbeatAck
	buf := make([]byte, 2048)
	for _, m := range msgs {
		_, err := c.Write(m)
		must(t, err)
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		k, err := c.Read(buf)
		must(t, err)
		var a HeartbeatAck
		must(t, json.Unmarshal(buf[:k], &a))
		out = append(out, a)
	}
	return out
}

func TestDTLSListenerRefusesBadInput(t *testing.T) {
	g := newGroup(t, true, "mgmt-a")
	n := g[0]
	lr := launchMetered(t, n)
	// garbage datagrams, outside DTLS
	u, err := net.Dial("udp", n.cfg.DTLSAddr)
	must(t, err)
	for _, b := range [][]byte{{}, []byte("hello"), {22, 254, 253, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 1, 2, 3, 4, 5}, make([]byte, 1500)} {
		u.Write(b)
	}
	u.Close()
	// a handshake with a client that does not trust the node fails; nothing recorded
	forged := forgeTicket(t, lr.Metering.Ticket)
	hb := func(tk string, seq uint64) []byte {
		b, _ := json.Marshal(Heartbeat{Ticket: tk, Seq: seq, TS: time.Now().UnixMilli()})
		return b
	}
	acks := dtlsSend(t, n, []byte("garbage inside DTLS"), hb(forged, 1), hb(lr.Metering.Ticket, 1), hb(lr.Metering.Ticket, 1),
		hb(lr.Token, 2), []byte(`{"ticket":"x","seq":0,"ts":1}`))
	want := []string{AckMalformed, AckTicket, "", AckReplayed, AckTicket, AckMalformed}
	for i, a := range acks {
		if a.Error != want[i] || a.OK != (want[i] == "") {
			t.Fatalf("datagram %d: ack %+v, want error %q", i, a, want[i])
		}
	}
	rs, err := n.srv.MeteringRecords(time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	must(t, err)
	if len(rs) != 1 || rs[0].Seq != 1 || rs[0].User != "admin" || rs[0].Session != "vt" {
		t.Fatalf("records: %+v", rs)
	}
}

// forgeTicket signs the claims of a real ticket with a key that is not a group signer.
func forgeTicket(t *testing.T, real string) string {
	t.Helper()
	c, err := pki.SelfSigned(pki.CertSpec{CommonName: "mgmt-a", Usage: pki.UsageTokenSigning})
	must(t, err)
	parts := splitJWT(real)
	sig, err := signMessage(c.Key, []byte(parts[0]+"."+parts[1]))
	must(t, err)
	return parts[0] + "." + parts[1] + "." + b64(sig)
}

func splitJWT(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

package ftpchan

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		name, line string
		want       Command
		wantErr    bool
	}{
		{name: "simple", line: "NOOP", want: Command{Verb: "NOOP"}},
		{name: "lower case verb", line: "retr a b.txt", want: Command{Verb: "RETR", Arg: "a b.txt"}},
		{name: "utf8 argument", line: "STOR été.txt", want: Command{Verb: "STOR", Arg: "été.txt"}},
		{name: "bare CR", line: "NOOP\rDELE x", wantErr: true},
		{name: "NUL", line: "RETR a\x00b", wantErr: true},
		{name: "LF", line: "RETR a\nDELE b", wantErr: true},
		{name: "empty", line: "", wantErr: true},
		{name: "digit verb", line: "R3TR x", wantErr: true},
		{name: "long verb", line: "RETRIEVE x", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCommand([]byte(tt.line))
			if tt.wantErr {
				if !errors.Is(err, ErrBadCommand) {
					t.Fatalf("ParseCommand(%q) error = %v, want ErrBadCommand", tt.line, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseCommand(%q) = %+v, %v; want %+v", tt.line, got, err, tt.want)
			}
		})
	}
}

func TestReadLineBoundsAndRecovers(t *testing.T) {
	in := strings.Repeat("x", 100) + "\r\nNOOP\r\nUSER a\nTAIL"
	br := bufio.NewReaderSize(strings.NewReader(in), 16)
	if _, err := ReadLine(br, 50); !errors.Is(err, ErrLineTooLong) {
		t.Fatalf("first line: %v, want ErrLineTooLong", err)
	}
	for _, want := range []string{"NOOP", "USER a"} {
		got, err := ReadLine(br, 50)
		if err != nil || string(got) != want {
			t.Fatalf("ReadLine = %q, %v; want %q", got, err, want)
		}
	}
	if _, err := ReadLine(br, 50); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("unterminated last line: %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestReadReplyMultiLine(t *testing.T) {
	in := "211-Features:\r\n EPSV\r\n211 is not the end: no space\r\n MDTM\r\n211 End\r\n220 next\r\n"
	br := bufio.NewReader(strings.NewReader(in))
	rep, err := ReadReply(br, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	// "211 is not the end" does end the reply per RFC 959 (code + space).
	if rep.Code != 211 || len(rep.Lines) != 3 {
		t.Fatalf("reply = %+v", rep)
	}
	if !bytes.Equal(rep.Encode(), []byte("211-Features:\r\n EPSV\r\n211 is not the end: no space\r\n")) {
		t.Fatalf("Encode = %q", rep.Encode())
	}
	// A line with another code inside a multi-line reply does not end it.
	rep, err = ReadReply(bufio.NewReader(strings.NewReader("150-a\r\n200 inside\r\n150 end\r\n")), 0, 0)
	if err != nil || rep.Code != 150 || len(rep.Lines) != 3 {
		t.Fatalf("reply with an inner code = %+v %v", rep, err)
	}
	for _, bad := range []string{"2x0 hi\r\n", "220\x00\r\n", "220-open\r\n", "220?x\r\n", "99 x\r\n", "220-a\r\nb\rc\r\n220 z\r\n"} {
		if _, err := ReadReply(bufio.NewReader(strings.NewReader(bad)), 0, 0); err == nil {
			t.Errorf("ReadReply(%q) accepted", bad)
		}
	}
	big := "250-x\r\n" + strings.Repeat("line\r\n", 100) + "250 end\r\n"
	if _, err := ReadReply(bufio.NewReader(strings.NewReader(big)), 0, 200); !errors.Is(err, ErrBadReply) {
		t.Fatalf("over-long reply: %v", err)
	}
}

func TestParsePASVAndEPSV(t *testing.T) {
	ip, port, err := ParsePASV("Entering Passive Mode (169,254,169,254,78,40).")
	if err != nil || ip != netip.MustParseAddr("169.254.169.254") || port != 78*256+40 {
		t.Fatalf("ParsePASV = %v %d %v", ip, port, err)
	}
	if _, port, err := ParsePASV("=127,0,0,1,4,1"); err != nil || port != 1025 {
		t.Fatalf("no parentheses: %d %v", port, err)
	}
	for _, bad := range []string{"(1,2,3,4,5)", "(256,0,0,1,1,1)", "(1,2,3,4,0,0)", "(1,2,3,4,5,6666)", "nothing"} {
		if _, _, err := ParsePASV(bad); err == nil {
			t.Errorf("ParsePASV(%q) accepted", bad)
		}
	}
	if p, err := ParseEPSV("Entering Extended Passive Mode (|||6446|)"); err != nil || p != 6446 {
		t.Fatalf("ParseEPSV = %d %v", p, err)
	}
	for _, bad := range []string{"(|||0|)", "(|||65536|)", "(||6446|)", "(|||64a6|)", "(111211)", "(|||6446|", "no paren"} {
		if _, err := ParseEPSV(bad); err == nil {
			t.Errorf("ParseEPSV(%q) accepted", bad)
		}
	}
	rep := PASVReply(netip.MustParseAddr("10.1.2.3"), 50000)
	if _, p, err := ParsePASV(rep.Text()); err != nil || p != 50000 {
		t.Fatalf("PASVReply round trip: %d %v", p, err)
	}
	if p, err := ParseEPSV(EPSVReply(50001).Text()); err != nil || p != 50001 {
		t.Fatalf("EPSVReply round trip: %d %v", p, err)
	}
	if got := PortCommand(netip.MustParseAddr("127.0.0.1"), 1025).String(); got != "PORT 127,0,0,1,4,1" {
		t.Fatalf("PortCommand v4 = %q", got)
	}
	if got := PortCommand(netip.MustParseAddr("::1"), 1025).String(); got != "EPRT |2|::1|1025|" {
		t.Fatalf("PortCommand v6 = %q", got)
	}
}

func TestTicketer(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	key := []byte("0123456789abcdef0123456789abcdef")
	tk, err := NewTicketer([][]byte{key}, clock)
	if err != nil {
		t.Fatal(err)
	}
	s, err := tk.Issue(Ticket{Session: "sess", Node: "node-1", Expires: now.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	got, err := tk.Verify(s)
	if err != nil || got.Session != "sess" || got.Node != "node-1" || !got.Expires.Equal(now.Add(time.Minute)) {
		t.Fatalf("Verify = %+v %v", got, err)
	}
	// Rotation: a ticketer whose second key is the old one still verifies.
	rot, _ := NewTicketer([][]byte{[]byte("ffffffffffffffffffffffffffffffff"), key}, clock)
	if _, err := rot.Verify(s); err != nil {
		t.Fatalf("rotated verify: %v", err)
	}
	other, _ := NewTicketer([][]byte{[]byte("ffffffffffffffffffffffffffffffff")}, clock)
	if _, err := other.Verify(s); !errors.Is(err, ErrTicketInvalid) {
		t.Fatalf("foreign key: %v", err)
	}
	now = now.Add(time.Minute)
	if _, err := tk.Verify(s); !errors.Is(err, ErrTicketExpired) {
		t.Fatalf("expired: %v", err)
	}
	if _, err := NewTicketer([][]byte{[]byte("short")}, nil); err == nil {
		t.Fatal("short key accepted")
	}
	g, _ := New(Config{NodeID: "n", TicketKeys: [][]byte{key}, Now: clock})
	defer g.Close()
	if _, err := g.Owner(s); CodeOf(err) != CodeTicketExpired {
		t.Fatalf("Owner(expired) = %v", err)
	}
	fresh, _ := g.IssueTicket("x")
	if node, err := g.Owner(fresh); err != nil || node != "n" {
		t.Fatalf("Owner = %q %v", node, err)
	}
}

func TestCodecAllocs(t *testing.T) {
	line := []byte("RETR some/file.bin")
	if n := testing.AllocsPerRun(100, func() { ParseCommand(line) }); n > 2 {
		t.Fatalf("ParseCommand allocates %v times, want ≤ 2", n)
	}
}

func BenchmarkReadReply(b *testing.B) {
	in := []byte("227 Entering Passive Mode (127,0,0,1,78,40).\r\n")
	r := bytes.NewReader(in)
	br := bufio.NewReader(r)
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		r.Reset(in)
		br.Reset(r)
		if _, err := ReadReply(br, 0, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// A channel that arrives between the control channel's answer (which
// carries the ticket) and the attachment of the control session waits for
// it instead of being refused.
func TestChannelWaitsForItsControlSession(t *testing.T) {
	g, err := New(Config{NodeID: "n", TicketKeys: [][]byte{[]byte("0123456789abcdef0123456789abcdef")}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	tk, err := g.IssueTicket("s1")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	opened := make(chan error, 1)
	go func() {
		ch, err := g.OpenChannel(ctx, ChannelRequest{Kind: ChannelNotify, Ticket: tk})
		if ch != nil {
			ch.Close()
		}
		opened <- err
	}()
	time.Sleep(100 * time.Millisecond)
	select {
	case err := <-opened:
		t.Fatalf("the channel was answered before its session was attached: %v", err)
	default:
	}
	// A control session that stays open: a server that greets and waits,
	// a client that reads.
	clientNear, clientFar := loopbackPair(t)
	serverNear, serverFar := loopbackPair(t)
	go io.Copy(io.Discard, clientFar)
	go func() {
		serverFar.Write([]byte("220 ready\r\n"))
		io.Copy(io.Discard, serverFar)
	}()
	controlDone := make(chan error, 1)
	go func() {
		controlDone <- g.HandleControl(ctx, clientNear, serverNear, SessionInfo{ID: "s1", Dst: "127.0.0.1:21"})
	}()
	select {
	case err := <-opened:
		if err != nil {
			t.Fatalf("channel refused once the session was attached: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting channel was not accepted after the attachment")
	}
	clientFar.Close()
	serverFar.Close()
	select {
	case <-controlDone:
	case <-time.After(5 * time.Second):
		t.Fatal("the control session did not end")
	}
	// Once the session has ended, its ticket opens nothing.
	if _, err := g.OpenChannel(ctx, ChannelRequest{Kind: ChannelNotify, Ticket: tk}); err == nil {
		t.Fatal("a channel of an ended session was accepted")
	}
}

// loopbackPair returns two connected TCP connections on loopback (the
// gateway needs IP addresses on its connections).
func loopbackPair(t *testing.T) (near, far net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	near, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	far = <-accepted
	if far == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { near.Close(); far.Close() })
	return near, far
}

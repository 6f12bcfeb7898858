package telnet

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// hostPair returns a client Conn and the host's end of a loopback TCP connection.
func hostPair(t *testing.T, cfg Config) (*Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	hc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c := NewConn(cc, cfg)
	t.Cleanup(func() { c.Close(); hc.Close() })
	deadline := time.Now().Add(10 * time.Second)
	cc.SetDeadline(deadline)
	hc.SetDeadline(deadline)
	return c, hc
}

// expect reads from r until it has seen want, failing on timeout.
func expect(t *testing.T, r io.Reader, want []byte) []byte {
	t.Helper()
	var got []byte
	buf := make([]byte, 512)
	for !bytes.Contains(got, want) {
		n, err := r.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			t.Fatalf("waiting for %q: got %q, err %v", want, got, err)
		}
	}
	return got
}

// readClient reads data from c in the background and delivers it.
func readClient(c *Conn) <-chan []byte {
	ch := make(chan []byte, 64)
	go func() {
		defer close(ch)
		buf := make([]byte, 512)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				ch <- append([]byte(nil), buf[:n]...)
			}
			if err != nil {
				return
			}
		}
	}()
	return ch
}

func collect(t *testing.T, ch <-chan []byte, want string) string {
	t.Helper()
	var got []byte
	timeout := time.After(10 * time.Second)
	for !strings.Contains(string(got), want) {
		select {
		case b, ok := <-ch:
			if !ok {
				t.Fatalf("connection ended before %q; got %q", want, got)
			}
			got = append(got, b...)
		case <-timeout:
			t.Fatalf("timed out waiting for %q; got %q", want, got)
		}
	}
	return string(got)
}

func TestConnNegotiatesWithHost(t *testing.T) {
	c, host := hostPair(t, Config{TerminalType: "vt220", Rows: 30, Cols: 100})
	data := readClient(c)

	// The client opens with the proactive requests.
	expect(t, host, []byte{IAC, DO, 3, IAC, DO, 1, IAC, WILL, 24, IAC, WILL, 31})

	// A host in the style of inetutils telnetd: many options, some refused.
	script := []byte{IAC, DO, 37, IAC, DO, 24, IAC, DO, 32, IAC, DO, 35, IAC, DO, 39, IAC, DO, 31,
		IAC, WILL, 1, IAC, WILL, 3, IAC, DO, 34, IAC, WILL, 38, IAC, SB, 24, TTypeSend, IAC, SE}
	if _, err := host.Write(script); err != nil {
		t.Fatal(err)
	}
	got := expect(t, host, []byte{IAC, SB, 24, TTypeIs, 'v', 't', '2', '2', '0', IAC, SE})
	for _, want := range [][]byte{
		{IAC, WONT, 37}, {IAC, WONT, 32}, {IAC, WONT, 35}, {IAC, WONT, 39}, {IAC, WONT, 34}, {IAC, DONT, 38},
		{IAC, SB, 31, 0, 100, 0, 30, IAC, SE},
	} {
		if !bytes.Contains(got, want) {
			t.Errorf("client answers %v lack %v", got, want)
		}
	}
	// Requests already agreed are not answered again.
	for _, dup := range [][]byte{{IAC, WILL, 24}, {IAC, WILL, 31}, {IAC, DO, 1}, {IAC, DO, 3}} {
		if bytes.Contains(got, dup) {
			t.Errorf("client repeated %v in %v", dup, got)
		}
	}
	if !c.RemoteOption(OptEcho) || !c.LocalOption(OptNAWS) || c.LocalOption(OptAuth) {
		t.Errorf("options: echo=%v naws=%v auth=%v", c.RemoteOption(OptEcho), c.LocalOption(OptNAWS), c.LocalOption(OptAuth))
	}

	// Data with CR NUL and an escaped IAC, split around a late negotiation.
	host.Write([]byte("login\r\x00ok\xff\xff"))
	host.Write([]byte{IAC, DO, 0, IAC, WILL, 0})
	host.Write([]byte("x\r\x00y\r\n$ "))
	if got := collect(t, data, "$ "); got != "login\rok\xffx\r\x00y\r\n$ " {
		t.Errorf("data = %q", got)
	}
	expect(t, host, []byte{IAC, WILL, 0, IAC, DO, 0})

	// In binary mode (DO BINARY agreed) a CR goes out raw.
	if _, err := c.Write([]byte("ls\r")); err != nil {
		t.Fatal(err)
	}
	expect(t, host, []byte("ls\r"))

	if err := c.SetWindowSize(50, 132); err != nil {
		t.Fatal(err)
	}
	expect(t, host, []byte{IAC, SB, 31, 0, 132, 0, 50, IAC, SE})
}

func TestConnWriteNVT(t *testing.T) {
	c, host := hostPair(t, Config{Passive: true})
	if _, err := c.Write([]byte("echo hi\r")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte{0xff, '\r', '\n'}); err != nil {
		t.Fatal(err)
	}
	expect(t, host, []byte("echo hi\r\x00\xff\xff\r\n"))
	// Passive: no window size before the host asks for it.
	if err := c.SetWindowSize(10, 10); err != nil {
		t.Fatal(err)
	}
	host.Write([]byte{IAC, DO, 31})
	data := readClient(c)
	got := expect(t, host, []byte{IAC, WILL, 31, IAC, SB, 31, 0, 10, 0, 10, IAC, SE})
	if bytes.Count(got, []byte{IAC, SB}) != 1 {
		t.Errorf("window size sent before agreement: %v", got)
	}
	host.Close()
	select {
	case _, ok := <-data:
		for ok {
			_, ok = <-data
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Read did not end after the host closed")
	}
}

func TestConnTerminalTypeCycle(t *testing.T) {
	c, host := hostPair(t, Config{Passive: true, TerminalTypes: []string{"XTERM-256COLOR", "VT100"}})
	readClient(c)
	host.Write([]byte{IAC, DO, 24})
	expect(t, host, []byte{IAC, WILL, 24})
	send := []byte{IAC, SB, 24, TTypeSend, IAC, SE}
	for _, want := range []string{"XTERM-256COLOR", "VT100", "VT100", "XTERM-256COLOR"} {
		host.Write(send)
		expect(t, host, AppendSubnegotiation(nil, OptTTYPE, append([]byte{TTypeIs}, want...)))
	}
}

func TestConnCloseEndsRead(t *testing.T) {
	c, _ := hostPair(t, Config{Passive: true})
	data := readClient(c)
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := c.Close(); err != ErrClosed {
		t.Errorf("second Close = %v, want ErrClosed", err)
	}
	select {
	case <-data:
	case <-time.After(10 * time.Second):
		t.Fatal("Read did not end after Close")
	}
	if _, err := c.Write([]byte("x")); err == nil {
		t.Error("Write after Close succeeded")
	}
}

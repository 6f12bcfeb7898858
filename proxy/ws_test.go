package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/termgate/termgate/pki"
	"github.com/termgate/termgate/token"
)

// counterValue reads a counter.
func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

// wsOpts is one /ws handshake of a test client.
type wsOpts struct {
	query     string   // appended to /ws, e.g. "?dst=…"
	protocols []string // offered subprotocols
	origin    string
	conn      net.Conn // an established TLS connection to use instead of dialling
}

func bearerProtocols(tok string) []string {
	return []string{WebSocketProtocol, WebSocketBearerPrefix + tok}
}

// wsDial opens /ws on addr with gorilla's client.
func wsDial(t testing.TB, addr string, o wsOpts) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	d := &websocket.Dialer{TLSClientConfig: clientTLS(getFixture(t)), HandshakeTimeout: 10 * time.Second, Subprotocols: o.protocols}
	if o.conn != nil {
		d.NetDialTLSContext = func(context.Context, string, string) (net.Conn, error) { return o.conn, nil }
	}
	h := http.Header{}
	if o.origin != "" {
		h.Set("Origin", o.origin)
	}
	c, resp, err := d.Dial("wss://"+addr+WebSocketPath+o.query, h)
	if c != nil {
		t.Cleanup(func() { c.Close() })
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
	}
	return c, resp, err
}

// wsEcho opens /ws to an echo destination and waits until a byte came
// back: the 101 answer precedes the token check, so only data proves that
// the session was authorized.
func wsEcho(t testing.TB, addr string, o wsOpts) *websocket.Conn {
	t.Helper()
	c, _, err := wsDial(t, addr, o)
	if err != nil {
		t.Fatal(err)
	}
	c.WriteMessage(websocket.BinaryMessage, []byte("?"))
	if _, b, err := c.ReadMessage(); err != nil || string(b) != "?" {
		t.Fatalf("echo through %s: %q %v", addr, b, err)
	}
	return c
}

// checkWSRefused checks a handshake refused with an HTTP response in the
// Termgate-Error format of docs/protocol.md.
func checkWSRefused(t *testing.T, resp *http.Response, err error, status int, code, reason string) {
	t.Helper()
	if !errors.Is(err, websocket.ErrBadHandshake) || resp == nil {
		t.Fatalf("handshake: err %v, want a refusal %d %s", err, status, code)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status || resp.Header.Get("Termgate-Error") != code {
		t.Fatalf("got %d %q (%s), want %d %q", resp.StatusCode, resp.Header.Get("Termgate-Error"), strings.TrimSpace(string(body)), status, code)
	}
	if status == http.StatusProxyAuthRequired && resp.Header.Get("Proxy-Authenticate") != `Bearer error="invalid_token"` {
		t.Errorf("Proxy-Authenticate = %q", resp.Header.Get("Proxy-Authenticate"))
	}
	if strings.Count(string(body), "\n") != 1 || !strings.HasSuffix(string(body), "\n") {
		t.Errorf("body is not one line: %q", body)
	}
	if reason != "" && !strings.Contains(string(body), reason) {
		t.Errorf("body %q lacks %q", body, reason)
	}
}

// checkWSClosed reads until the proxy's close frame and checks its code and text.
func checkWSClosed(t *testing.T, c *websocket.Conn, code int, text string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("read: %v, want close %d %q", err, code, text)
		}
		if ce.Code != code || ce.Text != text {
			t.Fatalf("close %d %q, want %d %q", ce.Code, ce.Text, code, text)
		}
		return
	}
}

func TestWebSocketRelaysOneMiB(t *testing.T) {
	f := getFixture(t)
	echo := echoServer(t)
	s := startServer(t, nil)
	tok := f.token(t, token.Request{Dst: echo, Proto: token.ProtoTelnet})
	c, resp, err := wsDial(t, s.Addr().String(), wsOpts{protocols: bearerProtocols(tok)})
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, resp)
	}
	if c.Subprotocol() != WebSocketProtocol {
		t.Errorf("subprotocol %q", c.Subprotocol())
	}
	if id := resp.Header.Get("Termgate-Session"); len(id) < 16 {
		t.Errorf("Termgate-Session = %q", id)
	}
	if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != WebSocketProtocol {
		t.Errorf("the 101 selects %q: the token must never be echoed", got)
	}

	want := make([]byte, 1<<20)
	rand.Read(want)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		// messages of uneven sizes, up to 64 KiB
		for off, n := 0, 1; off < len(want); n = n*7%65536 + 1 {
			end := min(off+n, len(want))
			if err := c.WriteMessage(websocket.BinaryMessage, want[off:end]); err != nil {
				t.Errorf("write: %v", err)
				return
			}
			off = end
		}
	}()
	var got bytes.Buffer
	for got.Len() < len(want) {
		mt, b, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("read after %d bytes: %v", got.Len(), err)
		}
		if mt != websocket.BinaryMessage {
			t.Fatalf("message type %d", mt)
		}
		got.Write(b)
	}
	wg.Wait()
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatal("the echoed MiB differs")
	}
	c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	checkWSClosed(t, c, websocket.CloseNormalClosure, "")

	waitFor(t, func() bool { return strings.Contains(s.logs.String(), `"event":"session_end"`) })
	logs := s.logs.String()
	for _, w := range []string{`"front":"ws"`, `"event":"session_start"`, `"proto":"telnet"`, `"sub":"alice"`, `"dst":"` + echo,
		`"bytes_in":1048576`, `"bytes_out":1048576`, `"end_reason":"closed"`, `"close_code":1000`} {
		if !strings.Contains(logs, w) {
			t.Errorf("audit log lacks %s:\n%s", w, logs)
		}
	}
	if strings.Contains(logs, tok[strings.LastIndexByte(tok, '.')+1:]) {
		t.Error("the token appears in the logs")
	}
	if n := counterValue(s.metrics.total); n != 1 {
		t.Errorf("sessions_total = %v", n)
	}
	if n := counterValue(s.metrics.bytes.WithLabelValues("in")); n != 1<<20 {
		t.Errorf("bytes_total{in} = %v", n)
	}
}

func TestWebSocketFirstMessage(t *testing.T) {
	f := getFixture(t)
	echo := echoServer(t)
	s := startServer(t, nil)
	c, resp, err := wsDial(t, s.Addr().String(), wsOpts{protocols: []string{WebSocketProtocol}})
	if err != nil {
		t.Fatal(err)
	}
	first, _ := json.Marshal(map[string]string{"token": f.token(t, token.Request{Dst: echo}), "dst": echo})
	c.WriteMessage(websocket.TextMessage, first)
	// bytes sent before the acknowledgement are relayed too
	c.WriteMessage(websocket.BinaryMessage, []byte("early "))
	mt, ack, err := c.ReadMessage()
	if err != nil || mt != websocket.TextMessage {
		t.Fatalf("ack: %d %q %v", mt, ack, err)
	}
	var a struct{ Session string }
	if json.Unmarshal(ack, &a); a.Session != resp.Header.Get("Termgate-Session") || a.Session == "" {
		t.Errorf("ack %s, Termgate-Session %q", ack, resp.Header.Get("Termgate-Session"))
	}
	c.WriteMessage(websocket.BinaryMessage, []byte("bird"))
	var got []byte
	for len(got) < len("early bird") {
		_, b, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, b...)
	}
	if string(got) != "early bird" {
		t.Fatalf("echo %q", got)
	}
}

func TestWebSocketHostCloses(t *testing.T) {
	f := getFixture(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Write([]byte("bye"))
			c.Close()
		}
	}()
	s := startServer(t, nil)
	c, _, err := wsDial(t, s.Addr().String(), wsOpts{protocols: bearerProtocols(f.token(t, token.Request{Dst: ln.Addr().String()}))})
	if err != nil {
		t.Fatal(err)
	}
	if _, b, err := c.ReadMessage(); err != nil || string(b) != "bye" {
		t.Fatalf("read %q %v", b, err)
	}
	checkWSClosed(t, c, websocket.CloseNormalClosure, "")
	waitFor(t, func() bool { return strings.Contains(s.logs.String(), `"end_reason":"closed"`) })
}

// TestWebSocketClientCloseEndsSession: a WebSocket has no half-close, so
// the client's close frame closes the host connection at once.
func TestWebSocketClientCloseEndsSession(t *testing.T) {
	f := getFixture(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	hostDone := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			hostDone <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		c.Write([]byte("login: "))
		_, err = io.Copy(io.Discard, c) // never closes its own side first
		hostDone <- err
	}()
	s := startServer(t, nil)
	c, _, err := wsDial(t, s.Addr().String(), wsOpts{protocols: bearerProtocols(f.token(t, token.Request{Dst: ln.Addr().String()}))})
	if err != nil {
		t.Fatal(err)
	}
	if _, b, err := c.ReadMessage(); err != nil || string(b) != "login: " {
		t.Fatalf("read %q %v", b, err)
	}
	c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "closed by user"), time.Now().Add(time.Second))
	checkWSClosed(t, c, websocket.CloseNormalClosure, "")
	select {
	case err := <-hostDone:
		if err != nil {
			t.Fatalf("host side: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the host connection stayed open after the client's close")
	}
	waitFor(t, func() bool { return strings.Contains(s.logs.String(), `"end_reason":"closed"`) })
}

// TestWebSocketRefusals covers one refusal per case: an invalid handshake
// gets an HTTP answer in the CONNECT format; everything after a valid
// termgate.v1 handshake a close frame 4000+status with the code as reason.
func TestWebSocketRefusals(t *testing.T) {
	f := getFixture(t)
	echo := echoServer(t)
	expired := func() string {
		i, err := token.NewIssuer(token.IssuerConfig{NodeID: "mgmt1", Cert: f.signer.Cert, Key: f.signer.Key, Now: func() time.Time { return time.Now().Add(-time.Hour) }})
		if err != nil {
			t.Fatal(err)
		}
		tok, _, err := i.Issue(token.Request{Subject: "alice", Dst: echo, Proto: token.ProtoTCP})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}()
	closedPort := freeAddr(t)
	popKey, _ := token.NewProofKey()
	good := func() string { return f.token(t, token.Request{Dst: echo}) }
	s := startServer(t, nil)

	usedOnWS, usedOnConnect := good(), good()
	wsEcho(t, s.Addr().String(), wsOpts{protocols: bearerProtocols(usedOnWS)}).Close()
	if r := connect(t, s.Addr().String(), echo, bearer(usedOnConnect), nil); r.status != 200 {
		t.Fatalf("CONNECT: %d", r.status)
	}
	inURL := good()

	rows := []struct {
		name   string
		o      wsOpts
		status int    // an HTTP refusal…
		close  int    // …or a close frame after the upgrade
		code   string // Termgate-Error code (the close reason)
		reason string // substring of the HTTP body or of the audit log
	}{
		{name: "no subprotocol", o: wsOpts{}, status: 407, code: "token_missing", reason: "bearer.<token>"},
		{name: "bearer without termgate.v1", o: wsOpts{protocols: []string{"bearer." + good()}}, status: 400, code: "bad_request", reason: WebSocketProtocol},
		{name: "two bearers", o: wsOpts{protocols: []string{WebSocketProtocol, "bearer." + good(), "bearer." + good()}}, status: 400, code: "bad_request"},
		{name: "token in the URL", o: wsOpts{query: "?token=" + inURL, protocols: []string{WebSocketProtocol}}, status: 400, code: "bad_request", reason: "never be sent in the URL"},
		{name: "token in another parameter", o: wsOpts{query: "?dst=" + echo + "&x=" + inURL, protocols: []string{WebSocketProtocol}}, status: 400, code: "bad_request", reason: "never be sent in the URL"},
		{name: "access_token parameter", o: wsOpts{query: "?access_token=abc", protocols: bearerProtocols(good())}, status: 400, code: "bad_request", reason: "URL"},
		{name: "unknown parameter", o: wsOpts{query: "?cols=80", protocols: bearerProtocols(good())}, status: 400, code: "bad_request", reason: "only dst"},
		{name: "bad dst", o: wsOpts{query: "?dst=nohost", protocols: bearerProtocols(good())}, status: 400, code: "bad_request"},
		{name: "foreign origin", o: wsOpts{origin: "https://evil.example", protocols: bearerProtocols(good())}, status: 400, code: "bad_request", reason: "--ws-origin"},
		{name: "same host, http origin", o: wsOpts{origin: "http://" + s.Addr().String(), protocols: bearerProtocols(good())}, status: 400, code: "bad_request", reason: "origin"},

		{name: "empty bearer", o: wsOpts{protocols: []string{WebSocketProtocol, "bearer."}}, close: 4407, code: "token_missing"},
		{name: "token malformed", o: wsOpts{protocols: bearerProtocols("not.a-token")}, close: 4407, code: "token_malformed"},
		{name: "token expired", o: wsOpts{protocols: bearerProtocols(expired)}, close: 4407, code: "token_expired"},
		{name: "token replayed (ws, ws)", o: wsOpts{protocols: bearerProtocols(usedOnWS)}, close: 4407, code: "token_replayed"},
		{name: "token replayed (CONNECT, ws)", o: wsOpts{protocols: bearerProtocols(usedOnConnect)}, close: 4407, code: "token_replayed"},
		{name: "bound token", o: wsOpts{protocols: bearerProtocols(f.token(t, token.Request{Dst: echo, PoPKey: popKey.JWK()}))}, close: 4407, code: "proof_missing", reason: "use CONNECT"},
		{name: "destination mismatch", o: wsOpts{query: "?dst=" + closedPort, protocols: bearerProtocols(good())}, close: 4403, code: "destination_mismatch"},
		{name: "destination denied", o: wsOpts{protocols: bearerProtocols(f.token(t, token.Request{Dst: "169.254.169.254:80"}))}, close: 4403, code: "destination_denied", reason: "metadata"},
		{name: "dial failed", o: wsOpts{protocols: bearerProtocols(f.token(t, token.Request{Dst: closedPort}))}, close: 4502, code: "dial_failed"},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			c, resp, err := wsDial(t, s.Addr().String(), row.o)
			if row.status != 0 {
				checkWSRefused(t, resp, err, row.status, row.code, row.reason)
				return
			}
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			checkWSClosed(t, c, row.close, row.code)
			if row.reason != "" {
				waitFor(t, func() bool { return strings.Contains(s.logs.String(), row.reason) })
			}
		})
	}
	t.Run("same origin is allowed by default", func(t *testing.T) {
		if _, _, err := wsDial(t, s.Addr().String(), wsOpts{origin: "https://" + s.Addr().String(), protocols: bearerProtocols(good())}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a token in the URL is not logged", func(t *testing.T) {
		logs := s.logs.String()
		if strings.Contains(logs, inURL[strings.LastIndexByte(inURL, '.')+1:]) {
			t.Errorf("the token appears in the logs:\n%s", logs)
		}
		for _, w := range []string{`"front":"ws"`, `"code":"token_replayed"`, `"close_code":4407`, `"code":"token_missing","status":407`} {
			if !strings.Contains(logs, w) {
				t.Errorf("rejections not audited (%s):\n%s", w, logs)
			}
		}
	})
	if n := counterValue(s.metrics.rejections.WithLabelValues("token_replayed")); n != 2 {
		t.Errorf("rejections_total{code=token_replayed} = %v, want 2", n)
	}
	raw := []struct{ name, req string }{
		{"version 8", "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"},
		{"bad key", "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: c2hvcnQ=\r\n\r\n"},
		{"no upgrade", "GET /ws HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"HTTP/1.0", "GET /ws HTTP/1.0\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"},
		{"other path", "GET /wss HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"},
	}
	for _, row := range raw {
		t.Run(row.name, func(t *testing.T) {
			checkRejection(t, rawRequest(t, s.Addr().String(), row.req), 400, "bad_request", "")
		})
	}
}

// TestWebSocketRefusalsAfterUpgrade covers refusals of a token sent in the
// first message: a close frame 4000+status with the code as reason.
func TestWebSocketRefusalsAfterUpgrade(t *testing.T) {
	f := getFixture(t)
	echo := echoServer(t)
	s := startServer(t, func(c *Config) { c.HeaderTimeout = time.Second })
	expired := func() string {
		i, _ := token.NewIssuer(token.IssuerConfig{NodeID: "mgmt1", Cert: f.signer.Cert, Key: f.signer.Key, Now: func() time.Time { return time.Now().Add(-time.Hour) }})
		tok, _, _ := i.Issue(token.Request{Subject: "alice", Dst: echo, Proto: token.ProtoTCP})
		return tok
	}()
	msg := func(tok, dst string) []byte {
		b, _ := json.Marshal(firstMessage{Token: tok, Dst: dst})
		return b
	}
	rows := []struct {
		name  string
		query string
		mt    int
		first []byte // nil: send nothing
		code  int
		text  string
	}{
		{name: "expired", mt: websocket.TextMessage, first: msg(expired, ""), code: 4407, text: "token_expired"},
		{name: "no token", mt: websocket.TextMessage, first: msg("", echo), code: 4407, text: "token_missing"},
		{name: "not JSON", mt: websocket.TextMessage, first: []byte("hello"), code: 4400, text: "bad_request"},
		{name: "unknown field", mt: websocket.TextMessage, first: []byte(`{"token":"a","cols":80}`), code: 4400, text: "bad_request"},
		{name: "binary first", mt: websocket.BinaryMessage, first: msg(f.token(t, token.Request{Dst: echo}), ""), code: 4400, text: "bad_request"},
		{name: "dst mismatch", mt: websocket.TextMessage, first: msg(f.token(t, token.Request{Dst: echo}), "127.0.0.1:1"), code: 4403, text: "destination_mismatch"},
		{name: "dst differs from the URL", query: "?dst=" + echo, mt: websocket.TextMessage, first: msg(f.token(t, token.Request{Dst: echo}), "127.0.0.1:1"), code: 4403, text: "destination_mismatch"},
		{name: "too large", mt: websocket.TextMessage, first: bytes.Repeat([]byte(" "), wsFirstMessageMax+1), code: 4400, text: "bad_request"},
		{name: "nothing sent", code: 4400, text: "bad_request"},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			c, _, err := wsDial(t, s.Addr().String(), wsOpts{query: row.query, protocols: []string{WebSocketProtocol}})
			if err != nil {
				t.Fatal(err)
			}
			if row.first != nil {
				c.WriteMessage(row.mt, row.first)
			}
			checkWSClosed(t, c, row.code, row.text)
		})
	}
	if !strings.Contains(s.logs.String(), `"close_code":4407`) {
		t.Errorf("no audited refusal with its close code:\n%s", s.logs.String())
	}
}

func TestWebSocketReplayAcrossNodes(t *testing.T) {
	f := getFixture(t)
	echo := echoServer(t)
	peerTrust := pki.NewTrustStore(f.ca.Cert.Cert)
	addrA, addrB := freeAddr(t), freeAddr(t)
	peers := []Peer{{ID: "node-a", Addr: addrA}, {ID: "node-b", Addr: addrB}}
	a := startServer(t, func(c *Config) { c.NodeID = "node-a"; c.PeerListen = addrA; c.Peers = peers; c.PeerTrust = peerTrust })
	b := startServer(t, func(c *Config) { c.NodeID = "node-b"; c.PeerListen = addrB; c.Peers = peers; c.PeerTrust = peerTrust })
	owners := map[string]int{}
	for i := 0; i < 6; i++ {
		tok, claims, err := f.issuer.Issue(token.Request{Subject: "alice", Dst: echo, Proto: token.ProtoTCP})
		if err != nil {
			t.Fatal(err)
		}
		owners[hrwOwner([]string{"node-a", "node-b"}, claims.ID)]++
		first, second := a, b
		if i%2 == 1 {
			first, second = b, a
		}
		wsEcho(t, first.Addr().String(), wsOpts{protocols: bearerProtocols(tok)}).Close()
		c, _, err := wsDial(t, second.Addr().String(), wsOpts{protocols: bearerProtocols(tok)})
		if err != nil {
			t.Fatal(err)
		}
		checkWSClosed(t, c, 4407, "token_replayed")
	}
	if owners["node-a"] == 0 || owners["node-b"] == 0 {
		t.Logf("jti owners: %v (one node owned none this run)", owners)
	}
}

func TestWebSocketAllowedOrigins(t *testing.T) {
	f := getFixture(t)
	echo := echoServer(t)
	s := startServer(t, func(c *Config) { c.WebSocketOrigins = []string{"https://Console.Example.com:8443", "http://localhost"} })
	for _, row := range []struct {
		origin string
		ok     bool
	}{
		{"https://console.example.com:8443", true},
		{"http://localhost:80", true},
		{"https://console.example.com", false},
		{"https://" + s.Addr().String(), false}, // a list replaces the same-origin default
		{"null", false},
	} {
		_, resp, err := wsDial(t, s.Addr().String(), wsOpts{origin: row.origin, protocols: bearerProtocols(f.token(t, token.Request{Dst: echo}))})
		if row.ok && err != nil {
			t.Errorf("%s refused: %v", row.origin, err)
		}
		if !row.ok {
			checkWSRefused(t, resp, err, 400, "bad_request", "origin")
		}
	}
	for _, bad := range [][]string{{"*"}, {"https://*.example.com"}, {"ftp://x"}, {"https://x/path"}, {"console.example.com"}} {
		if _, err := New(Config{Listen: "127.0.0.1:0", OpsListen: "-", WebSocketOrigins: bad}); err == nil {
			t.Errorf("New accepted WebSocketOrigins %q", bad)
		}
	}
}

func TestWebSocketDraining(t *testing.T) {
	f := getFixture(t)
	echo := echoServer(t)
	s := startServer(t, func(c *Config) { c.DrainGrace = 50 * time.Millisecond })
	late, err := tlsDial(s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close()
	drained := make(chan error, 1)
	go func() { drained <- s.Drain(context.Background()) }()
	waitFor(t, func() bool { return s.refusing.Load() })
	c, _, err := wsDial(t, s.Addr().String(), wsOpts{conn: late, protocols: bearerProtocols(f.token(t, token.Request{Dst: echo}))})
	if err != nil {
		t.Fatal(err)
	}
	checkWSClosed(t, c, 4503, "draining")
	late.Close()
	select {
	case err := <-drained:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("drain did not finish")
	}
}

func TestWebSocketProtocolViolations(t *testing.T) {
	f := getFixture(t)
	echo := echoServer(t)
	s := startServer(t, func(c *Config) { c.WebSocketMaxMessage = 1024 })
	t.Run("text message", func(t *testing.T) {
		c, _, err := wsDial(t, s.Addr().String(), wsOpts{protocols: bearerProtocols(f.token(t, token.Request{Dst: echo}))})
		if err != nil {
			t.Fatal(err)
		}
		c.WriteMessage(websocket.TextMessage, []byte("ls\n"))
		checkWSClosed(t, c, websocket.CloseUnsupportedData, "binary messages only")
	})
	t.Run("message too large", func(t *testing.T) {
		c, _, err := wsDial(t, s.Addr().String(), wsOpts{protocols: bearerProtocols(f.token(t, token.Request{Dst: echo}))})
		if err != nil {
			t.Fatal(err)
		}
		c.WriteMessage(websocket.BinaryMessage, make([]byte, 1024)) // at the limit: relayed
		if _, b, err := c.ReadMessage(); err != nil || len(b) == 0 {
			t.Fatalf("echo at the limit: %d %v", len(b), err)
		}
		c.WriteMessage(websocket.BinaryMessage, make([]byte, 1025))
		checkWSClosed(t, c, websocket.CloseMessageTooBig, "")
	})
	waitFor(t, func() bool { return strings.Count(s.logs.String(), `"end_reason":"client_error"`) == 2 })
}

func TestWebSocketKeepalive(t *testing.T) {
	f := getFixture(t)
	echo := echoServer(t)
	s := startServer(t, func(c *Config) { c.WebSocketPingInterval = 250 * time.Millisecond })
	t.Run("a client that answers pings stays", func(t *testing.T) {
		c, _, err := wsDial(t, s.Addr().String(), wsOpts{protocols: bearerProtocols(f.token(t, token.Request{Dst: echo}))})
		if err != nil {
			t.Fatal(err)
		}
		pings := make(chan struct{}, 100)
		c.SetPingHandler(func(data string) error {
			select {
			case pings <- struct{}{}:
			default:
			}
			return c.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		})
		msgs := make(chan []byte, 1)
		go func() {
			for {
				_, b, err := c.ReadMessage()
				if err != nil {
					close(msgs)
					return
				}
				msgs <- b
			}
		}()
		for i := 0; i < 4; i++ { // four pings: twice the 2-interval read deadline
			select {
			case <-pings:
			case <-time.After(10 * time.Second):
				t.Fatal("no ping")
			}
		}
		c.WriteMessage(websocket.BinaryMessage, []byte("still here"))
		if b := <-msgs; string(b) != "still here" {
			t.Fatalf("echo %q", b)
		}
	})
	t.Run("a client that answers nothing is dropped", func(t *testing.T) {
		c, _, err := wsDial(t, s.Addr().String(), wsOpts{protocols: bearerProtocols(f.token(t, token.Request{Dst: echo}))})
		if err != nil {
			t.Fatal(err)
		}
		_ = c // never read: pings stay unanswered
		waitFor(t, func() bool { return strings.Contains(s.logs.String(), `"end_reason":"client_error"`) })
	})
}

func TestWebSocketIdleTimeout(t *testing.T) {
	f := getFixture(t)
	echo := echoServer(t)
	s := startServer(t, func(c *Config) {
		c.IdleTimeout = 400 * time.Millisecond
		c.WebSocketPingInterval = 300 * time.Millisecond // one answered ping, which is no activity
	})
	c, _, err := wsDial(t, s.Addr().String(), wsOpts{protocols: bearerProtocols(f.token(t, token.Request{Dst: echo}))})
	if err != nil {
		t.Fatal(err)
	}
	// pings (answered while reading) do not count as activity
	checkWSClosed(t, c, websocket.CloseGoingAway, "idle_timeout")
	waitFor(t, func() bool { return strings.Contains(s.logs.String(), `"end_reason":"idle_timeout"`) })
}

func TestWebSocketClientAuthorizationOff(t *testing.T) {
	echo := echoServer(t)
	s := startServer(t, func(c *Config) { c.ClientAuthorizationOff = true; c.Allow = []string{echo} })
	c, _, err := wsDial(t, s.Addr().String(), wsOpts{protocols: []string{WebSocketProtocol}})
	if err != nil {
		t.Fatal(err)
	}
	checkWSClosed(t, c, 4400, "bad_request")
	c, _, err = wsDial(t, s.Addr().String(), wsOpts{query: "?dst=" + echo, protocols: []string{WebSocketProtocol}})
	if err != nil {
		t.Fatal(err)
	}
	c.WriteMessage(websocket.BinaryMessage, []byte("x"))
	if _, b, err := c.ReadMessage(); err != nil || string(b) != "x" {
		t.Fatalf("echo %q %v", b, err)
	}
	c, _, err = wsDial(t, s.Addr().String(), wsOpts{query: "?dst=127.0.0.1:1", protocols: []string{WebSocketProtocol}})
	if err != nil {
		t.Fatal(err)
	}
	checkWSClosed(t, c, 4403, "destination_denied")
}

func TestWebSocketNoGoroutineLeak(t *testing.T) {
	f := getFixture(t)
	echo := echoServer(t)
	before := goleak.IgnoreCurrent()
	s, err := New(Config{Listen: "127.0.0.1:0", OpsListen: "-", Certificate: f.tlsCert(), MgmtTrust: f.signers,
		AllowNetworks: localNets, WebSocketPingInterval: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background()) }()
	live, _, err := wsDial(t, s.Addr().String(), wsOpts{protocols: bearerProtocols(f.token(t, token.Request{Dst: echo}))})
	if err != nil {
		t.Fatal(err)
	}
	live.WriteMessage(websocket.BinaryMessage, []byte("x"))
	if _, _, err := live.ReadMessage(); err != nil {
		t.Fatal(err)
	}
	waiting, _, err := wsDial(t, s.Addr().String(), wsOpts{protocols: []string{WebSocketProtocol}}) // no first message yet
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	<-done
	checkWSClosed(t, live, websocket.CloseGoingAway, "server_closed")
	live.Close()
	waiting.Close()
	if err := goleak.Find(before, goleak.IgnoreAnyFunction("internal/poll.runtime_pollWait")); err != nil {
		t.Error(err)
	}
}

func TestOriginPolicy(t *testing.T) {
	def, _ := newOriginPolicy(nil)
	list, _ := newOriginPolicy([]string{"https://console.example.com:8443", "https://[::1]:9000/"})
	for _, row := range []struct {
		p            *originPolicy
		origin, host string
		want         bool
	}{
		{def, "https://proxy.example.com", "proxy.example.com", true},
		{def, "https://proxy.example.com:443", "PROXY.example.com", true},
		{def, "https://proxy.example.com:9443", "proxy.example.com:9443", true},
		{def, "https://proxy.example.com:9443", "proxy.example.com", false},
		{def, "http://proxy.example.com", "proxy.example.com", false},
		{def, "https://[::1]:9443", "[::1]:9443", true},
		{def, "https://other.example.com", "proxy.example.com", false},
		{def, "https://proxy.example.com", "", false},
		{def, "null", "proxy.example.com", false},
		{list, "https://console.example.com:8443", "proxy", true},
		{list, "https://[::1]:9000", "proxy", true},
		{list, "https://console.example.com:8443/x", "proxy", false},
		{list, "https://user@console.example.com:8443", "proxy", false},
		{list, "https://proxy", "proxy", false},
	} {
		if got := row.p.allow(row.origin, row.host); got != row.want {
			t.Errorf("allow(%q, host %q) = %v, want %v", row.origin, row.host, got, row.want)
		}
	}
}

func TestLooksLikeToken(t *testing.T) {
	f := getFixture(t)
	tok := f.token(t, token.Request{Dst: "db2.example.com:23"})
	for _, s := range []string{tok, "bearer." + tok} {
		if !looksLikeToken(s) {
			t.Errorf("looksLikeToken(%.20s…) = false", s)
		}
	}
	for _, s := range []string{"db2.example.com:23", "a.b.c", "eyJ.x", "host.example.com", "eyJhbGciOiJFUzI1NiJ9eyJhbGciOiJFUzI1NiJ9"} {
		if looksLikeToken(s) {
			t.Errorf("looksLikeToken(%q) = true", s)
		}
	}
}

// fuzzOrigins is the origin policy the fuzz targets run with.
var fuzzOrigins = func() *originPolicy {
	p, err := newOriginPolicy([]string{"https://console.example.com:8443"})
	if err != nil {
		panic(err)
	}
	return p
}()

func FuzzWebSocketHandshake(f *testing.F) {
	const up = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	for _, s := range []string{
		"GET /ws HTTP/1.1\r\nHost: p:9443\r\n" + up + "Sec-WebSocket-Protocol: termgate.v1, bearer.eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln\r\n\r\n",
		"GET /ws?dst=db2.example.com:23 HTTP/1.1\r\nHost: p\r\n" + up + "Origin: https://console.example.com:8443\r\nSec-WebSocket-Protocol: termgate.v1\r\n\r\n",
		"GET /ws?token=eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln HTTP/1.1\r\nHost: p\r\n" + up + "\r\n",
		"GET /ws?dst=%zz&dst=a:1 HTTP/1.1\r\n" + up + "\r\n",
		"GET /ws HTTP/1.1\r\nOrigin: null\r\nOrigin: https://x\r\n" + up + "\r\n",
		"GET /ws HTTP/1.1\r\nSec-WebSocket-Protocol: bearer.a, bearer.b\r\n" + up + "\r\n",
		"GET /ws HTTP/1.0\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := ParseConnect(bufio.NewReader(bytes.NewReader(data)))
		if !errors.Is(err, ErrNotConnect) || !isWebSocketRequest(req) {
			return
		}
		hs, rej := parseWebSocket(req, fuzzOrigins)
		if rej != nil {
			if hs != nil || rej.Code != CodeBadRequest {
				t.Fatalf("refusal %v with %+v", rej, hs)
			}
			if strings.Contains(rej.Reason, "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln") {
				t.Fatalf("a refusal repeats a token: %q", rej.Reason)
			}
			return
		}
		if hs.bearer && !hs.protocol {
			t.Fatal("bearer accepted without termgate.v1")
		}
		if strings.ContainsAny(hs.token, ", \t") {
			t.Fatalf("token %q", hs.token)
		}
		if hs.dst != "" {
			if n, err := token.NormalizeHostPort(hs.dst); err != nil || n != hs.dst {
				t.Fatalf("dst %q not normalised", hs.dst)
			}
		}
	})
}

func FuzzWebSocketFirstMessage(f *testing.F) {
	for _, s := range []string{
		`{"token":"a.b.c","dst":"DB2.example.com:23"}`,
		`{"token":"a.b.c"}`,
		`{"token":"a","dst":"[::1]:22"} {}`,
		`{"token":1}`,
		`{"token":"a","token":"b","extra":true}`,
		`[]`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, rej := parseFirstMessage(data)
		if rej != nil {
			if m != nil || rej.Code != CodeBadRequest {
				t.Fatalf("refusal %v with %+v", rej, m)
			}
			return
		}
		if m.Dst != "" {
			if n, err := token.NormalizeHostPort(m.Dst); err != nil || n != m.Dst {
				t.Fatalf("dst %q not normalised", m.Dst)
			}
		}
	})
}

// BenchmarkWebSocketThroughput sends 64 KiB binary messages through /ws to
// a sink host; the CONNECT relay in the same run is the baseline.
func BenchmarkWebSocketThroughput(b *testing.B) {
	f := getFixture(b)
	host := sinkHost(b)
	b.Run("ws", func(b *testing.B) {
		s := benchProxy(b)
		c, _, err := wsDial(b, s.Addr().String(), wsOpts{protocols: bearerProtocols(f.token(b, token.Request{Dst: host}))})
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := c.ReadMessage(); err != nil { // the host's first byte
			b.Fatal(err)
		}
		buf := make([]byte, 64<<10)
		b.SetBytes(int64(len(buf)))
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := c.WriteMessage(websocket.BinaryMessage, buf); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		c.Close()
	})
	b.Run("connect", func(b *testing.B) {
		s := benchProxy(b)
		r := connect(b, s.Addr().String(), host, bearer(f.token(b, token.Request{Dst: host})), nil)
		if r.status != 200 {
			b.Fatal(r.status)
		}
		r.conn.SetDeadline(time.Time{})
		throughput(b, r.conn, r.br)
	})
}

func TestWebSocketLimits(t *testing.T) {
	f := getFixture(t)
	echo := echoServer(t)
	t.Run("failed authorizations", func(t *testing.T) {
		s := startServer(t, func(c *Config) { c.AuthFailureBurst = 2; c.AuthFailureRate = 0.001 })
		for i := 0; i < 2; i++ {
			c, _, err := wsDial(t, s.Addr().String(), wsOpts{protocols: bearerProtocols("not.a-token")})
			if err != nil {
				t.Fatal(err)
			}
			checkWSClosed(t, c, 4407, "token_malformed")
		}
		c, _, err := wsDial(t, s.Addr().String(), wsOpts{protocols: bearerProtocols(f.token(t, token.Request{Dst: echo}))})
		if err != nil {
			t.Fatal(err)
		}
		checkWSClosed(t, c, 4429, "rate_limited")
	})
	t.Run("sessions per node", func(t *testing.T) {
		s := startServer(t, func(c *Config) { c.MaxSessions = 1 })
		wsEcho(t, s.Addr().String(), wsOpts{protocols: bearerProtocols(f.token(t, token.Request{Dst: echo}))})
		c, _, err := wsDial(t, s.Addr().String(), wsOpts{protocols: bearerProtocols(f.token(t, token.Request{Dst: echo}))})
		if err != nil {
			t.Fatal(err)
		}
		checkWSClosed(t, c, 4503, "overloaded")
	})
}

package emulator_test

// A small stand-in for the management server and the proxy, implementing
// only their wire contracts (docs/protocol.md) with real TLS, real tokens
// (token.Issuer, token.Verifier with proof of possession and replay cache),
// relaying to real hosts: termgate's demo VT host and demo 3270 host (what
// "termgate up" serves), plus a tiny line-echo telnet host that shows each
// key as the host received it, so the SDK is tested over the wire.

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/termgate/termgate/emulator"
	"github.com/termgate/termgate/emulator/telnet"
	"github.com/termgate/termgate/internal/demo/tn3270host"
	"github.com/termgate/termgate/internal/demo/vthost"
	"github.com/termgate/termgate/pki"
	"github.com/termgate/termgate/token"
)

const (
	testUser     = "alice"
	testPassword = "correct horse"
	proxyName    = "proxy.termgate.test"

	demoBanner   = "termgate demo host" // the demo VT host's banner
	demoPrompt   = "Select an option"   // ...and its menu prompt
	lineBanner   = "termgate line host" // the in-test line host's banner
	logon3270    = "TERMGATE DEMO 3270" // the demo 3270 host's logon panel
	password3270 = "demo"               // ...and its published password

	sessionDemo = "demo-vt"   // vthost over telnet
	sessionLine = "line-vt"   // the line host over telnet
	sessionEcho = "echo-tcp"  // the echo server over raw TCP
	session3270 = "demo-3270" // tn3270host
	sessionFTP  = "files-ftp" // an ftp definition, which Open refuses
)

type testEnv struct {
	CA     *pki.CA
	MgmtCA *x509.CertPool
	Trust  *pki.TrustStore // what clients trust for the proxy

	issuer   *token.Issuer
	verifier *token.Verifier
	mgmt     *httptest.Server
	proxy    *fakeProxy
	host     *lineHost
	echo     *echoServer
	vt       *vthost.Server
	tn3270   *tn3270host.Server
	hostsWG  sync.WaitGroup // the demo hosts' Serve loops

	mu       sync.Mutex
	logins   map[string]bool
	sessions map[string]emulator.SessionInfo
	// tweak, if set, edits each launch response before it is sent.
	tweak func(map[string]any)

	Launches atomic.Int32
}

// newEnv starts the environment for a test and stops it at cleanup.
func newEnv(t testing.TB) *testEnv {
	t.Helper()
	env, err := startEnv()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	return env
}

func startEnv() (*testEnv, error) {
	ca, err := pki.NewCA(pki.CertSpec{CommonName: "termgate test CA"})
	if err != nil {
		return nil, err
	}
	signer, err := ca.Issue(pki.CertSpec{CommonName: "mgmt-1", Usage: pki.UsageTokenSigning})
	if err != nil {
		return nil, err
	}
	issuer, err := token.NewIssuer(token.IssuerConfig{Cert: signer.Cert, Key: signer.Key})
	if err != nil {
		return nil, err
	}
	env := &testEnv{
		CA:       ca,
		MgmtCA:   x509.NewCertPool(),
		Trust:    pki.NewTrustStore(ca.Cert.Cert),
		issuer:   issuer,
		verifier: token.NewVerifier(token.VerifierConfig{Trust: pki.NewTrustStore(signer.Cert), Replay: token.NewReplayCache(0)}),
		logins:   map[string]bool{},
	}
	env.MgmtCA.AddCert(ca.Cert.Cert)

	if env.host, err = startLineHost(); err != nil {
		return nil, err
	}
	if env.echo, err = startEcho(); err != nil {
		env.host.Close()
		return nil, err
	}
	vtLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		env.host.Close()
		env.echo.Close()
		return nil, err
	}
	tnLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		vtLn.Close()
		env.host.Close()
		env.echo.Close()
		return nil, err
	}
	env.vt, env.tn3270 = &vthost.Server{}, &tn3270host.Server{}
	env.hostsWG.Add(2)
	go func() { defer env.hostsWG.Done(); _ = env.vt.Serve(context.Background(), vtLn) }()
	go func() { defer env.hostsWG.Done(); _ = env.tn3270.Serve(context.Background(), tnLn) }()
	proxyCert, err := ca.Issue(pki.CertSpec{CommonName: proxyName, DNSNames: []string{proxyName}, Usage: pki.UsageServer})
	if err != nil {
		env.closeHosts()
		return nil, err
	}
	if env.proxy, err = startProxy(proxyCert, env.verifier); err != nil {
		env.closeHosts()
		return nil, err
	}
	port := func(ln net.Listener) int { return ln.Addr().(*net.TCPAddr).Port }
	env.sessions = map[string]emulator.SessionInfo{
		sessionDemo: {Name: sessionDemo, Protocol: "telnet", Host: "127.0.0.1", Port: port(vtLn),
			Terminal: emulator.Terminal{Model: "vt220", Rows: 24, Cols: 80}, Description: "demo VT host"},
		sessionLine: {Name: sessionLine, Protocol: "telnet", Host: "127.0.0.1", Port: port(env.host.ln),
			Terminal: emulator.Terminal{Model: "vt220", Rows: 24, Cols: 80}},
		sessionEcho: {Name: sessionEcho, Protocol: "tcp", Host: "127.0.0.1", Port: port(env.echo.ln)},
		session3270: {Name: session3270, Protocol: "tn3270", Host: "127.0.0.1", Port: port(tnLn),
			Terminal: emulator.Terminal{Model: "IBM-3278-2-E", Rows: 24, Cols: 80, Codepage: "cp037"}, Description: "demo 3270 host"},
		sessionFTP: {Name: sessionFTP, Protocol: "ftp", Host: "127.0.0.1", Port: port(env.echo.ln)},
	}

	mgmtCert, err := ca.Issue(pki.CertSpec{CommonName: "127.0.0.1", Usage: pki.UsageServer})
	if err != nil {
		return nil, err
	}
	env.mgmt = httptest.NewUnstartedServer(env.routes())
	env.mgmt.TLS = &tls.Config{Certificates: []tls.Certificate{mgmtCert.TLSCertificate()}, MinVersion: tls.VersionTLS12}
	env.mgmt.StartTLS()
	return env, nil
}

// Close stops every server of the environment.
func (e *testEnv) Close() {
	e.mgmt.Close()
	e.proxy.Close()
	e.closeHosts()
}

func (e *testEnv) closeHosts() {
	e.host.Close()
	e.echo.Close()
	e.vt.Close()
	e.tn3270.Close()
	e.hostsWG.Wait()
}

func (e *testEnv) MgmtURL() string { return e.mgmt.URL }

// Client returns a logged-in client.
func (e *testEnv) Client(t testing.TB) *emulator.Client {
	t.Helper()
	c, err := emulator.NewClient(e.MgmtURL(), emulator.ClientOptions{CA: e.MgmtCA, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(context.Background(), testUser, testPassword); err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *testEnv) setTweak(f func(map[string]any)) {
	e.mu.Lock()
	e.tweak = f
	e.mu.Unlock()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func apiErr(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

func (e *testEnv) authed(r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	e.mu.Lock()
	defer e.mu.Unlock()
	return ok && e.logins[tok]
}

func (e *testEnv) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/login", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Username, Password string }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			apiErr(w, 400, "bad_request", err.Error())
			return
		}
		if in.Username != testUser || in.Password != testPassword {
			apiErr(w, 401, "invalid_credentials", "wrong user name or password")
			return
		}
		tok := fmt.Sprintf("login-%d", time.Now().UnixNano())
		e.mu.Lock()
		e.logins[tok] = true
		e.mu.Unlock()
		writeJSON(w, 200, map[string]any{"token": tok, "expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
	})
	mux.HandleFunc("GET /api/v1/sessions", func(w http.ResponseWriter, r *http.Request) {
		if !e.authed(r) {
			apiErr(w, 401, "unauthorized", "log in first")
			return
		}
		var list []emulator.SessionInfo
		for _, name := range []string{sessionDemo, sessionLine, sessionEcho, session3270, sessionFTP} {
			list = append(list, e.sessions[name])
		}
		writeJSON(w, 200, map[string]any{"sessions": list})
	})
	mux.HandleFunc("POST /api/v1/sessions/{name}/launch", func(w http.ResponseWriter, r *http.Request) {
		if !e.authed(r) {
			apiErr(w, 401, "unauthorized", "log in first")
			return
		}
		si, ok := e.sessions[r.PathValue("name")]
		if !ok {
			apiErr(w, 404, "not_found", "no such session")
			return
		}
		jwk, err := readPoP(r)
		if err != nil {
			apiErr(w, 400, "bad_request", err.Error())
			return
		}
		tok, claims, err := e.issuer.Issue(token.Request{Subject: testUser, Dst: si.Target(), Proto: si.Protocol, Session: si.Name, PoPKey: jwk})
		if err != nil {
			apiErr(w, 500, "internal", err.Error())
			return
		}
		e.Launches.Add(1)
		out := map[string]any{
			"session": si,
			"proxy":   map[string]any{"address": e.proxy.Addr(), "server_name": proxyName},
			"token":   tok, "expires_at": claims.ExpiresAt.Time.UTC().Format(time.RFC3339),
			"trust_store": string(e.Trust.Encode()),
			"metering":    map[string]any{"address": "127.0.0.1:8444", "interval_s": 30, "ticket": "ticket-1"},
		}
		e.mu.Lock()
		tweak := e.tweak
		e.mu.Unlock()
		if tweak != nil {
			tweak(out)
		}
		writeJSON(w, 200, out)
	})
	mux.HandleFunc("POST /api/v1/tokens", func(w http.ResponseWriter, r *http.Request) {
		if !e.authed(r) {
			apiErr(w, 401, "unauthorized", "log in first")
			return
		}
		var in struct {
			Host     string          `json:"host"`
			Port     int             `json:"port"`
			Protocol string          `json:"protocol"`
			TTL      int             `json:"ttl_s"`
			PoP      json.RawMessage `json:"pop_jwk"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			apiErr(w, 400, "bad_request", err.Error())
			return
		}
		var jwk *token.JWK
		if len(in.PoP) > 0 {
			var err error
			if jwk, err = token.ParseJWK(in.PoP); err != nil {
				apiErr(w, 400, "bad_request", err.Error())
				return
			}
		}
		dst := net.JoinHostPort(in.Host, strconv.Itoa(in.Port))
		tok, claims, err := e.issuer.Issue(token.Request{Subject: testUser, Dst: dst, Proto: in.Protocol, TTL: time.Duration(in.TTL) * time.Second, PoPKey: jwk})
		if err != nil {
			apiErr(w, 403, "forbidden", err.Error())
			return
		}
		writeJSON(w, 200, map[string]any{"token": tok, "expires_at": claims.ExpiresAt.Unix()})
	})
	return mux
}

func readPoP(r *http.Request) (*token.JWK, error) {
	var in struct {
		PoP json.RawMessage `json:"pop_jwk"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&in); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if len(in.PoP) == 0 {
		return nil, nil
	}
	return token.ParseJWK(in.PoP)
}

// refusalSpec forces the proxy to refuse every CONNECT.
type refusalSpec struct {
	Status int
	Code   string
	Reason string
}

// fakeProxy implements the proxy's wire contract (docs/protocol.md).
type fakeProxy struct {
	ln       net.Listener
	verifier *token.Verifier
	refuse   atomic.Pointer[refusalSpec]
	greeting atomic.Pointer[[]byte] // sent in the same write as the 200

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	nextID int
	wg     sync.WaitGroup
}

func startProxy(cert *pki.Cert, v *token.Verifier) (*fakeProxy, error) {
	tc := cert.TLSCertificate()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{tc}, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}})
	if err != nil {
		return nil, err
	}
	p := &fakeProxy{ln: ln, verifier: v, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

func (p *fakeProxy) Addr() string { return p.ln.Addr().String() }

func (p *fakeProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.track(c, true)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer p.track(c, false)
			defer c.Close()
			p.handle(c.(*tls.Conn))
		}()
	}
}

func (p *fakeProxy) track(c net.Conn, add bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if add {
		p.conns[c] = struct{}{}
	} else {
		delete(p.conns, c)
	}
}

// Kill drops every open tunnel, as a crashed proxy node would.
func (p *fakeProxy) Kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	// Clients' connections first, with no closing alert (the process is
	// gone); a host connection closed before would let its relay end the
	// tunnel cleanly.
	for c := range p.conns {
		if tc, ok := c.(*tls.Conn); ok {
			tc.NetConn().Close()
		}
	}
	for c := range p.conns {
		if _, ok := c.(*tls.Conn); !ok {
			c.Close()
		}
	}
}

func (p *fakeProxy) Close() {
	p.ln.Close()
	p.Kill()
	p.wg.Wait()
}

func refuse(c net.Conn, status int, code, reason string) {
	fmt.Fprintf(c, "HTTP/1.1 %d %s\r\nTermgate-Error: %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s\n",
		status, http.StatusText(status), code, len(reason)+1, reason)
}

func (p *fakeProxy) handle(c *tls.Conn) {
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := c.Handshake(); err != nil {
		return
	}
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil || req.Method != http.MethodConnect {
		refuse(c, 400, "bad_request", "expected one CONNECT request")
		return
	}
	if r := p.refuse.Load(); r != nil {
		refuse(c, r.Status, r.Code, r.Reason)
		return
	}
	auth := req.Header.Get("Proxy-Authorization")
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || tok == "" {
		refuse(c, 407, "token_missing", "no bearer token in Proxy-Authorization")
		return
	}
	ekm, err := token.Exporter(c.ConnectionState())
	if err != nil {
		refuse(c, 407, "proof_invalid", err.Error())
		return
	}
	claims, err := p.verifier.Verify(context.Background(), token.Presentation{
		Token: tok, Dst: req.RequestURI,
		Proof: req.Header.Get("Termgate-Proof"), ProofKey: req.Header.Get("Termgate-Proof-Key"),
		Exporter: ekm,
	})
	if err != nil {
		code := token.CodeOf(err)
		reason := err.Error()
		var te *token.Error
		if errors.As(err, &te) {
			reason = te.Reason
		}
		refuse(c, code.HTTPStatus(), string(code), reason)
		return
	}
	up, err := net.DialTimeout("tcp", claims.Dst, 5*time.Second)
	if err != nil {
		refuse(c, 502, "dial_failed", "cannot reach "+claims.Dst)
		return
	}
	defer up.Close()
	p.mu.Lock()
	p.nextID++
	id := p.nextID
	p.conns[up] = struct{}{}
	p.mu.Unlock()
	defer p.track(up, false)
	head := fmt.Sprintf("HTTP/1.1 200 Connection established\r\nTermgate-Session: ps-%d\r\n\r\n", id)
	out := []byte(head)
	if g := p.greeting.Load(); g != nil {
		out = append(out, *g...)
	}
	if _, err := c.Write(out); err != nil {
		return
	}
	_ = c.SetDeadline(time.Time{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = io.Copy(up, br) // br holds anything sent after the request
		_ = up.(*net.TCPConn).CloseWrite()
	}()
	_, _ = io.Copy(c, up)
	_ = c.CloseWrite()
	wg.Wait()
}

// lineHost is a tiny telnet application: a banner, a prompt, and for each
// line typed the answer `got "<line>"` (Go-quoted, so keys are visible as
// the host received them, which the demo VT host does not show). "size"
// reports the window size (NAWS), "ttype" the terminal type, "quit" ends the
// connection.
type lineHost struct {
	ln net.Listener
	wg sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func startLineHost() (*lineHost, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h := &lineHost{ln: ln, conns: map[net.Conn]struct{}{}}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.mu.Lock()
			h.conns[c] = struct{}{}
			h.mu.Unlock()
			h.wg.Add(1)
			go func() {
				defer h.wg.Done()
				defer func() {
					h.mu.Lock()
					delete(h.conns, c)
					h.mu.Unlock()
					c.Close()
				}()
				serveLine(c)
			}()
		}
	}()
	return h, nil
}

func (h *lineHost) Close() {
	h.ln.Close()
	h.mu.Lock()
	for c := range h.conns {
		c.Close()
	}
	h.mu.Unlock()
	h.wg.Wait()
}

func serveLine(c net.Conn) {
	var out []byte
	for _, n := range [][2]byte{{telnet.WILL, byte(telnet.OptEcho)}, {telnet.WILL, byte(telnet.OptSGA)},
		{telnet.DO, byte(telnet.OptTTYPE)}, {telnet.DO, byte(telnet.OptNAWS)}} {
		out = telnet.AppendNegotiation(out, n[0], telnet.Option(n[1]))
	}
	out = telnet.AppendSubnegotiation(out, telnet.OptTTYPE, []byte{telnet.TTypeSend})
	out = append(out, "\x1b[H\x1b[2J"+lineBanner+"\r\n> "...)
	if _, err := c.Write(out); err != nil {
		return
	}
	var (
		dec   = telnet.Decoder{StripCRNUL: true}
		buf   = make([]byte, 4096)
		data  []byte
		line  []byte
		ttype string
		rows  int
		cols  int
	)
	for {
		n, err := c.Read(buf)
		src := buf[:n]
		for len(src) > 0 {
			var ev telnet.Event
			var ok bool
			var used int
			data, used, ev, ok = dec.Decode(data[:0], src)
			src = src[used:]
			var reply []byte
			for _, b := range data {
				switch {
				case b == '\r':
					reply = append(reply, "\r\n"...)
					switch string(line) {
					case "quit":
						c.Write(append(reply, "bye\r\n"...))
						return
					case "size":
						reply = fmt.Appendf(reply, "size %dx%d\r\n> ", rows, cols)
					case "ttype":
						reply = fmt.Appendf(reply, "ttype %s\r\n> ", ttype)
					default:
						reply = fmt.Appendf(reply, "got %q\r\n> ", line)
					}
					line = line[:0]
				case b == '\n' || b == 0:
				case b == 0x7f:
					if len(line) > 0 {
						line = line[:len(line)-1]
						reply = append(reply, "\b \b"...)
					}
				default:
					line = append(line, b)
					if b >= 0x20 && b < 0x7f {
						reply = append(reply, b)
					}
				}
			}
			if ok && ev.Kind == telnet.EventSubnegotiation {
				switch ev.Option {
				case telnet.OptTTYPE:
					if len(ev.Data) > 1 && ev.Data[0] == telnet.TTypeIs {
						ttype = string(ev.Data[1:])
					}
				case telnet.OptNAWS:
					if r, cl, err := telnet.ParseWindowSize(ev.Data); err == nil {
						rows, cols = r, cl
					}
				}
			}
			if len(reply) > 0 {
				if _, err := c.Write(reply); err != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// echoServer echoes what it receives; at the end of the input it sends
// "<EOF>" and closes, which shows that a half-close went through.
type echoServer struct {
	ln net.Listener
	wg sync.WaitGroup
}

func startEcho() (*echoServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	e := &echoServer{ln: ln}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			e.wg.Add(1)
			go func() {
				defer e.wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(20 * time.Second))
				_, _ = io.Copy(c, c)
				_, _ = c.Write([]byte("<EOF>"))
			}()
		}
	}()
	return e, nil
}

func (e *echoServer) Close() {
	e.ln.Close()
	e.wg.Wait()
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitListening waits until something accepts on 127.0.0.1:port.
func waitListening(t testing.TB, port int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on port %d: %v", port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

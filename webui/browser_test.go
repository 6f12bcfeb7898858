package webui_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"

	"github.com/termgate/termgate/internal/testpeer"
	"github.com/termgate/termgate/mgmt"
	"github.com/termgate/termgate/pki"
	"github.com/termgate/termgate/webui"
)

// fakeWSProxy plays the proxy's /ws front end (the termgate.v1 contract in
// doc.go) and, behind it, a telnet host: it negotiates NAWS, TTYPE, ECHO
// and SGA, prints a prompt and echoes what it receives.
type fakeWSProxy struct {
	ts       *httptest.Server
	cert     *x509.Certificate
	origin   string // the Origin the page must send
	mu       sync.Mutex
	bearer   string
	proto    string
	got      []byte
	welcomed bool
	handled  chan struct{}
}

func newFakeWSProxy(t *testing.T) *fakeWSProxy {
	p := &fakeWSProxy{handled: make(chan struct{}, 1)}
	ca, err := pki.NewCA(pki.CertSpec{CommonName: "webui test CA"})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(pki.CertSpec{CommonName: "proxy-ws", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Usage: pki.UsageServer})
	if err != nil {
		t.Fatal(err)
	}
	p.cert = leaf.Cert
	p.ts = httptest.NewUnstartedServer(http.HandlerFunc(p.serveWS))
	p.ts.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.TLSCertificate()}}
	p.ts.StartTLS()
	t.Cleanup(p.ts.Close)
	return p
}

func (p *fakeWSProxy) addr() string { return p.ts.Listener.Addr().String() }

func (p *fakeWSProxy) serveWS(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/ws" || r.URL.RawQuery != "" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if r.Header.Get("Origin") != p.origin {
		http.Error(w, "origin", http.StatusForbidden)
		return
	}
	var bearer string
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, s := range strings.Split(v, ",") {
			s = strings.TrimSpace(s)
			if strings.HasPrefix(s, "bearer.") {
				bearer = strings.TrimPrefix(s, "bearer.")
			}
		}
	}
	up := websocket.Upgrader{Subprotocols: []string{"termgate.v1"}, HandshakeTimeout: 5 * time.Second,
		CheckOrigin: func(*http.Request) bool { return true }} // the origin was checked above
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer conn.Close()
	p.mu.Lock()
	p.bearer, p.proto = bearer, conn.Subprotocol()
	p.mu.Unlock()
	const iac, do, will, sb, se = 255, 253, 251, 250, 240
	hello := []byte{iac, do, 31, iac, do, 24, iac, sb, 24, 1, iac, se, iac, will, 1, iac, will, 3}
	hello = append(hello, "login: "...)
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if err := conn.WriteMessage(websocket.BinaryMessage, hello); err != nil {
		return
	}
	for {
		op, data, err := conn.ReadMessage()
		if err != nil {
			return
		}
		if op != websocket.BinaryMessage {
			conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1003, "binary only"))
			return
		}
		p.mu.Lock()
		p.got = append(p.got, data...)
		done := !p.welcomed && bytes.Contains(p.got, []byte("admin\r\x00"))
		p.welcomed = p.welcomed || done
		p.mu.Unlock()
		// Echo the data bytes (not the negotiation) as a host with ECHO does.
		var echo []byte
		for i := 0; i < len(data); i++ {
			if data[i] == iac {
				break
			}
			echo = append(echo, data[i])
		}
		if len(echo) > 0 {
			conn.WriteMessage(websocket.BinaryMessage, echo)
		}
		if done {
			conn.WriteMessage(websocket.BinaryMessage, []byte("\r\nWelcome to the termgate browser test.\r\n$ "))
			select {
			case p.handled <- struct{}{}:
			default:
			}
		}
	}
}

// typeKeys types s as a browser does for a real keyboard: one keyDown
// carrying the text and one keyUp per character (chromedp.SendKeys adds a
// separate char event, which xterm.js counts as a second key press).
func typeKeys(s string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		for _, r := range s {
			key, code, vk := string(r), "", int64(unicode.ToUpper(r))
			if r == '\r' {
				key, code, vk = "Enter", "Enter", 13
			} else if unicode.IsLetter(r) {
				code = "Key" + string(unicode.ToUpper(r))
			}
			down := input.DispatchKeyEvent(input.KeyDown).WithKey(key).WithCode(code).WithText(string(r)).
				WithUnmodifiedText(string(r)).WithWindowsVirtualKeyCode(vk)
			if err := down.Do(ctx); err != nil {
				return err
			}
			if err := input.DispatchKeyEvent(input.KeyUp).WithKey(key).WithCode(code).WithWindowsVirtualKeyCode(vk).Do(ctx); err != nil {
				return err
			}
		}
		return nil
	})
}

// offsetClock is the management server's clock: real time plus an offset
// that the test moves to record metering heartbeats in the past.
type offsetClock struct{ offset atomic.Int64 }

func (c *offsetClock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

func (c *offsetClock) set(t time.Time) { c.offset.Store(int64(time.Until(t))) }

// meterHistory launches sessions in the past and records their heartbeats
// (every minute from start to end), as the DTLS listener would, so that
// the metering page has a report to draw.
func meterHistory(t *testing.T, srv *mgmt.Server, clock *offsetClock) {
	t.Helper()
	ctx := context.Background()
	for _, name := range []string{"demo-vt", "demo-3270"} {
		proto, port := "telnet", 2323
		if name == "demo-3270" {
			proto, port = "tn3270", 3270
		}
		if err := srv.PutSession(ctx, name, mgmt.SessionDef{Protocol: proto, Host: "127.0.0.1", Port: port, Description: "Demo application"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range []string{"alice", "bob"} {
		if err := srv.PutUser(ctx, u, mgmt.UserSpec{Password: u + "-password-1", Role: mgmt.RoleUser, Sessions: []string{"demo-vt", "demo-3270"}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.GrantSessions(ctx, "admin", "demo-vt"); err != nil {
		t.Fatal(err)
	}
	// Within the last hour: the node's signing certificate is not older.
	base := time.Now().Add(-55 * time.Minute).Truncate(time.Minute)
	for _, l := range []struct {
		user, session string
		from, to      time.Duration
	}{
		{"alice", "demo-vt", 0, 40 * time.Minute},
		{"alice", "demo-vt", 10 * time.Minute, 25 * time.Minute},
		{"bob", "demo-3270", 5 * time.Minute, 50 * time.Minute},
		{"admin", "demo-vt", 25 * time.Minute, 35 * time.Minute},
	} {
		clock.set(base.Add(l.from))
		lr, err := srv.Launch(ctx, l.user, l.session, nil)
		if err != nil {
			t.Fatal(err)
		}
		if lr.Metering == nil {
			t.Fatal("launch has no metering ticket")
		}
		seq := uint64(0)
		for at := l.from; at <= l.to; at += time.Minute {
			seq++
			ts := base.Add(at)
			clock.set(ts)
			hb, _ := json.Marshal(mgmt.Heartbeat{Ticket: lr.Metering.Ticket, Seq: seq, TS: ts.UnixMilli()})
			if ack := srv.RecordHeartbeat(hb); !ack.OK {
				t.Fatalf("heartbeat %d of %s: %+v", seq, l.user, ack)
			}
		}
	}
	clock.offset.Store(0)
}

func artifactDir(t *testing.T) string {
	if d := os.Getenv("TERMGATE_ARTIFACTS"); d != "" {
		d = filepath.Join(d, "webui")
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// TestBrowser drives the console in headless Chromium against a real
// management server (its API mounted beside this package's handler, as
// the management server mounts it): sign in, create a session definition,
// see it listed, visit every view, then launch it from /app/ into a
// terminal connected to a fake /ws proxy that checks the termgate.v1
// contract. The page must not trip the Content-Security-Policy.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	chrome := testpeer.Require(t, "chromium", "chromium")
	shots := artifactDir(t)

	fake := newFakeWSProxy(t)
	dir := t.TempDir()
	const password = "browser-test-password"
	if _, err := mgmt.Init(dir, mgmt.InitOptions{NodeID: "mgmt-browser", AdminPassword: password, Password: mgmt.PasswordParams{Time: 1, MemoryKiB: 1024}}); err != nil {
		t.Fatal(err)
	}
	clock := &offsetClock{}
	srv, err := mgmt.Open(mgmt.Config{DataDir: dir, ProxyAddress: fake.addr(), Password: mgmt.PasswordParams{Time: 1, MemoryKiB: 1024},
		Now: clock.Now, DTLSAddr: "127.0.0.1:8444", MeteringInterval: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	code, _, err := srv.CreateEnrollCode(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Enroll(context.Background(), pki.EnrollRequest{Code: code, NodeID: "proxy-ws", Address: fake.addr(),
		Certificate: string(pki.EncodeCertPEM(fake.cert))}); err != nil {
		t.Fatal(err)
	}
	meterHistory(t, srv, clock)
	// The management server's handler serves the console beside its API.
	site := httptest.NewUnstartedServer(srv.Handler())
	site.StartTLS()
	t.Cleanup(site.Close)
	fake.origin = site.URL

	noFollow := site.Client()
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := noFollow.Get(site.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != webui.AppPrefix {
		t.Fatalf("GET / = %d Location %q, want a redirect to %s", resp.StatusCode, resp.Header.Get("Location"), webui.AppPrefix)
	}

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chrome),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		// The test servers' certificates come from throwaway CAs: the
		// browser accepts exactly their keys, and checks everything else.
		chromedp.Flag("ignore-certificate-errors-spki-list", spkiHash(site.Certificate())+","+spkiHash(fake.cert)),
		chromedp.UserDataDir(testpeer.TempDir(t, "termgate-chromium-")),
		chromedp.WindowSize(1366, 900),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	bctx, cancelB := chromedp.NewContext(actx)
	defer cancelB()
	ctx, cancel := context.WithTimeout(bctx, 90*time.Second)
	defer cancel()

	var consoleMu sync.Mutex
	var console []string
	chromedp.ListenTarget(ctx, func(ev any) {
		consoleMu.Lock()
		defer consoleMu.Unlock()
		switch e := ev.(type) {
		case *log.EventEntryAdded:
			console = append(console, string(e.Entry.Level)+": "+e.Entry.Text)
		case *runtime.EventExceptionThrown:
			console = append(console, "exception: "+e.ExceptionDetails.Error())
		}
	})

	shot := func(name string) chromedp.Action {
		return chromedp.ActionFunc(func(ctx context.Context) error {
			var buf []byte
			if err := chromedp.FullScreenshot(&buf, 100).Do(ctx); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name+".png"), buf, 0o644)
		})
	}
	run := func(step string, actions ...chromedp.Action) {
		t.Helper()
		if err := chromedp.Run(ctx, actions...); err != nil {
			consoleMu.Lock()
			defer consoleMu.Unlock()
			t.Fatalf("%s: %v\nbrowser console:\n%s", step, err, strings.Join(console, "\n"))
		}
	}

	run("sign in",
		log.Enable(),
		chromedp.Navigate(site.URL+"/admin/"),
		chromedp.WaitVisible(`#login-user`, chromedp.ByID),
		shot("01-login"),
		chromedp.SendKeys(`#login-user`, "admin", chromedp.ByID),
		chromedp.SendKeys(`#login-pass`, password, chromedp.ByID),
		chromedp.Click(`#login-form button[type=submit]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#session-form`, chromedp.ByID),
	)
	var who string
	run("who", chromedp.Text(`#who`, &who, chromedp.ByID))
	if who != "Signed in as admin" {
		t.Errorf("header says %q, want the user from GET /api/v1/me", who)
	}
	run("create a session",
		chromedp.SendKeys(`#s-name`, "web-demo", chromedp.ByID),
		chromedp.SetValue(`#s-protocol`, "telnet", chromedp.ByID),
		chromedp.SendKeys(`#s-host`, "127.0.0.1", chromedp.ByID),
		chromedp.SendKeys(`#s-port`, "2323", chromedp.ByID),
		chromedp.SendKeys(`#s-description`, "Demo VT application", chromedp.ByID),
		chromedp.Click(`#session-form button[type=submit]`, chromedp.ByQuery),
		chromedp.WaitVisible(`//td/strong[text()="web-demo"]`, chromedp.BySearch),
		shot("02-sessions"),
	)
	def, err := srv.Session(context.Background(), "web-demo")
	if err != nil || def.Host != "127.0.0.1" || def.Port != 2323 || def.Protocol != "telnet" || def.Description != "Demo VT application" {
		t.Fatalf("stored session = %+v, %v", def, err)
	}
	var status string
	run("status", chromedp.Text(`#status`, &status, chromedp.ByID))
	if !strings.Contains(status, "web-demo saved") {
		t.Errorf("status after save = %q", status)
	}

	for i, view := range []struct{ hash, ready string }{
		{"users", `#user-form`}, {"api-keys", `#key-form`}, {"security", `#security-form`}, {"proxies", `#check-result`},
		{"replication", `#view-title`}, {"metering", `#metering-out`}, {"audit", `#audit-out table`},
	} {
		run("view "+view.hash,
			chromedp.Navigate(site.URL+"/admin/#"+view.hash),
			chromedp.WaitVisible(view.ready, chromedp.ByQuery),
			chromedp.Sleep(200*time.Millisecond), // let charts and tables finish
			shot(strings.Join([]string{"0", string(rune('3' + i)), "-", view.hash}, "")),
		)
	}

	var metering string
	run("metering report",
		chromedp.Navigate(site.URL+"/admin/#metering"),
		chromedp.WaitVisible(`#metering-out svg.chart`, chromedp.ByQuery),
		chromedp.Click(`//button[text()="Last hour"]`, chromedp.BySearch),
		chromedp.WaitVisible(`//dd[text()="5 min per point"]`, chromedp.BySearch),
		shot("14-metering-hour"),
		chromedp.Text(`#metering-out`, &metering, chromedp.ByQuery),
	)
	for _, want := range []string{"alice (peak 2)", "bob (peak 1)", "all users (peak 4)", "demo-3270", "mgmt-browser"} {
		if !strings.Contains(metering, want) {
			t.Errorf("metering page lacks %q:\n%s", want, metering)
		}
	}

	var audit string
	run("audit filtered on the server",
		chromedp.Navigate(site.URL+"/admin/#audit"),
		chromedp.WaitVisible(`#audit-out table`, chromedp.ByQuery),
		chromedp.SetValue(`#a-event`, "launch", chromedp.ByID),
		chromedp.SendKeys(`#a-actor`, "alice", chromedp.ByID),
		chromedp.Click(`#audit-filters button[type=submit]`, chromedp.ByQuery),
		chromedp.WaitVisible(`//caption[contains(., "2 shown")]`, chromedp.BySearch),
		chromedp.Text(`#audit-out`, &audit, chromedp.ByQuery),
		shot("13-audit-filtered"),
	)
	if strings.Contains(audit, "session.put") || strings.Contains(audit, "bob") || strings.Count(audit, "launch") < 2 {
		t.Errorf("audit filtered to alice's launches shows:\n%s", audit)
	}

	var check string
	run("check proxy names",
		chromedp.Navigate(site.URL+"/admin/#proxies"),
		chromedp.WaitVisible(`//button[text()="Check proxy names"]`, chromedp.BySearch),
		chromedp.Click(`//button[text()="Check proxy names"]`, chromedp.BySearch),
		chromedp.WaitVisible(`#check-result table`, chromedp.ByQuery),
		chromedp.Text(`#check-result`, &check, chromedp.ByQuery),
		shot("12-check-proxies"),
	)
	if !strings.Contains(check, "proxy-ws") || !strings.Contains(check, "Clients can verify every proxy") {
		t.Errorf("name preflight shows %q, want an ok check of proxy-ws", check)
	}

	if err := srv.GrantSessions(context.Background(), "admin", "web-demo"); err != nil {
		t.Fatal(err)
	}
	run("launch a terminal",
		chromedp.Navigate(site.URL+"/app/"),
		chromedp.WaitVisible(`//li[h2[text()="web-demo"]]//button`, chromedp.BySearch),
		shot("10-app"),
		chromedp.Click(`//li[h2[text()="web-demo"]]//button`, chromedp.BySearch),
		chromedp.WaitVisible(`#terminal .xterm-helper-textarea`, chromedp.ByQuery),
		chromedp.WaitVisible(`//p[@id="status" and contains(., "Connected to web-demo")]`, chromedp.BySearch),
		chromedp.Focus(`#terminal .xterm-helper-textarea`, chromedp.ByQuery),
		typeKeys("admin\r"),
	)
	select {
	case <-fake.handled:
	case <-time.After(15 * time.Second):
		chromedp.Run(ctx, shot("11-terminal-failed"))
		fake.mu.Lock()
		defer fake.mu.Unlock()
		t.Fatalf("the fake proxy never received the typed line; got % x (%q)", fake.got, fake.got)
	}
	run("screen",
		chromedp.Sleep(300*time.Millisecond),
		shot("11-terminal"),
	)

	fake.mu.Lock()
	got, bearer, proto := append([]byte(nil), fake.got...), fake.bearer, fake.proto
	fake.mu.Unlock()
	if proto != "termgate.v1" {
		t.Errorf("selected subprotocol %q", proto)
	}
	if strings.Count(bearer, ".") != 2 {
		t.Errorf("bearer subprotocol carries %q, want a JWS", bearer)
	}
	for _, want := range []struct {
		name string
		b    []byte
	}{
		{"DO SGA, DO ECHO, WILL TTYPE, WILL NAWS", []byte{255, 253, 3, 255, 253, 1, 255, 251, 24, 255, 251, 31}},
		{"TTYPE IS xterm", append(append([]byte{255, 250, 24, 0}, "xterm"...), 255, 240)},
		{"NAWS", []byte{255, 250, 31}},
		{"typed line with CR NUL", []byte("admin\r\x00")},
	} {
		if !bytes.Contains(got, want.b) {
			t.Errorf("the host did not receive %s: got % x", want.name, got)
		}
	}

	consoleMu.Lock()
	defer consoleMu.Unlock()
	for _, line := range console {
		if strings.Contains(line, "Content Security Policy") || strings.HasPrefix(line, "exception") {
			t.Errorf("browser: %s", line)
		}
	}
	t.Logf("screenshots in %s", shots)
}

// spkiHash is the form Chromium's --ignore-certificate-errors-spki-list
// takes: base64 of the SHA-256 of the certificate's public key info.
func spkiHash(c *x509.Certificate) string {
	h := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(h[:])
}

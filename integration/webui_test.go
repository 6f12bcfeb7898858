package integration

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"

	"github.com/termgate/termgate/internal/testpeer"
	"github.com/termgate/termgate/pki"
)

// webWait bounds every wait on the page (an element, a screen text).
const webWait = 15 * time.Second

// TestWebUIEndToEnd runs the browser console against a real `termgate up`:
// headless Chromium trusts the local CA through its own NSS database (no
// certificate errors are ignored), an administrator creates a session
// definition and a user in /admin/, the user opens it from /app/ and types
// into the xterm.js terminal, whose bytes go through the proxy's /ws front
// end to the demo VT host. Around it, from Go and from the page: the
// console's CSRF check, a non-admin's refusals, and the /ws refusals of a
// missing, replayed and expired token compared with CONNECT's.
func TestWebUIEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	chrome := testpeer.Require(t, "chromium", "chromium")
	certutil := testpeer.Require(t, "certutil", "libnss3-tools")

	u := startUp(t, t.TempDir())
	caFile := filepath.Join(u.Dir, "termgate-data", "ca.pem")
	adminPW := readAdminPassword(t, u)
	admin := webLogin(t, u, "admin", adminPW)

	// Tokens that expire in one second (session token_ttl_s = 1), minted
	// first so that the proxy's 30 s leeway runs out while the browser works.
	webPut(t, u, admin, "/api/v1/admin/sessions/vt-short", map[string]any{
		"protocol": "telnet", "host": hostOf(t, u.VT), "port": portOf(u.VT), "token_ttl_s": 1})
	webPut(t, u, admin, "/api/v1/admin/users/ttl-probe", map[string]any{
		"role": "user", "password": "ttl-probe-password-1", "sessions": []string{"vt-short"}})
	probe := webLogin(t, u, "ttl-probe", "ttl-probe-password-1")
	expiredConnect, expiredWS := webLaunch(t, u, probe, "vt-short"), webLaunch(t, u, probe, "vt-short")

	t.Run("csrf", func(t *testing.T) { testWebCSRF(t, u, adminPW) })
	t.Run("ws refusals", func(t *testing.T) { testWSRefusals(t, u, admin) })

	browserOK := t.Run("browser", func(t *testing.T) {
		b := newWebBrowser(t, chrome, certutil, caFile)
		testBrowserFlow(t, b, u, adminPW)
	})

	t.Run("non-admin api", func(t *testing.T) {
		if !browserOK {
			t.Skip("alice is created by the browser flow, which failed")
		}
		testNonAdminAPI(t, u)
	})

	t.Run("ws expired token", func(t *testing.T) {
		exp, err := time.Parse(time.RFC3339, expiredWS.ExpiresAt)
		if err != nil {
			t.Fatalf("launch expires_at %q: %v", expiredWS.ExpiresAt, err)
		}
		if life := time.Until(exp); life > 5*time.Second {
			t.Fatalf("a token_ttl_s=1 launch expires in %v", life)
		}
		// The proxy tolerates 30 s of clock skew past exp.
		if wait := time.Until(exp.Add(31 * time.Second)); wait > 0 {
			t.Logf("waiting %v for the tokens to expire past the leeway", wait.Round(time.Second))
			time.Sleep(wait)
		}
		conn, resp, _ := connectRaw(t, expiredConnect)
		conn.Close()
		if resp.StatusCode != 407 || resp.Header.Get("Termgate-Error") != "token_expired" {
			t.Errorf("CONNECT with an expired token: %d %q, want 407 token_expired", resp.StatusCode, resp.Header.Get("Termgate-Error"))
		}
		c, resp, err := webDialWS(t, u, u.MgmtURL, "termgate.v1", "bearer."+expiredWS.Token)
		if err != nil {
			t.Fatalf("/ws handshake with an expired token: %v (%s)", err, webStatus(resp))
		}
		webExpectClose(t, c, 4407, "token_expired")
	})
}

// ---------- the browser ----------

type webBrowser struct {
	t     *testing.T
	ctx   context.Context
	shots string

	mu      sync.Mutex
	console []string
}

// newWebBrowser starts headless Chromium with a private HOME whose NSS
// database trusts caFile, the way a person imports a CA on Linux.
func newWebBrowser(t *testing.T, chrome, certutil, caFile string) *webBrowser {
	// Not t.TempDir: Chromium's helper processes may still write into
	// these for a moment after the browser has closed.
	home, profile := testpeer.TempDir(t, "tg-chrome-home-"), testpeer.TempDir(t, "tg-chrome-profile-")
	nssdb := filepath.Join(home, ".pki", "nssdb")
	if err := os.MkdirAll(nssdb, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"-N", "-d", "sql:" + nssdb, "--empty-password"},
		{"-A", "-d", "sql:" + nssdb, "-t", "C,,", "-n", "termgate-ca", "-i", caFile},
	} {
		cmd := exec.Command(certutil, args...)
		cmd.Env = append(os.Environ(), "HOME="+home)
		if out, err := runBounded(cmd); err != nil {
			t.Fatalf("certutil %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chrome),
		chromedp.Env("HOME=" + home),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 1000),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelB := chromedp.NewContext(actx)
	ctx, cancel := context.WithTimeout(bctx, 80*time.Second)
	t.Cleanup(func() {
		cancel()
		cancelB()
		cancelA() // kills the browser and waits for it
	})
	b := &webBrowser{t: t, ctx: ctx, shots: webArtifactDir(t)}
	chromedp.ListenTarget(ctx, func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch e := ev.(type) {
		case *log.EventEntryAdded:
			b.console = append(b.console, string(e.Entry.Level)+": "+e.Entry.Text)
		case *runtime.EventConsoleAPICalled:
			var parts []string
			for _, a := range e.Args {
				parts = append(parts, strings.Trim(string(a.Value), `"`))
			}
			b.console = append(b.console, string(e.Type)+": "+strings.Join(parts, " "))
		case *runtime.EventExceptionThrown:
			b.console = append(b.console, "exception: "+e.ExceptionDetails.Error())
		}
	})
	if err := chromedp.Run(ctx, log.Enable(), runtime.Enable()); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	t.Logf("screenshots in %s", b.shots)
	return b
}

func webArtifactDir(t *testing.T) string {
	if d := os.Getenv("TERMGATE_ARTIFACTS"); d != "" {
		d = filepath.Join(d, "webui-e2e")
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// run performs a step; on failure it saves a screenshot and reports the
// page's status line, the terminal's screen and the browser console.
func (b *webBrowser) run(step string, actions ...chromedp.Action) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, webWait)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		b.fail(step, err)
	}
}

func (b *webBrowser) fail(step string, err error) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	name := "failed-" + strings.NewReplacer(" ", "-", "/", "-").Replace(step)
	_ = chromedp.Run(ctx, b.viewShot(name))
	var status, loc string
	_ = chromedp.Run(ctx, chromedp.Location(&loc), chromedp.Evaluate(`document.getElementById('status')?.textContent || ''`, &status))
	screen, _ := b.screenText(ctx)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.t.Fatalf("%s: %v\npage %s, status %q (screenshot %s.png)\nterminal:\n%s\nbrowser console:\n%s",
		step, err, loc, status, name, screen, strings.Join(b.console, "\n"))
}

// shot saves a screenshot of the whole page. It resizes the viewport for
// a moment, which a live terminal sees as a window resize (xterm.js fits
// itself and reports the size to the host): use viewShot while one is open.
func (b *webBrowser) shot(name string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		var buf []byte
		if err := chromedp.FullScreenshot(&buf, 100).Do(ctx); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(b.shots, name+".png"), buf, 0o644)
	})
}

// viewShot saves a screenshot of the viewport as it is.
func (b *webBrowser) viewShot(name string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		var buf []byte
		if err := chromedp.CaptureScreenshot(&buf).Do(ctx); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(b.shots, name+".png"), buf, 0o644)
	})
}

// terminalHook records the page's xterm.js Terminal when it is opened, so
// that the test can read the screen: the canvas renderer draws pixels and
// keeps no text in the DOM. It patches the public Terminal.prototype.open
// from the test (over the DevTools protocol, outside the page's CSP); the
// page itself exposes nothing.
const terminalHook = `(() => {
  const T = globalThis.Terminal;
  if (!T || !T.prototype || typeof T.prototype.open !== 'function') return false;
  if (!T.prototype.__termgateTestHook) {
    const open = T.prototype.open;
    T.prototype.open = function (el) { globalThis.__termgateTestTerm = this; return open.call(this, el); };
    T.prototype.__termgateTestHook = true;
  }
  return true;
})()`

// screenJS reads the active buffer of the recorded terminal, one line per
// row, through xterm.js's public buffer API.
const screenJS = `(() => {
  const t = globalThis.__termgateTestTerm;
  if (!t) return '';
  const b = t.buffer.active, out = [];
  for (let i = 0; i < b.length; i++) { const l = b.getLine(i); if (l) out.push(l.translateToString(true)); }
  return out.join('\n');
})()`

func (b *webBrowser) screenText(ctx context.Context) (string, error) {
	var s string
	err := chromedp.Run(ctx, chromedp.Evaluate(screenJS, &s))
	return s, err
}

// waitScreen waits until the terminal's screen contains want.
func (b *webBrowser) waitScreen(step, want string) string {
	b.t.Helper()
	return b.waitScreenFunc(step, func(string) string { return want })
}

// waitScreenFunc waits until the screen contains want(size), where size is
// the terminal's current "COLSxROWS".
func (b *webBrowser) waitScreenFunc(step string, want func(size string) string) string {
	b.t.Helper()
	deadline := time.Now().Add(webWait)
	for {
		var size string
		s, err := b.screenText(b.ctx)
		if err == nil {
			err = chromedp.Run(b.ctx, chromedp.Evaluate(`(() => { const t = globalThis.__termgateTestTerm; return t ? t.cols + 'x' + t.rows : ''; })()`, &size))
		}
		if err == nil && strings.Contains(s, want(size)) {
			return s
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("the %s screen never showed %q", size, want(size))
			}
			b.fail(step, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// fetchStatus runs fetch(path, init) in the page (with its cookies) and
// returns the status and the error code of the JSON answer.
func (b *webBrowser) fetchStatus(step, method, path, csrfHeader string, body any) (int, string) {
	b.t.Helper()
	bodyJSON, _ := json.Marshal(body)
	args, _ := json.Marshal(map[string]any{"method": method, "path": path, "csrf": csrfHeader, "body": string(bodyJSON)})
	js := `(async (a) => {
  const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
  if (a.csrf === 'cookie') headers['X-CSRF-Token'] = (document.cookie.match(/(?:^|; )tg_csrf=([^;]*)/) || [])[1] || '';
  const init = { method: a.method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (a.method !== 'GET') init.body = a.body;
  const r = await fetch(a.path, init);
  let code = '';
  try { code = (await r.json()).error?.code || ''; } catch { /* no JSON */ }
  return JSON.stringify({ status: r.status, code });
})(` + string(args) + `)`
	var out string
	b.run(step, chromedp.Evaluate(js, &out, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
	var r struct {
		Status int    `json:"status"`
		Code   string `json:"code"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		b.t.Fatalf("%s: %q: %v", step, out, err)
	}
	return r.Status, r.Code
}

// webTypeKeys types s as a keyboard does: one keyDown carrying the text
// and one keyUp per character (chromedp.SendKeys adds a separate char
// event, which xterm.js counts as a second key press).
func webTypeKeys(s string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		for _, r := range s {
			key, code, vk := string(r), "", int64(unicode.ToUpper(r))
			switch {
			case r == '\r':
				key, code, vk = "Enter", "Enter", 13
			case unicode.IsLetter(r):
				code = "Key" + string(unicode.ToUpper(r))
			case unicode.IsDigit(r):
				code = "Digit" + string(r)
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

// testBrowserFlow is the administrator's and then the user's path through
// the console, ending in a live terminal on the demo VT host.
func testBrowserFlow(t *testing.T, b *webBrowser, u *upInstance, adminPW string) {
	const alicePW = "alice-password-1"
	vtHost, vtPort := hostOf(t, u.VT), fmt.Sprint(portOf(u.VT))

	b.run("admin sign-in page",
		chromedp.Navigate(u.MgmtURL+"/admin/"),
		chromedp.WaitVisible(`#login-user`, chromedp.ByID),
		b.shot("01-login"),
	)
	var who string
	b.run("admin signs in",
		chromedp.SendKeys(`#login-user`, "admin", chromedp.ByID),
		chromedp.SendKeys(`#login-pass`, adminPW, chromedp.ByID),
		chromedp.Click(`#login-form button[type=submit]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#session-form`, chromedp.ByID),
		chromedp.Text(`#who`, &who, chromedp.ByID),
	)
	if who != "Signed in as admin" {
		t.Errorf("header says %q after the admin's sign-in", who)
	}

	// The page's own fetch, with the login cookie but without the header,
	// is refused; the console's scripts send it (the saves below succeed).
	if st, code := b.fetchStatus("PUT without X-CSRF-Token", "PUT", "/api/v1/admin/sessions/csrf-page", "",
		map[string]any{"protocol": "telnet", "host": vtHost, "port": portOf(u.VT)}); st != 403 || code != "forbidden" {
		t.Errorf("in-page PUT without X-CSRF-Token: %d %q, want 403 forbidden", st, code)
	}
	if st, _ := b.fetchStatus("GET the refused session", "GET", "/api/v1/admin/sessions/csrf-page", "", nil); st != 404 {
		t.Errorf("the session of the refused PUT exists (GET %d)", st)
	}

	b.run("create session vt2",
		chromedp.SendKeys(`#s-name`, "vt2", chromedp.ByID),
		chromedp.SetValue(`#s-protocol`, "telnet", chromedp.ByID),
		chromedp.SendKeys(`#s-host`, vtHost, chromedp.ByID),
		chromedp.SendKeys(`#s-port`, vtPort, chromedp.ByID),
		chromedp.SendKeys(`#s-description`, "Demo VT host, second entry", chromedp.ByID),
		chromedp.Click(`#session-form button[type=submit]`, chromedp.ByQuery),
		chromedp.WaitVisible(`//td/strong[text()="vt2"]`, chromedp.BySearch),
		chromedp.WaitVisible(`//p[@id="status" and contains(., "vt2 saved")]`, chromedp.BySearch),
		b.shot("02-sessions"),
	)
	var row string
	b.run("session row", chromedp.Text(`//tr[td/strong[text()="vt2"]]`, &row, chromedp.BySearch))
	if !strings.Contains(row, "telnet") || !strings.Contains(row, u.VT) {
		t.Errorf("the sessions table shows vt2 as %q, want telnet %s", row, u.VT)
	}

	b.run("create user alice",
		chromedp.Click(`#nav a[href="#users"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#user-form`, chromedp.ByID),
		chromedp.SendKeys(`#u-name`, "alice", chromedp.ByID),
		chromedp.SetValue(`#u-role`, "user", chromedp.ByID),
		chromedp.SendKeys(`#u-password`, alicePW, chromedp.ByID),
		chromedp.SendKeys(`#u-sessions`, "vt2", chromedp.ByID),
		chromedp.Click(`#user-form button[type=submit]`, chromedp.ByQuery),
		chromedp.WaitVisible(`//td/strong[text()="alice"]`, chromedp.BySearch),
		chromedp.Text(`//tr[td/strong[text()="alice"]]`, &row, chromedp.BySearch),
		b.shot("03-users"),
	)
	if !strings.Contains(row, "vt2") || !strings.Contains(row, "user") {
		t.Errorf("the users table shows alice as %q, want role user with vt2", row)
	}

	b.run("admin signs out",
		chromedp.Click(`#logout`, chromedp.ByID),
		chromedp.WaitVisible(`#login-user`, chromedp.ByID),
		chromedp.WaitNotVisible(`#app-shell`, chromedp.ByID),
	)

	var ok bool
	b.run("alice signs in at /app/",
		chromedp.Navigate(u.MgmtURL+"/app/"),
		chromedp.WaitVisible(`#login-user`, chromedp.ByID),
		chromedp.Evaluate(terminalHook, &ok),
		chromedp.SendKeys(`#login-user`, "alice", chromedp.ByID),
		chromedp.SendKeys(`#login-pass`, alicePW, chromedp.ByID),
		chromedp.Click(`#login-form button[type=submit]`, chromedp.ByQuery),
		chromedp.WaitVisible(`//li[h2[text()="vt2"]]//button`, chromedp.BySearch),
		chromedp.Text(`#who`, &who, chromedp.ByID),
		b.shot("04-app"),
	)
	if !ok {
		t.Fatal("the page has no xterm.js Terminal to read the screen from")
	}
	if who != "Signed in as alice" {
		t.Errorf("header says %q after alice's sign-in", who)
	}
	var names []string
	var adminLink bool
	b.run("alice's list",
		chromedp.Evaluate(`[...document.querySelectorAll('#sessions li h2')].map((e) => e.textContent)`, &names),
		chromedp.Evaluate(`!document.getElementById('admin-link').hidden`, &adminLink),
	)
	if strings.Join(names, ",") != "vt2" {
		t.Errorf("alice's sessions list = %q, want only vt2", names)
	}
	if adminLink {
		t.Error("the user page shows the Administration link to a non-admin")
	}

	b.run("open the terminal",
		chromedp.Click(`//li[h2[text()="vt2"]]//button`, chromedp.BySearch),
		chromedp.WaitVisible(`#terminal canvas`, chromedp.ByQuery),
		chromedp.WaitVisible(`//p[@id="status" and contains(., "Connected to vt2")]`, chromedp.BySearch),
	)
	b.waitScreen("demo host banner", "termgate demo host")
	// The host's status line shows the size it got with NAWS and the
	// terminal type it got with TTYPE: the page's fitted size and "xterm".
	b.waitScreenFunc("NAWS and TTYPE reach the host", func(size string) string { return "| " + size + " | xterm" })
	b.run("terminal menu", chromedp.Sleep(300*time.Millisecond),
		chromedp.Evaluate(`document.getElementById('terminal').scrollIntoView({block: 'end'})`, nil),
		b.viewShot("05-terminal-menu"))

	b.run("choose echo mode",
		chromedp.Focus(`#terminal .xterm-helper-textarea`, chromedp.ByQuery),
		webTypeKeys("2"),
	)
	b.waitScreen("echo mode", "Echo mode")
	b.run("type hello", webTypeKeys("hello\r"))
	screen := b.waitScreen("HELLO echoed", "HELLO")
	b.run("terminal echo", chromedp.Sleep(300*time.Millisecond),
		chromedp.Evaluate(`document.getElementById('terminal').scrollIntoView({block: 'end'})`, nil),
		b.viewShot("06-terminal-hello"))
	if !strings.Contains(screen, "hello") || !strings.Contains(screen, "=>") {
		t.Errorf("the echo line is missing the typed text:\n%s", screen)
	}

	// The admin console refuses her: a "not allowed" view, no data.
	if st, code := b.fetchStatus("alice GETs users", "GET", "/api/v1/admin/users", "", nil); st != 403 || code != "forbidden" {
		t.Errorf("in-page GET /api/v1/admin/users as alice: %d %q, want 403 forbidden", st, code)
	}
	if st, code := b.fetchStatus("alice makes herself admin", "PUT", "/api/v1/admin/users/alice", "cookie",
		map[string]any{"role": "admin", "sessions": []string{"*"}}); st != 403 || code != "forbidden" {
		t.Errorf("in-page PUT of her own role (with the CSRF token) as alice: %d %q, want 403 forbidden", st, code)
	}
	var view string
	b.run("alice opens /admin/",
		chromedp.Click(`#disconnect`, chromedp.ByID),
		chromedp.Navigate(u.MgmtURL+"/admin/#users"),
		chromedp.WaitVisible(`//h1[@id="view-title" and text()="Not allowed"]`, chromedp.BySearch),
		chromedp.Text(`#view`, &view, chromedp.ByID),
		b.shot("07-admin-as-alice"),
	)
	var tables int
	var navHidden bool
	b.run("no admin data",
		chromedp.Evaluate(`document.querySelectorAll('#view table, #view form').length`, &tables),
		chromedp.Evaluate(`document.getElementById('nav').hidden`, &navHidden))
	if !navHidden {
		t.Error("the admin page shows its sections to a non-admin")
	}
	if tables != 0 || strings.Contains(view, "ttl-probe") || strings.Contains(view, "demo-vt") {
		t.Errorf("the admin page shows data to alice (%d tables/forms):\n%s", tables, view)
	}
	if !strings.Contains(view, "role admin") {
		t.Errorf("the admin page as alice says %q, want the not-allowed explanation", view)
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	for _, line := range b.console {
		if strings.Contains(line, "Content Security Policy") || strings.Contains(line, "ERR_CERT") || strings.HasPrefix(line, "exception") {
			t.Errorf("browser: %s", line)
		}
	}
}

// ---------- the API, from Go ----------

// testWebCSRF: a cookie-authenticated change without X-CSRF-Token, or
// with a wrong one, is refused; the same request with the cookie's value
// succeeds, so the refusals are the CSRF check's.
func testWebCSRF(t *testing.T, u *upInstance, adminPW string) {
	c := webCookieClient(t, u, "admin", adminPW)
	path := "/api/v1/admin/sessions/csrf-go"
	body := map[string]any{"protocol": "telnet", "host": hostOf(t, u.VT), "port": portOf(u.VT)}
	csrf := webCookie(t, c, u, "tg_csrf")
	for _, tc := range []struct {
		name, header string
		want         int
	}{
		{"no header", "", 403},
		{"wrong header", "x" + csrf, 403},
		{"the cookie's value", csrf, 200},
	} {
		st, code, msg := webDo(t, c, u, "PUT", path, "", tc.header, body)
		if st/100 != tc.want/100 {
			t.Errorf("%s: PUT %s = %d %s %q, want %d", tc.name, path, st, code, msg, tc.want)
		}
		if tc.want == 403 && !strings.Contains(msg, "X-CSRF-Token") {
			t.Errorf("%s: the refusal %q does not name X-CSRF-Token", tc.name, msg)
		}
		if tc.want == 403 {
			if st, _, _ := webDo(t, c, u, "GET", path, "", "", nil); st != 404 {
				t.Errorf("%s: the refused PUT created the session (GET %d)", tc.name, st)
			}
		}
	}
	// Reading needs no CSRF token; a DELETE does.
	if st, _, _ := webDo(t, c, u, "GET", path, "", "", nil); st != 200 {
		t.Errorf("GET %s with the cookie = %d", path, st)
	}
	if st, _, _ := webDo(t, c, u, "DELETE", path, "", "", nil); st != 403 {
		t.Errorf("DELETE without X-CSRF-Token = %d, want 403", st)
	}
	if st, code, msg := webDo(t, c, u, "DELETE", path, "", csrf, nil); st/100 != 2 {
		t.Errorf("DELETE with X-CSRF-Token = %d %s %q", st, code, msg)
	}
}

// testNonAdminAPI: alice's token and alice's cookie get 403 from the admin
// API, reading or writing, and her role stays user.
func testNonAdminAPI(t *testing.T, u *upInstance) {
	tok := webLogin(t, u, "alice", "alice-password-1")
	plain := u.httpClient(t)
	var me struct {
		Name string `json:"name"`
		Role string `json:"role"`
	}
	if st := webGetJSON(t, plain, u, "/api/v1/me", tok, &me); st != 200 || me.Name != "alice" || me.Role != "user" {
		t.Errorf("GET /api/v1/me as alice = %d %+v", st, me)
	}
	jar := webCookieClient(t, u, "alice", "alice-password-1")
	csrf := webCookie(t, jar, u, "tg_csrf")
	for _, r := range []struct{ method, path string }{
		{"GET", "/api/v1/admin/users"},
		{"GET", "/api/v1/admin/sessions"},
		{"GET", "/api/v1/admin/audit"},
		{"GET", "/api/v1/admin/security"},
		{"PUT", "/api/v1/admin/users/alice"},
		{"DELETE", "/api/v1/admin/sessions/vt2"},
	} {
		body := map[string]any{"role": "admin", "sessions": []string{"*"}}
		if st, code, _ := webDo(t, plain, u, r.method, r.path, tok, "", body); st != 403 || code != "forbidden" {
			t.Errorf("%s %s with alice's token = %d %q, want 403 forbidden", r.method, r.path, st, code)
		}
		if st, code, msg := webDo(t, jar, u, r.method, r.path, "", csrf, body); st != 403 || !strings.Contains(msg, "role admin") {
			t.Errorf("%s %s with alice's cookie = %d %q %q, want 403 (the admin API needs role admin)", r.method, r.path, st, code, msg)
		}
	}
	admin := webLogin(t, u, "admin", readAdminPassword(t, u))
	var user struct {
		Role     string   `json:"role"`
		Sessions []string `json:"sessions"`
	}
	if st := webGetJSON(t, plain, u, "/api/v1/admin/users/alice", admin, &user); st != 200 || user.Role != "user" || strings.Join(user.Sessions, ",") != "vt2" {
		t.Errorf("alice after the refused writes: %d %+v, want role user with vt2", st, user)
	}
}

// testWSRefusals: /ws refuses a missing or replayed token as CONNECT does,
// with the same codes; a fresh token from the console's origin works.
func testWSRefusals(t *testing.T, u *upInstance, admin string) {
	t.Run("fresh token", func(t *testing.T) {
		l := webLaunch(t, u, admin, "demo-vt")
		c, resp, err := webDialWS(t, u, u.MgmtURL, "termgate.v1", "bearer."+l.Token)
		if err != nil {
			t.Fatalf("/ws: %v (%s)", err, webStatus(resp))
		}
		defer c.Close()
		if c.Subprotocol() != "termgate.v1" || resp.Header.Get("Termgate-Session") == "" {
			t.Errorf("101 selected %q, Termgate-Session %q", c.Subprotocol(), resp.Header.Get("Termgate-Session"))
		}
		if strings.Contains(strings.Join(resp.Header.Values("Sec-Websocket-Protocol"), ","), l.Token) {
			t.Error("the 101 answer echoes the bearer token")
		}
		var got []byte
		c.SetReadDeadline(time.Now().Add(webWait))
		for !bytes.Contains(got, []byte("termgate demo host")) {
			mt, data, err := c.ReadMessage()
			if err != nil {
				t.Fatalf("reading the demo host through /ws: %v; got %q", err, got)
			}
			if mt != websocket.BinaryMessage {
				t.Fatalf("the proxy sent a message of type %d", mt)
			}
			got = append(got, data...)
		}
		c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	})

	t.Run("missing token", func(t *testing.T) {
		resp := webConnectNoToken(t, u)
		if resp.StatusCode != 407 || resp.Header.Get("Termgate-Error") != "token_missing" {
			t.Errorf("CONNECT without a token: %d %q, want 407 token_missing", resp.StatusCode, resp.Header.Get("Termgate-Error"))
		}
		// Nothing offered: refused before the upgrade, in CONNECT's format.
		_, resp, err := webDialWS(t, u, u.MgmtURL)
		if err == nil || resp == nil || resp.StatusCode != 407 || resp.Header.Get("Termgate-Error") != "token_missing" {
			t.Errorf("/ws without a token: %v (%s), want HTTP 407 token_missing", err, webStatus(resp))
		} else if resp.Header.Get("Proxy-Authenticate") == "" {
			t.Error("/ws 407 without Proxy-Authenticate")
		}
		// termgate.v1 with an empty bearer: refused after the upgrade.
		c, resp, err := webDialWS(t, u, u.MgmtURL, "termgate.v1", "bearer.")
		if err != nil {
			t.Fatalf("/ws with an empty bearer: %v (%s)", err, webStatus(resp))
		}
		webExpectClose(t, c, 4407, "token_missing")
	})

	t.Run("replayed token", func(t *testing.T) {
		// CONNECT first, then /ws.
		l := webLaunch(t, u, admin, "demo-vt")
		conn, br := connectThroughProxy(t, l)
		readUntil(t, br, "termgate demo host")
		conn.Close()
		c, resp, err := webDialWS(t, u, u.MgmtURL, "termgate.v1", "bearer."+l.Token)
		if err != nil {
			t.Fatalf("/ws with a used token: %v (%s)", err, webStatus(resp))
		}
		webExpectClose(t, c, 4407, "token_replayed")

		// /ws first, then CONNECT.
		l2 := webLaunch(t, u, admin, "demo-vt")
		c, resp, err = webDialWS(t, u, u.MgmtURL, "termgate.v1", "bearer."+l2.Token)
		if err != nil {
			t.Fatalf("/ws: %v (%s)", err, webStatus(resp))
		}
		c.Close()
		conn, resp2, _ := connectRaw(t, l2)
		conn.Close()
		if resp2.StatusCode != 407 || resp2.Header.Get("Termgate-Error") != "token_replayed" {
			t.Errorf("CONNECT with a token used on /ws: %d %q, want 407 token_replayed", resp2.StatusCode, resp2.Header.Get("Termgate-Error"))
		}
	})

	t.Run("foreign origin", func(t *testing.T) {
		l := webLaunch(t, u, admin, "demo-vt")
		_, resp, err := webDialWS(t, u, "https://evil.example", "termgate.v1", "bearer."+l.Token)
		if err == nil || resp == nil || resp.StatusCode != 400 || resp.Header.Get("Termgate-Error") != "bad_request" {
			t.Errorf("/ws from a foreign origin: %v (%s), want HTTP 400 bad_request", err, webStatus(resp))
		}
	})
}

// ---------- helpers ----------

func readAdminPassword(t *testing.T, u *upInstance) string {
	t.Helper()
	pw, err := os.ReadFile(filepath.Join(u.Dir, "termgate-data", "admin-password"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(pw))
}

func hostOf(t *testing.T, addr string) string {
	t.Helper()
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// webLogin signs in with the JSON API and returns the login token.
func webLogin(t *testing.T, u *upInstance, user, password string) string {
	t.Helper()
	var login struct {
		Token string `json:"token"`
	}
	if st := postJSON(t, u.httpClient(t), u.MgmtURL+"/api/v1/login", "", map[string]string{"username": user, "password": password}, &login); st != 200 {
		t.Fatalf("login as %s: status %d", user, st)
	}
	return login.Token
}

func webLaunch(t *testing.T, u *upInstance, bearer, session string) launchResponse {
	t.Helper()
	var l launchResponse
	if st := postJSON(t, u.httpClient(t), u.MgmtURL+"/api/v1/sessions/"+session+"/launch", bearer, map[string]any{}, &l); st != 200 {
		t.Fatalf("launch %s: status %d", session, st)
	}
	return l
}

func webPut(t *testing.T, u *upInstance, bearer, path string, body any) {
	t.Helper()
	if st, code, msg := webDo(t, u.httpClient(t), u, "PUT", path, bearer, "", body); st/100 != 2 {
		t.Fatalf("PUT %s: %d %s %s", path, st, code, msg)
	}
}

// webDo sends one request (JSON body unless nil) with an optional bearer
// token and X-CSRF-Token; it returns the status and the error's code and
// message.
func webDo(t *testing.T, c *http.Client, u *upInstance, method, path, bearer, csrf string, body any) (int, string, string) {
	t.Helper()
	var rd io.Reader
	if body != nil && method != "GET" && method != "DELETE" {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, u.MgmtURL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if csrf != "" {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	_ = json.Unmarshal(b, &e)
	return resp.StatusCode, e.Error.Code, e.Error.Message
}

func webGetJSON(t *testing.T, c *http.Client, u *upInstance, path, bearer string, out any) int {
	t.Helper()
	req, _ := http.NewRequest("GET", u.MgmtURL+path, nil)
	req.Header.Set("Authorization", "Bearer "+bearer)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == 200 {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
	}
	return resp.StatusCode
}

// webCookieClient signs in as a browser does: the answer's cookies go into
// the client's jar, and the client sends no Authorization header.
func webCookieClient(t *testing.T, u *upInstance, user, password string) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := u.httpClient(t)
	c.Jar = jar
	if st := postJSON(t, c, u.MgmtURL+"/api/v1/login", "", map[string]string{"username": user, "password": password}, nil); st != 200 {
		t.Fatalf("cookie login as %s: status %d", user, st)
	}
	if webCookie(t, c, u, "tg_session") == "" {
		t.Fatal("login set no tg_session cookie")
	}
	return c
}

func webCookie(t *testing.T, c *http.Client, u *upInstance, name string) string {
	t.Helper()
	mu, err := url.Parse(u.MgmtURL + "/api/v1/")
	if err != nil {
		t.Fatal(err)
	}
	for _, ck := range c.Jar.Cookies(mu) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

// webDialWS opens wss://proxy/ws as a browser on origin would, trusting
// only the local CA, offering the given subprotocols.
func webDialWS(t *testing.T, u *upInstance, origin string, protocols ...string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	ca, err := pki.LoadTrustStore(filepath.Join(u.Dir, "termgate-data", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	d := websocket.Dialer{
		TLSClientConfig:  &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12},
		HandshakeTimeout: 10 * time.Second,
		Subprotocols:     protocols,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, resp, err := d.DialContext(ctx, "wss://"+u.Proxy+"/ws", http.Header{"Origin": {origin}})
	if c != nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, resp, err
}

func webStatus(resp *http.Response) string {
	if resp == nil {
		return "no HTTP answer"
	}
	return fmt.Sprintf("HTTP %d, Termgate-Error %q", resp.StatusCode, resp.Header.Get("Termgate-Error"))
}

// webExpectClose reads until the proxy's close frame and checks its code
// and reason.
func webExpectClose(t *testing.T, c *websocket.Conn, code int, reason string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(webWait))
	mt, data, err := c.ReadMessage()
	if err == nil {
		t.Fatalf("got a message (type %d, %q) before the close frame %d %s", mt, data, code, reason)
	}
	var ce *websocket.CloseError
	if !errors.As(err, &ce) {
		t.Fatalf("want close %d %s, got %v", code, reason, err)
	}
	if ce.Code != code || ce.Text != reason {
		t.Errorf("close %d %q, want %d %q", ce.Code, ce.Text, code, reason)
	}
}

// webConnectNoToken sends a CONNECT to the demo VT host without
// Proxy-Authorization.
func webConnectNoToken(t *testing.T, u *upInstance) *http.Response {
	t.Helper()
	ca, err := pki.LoadTrustStore(filepath.Join(u.Dir, "termgate-data", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second},
		Config: &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := d.DialContext(ctx, "tcp", u.Proxy)
	if err != nil {
		t.Fatalf("TLS to the proxy: %v", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", u.VT, u.VT)
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: "CONNECT"})
	if err != nil {
		t.Fatalf("CONNECT response: %v", err)
	}
	resp.Body.Close()
	return resp
}

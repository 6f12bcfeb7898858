package mgmt

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestConsoleMounted checks that the HTTPS API serves the browser console
// (package webui) under /admin/ and /app/ with the console's own
// Content-Security-Policy, redirects / to /app/, and keeps the strict
// API policy everywhere else.
func TestConsoleMounted(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	noRedirect := *c.HTTP
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	get := func(method, path string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, e.srv.URL()+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		resp.Body.Close()
		return resp
	}
	for _, tc := range []struct {
		method, path string
		status       int
		location     string
		contentType  string
		console      bool // the console's CSP, not the API's
	}{
		{"GET", "/admin/", 200, "", "text/html", true},
		{"GET", "/app/", 200, "", "text/html", true},
		{"HEAD", "/app/", 200, "", "text/html", true},
		{"GET", "/app/assets/js/api.js", 200, "", "text/javascript", true},
		{"GET", "/admin", 301, "/admin/", "", true},
		{"GET", "/app", 301, "/app/", "", true},
		{"GET", "/admin/no-such-page", 404, "", "text/plain", true},
		{"POST", "/admin/", 405, "", "text/plain", true},
		{"GET", "/", 302, "/app/", "", false},
		{"GET", "/api/v1/sessions", 401, "", "application/json", false},
		{"GET", "/no-such-endpoint", 404, "", "application/json", false},
		{"POST", "/", 404, "", "application/json", false},
	} {
		resp := get(tc.method, tc.path)
		name := tc.method + " " + tc.path
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d", name, resp.StatusCode, tc.status)
		}
		if got := resp.Header.Get("Location"); got != tc.location {
			t.Errorf("%s: Location %q, want %q", name, got, tc.location)
		}
		if ct := resp.Header.Get("Content-Type"); tc.contentType != "" && !strings.HasPrefix(ct, tc.contentType) {
			t.Errorf("%s: Content-Type %q, want %s", name, ct, tc.contentType)
		}
		csp := resp.Header.Get("Content-Security-Policy")
		if tc.console {
			if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "default-src 'none'") {
				t.Errorf("%s: CSP %q, want the console's", name, csp)
			}
			if !strings.Contains(csp, "connect-src 'self' wss://proxy.example.com:443") {
				t.Errorf("%s: CSP %q does not limit WebSockets to Config.ProxyAddress", name, csp)
			}
		} else if csp != "default-src 'none'; frame-ancestors 'none'" {
			t.Errorf("%s: CSP %q, want the API's", name, csp)
		}
		if resp.Header.Get("Strict-Transport-Security") == "" || resp.Header.Get("X-Content-Type-Options") != "nosniff" ||
			resp.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: security headers missing: %v", name, resp.Header)
		}
		if cc := resp.Header.Get("Cache-Control"); !tc.console && cc != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", name, cc)
		}
	}
}

func TestMe(t *testing.T) {
	e := newEnv(t)
	admin := e.client()
	login, err := admin.Login(ctxb, "admin", "admin-secret-1")
	must(t, err)
	me, err := admin.Me(ctxb)
	must(t, err)
	if me.Name != "admin" || me.Role != RoleAdmin || me.ExpiresAt == nil || !me.ExpiresAt.Equal(login.ExpiresAt) {
		t.Fatalf("me = %+v, want admin/admin expiring at %v", me, login.ExpiresAt)
	}

	// The browser's way: the login cookie, no Authorization header.
	anon := e.client()
	st, _, body := e.raw(anon, "GET", "/api/v1/me", nil, map[string]string{"Cookie": SessionCookie + "=" + login.Token})
	var got Me
	if st != 200 || json.Unmarshal(body, &got) != nil || got.Name != "admin" || got.Role != RoleAdmin {
		t.Fatalf("me by cookie: %d %s", st, body)
	}

	must(t, admin.Do(ctxb, "PUT", "/api/v1/admin/users/carol", UserSpec{Password: "carol-password", Role: RoleUser}, nil))
	carol := e.client()
	_, err = carol.Login(ctxb, "carol", "carol-password")
	must(t, err)
	if me, err := carol.Me(ctxb); err != nil || me.Name != "carol" || me.Role != RoleUser {
		t.Fatalf("me of carol = %+v, %v", me, err)
	}

	var key APIKeyCreated
	must(t, admin.Do(ctxb, "POST", "/api/v1/admin/api-keys", APIKeySpec{Name: "ci-bot", Destinations: []string{"db.example.com:23"}}, &key))
	bot := e.client()
	bot.Token = key.Key
	st, _, body = e.raw(bot, "GET", "/api/v1/me", nil, nil)
	if st != 200 || strings.TrimSpace(string(body)) != `{"name":"ci-bot","role":"api-key"}` {
		t.Fatalf("me of an API key: %d %s", st, body)
	}

	st, _, body = e.raw(anon, "GET", "/api/v1/me", nil, nil)
	if st != 401 || errCode(t, body) != CodeUnauthorized {
		t.Fatalf("me without credentials: %d %s", st, body)
	}
	must(t, admin.Do(ctxb, "POST", "/api/v1/logout", nil, nil))
	_, err = admin.Me(ctxb)
	wantStatus(t, err, 401, CodeUnauthorized)
}

func TestAuditFilters(t *testing.T) {
	e := newEnv(t)
	t0 := e.clock.Now()
	anon := e.client()
	anon.Login(ctxb, "mallory", "guess-1") // failed login, actor mallory
	e.clock.Advance(time.Minute)
	admin := e.adminClient()
	e.clock.Advance(time.Minute)
	t2 := e.clock.Now()
	must(t, admin.Do(ctxb, "PUT", "/api/v1/admin/users/carol", UserSpec{Password: "carol-password", Role: RoleUser}, nil))
	e.clock.Advance(time.Minute)
	must(t, admin.Do(ctxb, "PUT", "/api/v1/admin/users/dave", UserSpec{Password: "dave-password", Role: RoleUser}, nil))

	query := func(q url.Values) AuditPage {
		t.Helper()
		var p AuditPage
		must(t, admin.Do(ctxb, "GET", "/api/v1/admin/audit?"+q.Encode(), nil, &p))
		return p
	}
	events := func(p AuditPage) []string {
		var out []string
		for _, ev := range p.Events {
			out = append(out, ev.Event+"/"+ev.Actor)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		q    url.Values
		want string
		more bool
	}{
		{"all", url.Values{}, "user.put/admin user.put/admin login/admin login/mallory", false},
		{"failures", url.Values{"ok": {"false"}}, "login/mallory", false},
		{"successful logins", url.Values{"event": {"login"}, "ok": {"true"}}, "login/admin", false},
		{"actor", url.Values{"actor": {"admin"}, "event": {"user.put"}}, "user.put/admin user.put/admin", false},
		{"limit", url.Values{"actor": {"admin"}, "limit": {"1"}}, "user.put/admin", true},
		{"since", url.Values{"since": {t2.UTC().Format(time.RFC3339Nano)}}, "user.put/admin user.put/admin", false},
		{"until", url.Values{"until": {t2.UTC().Format(time.RFC3339)}}, "login/admin login/mallory", false},
		{"between", url.Values{"since": {t0.Add(30 * time.Second).Format(time.RFC3339Nano)}, "until": {t2.Add(30 * time.Second).Format(time.RFC3339Nano)}},
			"user.put/admin login/admin", false},
		{"nothing", url.Values{"actor": {"nobody"}}, "", false},
	} {
		p := query(tc.q)
		if got := strings.Join(events(p), " "); got != tc.want || p.More != tc.more {
			t.Errorf("%s (%s): got %q more=%v, want %q more=%v", tc.name, tc.q.Encode(), got, p.More, tc.want, tc.more)
		}
	}
	// The Go client sends the same filter.
	no := false
	if p, err := admin.Audit(ctxb, AuditFilter{OK: &no, Since: t0.Add(-time.Second)}); err != nil || len(p.Events) != 1 || p.Events[0].Actor != "mallory" {
		t.Errorf("client Audit = %+v, %v", p, err)
	}

	for _, bad := range []string{
		"limit=0", "limit=-3", "limit=ten", "limit=", "ok=yes", "ok=", "since=yesterday", "until=2026-01-01",
		"since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", "since=2026-01-01T00:00:00Z&until=2026-01-01T00:00:00Z",
		"event=Login", "event=", "event=" + strings.Repeat("a", 65), "actor=", "actor=" + strings.Repeat("x", 257),
		"actor=a%00b", "actor=a&actor=b", "colour=red", "limit=1;x", "%zz",
	} {
		st, _, body := e.raw(admin, "GET", "/api/v1/admin/audit?"+bad, nil, nil)
		if st != 400 || errCode(t, body) != CodeBadRequest {
			t.Errorf("audit?%s: %d %s, want 400 bad_request", bad, st, body)
		}
	}
}

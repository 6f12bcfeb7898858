package mgmt

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/termgate/termgate/pki"
	"github.com/termgate/termgate/token"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestInitIsIdempotent(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d")
	r1, err := Init(dir, InitOptions{NodeID: "n1", Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	if !r1.Created || len(r1.AdminPassword) < 16 {
		t.Fatalf("first Init: created=%v password length %d", r1.Created, len(r1.AdminPassword))
	}
	fi, err := os.Stat(r1.AdminPasswordFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin-password file: %v mode %v", err, fi.Mode())
	}
	r2, err := Init(dir, InitOptions{Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	if r2.Created || r2.NodeID != "n1" || r2.AdminPassword != r1.AdminPassword || !r2.CA.Equal(r1.CA) {
		t.Fatalf("second Init did not reuse: %+v", r2)
	}
	if _, err := Init(dir, InitOptions{NodeID: "other"}); err == nil {
		t.Fatal("Init with another node id on an existing directory: want error")
	}
	// the signing certificate names the node
	s, err := Open(Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ks := s.SigningKeys()
	if len(ks) != 1 || ks[0].NodeID != "n1" || ks[0].State != KeyCurrent {
		t.Fatalf("signing keys: %+v", ks)
	}
	c, _ := pki.ParseCertsPEM([]byte(ks[0].Certificate))
	if c[0].Subject.CommonName != "n1" || !pki.IsTokenSigner(c[0]) {
		t.Fatalf("signing cert CN %q token signer %v", c[0].Subject.CommonName, pki.IsTokenSigner(c[0]))
	}
	// a second process cannot open the store while one holds it
	if _, err := Open(Config{DataDir: dir}); !errorsIs(err, ErrStoreLocked) {
		t.Fatalf("second Open: got %v, want ErrStoreLocked", err)
	}
}

func TestLoginWrongPasswordThenRateLimited(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	_, err := c.Login(ctxb, "admin", "wrong-password")
	wantStatus(t, err, 401, CodeUnauthorized)
	for i := 0; i < 3; i++ {
		c.Login(ctxb, "admin", "wrong-password")
	}
	_, err = c.Login(ctxb, "admin", "wrong-password") // 5th failure locks
	wantStatus(t, err, 401, CodeUnauthorized)
	// now even the right password is refused until the lock ends
	_, err = c.Login(ctxb, "admin", "admin-secret-1")
	ae := wantStatus(t, err, 429, CodeRateLimited)
	if ae.RetryAfter < 1 || ae.RetryAfter > 60 {
		t.Fatalf("Retry-After = %d, want 1..60", ae.RetryAfter)
	}
	e.clock.Advance(61 * time.Second)
	if _, err := c.Login(ctxb, "admin", "admin-secret-1"); err != nil {
		t.Fatalf("login after the lock: %v", err)
	}
	// unknown users are refused the same way
	_, err = c.Login(ctxb, "nobody", "whatever-pass")
	wantStatus(t, err, 401, CodeUnauthorized)
}

func TestLoginRateLimitPerAddress(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Lockout = LockoutPolicy{MaxFailures: 100, MaxAddrFailures: 3} })
	c := e.client()
	for i := 0; i < 3; i++ {
		c.Login(ctxb, fmt.Sprintf("user%d", i), "wrong-password")
	}
	_, err := c.Login(ctxb, "admin", "admin-secret-1")
	wantStatus(t, err, 429, CodeRateLimited)
}

func setupUsers(t *testing.T, e *testEnv) {
	t.Helper()
	ctx := ctxb
	must(t, e.srv.PutSession(ctx, "demo-vt", SessionDef{Protocol: "telnet", Host: "127.0.0.1", Port: 2323}))
	must(t, e.srv.PutSession(ctx, "demo-3270", SessionDef{Protocol: "tn3270", Host: "Host.Example.COM.", Port: 992, HostTLS: true, TokenTTLSeconds: 300}))
	must(t, e.srv.PutUser(ctx, "alice", UserSpec{Password: "alice-password", Role: RoleUser, Sessions: []string{"demo-vt"}, Destinations: []string{"10.0.0.0/8:22", "*.example.com:23"}}))
	must(t, e.srv.PutUser(ctx, "bob", UserSpec{Password: "bob-password", Role: RoleUser}))
	must(t, e.srv.GrantSessions(ctx, "admin", "demo-vt", "demo-3270"))
	if ps, _ := e.srv.Proxies(ctx); len(ps) == 0 {
		enrollProxy(t, e, "proxy-0", "proxy.example.com")
	}
}

// enrollProxy enrolls a proxy certificate for name through the server's API.
func enrollProxy(t *testing.T, e *testEnv, node, name string) *pki.Cert {
	t.Helper()
	ca, err := pki.NewCA(pki.CertSpec{})
	must(t, err)
	leaf, err := ca.Issue(pki.CertSpec{CommonName: node, DNSNames: []string{name}, Usage: pki.UsageServer})
	must(t, err)
	code, _, err := e.srv.CreateEnrollCode(ctxb)
	must(t, err)
	_, err = e.client().Enroll(ctxb, pki.EnrollRequest{Code: code, NodeID: node, Certificate: string(pki.EncodeCertPEM(leaf.Cert))})
	must(t, err)
	return leaf
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func login(t *testing.T, e *testEnv, user, pw string) *Client {
	t.Helper()
	c := e.client()
	if _, err := c.Login(ctxb, user, pw); err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	return c
}

func TestGrants(t *testing.T) {
	e := newEnv(t)
	setupUsers(t, e)
	bob := login(t, e, "bob", "bob-password")
	alice := login(t, e, "alice", "alice-password")

	var sl struct{ Sessions []SessionDef }
	must(t, alice.Do(ctxb, "GET", "/api/v1/sessions", nil, &sl))
	if len(sl.Sessions) != 1 || sl.Sessions[0].Name != "demo-vt" {
		t.Fatalf("alice's sessions: %+v", sl.Sessions)
	}
	must(t, bob.Do(ctxb, "GET", "/api/v1/sessions", nil, &sl))
	if len(sl.Sessions) != 0 {
		t.Fatalf("bob's sessions: %+v", sl.Sessions)
	}
	err := bob.Do(ctxb, "POST", "/api/v1/sessions/demo-vt/launch", nil, nil)
	wantStatus(t, err, 403, CodeForbidden)
	err = bob.Do(ctxb, "POST", "/api/v1/sessions/no-such/launch", nil, nil)
	wantStatus(t, err, 403, CodeForbidden) // does not reveal existence
	err = bob.Do(ctxb, "POST", "/api/v1/tokens", TokenRequest{Host: "db.example.com", Port: 23, Protocol: "telnet"}, nil)
	wantStatus(t, err, 403, CodeForbidden)

	var tr TokenResponse
	must(t, alice.Do(ctxb, "POST", "/api/v1/tokens", TokenRequest{Host: "DB.example.com", Port: 23, Protocol: "telnet"}, &tr))
	must(t, alice.Do(ctxb, "POST", "/api/v1/tokens", TokenRequest{Host: "10.1.2.3", Port: 22, Protocol: "ssh", TTLS: 60}, &tr))
	err = alice.Do(ctxb, "POST", "/api/v1/tokens", TokenRequest{Host: "10.1.2.3", Port: 23, Protocol: "telnet"}, nil)
	wantStatus(t, err, 403, CodeForbidden)
	err = alice.Do(ctxb, "POST", "/api/v1/tokens", TokenRequest{Host: "example.com", Port: 23, Protocol: "telnet"}, nil)
	wantStatus(t, err, 403, CodeForbidden)
	err = alice.Do(ctxb, "POST", "/api/v1/tokens", TokenRequest{Host: "10.1.2.3", Port: 22, Protocol: "gopher"}, nil)
	wantStatus(t, err, 400, CodeBadRequest)
	err = alice.Do(ctxb, "POST", "/api/v1/tokens", TokenRequest{Host: "10.1.2.3", Port: 22, Protocol: "ssh", TTLS: 7200}, nil)
	wantStatus(t, err, 400, CodeBadRequest)
	// non-admins cannot use the admin API
	err = alice.Do(ctxb, "GET", "/api/v1/admin/users", nil, nil)
	wantStatus(t, err, 403, CodeForbidden)
}

func TestDestinationPolicy(t *testing.T) {
	e := newEnv(t)
	admin := e.adminClient()
	var created APIKeyCreated
	must(t, admin.Do(ctxb, "POST", "/api/v1/admin/api-keys", APIKeySpec{Name: "any", Destinations: []string{"*:*"}}, &created))
	k := e.client()
	k.Token = created.Key
	err := k.Do(ctxb, "POST", "/api/v1/tokens", TokenRequest{Host: "169.254.169.254", Port: 80, Protocol: "tcp"}, nil)
	wantStatus(t, err, 403, CodeForbidden)
	must(t, k.Do(ctxb, "POST", "/api/v1/tokens", TokenRequest{Host: "192.0.2.1", Port: 80, Protocol: "tcp"}, nil))
	var sec Security
	must(t, admin.Do(ctxb, "PUT", "/api/v1/admin/security", map[string]any{"allowed_networks": []string{"169.254.169.254/32", "192.0.2.0/24"}}, &sec))
	if !sec.VerifyServerIdentity || len(sec.AllowedNetworks) != 2 {
		t.Fatalf("security after patch: %+v", sec)
	}
	must(t, k.Do(ctxb, "POST", "/api/v1/tokens", TokenRequest{Host: "169.254.169.254", Port: 80, Protocol: "tcp"}, nil))
	err = k.Do(ctxb, "POST", "/api/v1/tokens", TokenRequest{Host: "198.51.100.1", Port: 80, Protocol: "tcp"}, nil)
	wantStatus(t, err, 403, CodeForbidden)
}

func TestAPIKeyDestinations(t *testing.T) {
	e := newEnv(t)
	admin := e.adminClient()
	var created APIKeyCreated
	must(t, admin.Do(ctxb, "POST", "/api/v1/admin/api-keys", APIKeySpec{Name: "batch", Destinations: []string{"db2.example.com:23", "192.0.2.0/24:1000-2000"}}, &created))
	if !strings.HasPrefix(created.Key, "tgk_"+created.ID+"_") {
		t.Fatalf("key %q does not carry its id %q", created.Key, created.ID)
	}
	k := e.client()
	k.Token = created.Key
	err := k.Do(ctxb, "POST", "/api/v1/tokens", TokenRequest{Host: "db3.example.com", Port: 23, Protocol: "telnet"}, nil)
	wantStatus(t, err, 403, CodeForbidden)
	err = k.Do(ctxb, "POST", "/api/v1/tokens", TokenRequest{Host: "192.0.2.9", Port: 2001, Protocol: "tcp"}, nil)
	wantStatus(t, err, 403, CodeForbidden)
	var tr TokenResponse
	must(t, k.Do(ctxb, "POST", "/api/v1/tokens", TokenRequest{Host: "db2.example.com", Port: 23, Protocol: "telnet"}, &tr))
	claims := verifyToken(t, e, tr.Token)
	if claims.Dst != "db2.example.com:23" || claims.Subject != "apikey:"+created.ID || claims.Proto != "telnet" {
		t.Fatalf("claims: %+v", claims)
	}
	if got := claims.ExpiresAt.Sub(claims.IssuedAt.Time); got != 120*time.Second {
		t.Fatalf("default TTL %v, want 120s", got)
	}
	must(t, k.Do(ctxb, "POST", "/api/v1/tokens", TokenRequest{Host: "192.0.2.9", Port: 1500, Protocol: "tcp"}, nil))
	// a wrong secret with a valid id is refused
	bad := e.client()
	bad.Token = created.Key[:len(created.Key)-2] + "xx"
	err = bad.Do(ctxb, "POST", "/api/v1/tokens", TokenRequest{Host: "db2.example.com", Port: 23, Protocol: "telnet"}, nil)
	wantStatus(t, err, 401, CodeUnauthorized)
	// the list never shows the secret; deletion revokes
	var list struct {
		APIKeys []map[string]any `json:"api_keys"`
	}
	must(t, admin.Do(ctxb, "GET", "/api/v1/admin/api-keys", nil, &list))
	b, _ := json.Marshal(list)
	if len(list.APIKeys) != 1 || bytes.Contains(b, []byte(created.Key[20:])) || bytes.Contains(b, []byte("sha256")) {
		t.Fatalf("api key list leaks: %s", b)
	}
	must(t, admin.Do(ctxb, "DELETE", "/api/v1/admin/api-keys/"+created.ID, nil, nil))
	err = k.Do(ctxb, "POST", "/api/v1/tokens", TokenRequest{Host: "db2.example.com", Port: 23, Protocol: "telnet"}, nil)
	wantStatus(t, err, 401, CodeUnauthorized)
	// API keys cannot use the admin API
	err = k.Do(ctxb, "GET", "/api/v1/admin/users", nil, nil)
	wantStatus(t, err, 401, CodeUnauthorized)
}

func verifierFromServer(t *testing.T, e *testEnv) *token.Verifier {
	t.Helper()
	c := e.client()
	status, _, body := e.raw(c, "GET", "/api/v1/trust/mgmt.pem", nil, nil)
	if status != 200 {
		t.Fatalf("trust/mgmt.pem: %d", status)
	}
	ts, err := pki.ParseTrustStore(body)
	if err != nil {
		t.Fatal(err)
	}
	return token.NewVerifier(token.VerifierConfig{Trust: ts, Now: e.clock.Now})
}

func verifyToken(t *testing.T, e *testEnv, tok string) *token.Claims {
	t.Helper()
	c, err := verifierFromServer(t, e).Parse(tok)
	if err != nil {
		t.Fatalf("verify token: %v", err)
	}
	return c
}

func TestLoginTokenExpiresAndRefresh(t *testing.T) {
	e := newEnv(t)
	c := login(t, e, "admin", "admin-secret-1")
	must(t, c.Do(ctxb, "GET", "/api/v1/sessions", nil, nil))
	e.clock.Advance(10 * time.Minute)
	var tr TokenResponse
	must(t, c.Do(ctxb, "POST", "/api/v1/login/refresh", nil, &tr))
	old := c.Token
	e.clock.Advance(6 * time.Minute) // the first token is 16 min old: expired (15 min + 30 s leeway)
	err := c.Do(ctxb, "GET", "/api/v1/sessions", nil, nil)
	wantStatus(t, err, 401, CodeUnauthorized)
	c.Token = tr.Token
	must(t, c.Do(ctxb, "GET", "/api/v1/sessions", nil, nil))
	e.clock.Advance(16 * time.Minute)
	err = c.Do(ctxb, "GET", "/api/v1/sessions", nil, nil)
	wantStatus(t, err, 401, CodeUnauthorized)
	_ = old
	// a login token is not an authorization token, and the other way round
	c2 := login(t, e, "admin", "admin-secret-1")
	if _, err := verifierFromServer(t, e).Parse(c2.Token); err == nil {
		t.Fatal("proxy verifier accepted a login token")
	}
	setupUsers(t, e)
	var lr LaunchResponse
	must(t, c2.Do(ctxb, "POST", "/api/v1/sessions/demo-vt/launch", nil, &lr))
	c3 := e.client()
	c3.Token = lr.Token
	err = c3.Do(ctxb, "GET", "/api/v1/sessions", nil, nil)
	wantStatus(t, err, 401, CodeUnauthorized)
}

func TestLogoutRevokes(t *testing.T) {
	e := newEnv(t)
	c := login(t, e, "admin", "admin-secret-1")
	must(t, c.Do(ctxb, "POST", "/api/v1/logout", nil, nil))
	err := c.Do(ctxb, "GET", "/api/v1/sessions", nil, nil)
	wantStatus(t, err, 401, CodeUnauthorized)
	// the deny-list survives a restart
	tok := c.Token
	e.restart()
	c = e.client()
	c.Token = tok
	err = c.Do(ctxb, "GET", "/api/v1/sessions", nil, nil)
	wantStatus(t, err, 401, CodeUnauthorized)
	// a password change ends older logins too
	c = login(t, e, "admin", "admin-secret-1")
	e.clock.Advance(2 * time.Second)
	must(t, e.srv.PutUser(ctxb, "admin", UserSpec{Role: RoleAdmin, Password: "admin-secret-2"}))
	err = c.Do(ctxb, "GET", "/api/v1/sessions", nil, nil)
	wantStatus(t, err, 401, CodeUnauthorized)
}

func TestMalformedAndOversizedBodies(t *testing.T) {
	e := newEnv(t)
	c := e.adminClient()
	cases := []struct {
		name, path string
		body       []byte
		status     int
		code       string
	}{
		{"syntax", "/api/v1/login", []byte(`{"username":`), 400, CodeInvalidJSON},
		{"not an object", "/api/v1/login", []byte(`["a"]`), 400, CodeInvalidJSON},
		{"unknown field", "/api/v1/login", []byte(`{"username":"a","password":"b","admin":true}`), 400, CodeInvalidJSON},
		{"two objects", "/api/v1/login", []byte(`{"username":"a","password":"b"}{}`), 400, CodeInvalidJSON},
		{"wrong type", "/api/v1/tokens", []byte(`{"host":"a","port":"23","protocol":"telnet"}`), 400, CodeInvalidJSON},
		{"empty", "/api/v1/tokens", []byte(``), 400, CodeInvalidJSON},
		{"oversized", "/api/v1/login", append(append([]byte(`{"username":"`), bytes.Repeat([]byte("a"), 2<<20)...), `"}`...), 413, CodeTooLarge},
		{"oversized optional", "/api/v1/sessions/x/launch", append(append([]byte(`{"pop_jwk":"`), bytes.Repeat([]byte("a"), 2<<20)...), `"}`...), 413, CodeTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, hdr, body := e.raw(c, "POST", tc.path, tc.body, map[string]string{"Content-Type": "application/json"})
			if status != tc.status || errCode(t, body) != tc.code {
				t.Fatalf("got %d %s, want %d %s", status, body, tc.status, tc.code)
			}
			if hdr.Get("Content-Type") != "application/json" {
				t.Fatalf("content type %q", hdr.Get("Content-Type"))
			}
		})
	}
	status, _, body := e.raw(c, "GET", "/api/v1/nothing", nil, nil)
	if status != 404 || errCode(t, body) != CodeNotFound {
		t.Fatalf("unknown path: %d %s", status, body)
	}
}

func TestCookieAuthNeedsCSRF(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	status, hdr, _ := e.raw(c, "POST", "/api/v1/login", []byte(`{"username":"admin","password":"admin-secret-1"}`), nil)
	if status != 200 {
		t.Fatalf("login: %d", status)
	}
	var sess, csrf *http.Cookie
	for _, ck := range (&http.Response{Header: hdr}).Cookies() {
		switch ck.Name {
		case SessionCookie:
			sess = ck
		case CSRFCookie:
			csrf = ck
		}
	}
	if sess == nil || csrf == nil || !sess.HttpOnly || !sess.Secure || sess.SameSite != http.SameSiteStrictMode || csrf.HttpOnly {
		t.Fatalf("cookies: %+v %+v", sess, csrf)
	}
	cookies := SessionCookie + "=" + sess.Value + "; " + CSRFCookie + "=" + csrf.Value
	// reads need no CSRF header
	status, _, _ = e.raw(c, "GET", "/api/v1/sessions", nil, map[string]string{"Cookie": cookies})
	if status != 200 {
		t.Fatalf("cookie GET: %d", status)
	}
	body := []byte(`{"protocol":"telnet","host":"h.example.com","port":23}`)
	status, _, rb := e.raw(c, "PUT", "/api/v1/admin/sessions/s1", body, map[string]string{"Cookie": cookies})
	if status != 403 || errCode(t, rb) != CodeForbidden {
		t.Fatalf("cookie write without CSRF header: %d %s", status, rb)
	}
	status, _, _ = e.raw(c, "PUT", "/api/v1/admin/sessions/s1", body, map[string]string{"Cookie": cookies, CSRFHeader: "forged"})
	if status != 403 {
		t.Fatalf("cookie write with a wrong CSRF header: %d", status)
	}
	// a CSRF cookie+header pair not bound to this login is refused too
	status, _, _ = e.raw(c, "PUT", "/api/v1/admin/sessions/s1", body, map[string]string{"Cookie": SessionCookie + "=" + sess.Value + "; " + CSRFCookie + "=x", CSRFHeader: "x"})
	if status != 403 {
		t.Fatalf("cookie write with an unbound CSRF pair: %d", status)
	}
	status, _, rb = e.raw(c, "PUT", "/api/v1/admin/sessions/s1", body, map[string]string{"Cookie": cookies, CSRFHeader: csrf.Value})
	if status != 200 {
		t.Fatalf("cookie write with CSRF header: %d %s", status, rb)
	}
	// bearer writes need no CSRF header
	a := e.adminClient()
	must(t, a.Do(ctxb, "DELETE", "/api/v1/admin/sessions/s1", nil, nil))
}

func TestEnrollment(t *testing.T) {
	e := newEnv(t)
	admin := e.adminClient()
	code, exp, err := admin.CreateEnrollCode(ctxb)
	must(t, err)
	if d := exp.Sub(e.clock.Now()); d < 59*time.Minute || d > time.Hour {
		t.Fatalf("code valid for %v, want 1h", d)
	}
	ca, _ := pki.NewCA(pki.CertSpec{})
	leaf, _ := ca.Issue(pki.CertSpec{CommonName: "proxy-1", DNSNames: []string{"proxy.example.com"}, Usage: pki.UsageServer})
	req := pki.EnrollRequest{Code: code, NodeID: "proxy-1", Certificate: string(pki.EncodeCertPEM(leaf.Cert)), Address: "10.0.0.5:9443"}
	c := e.client()
	resp, err := c.Enroll(ctxb, req)
	must(t, err)
	if resp.ProxyFingerprint != pki.Fingerprint(leaf.Cert) || len(resp.MgmtFingerprints) != 1 {
		t.Fatalf("enroll response: %+v", resp)
	}
	signers, err := pki.ParseTrustStore([]byte(resp.MgmtSigners))
	must(t, err)
	if signers.Len() != 1 || !pki.IsTokenSigner(signers.Certificates()[0]) {
		t.Fatal("mgmt_signers is not the signing certificate")
	}
	// mgmt_tls lets the proxy reach the management server
	mc, err := NewClient(e.srv.URL(), []byte(resp.MgmtTLS))
	must(t, err)
	status, _, _ := e.raw(mc, "GET", "/healthz", nil, nil)
	if status != 200 {
		t.Fatalf("healthz with mgmt_tls trust: %d", status)
	}
	mc.HTTP.CloseIdleConnections()
	pt, err := pki.ParseTrustStore([]byte(resp.ProxyTrust))
	must(t, err)
	if pt.Len() != 1 || pt.Entries()[0].Name != "proxy-1" || !pt.Entries()[0].Cert.Equal(leaf.Cert) {
		t.Fatalf("proxy trust: %+v", pt.Entries())
	}
	// reuse is refused
	_, err = c.Enroll(ctxb, req)
	wantStatus(t, err, 403, CodeForbidden)
	// an expired code is refused
	code2, _, err := admin.CreateEnrollCode(ctxb)
	must(t, err)
	e.clock.Advance(61 * time.Minute)
	req.Code = code2
	_, err = c.Enroll(ctxb, req)
	wantStatus(t, err, 403, CodeForbidden)
	// a token-signing or CA certificate is refused
	code3, _, _ := e.srv.CreateEnrollCode(ctxb)
	req.Code, req.Certificate = code3, string(pki.EncodeCertPEM(ca.Cert.Cert))
	_, err = c.Enroll(ctxb, req)
	wantStatus(t, err, 400, CodeBadRequest)
	var ps struct{ Proxies []Proxy }
	admin = e.adminClient() // the first login expired with the clock
	must(t, admin.Do(ctxb, "GET", "/api/v1/admin/proxies", nil, &ps))
	if len(ps.Proxies) != 1 || ps.Proxies[0].Address != "10.0.0.5:9443" {
		t.Fatalf("proxies: %+v", ps.Proxies)
	}
	// trust/proxy.pem serves the same store
	status, _, body := e.raw(c, "GET", "/api/v1/trust/proxy.pem", nil, nil)
	if status != 200 || !bytes.Equal(body, []byte(resp.ProxyTrust)) {
		t.Fatalf("trust/proxy.pem: %d", status)
	}
}

// jwksKeyfunc resolves keys only from a fetched JWKS document, as a
// generic JWT library user would.
func jwksKeyfunc(t *testing.T, doc []byte) jwt.Keyfunc {
	t.Helper()
	var set struct {
		Keys []struct {
			Kty, Crv, X, Y, Kid, Alg, Use string
			X5c                           []string
		}
	}
	must(t, json.Unmarshal(doc, &set))
	keys := map[string]any{}
	for _, k := range set.Keys {
		if len(k.X5c) != 1 || k.Use != "sig" {
			t.Fatalf("jwk %s: x5c %d use %q", k.Kid, len(k.X5c), k.Use)
		}
		der, _ := base64.StdEncoding.DecodeString(k.X5c[0])
		cert, err := x509.ParseCertificate(der)
		must(t, err)
		if pki.KID(cert) != k.Kid {
			t.Fatalf("kid %s does not match x5c", k.Kid)
		}
		x, _ := base64.RawURLEncoding.DecodeString(k.X)
		switch k.Kty {
		case "EC":
			y, _ := base64.RawURLEncoding.DecodeString(k.Y)
			keys[k.Kid] = &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}
		case "OKP":
			keys[k.Kid] = ed25519.PublicKey(x)
		}
	}
	return func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		if k, ok := keys[kid]; ok {
			return k, nil
		}
		return nil, fmt.Errorf("kid %q not in JWKS", kid)
	}
}

func TestJWKSVerifiesLaunchToken(t *testing.T) {
	e := newEnv(t)
	setupUsers(t, e)
	c := login(t, e, "admin", "admin-secret-1")
	var lr LaunchResponse
	must(t, c.Do(ctxb, "POST", "/api/v1/sessions/demo-3270/launch", nil, &lr))
	status, _, doc := e.raw(c, "GET", "/.well-known/jwks.json", nil, nil)
	if status != 200 {
		t.Fatalf("jwks: %d", status)
	}
	var claims jwt.MapClaims
	tok, err := jwt.ParseWithClaims(lr.Token, &claims, jwksKeyfunc(t, doc),
		jwt.WithValidMethods([]string{"ES256", "EdDSA"}), jwt.WithAudience("termgate-proxy"), jwt.WithTimeFunc(e.clock.Now))
	if err != nil || !tok.Valid {
		t.Fatalf("generic verification of the launch token: %v", err)
	}
	if tok.Header["typ"] != token.Type || claims["dst"] != "host.example.com:992" || claims["ses"] != "demo-3270" || claims["htls"] != true || claims["sub"] != "admin" {
		t.Fatalf("header %v claims %v", tok.Header, claims)
	}
	if ttl := lr.ExpiresAt.Sub(e.clock.Now()); ttl < 299*time.Second || ttl > 300*time.Second {
		t.Fatalf("session TTL %v, want 300s", ttl)
	}
}

func TestLaunchResponse(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.ProxyAddress = "lb.example.com:443" })
	c0 := login(t, e, "admin", "admin-secret-1")
	must(t, e.srv.PutSession(ctxb, "demo-vt", SessionDef{Protocol: "telnet", Host: "127.0.0.1", Port: 2323}))
	must(t, e.srv.GrantSessions(ctxb, "admin", "demo-vt"))
	err := c0.Do(ctxb, "POST", "/api/v1/sessions/demo-vt/launch", nil, nil)
	wantStatus(t, err, 503, CodeUnavailable) // no proxy enrolled yet
	leaf := enrollProxy(t, e, "p1", "lb.example.com")
	setupUsers(t, e)
	pk, err := token.NewProofKey()
	must(t, err)
	jwk, _ := json.Marshal(pk.JWK())
	c := login(t, e, "alice", "alice-password")
	var lr LaunchResponse
	must(t, c.Do(ctxb, "POST", "/api/v1/sessions/demo-vt/launch", map[string]json.RawMessage{"pop_jwk": jwk}, &lr))
	if lr.Proxy.Address != "lb.example.com:443" || lr.Proxy.ServerName != "lb.example.com" || !lr.Proxy.VerifyServerIdentity {
		t.Fatalf("proxy: %+v", lr.Proxy)
	}
	if lr.Session.Name != "demo-vt" || lr.Session.Protocol != "telnet" || lr.Session.Host != "127.0.0.1" || lr.Session.Port != 2323 ||
		lr.Session.Terminal.Model != "xterm" || lr.Session.Terminal.Rows != 24 || lr.Session.Terminal.Cols != 80 {
		t.Fatalf("session: %+v", lr.Session)
	}
	ts, err := pki.ParseTrustStore([]byte(lr.TrustStore))
	must(t, err)
	if ts.Len() != 1 || !ts.Certificates()[0].Equal(leaf.Cert) {
		t.Fatal("launch trust store is not the enrolled proxy certificate")
	}
	if err := pki.VerifyPeer(ts, []*x509.Certificate{leaf.Cert}, pki.VerifyOptions{Name: lr.Proxy.ServerName}); err != nil {
		t.Fatalf("the shipped trust store does not verify the proxy: %v", err)
	}
	cl := verifyToken(t, e, lr.Token)
	if cl.Cnf == nil || cl.Cnf.JKT != pk.JWK().Thumbprint() || cl.Dst != "127.0.0.1:2323" || cl.Ses != "demo-vt" {
		t.Fatalf("claims: %+v", cl)
	}
	// metering is null until it exists
	status, _, body := e.raw(c, "POST", "/api/v1/sessions/demo-vt/launch", nil, nil)
	if status != 200 || !bytes.Contains(body, []byte(`"metering":null`)) {
		t.Fatalf("launch: %d %s", status, body)
	}
	// a private JWK is refused
	err = c.Do(ctxb, "POST", "/api/v1/sessions/demo-vt/launch", map[string]any{"pop_jwk": map[string]string{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "d": "AA"}}, nil)
	wantStatus(t, err, 400, CodeBadRequest)
}

func TestKeyRotationWithTokensInFlight(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.KeyPublishDelay = 10 * time.Minute })
	setupUsers(t, e)
	must(t, e.srv.PutSession(ctxb, "long", SessionDef{Protocol: "telnet", Host: "127.0.0.1", Port: 2323, TokenTTLSeconds: 3600}))
	must(t, e.srv.GrantSessions(ctxb, "admin", "long"))
	admin := e.adminClient()
	var old LaunchResponse
	must(t, admin.Do(ctxb, "POST", "/api/v1/sessions/long/launch", nil, &old))
	oldKID := e.srv.keys.Load().current.kid

	next, err := admin.RotateKey(ctxb, false)
	must(t, err)
	if next.State != KeyNext {
		t.Fatalf("rotated key state %q", next.State)
	}
	// published at once, not yet signing
	v := verifierFromServer(t, e)
	if _, ok := trustKIDs(t, e)[next.KID]; !ok {
		t.Fatal("next key not in trust/mgmt.pem")
	}
	var mid LaunchResponse
	must(t, admin.Do(ctxb, "POST", "/api/v1/sessions/demo-vt/launch", nil, &mid))
	if kidOf(t, mid.Token) != oldKID {
		t.Fatal("signing switched before the publish delay")
	}
	oldLogin := login(t, e, "admin", "admin-secret-1")
	if kidOf(t, oldLogin.Token) != oldKID {
		t.Fatal("login token not signed by the current key")
	}
	e.clock.Advance(11 * time.Minute)
	must(t, e.srv.maintainKeys())
	admin = e.adminClient()
	var nw LaunchResponse
	must(t, admin.Do(ctxb, "POST", "/api/v1/sessions/demo-vt/launch", nil, &nw))
	if kidOf(t, nw.Token) != next.KID {
		t.Fatal("signing did not switch after the publish delay")
	}
	// both verify with the verifier built before the switch and with a fresh one
	v2 := verifierFromServer(t, e)
	for _, tok := range []string{old.Token, nw.Token} {
		if _, err := v.Parse(tok); err != nil {
			t.Fatalf("pre-switch verifier: %v", err)
		}
		if _, err := v2.Parse(tok); err != nil {
			t.Fatalf("post-switch verifier: %v", err)
		}
	}
	// a login token signed by the old key still works
	must(t, oldLogin.Do(ctxb, "GET", "/api/v1/sessions", nil, nil))
	// once every old token has expired, the old key is removed
	e.clock.Advance(maxTokenLife + time.Second)
	must(t, e.srv.maintainKeys())
	kids := trustKIDs(t, e)
	if _, ok := kids[oldKID]; ok || len(kids) != 1 {
		t.Fatalf("old key still published: %v", kids)
	}
	if _, err := os.Stat(e.srv.signingKeyFile(oldKID)); !os.IsNotExist(err) {
		t.Fatalf("old private key file still there: %v", err)
	}
	// rotate --now switches immediately, old key retired but published
	admin = e.adminClient()
	k3, err := admin.RotateKey(ctxb, true)
	must(t, err)
	if k3.State != KeyCurrent || e.srv.keys.Load().current.kid != k3.KID {
		t.Fatalf("rotate now: %+v", k3)
	}
	if len(trustKIDs(t, e)) != 2 {
		t.Fatal("the retired key must stay published")
	}
	var jw JWKS
	must(t, admin.Do(ctxb, "GET", "/.well-known/jwks.json", nil, &jw))
	if len(jw.Keys) != 2 {
		t.Fatalf("JWKS has %d keys, want 2", len(jw.Keys))
	}
}

func trustKIDs(t *testing.T, e *testEnv) map[string]bool {
	t.Helper()
	_, _, body := e.raw(e.client(), "GET", "/api/v1/trust/mgmt.pem", nil, nil)
	ts, err := pki.ParseTrustStore(body)
	must(t, err)
	out := map[string]bool{}
	for _, c := range ts.Certificates() {
		out[pki.KID(c)] = true
	}
	return out
}

func kidOf(t *testing.T, tok string) string {
	t.Helper()
	h, _, _ := strings.Cut(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	must(t, err)
	var hdr struct{ Kid string }
	must(t, json.Unmarshal(b, &hdr))
	return hdr.Kid
}

func TestRestartKeepsState(t *testing.T) {
	e := newEnv(t)
	setupUsers(t, e)
	admin := e.adminClient()
	var sec Security
	must(t, admin.Do(ctxb, "PUT", "/api/v1/admin/security", map[string]any{"verify_server_identity": false, "token_ttl_s": 90}, &sec))
	_, key, err := e.srv.CreateAPIKey(ctxb, APIKeySpec{Name: "k", Destinations: []string{"*.example.com:*"}})
	must(t, err)
	rev := e.srv.Revision()
	before, err := e.srv.Export()
	must(t, err)
	e.restart()
	if e.srv.Revision() != rev {
		t.Fatalf("revision %d after restart, want %d", e.srv.Revision(), rev)
	}
	after, err := e.srv.Export()
	must(t, err)
	bj, _ := json.Marshal(before)
	aj, _ := json.Marshal(after)
	if !bytes.Equal(bj, aj) {
		t.Fatal("snapshot differs after restart")
	}
	alice := login(t, e, "alice", "alice-password")
	var lr LaunchResponse
	must(t, alice.Do(ctxb, "POST", "/api/v1/sessions/demo-vt/launch", nil, &lr))
	if lr.Proxy.VerifyServerIdentity {
		t.Fatal("security setting lost")
	}
	if got := lr.ExpiresAt.Sub(e.clock.Now()); got > 90*time.Second || got < 89*time.Second {
		t.Fatalf("token TTL %v, want the stored 90 s", got)
	}
	u, err := e.srv.User(ctxb, "alice")
	must(t, err)
	if len(u.Destinations) != 2 || u.Sessions[0] != "demo-vt" {
		t.Fatalf("alice: %+v", u)
	}
	k := e.client()
	k.Token = key
	must(t, k.Do(ctxb, "POST", "/api/v1/tokens", TokenRequest{Host: "x.example.com", Port: 23, Protocol: "telnet"}, nil))
	ad, _ := e.srv.User(ctxb, "admin")
	if len(ad.Sessions) != 2 {
		t.Fatalf("admin grants: %+v", ad)
	}
}

func TestBackupRestoreRoundTrip(t *testing.T) {
	e := newEnv(t)
	setupUsers(t, e)
	admin := e.adminClient()
	file := filepath.Join(t.TempDir(), "backup.db")
	f, err := os.Create(file)
	must(t, err)
	n, err := admin.Backup(ctxb, f)
	f.Close()
	must(t, err)
	if n == 0 {
		t.Fatal("empty backup")
	}
	rev := e.srv.Revision()
	// offline backup is refused while the server holds the store
	if _, err := BackupOffline(e.dir, file+".2"); !errorsIs(err, ErrStoreLocked) {
		t.Fatalf("offline backup of a running server: %v", err)
	}
	if _, err := Restore(e.dir, file); !errorsIs(err, ErrStoreLocked) {
		t.Fatalf("restore into a running server: %v", err)
	}
	// change things after the backup
	must(t, e.srv.DeleteSession(ctxb, "demo-vt"))
	must(t, e.srv.DeleteUser(ctxb, "alice"))
	e.stop()
	// a corrupt file is refused before anything changes
	bad := filepath.Join(t.TempDir(), "bad.db")
	os.WriteFile(bad, []byte("not a database at all, definitely not"), 0o600)
	if _, err := Restore(e.dir, bad); err == nil {
		t.Fatal("restore of a corrupt file succeeded")
	}
	got, err := Restore(e.dir, file)
	must(t, err)
	if got != rev {
		t.Fatalf("restored revision %d, want %d", got, rev)
	}
	// offline backup works on the stopped server
	if _, err := BackupOffline(e.dir, file+".offline"); err != nil {
		t.Fatalf("offline backup: %v", err)
	}
	e.start()
	if _, err := e.srv.Session(ctxb, "demo-vt"); err != nil {
		t.Fatalf("session after restore: %v", err)
	}
	login(t, e, "alice", "alice-password")
}

func TestAuditTrail(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	c.Login(ctxb, "admin", "nope-nope")
	admin := e.adminClient()
	must(t, admin.Do(ctxb, "PUT", "/api/v1/admin/users/carol", UserSpec{Password: "carol-password", Role: RoleUser}, nil))
	var out struct{ Events []AuditEvent }
	must(t, admin.Do(ctxb, "GET", "/api/v1/admin/audit?limit=10", nil, &out))
	if len(out.Events) < 3 {
		t.Fatalf("audit: %+v", out.Events)
	}
	top := out.Events[0]
	if top.Event != "user.put" || top.Actor != "admin" || !top.OK {
		t.Fatalf("latest audit event: %+v", top)
	}
	b, _ := json.Marshal(out)
	for _, secret := range []string{"carol-password", "admin-secret-1", "nope-nope", "argon2id"} {
		if bytes.Contains(b, []byte(secret)) {
			t.Fatalf("audit trail contains a secret (%s)", secret)
		}
	}
	var failed bool
	for _, ev := range out.Events {
		if ev.Event == "login" && !ev.OK && ev.Client == "127.0.0.1" {
			failed = true
		}
	}
	if !failed {
		t.Fatal("failed login not audited")
	}
}

func TestMetricsAndHealth(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	for _, p := range []string{"/healthz", "/readyz"} {
		if st, _, _ := e.raw(c, "GET", p, nil, nil); st != 200 {
			t.Fatalf("%s: %d", p, st)
		}
	}
	_, _, body := e.raw(c, "GET", "/metrics", nil, nil)
	for _, want := range []string{`termgate_mgmt_cert_expiry_seconds{cert="signing"`, `termgate_mgmt_cert_expiry_seconds{cert="tls"`, "termgate_mgmt_store_revision", "go_goroutines"} {
		if !bytes.Contains(body, []byte(want)) {
			t.Fatalf("metrics lack %s", want)
		}
	}
}

func TestAdminCRUD(t *testing.T) {
	e := newEnv(t)
	a := e.adminClient()
	var d SessionDef
	must(t, a.Do(ctxb, "PUT", "/api/v1/admin/sessions/ssh1", map[string]any{"protocol": "ssh", "host": "::1", "port": 22,
		"host_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl host"}, &d))
	if d.Host != "::1" || d.Terminal.Model != "xterm" {
		t.Fatalf("session: %+v", d)
	}
	err := a.Do(ctxb, "PUT", "/api/v1/admin/sessions/bad", map[string]any{"protocol": "ssh", "host": "h", "port": 22, "host_key": "nonsense"}, nil)
	wantStatus(t, err, 400, CodeBadRequest)
	err = a.Do(ctxb, "PUT", "/api/v1/admin/sessions/bad", map[string]any{"protocol": "telnet", "host": "127.1", "port": 23}, nil)
	wantStatus(t, err, 400, CodeBadRequest)
	err = a.Do(ctxb, "GET", "/api/v1/admin/sessions/none", nil, nil)
	wantStatus(t, err, 404, CodeNotFound)
	err = a.Do(ctxb, "PUT", "/api/v1/admin/users/dave", UserSpec{Role: RoleUser}, nil)
	wantStatus(t, err, 400, CodeBadRequest) // no password
	err = a.Do(ctxb, "PUT", "/api/v1/admin/users/dave", UserSpec{Password: "dave-password", Destinations: []string{"nope"}}, nil)
	wantStatus(t, err, 400, CodeBadRequest)
	err = a.Do(ctxb, "DELETE", "/api/v1/admin/users/admin", nil, nil)
	wantStatus(t, err, 409, CodeConflict) // the last admin
	err = a.Do(ctxb, "PUT", "/api/v1/admin/users/admin", UserSpec{Role: RoleUser}, nil)
	wantStatus(t, err, 409, CodeConflict)
	var u User
	must(t, a.Do(ctxb, "PUT", "/api/v1/admin/users/dave", UserSpec{Password: "dave-password", Sessions: []string{"ssh1"}}, &u))
	if u.Role != RoleUser || u.Name != "dave" {
		t.Fatalf("user: %+v", u)
	}
	var ul struct{ Users []map[string]any }
	must(t, a.Do(ctxb, "GET", "/api/v1/admin/users", nil, &ul))
	b, _ := json.Marshal(ul)
	if len(ul.Users) != 2 || bytes.Contains(b, []byte("argon2")) || bytes.Contains(b, []byte("password")) {
		t.Fatalf("users list: %s", b)
	}
	err = a.Do(ctxb, "PUT", "/api/v1/admin/security", map[string]any{"token_ttl_s": 0}, nil)
	wantStatus(t, err, 400, CodeBadRequest)
	err = a.Do(ctxb, "PUT", "/api/v1/admin/security", map[string]any{"allowed_networks": []string{"x"}}, nil)
	wantStatus(t, err, 400, CodeBadRequest)
	var sec Security
	must(t, a.Do(ctxb, "GET", "/api/v1/admin/security", nil, &sec))
	if !sec.VerifyServerIdentity || !sec.ClientAuthorization || sec.TokenTTLSeconds != 120 || sec.Audience != "termgate-proxy" {
		t.Fatalf("default security: %+v", sec)
	}
	must(t, a.Do(ctxb, "DELETE", "/api/v1/admin/users/dave", nil, nil))
	must(t, a.Do(ctxb, "DELETE", "/api/v1/admin/sessions/ssh1", nil, nil))
}

func TestCheckProxies(t *testing.T) {
	// a real TLS listener stands in for the proxy
	ca, _ := pki.NewCA(pki.CertSpec{})
	leaf, _ := ca.Issue(pki.CertSpec{CommonName: "p1", DNSNames: []string{"wrong.example.com"}, Usage: pki.UsageServer})
	ln := startTLS(t, leaf)
	_, port, _ := strings.Cut(ln, ":")
	e := newEnv(t, func(c *Config) { c.ProxyAddress = "127.0.0.1:" + port; c.ProxyServerName = "localhost" })
	rep := e.srv.CheckProxies(ctxb)
	if rep.OK || !strings.Contains(rep.Checks[0].Error, "no proxy is enrolled") {
		t.Fatalf("report without proxies: %+v", rep)
	}
	code, _, _ := e.srv.CreateEnrollCode(ctxb)
	_, err := e.srv.Enroll(ctxb, pki.EnrollRequest{Code: code, NodeID: "p1", Certificate: string(pki.EncodeCertPEM(leaf.Cert))})
	must(t, err)
	a := e.adminClient()
	rep, err = a.CheckProxies(ctxb)
	must(t, err)
	if rep.OK || len(rep.Checks) != 1 || !strings.Contains(rep.Checks[0].Error, `not valid for "localhost"`) ||
		!strings.Contains(rep.Checks[0].Error, "wrong.example.com") || rep.Checks[0].Node != "p1" {
		t.Fatalf("mismatch report: %+v", rep)
	}
	// with verify_server_identity off the name is not checked
	_, err = e.srv.UpdateSecurity(ctxb, SecurityPatch{VerifyServerIdentity: new(bool)})
	must(t, err)
	if rep = e.srv.CheckProxies(ctxb); !rep.OK {
		t.Fatalf("report with name check off: %+v", rep)
	}
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }

// startTLS serves TLS with cert on loopback until the test ends and returns its address.
func startTLS(t *testing.T, cert *pki.Cert) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert.TLSCertificate()}})
	must(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestNoSecretsInLog(t *testing.T) {
	var buf syncBuf
	e := newEnv(t, func(c *Config) { c.Logger = zerolog.New(&buf).Level(zerolog.DebugLevel) })
	setupUsers(t, e)
	c := e.client()
	c.Login(ctxb, "alice", "wrong-alice-pw")
	alice := login(t, e, "alice", "alice-password")
	var lr LaunchResponse
	must(t, alice.Do(ctxb, "POST", "/api/v1/sessions/demo-vt/launch", nil, &lr))
	_, key, err := e.srv.CreateAPIKey(ctxb, APIKeySpec{Name: "k", Destinations: []string{"*:*"}})
	must(t, err)
	k := e.client()
	k.Token = key
	var tr TokenResponse
	must(t, k.Do(ctxb, "POST", "/api/v1/tokens", TokenRequest{Host: "192.0.2.1", Port: 23, Protocol: "telnet"}, &tr))
	code, _, _ := e.srv.CreateEnrollCode(ctxb)
	e.client().Enroll(ctxb, pki.EnrollRequest{Code: code, NodeID: "x", Certificate: "garbage"})
	e.stop()
	log := buf.String()
	for name, secret := range map[string]string{"password": "alice-password", "wrong password": "wrong-alice-pw", "login token": alice.Token,
		"launch token": lr.Token, "api key": key, "api token": tr.Token, "enroll code": code, "hash": "argon2id"} {
		if strings.Contains(log, secret) {
			t.Errorf("log contains the %s", name)
		}
	}
	for _, want := range []string{`"event":"login"`, `"event":"launch"`, `"event":"token"`, `"jti":`, `"event":"user.put"`} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %s", want)
		}
	}
}

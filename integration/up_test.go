package integration

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/termgate/termgate/pki"
)

// upInstance is a running `termgate up` on free loopback ports.
type upInstance struct {
	Proc    *Proc
	Dir     string
	MgmtURL string
	Proxy   string
	Ops     string
	VT      string
	TN      string
}

func startUp(t *testing.T, dir string) *upInstance {
	t.Helper()
	bin := Binary(t)
	u := &upInstance{Dir: dir, Proxy: FreeAddr(t, "127.0.0.1"), Ops: FreeAddr(t, "127.0.0.1"),
		VT: FreeAddr(t, "127.0.0.1"), TN: FreeAddr(t, "127.0.0.1")}
	mgmt := FreeAddr(t, "127.0.0.1")
	u.MgmtURL = "https://" + mgmt
	p := Start(t, "termgate up", nil, bin, "up", "--data", filepath.Join(dir, "termgate-data"),
		"--mgmt-addr", mgmt, "--proxy-addr", u.Proxy, "--ops-addr", u.Ops,
		"--demo-vt-addr", u.VT, "--demo-3270-addr", u.TN, "--dtls-addr", freeUDPAddr(t, "127.0.0.1"),
		"--log-format", "json")
	p.Cmd.Dir = dir
	u.Proc = p
	line := p.WaitLine(t, "ready", 60*time.Second)
	if !strings.Contains(line, u.MgmtURL) || !strings.Contains(line, u.Proxy) {
		t.Fatalf("ready line %q does not name the addresses", line)
	}
	return u
}

func (u *upInstance) httpClient(t *testing.T) *http.Client {
	t.Helper()
	ca, err := pki.LoadTrustStore(filepath.Join(u.Dir, "termgate-data", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}}}
}

func postJSON(t *testing.T, c *http.Client, url, bearer string, in, out any) int {
	t.Helper()
	body, _ := json.Marshal(in)
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("POST %s: decode %s: %v", url, b, err)
		}
	}
	return resp.StatusCode
}

type launchResponse struct {
	Session struct {
		Name     string `json:"name"`
		Protocol string `json:"protocol"`
		Host     string `json:"host"`
		Port     int    `json:"port"`
	} `json:"session"`
	Proxy struct {
		Address              string `json:"address"`
		ServerName           string `json:"server_name"`
		VerifyServerIdentity *bool  `json:"verify_server_identity"`
	} `json:"proxy"`
	Token      string `json:"token"`
	ExpiresAt  string `json:"expires_at"`
	TrustStore string `json:"trust_store"`
}

func (u *upInstance) loginAndLaunch(t *testing.T, session string) launchResponse {
	t.Helper()
	c := u.httpClient(t)
	pw, err := os.ReadFile(filepath.Join(u.Dir, "termgate-data", "admin-password"))
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(u.Dir, "termgate-data", "admin-password")); fi.Mode().Perm() != 0o600 {
		t.Errorf("admin-password mode = %v, want 0600", fi.Mode().Perm())
	}
	var login struct {
		Token string `json:"token"`
	}
	if st := postJSON(t, c, u.MgmtURL+"/api/v1/login", "", map[string]string{"username": "admin", "password": strings.TrimSpace(string(pw))}, &login); st != 200 {
		t.Fatalf("login status %d", st)
	}
	var l launchResponse
	if st := postJSON(t, c, u.MgmtURL+"/api/v1/sessions/"+session+"/launch", login.Token, map[string]any{}, &l); st != 200 {
		t.Fatalf("launch status %d", st)
	}
	return l
}

// connectThroughProxy dials the proxy with only the launch's trust store,
// checks the returned server name, and sends the CONNECT with the token.
func connectThroughProxy(t *testing.T, l launchResponse) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, resp, br := connectRaw(t, l)
	if resp.StatusCode != 200 {
		t.Fatalf("CONNECT status %d, Termgate-Error %q", resp.StatusCode, resp.Header.Get("Termgate-Error"))
	}
	return conn, br
}

// connectRaw is connectThroughProxy without judging the response.
func connectRaw(t *testing.T, l launchResponse) (net.Conn, *http.Response, *bufio.Reader) {
	t.Helper()
	certs, err := pki.ParseCertsPEM([]byte(l.TrustStore))
	if err != nil {
		t.Fatalf("launch trust store: %v", err)
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	if l.Proxy.VerifyServerIdentity == nil || !*l.Proxy.VerifyServerIdentity {
		t.Fatalf("verify_server_identity = %v, want true by default", l.Proxy.VerifyServerIdentity)
	}
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second},
		Config: &tls.Config{RootCAs: pool, ServerName: l.Proxy.ServerName, MinVersion: tls.VersionTLS12}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := d.DialContext(ctx, "tcp", l.Proxy.Address)
	if err != nil {
		t.Fatalf("TLS to proxy %s (name %s): %v", l.Proxy.Address, l.Proxy.ServerName, err)
	}
	dst := net.JoinHostPort(l.Session.Host, fmt.Sprint(l.Session.Port))
	fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %s\r\nProxy-Authorization: Bearer %s\r\n\r\n", dst, dst, l.Token)
	conn.SetDeadline(time.Now().Add(15 * time.Second))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: "CONNECT"})
	if err != nil {
		t.Fatalf("CONNECT response: %v", err)
	}
	return conn, resp, br
}

// readUntil reads from r until the accumulated bytes contain want.
func readUntil(t *testing.T, r io.Reader, want string) string {
	t.Helper()
	var got bytes.Buffer
	buf := make([]byte, 4096)
	for !bytes.Contains(got.Bytes(), []byte(want)) {
		n, err := r.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			t.Fatalf("waiting for %q: %v; got %q", want, err, got.String())
		}
	}
	return got.String()
}

func TestUpEndToEnd(t *testing.T) {
	dir := t.TempDir()
	u := startUp(t, dir)

	l := u.loginAndLaunch(t, "demo-vt")
	if l.Session.Protocol != "telnet" {
		t.Errorf("demo-vt protocol = %q", l.Session.Protocol)
	}
	conn, br := connectThroughProxy(t, l)
	// The demo host speaks telnet: its first screen arrives through the tunnel.
	readUntil(t, br, "termgate demo host")
	conn.Close()

	// The same token again is a replay.
	c2, resp, _ := connectRaw(t, l)
	if resp.StatusCode != 407 || resp.Header.Get("Termgate-Error") != "token_replayed" {
		t.Errorf("replayed token: status %d code %q, want 407 token_replayed", resp.StatusCode, resp.Header.Get("Termgate-Error"))
	}
	c2.Close()

	// Ctrl-C stops it cleanly.
	u.Proc.Signal(syscall.SIGINT)
	err, done := u.Proc.Wait(30 * time.Second)
	if !done {
		t.Fatal("termgate up did not stop within 30 s of SIGINT")
	}
	if err != nil {
		t.Fatalf("termgate up exited with %v", err)
	}

	// A second run reuses the data: the same admin password still works.
	pw1, _ := os.ReadFile(filepath.Join(dir, "termgate-data", "admin-password"))
	u2 := startUp(t, dir)
	pw2, _ := os.ReadFile(filepath.Join(dir, "termgate-data", "admin-password"))
	if !bytes.Equal(pw1, pw2) {
		t.Error("second run changed the admin password")
	}
	l2 := u2.loginAndLaunch(t, "demo-vt")
	conn2, br2 := connectThroughProxy(t, l2)
	readUntil(t, br2, "termgate demo host")
	conn2.Close()
}

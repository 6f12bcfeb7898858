package mgmt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// fakeClock is a settable clock for tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Now()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// cheap argon2 parameters keep tests fast; the defaults are exercised in TestPasswordDefaults.
var testPassword = PasswordParams{Time: 1, MemoryKiB: 64, Threads: 1}

type testEnv struct {
	t      *testing.T
	dir    string
	init   *InitResult
	srv    *Server
	clock  *fakeClock
	cfg    Config
	caPEM  []byte
	cancel context.CancelFunc
	done   chan error
}

type envOption func(*Config)

func newEnv(t *testing.T, opts ...envOption) *testEnv {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	res, err := Init(dir, InitOptions{NodeID: "mgmt-a", Password: testPassword, AdminPassword: "admin-secret-1"})
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	e := &testEnv{t: t, dir: dir, init: res, clock: newFakeClock()}
	e.cfg = Config{DataDir: dir, Addr: "127.0.0.1:0", ProxyAddress: "proxy.example.com:443", Now: e.clock.Now,
		Password: testPassword, Logger: zerolog.Nop()}
	for _, o := range opts {
		o(&e.cfg)
	}
	e.caPEM, err = os.ReadFile(res.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	e.start()
	t.Cleanup(e.stop)
	return e
}

func (e *testEnv) start() {
	e.t.Helper()
	srv, err := New(e.cfg)
	if err != nil {
		e.t.Fatalf("New: %v", err)
	}
	e.srv = srv
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	e.done = make(chan error, 1)
	go func() { e.done <- srv.Serve(ctx) }()
}

func (e *testEnv) stop() {
	if e.srv == nil {
		return
	}
	e.cancel()
	if err := <-e.done; err != nil {
		e.t.Errorf("Serve: %v", err)
	}
	if err := e.srv.Close(); err != nil {
		e.t.Errorf("Close: %v", err)
	}
	e.srv = nil
}

func (e *testEnv) restart() {
	e.stop()
	e.start()
}

func (e *testEnv) client() *Client {
	e.t.Helper()
	c, err := NewClient(e.srv.URL(), e.caPEM)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(c.HTTP.CloseIdleConnections)
	return c
}

func (e *testEnv) adminClient() *Client {
	e.t.Helper()
	c := e.client()
	if _, err := c.Login(context.Background(), "admin", "admin-secret-1"); err != nil {
		e.t.Fatalf("admin login: %v", err)
	}
	return c
}

// raw sends a request and returns status, headers and body.
func (e *testEnv) raw(c *Client, method, path string, body []byte, hdr map[string]string) (int, http.Header, []byte) {
	e.t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL()+path, r)
	if err != nil {
		e.t.Fatal(err)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func wantStatus(t *testing.T, err error, status int, code string) *APIError {
	t.Helper()
	var ae *APIError
	if !errors.As(err, &ae) {
		t.Fatalf("got error %v, want HTTP %d %s", err, status, code)
	}
	if ae.Status != status || (code != "" && ae.Code != code) {
		t.Fatalf("got %d %s (%s), want %d %s", ae.Status, ae.Code, ae.Message, status, code)
	}
	return ae
}

func errCode(t *testing.T, body []byte) string {
	t.Helper()
	var eb errorBody
	if err := json.Unmarshal(body, &eb); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	return eb.Error.Code
}

var ctxb = context.Background()

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/termgate/termgate/mgmt"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader in different
// goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// freeUDPAddr returns a loopback UDP address that was free a moment ago.
func freeUDPAddr(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().String()
}

// background is a long-running command (mgmt serve, up) run in process.
type background struct {
	stdout, stderr *syncBuffer
	cancel         context.CancelFunc
	done           chan error
}

// startCLI runs args until ready appears in stdout, and stops it at cleanup.
func startCLI(t *testing.T, ready string, args ...string) *background {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b := &background{stdout: &syncBuffer{}, stderr: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	go func() { b.done <- Run(ctx, args, strings.NewReader(""), b.stdout, b.stderr) }()
	t.Cleanup(func() { b.stop(t) })
	deadline := time.After(60 * time.Second)
	for !strings.Contains(b.stdout.String(), ready) {
		select {
		case err := <-b.done:
			b.done <- err
			t.Fatalf("%v ended before %q (exit %d, %v)\nstdout:\n%s\nstderr:\n%s", args, ready, ExitCode(err), err, b.stdout, b.stderr)
		case <-deadline:
			t.Fatalf("%v: no %q within 60s\nstdout:\n%s\nstderr:\n%s", args, ready, b.stdout, b.stderr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	return b
}

// stop cancels the command and returns what Run returned; it fails the test
// if Run does not return within 15 s. Calling it again returns the same.
func (b *background) stop(t *testing.T) error {
	t.Helper()
	b.cancel()
	select {
	case err := <-b.done:
		b.done <- err
		return err
	case <-time.After(15 * time.Second):
		t.Fatalf("Run did not return within 15s of cancellation\nstderr:\n%s", b.stderr)
		return nil
	}
}

func TestMgmtInit(t *testing.T) {
	data := filepath.Join(t.TempDir(), "mgmt")
	r := runCLI(t, "mgmt", "init", "--data", data, "--node-id", "mgmt-a", "--tls-name", "mgmt.example.com", "--tls-name", "127.0.0.1")
	r.must(t, ExitOK, "initialised "+data, "node mgmt-a", filepath.Join(data, mgmt.CACertFile), filepath.Join(data, mgmt.AdminPasswordFile))
	if strings.Contains(r.stdout+r.stderr, readTrim(t, filepath.Join(data, mgmt.AdminPasswordFile))) {
		t.Error("init printed the admin password")
	}
	if m := fileMode(t, filepath.Join(data, mgmt.AdminPasswordFile)); m != 0o600 {
		t.Errorf("admin-password mode %v, want 0600", m)
	}
	if m := fileMode(t, filepath.Join(data, mgmt.StoreFile)); m != 0o600 {
		t.Errorf("store mode %v, want 0600", m)
	}
	if m := fileMode(t, data); m&0o077 != 0 {
		t.Errorf("data directory mode %v is open to others", m)
	}
	pw := readTrim(t, filepath.Join(data, mgmt.AdminPasswordFile))
	if len(pw) < 16 {
		t.Errorf("generated password %d characters long", len(pw))
	}
	// A second init changes nothing.
	runCLI(t, "mgmt", "init", "--data", data).must(t, ExitOK, "already initialised", "node mgmt-a", "nothing changed")
	if readTrim(t, filepath.Join(data, mgmt.AdminPasswordFile)) != pw {
		t.Error("second init changed the admin password")
	}
	runCLI(t, "mgmt", "init", "--data", data, "extra").must(t, ExitUsage)
}

func readTrim(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestMgmtOffline(t *testing.T) {
	data := filepath.Join(t.TempDir(), "mgmt")
	runCLI(t, "mgmt", "init", "--data", data, "--node-id", "mgmt-a").must(t, ExitOK)

	r := runCLI(t, "mgmt", "enroll-code", "--data", data)
	r.must(t, ExitOK)
	if code := strings.TrimSpace(r.stdout); code == "" || strings.Contains(code, "\n") {
		t.Errorf("enroll-code printed %q, want one code", r.stdout)
	}
	r.stderrHas(t, "single use, expires ")

	// No proxy address: a failure that says what to set.
	r = runCLI(t, "mgmt", "check-proxies", "--data", data)
	r.must(t, ExitFailure, "FAIL", "--proxy-address")
	// An address, but no proxy enrolled.
	r = runCLI(t, "mgmt", "check-proxies", "--data", data, "--proxy-address", freeAddr(t))
	r.must(t, ExitFailure, "FAIL", "no proxy is enrolled")

	t.Setenv(envMgmtNewPassword, "bob's long password")
	r = runCLI(t, "mgmt", "user", "set", "bob", "--data", data, "--role", "user", "--session", "demo-vt,demo-3270", "--destination", "10.0.0.0/8:23")
	r.must(t, ExitOK)
	var u mgmt.User
	if err := json.Unmarshal([]byte(r.stdout), &u); err != nil {
		t.Fatalf("user set output: %v\n%s", err, r.stdout)
	}
	if u.Name != "bob" || u.Role != "user" || strings.Join(u.Sessions, ",") != "demo-vt,demo-3270" || strings.Join(u.Destinations, ",") != "10.0.0.0/8:23" {
		t.Errorf("user %+v", u)
	}
	if strings.Contains(r.stdout, "bob's long password") {
		t.Error("user set printed the password")
	}
	runCLI(t, "mgmt", "user", "set", "carol", "--data", data, "--role", "emperor").must(t, ExitFailure)
	runCLI(t, "mgmt", "user", "set", "--data", data).must(t, ExitUsage)

	r = runCLI(t, "mgmt", "rotate-key", "--data", data, "--now")
	r.must(t, ExitOK, "new signing key ")
	r = runCLI(t, "mgmt", "rotate-key", "--data", data)
	r.must(t, ExitOK, "new signing key ")

	backup := filepath.Join(t.TempDir(), "offline.db")
	runCLI(t, "mgmt", "backup", backup, "--data", data).must(t, ExitOK, "wrote "+backup, "offline")
	if m := fileMode(t, backup); m != 0o600 {
		t.Errorf("backup mode %v, want 0600", m)
	}
	runCLI(t, "mgmt", "backup", "--data", data).must(t, ExitUsage)

	// An uninitialised data directory is a clear failure, not a new store.
	empty := filepath.Join(t.TempDir(), "none")
	r = runCLI(t, "mgmt", "enroll-code", "--data", empty)
	r.must(t, ExitFailure)
	if _, err := os.Stat(filepath.Join(empty, mgmt.StoreFile)); err == nil {
		t.Error("enroll-code created a store in an uninitialised directory")
	}
}

func TestMgmtServeAndAdminister(t *testing.T) {
	data := filepath.Join(t.TempDir(), "mgmt")
	addr := freeAddr(t)
	url := "https://" + addr
	dtls := freeUDPAddr(t)
	srv := startCLI(t, "ready ", "mgmt", "serve", "--data", data, "--addr", addr, "--dtls-addr", dtls, "--node-id", "mgmt-a", "--log-level", "warn")
	if out := srv.stdout.String(); !strings.Contains(out, "initialised "+data) || !strings.Contains(out, "ready "+url) || !strings.Contains(out, dtls) {
		t.Errorf("serve output:\n%s", out)
	}
	if m := fileMode(t, filepath.Join(data, mgmt.AdminPasswordFile)); m != 0o600 {
		t.Errorf("admin-password mode %v, want 0600", m)
	}
	remote := []string{"--data", data, "--addr", addr}

	// Every command finds the running server through --data and --addr and
	// logs in as admin with DATA/admin-password.
	r := runCLI(t, append([]string{"mgmt", "enroll-code"}, remote...)...)
	r.must(t, ExitOK)
	if code := strings.TrimSpace(r.stdout); code == "" || strings.Contains(code, "\n") {
		t.Errorf("enroll-code printed %q", r.stdout)
	}

	t.Setenv(envMgmtNewPassword, "alice's long password")
	r = runCLI(t, append([]string{"mgmt", "user", "set", "alice", "--role", "user", "--session", "demo-vt", "--session", "demo-3270"}, remote...)...)
	r.must(t, ExitOK, `"name":"alice"`, `"role":"user"`, `"sessions":["demo-vt","demo-3270"]`)
	// The new password works.
	c, err := mgmt.NewClient(url, []byte(readFile(t, filepath.Join(data, mgmt.CACertFile))))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Login(ctx, "alice", "alice's long password"); err != nil {
		t.Errorf("alice cannot log in with the password user set gave: %v", err)
	}
	// Without TERMGATE_NEW_PASSWORD, an update keeps the password.
	os.Unsetenv(envMgmtNewPassword)
	r = runCLI(t, append([]string{"mgmt", "user", "set", "alice", "--role", "admin"}, remote...)...)
	r.must(t, ExitOK, `"name":"alice"`, `"role":"admin"`)
	if _, err := c.Login(ctx, "alice", "alice's long password"); err != nil {
		t.Errorf("alice's password changed by an update without one: %v", err)
	}
	c.HTTP.CloseIdleConnections()

	r = runCLI(t, append([]string{"mgmt", "check-proxies"}, remote...)...)
	r.must(t, ExitFailure, "FAIL", "--proxy-address")

	r = runCLI(t, append([]string{"mgmt", "rotate-key", "--now"}, remote...)...)
	r.must(t, ExitOK, "new signing key ")
	if !regexp.MustCompile(`new signing key [A-Za-z0-9_-]{20,} \(current\)`).MatchString(r.stdout) {
		t.Errorf("rotate-key --now: %q, want a current key", r.stdout)
	}

	// An explicit --mgmt and --ca, with the password from TERMGATE_PASSWORD.
	other := t.TempDir()
	t.Setenv(envMgmtPassword, readTrim(t, filepath.Join(data, mgmt.AdminPasswordFile)))
	runCLI(t, "mgmt", "enroll-code", "--data", other, "--mgmt", url, "--ca", filepath.Join(data, mgmt.CACertFile)).must(t, ExitOK)
	// ... and without a trust for the server's certificate.
	r = runCLI(t, "mgmt", "enroll-code", "--data", other, "--mgmt", url)
	r.must(t, ExitFailure)
	r.stderrHas(t, "--ca")

	backup := filepath.Join(t.TempDir(), "online.db")
	r = runCLI(t, append([]string{"mgmt", "backup", backup}, remote...)...)
	r.must(t, ExitOK, "wrote "+backup)
	if fi, err := os.Stat(backup); err != nil || fi.Size() == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("backup file: %v, %v", fi, err)
	}
	if _, err := os.Stat(backup + ".part"); err == nil {
		t.Error("backup left its .part file")
	}

	// restore needs a stopped server.
	r = runCLI(t, "mgmt", "restore", backup, "--data", data)
	r.must(t, ExitFailure)
	r.stderrHas(t, "stop the server first")

	// A wrong admin password is a failure that names the login.
	t.Setenv(envMgmtPassword, "wrong password")
	r = runCLI(t, append([]string{"mgmt", "enroll-code"}, remote...)...)
	r.must(t, ExitFailure)
	r.stderrHas(t, "log in to "+url+" as admin")

	if err := srv.stop(t); err != nil {
		t.Fatalf("serve returned %v after cancellation, want nil (exit 0)\nstderr:\n%s", err, srv.stderr)
	}

	// Offline again: a change after the backup, then restore.
	t.Setenv(envMgmtNewPassword, "bob's long password")
	runCLI(t, "mgmt", "user", "set", "bob", "--data", data).must(t, ExitOK, `"name":"bob"`)
	r = runCLI(t, "mgmt", "restore", backup, "--data", data)
	r.must(t, ExitOK, "restored "+backup, "revision ", ".before-restore")
	s, err := mgmt.Open(mgmt.Config{DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.User(ctx, "alice"); err != nil {
		t.Errorf("alice after restore: %v", err)
	}
	if _, err := s.User(ctx, "bob"); err == nil {
		t.Error("bob, added after the backup, survived the restore")
	}
	s.Close()

	// A file that is not a store is refused and the store is untouched.
	before := readFile(t, filepath.Join(data, mgmt.StoreFile))
	junk := filepath.Join(t.TempDir(), "junk.db")
	os.WriteFile(junk, []byte("not a bbolt file"), 0o600)
	runCLI(t, "mgmt", "restore", junk, "--data", data).must(t, ExitFailure)
	if readFile(t, filepath.Join(data, mgmt.StoreFile)) != before {
		t.Error("a refused restore changed the store")
	}
	// A backup of another node is refused.
	otherData := filepath.Join(t.TempDir(), "mgmt-b")
	runCLI(t, "mgmt", "init", "--data", otherData, "--node-id", "mgmt-b").must(t, ExitOK)
	r = runCLI(t, "mgmt", "restore", backup, "--data", otherData)
	r.must(t, ExitFailure)
	r.stderrHas(t, "mgmt-a", "mgmt-b")
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestMgmtServeBadAddr(t *testing.T) {
	data := filepath.Join(t.TempDir(), "mgmt")
	r := runCLI(t, "mgmt", "serve", "--data", data, "--addr", "nonsense")
	r.must(t, ExitUsage)
	r.stderrHas(t, "--addr", "nonsense")
	if _, err := os.Stat(data); err == nil {
		t.Error("a usage error initialised the data directory")
	}
	// A busy address is a failure that names it, and returns.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	err = Run(ctx, []string{"mgmt", "serve", "--data", data, "--addr", busy.Addr().String(), "--dtls-addr", freeUDPAddr(t)}, strings.NewReader(""), &out, &errb)
	if ExitCode(err) != ExitFailure || ctx.Err() != nil {
		t.Fatalf("serve on a busy address: exit %d, %v", ExitCode(err), err)
	}
	if !strings.Contains(errb.String(), busy.Addr().String()) {
		t.Errorf("stderr does not name the address: %s", errb.String())
	}
}

package mgmt

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/rs/zerolog"
	bolt "go.etcd.io/bbolt"

	"github.com/termgate/termgate/internal/testpeer"
)

// logLines returns the JSON log lines at level whose message contains msg.
func logLines(t *testing.T, log, level, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
		var m map[string]any
		if line == "" || json.Unmarshal([]byte(line), &m) != nil {
			continue
		}
		if m["level"] == level && strings.Contains(fmt.Sprint(m["message"]), msg) {
			out = append(out, m)
		}
	}
	return out
}

// TestStorageFullAnswer injects ENOSPC into a write transaction: bbolt rolls
// it back, the error is a *StorageFullError that still matches
// syscall.ENOSPC, the API answers 507 storage_full naming the data
// directory, and the condition is logged once per episode.
func TestStorageFullAnswer(t *testing.T) {
	var buf syncBuf
	e := newEnv(t, func(c *Config) { c.Logger = zerolog.New(&buf) })
	st := e.srv.st
	rev := st.revision()
	enospc := &os.PathError{Op: "write", Path: filepath.Join(e.dir, StoreFile), Err: syscall.ENOSPC}

	err := st.update(func(tx *bolt.Tx) error {
		if err := putJSON(tx, bSessions, []byte("lost"), SessionDef{Name: "lost"}); err != nil {
			return err
		}
		return fmt.Errorf("commit: %w", enospc)
	})
	var sf *StorageFullError
	if !errors.As(err, &sf) || !errors.Is(err, ErrStorageFull) || !errors.Is(err, syscall.ENOSPC) || sf.Dir != e.dir {
		t.Fatalf("write on a full disk: %v (%T), want a StorageFullError for %s matching ENOSPC", err, err, e.dir)
	}
	if st.revision() != rev {
		t.Errorf("revision %d after a failed write, want %d", st.revision(), rev)
	}
	if _, err := e.srv.Session(ctxb, "lost"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the failed write's session is visible: %v", err)
	}
	if err := st.updateLocal(func(*bolt.Tx) error { return enospc }); !errors.Is(err, ErrStorageFull) {
		t.Errorf("local write: %v, want ErrStorageFull", err)
	}

	rec := httptest.NewRecorder()
	e.srv.fail(rec, httptest.NewRequest("PUT", "/api/v1/admin/sessions/x", nil), err)
	var body errorBody
	if rec.Code != http.StatusInsufficientStorage || json.Unmarshal(rec.Body.Bytes(), &body) != nil || body.Error.Code != CodeStorageFull {
		t.Fatalf("answer %d %s, want 507 %s", rec.Code, rec.Body, CodeStorageFull)
	}
	if msg := body.Error.Message; !strings.Contains(msg, e.dir) || !strings.Contains(msg, "free space") || !strings.Contains(msg, "disk") {
		t.Errorf("message %q does not name the data directory and say to free space", msg)
	}
	if other := toAPIError(errors.New("boom")); other.Status != 500 {
		t.Errorf("an unrelated error maps to %d", other.Status)
	}

	full := logLines(t, buf.String(), "error", "disk holding the data directory is full")
	if len(full) != 1 || full[0]["path"] != e.dir || full[0]["code"] != CodeStorageFull {
		t.Fatalf("disk-full log lines %v, want one naming path %s:\n%s", full, e.dir, buf.String())
	}
	if n := len(logLines(t, buf.String(), "error", "request failed")); n != 0 {
		t.Errorf("%d request-failed lines besides the disk-full one", n)
	}

	must(t, e.srv.PutSession(ctxb, "after", SessionDef{Protocol: "telnet", Host: "10.0.0.1", Port: 23}))
	if n := len(logLines(t, buf.String(), "info", "writes succeed again")); n != 1 {
		t.Errorf("%d recovery lines, want 1", n)
	}
	st.writeErr(enospc) // a new episode is logged again
	if n := len(logLines(t, buf.String(), "error", "disk holding the data directory is full")); n != 2 {
		t.Errorf("%d disk-full lines after a second episode, want 2", n)
	}
}

// TestStorageFullOnRealDisk runs a server on a 2 MiB tmpfs, fills it, and
// checks the API's answer, the log, that acknowledged writes survive a
// reopen and that writes work again once space returns.
func TestStorageFullOnRealDisk(t *testing.T) {
	if testing.Short() {
		t.Skip("mounts a tmpfs; skipped in -short mode")
	}
	testpeer.Require(t, "mount", "mount")
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt).CombinedOutput(); err != nil {
		msg := fmt.Sprintf("cannot mount a small tmpfs (needs root or CAP_SYS_ADMIN): %v %s", err, strings.TrimSpace(string(out)))
		if testpeer.InCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })

	dir := filepath.Join(mnt, "data")
	if _, err := Init(dir, InitOptions{NodeID: "mgmt-full", Password: testPassword, AdminPassword: "admin-secret-1"}); err != nil {
		t.Fatal(err)
	}
	var buf syncBuf
	srv, err := Open(Config{DataDir: dir, ProxyAddress: "proxy.example.com:443", Password: testPassword, Logger: zerolog.New(&buf)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Close() }()
	tok, _, _, err := srv.Login(ctxb, "admin", "admin-secret-1", "127.0.0.1")
	must(t, err)
	h := srv.Handler()
	def := func(i int) SessionDef {
		return SessionDef{Protocol: "telnet", Host: "10.0.0.1", Port: 23, Description: strings.Repeat(fmt.Sprint(i%10), 1000)}
	}
	put := func(name string, i int) *httptest.ResponseRecorder {
		b, _ := json.Marshal(def(i))
		req := httptest.NewRequest("PUT", "/api/v1/admin/sessions/"+name, strings.NewReader(string(b)))
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	acked := map[string]bool{}
	for i := range 5 {
		name := fmt.Sprintf("before-%d", i)
		if rec := put(name, i); rec.Code != 200 {
			t.Fatalf("write before the disk is full: %d %s", rec.Code, rec.Body)
		}
		acked[name] = true
	}

	filler := filepath.Join(mnt, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for _, n := range []int{len(chunk), 4096, 512, 1} {
		for {
			if _, err := f.Write(chunk[:n]); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("filling the disk: %v", err)
				}
				break
			}
		}
	}
	f.Close()

	var failed *httptest.ResponseRecorder
	for i := range 200 {
		name := fmt.Sprintf("full-%d", i)
		rec := put(name, i)
		if rec.Code == 200 {
			acked[name] = true // space bbolt had already reserved
			continue
		}
		failed = rec
		break
	}
	if failed == nil {
		t.Fatal("200 writes on a full disk all succeeded")
	}
	t.Logf("write on a full disk (%d acknowledged before): %d %s", len(acked)-5, failed.Code, strings.TrimSpace(failed.Body.String()))
	var body errorBody
	if failed.Code != http.StatusInsufficientStorage || json.Unmarshal(failed.Body.Bytes(), &body) != nil || body.Error.Code != CodeStorageFull ||
		!strings.Contains(body.Error.Message, dir) {
		t.Fatalf("write on a full disk: %d %s, want 507 storage_full naming %s", failed.Code, failed.Body, dir)
	}
	err = srv.PutSession(ctxb, "direct", def(3))
	if err == nil {
		acked["direct"] = true
	} else if !errors.Is(err, ErrStorageFull) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("PutSession on a full disk: %v, want ErrStorageFull and ENOSPC", err)
	}
	put("again", 4) // refused once more: not logged again
	if lines := logLines(t, buf.String(), "error", "disk holding the data directory is full"); len(lines) != 1 || lines[0]["path"] != dir {
		t.Errorf("disk-full log lines %v, want one naming %s", lines, dir)
	}

	must(t, os.Remove(filler))
	if rec := put("after", 7); rec.Code != 200 {
		t.Fatalf("write after space returned: %d %s", rec.Code, rec.Body)
	}
	acked["after"] = true
	must(t, srv.Close())

	if _, err := validateStoreFile(filepath.Join(dir, StoreFile)); err != nil {
		t.Fatalf("store after a full disk: %v", err)
	}
	srv, err = Open(Config{DataDir: dir, Password: testPassword})
	must(t, err)
	defs, err := srv.Sessions(ctxb)
	must(t, err)
	got := map[string]bool{}
	for _, d := range defs {
		got[d.Name] = true
	}
	for name := range acked {
		if !got[name] {
			t.Errorf("acknowledged session %s is missing after reopening", name)
		}
	}
}

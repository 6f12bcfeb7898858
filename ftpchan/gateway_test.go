package ftpchan

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/termgate/termgate/emulator"
)

func identity(s string) string { return s }

func dialClient(t testing.TB, opts emulator.DialOptions, cfg ClientConfig) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := DialProxy(ctx, opts, cfg)
	if err != nil {
		t.Fatalf("DialProxy: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func randomBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for k := 0; k < 8; k++ {
			b[i+k] = byte(v >> (8 * k))
		}
	}
	for i := n - n%8; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

func retrAll(t testing.TB, c *Client, path string) []byte {
	t.Helper()
	r, err := c.Retr(path)
	if err != nil {
		t.Fatalf("Retr %s: %v", path, err)
	}
	b, err := io.ReadAll(r)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("Retr %s: %v", path, err)
	}
	return b
}

// roundTrip uploads and downloads n files of random sizes up to max bytes
// and checks their SHA-256.
func roundTrip(t *testing.T, c *Client, n, max int, seed uint64) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	sums := map[string][32]byte{}
	for i := 0; i < n; i++ {
		size := r.IntN(max + 1)
		if i == 0 {
			size = 0
		}
		data := randomBytes(r, size)
		name := fmt.Sprintf("f%02d.bin", i)
		if err := c.Stor(name, bytes.NewReader(data)); err != nil {
			t.Fatalf("Stor %s (%d bytes): %v", name, size, err)
		}
		sums[name] = sha256.Sum256(data)
	}
	for name, want := range sums {
		got := sha256.Sum256(retrAll(t, c, name))
		if got != want {
			t.Fatalf("%s: SHA-256 of the download differs from the upload", name)
		}
	}
}

func TestVsftpdTransfersThroughGateway(t *testing.T) {
	v := startVsftpd(t, vsftpdOptions{})
	f := newFront(t, Config{}, frontOptions{}, identity)
	var events []Event
	var mu sync.Mutex
	c := dialClient(t, dialOpts(t, v.addr, f.addr()), ClientConfig{OnEvent: func(e Event) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}})
	roundTrip(t, c, 20, 4<<20, 1)

	// The usual operations work unchanged.
	if err := c.MakeDir("sub"); err != nil {
		t.Fatalf("MakeDir: %v", err)
	}
	if err := c.Rename("f01.bin", "sub/moved.bin"); err != nil {
		t.Fatalf("Rename: %v", err)
	}
	size, err := c.FileSize("sub/moved.bin")
	if err != nil {
		t.Fatalf("FileSize: %v", err)
	}
	full := retrAll(t, c, "sub/moved.bin")
	if int64(len(full)) != size {
		t.Fatalf("FileSize = %d, download has %d bytes", size, len(full))
	}
	if size > 10 {
		r, err := c.RetrFrom("sub/moved.bin", 10)
		if err != nil {
			t.Fatalf("RetrFrom: %v", err)
		}
		tail, _ := io.ReadAll(r)
		r.Close()
		if !bytes.Equal(tail, full[10:]) {
			t.Fatalf("RetrFrom(10) returned %d bytes, want the %d after offset 10", len(tail), len(full)-10)
		}
	}
	entries, err := c.List("")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	names := map[string]bool{}
	for _, e := range entries {
		names[e.Name] = true
	}
	if !names["sub"] || !names["f02.bin"] || names["f01.bin"] {
		t.Fatalf("List = %v", names)
	}
	if err := c.Delete("f02.bin"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := os.Stat(filepath.Join(v.root, "f02.bin")); !os.IsNotExist(err) {
		t.Fatalf("f02.bin still on the server after Delete: %v", err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		mu.Lock()
		n := 0
		for _, e := range events {
			if e.Type == EventDataReady && e.Port > 0 {
				n++
			}
		}
		mu.Unlock()
		if n >= 40 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d data-ready notifications, want at least 40 (one per transfer)", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDownloadCutByNodeFailure: when the node carrying a data channel dies
// mid-download, the download fails with ErrProxyLost, even if the server
// had handed over the whole file and reports success: a short file never
// passes for complete.
func TestDownloadCutByNodeFailure(t *testing.T) {
	v := startVsftpd(t, vsftpdOptions{})
	f := newFront(t, Config{}, frontOptions{cutData: 64 << 10}, identity)
	c := dialClient(t, dialOpts(t, v.addr, f.addr()), ClientConfig{})
	data := randomBytes(rand.New(rand.NewPCG(3, 4)), 1<<20)
	if err := c.Stor("whole.bin", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	r, err := c.Retr("whole.bin")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	if len(got) >= len(data) {
		t.Fatalf("the front passed %d bytes, more than it should have", len(got))
	}
	if !errors.Is(err, emulator.ErrProxyLost) {
		t.Errorf("cut download: %d of %d bytes, err = %v; want ErrProxyLost", len(got), len(data), err)
	}
}

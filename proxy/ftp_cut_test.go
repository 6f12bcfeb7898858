package proxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/termgate/termgate/ftpchan"
	"github.com/termgate/termgate/internal/testpeer"
)

// cutReader yields n bytes, then calls cut and fails, as a client that
// dies in the middle of an upload.
type cutReader struct {
	n   int
	cut func()
}

func (r *cutReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		r.cut()
		return 0, errors.New("the client died")
	}
	n := min(len(p), r.n)
	clear(p[:n])
	r.n -= n
	return n, nil
}

// TestFTPUploadCutByClient: when the client's data connection ends in the
// middle of an upload without TLS's closing alert (the client died, the
// network failed), the FTP server sees its data connection fail, not end,
// and answers 426 instead of storing a cut file as complete. Through one
// node and through a node that forwards the channel to the owner.
func TestFTPUploadCutByClient(t *testing.T) {
	ftpd := testpeer.StartVsftpd(t, testpeer.VsftpdOptions{})
	keys := [][]byte{ticketKey(t)}
	a, b := twoNodes(t, func(c *Config) { c.FTPTicketKeys = keys })
	for _, tc := range []struct {
		name string
		rest []string // where channels go
	}{
		{"one node", nil},
		{"forwarded", []string{b.Addr().String()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := ftpOpts(t, ftpd.Addr, true, a.Addr().String(), tc.rest...)
			var mu sync.Mutex
			var conns []net.Conn
			dial := opts.DialContext
			opts.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
				c, err := dial(ctx, network, addr)
				if err == nil {
					mu.Lock()
					conns = append(conns, c)
					mu.Unlock()
				}
				return c, err
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, err := ftpchan.DialProxy(ctx, opts, ftpchan.ClientConfig{Timeout: 20 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Stor("whole.bin", bytes.NewReader(make([]byte, 1<<20))); err != nil {
				t.Fatalf("a whole upload: %v", err)
			}
			// The data connection is the last one dialled when the reader runs.
			cut := func() {
				mu.Lock()
				defer mu.Unlock()
				conns[len(conns)-1].Close() // TCP only: no closing alert
			}
			err = c.Stor("cut.bin", &cutReader{n: 256 << 10, cut: cut})
			var reply *textproto.Error
			if !errors.As(err, &reply) || reply.Code != 426 {
				t.Errorf("cut upload: %v; want the server's 426 (it must not take the cut file as complete)", err)
			}
			if fi, err := os.Stat(filepath.Join(ftpd.Root, "whole.bin")); err != nil || fi.Size() != 1<<20 {
				t.Errorf("the whole upload: %v %v", fi, err)
			}
			// The session goes on.
			if err := c.Stor("after.bin", io.LimitReader(bytes.NewReader(make([]byte, 4096)), 4096)); err != nil {
				t.Errorf("an upload after the cut one: %v", err)
			}
		})
	}
}

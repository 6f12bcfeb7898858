package proxy

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/termgate/termgate/emulator"
	"github.com/termgate/termgate/pki"
	"github.com/termgate/termgate/token"
)

// TestSessionEndIsClean: when the host ends a session, or the proxy ends it
// (idle timeout), the client reads the end of stream after TLS's closing
// alert, so the SDK can tell it from a lost proxy node (ErrProxyLost).
func TestSessionEndIsClean(t *testing.T) {
	f := getFixture(t)
	s := startServer(t, func(c *Config) { c.IdleTimeout = 300 * time.Millisecond })
	bye := tcpServer(t, func(c net.Conn) { c.Write([]byte("bye")) })
	silent := tcpServer(t, func(c net.Conn) { io.Copy(io.Discard, c) })

	read := func(dst string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := emulator.DialProxy(ctx, emulator.DialOptions{
			ProxyAddr: s.Addr().String(), ServerName: "127.0.0.1", Trust: pki.NewTrustStore(f.ca.Cert.Cert),
			Token: emulator.Secret(f.token(t, token.Request{Dst: dst})), Target: dst,
		})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		b, err := io.ReadAll(conn)
		return string(b), err
	}
	if got, err := read(bye); got != "bye" || err != nil {
		t.Errorf("host closed: read %q, %v; want \"bye\" and a clean end", got, err)
	}
	if got, err := read(silent); got != "" || err != nil {
		t.Errorf("idle timeout: read %q, %v; want a clean end", got, err)
	}
}

package token

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"sync"
	"testing"
	"time"
)

// handshakeState completes one TLS handshake over an in-process pipe and
// returns the client's connection state.
func handshakeState(t *testing.T, f *fixture, srv *tls.Config) tls.ConnectionState {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	deadline := time.Now().Add(10 * time.Second)
	a.SetDeadline(deadline)
	b.SetDeadline(deadline)
	s := tls.Server(b, srv)
	var wg sync.WaitGroup
	wg.Add(1)
	var serr error
	go func() {
		defer wg.Done()
		serr = s.Handshake()
	}()
	roots := x509.NewCertPool()
	roots.AddCert(f.ca.Cert.Cert)
	c := tls.Client(a, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
	err := c.Handshake()
	wg.Wait()
	if err != nil || serr != nil {
		t.Fatalf("handshake: client %v, server %v", err, serr)
	}
	return c.ConnectionState()
}

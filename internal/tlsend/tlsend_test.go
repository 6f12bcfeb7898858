package tlsend_test

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/termgate/termgate/internal/tlsend"
	"github.com/termgate/termgate/pki"
)

// pair returns a TLS client over a tlsend.Conn and the server's TLS and
// TCP connections.
func pair(t *testing.T) (*tls.Conn, *tlsend.Conn, *tls.Conn) {
	t.Helper()
	ca, err := pki.NewCA(pki.CertSpec{CommonName: "tlsend test CA"})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(pki.CertSpec{CommonName: "server", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Usage: pki.UsageServer})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{leaf.TLSCertificate()}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan *tls.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		tc := c.(*tls.Conn)
		tc.SetDeadline(time.Now().Add(10 * time.Second))
		if tc.Handshake() != nil {
			tc.Close()
			accepted <- nil
			return
		}
		accepted <- tc
	}()
	tcp, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	raw := tlsend.New(tcp)
	client := tls.Client(raw, &tls.Config{RootCAs: pki.NewTrustStore(ca.Cert.Cert).Pool(), ServerName: "127.0.0.1"})
	client.SetDeadline(time.Now().Add(10 * time.Second))
	if err := client.Handshake(); err != nil {
		t.Fatal(err)
	}
	server := <-accepted
	if server == nil {
		t.Fatal("server handshake failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, raw, server
}

func TestCleanEnd(t *testing.T) {
	for _, how := range []string{"Close", "CloseWrite"} {
		client, raw, server := pair(t)
		server.Write([]byte("data"))
		if how == "Close" {
			server.Close()
		} else {
			server.CloseWrite()
		}
		b, err := io.ReadAll(client)
		if string(b) != "data" || err != nil || raw.Abrupt(io.EOF) {
			t.Errorf("%s: read %q, %v, abrupt %v; want the data and a clean end", how, b, err, raw.Abrupt(io.EOF))
		}
	}
}

func TestAbruptEnd(t *testing.T) {
	client, raw, server := pair(t)
	server.Write([]byte("data"))
	server.NetConn().Close() // no closing alert
	b, err := io.ReadAll(client)
	if string(b) != "data" || err != nil {
		t.Fatalf("read %q, %v", b, err)
	}
	// io.ReadAll hides io.EOF: read once more for the error itself.
	_, err = client.Read(make([]byte, 1))
	if !errors.Is(err, io.EOF) || !raw.Abrupt(err) {
		t.Errorf("Read = %v, Abrupt = %v; want io.EOF and true", err, raw.Abrupt(err))
	}
	if raw.Abrupt(errors.New("other")) {
		t.Error("Abrupt is true for an error other than io.EOF")
	}
}

// TestArmed: armed, the TLS connection reports an abrupt end as ErrAbrupt,
// and a clean end still as io.EOF.
func TestArmed(t *testing.T) {
	client, raw, server := pair(t)
	if !tlsend.Arm(client) {
		t.Fatal("Arm found no Conn under the TLS connection")
	}
	server.Write([]byte("data"))
	server.NetConn().Close()
	b, err := io.ReadAll(client)
	if string(b) != "data" || !errors.Is(err, tlsend.ErrAbrupt) || !errors.Is(err, io.ErrUnexpectedEOF) || !raw.Abrupt(err) {
		t.Errorf("abrupt end: read %q, %v; want the data and ErrAbrupt", b, err)
	}

	client, _, server = pair(t)
	tlsend.Arm(client)
	server.Write([]byte("data"))
	server.Close()
	if b, err := io.ReadAll(client); string(b) != "data" || err != nil {
		t.Errorf("clean end, armed: read %q, %v; want the data and io.EOF", b, err)
	}
}

package proxy

import (
	"crypto/tls"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/termgate/termgate/token"
)

// sinkHost reads and discards everything; each connection first answers one
// byte so set-up benchmarks see a full round trip.
func sinkHost(b *testing.B) string {
	return tcpServer(b, func(c net.Conn) {
		c.Write([]byte{1})
		io.Copy(io.Discard, c)
	})
}

// plainRelay is the baseline: crypto/tls in front, io.Copy both ways to a
// fixed host, no request, no token.
func plainRelay(b *testing.B, host string) string {
	f := getFixture(b)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{*f.tlsCert()}, MinVersion: tls.VersionTLS12})
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	b.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				up, err := net.Dial("tcp", host)
				if err != nil {
					return
				}
				defer up.Close()
				done := make(chan struct{})
				go func() { io.Copy(c, up); close(done) }()
				io.Copy(up, c)
				up.(*net.TCPConn).CloseWrite()
				<-done
			}()
		}
	}()
	return ln.Addr().String()
}

func benchProxy(b *testing.B) *testServer {
	return startServer(b, func(c *Config) { c.MaxSessionsPerSubject = -1; c.OpsListen = "-" })
}

func throughput(b *testing.B, c *tls.Conn, first io.Reader) {
	buf := make([]byte, 64<<10)
	one := make([]byte, 1)
	if _, err := io.ReadFull(first, one); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	c.Close()
}

func BenchmarkThroughput(b *testing.B) {
	f := getFixture(b)
	host := sinkHost(b)
	b.Run("proxy", func(b *testing.B) {
		s := benchProxy(b)
		r := connect(b, s.Addr().String(), host, bearer(f.token(b, token.Request{Dst: host})), nil)
		if r.status != 200 {
			b.Fatal(r.status)
		}
		r.conn.SetDeadline(time.Time{})
		throughput(b, r.conn, r.br)
	})
	b.Run("plain-tls-io.Copy", func(b *testing.B) {
		addr := plainRelay(b, host)
		c, err := tlsDial(addr)
		if err != nil {
			b.Fatal(err)
		}
		throughput(b, c, c)
	})
}

func BenchmarkConnectSetup(b *testing.B) {
	f := getFixture(b)
	host := sinkHost(b)
	b.Run("proxy", func(b *testing.B) {
		s := benchProxy(b)
		toks := make([]string, b.N)
		for i := range toks {
			toks[i] = f.token(b, token.Request{Dst: host})
		}
		req := []byte("CONNECT " + host + " HTTP/1.1\r\nProxy-Authorization: Bearer ")
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			c, err := tlsDial(s.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			c.Write(append(append(append([]byte{}, req...), toks[i]...), "\r\n\r\n"...))
			r := readResponse(b, c)
			if r.status != 200 {
				b.Fatalf("%d %s", r.status, r.body)
			}
			if _, err := io.ReadFull(r.br, make([]byte, 1)); err != nil {
				b.Fatal(err)
			}
			c.Close()
		}
	})
	b.Run("plain-tls-io.Copy", func(b *testing.B) {
		addr := plainRelay(b, host)
		for i := 0; i < b.N; i++ {
			c, err := tlsDial(addr)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
				b.Fatal(err)
			}
			c.Close()
		}
	})
}

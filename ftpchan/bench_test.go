package ftpchan

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"
)

// BenchmarkRetr compares a 16 MiB download through the gateway (client
// TLS tunnel + ALG + relay) with the same download straight from vsftpd,
// in the same run. Report the ratio of the MB/s figures.
func BenchmarkRetr(b *testing.B) {
	v := startVsftpd(b, vsftpdOptions{})
	const size = 16 << 20
	data := randomBytes(rand.New(rand.NewPCG(5, 5)), size)
	direct, err := ftp.Dial(v.addr, ftp.DialWithTimeout(5*time.Second))
	if err != nil {
		b.Fatal(err)
	}
	defer direct.Quit()
	if err := direct.Login("anonymous", "x@"); err != nil {
		b.Fatal(err)
	}
	if err := direct.Stor("bench.bin", bytes.NewReader(data)); err != nil {
		b.Fatal(err)
	}
	run := func(b *testing.B, retr func(string) (*ftp.Response, error)) {
		b.SetBytes(size)
		for b.Loop() {
			r, err := retr("bench.bin")
			if err != nil {
				b.Fatal(err)
			}
			n, err := io.Copy(io.Discard, r)
			r.Close()
			if err != nil || n != size {
				b.Fatalf("read %d bytes: %v", n, err)
			}
		}
	}
	b.Run("direct", func(b *testing.B) { run(b, direct.Retr) })
	b.Run("gateway", func(b *testing.B) {
		f := newFront(b, Config{}, frontOptions{}, identity)
		c := dialClient(b, dialOpts(b, v.addr, f.addr()), ClientConfig{NoNotify: true})
		run(b, c.Retr)
	})
	b.Run("gateway-stor", func(b *testing.B) {
		f := newFront(b, Config{}, frontOptions{}, identity)
		c := dialClient(b, dialOpts(b, v.addr, f.addr()), ClientConfig{NoNotify: true})
		b.SetBytes(size)
		for b.Loop() {
			if err := c.Stor("up.bin", bytes.NewReader(data)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("direct-stor", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			if err := direct.Stor("up.bin", bytes.NewReader(data)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

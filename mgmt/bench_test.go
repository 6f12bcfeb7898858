package mgmt

import (
	"bytes"
	"context"
	"crypto/tls"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/termgate/termgate/pki"
	"github.com/termgate/termgate/token"
)

// BenchmarkTokensHTTP measures POST /api/v1/tokens with an API key over
// HTTPS with keep-alive, from parallel clients (b.RunParallel: GOMAXPROCS
// goroutines × -cpu; use -cpu=8 for more clients).
func BenchmarkTokensHTTP(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "d")
	if _, err := Init(dir, InitOptions{NodeID: "bench", Password: testPassword}); err != nil {
		b.Fatal(err)
	}
	srv, err := New(Config{DataDir: dir, Addr: "127.0.0.1:0", ProxyAddress: "p:443", Logger: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	defer func() { cancel(); <-done; srv.Close() }()
	_, key, err := srv.CreateAPIKey(ctx, APIKeySpec{Name: "bench", Destinations: []string{"10.0.0.0/8:*"}})
	if err != nil {
		b.Fatal(err)
	}
	ts, _ := pki.ParseTrustStore(srv.TLSTrust())
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ts.Pool(), MinVersion: tls.VersionTLS12}, MaxIdleConnsPerHost: 256}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	body := []byte(`{"host":"10.1.2.3","port":23,"protocol":"telnet"}`)
	url := srv.URL() + "/api/v1/tokens"
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 4096)
		for pb.Next() {
			req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			for {
				if _, err := resp.Body.Read(buf); err != nil {
					break
				}
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "tokens/s")
}

// BenchmarkIssuerDirect measures token.Issuer.Issue alone, in parallel.
func BenchmarkIssuerDirect(b *testing.B) {
	c, err := pki.SelfSigned(pki.CertSpec{CommonName: "bench", Usage: pki.UsageTokenSigning})
	if err != nil {
		b.Fatal(err)
	}
	iss, err := token.NewIssuer(token.IssuerConfig{NodeID: "bench", Cert: c.Cert, Key: c.Key})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := iss.Issue(token.Request{Subject: "s", Dst: "10.1.2.3:23", Proto: token.ProtoTelnet}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "tokens/s")
}

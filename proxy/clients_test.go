package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/termgate/termgate/internal/testpeer"
	"github.com/termgate/termgate/pki"
	"github.com/termgate/termgate/token"
)

func pageServer(t *testing.T) (*httptest.Server, string) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello through termgate")
	}))
	t.Cleanup(srv.Close)
	return srv, strings.TrimPrefix(srv.URL, "http://")
}

func TestCurlAsClient(t *testing.T) {
	curl := testpeer.Require(t, "curl", "curl")
	f := getFixture(t)
	srv, upstream := pageServer(t)
	s := startServer(t, nil)
	proxyURL := "https://" + s.Addr().String()
	run := func(args ...string) (string, string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, curl, append([]string{"-sS", "-v", "-p", "-x", proxyURL, "--proxy-cacert", f.caFile, "--noproxy", ""}, args...)...)
		cmd.Env = append(os.Environ(), "NO_PROXY=", "no_proxy=")
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		return out.String(), errb.String(), err
	}
	tok := f.token(t, token.Request{Dst: upstream, Proto: token.ProtoTCP})
	out, verbose, err := run("--proxy-header", "Proxy-Authorization: Bearer "+tok, srv.URL+"/")
	if err != nil || out != "hello through termgate" {
		t.Fatalf("curl with token: %v, %q\n%s", err, out, verbose)
	}
	if !strings.Contains(verbose, "200 Connection established") {
		t.Errorf("curl -v lacks the CONNECT answer:\n%s", verbose)
	}
	out, verbose, err = run(srv.URL + "/")
	if err == nil || out != "" {
		t.Fatalf("curl without token fetched %q", out)
	}
	if !strings.Contains(verbose, "407") || !strings.Contains(strings.ToLower(verbose), "termgate-error: token_missing") {
		t.Errorf("curl -v lacks 407 token_missing:\n%s", verbose)
	}
}

func TestGoHTTPTransportAsClient(t *testing.T) {
	f := getFixture(t)
	// an HTTPS target makes the transport tunnel with CONNECT
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello through termgate")
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{*f.tlsCert()}}
	srv.StartTLS()
	defer srv.Close()
	upstream := strings.TrimPrefix(srv.URL, "https://")
	s := startServer(t, nil)
	pu, _ := url.Parse("https://" + s.Addr().String())
	get := func(hdr http.Header) (*http.Response, error) {
		tr := &http.Transport{Proxy: http.ProxyURL(pu), ProxyConnectHeader: hdr, TLSClientConfig: clientTLS(f), DisableKeepAlives: true}
		defer tr.CloseIdleConnections()
		c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		return c.Get(srv.URL + "/")
	}
	resp, err := get(http.Header{"Proxy-Authorization": {"Bearer " + f.token(t, token.Request{Dst: upstream})}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hello through termgate" {
		t.Errorf("body = %q", body)
	}
	if _, err := get(nil); err == nil || !strings.Contains(err.Error(), "Proxy Authentication Required") {
		t.Errorf("without token: %v", err)
	}
}

func TestEnroll(t *testing.T) {
	f := getFixture(t)
	var got pki.EnrollRequest
	mgmt := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/api/v1/enroll" {
			http.NotFound(w, r)
			return
		}
		json.NewDecoder(r.Body).Decode(&got)
		if got.Code != "123-456" {
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`{"error":{"code":"enroll_code_invalid","message":"unknown or used code"}}`))
			return
		}
		json.NewEncoder(w).Encode(pki.EnrollResponse{
			MgmtSigners:      string(pki.EncodeCertPEM(f.signer.Cert)),
			MgmtTLS:          string(pki.EncodeCertPEM(f.ca.Cert.Cert)),
			ProxyFingerprint: pki.Fingerprint(f.server.Cert),
			MgmtFingerprints: []string{pki.Fingerprint(f.signer.Cert)},
		})
	}))
	defer mgmt.Close()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "p.pem"), filepath.Join(dir, "p.key")
	f.server.Save(certFile, keyFile)
	opts := EnrollOptions{MgmtURL: mgmt.URL, Code: "123-456", CertFile: certFile, KeyFile: keyFile, NodeID: "node-a",
		DataDir: filepath.Join(dir, "data"), MgmtCA: pki.NewTrustStore(mgmt.Certificate())}
	res, err := Enroll(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if got.NodeID != "node-a" || !strings.Contains(got.Certificate, "BEGIN CERTIFICATE") {
		t.Errorf("request = %+v", got)
	}
	if res.ProxyFingerprint != pki.Fingerprint(f.server.Cert) || len(res.MgmtFingerprints) != 1 {
		t.Errorf("result = %+v", res)
	}
	signers, err := pki.LoadTrustStore(res.SignersFile)
	if err != nil || signers.Len() != 1 || !pki.IsTokenSigner(signers.Certificates()[0]) {
		t.Fatalf("signers file: %v", err)
	}
	if _, err := pki.LoadTrustStore(res.TLSFile); err != nil {
		t.Fatal(err)
	}
	opts.Code = "wrong"
	if _, err := Enroll(context.Background(), opts); err == nil || !strings.Contains(err.Error(), "unknown or used code") {
		t.Errorf("wrong code: %v", err)
	}
	opts.Code, opts.MgmtCA = "123-456", nil
	if _, err := Enroll(context.Background(), opts); err == nil {
		t.Error("enrollment trusted an unknown management certificate")
	}
}

func TestNoGoroutineLeak(t *testing.T) {
	f := getFixture(t)
	echo := echoServer(t)
	before := goleak.IgnoreCurrent()
	s, err := New(Config{Listen: "127.0.0.1:0", OpsListen: "127.0.0.1:0", Certificate: f.tlsCert(), MgmtTrust: f.signers,
		AllowNetworks: localNets, PeerListen: "127.0.0.1:0", PeerTrust: pki.NewTrustStore(f.ca.Cert.Cert)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background()) }()
	r := connect(t, s.Addr().String(), echo, bearer(f.token(t, token.Request{Dst: echo})), nil)
	if r.status != 200 {
		t.Fatal(r.status)
	}
	idle, _ := tlsDial(s.Addr().String()) // a pending connection
	httpGet(t, "http://"+s.OpsAddr().String()+"/metrics")
	s.Close()
	<-done
	r.conn.Close()
	if idle != nil {
		idle.Close()
	}
	if err := goleak.Find(before, goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"), goleak.IgnoreAnyFunction("internal/poll.runtime_pollWait")); err != nil {
		t.Error(err)
	}
}

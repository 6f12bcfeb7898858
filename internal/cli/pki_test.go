package cli

import (
	"bytes"
	"context"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/termgate/termgate/pki"
)

type cliResult struct {
	stdout, stderr string
	code           int
}

func runCLI(t *testing.T, args ...string) cliResult {
	t.Helper()
	var out, errb bytes.Buffer
	err := Run(context.Background(), args, strings.NewReader(""), &out, &errb)
	return cliResult{stdout: out.String(), stderr: errb.String(), code: ExitCode(err)}
}

func (r cliResult) must(t *testing.T, code int, stdoutHas ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
	for _, s := range stdoutHas {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("stdout lacks %q:\n%s", s, r.stdout)
		}
	}
}

func (r cliResult) stderrHas(t *testing.T, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
		}
	}
}

func fileMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// initCA runs 'pki init' into a temporary directory and returns it.
func initCA(t *testing.T, extra ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ca")
	runCLI(t, append([]string{"pki", "init", "--dir", dir}, extra...)...).must(t, ExitOK, "created CA", "sha256:")
	return dir
}

func TestPKIInit(t *testing.T) {
	dir := initCA(t, "--cn", "Site CA", "--key-type", "ed25519")
	certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	if m := fileMode(t, keyFile); m != 0o600 {
		t.Errorf("ca-key.pem mode %v, want 0600", m)
	}
	ca, err := pki.LoadCADir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if ca.Cert.Cert.Subject.CommonName != "Site CA" || ca.Cert.Cert.PublicKeyAlgorithm != x509.Ed25519 {
		t.Errorf("CA %q %v", ca.Cert.Cert.Subject.CommonName, ca.Cert.Cert.PublicKeyAlgorithm)
	}
	before, _ := os.ReadFile(certFile)

	r := runCLI(t, "pki", "init", "--dir", dir)
	r.must(t, ExitFailure)
	r.stderrHas(t, "already exists", "--force")
	if after, _ := os.ReadFile(certFile); !bytes.Equal(before, after) {
		t.Error("refused init changed ca.pem")
	}
	runCLI(t, "pki", "init", "--dir", dir, "--force").must(t, ExitOK, "created CA")
	if after, _ := os.ReadFile(certFile); bytes.Equal(before, after) {
		t.Error("init --force kept the old CA")
	}
}

func TestPKIUsageErrors(t *testing.T) {
	dir := initCA(t)
	out := filepath.Join(t.TempDir(), "x")
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"init without --dir", []string{"pki", "init"}},
		{"init bad key type", []string{"pki", "init", "--dir", t.TempDir(), "--key-type", "dsa"}},
		{"init bad days", []string{"pki", "init", "--dir", t.TempDir(), "--days", "0"}},
		{"init extra argument", []string{"pki", "init", "--dir", t.TempDir(), "extra"}},
		{"unknown flag", []string{"pki", "init", "--bogus"}},
		{"unknown pki command", []string{"pki", "bogus"}},
		{"unknown trust command", []string{"pki", "trust", "bogus"}},
		{"issue without --cn", []string{"pki", "issue", "--ca-dir", dir, "--out", out}},
		{"issue bad ip", []string{"pki", "issue", "--ca-dir", dir, "--cn", "a", "--ip", "300.1.1.1", "--out", out}},
		{"issue bad usage", []string{"pki", "issue", "--ca-dir", dir, "--cn", "a", "--usage", "ca", "--out", out}},
		{"issue bad days", []string{"pki", "issue", "--ca-dir", dir, "--cn", "a", "--days", "-3", "--out", out}},
		{"show without files", []string{"pki", "show"}},
		{"show with unset password variable", []string{"pki", "show", "--password-env", "TERMGATE_TEST_UNSET_VARIABLE", "x.p12"}},
		{"export unknown format", []string{"pki", "export", "--cert", "c.pem", "--format", "jks", "--out", out}},
		{"export der with key", []string{"pki", "export", "--cert", "c.pem", "--key", "k.pem", "--format", "der", "--out", out}},
		{"export p12 without password", []string{"pki", "export", "--cert", "c.pem", "--key", "k.pem", "--format", "p12", "--out", out}},
		{"trust add without store", []string{"pki", "trust", "add", "c.pem"}},
		{"trust add without files", []string{"pki", "trust", "add", "--store", "s.pem"}},
		{"trust remove without refs", []string{"pki", "trust", "remove", "--store", "s.pem"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, tc.args...)
			r.must(t, ExitUsage)
			r.stderrHas(t, "termgate: ", "--help")
		})
	}
	if _, err := os.Stat(out + ".pem"); err == nil {
		t.Error("a usage error wrote a file")
	}
}

func TestPKIIssueAndShow(t *testing.T) {
	caDir := initCA(t)
	ca, err := pki.LoadCADir(caDir)
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	prefix := filepath.Join(work, "proxy")
	r := runCLI(t, "pki", "issue", "--ca-dir", caDir, "--cn", "proxy-1", "--dns", "proxy.example.com", "--dns", "lb.example.com",
		"--ip", "127.0.0.1", "--days", "30", "--out", prefix)
	r.must(t, ExitOK, "issued", prefix+".pem", prefix+"-key.pem", "proxy.example.com, lb.example.com, 127.0.0.1")
	c, err := pki.LoadPair(prefix+".pem", prefix+"-key.pem")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.stdout, pki.Fingerprint(c.Cert)) || !strings.Contains(r.stdout, pki.KID(c.Cert)) {
		t.Errorf("issue output lacks the fingerprint or KID:\n%s", r.stdout)
	}
	if m := fileMode(t, prefix+"-key.pem"); m != 0o600 {
		t.Errorf("key mode %v", m)
	}
	if err := pki.VerifyPeer(pki.NewTrustStore(ca.Cert.Cert), []*x509.Certificate{c.Cert}, pki.VerifyOptions{Name: "lb.example.com"}); err != nil {
		t.Errorf("issued certificate does not verify: %v", err)
	}
	if d := c.Cert.NotAfter.Sub(c.Cert.NotBefore).Hours() / 24; d != 30 {
		t.Errorf("validity %v days, want 30", d)
	}
	// Refuses to overwrite without --force.
	r = runCLI(t, "pki", "issue", "--ca-dir", caDir, "--cn", "proxy-1", "--out", prefix)
	r.must(t, ExitFailure)
	r.stderrHas(t, "already exists")
	// A missing CA is a failure, not a usage error.
	runCLI(t, "pki", "issue", "--ca-dir", filepath.Join(work, "none"), "--cn", "x", "--out", filepath.Join(work, "x")).must(t, ExitFailure)

	signer := filepath.Join(work, "signer")
	runCLI(t, "pki", "issue", "--ca-dir", caDir, "--cn", "mgmt-1", "--usage", "token-signing", "--key-type", "ed25519", "--out", signer).
		must(t, ExitOK, "termgate token signing")
	sc, err := pki.LoadCertFile(signer + ".pem")
	if err != nil {
		t.Fatal(err)
	}
	if !pki.IsTokenSigner(sc[0]) {
		t.Error("token-signing certificate lacks the usage")
	}

	r = runCLI(t, "pki", "show", prefix+".pem", signer+".pem", filepath.Join(caDir, "ca.pem"))
	r.must(t, ExitOK,
		prefix+".pem [1/1]", "CN=proxy-1,O=termgate", "CN=termgate local CA,O=termgate",
		"proxy.example.com, lb.example.com, 127.0.0.1", "days left", "TLS server", "TLS client",
		pki.KID(c.Cert), pki.Fingerprint(c.Cert),
		"termgate token signing", "Ed25519",
		"CA, ", "certificate signing")
	if n := strings.Count(r.stdout, "sha256:"); n != 3 {
		t.Errorf("show printed %d certificates, want 3", n)
	}
	runCLI(t, "pki", "show", filepath.Join(work, "missing.pem")).must(t, ExitFailure)
	garbage := filepath.Join(work, "garbage.bin")
	os.WriteFile(garbage, []byte("not a certificate"), 0o644)
	r = runCLI(t, "pki", "show", garbage)
	r.must(t, ExitFailure)
	r.stderrHas(t, "not a PEM, DER or PKCS#12")
}

func TestPKIExport(t *testing.T) {
	caDir := initCA(t)
	work := t.TempDir()
	prefix := filepath.Join(work, "node")
	runCLI(t, "pki", "issue", "--ca-dir", caDir, "--cn", "node.example.com", "--out", prefix).must(t, ExitOK)
	certFile, keyFile := prefix+".pem", prefix+"-key.pem"
	orig, err := pki.LoadPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}

	// PEM with key.
	pemOut := filepath.Join(work, "bundle.pem")
	runCLI(t, "pki", "export", "--cert", certFile, "--key", keyFile, "--format", "pem", "--out", pemOut).
		must(t, ExitOK, "wrote "+pemOut, "private key", pki.Fingerprint(orig.Cert))
	if m := fileMode(t, pemOut); m != 0o600 {
		t.Errorf("pem with key has mode %v", m)
	}
	if p, err := pki.LoadPair(pemOut, pemOut); err != nil || !p.Cert.Equal(orig.Cert) {
		t.Errorf("exported pem: %v", err)
	}
	// Not overwritten without --force.
	runCLI(t, "pki", "export", "--cert", certFile, "--format", "pem", "--out", pemOut).must(t, ExitFailure)

	// DER.
	derOut := filepath.Join(work, "node.der")
	runCLI(t, "pki", "export", "--cert", certFile, "--format", "der", "--out", derOut).must(t, ExitOK)
	if b, _ := os.ReadFile(derOut); !bytes.Equal(b, orig.Cert.Raw) {
		t.Error("der export is not the certificate's DER")
	}
	runCLI(t, "pki", "show", derOut).must(t, ExitOK, pki.Fingerprint(orig.Cert))

	// PKCS#12, with the CA as chain.
	chainFile := filepath.Join(work, "chain.pem")
	leafPEM, _ := os.ReadFile(certFile)
	caPEM, _ := os.ReadFile(filepath.Join(caDir, "ca.pem"))
	os.WriteFile(chainFile, append(leafPEM, caPEM...), 0o644)
	t.Setenv("TERMGATE_TEST_P12_PASSWORD", "correct horse")
	p12Out := filepath.Join(work, "node.p12")
	runCLI(t, "pki", "export", "--cert", chainFile, "--key", keyFile, "--format", "p12", "--out", p12Out,
		"--password-env", "TERMGATE_TEST_P12_PASSWORD").must(t, ExitOK, "2 certificate(s) and the private key")
	if m := fileMode(t, p12Out); m != 0o600 {
		t.Errorf("p12 mode %v", m)
	}
	data, _ := os.ReadFile(p12Out)
	c, chain, err := pki.DecodePKCS12(data, "correct horse")
	if err != nil || !c.Cert.Equal(orig.Cert) || len(chain) != 1 {
		t.Fatalf("exported p12: chain %d, %v", len(chain), err)
	}
	runCLI(t, "pki", "show", "--password-env", "TERMGATE_TEST_P12_PASSWORD", p12Out).
		must(t, ExitOK, p12Out+" [1/2]", p12Out+" [2/2]", pki.Fingerprint(orig.Cert))
	t.Setenv("TERMGATE_TEST_P12_WRONG", "wrong")
	r := runCLI(t, "pki", "show", "--password-env", "TERMGATE_TEST_P12_WRONG", p12Out)
	r.must(t, ExitFailure)
	r.stderrHas(t, "password")
	// An empty password is refused for p12.
	t.Setenv("TERMGATE_TEST_P12_EMPTY", "")
	runCLI(t, "pki", "export", "--cert", certFile, "--key", keyFile, "--format", "p12", "--out", filepath.Join(work, "e.p12"),
		"--password-env", "TERMGATE_TEST_P12_EMPTY").must(t, ExitUsage)

	// A key that does not belong to the certificate fails.
	other := filepath.Join(work, "other")
	runCLI(t, "pki", "issue", "--ca-dir", caDir, "--cn", "other", "--out", other).must(t, ExitOK)
	r = runCLI(t, "pki", "export", "--cert", certFile, "--key", other+"-key.pem", "--format", "pem", "--out", filepath.Join(work, "m.pem"))
	r.must(t, ExitFailure)
	r.stderrHas(t, "does not belong")
}

func TestPKITrust(t *testing.T) {
	caDir := initCA(t)
	work := t.TempDir()
	store := filepath.Join(work, "trust.pem")
	caFile := filepath.Join(caDir, "ca.pem")
	runCLI(t, "pki", "issue", "--ca-dir", caDir, "--cn", "proxy-1", "--out", filepath.Join(work, "p1")).must(t, ExitOK)
	runCLI(t, "pki", "issue", "--ca-dir", caDir, "--cn", "proxy-2", "--out", filepath.Join(work, "p2")).must(t, ExitOK)
	caCert, _ := pki.LoadCertFile(caFile)
	p1, _ := pki.LoadCertFile(filepath.Join(work, "p1.pem"))
	p2, _ := pki.LoadCertFile(filepath.Join(work, "p2.pem"))

	runCLI(t, "pki", "trust", "list", "--store", store).must(t, ExitFailure) // no such file yet
	runCLI(t, "pki", "trust", "add", "--store", store, "--name", "site CA", caFile).
		must(t, ExitOK, "added    site CA", pki.Fingerprint(caCert[0]), "1 added, 1 certificate(s)")
	runCLI(t, "pki", "trust", "add", "--store", store, filepath.Join(work, "p1.pem"), filepath.Join(work, "p2.pem"), caFile).
		must(t, ExitOK, "added    proxy-1", "added    proxy-2", "present  site CA", "2 added, 3 certificate(s)")

	r := runCLI(t, "pki", "trust", "list", "--store", store)
	r.must(t, ExitOK, "NAME", "SHA256 FINGERPRINT", "KID", "EXPIRES",
		pki.Fingerprint(caCert[0]), pki.KID(p1[0]), p2[0].NotAfter.UTC().Format("2006-01-02"))
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[1], "site CA ") || !strings.HasPrefix(lines[2], "proxy-1 ") || !strings.HasPrefix(lines[3], "proxy-2 ") {
		t.Errorf("list order or names wrong:\n%s", r.stdout)
	}
	raw, _ := os.ReadFile(store)
	if !bytes.HasPrefix(raw, []byte("# site CA\n-----BEGIN CERTIFICATE-----")) {
		t.Errorf("store file does not carry name lines:\n%.60s", raw)
	}

	// Unknown REF: failure, nothing removed, even the REFs that matched.
	r = runCLI(t, "pki", "trust", "remove", "--store", store, "proxy-1", "no-such-cert")
	r.must(t, ExitFailure)
	r.stderrHas(t, `"no-such-cert"`, "unchanged")
	if after, _ := os.ReadFile(store); !bytes.Equal(raw, after) {
		t.Error("failed remove changed the store")
	}
	fpNoColons := strings.ReplaceAll(pki.Fingerprint(p1[0]), ":", "")
	runCLI(t, "pki", "trust", "remove", "--store", store, fpNoColons).must(t, ExitOK, "removed  proxy-1", "2 certificate(s) left")
	runCLI(t, "pki", "trust", "remove", "--store", store, pki.KID(p2[0])).must(t, ExitOK, "removed  proxy-2", "1 certificate(s) left")
	runCLI(t, "pki", "trust", "remove", "--store", store, strings.ToLower(pki.Fingerprint(caCert[0]))).must(t, ExitOK, "0 certificate(s) left")
	runCLI(t, "pki", "trust", "list", "--store", store).must(t, ExitOK, "empty trust store")
	runCLI(t, "pki", "trust", "add", "--store", store, "--name", "again", caFile).must(t, ExitOK)
	runCLI(t, "pki", "trust", "remove", "--store", store, "again").must(t, ExitOK, "removed  again")

	// A file that is not a certificate is refused and the store untouched.
	bad := filepath.Join(work, "bad.pem")
	os.WriteFile(bad, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o644)
	runCLI(t, "pki", "trust", "add", "--store", store, bad).must(t, ExitFailure)
	if s, err := pki.LoadTrustStore(store); err != nil || s.Len() != 0 {
		t.Errorf("store after a refused add: %v", err)
	}
	ents, _ := os.ReadDir(work)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}

func TestPKIHelp(t *testing.T) {
	runCLI(t, "pki").must(t, ExitOK, "trust", "init", "issue", "export")
	runCLI(t, "pki", "trust", "--help").must(t, ExitOK, "add", "list", "remove")
}

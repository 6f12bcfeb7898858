package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/termgate/termgate/pki"
	"github.com/termgate/termgate/token"
)

// tokenPKI is a CA, a token-signing certificate for node mgmt-1 and a TLS
// server certificate (which must never sign tokens), made with the CLI.
type tokenPKI struct {
	signerCert, signerKey string
	serverCert, serverKey string
	trust                 string // the signer certificate: what a proxy verifies against
}

func newTokenPKI(t *testing.T) tokenPKI {
	t.Helper()
	caDir := initCA(t)
	work := t.TempDir()
	signer, server := filepath.Join(work, "mgmt-1"), filepath.Join(work, "proxy-1")
	runCLI(t, "pki", "issue", "--ca-dir", caDir, "--cn", "mgmt-1", "--usage", "token-signing", "--out", signer).must(t, ExitOK)
	runCLI(t, "pki", "issue", "--ca-dir", caDir, "--cn", "proxy-1", "--usage", "server", "--out", server).must(t, ExitOK)
	return tokenPKI{
		signerCert: signer + ".pem", signerKey: signer + "-key.pem",
		serverCert: server + ".pem", serverKey: server + "-key.pem",
		trust: signer + ".pem",
	}
}

func (p tokenPKI) issue(t *testing.T, extra ...string) string {
	t.Helper()
	args := append([]string{"token", "issue", "--key", p.signerKey, "--cert", p.signerCert}, extra...)
	r := runCLI(t, args...)
	r.must(t, ExitOK)
	tok := strings.TrimSpace(r.stdout)
	if strings.Count(tok, ".") != 2 || strings.ContainsAny(tok, " \n") {
		t.Fatalf("issue printed %q, want one compact JWS", r.stdout)
	}
	return tok
}

// runCLIStdin is runCLI with standard input.
func runCLIStdin(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	var out, errb bytes.Buffer
	err := Run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return cliResult{stdout: out.String(), stderr: errb.String(), code: ExitCode(err)}
}

func TestTokenIssueVerify(t *testing.T) {
	p := newTokenPKI(t)
	tok := p.issue(t, "--dst", "DB2.Example.com:23", "--proto", "telnet", "--ttl", "60s", "--sub", "alice", "--session", "demo-vt")

	r := runCLI(t, "token", "verify", "--trust", p.trust, "--dst", "db2.example.com:23", tok)
	r.must(t, ExitOK)
	var claims map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &claims); err != nil {
		t.Fatalf("verify output is not JSON: %v\n%s", err, r.stdout)
	}
	for k, want := range map[string]any{"iss": "mgmt-1", "sub": "alice", "dst": "db2.example.com:23", "proto": "telnet", "ses": "demo-vt"} {
		if claims[k] != want {
			t.Errorf("claim %s = %v, want %v", k, claims[k], want)
		}
	}
	exp, _ := claims["exp"].(float64)
	iat, _ := claims["iat"].(float64)
	if exp-iat != 60 {
		t.Errorf("exp-iat = %v, want 60 (--ttl 60s)", exp-iat)
	}
	if jti, _ := claims["jti"].(string); len(jti) < 20 {
		t.Errorf("jti %q", jti)
	}
	if r.stderr != "" {
		t.Errorf("stderr: %s", r.stderr)
	}

	// The same destination spelled otherwise is the same destination.
	runCLI(t, "token", "verify", "--trust", p.trust, "--dst", "DB2.EXAMPLE.COM.:23", tok).must(t, ExitOK, `"dst": "db2.example.com:23"`)

	// The token from standard input, with "-" and without an argument, and
	// with the newline a shell pipe adds.
	runCLIStdin(t, tok+"\n", "token", "verify", "--trust", p.trust, "--dst", "db2.example.com:23", "-").must(t, ExitOK, `"sub": "alice"`)
	runCLIStdin(t, "  "+tok+"\r\n", "token", "verify", "--trust", p.trust, "--dst", "db2.example.com:23").must(t, ExitOK, `"sub": "alice"`)

	// Verify twice: there is no replay check offline.
	runCLI(t, "token", "verify", "--trust", p.trust, "--dst", "db2.example.com:23", tok).must(t, ExitOK)

	// An Ed25519 signer signs EdDSA tokens that verify the same way.
	caDir := initCA(t)
	ed := filepath.Join(t.TempDir(), "mgmt-2")
	runCLI(t, "pki", "issue", "--ca-dir", caDir, "--cn", "mgmt-2", "--usage", "token-signing", "--key-type", "ed25519", "--out", ed).must(t, ExitOK)
	r = runCLI(t, "token", "issue", "--key", ed+"-key.pem", "--cert", ed+".pem", "--dst", "[::1]:992", "--proto", "tn3270", "--host-tls")
	r.must(t, ExitOK)
	edTok := strings.TrimSpace(r.stdout)
	runCLI(t, "token", "verify", "--trust", ed+".pem", "--dst", "[0:0::1]:992", edTok).must(t, ExitOK, `"htls": true`, `"iss": "mgmt-2"`)
	// ... but not against the other node's certificate.
	r = runCLI(t, "token", "verify", "--trust", p.trust, "--dst", "[::1]:992", edTok)
	r.must(t, ExitFailure)
	r.stderrHas(t, "token_untrusted_key: ")
}

func TestTokenVerifyFailures(t *testing.T) {
	p := newTokenPKI(t)
	tok := p.issue(t, "--dst", "db2.example.com:23", "--proto", "telnet", "--ttl", "60s")

	// Tokens minted with the library and a fake clock, as a node with a
	// wrong clock would.
	pair, err := pki.LoadPair(p.signerCert, p.signerKey)
	if err != nil {
		t.Fatal(err)
	}
	mint := func(now time.Time, aud string) string {
		t.Helper()
		iss, err := token.NewIssuer(token.IssuerConfig{Cert: pair.Cert, Key: pair.Key, Audience: aud, Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		s, _, err := iss.Issue(token.Request{Dst: "db2.example.com:23", Proto: token.ProtoTelnet, TTL: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	expired := mint(time.Now().Add(-10*time.Minute), "")
	future := mint(time.Now().Add(10*time.Minute), "")
	otherAud := mint(time.Now(), "other-cluster")

	parts := strings.Split(tok, ".")
	badSig := parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))
	otherTrust := newTokenPKI(t).trust

	tests := []struct {
		name  string
		args  []string // after "token verify"
		stdin string
		code  token.Code
	}{
		{"wrong destination", []string{"--trust", p.trust, "--dst", "db3.example.com:23", tok}, "", token.CodeDestinationMismatch},
		{"wrong port", []string{"--trust", p.trust, "--dst", "db2.example.com:992", tok}, "", token.CodeDestinationMismatch},
		{"malformed", []string{"--trust", p.trust, "--dst", "db2.example.com:23", "not-a-token"}, "", token.CodeMalformed},
		{"malformed from stdin", []string{"--trust", p.trust, "--dst", "db2.example.com:23", "-"}, "a.b.c.d", token.CodeMalformed},
		{"too large", []string{"--trust", p.trust, "--dst", "db2.example.com:23", "-"}, strings.Repeat("a", token.MaxSize+100), token.CodeMalformed},
		{"empty stdin", []string{"--trust", p.trust, "--dst", "db2.example.com:23"}, "", token.CodeMissing},
		{"expired", []string{"--trust", p.trust, "--dst", "db2.example.com:23", expired}, "", token.CodeExpired},
		{"not yet valid", []string{"--trust", p.trust, "--dst", "db2.example.com:23", future}, "", token.CodeNotYetValid},
		{"other audience", []string{"--trust", p.trust, "--dst", "db2.example.com:23", otherAud}, "", token.CodeAudience},
		{"bad signature", []string{"--trust", p.trust, "--dst", "db2.example.com:23", badSig}, "", token.CodeSignature},
		{"untrusted signer", []string{"--trust", otherTrust, "--dst", "db2.example.com:23", tok}, "", token.CodeUntrustedKey},
		{"audience flag", []string{"--trust", p.trust, "--dst", "db2.example.com:23", "--aud", "other-cluster", tok}, "", token.CodeAudience},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLIStdin(t, tc.stdin, append([]string{"token", "verify"}, tc.args...)...)
			r.must(t, ExitFailure)
			if !strings.HasPrefix(r.stderr, string(tc.code)+": ") {
				t.Errorf("stderr %q, want it to start with %q", r.stderr, tc.code+": ")
			}
			if strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("stderr is not one line: %q", r.stderr)
			}
			if strings.Contains(r.stderr, tok) || (len(tc.args) > 0 && len(tc.args[len(tc.args)-1]) > 100 && strings.Contains(r.stderr, tc.args[len(tc.args)-1])) {
				t.Error("the token was echoed in the error")
			}
			if r.stdout != "" {
				t.Errorf("a refused token printed claims:\n%s", r.stdout)
			}
		})
	}
	// The audience flag accepts a token for that audience.
	runCLI(t, "token", "verify", "--trust", p.trust, "--dst", "db2.example.com:23", "--aud", "other-cluster", otherAud).must(t, ExitOK)

	// A missing or unreadable trust store is a failure, not a token code.
	r := runCLI(t, "token", "verify", "--trust", filepath.Join(t.TempDir(), "none.pem"), "--dst", "db2.example.com:23", tok)
	r.must(t, ExitFailure)
	r.stderrHas(t, "termgate: ", "none.pem")
}

func TestTokenIssueRefusals(t *testing.T) {
	p := newTokenPKI(t)
	base := []string{"token", "issue", "--key", p.signerKey, "--cert", p.signerCert}
	failures := []struct {
		name string
		args []string
		code int
		want string // in stderr
	}{
		{"signer without the token-signing usage",
			[]string{"token", "issue", "--key", p.serverKey, "--cert", p.serverCert, "--dst", "h:23", "--proto", "telnet"},
			ExitFailure, "token-signing"},
		{"key of another certificate",
			[]string{"token", "issue", "--key", p.serverKey, "--cert", p.signerCert, "--dst", "h:23", "--proto", "telnet"},
			ExitFailure, "termgate: "},
		{"node id not the certificate's", append(base, "--dst", "h:23", "--proto", "telnet", "--node-id", "mgmt-9"),
			ExitFailure, "mgmt-9"},
		{"ttl over 1h", append(base, "--dst", "h:23", "--proto", "telnet", "--ttl", "61m"), ExitUsage, "--ttl"},
		{"ttl zero", append(base, "--dst", "h:23", "--proto", "telnet", "--ttl", "0s"), ExitUsage, "--ttl"},
		{"ttl negative", append(base, "--dst", "h:23", "--proto", "telnet", "--ttl", "-1m"), ExitUsage, "--ttl"},
		{"unknown proto", append(base, "--dst", "h:23", "--proto", "gopher"), ExitUsage, "gopher"},
		{"dst without port", append(base, "--dst", "db2.example.com", "--proto", "telnet"), ExitUsage, "--dst"},
		{"dst with a numeric-looking host", append(base, "--dst", "127.1:23", "--proto", "telnet"), ExitUsage, "--dst"},
		{"missing --dst", append(base, "--proto", "telnet"), ExitUsage, "--dst is required"},
		{"missing --key", []string{"token", "issue", "--cert", p.signerCert, "--dst", "h:23", "--proto", "telnet"}, ExitUsage, "--key is required"},
		{"argument", append(base, "--dst", "h:23", "--proto", "telnet", "extra"), ExitUsage, "extra"},
		{"missing key file", []string{"token", "issue", "--key", filepath.Join(t.TempDir(), "k.pem"), "--cert", p.signerCert, "--dst", "h:23", "--proto", "telnet"},
			ExitFailure, "k.pem"},
		{"bad pop jwk", append(base, "--dst", "h:23", "--proto", "telnet", "--pop-jwk", p.signerCert), ExitFailure, "--pop-jwk"},
		{"verify without --trust", []string{"token", "verify", "--dst", "h:23", "x"}, ExitUsage, "--trust"},
		{"verify with a bad --dst", []string{"token", "verify", "--trust", p.trust, "--dst", "nonsense", "x"}, ExitUsage, "--dst"},
		{"verify with two tokens", []string{"token", "verify", "--trust", p.trust, "--dst", "h:23", "x", "y"}, ExitUsage, "accepts at most 1 arg"},
	}
	for _, tc := range failures {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, tc.args...)
			r.must(t, tc.code)
			r.stderrHas(t, tc.want)
			if r.stdout != "" {
				t.Errorf("a refused issue printed:\n%s", r.stdout)
			}
		})
	}

	// The largest ttl and a proof-of-possession key are accepted.
	pk, err := token.NewProofKey()
	if err != nil {
		t.Fatal(err)
	}
	jwk, _ := json.Marshal(pk.JWK())
	jwkFile := filepath.Join(t.TempDir(), "pop.json")
	if err := os.WriteFile(jwkFile, jwk, 0o644); err != nil {
		t.Fatal(err)
	}
	tok := p.issue(t, "--dst", "h:23", "--proto", "ssh", "--ttl", "1h", "--pop-jwk", jwkFile)
	runCLI(t, "token", "verify", "--trust", p.trust, "--dst", "h:23", tok).must(t, ExitOK, pk.JWK().Thumbprint(), `"proto": "ssh"`)
}

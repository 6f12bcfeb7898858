package emulator_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/termgate/termgate/emulator"
)

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestLogin(t *testing.T) {
	env := newEnv(t)
	ctx := ctxT(t)
	c, err := emulator.NewClient(env.MgmtURL(), emulator.ClientOptions{CA: env.MgmtCA})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Sessions(ctx); !errors.Is(err, emulator.ErrNotLoggedIn) {
		t.Fatalf("Sessions before login: got %v, want ErrNotLoggedIn", err)
	}
	err = c.Login(ctx, testUser, "wrong")
	var ae *emulator.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized || ae.Code != "invalid_credentials" || ae.Message != "wrong user name or password" {
		t.Fatalf("wrong password: got %#v (%v)", ae, err)
	}
	if strings.Contains(err.Error(), "wrong\"") {
		t.Errorf("error echoes the password: %v", err)
	}
	if err := c.Login(ctx, testUser, testPassword); err != nil {
		t.Fatal(err)
	}
	tok, exp := c.LoginToken()
	if tok.Reveal() == "" || time.Until(exp) < 50*time.Minute {
		t.Errorf("login token %q expiring %v", tok.Reveal(), exp)
	}
	list, err := c.Sessions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 5 || list[0].Name != sessionDemo || list[0].Protocol != "telnet" || list[0].Terminal.Model != "vt220" {
		t.Errorf("sessions: %+v", list)
	}

	// A login token saved earlier works in another client.
	c2, _ := emulator.NewClient(env.MgmtURL(), emulator.ClientOptions{CA: env.MgmtCA})
	c2.UseToken(tok.Reveal() + "\n")
	if _, err := c2.Sessions(ctx); err != nil {
		t.Errorf("UseToken: %v", err)
	}
	c2.UseToken("forged")
	if _, err := c2.Sessions(ctx); !errors.As(err, &ae) || ae.Status != 401 {
		t.Errorf("forged login token: got %v, want 401", err)
	}
}

func TestClientTrustsOnlyGivenCA(t *testing.T) {
	env := newEnv(t)
	c, err := emulator.NewClient(env.MgmtURL(), emulator.ClientOptions{}) // system roots
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(ctxT(t), testUser, testPassword); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("login against a private CA with system roots: got %v, want a certificate error", err)
	}
	if _, err := emulator.NewClient("ftp://x", emulator.ClientOptions{}); err == nil {
		t.Error("NewClient accepted an ftp URL")
	}
	if _, err := emulator.NewClient(env.MgmtURL(), emulator.ClientOptions{CAFile: "/nonexistent/ca.pem"}); err == nil {
		t.Error("NewClient accepted a missing CA file")
	}
}

func TestLaunch(t *testing.T) {
	env := newEnv(t)
	ctx := ctxT(t)
	c := env.Client(t)

	l, err := c.Launch(ctx, sessionDemo, emulator.LaunchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if l.ProofKey == nil {
		t.Fatal("default launch has no proof key")
	}
	if !l.Proxy.VerifyServerIdentity {
		t.Error("a launch response without verify_server_identity must mean true")
	}
	if l.Proxy.ServerName != proxyName || l.Proxy.Address != env.proxy.Addr() {
		t.Errorf("proxy info %+v", l.Proxy)
	}
	if l.Trust.Len() != 1 || l.Session.Target() != env.sessions[sessionDemo].Target() {
		t.Errorf("trust %d certs, target %s", l.Trust.Len(), l.Session.Target())
	}
	if l.Metering.Interval != 30*time.Second || l.Metering.Address != "127.0.0.1:8444" || time.Until(l.ExpiresAt) <= 0 {
		t.Errorf("metering %+v, expires %v", l.Metering, l.ExpiresAt)
	}
	claims, err := env.verifier.Parse(l.Token.Reveal())
	if err != nil {
		t.Fatal(err)
	}
	if claims.Cnf == nil || claims.Cnf.JKT != l.ProofKey.JWK().Thumbprint() {
		t.Errorf("token cnf %+v does not bind the launch's proof key", claims.Cnf)
	}
	if s := fmt.Sprintf("%v %+v %#v %s", l.Token, *l, l.Token, l.Metering.Ticket); strings.Contains(s, l.Token.Reveal()) || strings.Contains(s, "ticket-1") {
		t.Errorf("printing a launch leaks a secret: %s", s)
	}

	l2, err := c.Launch(ctx, sessionDemo, emulator.LaunchOptions{NoProof: true})
	if err != nil {
		t.Fatal(err)
	}
	if l2.ProofKey != nil {
		t.Error("NoProof launch has a proof key")
	}
	if claims, err := env.verifier.Parse(l2.Token.Reveal()); err != nil || claims.Cnf != nil {
		t.Errorf("NoProof token: cnf %+v, err %v", claims, err)
	}

	var ae *emulator.APIError
	if _, err := c.Launch(ctx, "nope", emulator.LaunchOptions{}); !errors.As(err, &ae) || ae.Status != 404 || ae.Code != "not_found" {
		t.Errorf("unknown session: %v", err)
	}

	env.setTweak(func(m map[string]any) { m["trust_store"] = "" })
	if _, err := c.Launch(ctx, sessionDemo, emulator.LaunchOptions{}); err == nil || !strings.Contains(err.Error(), "empty proxy trust store") {
		t.Errorf("launch without trust store: %v", err)
	}
	env.setTweak(func(m map[string]any) {
		m["proxy"].(map[string]any)["verify_server_identity"] = false
	})
	if l, err := c.Launch(ctx, sessionDemo, emulator.LaunchOptions{}); err != nil || l.Proxy.VerifyServerIdentity {
		t.Errorf("verify_server_identity false not honoured: %v", err)
	}
}

func TestTokenEndpoint(t *testing.T) {
	env := newEnv(t)
	ctx := ctxT(t)
	c := env.Client(t)
	port := env.echo.ln.Addr().(*net.TCPAddr).Port
	it, err := c.Token(ctx, emulator.TokenRequest{Host: "127.0.0.1", Port: port, Protocol: "tcp", TTL: 90 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	claims, err := env.verifier.Parse(it.Token.Reveal())
	if err != nil {
		t.Fatal(err)
	}
	if claims.Dst != fmt.Sprintf("127.0.0.1:%d", port) || claims.Proto != "tcp" || claims.Cnf == nil || it.ProofKey == nil {
		t.Errorf("claims %+v", claims)
	}
	if got := claims.ExpiresAt.Sub(claims.IssuedAt.Time); got != 90*time.Second {
		t.Errorf("lifetime %v, want 90s", got)
	}
	if d := it.ExpiresAt.Sub(claims.ExpiresAt.Time); d < -time.Second || d > time.Second {
		t.Errorf("expires_at (Unix seconds) decoded as %v, token says %v", it.ExpiresAt, claims.ExpiresAt)
	}
}

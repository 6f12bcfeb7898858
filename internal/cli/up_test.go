package cli

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/termgate/termgate/mgmt"
)

type upAddrs struct{ mgmt, dtls, proxy, ops, vt, tn string }

func freeUpAddrs(t *testing.T) upAddrs {
	return upAddrs{mgmt: freeAddr(t), dtls: freeUDPAddr(t), proxy: freeAddr(t), ops: freeAddr(t), vt: freeAddr(t), tn: freeAddr(t)}
}

func (a upAddrs) args(data string) []string {
	return []string{"up", "--data", data, "--mgmt-addr", a.mgmt, "--dtls-addr", a.dtls, "--proxy-addr", a.proxy, "--ops-addr", a.ops,
		"--demo-vt-addr", a.vt, "--demo-3270-addr", a.tn, "--log-level", "warn"}
}

const upDone = "Ctrl-C stops termgate up" // the last line printReady writes

func TestUp(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	data := filepath.Join(t.TempDir(), "data")
	a := freeUpAddrs(t)
	mgmtURL := "https://" + a.mgmt

	up := startCLI(t, upDone, a.args(data)...)
	out := up.stdout.String()
	readyLine := ""
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "ready ") {
			if readyLine != "" {
				t.Errorf("more than one ready line:\n%s", out)
			}
			readyLine = l
		}
	}
	for _, want := range []string{"mgmt=" + mgmtURL, "dtls=" + a.dtls, "proxy=" + a.proxy, "ops=http://" + a.ops, "demo-vt=" + a.vt, "demo-3270=" + a.tn} {
		if !strings.Contains(readyLine, want) {
			t.Errorf("ready line %q lacks %q", readyLine, want)
		}
	}
	caFile := filepath.Join(data, "ca.pem")
	pwFile := filepath.Join(data, "admin-password")
	for _, want := range []string{"--mgmt " + mgmtURL, "--ca " + caFile, "--user admin", "--session demo-vt", "--session demo-3270",
		pwFile, "termgate connect", "termgate screen"} {
		if !strings.Contains(out, want) {
			t.Errorf("printed commands lack %q:\n%s", want, out)
		}
	}
	if m := fileMode(t, pwFile); m != 0o600 {
		t.Errorf("admin-password mode %v, want 0600", m)
	}
	if m := fileMode(t, data); m&0o077 != 0 {
		t.Errorf("data directory mode %v is open to others", m)
	}
	if _, err := os.Stat(caFile); err != nil {
		t.Errorf("ca.pem: %v", err)
	}
	pw := readTrim(t, pwFile)
	if pw == "" || strings.Contains(out, pw) {
		t.Errorf("password %q empty or printed", pw)
	}

	// What the printed commands rely on: admin logs in through ca.pem and may
	// launch both demo sessions, on the addresses given.
	checkUpSessions(t, mgmtURL, caFile, pw, a)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + a.ops + "/healthz")
	if err != nil {
		t.Errorf("ops /healthz: %v", err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("ops /healthz: %s", resp.Status)
		}
	}
	// The printed screen commands work exactly as printed.
	t.Setenv(envMgmtPassword, pw)
	screens := 0
	for _, line := range strings.Split(out, "\n") {
		script, cmdline, ok := strings.Cut(strings.TrimSpace(line), "' | ")
		if !ok || !strings.HasPrefix(script, "printf '") {
			continue
		}
		_, args, ok := strings.Cut(cmdline, "termgate ")
		if !ok {
			t.Fatalf("cannot parse printed command %q", line)
		}
		script = strings.ReplaceAll(strings.TrimPrefix(script, "printf '"), `\n`, "\n")
		r := runCLIStdin(t, script, strings.Fields(args)...)
		r.must(t, ExitOK)
		waited := script[strings.Index(script, `"`)+1:]
		waited = waited[:strings.Index(waited, `"`)]
		if !strings.Contains(r.stdout, waited) {
			t.Errorf("%q printed no %q:\n%s", line, waited, r.stdout)
		}
		screens++
	}
	if screens != 2 {
		t.Errorf("found %d printed screen commands, want 2 (demo-vt, demo-3270):\n%s", screens, out)
	}

	start := time.Now()
	if err := up.stop(t); err != nil {
		t.Fatalf("up returned %v (exit %d) after Ctrl-C, want nil\nstderr:\n%s", err, ExitCode(err), up.stderr)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("up took %v to stop", d)
	}
	if !strings.Contains(up.stderr.String(), "stopped") {
		t.Errorf("stderr lacks the stop message:\n%s", up.stderr)
	}
	for _, addr := range []string{a.mgmt, a.proxy, a.ops, a.vt, a.tn} {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still listens after up stopped", addr)
		}
	}

	// A second run reuses the data: same password, same CA, ready again.
	caBefore := readFile(t, caFile)
	up2 := startCLI(t, upDone, a.args(data)...)
	if got := readTrim(t, pwFile); got != pw {
		t.Errorf("second run changed the admin password")
	}
	if readFile(t, caFile) != caBefore {
		t.Error("second run replaced ca.pem")
	}
	checkUpSessions(t, mgmtURL, caFile, pw, a)
	if err := up2.stop(t); err != nil {
		t.Fatalf("second up: %v\nstderr:\n%s", err, up2.stderr)
	}
}

// checkUpSessions logs in as admin and checks the demo sessions.
func checkUpSessions(t *testing.T, mgmtURL, caFile, pw string, a upAddrs) {
	t.Helper()
	c, err := mgmt.NewClient(mgmtURL, []byte(readFile(t, caFile)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.HTTP.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Login(ctx, "admin", pw); err != nil {
		t.Fatalf("admin login with DATA/admin-password: %v", err)
	}
	var list struct {
		Sessions []mgmt.SessionDef `json:"sessions"`
	}
	if err := c.Do(ctx, http.MethodGet, "/api/v1/sessions", nil, &list); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"demo-vt": a.vt, "demo-3270": a.tn}
	for _, d := range list.Sessions {
		if addr, ok := want[d.Name]; ok {
			if got := net.JoinHostPort(d.Host, strconv.Itoa(d.Port)); got != addr {
				t.Errorf("session %s at %s, want %s", d.Name, got, addr)
			}
			delete(want, d.Name)
		}
	}
	if len(want) != 0 {
		t.Errorf("admin may not launch %v; sessions: %+v", want, list.Sessions)
	}
	var launch mgmt.LaunchResponse
	if err := c.Do(ctx, http.MethodPost, "/api/v1/sessions/demo-vt/launch", nil, &launch); err != nil {
		t.Fatalf("launch demo-vt: %v", err)
	}
	if launch.Proxy.Address != a.proxy || launch.Token == "" || !strings.Contains(launch.TrustStore, "BEGIN CERTIFICATE") {
		t.Errorf("launch: proxy %q, token %d bytes, trust store %d bytes", launch.Proxy.Address, len(launch.Token), len(launch.TrustStore))
	}
	if launch.Metering == nil || launch.Metering.Address != a.dtls || launch.Metering.Ticket == "" {
		t.Errorf("launch metering %+v, want heartbeats to %s", launch.Metering, a.dtls)
	}
}

func TestUpUsageAndFailures(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	for _, flag := range []string{"--mgmt-addr", "--dtls-addr", "--proxy-addr", "--ops-addr", "--demo-vt-addr", "--demo-3270-addr"} {
		t.Run("bad "+flag, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			r := runCLI(t, "up", "--data", data, flag, "nonsense")
			r.must(t, ExitUsage)
			r.stderrHas(t, flag, "nonsense", "host:port")
			if _, err := os.Stat(data); err == nil {
				t.Error("a usage error created the data directory")
			}
		})
	}
	runCLI(t, "up", "extra").must(t, ExitUsage)

	// A port in use is a failure that says which, and up stops everything
	// it started.
	for _, tc := range []struct {
		name string
		set  func(a *upAddrs, busy string)
	}{
		{"mgmt", func(a *upAddrs, busy string) { a.mgmt = busy }},
		{"dtls", func(a *upAddrs, busy string) { a.dtls = busy }},
		{"proxy", func(a *upAddrs, busy string) { a.proxy = busy }},
		{"ops", func(a *upAddrs, busy string) { a.ops = busy }},
		{"demo-vt", func(a *upAddrs, busy string) { a.vt = busy }},
		{"demo-3270", func(a *upAddrs, busy string) { a.tn = busy }},
	} {
		t.Run("busy "+tc.name, func(t *testing.T) {
			var busy string
			if tc.name == "dtls" {
				pc, err := net.ListenPacket("udp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				defer pc.Close()
				busy = pc.LocalAddr().String()
			} else {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
				busy = ln.Addr().String()
			}
			a := freeUpAddrs(t)
			tc.set(&a, busy)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			var out, errb syncBuffer
			err := Run(ctx, a.args(filepath.Join(t.TempDir(), "data")), strings.NewReader(""), &out, &errb)
			if ExitCode(err) != ExitFailure || ctx.Err() != nil {
				t.Fatalf("up with a busy port: exit %d, %v, ctx %v\nstderr:\n%s", ExitCode(err), err, ctx.Err(), errb.String())
			}
			if !strings.Contains(errb.String(), busy) {
				t.Errorf("stderr does not name the busy address %s:\n%s", busy, errb.String())
			}
			if strings.Contains(out.String(), "ready") {
				t.Errorf("printed ready although it failed:\n%s", out.String())
			}
			for _, addr := range []string{a.mgmt, a.proxy, a.ops, a.vt, a.tn} {
				if addr == busy {
					continue
				}
				if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
					c.Close()
					t.Errorf("%s still listens after up failed", addr)
				}
			}
		})
	}
}

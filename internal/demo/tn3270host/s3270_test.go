package tn3270host

import (
	"bytes"
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/termgate/termgate/emulator/tn3270"
	"github.com/termgate/termgate/internal/testpeer"
)

// startServer runs a Server on a loopback port and stops it at cleanup.
func startServer(t *testing.T, configure ...func(*Server)) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &Server{IdleTimeout: 20 * time.Second, NegotiationTimeout: 5 * time.Second}
	for _, c := range configure {
		c(srv)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(context.Background(), ln) }()
	t.Cleanup(func() {
		srv.Close()
		<-errc
	})
	return srv, ln.Addr().String()
}

// runS3270 runs an s3270 script and returns the screens that each Ascii()
// printed, and the lines of everything else.
func runS3270(t *testing.T, script string, args ...string) (screens [][]string, other []string) {
	t.Helper()
	bin := testpeer.Require(t, "s3270", "s3270")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin = strings.NewReader(script)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("s3270: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), stderr.String())
	}
	var cur []string
	for _, line := range strings.Split(out.String(), "\n") {
		if rest, ok := strings.CutPrefix(line, "data: "); ok || line == "data:" {
			cur = append(cur, rest)
			continue
		}
		if cur != nil {
			screens = append(screens, cur)
			cur = nil
		}
		other = append(other, line)
	}
	if cur != nil {
		screens = append(screens, cur)
	}
	return screens, other
}

// ourScreens drives the demo host with termgate's terminal through the same
// steps as the s3270 script of TestS3270MatchesTerminal.
func ourScreens(t *testing.T, addr string, cfg tn3270.Config) (logon, menu []string, mode tn3270.Mode) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	term, err := tn3270.Open(ctx, conn, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer term.Close()
	if err := term.WaitForText(ctx, "Password"); err != nil {
		t.Fatal(err)
	}
	if err := term.WaitForUnlock(ctx); err != nil {
		t.Fatal(err)
	}
	logon = term.Screen()
	if err := term.Type("alice\tdemo"); err != nil {
		t.Fatal(err)
	}
	if err := term.Press(tn3270.KeyEnter); err != nil {
		t.Fatal(err)
	}
	if err := term.WaitForText(ctx, "MAIN MENU"); err != nil {
		t.Fatalf("%v\n%s", err, term.Text())
	}
	return logon, term.Screen(), term.Mode()
}

func TestS3270MatchesTerminal(t *testing.T) {
	_, addr := startServer(t)
	cases := []struct {
		name   string
		prefix string
		cfg    tn3270.Config
		want   tn3270.Mode
		s3270  string
	}{
		{"tn3270e", "", tn3270.Config{}, tn3270.ModeTN3270E, "connected-tn3270e"},
		{"tn3270", "N:", tn3270.Config{NoTN3270E: true}, tn3270.ModeTN3270, "connected-3270"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			script := "Connect(" + tc.prefix + addr + ")\nWait(10,InputField)\nAscii()\n" +
				"String(alice)\nTab()\nString(demo)\nEnter()\nWait(10,InputField)\nAscii()\nQuery(ConnectionState)\nQuit()\n"
			screens, other := runS3270(t, script, "-model", "3279-2-E", "-codepage", "cp037")
			// Two screens, then Query's answer (also a data line).
			if len(screens) != 3 {
				t.Fatalf("s3270 printed %d data blocks, want 3; output: %q", len(screens), other)
			}
			if got := strings.Join(screens[2], " "); got != tc.s3270 {
				t.Errorf("s3270 connection state %q, want %s", got, tc.s3270)
			}
			logon, menu, mode := ourScreens(t, addr, tc.cfg)
			if mode != tc.want {
				t.Errorf("mode = %v, want %v", mode, tc.want)
			}
			compareScreens(t, "logon", logon, screens[0])
			compareScreens(t, "menu", menu, screens[1])
			if !strings.Contains(strings.Join(screens[1], "\n"), "Signed on as ALICE") {
				t.Errorf("s3270 menu lacks the user:\n%s", strings.Join(screens[1], "\n"))
			}
		})
	}
}

func compareScreens(t *testing.T, name string, ours, theirs []string) {
	t.Helper()
	if len(ours) != len(theirs) {
		t.Fatalf("%s: %d rows, s3270 shows %d", name, len(ours), len(theirs))
	}
	for i := range ours {
		if strings.TrimRight(ours[i], " ") != strings.TrimRight(theirs[i], " ") {
			t.Errorf("%s row %d:\n ours  %q\n s3270 %q", name, i, ours[i], theirs[i])
		}
	}
}

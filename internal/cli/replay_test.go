package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestReplayRaw(t *testing.T) {
	raw := "\x1b[2J\x1b[H" + // clear, home
		"\x1b(0lqqqk\x1b(B\r\n" + // DEC special graphics: a box
		"\x1b(0x\x1b(Bab \x1b(0x\x1b(B\r\n" +
		"\x1b(0mqqqj\x1b(B   \r\n" + // trailing spaces
		"\x1b[1;31mred\x1b[0m      " + // attributes are not printed
		"\x1b[5;3Hend" // cursor addressing
	file := writeTemp(t, "host.raw", raw)
	r := runCLI(t, "replay", "--rows", "5", "--cols", "20", file)
	r.must(t, ExitOK)
	want := "┌───┐\n│ab │\n└───┘\nred\n  end\n"
	if r.stdout != want {
		t.Errorf("screen:\n%q\nwant:\n%q", r.stdout, want)
	}
	if r.stderr != "" {
		t.Errorf("stderr: %s", r.stderr)
	}

	// Long lines wrap at --cols; every row is printed, empty ones too, and
	// no line is longer than the screen.
	file = writeTemp(t, "wrap.raw", strings.Repeat("x", 25))
	r = runCLI(t, "replay", "--rows", "4", "--cols", "20", file)
	r.must(t, ExitOK)
	if want := strings.Repeat("x", 20) + "\nxxxxx\n\n\n"; r.stdout != want {
		t.Errorf("wrapped screen %q, want %q", r.stdout, want)
	}

	// The default screen is 24×80.
	r = runCLI(t, "replay", file)
	r.must(t, ExitOK, strings.Repeat("x", 25)+"\n")
	if n := strings.Count(r.stdout, "\n"); n != 24 {
		t.Errorf("default screen has %d rows, want 24", n)
	}

	// Standard input.
	r = runCLIStdin(t, "hello\r\n\x1b[7mworld", "replay", "--rows", "2", "--cols", "10", "-")
	r.must(t, ExitOK)
	if r.stdout != "hello\nworld\n" {
		t.Errorf("stdin replay %q", r.stdout)
	}

	// Bytes that are no valid stream still give a screen, never a crash.
	r = runCLI(t, "replay", "--rows", "2", "--cols", "10", writeTemp(t, "junk.raw", "\x1b[999999999999;99999999H\x1b]\xff\xfe\x00\x1b[?"))
	r.must(t, ExitOK)
	if n := strings.Count(r.stdout, "\n"); n != 2 {
		t.Errorf("junk replay has %d rows, want 2: %q", n, r.stdout)
	}
}

func TestReplayAsciicast(t *testing.T) {
	cast := `{"version": 2, "width": 12, "height": 3, "timestamp": 1700000000, "env": {"TERM": "xterm-256color"}}
[0.10, "o", "login: "]
[0.50, "i", "admin\r"]
[0.60, "o", "admin\r\n"]
[0.90, "o", "\u001b[1mWelcome\u001b[0m to the host"]
`
	file := writeTemp(t, "session.cast", cast)
	r := runCLI(t, "replay", file)
	r.must(t, ExitOK)
	// 12 columns and 3 rows from the header; input events are not output.
	want := "login: admin\nWelcome to t\nhe host\n"
	if r.stdout != want {
		t.Errorf("screen %q, want %q", r.stdout, want)
	}
	// --rows and --cols override the header.
	r = runCLI(t, "replay", "--rows", "4", "--cols", "40", file)
	r.must(t, ExitOK)
	if want := "login: admin\nWelcome to the host\n\n\n"; r.stdout != want {
		t.Errorf("screen %q, want %q", r.stdout, want)
	}

	// A recording whose events are not JSON is an error naming the file.
	bad := writeTemp(t, "bad.cast", `{"version": 2, "width": 10, "height": 2}`+"\n[0.1, \"o\", \"ok\"]\nnot json\n")
	r = runCLI(t, "replay", bad)
	r.must(t, ExitFailure)
	r.stderrHas(t, "termgate: replay ", "bad.cast")
}

func TestReplayErrors(t *testing.T) {
	file := writeTemp(t, "host.raw", "hello")
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"missing file", []string{"replay", filepath.Join(t.TempDir(), "none.raw")}, ExitFailure, "none.raw"},
		{"directory", []string{"replay", t.TempDir()}, ExitFailure, "termgate: replay"},
		{"no file", []string{"replay"}, ExitUsage, "accepts 1 arg"},
		{"negative rows", []string{"replay", "--rows", "-1", file}, ExitUsage, "--rows"},
		{"huge rows", []string{"replay", "--rows", "5000", file}, ExitUsage, "--rows"},
		{"huge cols", []string{"replay", "--cols", "100000", file}, ExitUsage, "--cols"},
		{"rows not a number", []string{"replay", "--rows", "five", file}, ExitUsage, "five"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, tc.args...)
			r.must(t, tc.code)
			r.stderrHas(t, tc.want)
			if r.stdout != "" {
				t.Errorf("stdout: %q", r.stdout)
			}
		})
	}
}

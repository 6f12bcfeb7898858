package cli

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// commandPaths walks the command tree and returns the arguments that select
// every command below the root, parents before children.
func commandPaths(t *testing.T) [][]string {
	t.Helper()
	root := NewRoot(&Globals{Stdin: strings.NewReader(""), Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}})
	var paths [][]string
	var walk func(c *cobra.Command, prefix []string)
	walk = func(c *cobra.Command, prefix []string) {
		for _, sub := range c.Commands() {
			p := append(append([]string(nil), prefix...), sub.Name())
			paths = append(paths, p)
			walk(sub, p)
		}
	}
	walk(root, nil)
	if len(paths) < 10 {
		t.Fatalf("only %d commands registered: %v", len(paths), paths)
	}
	return paths
}

// hasSubcommands reports whether the command selected by path has children.
func hasSubcommands(path []string) bool {
	root := NewRoot(&Globals{Stdin: strings.NewReader(""), Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}})
	c, _, err := root.Find(path)
	return err == nil && c.HasSubCommands()
}

func TestHelpForEveryCommand(t *testing.T) {
	if r := runCLI(t); r.code != ExitOK || !strings.Contains(r.stdout, "Usage:") {
		t.Errorf("termgate without arguments: exit %d\n%s", r.code, r.stdout)
	}
	r := runCLI(t, "--help")
	r.must(t, ExitOK, "Usage:", "TERMGATE_", "Exit codes")
	for _, name := range []string{"up", "mgmt", "proxy", "pki", "token", "connect", "screen", "replay"} {
		if !strings.Contains(r.stdout, "\n  "+name+" ") {
			t.Errorf("root help does not list %q:\n%s", name, r.stdout)
		}
	}
	for _, path := range commandPaths(t) {
		t.Run(strings.Join(path, "_"), func(t *testing.T) {
			r := runCLI(t, append(path, "--help")...)
			r.must(t, ExitOK, "Usage:", "termgate "+strings.Join(path, " "))
			if r.stderr != "" {
				t.Errorf("help wrote to stderr: %s", r.stderr)
			}
			// -h is the same.
			if h := runCLI(t, append(path, "-h")...); h.code != ExitOK || h.stdout != r.stdout {
				t.Errorf("-h: exit %d, output differs from --help", h.code)
			}
		})
	}
}

func TestUnknownCommandsAndFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"unknown global flag", []string{"--frobnicate"}, "unknown flag: --frobnicate"},
		{"unknown flag of a command", []string{"replay", "--frobnicate", "x"}, "unknown flag: --frobnicate"},
		{"unknown shorthand", []string{"replay", "-Z", "x"}, "unknown shorthand flag: 'Z'"},
		{"flag without value", []string{"replay", "x", "--rows"}, "flag needs an argument: --rows"},
		{"bad int value", []string{"replay", "--rows", "many", "x"}, `invalid argument "many"`},
		{"bad duration value", []string{"token", "issue", "--ttl", "soon"}, `invalid argument "soon"`},
		{"too many arguments", []string{"replay", "a", "b"}, "accepts 1 arg"},
	}
	// Every command that has subcommands refuses an unknown one.
	for _, path := range commandPaths(t) {
		if hasSubcommands(path) {
			tests = append(tests, struct {
				name string
				args []string
				want string
			}{"unknown subcommand of " + strings.Join(path, " "), append(path, "frobnicate"), `unknown command "frobnicate"`})
		}
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, tc.args...)
			r.must(t, ExitUsage)
			r.stderrHas(t, "termgate: ", tc.want, "Run 'termgate --help' for usage.")
			if r.stdout != "" {
				t.Errorf("usage error wrote to stdout:\n%s", r.stdout)
			}
		})
	}
}

func TestExitCode(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{nil, ExitOK},
		{&UsageError{Err: errors.New("x")}, ExitUsage},
		{&runFailure{err: errors.New("x")}, ExitFailure},
		{&runFailure{err: usagef("x")}, ExitUsage},
		{&ExitError{Code: 7}, 7},
		{errors.New("cobra parse error"), ExitUsage},
	}
	for _, tc := range tests {
		if got := ExitCode(tc.err); got != tc.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

// replayFile writes a raw host stream of three text lines for the binding tests.
func replayFile(t *testing.T) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "host.raw")
	if err := os.WriteFile(f, []byte("one\r\ntwo\r\nthree"), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "termgate.yaml")
	if err := os.WriteFile(f, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func lineCount(s string) int { return strings.Count(s, "\n") }

func TestEnvBinding(t *testing.T) {
	raw := replayFile(t)

	t.Run("bad log level", func(t *testing.T) {
		t.Setenv("TERMGATE_LOG_LEVEL", "bogus")
		r := runCLI(t, "replay", raw)
		r.must(t, ExitUsage)
		r.stderrHas(t, "bogus")
	})
	t.Run("flag from env", func(t *testing.T) {
		t.Setenv("TERMGATE_ROWS", "5")
		t.Setenv("TERMGATE_COLS", "20")
		r := runCLI(t, "replay", raw)
		r.must(t, ExitOK, "one\ntwo\nthree\n")
		if n := lineCount(r.stdout); n != 5 {
			t.Errorf("%d lines, want 5 (TERMGATE_ROWS)", n)
		}
	})
	t.Run("flag beats env", func(t *testing.T) {
		t.Setenv("TERMGATE_ROWS", "5")
		r := runCLI(t, "replay", "--rows", "3", raw)
		r.must(t, ExitOK)
		if n := lineCount(r.stdout); n != 3 {
			t.Errorf("%d lines, want 3 (--rows beats TERMGATE_ROWS)", n)
		}
	})
	t.Run("bad env value names the variable", func(t *testing.T) {
		t.Setenv("TERMGATE_ROWS", "lots")
		r := runCLI(t, "replay", raw)
		r.must(t, ExitUsage)
		r.stderrHas(t, "TERMGATE_ROWS")
	})
	t.Run("dashes become underscores", func(t *testing.T) {
		t.Setenv("TERMGATE_LOG_FORMAT", "console")
		t.Setenv("TERMGATE_LOG_LEVEL", "debug")
		runCLI(t, "replay", "--rows", "2", raw).must(t, ExitOK)
	})
	t.Run("config file from env", func(t *testing.T) {
		t.Setenv("TERMGATE_CONFIG", writeConfig(t, "rows: 4\n"))
		r := runCLI(t, "replay", raw)
		r.must(t, ExitOK)
		if n := lineCount(r.stdout); n != 4 {
			t.Errorf("%d lines, want 4 (rows from TERMGATE_CONFIG)", n)
		}
	})
}

func TestConfigFile(t *testing.T) {
	raw := replayFile(t)

	t.Run("value from file", func(t *testing.T) {
		cfg := writeConfig(t, "rows: 4\ncols: 10\nlog-level: warn\n")
		r := runCLI(t, "--config", cfg, "replay", raw)
		r.must(t, ExitOK, "one\ntwo\nthree\n\n")
		if n := lineCount(r.stdout); n != 4 {
			t.Errorf("%d lines, want 4 (rows from the file)", n)
		}
	})
	t.Run("flag beats env beats file", func(t *testing.T) {
		cfg := writeConfig(t, "rows: 4\n")
		t.Setenv("TERMGATE_ROWS", "6")
		r := runCLI(t, "--config", cfg, "replay", raw)
		r.must(t, ExitOK)
		if n := lineCount(r.stdout); n != 6 {
			t.Errorf("%d lines, want 6 (env beats file)", n)
		}
		r = runCLI(t, "--config", cfg, "replay", "--rows", "3", raw)
		r.must(t, ExitOK)
		if n := lineCount(r.stdout); n != 3 {
			t.Errorf("%d lines, want 3 (flag beats env and file)", n)
		}
	})
	t.Run("bad log level in file", func(t *testing.T) {
		r := runCLI(t, "--config", writeConfig(t, "log-level: bogus\n"), "replay", raw)
		r.must(t, ExitUsage)
		r.stderrHas(t, "bogus")
	})
	t.Run("unknown keys are named", func(t *testing.T) {
		r := runCLI(t, "--config", writeConfig(t, "rows: 4\ncolour: red\nzzz: 1\n"), "replay", raw)
		r.must(t, ExitUsage)
		r.stderrHas(t, "unknown keys", "colour", "zzz", "termgate replay")
		if r.stdout != "" {
			t.Errorf("a refused config still ran the command:\n%s", r.stdout)
		}
	})
	t.Run("bad value names the key", func(t *testing.T) {
		r := runCLI(t, "--config", writeConfig(t, "rows: many\n"), "replay", raw)
		r.must(t, ExitUsage)
		r.stderrHas(t, `config key "rows"`)
	})
	t.Run("list for a single-valued flag", func(t *testing.T) {
		r := runCLI(t, "--config", writeConfig(t, "rows: [1, 2]\n"), "replay", raw)
		r.must(t, ExitUsage)
		r.stderrHas(t, "a list is not valid for --rows")
	})
	t.Run("not YAML", func(t *testing.T) {
		r := runCLI(t, "--config", writeConfig(t, "rows: [unclosed\n"), "replay", raw)
		r.must(t, ExitUsage)
		r.stderrHas(t, "config file")
	})
	t.Run("missing file", func(t *testing.T) {
		r := runCLI(t, "--config", filepath.Join(t.TempDir(), "none.yaml"), "replay", raw)
		r.must(t, ExitUsage)
		r.stderrHas(t, "config file", "none.yaml")
	})
	t.Run("empty file", func(t *testing.T) {
		runCLI(t, "--config", writeConfig(t, ""), "replay", "--rows", "3", raw).must(t, ExitOK, "one\ntwo\nthree\n")
	})
	t.Run("list for a repeatable flag", func(t *testing.T) {
		caDir := initCA(t)
		out := filepath.Join(t.TempDir(), "node")
		cfg := writeConfig(t, "ca-dir: "+caDir+"\ncn: node-1\ndns:\n  - a.example.com\n  - b.example.com\nip: [127.0.0.1]\n")
		runCLI(t, "--config", cfg, "pki", "issue", "--out", out).
			must(t, ExitOK, "a.example.com, b.example.com, 127.0.0.1")
		// The command line replaces the file's list rather than adding to it.
		out2 := filepath.Join(t.TempDir(), "node")
		r := runCLI(t, "--config", cfg, "pki", "issue", "--out", out2, "--dns", "c.example.com")
		r.must(t, ExitOK, "c.example.com, 127.0.0.1")
		if strings.Contains(r.stdout, "a.example.com") {
			t.Errorf("--dns did not replace the file's list:\n%s", r.stdout)
		}
		// From the environment, a comma-separated list.
		t.Setenv("TERMGATE_DNS", "d.example.com,e.example.com")
		out3 := filepath.Join(t.TempDir(), "node")
		runCLI(t, "--config", cfg, "pki", "issue", "--out", out3).must(t, ExitOK, "d.example.com, e.example.com, 127.0.0.1")
	})
}

func TestSetFlagValue(t *testing.T) {
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	s := fs.String("name", "default", "")
	n := fs.Int("count", 3, "")
	l := fs.StringSlice("item", []string{"x"}, "")
	b := fs.Bool("on", false, "")
	fs.Int("other", 0, "")

	for _, tc := range []struct {
		flag    string
		v       any
		wantErr bool
	}{
		{"name", "alice", false},
		{"count", 7, false},
		{"item", []any{"a", 2}, false},
		{"on", true, false},
		{"count", []any{1}, true},
		{"other", "x", true},
	} {
		err := setFlagValue(fs.Lookup(tc.flag), tc.v)
		if (err != nil) != tc.wantErr {
			t.Errorf("setFlagValue(%s, %v) = %v, want error %v", tc.flag, tc.v, err, tc.wantErr)
		}
	}
	if *s != "alice" || *n != 7 || strings.Join(*l, ",") != "a,2" || !*b {
		t.Errorf("got name %q count %d item %q on %v", *s, *n, *l, *b)
	}
	// A key without a value (YAML null) empties a string or a list; it never
	// sets the text "<nil>".
	if err := setFlagValue(fs.Lookup("name"), nil); err != nil || *s != "" {
		t.Errorf("null for a string: %q, %v", *s, err)
	}
	if err := setFlagValue(fs.Lookup("item"), nil); err != nil || len(*l) != 0 {
		t.Errorf("null for a list: %q, %v", *l, err)
	}
}

package vt

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/termgate/termgate/internal/testpeer"
)

var update = flag.Bool("update", false, "rewrite testdata/conformance from the case tables and tmux")

const conformanceDir = "testdata/conformance"

// TestConformance feeds every testdata/conformance/NAME.in to an 80×24 screen
// and compares the rows and the cursor with what the reference terminals
// showed for the same bytes: xterm (NAME.xterm.golden, NAME.xterm.cursor) for
// every case not in xtermExcluded, and tmux (NAME.golden, NAME.cursor) for the
// cases of the tmux set that tmux gets right (not in tmuxDisagrees). It needs
// neither program; -update regenerates the tmux set by running tmux and
// -update-xterm the xterm goldens by running xterm.
func TestConformance(t *testing.T) {
	if *update {
		regenerateConformance(t)
	}
	if *updateXterm {
		regenerateXterm(t)
	}
	ins, err := filepath.Glob(filepath.Join(conformanceDir, "*.in"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) < 100 {
		t.Fatalf("only %d conformance cases in %s; want at least 100", len(ins), conformanceDir)
	}
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".in")
		t.Run(name, func(t *testing.T) {
			input, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			var reply bytes.Buffer
			s := New(Config{Rows: 24, Cols: 80, Reply: &reply})
			s.Write(input)
			got := s.Rows()
			r, c, _ := s.Cursor()
			reply.Reset()
			s.Write([]byte("\x1b[6n"))
			cpr := strings.TrimSuffix(strings.TrimPrefix(reply.String(), "\x1b["), "R")
			compared := 0

			if _, excluded := xtermExcluded[name]; !excluded {
				want, err := readGolden(filepath.Join(conformanceDir, name+xtermGoldenSuffix))
				if err != nil {
					t.Fatalf("no xterm golden (run -update-xterm): %v", err)
				}
				for i := range want {
					want[i] = trimBlankMarks(want[i])
				}
				compared++
				if diff := rowDiff(xtermVisibleRows(s), want); diff != "" {
					t.Errorf("screen differs from xterm:\n%s", diff)
				}
				cb, err := os.ReadFile(filepath.Join(conformanceDir, name+xtermCursorSuffix))
				if err != nil {
					t.Fatal(err)
				}
				if want := strings.TrimSpace(string(cb)); cpr != want {
					t.Errorf("cursor report %q, xterm reported %q", cpr, want)
				}
			}

			if _, wrong := tmuxDisagrees[name]; wrong {
				return
			}
			want, err := readGolden(filepath.Join(conformanceDir, name+".golden"))
			if errors.Is(err, fs.ErrNotExist) {
				if compared == 0 {
					if why, ok := xtermExcluded[name]; ok {
						t.Skipf("not compared with xterm: %s", why)
					}
					t.Fatal("case has neither an xterm nor a tmux golden")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := rowDiff(got, want); diff != "" {
				t.Errorf("screen differs from tmux:\n%s", diff)
			}
			if cb, err := os.ReadFile(filepath.Join(conformanceDir, name+".cursor")); err == nil {
				var wr, wc int
				if _, err := fmt.Sscanf(string(cb), "%d %d", &wr, &wc); err != nil {
					t.Fatalf("bad cursor file: %v", err)
				}
				if r != wr || c != wc {
					t.Errorf("cursor = (%d,%d), tmux had (%d,%d)", r, c, wr, wc)
				}
			}
		})
	}
}

func rowDiff(got, want []string) string {
	var b strings.Builder
	for i := 0; i < max(len(got), len(want)); i++ {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			fmt.Fprintf(&b, "row %2d got  %q\n       want %q\n", i, g, w)
		}
	}
	return b.String()
}

func regenerateConformance(t *testing.T) {
	tmux := testpeer.Require(t, "tmux", "tmux")
	cases := map[string]string{}
	for k, v := range conformanceCases {
		cases[k] = v
	}
	for k, v := range randomCases(16) {
		cases[k] = v
	}
	if err := os.MkdirAll(conformanceDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Remove what an earlier run wrote, but not the xterm goldens nor the
	// xterm-only cases.
	xtermOnly := xtermOnlyCases()
	old, _ := filepath.Glob(filepath.Join(conformanceDir, "*"))
	for _, f := range old {
		base := filepath.Base(f)
		name, _, _ := strings.Cut(base, ".")
		if _, keep := xtermOnly[name]; keep || strings.Contains(base, ".xterm.") {
			continue
		}
		os.Remove(f)
	}
	names := make([]string, 0, len(cases))
	for k := range cases {
		names = append(names, k)
	}
	sort.Strings(names)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 6)
	var mu sync.Mutex
	var errs []string
	for i, name := range names {
		in := filepath.Join(conformanceDir, name+".in")
		if err := os.WriteFile(in, []byte(cases[name]), 0o644); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			rows, cur, err := tmuxScreen(tmux, fmt.Sprintf("tgvt%d-%d", os.Getpid(), i), in)
			if err == nil {
				err = os.WriteFile(filepath.Join(conformanceDir, name+".golden"), []byte(strings.Join(rows, "\n")+"\n"), 0o644)
			}
			if err == nil {
				err = os.WriteFile(filepath.Join(conformanceDir, name+".cursor"), []byte(cur+"\n"), 0o644)
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Sprintf("%s: %v", name, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("tmux: %s", strings.Join(errs, "\n"))
	}
}

// tmuxScreen runs cat IN in an 80×24 tmux pane on its own server socket and
// returns the rows (DEC line drawing as Unicode, as xterm shows it) and the
// cursor as "row col".
func tmuxScreen(tmux, socket, in string) ([]string, string, error) {
	abs, err := filepath.Abs(in)
	if err != nil {
		return nil, "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	run := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, tmux, append([]string{"-L", socket, "-f", "/dev/null"}, args...)...)
		cmd.Env = append(os.Environ(), "TMUX=")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("tmux %s: %w: %s", args[0], err, out)
		}
		return string(out), nil
	}
	defer run("kill-server")
	if _, err := run("new-session", "-d", "-x", "80", "-y", "24",
		fmt.Sprintf("stty -opost -echo; cat %q; sleep 30", abs)); err != nil {
		return nil, "", err
	}
	var last string
	for stable := 0; stable < 2; {
		time.Sleep(350 * time.Millisecond)
		cur, err := run("capture-pane", "-p", "-e")
		if err != nil {
			return nil, "", err
		}
		if cur == last {
			stable++
		} else {
			stable = 0
		}
		last = cur
	}
	pos, err := run("display-message", "-p", "#{cursor_y} #{cursor_x}")
	if err != nil {
		return nil, "", err
	}
	var r, c int
	if _, err := fmt.Sscanf(pos, "%d %d", &r, &c); err != nil {
		return nil, "", fmt.Errorf("cursor %q: %w", pos, err)
	}
	c = min(c, 79) // tmux keeps a pending wrap as the column past the margin
	rows := decodeTmuxCapture(last)
	for len(rows) < 24 {
		rows = append(rows, "")
	}
	return rows[:24], strconv.Itoa(r) + " " + strconv.Itoa(c), nil
}

var sgrRE = regexp.MustCompile(`\x1b\[[0-9;:]*m`)

// decodeTmuxCapture turns capture-pane -e output into plain rows: SGR is
// removed and runs between SO and SI (tmux's marking of the DEC line-drawing
// set) are mapped to the Unicode characters xterm shows.
func decodeTmuxCapture(s string) []string {
	s = sgrRE.ReplaceAllString(s, "")
	var rows []string
	acs := false // tmux does not repeat SO at the start of each row
	for _, ln := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		var b bytes.Buffer
		for _, r := range ln {
			switch {
			case r == 0x0e:
				acs = true
			case r == 0x0f:
				acs = false
			case acs:
				b.WriteRune(DECSpecialToUnicode(r))
			default:
				b.WriteRune(r)
			}
		}
		rows = append(rows, strings.TrimRight(b.String(), " "))
	}
	return rows
}

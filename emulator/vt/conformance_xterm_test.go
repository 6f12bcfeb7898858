package vt

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/termgate/termgate/internal/testpeer"
)

var updateXterm = flag.Bool("update-xterm", false,
	"write the xterm-only cases to testdata/conformance and record every case's screen under xterm (needs xterm and Xvfb)")

// The xterm goldens.
//
// `go test ./emulator/vt -run Conformance -update-xterm` starts one Xvfb, then
// for every testdata/conformance/NAME.in a fresh 80×24 xterm (a fixed font,
// UTF-8, no login shell) that runs
//
//	stty -opost -echo -icanon min 0 time 10; cat NAME.in; printf '\033[6n';
//	dd bs=64 count=1 of=CPR; printf '\033[i'; sleep 0.3
//
// Media Copy (CSI i) with printerExtent prints the whole screen to the
// printer command, `cat > OUT`. What is recorded and how it is normalised:
//
//   - printAttributes is 0, so the printer writes plain text: no SGR and no
//     ESC # 5 line-size marks. Any ESC left in the output is an error.
//   - xterm writes all 24 rows, each ending in LF; fewer or more is an error.
//   - It writes a row up to its last drawn cell, so written spaces at the end
//     of a row appear and erased ones do not, and neither does a combining
//     mark put on an erased cell there. Both sides are compared with trailing
//     spaces, and trailing blanks that hold only combining marks, trimmed
//     (trimBlankMarks).
//   - Concealed (SGR 8) characters are printed as spaces (their combining
//     marks are kept); the comparison renders this package's screen the same
//     way (xtermVisibleRows).
//   - The right half of a wide character is printed as U+FFFF; it is removed,
//     so a wide character appears once, as in Screen.Rows.
//   - DEC special graphics are printed as the Unicode characters xterm maps them
//     to, which is what Screen.Rows shows.
//   - precompose is turned off, so a base character and its combining marks
//     stay separate code points instead of being composed to NFC.
//
// The cursor is xterm's answer to CPR (CSI 6 n) sent after the case's bytes,
// stored as "row;col" in NAME.xterm.cursor; the test compares it with this
// package's own CPR answer, so origin mode is accounted for the same way on
// both sides.
const (
	xtermGoldenSuffix = ".xterm.golden"
	xtermCursorSuffix = ".xterm.cursor"
)

// xtermExcluded names the cases that get no xterm golden, with the reason.
// Each is a place where xterm 379 depends on its configuration or keeps a
// quirk of its own; this package's behaviour there is pinned by unit tests.
var xtermExcluded = map[string]string{
	"uk_charset_multinational": "with DECNRCM reset, xterm configured as a VT220 or later (decTerminalID) " +
		"takes ESC ( A as ISO Latin-1 supplemental (a→á), as a VT100 or with DECNRCM set as the UK set; " +
		"we always use the UK set (£ for #), which uk_charset checks against xterm with DECNRCM set",
	"invalid_utf8_overlong": "xterm's UTF-8 decoder keeps overlong forms and code points above U+10FFFF as " +
		"cells (its printer writes them back as invalid bytes) and turns a surrogate into one U+FFFD; " +
		"we replace each maximal invalid subpart with U+FFFD as Unicode (and RFC 3629) recommend; " +
		"invalid_utf8 checks the inputs on which the two agree",
	"cbt_pending_wrap": "xterm's CBT moves the cursor but keeps a pending wrap, so the next character " +
		"wraps from the middle of the line; we clear the pending wrap on cursor motion (DEC STD 070's " +
		"Last Column Flag); tbc_hts_cht checks CBT without a pending wrap",
	"wide_pushed_off_edge": "when ICH or insert mode pushes a wide character half past the right margin, " +
		"xterm keeps its left half in the last column; we blank that column, since a cell cannot hold " +
		"half a character; wide_irm checks insertion before a wide character that stays on the line",
}

// tmuxDisagrees lists the cases of the tmux set whose tmux golden differs from
// xterm's. xterm is the reference: for these the tmux golden is kept on disk but
// not compared. TestTmuxDisagreements checks that this list is exactly the set
// of cases whose two goldens differ. It is empty: the cases where tmux is wrong
// were left out of the tmux set from the start and live in xtermCases, whose
// comment lists each disagreement.
var tmuxDisagrees = map[string]string{}

// xtermArgs are the xterm options that make the printer output reproducible.
func xtermArgs(out string) []string {
	return []string{
		"-geometry", "80x24",
		"-fn", "fixed",
		"+ls", "+sb",
		"-xrm", "XTerm*utf8: 1",
		"-xrm", "XTerm*precompose: false",
		"-xrm", "XTerm*printAttributes: 0",
		"-xrm", "XTerm*printerExtent: true",
		"-xrm", "XTerm*printerAutoClose: true",
		"-xrm", "XTerm*printerCommand: cat > " + shellQuote(out),
	}
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// xvfb is one X server for a whole generator run.
type xvfb struct {
	cmd     *exec.Cmd
	display string
}

// startXvfb starts Xvfb on a display it picks itself (-displayfd) and waits
// up to 10 s for it to announce the display number.
func startXvfb(bin string) (*xvfb, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	cmd := exec.Command(bin, "-displayfd", "3", "-nolisten", "tcp", "-screen", "0", "1024x768x24")
	cmd.ExtraFiles = []*os.File{w}
	if err := cmd.Start(); err != nil {
		w.Close()
		return nil, fmt.Errorf("start Xvfb: %w", err)
	}
	w.Close()
	x := &xvfb{cmd: cmd}
	type result struct {
		line string
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		line, err := bufio.NewReader(r).ReadString('\n')
		ch <- result{strings.TrimSpace(line), err}
	}()
	select {
	case res := <-ch:
		if res.line == "" {
			x.stop()
			return nil, fmt.Errorf("Xvfb announced no display: %v", res.err)
		}
		x.display = ":" + res.line
		return x, nil
	case <-time.After(10 * time.Second):
		x.stop()
		<-ch // the pipe's read end closes with the process
		return nil, errors.New("Xvfb did not announce a display within 10s")
	}
}

func (x *xvfb) stop() {
	_ = x.cmd.Process.Kill()
	_ = x.cmd.Wait()
}

// xtermScreen runs the case file in through a fresh xterm on display and
// returns the normalised rows and the CPR answer ("row;col").
func xtermScreen(bin, display, in, work string) ([]string, string, error) {
	abs, err := filepath.Abs(in)
	if err != nil {
		return nil, "", err
	}
	out := filepath.Join(work, "screen.txt")
	cpr := filepath.Join(work, "cpr.txt")
	script := fmt.Sprintf("stty -opost -echo -icanon min 0 time 10; cat %s; printf '\\033[6n'; "+
		"dd bs=64 count=1 of=%s 2>/dev/null; printf '\\033[i'; sleep 0.3",
		shellQuote(abs), shellQuote(cpr))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(xtermArgs(out), "-e", "sh", "-c", script)...)
	cmd.Env = append(os.Environ(), "DISPLAY="+display, "LANG=C.UTF-8", "LC_ALL=C.UTF-8")
	cmd.WaitDelay = 2 * time.Second
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, "", fmt.Errorf("xterm: %w: %s", err, msg)
	}
	// The printer command may still be writing when xterm exits.
	var data []byte
	for deadline := time.Now().Add(3 * time.Second); ; {
		data, err = os.ReadFile(out)
		if err == nil && bytes.Count(data, []byte("\n")) >= 24 {
			break
		}
		if time.Now().After(deadline) {
			return nil, "", fmt.Errorf("printer output %q incomplete after 3s (%v)", data, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	rows, err := decodeXtermPrint(data)
	if err != nil {
		return nil, "", err
	}
	raw, err := os.ReadFile(cpr)
	if err != nil {
		return nil, "", fmt.Errorf("cursor report: %w", err)
	}
	m := cprRE.FindAllSubmatch(raw, -1)
	if m == nil {
		return nil, "", fmt.Errorf("no cursor report in %q", raw)
	}
	return rows, string(m[len(m)-1][1]), nil
}

var cprRE = regexp.MustCompile(`\x1b\[([0-9]+;[0-9]+)R`)

// decodeXtermPrint turns xterm's Media Copy output into rows as Screen.Rows
// returns them (see the normalisation notes above).
func decodeXtermPrint(data []byte) ([]string, error) {
	if i := bytes.IndexByte(data, 0x1b); i >= 0 {
		return nil, fmt.Errorf("escape sequence in printer output at byte %d: %q", i, data[i:min(i+16, len(data))])
	}
	s := strings.ReplaceAll(string(data), "\r", "")
	rows := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	if len(rows) != 24 {
		return nil, fmt.Errorf("printer output has %d rows, want 24", len(rows))
	}
	for i, r := range rows {
		rows[i] = trimBlankMarks(strings.ReplaceAll(r, "\uffff", ""))
	}
	return rows, nil
}

// xtermOnlyCases are the cases that have no tmux golden: the hand-written ones
// where tmux is wrong and the random streams of randomXtermCases.
func xtermOnlyCases() map[string]string {
	out := make(map[string]string, len(xtermCases)+10)
	for k, v := range xtermCases {
		out[k] = v
	}
	for k, v := range randomXtermCases(10) {
		out[k] = v
	}
	return out
}

func regenerateXterm(t *testing.T) {
	xterm := testpeer.Require(t, "xterm", "xterm")
	xvfbBin := testpeer.Require(t, "Xvfb", "xvfb xfonts-base xauth")
	if err := os.MkdirAll(conformanceDir, 0o755); err != nil {
		t.Fatal(err)
	}
	old, _ := filepath.Glob(filepath.Join(conformanceDir, "*.xterm.*"))
	for _, f := range old {
		os.Remove(f)
	}
	for name, in := range xtermOnlyCases() {
		if err := os.WriteFile(filepath.Join(conformanceDir, name+".in"), []byte(in), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ins, err := filepath.Glob(filepath.Join(conformanceDir, "*.in"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(ins)
	x, err := startXvfb(xvfbBin)
	if err != nil {
		t.Fatal(err)
	}
	defer x.stop()
	work := t.TempDir()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	var mu sync.Mutex
	var errs []string
	for i, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".in")
		if _, ok := xtermExcluded[name]; ok {
			continue
		}
		dir := filepath.Join(work, fmt.Sprint(i))
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			rows, cur, err := xtermScreen(xterm, x.display, in, dir)
			if err == nil {
				err = os.WriteFile(filepath.Join(conformanceDir, name+xtermGoldenSuffix), []byte(strings.Join(rows, "\n")+"\n"), 0o644)
			}
			if err == nil {
				err = os.WriteFile(filepath.Join(conformanceDir, name+xtermCursorSuffix), []byte(cur+"\n"), 0o644)
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
		sort.Strings(errs)
		t.Fatalf("xterm:\n%s", strings.Join(errs, "\n"))
	}
}

// readGolden reads a golden screen file as 24 rows with trailing spaces
// trimmed.
func readGolden(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	want := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	for len(want) < 24 {
		want = append(want, "")
	}
	for i := range want {
		want[i] = strings.TrimRight(want[i], " ")
	}
	return want, nil
}

// concealRE matches an SGR sequence with the parameter 8 (conceal).
var concealRE = regexp.MustCompile(`\x1b\[(?:[0-9;]*;)?8(?:;[0-9;]*)?m`)

// blankedBy reports whether the xterm row x is the tmux row tm with some
// characters printed as spaces, as xterm's printer does for concealed text.
func blankedBy(x, tm string) bool {
	xr, tr := []rune(x), []rune(tm)
	for i := range max(len(xr), len(tr)) {
		xc, tc := ' ', ' '
		if i < len(xr) {
			xc = xr[i]
		}
		if i < len(tr) {
			tc = tr[i]
		}
		if xc != tc && xc != ' ' {
			return false
		}
	}
	return true
}

// TestTmuxDisagreements keeps tmuxDisagrees honest: it must name exactly the
// cases whose tmux and xterm goldens differ (text that xterm's printer blanks
// because it was concealed is not a difference).
func TestTmuxDisagreements(t *testing.T) {
	goldens, err := filepath.Glob(filepath.Join(conformanceDir, "*"+xtermGoldenSuffix))
	if err != nil {
		t.Fatal(err)
	}
	differ := map[string]bool{}
	for _, xg := range goldens {
		name := strings.TrimSuffix(filepath.Base(xg), xtermGoldenSuffix)
		tg := filepath.Join(conformanceDir, name+".golden")
		if _, err := os.Stat(tg); err != nil {
			continue
		}
		x, err := readGolden(xg)
		if err != nil {
			t.Fatal(err)
		}
		tm, err := readGolden(tg)
		if err != nil {
			t.Fatal(err)
		}
		input, err := os.ReadFile(filepath.Join(conformanceDir, name+".in"))
		if err != nil {
			t.Fatal(err)
		}
		conceals := concealRE.Match(input)
		for i := range tm {
			if tm[i] != x[i] && !(conceals && blankedBy(x[i], tm[i])) {
				differ[name] = true
			}
		}
		if differ[name] {
			continue
		}
		// The cursors: tmux's is "row col" from 0, xterm's a CPR "row;col"
		// from 1 (no case of the tmux set ends in origin mode).
		tc, err1 := os.ReadFile(filepath.Join(conformanceDir, name+".cursor"))
		xc, err2 := os.ReadFile(filepath.Join(conformanceDir, name+xtermCursorSuffix))
		if err1 != nil || err2 != nil {
			continue
		}
		var r, c int
		if _, err := fmt.Sscanf(string(tc), "%d %d", &r, &c); err != nil {
			t.Fatalf("%s: bad tmux cursor: %v", name, err)
		}
		if fmt.Sprintf("%d;%d", r+1, c+1) != strings.TrimSpace(string(xc)) {
			differ[name] = true
		}
	}
	for name := range differ {
		if _, ok := tmuxDisagrees[name]; !ok {
			t.Errorf("%s: tmux and xterm goldens differ but the case is not in tmuxDisagrees", name)
		}
	}
	for name := range tmuxDisagrees {
		if !differ[name] {
			t.Errorf("%s: listed in tmuxDisagrees but the goldens agree (or one is missing)", name)
		}
	}
}

// xtermVisibleRows returns the screen's rows as xterm's printer writes them:
// like Screen.Rows, but a concealed (SGR 8) character is a space (its
// combining marks stay), because xterm prints concealed characters as blanks.
func xtermVisibleRows(s *Screen) []string {
	rows, cols := s.Size()
	out := make([]string, rows)
	var b strings.Builder
	for r := range rows {
		b.Reset()
		for c := range cols {
			cell := s.Cell(r, c)
			switch {
			case cell.Width == 0:
			case cell.Attr.Flags&Invisible != 0:
				b.WriteString(strings.Repeat(" ", cell.Width))
				b.WriteString(cell.Combining)
			default:
				b.WriteRune(cell.Rune)
				b.WriteString(cell.Combining)
			}
		}
		out[r] = trimBlankMarks(b.String())
	}
	return out
}

// trimBlankMarks trims trailing spaces, and trailing blank cells that hold
// only combining marks: xterm's printer stops at the last cell it has drawn,
// and a combining mark put on an erased cell does not make it drawn.
func trimBlankMarks(row string) string {
	rs := []rune(strings.TrimRight(row, " "))
	for {
		i := len(rs)
		for i > 0 && runeWidth(rs[i-1]) == 0 {
			i--
		}
		if i == len(rs) || i == 0 || rs[i-1] != ' ' {
			return string(rs)
		}
		rs = []rune(strings.TrimRight(string(rs[:i-1]), " "))
	}
}

package vt

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hinshun/vt10x"
)

// The engine benchmarks feed identical payloads in identical 4 KiB writes to
// this package and to github.com/hinshun/vt10x, and check once, outside the
// timed loop, that each engine's final 80×24 screen is the expected one.
//
//	go test -run '^$' -bench Engines ./emulator/vt

const benchChunk = 4 << 10

type benchPayload struct {
	name string
	data []byte
	want []string // the 24 rows of the final screen
}

// benchPayloads returns the payloads, each about size bytes.
func benchPayloads(size int) []benchPayload {
	return []benchPayload{plainPayload(size), escapePayload(size), scrollPayload(size)}
}

// plainPayload is lines of printable ASCII.
func plainPayload(size int) benchPayload {
	var b strings.Builder
	var lines []string
	b.WriteString("\x1b[H\x1b[2J")
	for i := 0; b.Len() < size; i++ {
		ln := fmt.Sprintf("%06d The quick brown fox jumps over the lazy dog; pack my box with five dozen", i)
		lines = append(lines, ln)
		b.WriteString(ln)
		b.WriteString("\r\n")
	}
	want := append(lines[len(lines)-23:], "")
	return benchPayload{name: "plain", data: []byte(b.String()), want: want}
}

// escapePayload redraws the screen in coloured 8-cell fields addressed with
// CUP: mostly escape sequences.
func escapePayload(size int) benchPayload {
	var b strings.Builder
	grid := make([][]byte, 24)
	for frame := 0; b.Len() < size; frame++ {
		for r := 0; r < 24; r++ {
			grid[r] = []byte(strings.Repeat(" ", 80))
			for c := 0; c < 10; c++ {
				field := fmt.Sprintf("%02d%02d%03d", r, c, frame%1000)
				fmt.Fprintf(&b, "\x1b[%d;%dH\x1b[%d;%d;%dm%s\x1b[0m", r+1, c*8+1, 1+frame%2, 31+(r+c)%7, 41+frame%7, field)
				copy(grid[r][c*8:], field)
			}
		}
	}
	want := make([]string, 24)
	for r := range grid {
		want[r] = strings.TrimRight(string(grid[r]), " ")
	}
	return benchPayload{name: "escape", data: []byte(b.String()), want: want}
}

// scrollPayload scrolls text through a scroll region between a fixed header
// and footer, with some reverse indexes.
func scrollPayload(size int) benchPayload {
	var b strings.Builder
	b.WriteString("\x1b[H\x1b[2Jheader\x1b[24;1Hfooter\x1b[2;23r\x1b[23;1H")
	region := make([]string, 22) // a model of the scroll region
	for i := 0; b.Len() < size; i++ {
		ln := fmt.Sprintf("scroll %06d lorem ipsum dolor sit amet", i)
		b.WriteString("\n")
		b.WriteString(ln)
		b.WriteString("\r")
		region = append(region[1:], ln)
		if i%50 == 49 {
			// Up to the top margin and one reverse index (scrolls down, the
			// bottom line is lost), then back down and one index.
			b.WriteString("\x1b[2;1H\x1bM\x1b[23;1H\x1bD")
			region = append([]string{""}, region[:21]...)
			region = append(region[1:], "")
		}
	}
	want := []string{"header"}
	want = append(want, region...)
	want = append(want, "footer")
	return benchPayload{name: "scroll", data: []byte(b.String()), want: want}
}

func feedChunks(write func([]byte) (int, error), data []byte) error {
	for len(data) > 0 {
		n := min(benchChunk, len(data))
		m, err := write(data[:n])
		if err != nil {
			return err
		}
		if m != n {
			return fmt.Errorf("short write %d of %d", m, n)
		}
		data = data[n:]
	}
	return nil
}

func vt10xRows(t vt10x.Terminal) []string {
	cols, rows := t.Size()
	out := make([]string, rows)
	t.Lock()
	defer t.Unlock()
	for y := 0; y < rows; y++ {
		var b strings.Builder
		for x := 0; x < cols; x++ {
			c := t.Cell(x, y).Char
			if c == 0 {
				c = ' '
			}
			b.WriteRune(c)
		}
		out[y] = strings.TrimRight(b.String(), " ")
	}
	return out
}

func BenchmarkEngines(b *testing.B) {
	for _, p := range benchPayloads(1 << 20) {
		b.Run(p.name+"/termgate", func(b *testing.B) {
			s := New(Config{Rows: 24, Cols: 80})
			if err := feedChunks(s.Write, p.data); err != nil {
				b.Fatal(err)
			}
			if d := rowDiff(s.Rows(), p.want); d != "" {
				b.Fatalf("termgate screen wrong:\n%s", d)
			}
			b.SetBytes(int64(len(p.data)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				feedChunks(s.Write, p.data)
			}
		})
		b.Run(p.name+"/vt10x", func(b *testing.B) {
			term := vt10x.New(vt10x.WithSize(80, 24))
			if err := feedChunks(term.Write, p.data); err != nil {
				b.Fatal(err)
			}
			if d := rowDiff(vt10xRows(term), p.want); d != "" {
				b.Fatalf("vt10x screen wrong:\n%s", d)
			}
			b.SetBytes(int64(len(p.data)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				feedChunks(term.Write, p.data)
			}
		})
	}
}

// TestBenchPayloadsCorrect runs the benchmark payloads' correctness check in
// the ordinary test run, for both engines.
func TestBenchPayloadsCorrect(t *testing.T) {
	for _, p := range benchPayloads(64 << 10) {
		s := New(Config{Rows: 24, Cols: 80})
		if err := feedChunks(s.Write, p.data); err != nil {
			t.Fatal(err)
		}
		if d := rowDiff(s.Rows(), p.want); d != "" {
			t.Errorf("%s: termgate screen wrong:\n%s", p.name, d)
		}
		term := vt10x.New(vt10x.WithSize(80, 24))
		if err := feedChunks(term.Write, p.data); err != nil {
			t.Fatal(err)
		}
		if d := rowDiff(vt10xRows(term), p.want); d != "" {
			t.Errorf("%s: vt10x screen wrong:\n%s", p.name, d)
		}
	}
}

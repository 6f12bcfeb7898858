package vt

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"testing"
)

// FuzzParse feeds arbitrary bytes, split in two writes, to a small screen
// and checks the invariants: no panic, the cursor inside the screen, Rows of
// the right length, every row at most Cols cells wide.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"hello\r\nworld",
		"\x1b[2J\x1b[H\x1b[31;1mred\x1b[m",
		"\x1b[5;10r\x1b[?6h\x1b[99;99H\x1bM\x1bD\x1b[3L\x1b[2M",
		"\x1b(0lqk\x1b(B\x0e\x0f\x1bN\x1bO",
		"中文\U0001F600e\u0301\xff\xc0\xaf",
		"\x1b]0;title\x07\x1bPq\x1b\\\x1b_x\x1b\\",
		"\x1b[38:2::1:2:3m\x1b[48;5;255m\x1b[4:3m",
		"\x1b[?1049h\x1b[?47l\x1b[?1047h\x1b7\x1b8\x1b[s\x1b[u",
		"\x1b[c\x1b[>c\x1b[6n\x1b[?2004$p\x1b#8\x1bc\x1b[!p",
		"\x1b[1\"q\x1b[?2J\x1b[?2K\x1b[4h\x1b[20h\x1b[3b\x1b[Z\x1b[I",
		"\u009b5G\u009d0;t\u009c",
	} {
		f.Add([]byte(s), uint8(len(s)/2))
	}
	f.Fuzz(func(t *testing.T, data []byte, split uint8) {
		var reply bytes.Buffer
		s := New(Config{Rows: 7, Cols: 11, Scrollback: 5, Reply: &reply})
		k := min(int(split), len(data))
		s.Write(data[:k])
		s.Write(data[k:])
		checkInvariants(t, s)
		s.Resize(3, 4)
		checkInvariants(t, s)
		s.Write(data)
		checkInvariants(t, s)
		if reply.Len() > 64*(len(data)+1) {
			t.Fatalf("reply of %d bytes for %d input bytes", reply.Len(), len(data))
		}
	})
}

func checkInvariants(t *testing.T, s *Screen) {
	t.Helper()
	rows, cols := s.Size()
	r, c, _ := s.Cursor()
	if r < 0 || r >= rows || c < 0 || c >= cols {
		t.Fatalf("cursor (%d,%d) outside %d×%d", r, c, rows, cols)
	}
	got := s.Rows()
	if len(got) != rows {
		t.Fatalf("Rows() has %d rows, want %d", len(got), rows)
	}
	for i := 0; i < rows; i++ {
		w := 0
		for j := 0; j < cols; j++ {
			cell := s.Cell(i, j)
			w += cell.Width
			if cell.Width == 2 && (j+1 >= cols || s.Cell(i, j+1).Width != 0) {
				t.Fatalf("row %d: wide cell at %d has no right half", i, j)
			}
			if cell.Width == 0 && (j == 0 || s.Cell(i, j-1).Width != 2) {
				t.Fatalf("row %d: right half at %d has no left half", i, j)
			}
		}
		if w != cols {
			t.Fatalf("row %d is %d cells wide, want %d", i, w, cols)
		}
	}
}

// TestConcurrentReadWrite runs under -race: one goroutine writes while
// others read.
func TestConcurrentReadWrite(t *testing.T) {
	s := New(Config{Rows: 10, Cols: 40, Reply: io.Discard})
	payload := []byte(strings.Repeat("line \x1b[31mred\x1b[m 中文 \x1b[5;5H\x1b[K\x1b[6n\r\n", 50))
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		for i := 0; i < 50; i++ {
			s.Write(payload)
			if i == 25 {
				s.Resize(12, 30)
			}
		}
	}()
	for r := 0; r < 3; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				case <-s.Changed():
				default:
				}
				_ = s.Rows()
				row, col, _ := s.Cursor()
				_ = s.Cell(row, col)
				_ = s.Text(0, 0, 10)
				_ = s.Scrollback()
				_ = s.Modes()
				_ = s.Title()
			}
		}()
	}
	wg.Wait()
	checkInvariants(t, s)
}

// TestWritePlainTextAllocs checks that plain text, scrolling included,
// allocates nothing once the scrollback is full.
func TestWritePlainTextAllocs(t *testing.T) {
	s := New(Config{Rows: 24, Cols: 80, Scrollback: 10})
	chunk := []byte(strings.Repeat("The quick brown fox jumps over the lazy dog 0123456789.\r\n", 64))
	for i := 0; i < 4; i++ {
		s.Write(chunk) // fill the scrollback
	}
	if n := testing.AllocsPerRun(100, func() { s.Write(chunk) }); n != 0 {
		t.Fatalf("Write of plain text allocates %v times per call, want 0", n)
	}
	esc := []byte(strings.Repeat("\x1b[1;31mred\x1b[m \x1b[10;20Hx\x1b[K\x1b[2;5r\x1b[r\r\n", 64))
	s.Write(esc)
	if n := testing.AllocsPerRun(100, func() { s.Write(esc) }); n != 0 {
		t.Fatalf("Write of SGR/CUP text allocates %v times per call, want 0", n)
	}
}

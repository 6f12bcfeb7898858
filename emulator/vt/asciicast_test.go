package vt

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func TestCastRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(1700000000, 0)
	clock := func() time.Time { return now }
	rec, err := NewCastRecorder(&buf, CastHeader{Width: 80, Height: 24, Title: "demo"}, clock)
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(1500 * time.Millisecond)
	if _, err := rec.Write([]byte("hello \xe4\xb8")); err != nil { // split UTF-8
		t.Fatal(err)
	}
	now = now.Add(250 * time.Millisecond)
	rec.Write([]byte("\xad\r\n\x1b[31m"))
	rec.Event(CastInput, []byte("q"))
	rec.Write([]byte("\xe6"))
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if want := `{"version":2,"width":80,"height":24,"timestamp":1700000000,"title":"demo"}`; lines[0] != want {
		t.Fatalf("header %s, want %s", lines[0], want)
	}
	if want := `[1.5, "o", "hello "]`; lines[1] != want {
		t.Fatalf("event %s, want %s", lines[1], want)
	}
	cr, err := NewCastReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if h := cr.Header(); h.Width != 80 || h.Height != 24 || h.Title != "demo" {
		t.Fatalf("header %+v", h)
	}
	var out, in string
	var times []float64
	for {
		ev, err := cr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		times = append(times, ev.Time)
		switch ev.Type {
		case CastOutput:
			out += ev.Data
		case CastInput:
			in += ev.Data
		}
	}
	if out != "hello 中\r\n\x1b[31m\ufffd" || in != "q" {
		t.Fatalf("out %q in %q", out, in)
	}
	if times[0] != 1.5 || times[1] != 1.75 {
		t.Fatalf("times %v", times)
	}
}

func TestCastReaderErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", ErrCastHeader},
		{"not json", "hello\n", ErrCastHeader},
		{"version 1", `{"version":1}` + "\n", ErrCastHeader},
		{"bad event", `{"version":2}` + "\n[1, \"o\"]\n", ErrCastEvent},
		{"bad time", `{"version":2}` + "\n[\"x\", \"o\", \"a\"]\n", ErrCastEvent},
		{"negative time", `{"version":2}` + "\n[-1, \"o\", \"a\"]\n", ErrCastEvent},
		{"not array", `{"version":2}` + "\n{}\n", ErrCastEvent},
	}
	for _, tc := range tests {
		cr, err := NewCastReader(strings.NewReader(tc.in))
		if err == nil {
			_, err = cr.Next()
		}
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.want)
		}
		var ce *CastError
		if !errors.As(err, &ce) || ce.Line < 1 {
			t.Errorf("%s: err %v is not a CastError with a line", tc.name, err)
		}
	}
}

func FuzzCastReader(f *testing.F) {
	f.Add([]byte(`{"version":2,"width":80,"height":24}` + "\n[0.1, \"o\", \"hi\\r\\n\"]\n[0.2, \"i\", \"x\"]\n"))
	f.Add([]byte(`{"version":2}` + "\n\n[1e308, \"o\", \"\\u001b[31m\"]"))
	f.Add([]byte("{\"version\":2}\n[1,2,3]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cr, err := NewCastReader(bytes.NewReader(data))
		if err != nil {
			return
		}
		s := New(Config{Rows: 5, Cols: 10})
		for i := 0; i < 1000; i++ {
			ev, err := cr.Next()
			if err != nil {
				return
			}
			if ev.Time < 0 {
				t.Fatalf("negative time %v", ev.Time)
			}
			s.Write([]byte(ev.Data))
		}
	})
}

func TestReplay(t *testing.T) {
	s, err := Replay(strings.NewReader("ab\r\n\x1b[31mcd"), Config{Rows: 3, Cols: 5})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.Rows(), "|"); got != "ab|cd|" {
		t.Fatalf("raw rows %q", got)
	}
	// A JSON first line that is not a v2 header is raw bytes.
	s, err = Replay(strings.NewReader(`{"version": 1}`), Config{Rows: 1, Cols: 20})
	if err != nil || s.Rows()[0] != `{"version": 1}` {
		t.Fatalf("v1 treated as cast: %q, %v", s.Rows(), err)
	}
	cast := "{\"version\": 2, \"width\": 6, \"height\": 2}\n[0, \"o\", \"x\"]\n[1, \"i\", \"ignored\"]\n[2, \"o\", \"y\"]\n"
	s, err = Replay(strings.NewReader(cast), Config{})
	if err != nil {
		t.Fatal(err)
	}
	if rows, cols := s.Size(); rows != 2 || cols != 6 || s.Rows()[0] != "xy" {
		t.Fatalf("cast: %d×%d %q", rows, cols, s.Rows())
	}
	_, err = Replay(strings.NewReader("{\"version\": 2}\n[0, \"o\"]\n"), Config{})
	if !errors.Is(err, ErrCastEvent) {
		t.Fatalf("bad cast err = %v", err)
	}
}

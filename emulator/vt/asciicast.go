package vt

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// MaxCastLine bounds one line of an asciicast file read by CastReader.
const MaxCastLine = 16 << 20

// Event types of asciicast v2.
const (
	CastOutput = "o" // bytes from the host to the terminal
	CastInput  = "i" // bytes typed by the user
)

// CastHeader is the first line of an asciicast v2 file.
type CastHeader struct {
	Version   int               `json:"version"`
	Width     int               `json:"width"`
	Height    int               `json:"height"`
	Timestamp int64             `json:"timestamp,omitempty"`
	Title     string            `json:"title,omitempty"`
	Env       map[string]string `json:"env,omitempty"`
}

// CastEvent is one event line: [time, type, data].
type CastEvent struct {
	Time float64 // seconds since the start of the recording
	Type string  // CastOutput, CastInput or another type
	Data string
}

// CastRecorder writes an asciicast v2 recording. It is safe for concurrent
// use; events are written in the order their calls take its lock.
type CastRecorder struct {
	mu    sync.Mutex
	w     io.Writer
	now   func() time.Time
	start time.Time
	// pending holds an incomplete UTF-8 sequence per event type, kept until
	// the rest arrives, so that a character split across writes survives.
	pending map[string][]byte
	err     error
}

// NewCastRecorder writes the header h (Version is set to 2) and returns a
// recorder whose event times count from now. now may be nil for time.Now.
func NewCastRecorder(w io.Writer, h CastHeader, now func() time.Time) (*CastRecorder, error) {
	if now == nil {
		now = time.Now
	}
	h.Version = 2
	start := now()
	if h.Timestamp == 0 {
		h.Timestamp = start.Unix()
	}
	b, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("asciicast header: %w", err)
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("asciicast header: %w", err)
	}
	return &CastRecorder{w: w, now: now, start: start, pending: map[string][]byte{}}, nil
}

// Write records p as output, so a recorder can sit beside a Screen in an
// io.MultiWriter.
func (r *CastRecorder) Write(p []byte) (int, error) {
	if err := r.Event(CastOutput, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Event records p as an event of type typ. An incomplete UTF-8 character at
// the end of p is held back until the next event of the same type or Close;
// other invalid bytes become U+FFFD, as JSON strings must be UTF-8.
func (r *CastRecorder) Event(typ string, p []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	data := append(r.pending[typ], p...)
	cut := len(data) - incompleteSuffix(data)
	r.pending[typ] = bytes.Clone(data[cut:])
	if cut == 0 {
		return nil
	}
	return r.writeLocked(typ, data[:cut])
}

// incompleteSuffix returns the length of a trailing incomplete UTF-8 sequence.
func incompleteSuffix(b []byte) int {
	for i := 1; i <= 3 && i <= len(b); i++ {
		c := b[len(b)-i]
		if c < 0x80 {
			return 0
		}
		if c >= 0xC0 { // a leading byte
			if !utf8.FullRune(b[len(b)-i:]) {
				return i
			}
			return 0
		}
	}
	return 0
}

func (r *CastRecorder) writeLocked(typ string, data []byte) error {
	t := r.now().Sub(r.start).Seconds()
	t = math.Round(t*1e6) / 1e6
	ts, _ := json.Marshal(string(data)) // strings always marshal
	ty, _ := json.Marshal(typ)
	line := make([]byte, 0, len(ts)+len(ty)+32)
	line = append(line, '[')
	line = strconv.AppendFloat(line, t, 'f', -1, 64)
	line = append(line, ", "...)
	line = append(line, ty...)
	line = append(line, ", "...)
	line = append(line, ts...)
	line = append(line, "]\n"...)
	if _, err := r.w.Write(line); err != nil {
		r.err = fmt.Errorf("asciicast event: %w", err)
		return r.err
	}
	return nil
}

// Close writes any held-back bytes. It does not close the underlying writer.
func (r *CastRecorder) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, typ := range []string{CastOutput, CastInput} {
		if p := r.pending[typ]; len(p) > 0 && r.err == nil {
			r.pending[typ] = nil
			if err := r.writeLocked(typ, p); err != nil {
				return err
			}
		}
	}
	for typ, p := range r.pending {
		if len(p) > 0 && r.err == nil {
			r.pending[typ] = nil
			if err := r.writeLocked(typ, p); err != nil {
				return err
			}
		}
	}
	return r.err
}

// CastReader reads an asciicast v2 recording.
type CastReader struct {
	br     *bufio.Reader
	line   int
	header CastHeader
}

// NewCastReader reads and checks the header. It returns an error wrapping
// ErrCastHeader if the first line is not an asciicast v2 header.
func NewCastReader(r io.Reader) (*CastReader, error) {
	cr := &CastReader{br: bufio.NewReaderSize(r, 64<<10)}
	b, err := cr.readLine()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &CastError{Line: 1, Err: ErrCastHeader}
		}
		return nil, err
	}
	h, ok := ParseCastHeader(b)
	if !ok {
		return nil, &CastError{Line: 1, Err: ErrCastHeader}
	}
	cr.header = h
	return cr, nil
}

// ParseCastHeader reports whether line is an asciicast v2 header (a JSON
// object with "version": 2) and returns it.
func ParseCastHeader(line []byte) (CastHeader, bool) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] != '{' {
		return CastHeader{}, false
	}
	var h CastHeader
	if err := json.Unmarshal(line, &h); err != nil || h.Version != 2 {
		return CastHeader{}, false
	}
	return h, true
}

// Header returns the recording's header.
func (cr *CastReader) Header() CastHeader { return cr.header }

// Next returns the next event, or io.EOF after the last one. Blank lines are
// skipped.
func (cr *CastReader) Next() (CastEvent, error) {
	for {
		b, err := cr.readLine()
		if err != nil {
			return CastEvent{}, err
		}
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		var raw []json.RawMessage
		if err := json.Unmarshal(b, &raw); err != nil {
			return CastEvent{}, &CastError{Line: cr.line, Err: fmt.Errorf("%w: %w", ErrCastEvent, err)}
		}
		var ev CastEvent
		if len(raw) != 3 ||
			json.Unmarshal(raw[0], &ev.Time) != nil ||
			json.Unmarshal(raw[1], &ev.Type) != nil ||
			json.Unmarshal(raw[2], &ev.Data) != nil ||
			ev.Time < 0 || math.IsNaN(ev.Time) {
			return CastEvent{}, &CastError{Line: cr.line, Err: ErrCastEvent}
		}
		return ev, nil
	}
}

// readLine returns the next line without its newline; io.EOF at the end.
func (cr *CastReader) readLine() ([]byte, error) {
	var buf []byte
	for {
		frag, err := cr.br.ReadSlice('\n')
		buf = append(buf, frag...)
		if len(buf) > MaxCastLine {
			return nil, &CastError{Line: cr.line + 1, Err: ErrCastLineTooLong}
		}
		switch {
		case err == nil:
			cr.line++
			return bytes.TrimRight(buf, "\r\n"), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if len(buf) == 0 {
				return nil, io.EOF
			}
			cr.line++
			return buf, nil
		default:
			return nil, fmt.Errorf("asciicast: %w", err)
		}
	}
}

// Replay feeds r, either the raw bytes a host sent or an asciicast v2
// recording (detected by a first line that is a JSON object with
// "version": 2, whose "o" events are fed in order), to a new screen and
// returns it. For a recording, zero cfg.Rows and cfg.Cols take the header's
// height and width.
func Replay(r io.Reader, cfg Config) (*Screen, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	first, _ := br.Peek(64 << 10)
	if i := bytes.IndexByte(first, '\n'); i >= 0 {
		first = first[:i]
	}
	h, isCast := ParseCastHeader(first)
	if !isCast {
		s := New(cfg)
		if _, err := io.Copy(s, br); err != nil {
			return nil, fmt.Errorf("replay: %w", err)
		}
		return s, nil
	}
	if cfg.Rows == 0 {
		cfg.Rows = h.Height
	}
	if cfg.Cols == 0 {
		cfg.Cols = h.Width
	}
	cr, err := NewCastReader(br)
	if err != nil {
		return nil, err
	}
	s := New(cfg)
	for {
		ev, err := cr.Next()
		if errors.Is(err, io.EOF) {
			return s, nil
		}
		if err != nil {
			return nil, err
		}
		if ev.Type == CastOutput {
			s.Write([]byte(ev.Data))
		}
	}
}

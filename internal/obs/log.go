// Package obs sets up logging (zerolog) and metrics (Prometheus) the same way
// for every termgate component.
package obs

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
)

// LogFormat selects how log events are written.
type LogFormat string

const (
	// FormatAuto writes JSON, or a human console format when the output is a terminal.
	FormatAuto LogFormat = ""
	// FormatJSON writes one JSON object per line.
	FormatJSON LogFormat = "json"
	// FormatConsole writes a human-readable line per event.
	FormatConsole LogFormat = "console"
)

// LogConfig configures NewLogger. The zero value logs JSON at info level.
type LogConfig struct {
	// Level is one of trace, debug, info, warn, error, disabled. Empty means info.
	Level string
	// Format is json, console, or empty for automatic (console on a TTY).
	Format LogFormat
}

// ParseLevel parses a level name; it accepts the zerolog names plus "off".
func ParseLevel(s string) (zerolog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "info":
		return zerolog.InfoLevel, nil
	case "off", "none", "disabled":
		return zerolog.Disabled, nil
	}
	lvl, err := zerolog.ParseLevel(strings.ToLower(s))
	if err != nil || lvl == zerolog.NoLevel {
		return zerolog.InfoLevel, fmt.Errorf("unknown log level %q (use trace, debug, info, warn, error or off)", s)
	}
	return lvl, nil
}

// NewLogger returns a logger writing to w as cfg says.
func NewLogger(w io.Writer, cfg LogConfig) (zerolog.Logger, error) {
	lvl, err := ParseLevel(cfg.Level)
	if err != nil {
		return zerolog.Nop(), err
	}
	out := w
	switch cfg.Format {
	case FormatJSON:
	case FormatConsole:
		out = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
	case FormatAuto:
		if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
			out = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
		}
	default:
		return zerolog.Nop(), fmt.Errorf("unknown log format %q (use json or console)", cfg.Format)
	}
	return zerolog.New(out).Level(lvl).With().Timestamp().Logger(), nil
}

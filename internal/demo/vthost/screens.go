package vthost

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// This file is the application: screens and key handling. It produces the
// bytes to send and does no I/O.

const (
	esc       = "\x1b"
	csi       = esc + "["
	reset     = csi + "0m"
	decLines  = esc + "(0" // designate DEC Special Graphics into G0
	asciiSet  = esc + "(B"
	clearAll  = reset + csi + "r" + csi + "2J" + csi + "H"
	minRows   = 12
	minCols   = 40
	maxRows   = 500
	maxCols   = 500
	maxLine   = 200
	bannerTxt = "termgate demo host"
	promptTxt = "Select an option"
)

type mode uint8

const (
	modeMenu mode = iota
	modeClock
	modeEcho
	modeCard
)

// app is one connection's application state. It is not safe for
// concurrent use.
type app struct {
	rows, cols int
	ttype      string
	mode       mode
	line       []byte // echo mode: the line being typed
	now        func() time.Time
	message    string // menu: a one-line notice under the prompt
}

func newApp(now func() time.Time) *app {
	return &app{rows: 24, cols: 80, now: now}
}

// resize records a window size from NAWS. Absurd sizes are ignored; small
// ones are drawn as if the window had the minimum size.
func (a *app) resize(rows, cols int) bool {
	if rows <= 0 || cols <= 0 || rows > maxRows || cols > maxCols {
		return false
	}
	if rows == a.rows && cols == a.cols {
		return false
	}
	a.rows, a.cols = rows, cols
	return true
}

func (a *app) size() (rows, cols int) { return max(a.rows, minRows), max(a.cols, minCols) }

// key is one decoded keystroke.
type key struct {
	r     rune // printable character, or 0
	enter bool
	back  bool
	intr  bool // Ctrl-C or Ctrl-D
	other bool // any other key (an arrow, a function key, a control character)
}

// handle processes a key and returns the bytes to send and whether the
// connection should end.
func (a *app) handle(k key) (out []byte, quit bool) {
	switch a.mode {
	case modeMenu:
		return a.menuKey(k)
	case modeEcho:
		return a.echoKey(k), false
	default: // clock and test card: any key returns to the menu
		a.mode = modeMenu
		return a.render(), false
	}
}

func (a *app) menuKey(k key) ([]byte, bool) {
	switch {
	case k.intr || k.r == 'q' || k.r == 'Q':
		return []byte(clearAll + "Goodbye from the termgate demo host.\r\n"), true
	case k.r == '1':
		a.mode = modeClock
	case k.r == '2':
		a.mode = modeEcho
		a.line = a.line[:0]
	case k.r == '3':
		a.mode = modeCard
	case k.enter:
		a.message = ""
	case k.r != 0:
		a.message = fmt.Sprintf("There is no option %q: press 1, 2, 3 or q.", k.r)
	default:
		return nil, false
	}
	return a.render(), false
}

func (a *app) echoKey(k key) []byte {
	rows, cols := a.size()
	switch {
	case k.intr:
		a.mode = modeMenu
		return a.render()
	case k.enter:
		if len(a.line) == 0 {
			a.mode = modeMenu
			return a.render()
		}
		typed := string(a.line)
		a.line = a.line[:0]
		var b strings.Builder
		// Scroll the region up one line and print there, then clear the prompt.
		at(&b, rows-3, 1)
		b.WriteString("\r\n")
		half := max(1, (cols-8)/2)
		b.WriteString("  " + clip(typed, half) + "  =>  " + csi + "1;33m" + clip(strings.ToUpper(typed), half) + reset)
		at(&b, rows-1, 1)
		b.WriteString(csi + "2K> ")
		return []byte(b.String())
	case k.back:
		if len(a.line) == 0 {
			return nil
		}
		_, n := utf8.DecodeLastRune(a.line)
		a.line = a.line[:len(a.line)-n]
		return []byte("\b \b")
	case k.r != 0:
		if len(a.line) >= min(cols-4, maxLine) {
			return []byte("\a")
		}
		a.line = utf8.AppendRune(a.line, k.r)
		return utf8.AppendRune(nil, k.r)
	}
	return nil
}

// render draws the current screen from scratch.
func (a *app) render() []byte {
	var b strings.Builder
	b.WriteString(clearAll)
	switch a.mode {
	case modeMenu:
		a.drawMenu(&b)
	case modeClock:
		a.drawClock(&b)
	case modeEcho:
		a.drawEcho(&b)
	case modeCard:
		a.drawCard(&b)
	}
	return []byte(b.String())
}

// tick redraws what changes with time (the clock), if anything.
func (a *app) tick() []byte {
	if a.mode != modeClock {
		return nil
	}
	var b strings.Builder
	a.drawTime(&b)
	return []byte(b.String())
}

func at(b *strings.Builder, row, col int) { fmt.Fprintf(b, csi+"%d;%dH", row, col) }

// box draws a DEC line-drawing frame; the text between the frame lines is
// written by the caller.
func box(b *strings.Builder, top, left, height, width int) {
	inner := strings.Repeat("q", width-2)
	at(b, top, left)
	b.WriteString(decLines + "l" + inner + "k" + asciiSet)
	for r := top + 1; r < top+height-1; r++ {
		at(b, r, left)
		b.WriteString(decLines + "x" + asciiSet)
		at(b, r, left+width-1)
		b.WriteString(decLines + "x" + asciiSet)
	}
	at(b, top+height-1, left)
	b.WriteString(decLines + "m" + inner + "j" + asciiSet)
}

// banner draws the framed title centred on rows 1-3.
func (a *app) banner(b *strings.Builder, subtitle string) {
	_, cols := a.size()
	width := min(cols-2, 44)
	left := (cols-width)/2 + 1
	b.WriteString(csi + "1;36m")
	box(b, 1, left, 3, width)
	at(b, 2, left+(width-len(bannerTxt))/2)
	b.WriteString(csi + "1;37m" + bannerTxt + reset)
	if subtitle != "" {
		at(b, 4, max(1, (cols-len(subtitle))/2+1))
		b.WriteString(csi + "2m" + subtitle + reset)
	}
}

// status draws the bottom line in reverse video.
func (a *app) status(b *strings.Builder, hint string) {
	rows, cols := a.size()
	term := a.ttype
	if term == "" {
		term = "unknown terminal"
	}
	text := fmt.Sprintf(" %s | %dx%d | %s ", hint, a.cols, a.rows, strings.ToLower(term))
	at(b, rows, 1)
	b.WriteString(csi + "7m" + clip(text+strings.Repeat(" ", max(0, cols-len(text))), cols) + reset)
}

func (a *app) drawMenu(b *strings.Builder) {
	rows, cols := a.size()
	a.banner(b, "a VT application reached through the termgate proxy")
	items := [...]struct{ key, label string }{
		{"1", "System clock"},
		{"2", "Echo mode"},
		{"3", "Colour and line-drawing test card"},
		{"q", "Quit"},
	}
	left := max(1, (cols-40)/2+1)
	row := 6
	for _, it := range items {
		at(b, row, left)
		b.WriteString(csi + "1;32m" + it.key + reset + "  " + it.label)
		row++
	}
	a.status(b, "termgate demo host")
	if a.message != "" {
		at(b, min(row+3, rows-1), left)
		b.WriteString(csi + "31m" + clip(a.message, cols-left) + reset)
	}
	at(b, row+1, left)
	b.WriteString(promptTxt + ": ")
}

func (a *app) drawClock(b *strings.Builder) {
	a.banner(b, "System clock")
	a.status(b, "press any key to return to the menu")
	a.drawTime(b)
}

func (a *app) drawTime(b *strings.Builder) {
	rows, cols := a.size()
	t := a.now()
	clock := t.Format("15:04:05")
	date := t.Format("Monday, 2 January 2006, MST")
	mid := max(7, rows/2)
	at(b, mid, 1)
	b.WriteString(csi + "2K")
	at(b, mid, max(1, (cols-len(clock))/2+1))
	b.WriteString(csi + "1;33m" + clock + reset)
	at(b, mid+2, 1)
	b.WriteString(csi + "2K")
	at(b, mid+2, max(1, (cols-len(date))/2+1))
	b.WriteString(clip(date, cols))
	at(b, rows, cols) // park the cursor in the status line's last cell
}

// Echo mode layout: typed lines scroll in rows 6…rows-3, a rule on
// rows-2, the prompt on rows-1 and the status line on the last row.
func (a *app) drawEcho(b *strings.Builder) {
	rows, cols := a.size()
	a.banner(b, "Echo mode: type a line and press Enter; a blank line returns to the menu")
	a.status(b, "echo mode")
	at(b, rows-2, 1)
	b.WriteString(decLines + strings.Repeat("q", cols) + asciiSet)
	fmt.Fprintf(b, csi+"%d;%dr", 6, rows-3)
	at(b, rows-1, 1)
	b.WriteString("> " + string(a.line))
}

func (a *app) drawCard(b *strings.Builder) {
	rows, cols := a.size()
	a.banner(b, "Colour and line-drawing test card")
	row := 6
	// The eight colours, normal and bright, as background and foreground.
	at(b, row, 2)
	b.WriteString("normal ")
	for i := range 8 {
		fmt.Fprintf(b, csi+"4%dm   ", i)
	}
	b.WriteString(reset + " ")
	for i := range 8 {
		fmt.Fprintf(b, csi+"3%dm%d", i, i)
	}
	b.WriteString(reset)
	row++
	at(b, row, 2)
	b.WriteString("bright ")
	for i := range 8 {
		fmt.Fprintf(b, csi+"10%dm   ", i)
	}
	b.WriteString(reset + " ")
	for i := range 8 {
		fmt.Fprintf(b, csi+"9%dm%d", i, i)
	}
	b.WriteString(reset)
	row++
	// The 256-colour cube and grey ramp, as many cells as fit.
	at(b, row, 2)
	b.WriteString("256    ")
	for n := 16; n < 256 && 9+n-16 < cols; n += 1 {
		if (n-16)%3 != 0 && cols < 9+240 {
			continue // on a narrow screen show every third colour
		}
		fmt.Fprintf(b, csi+"48;5;%dm ", n)
	}
	b.WriteString(reset)
	row += 2
	// Attributes.
	at(b, row, 2)
	b.WriteString(csi + "1mbold" + reset + " " + csi + "2mdim" + reset + " " + csi + "4munderline" + reset + " " +
		csi + "5mblink" + reset + " " + csi + "7mreverse" + reset + " " + csi + "1;4;31mbold red underline" + reset)
	row += 2
	// DEC Special Graphics: a grid and the whole character set.
	grid := []string{"lqqqqqwqqqqqk", "x     x     x", "tqqqqqnqqqqqu", "x     x     x", "mqqqqqvqqqqqj"}
	for i, g := range grid {
		if row+i >= rows-1 {
			break
		}
		at(b, row+i, 2)
		b.WriteString(decLines + g + asciiSet)
	}
	if row+1 < rows-1 {
		at(b, row+1, 17)
		b.WriteString("DEC line drawing:")
		at(b, row+2, 17)
		b.WriteString(decLines + clip("`afgjklmnopqrstuvwxyz{|}~", cols-17) + asciiSet)
	}
	a.status(b, "press any key to return to the menu")
}

// clip cuts s to at most n bytes, at a character boundary.
func clip(s string, n int) string {
	if n < 0 {
		n = 0
	}
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// keyReader turns data bytes from the terminal into keys: it folds CR LF
// and CR NUL into one Enter and skips escape sequences (arrow and function
// keys). It is not safe for concurrent use.
type keyReader struct {
	state   uint8 // 0 normal, 1 after ESC, 2 in CSI, 3 after SS3
	afterCR bool
	utf     []byte
}

func (kr *keyReader) feed(p []byte, emit func(key)) {
	for _, c := range p {
		wasCR := kr.afterCR
		kr.afterCR = false
		switch kr.state {
		case 1:
			switch c {
			case '[':
				kr.state = 2
			case 'O':
				kr.state = 3
			default:
				kr.state = 0
				emit(key{other: true})
			}
			continue
		case 2:
			if c >= 0x40 && c <= 0x7e {
				kr.state = 0
				emit(key{other: true})
			}
			continue
		case 3:
			kr.state = 0
			emit(key{other: true})
			continue
		}
		switch {
		case c == '\r':
			kr.afterCR = true
			emit(key{enter: true})
		case c == '\n' || c == 0:
			if !wasCR && c == '\n' {
				emit(key{enter: true})
			}
		case c == 0x1b:
			kr.state = 1
		case c == 0x7f || c == 0x08:
			emit(key{back: true})
		case c == 0x03 || c == 0x04:
			emit(key{intr: true})
		case c < 0x20:
			emit(key{other: true})
		case c < 0x80:
			emit(key{r: rune(c)})
		default:
			kr.utf = append(kr.utf, c)
			if utf8.FullRune(kr.utf) || len(kr.utf) >= utf8.UTFMax {
				r, _ := utf8.DecodeRune(kr.utf)
				kr.utf = kr.utf[:0]
				if r != utf8.RuneError {
					emit(key{r: r})
				}
			}
		}
	}
}

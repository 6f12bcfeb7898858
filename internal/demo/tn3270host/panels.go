package tn3270host

import (
	"context"
	"crypto/subtle"
	"fmt"
	"strings"

	"github.com/termgate/termgate/emulator/tn3270"
)

// The demo's published password.
const demoPassword = "demo"

// Screen geometry of the panels (the default 24x80 size of every model).
const (
	cols    = 80
	msgRow  = 22
	keysRow = 23
)

// Input field positions (first character) and lengths.
const (
	userRow, userCol, userLen = 5, 20, 8
	passRow, passCol, passLen = 6, 20, 8
	optRow, optCol, optLen    = 10, 14, 1
)

type panel int

const (
	panelLogon panel = iota
	panelMenu
	panelAccounts
	panelStatus
)

// app is the demo application state of one session.
type app struct {
	s     *session
	panel panel
	user  string
	msg   string
}

const (
	protHigh = tn3270.FAProtected | tn3270.FAIntensified
	prot     = tn3270.FAProtected
	skip     = tn3270.FAProtected | tn3270.FANumeric
	input    = byte(0)
	hidden   = tn3270.FANonDisplay
)

// builder starts an Erase/Write with keyboard restore and MDT reset.
func (a *app) builder() *tn3270.ScreenBuilder {
	return tn3270.NewScreenBuilder(tn3270.CmdEW, tn3270.WCCKeyboardReset|tn3270.WCCResetMDT, a.s.cp, cols)
}

// field starts a field whose attribute sits at row, col-1.
func (a *app) field(b *tn3270.ScreenBuilder, row, col int, attr byte, color byte) {
	b.SBA(row, col-1)
	if a.s.extended() {
		xas := []tn3270.XA{{Type: tn3270.XAColor, Value: color}}
		if attr&tn3270.FAProtected == 0 {
			xas = append(xas, tn3270.XA{Type: tn3270.XAHighlight, Value: tn3270.HighlightUnderscore})
		}
		b.SFE(attr, xas...)
		return
	}
	b.SF(attr)
}

// label writes protected text whose attribute sits at row, col-1.
func (a *app) label(b *tn3270.ScreenBuilder, row, col int, attr byte, text string) {
	color := tn3270.ColorTurquoise
	if attr&tn3270.FAIntensified != 0 {
		color = tn3270.ColorWhite
	}
	a.field(b, row, col, attr, color)
	b.Text(text)
}

// inputField writes an input field of n positions at row, col, ended by a
// skip attribute, with optional initial text.
func (a *app) inputField(b *tn3270.ScreenBuilder, row, col, n int, attr byte, text string) {
	a.field(b, row, col, attr, tn3270.ColorGreen)
	b.Text(text)
	b.SBA(row, col+n)
	b.SF(skip)
}

func (a *app) frame(b *tn3270.ScreenBuilder, title, keys string) {
	a.label(b, 0, 1, protHigh, center(title, 78))
	a.label(b, keysRow, 1, prot, keys)
	a.label(b, msgRow, 1, protHigh, a.msg)
}

func center(s string, w int) string {
	pad := (w - len(s)) / 2
	if pad <= 0 {
		return s
	}
	return strings.Repeat(" ", pad) + s
}

// render returns the record for the current panel.
func (a *app) render() ([]byte, error) {
	b := a.builder()
	switch a.panel {
	case panelLogon:
		a.frame(b, "TERMGATE DEMO 3270", "Enter=Sign on  PF3=Exit")
		a.label(b, 2, 1, prot, "Sign on to the termgate demonstration host.")
		a.label(b, userRow, 2, prot, "User . . . . . .")
		a.inputField(b, userRow, userCol, userLen, input, "")
		a.label(b, passRow, 2, prot, "Password . . . .")
		a.inputField(b, passRow, passCol, passLen, hidden, "")
		a.label(b, 9, 2, prot, "Any user name; the password is: demo")
		b.SBA(userRow, userCol).IC()
	case panelMenu:
		a.frame(b, "MAIN MENU", "Enter=Select  PF3=Sign off")
		a.label(b, 2, 2, prot, "Signed on as "+a.user)
		a.label(b, 5, 2, prot, "1  Account balances")
		a.label(b, 6, 2, prot, "2  System status")
		a.label(b, optRow, 2, prot, "Option ===>")
		a.inputField(b, optRow, optCol, optLen, tn3270.FANumeric, "")
		b.SBA(optRow, optCol).IC()
	case panelAccounts:
		a.frame(b, "ACCOUNT BALANCES", "PF3=Return")
		a.label(b, 3, 2, protHigh, "Account      Currency      Balance")
		rows := [][3]string{{"100-2001", "EUR", "12,450.00"}, {"100-2002", "USD", "3,210.55"}, {"100-3009", "CHF", "980.10"}}
		for i, r := range rows {
			a.label(b, 5+i, 2, prot, fmt.Sprintf("%-12s %-13s %9s", r[0], r[1], r[2]))
		}
	case panelStatus:
		a.frame(b, "SYSTEM STATUS", "PF3=Return")
		a.label(b, 3, 2, prot, "Host . . . . : TERMGATE DEMO 3270")
		a.label(b, 4, 2, prot, "Terminal . . : "+a.s.termType)
		mode := "TN3270"
		if a.s.e {
			mode = "TN3270E  LU " + a.s.lu
		}
		a.label(b, 5, 2, prot, "Protocol . . : "+mode)
	}
	return b.Bytes()
}

func (a *app) goodbye() error {
	b := a.builder()
	a.msg = ""
	a.frame(b, "GOODBYE FROM TERMGATE DEMO 3270", "Connection closed by host")
	rec, err := b.Bytes()
	if err != nil {
		return err
	}
	return a.s.send(rec)
}

// fieldText returns the text the terminal sent for the field starting at row, col.
func (a *app) fieldText(in tn3270.Inbound, row, col int) string {
	for _, f := range in.Fields {
		if f.Addr == row*cols+col {
			return strings.TrimSpace(a.s.cp.DecodeString(f.Data))
		}
	}
	return ""
}

// loop paints panels and handles AIDs until the user exits.
func (a *app) loop(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec, err := a.render()
		if err != nil {
			return err
		}
		if err := a.s.send(rec); err != nil {
			return err
		}
		a.msg = ""
		in, err := a.s.receive()
		if err != nil {
			return err
		}
		switch in.AID {
		case tn3270.AIDPF3:
			switch a.panel {
			case panelLogon, panelMenu:
				a.s.log.Info().Str("sub", a.user).Msg("tn3270host: user exited")
				return a.goodbye()
			default:
				a.panel = panelMenu
			}
		case tn3270.AIDEnter:
			a.enter(in)
		case tn3270.AIDClear, tn3270.AIDPA1, tn3270.AIDPA2, tn3270.AIDPA3:
			// Repaint the panel.
		default:
			a.msg = "KEY NOT ACTIVE"
		}
	}
}

func (a *app) enter(in tn3270.Inbound) {
	switch a.panel {
	case panelLogon:
		user := a.fieldText(in, userRow, userCol)
		pass := a.fieldText(in, passRow, passCol)
		switch {
		case user == "":
			a.msg = "ENTER A USER NAME"
		case subtle.ConstantTimeCompare([]byte(pass), []byte(demoPassword)) != 1:
			a.s.log.Info().Str("sub", user).Msg("tn3270host: invalid password")
			a.msg = "INVALID PASSWORD"
		default:
			a.user = strings.ToUpper(user)
			a.panel = panelMenu
			a.s.log.Info().Str("sub", a.user).Msg("tn3270host: signed on")
		}
	case panelMenu:
		switch a.fieldText(in, optRow, optCol) {
		case "1":
			a.panel = panelAccounts
		case "2":
			a.panel = panelStatus
		default:
			a.msg = "INVALID OPTION"
		}
	default:
		a.msg = "PRESS PF3 TO RETURN"
	}
}

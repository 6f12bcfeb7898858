package tn3270

import "fmt"

// Key is a 3270 keyboard key that Press understands.
type Key int

// Keys. AID keys (Enter, Clear, PA, PF, SysReq) send a record to the host at
// once and lock the keyboard until the host restores it. The rest edit the
// screen locally.
const (
	KeyEnter Key = iota + 1
	KeyClear
	KeyPA1
	KeyPA2
	KeyPA3
	KeySysReq
	KeyAttn
	KeyTab
	KeyBacktab
	KeyHome
	KeyNewline
	KeyEraseEOF
	KeyEraseInput
	KeyDelete
	// KeyBackspace moves the cursor one position left, as the 3270
	// Backspace (x3270's BackSpace) does; it erases nothing.
	KeyBackspace
	// KeyErase deletes the character left of the cursor and moves the
	// cursor there (x3270's Erase).
	KeyErase
	KeyDup
	KeyFieldMark
	// KeyInsert toggles insert mode.
	KeyInsert
	// KeyReset clears an operator-error lock (overflow, protected,
	// numeric) and leaves insert mode. It does not unlock a keyboard that
	// waits for the host.
	KeyReset
	KeyLeft
	KeyRight
	KeyUp
	KeyDown
	keyPF1 Key = 100 // PF1..PF24 are keyPF1..keyPF1+23
)

// PF returns the key PFn, for n in 1..24.
func PF(n int) Key {
	if n < 1 || n > 24 {
		return 0
	}
	return keyPF1 + Key(n-1)
}

// PF keys by name, for readability at call sites.
var (
	KeyPF1  = PF(1)
	KeyPF2  = PF(2)
	KeyPF3  = PF(3)
	KeyPF4  = PF(4)
	KeyPF5  = PF(5)
	KeyPF6  = PF(6)
	KeyPF7  = PF(7)
	KeyPF8  = PF(8)
	KeyPF9  = PF(9)
	KeyPF10 = PF(10)
	KeyPF11 = PF(11)
	KeyPF12 = PF(12)
	KeyPF13 = PF(13)
	KeyPF14 = PF(14)
	KeyPF15 = PF(15)
	KeyPF16 = PF(16)
	KeyPF17 = PF(17)
	KeyPF18 = PF(18)
	KeyPF19 = PF(19)
	KeyPF20 = PF(20)
	KeyPF21 = PF(21)
	KeyPF22 = PF(22)
	KeyPF23 = PF(23)
	KeyPF24 = PF(24)
)

var keyNames = map[Key]string{
	KeyEnter: "Enter", KeyClear: "Clear", KeyPA1: "PA1", KeyPA2: "PA2", KeyPA3: "PA3",
	KeySysReq: "SysReq", KeyAttn: "Attn", KeyTab: "Tab", KeyBacktab: "Backtab", KeyHome: "Home",
	KeyNewline: "Newline", KeyEraseEOF: "EraseEOF", KeyEraseInput: "EraseInput", KeyDelete: "Delete",
	KeyBackspace: "Backspace", KeyErase: "Erase", KeyDup: "Dup", KeyFieldMark: "FieldMark",
	KeyInsert: "Insert", KeyReset: "Reset", KeyLeft: "Left", KeyRight: "Right", KeyUp: "Up", KeyDown: "Down",
}

func (k Key) String() string {
	if n, ok := k.pf(); ok {
		return fmt.Sprintf("PF%d", n)
	}
	if s, ok := keyNames[k]; ok {
		return s
	}
	return fmt.Sprintf("Key(%d)", int(k))
}

func (k Key) pf() (int, bool) {
	if k >= keyPF1 && k < keyPF1+24 {
		return int(k-keyPF1) + 1, true
	}
	return 0, false
}

// aid returns the AID a key sends, or 0 for a local editing key.
func (k Key) aid() byte {
	if n, ok := k.pf(); ok {
		return pfAIDs[n]
	}
	switch k {
	case KeyEnter:
		return AIDEnter
	case KeyClear:
		return AIDClear
	case KeyPA1:
		return AIDPA1
	case KeyPA2:
		return AIDPA2
	case KeyPA3:
		return AIDPA3
	case KeySysReq:
		return AIDSysReq
	}
	return 0
}

// KeyboardState says whether the keyboard accepts input, and if not, why.
type KeyboardState int

// Keyboard states.
const (
	// Unlocked: input is accepted.
	Unlocked KeyboardState = iota
	// LockedWait: an AID was sent; the host has not yet restored the
	// keyboard with a WCC keyboard restore (x3270's "X SYSTEM").
	LockedWait
	// LockedOverflow: an insert found the field full. KeyReset clears it.
	LockedOverflow
	// LockedProtected: input was aimed at a protected position. KeyReset clears it.
	LockedProtected
	// LockedNumeric: a non-numeric character was typed into a numeric
	// field. KeyReset clears it.
	LockedNumeric
	// LockedDisconnected: the connection to the host is gone.
	LockedDisconnected
)

func (s KeyboardState) String() string {
	switch s {
	case Unlocked:
		return "unlocked"
	case LockedWait:
		return "locked-wait"
	case LockedOverflow:
		return "locked-overflow"
	case LockedProtected:
		return "locked-protected"
	case LockedNumeric:
		return "locked-numeric"
	case LockedDisconnected:
		return "locked-disconnected"
	}
	return fmt.Sprintf("KeyboardState(%d)", int(s))
}

// operatorError reports whether KeyReset clears this state.
func (s KeyboardState) operatorError() bool {
	return s == LockedOverflow || s == LockedProtected || s == LockedNumeric
}

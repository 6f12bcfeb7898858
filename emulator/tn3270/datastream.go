package tn3270

// This file holds the 3270 data stream vocabulary (IBM GA23-0059): command
// codes, orders, WCC and attribute bits, AIDs and the buffer address codec.

// Write commands, local (CCW) and remote (SNA) codes.
const (
	CmdW   byte = 0x01 // Write
	CmdRB  byte = 0x02 // Read Buffer
	CmdNOP byte = 0x03 // No operation
	CmdEW  byte = 0x05 // Erase/Write
	CmdRM  byte = 0x06 // Read Modified
	CmdEWA byte = 0x0D // Erase/Write Alternate
	CmdRMA byte = 0x0E // Read Modified All
	CmdEAU byte = 0x0F // Erase All Unprotected
	CmdWSF byte = 0x11 // Write Structured Field

	SNACmdW   byte = 0xF1
	SNACmdRB  byte = 0xF2
	SNACmdWSF byte = 0xF3
	SNACmdEW  byte = 0xF5
	SNACmdRM  byte = 0xF6
	SNACmdEWA byte = 0x7E
	SNACmdRMA byte = 0x6E
	SNACmdEAU byte = 0x6F
)

// Orders.
const (
	OrderPT  byte = 0x05 // Program Tab
	OrderGE  byte = 0x08 // Graphic Escape
	OrderSBA byte = 0x11 // Set Buffer Address
	OrderEUA byte = 0x12 // Erase Unprotected to Address
	OrderIC  byte = 0x13 // Insert Cursor
	OrderSF  byte = 0x1D // Start Field
	OrderSA  byte = 0x28 // Set Attribute
	OrderSFE byte = 0x29 // Start Field Extended
	OrderMF  byte = 0x2C // Modify Field
	OrderRA  byte = 0x3C // Repeat to Address
)

// Format control characters that a Write stores like data.
const (
	fcoNull byte = 0x00
	fcoFF   byte = 0x0C
	fcoCR   byte = 0x0D
	fcoNL   byte = 0x15
	fcoEM   byte = 0x19
	fcoDUP  byte = 0x1C
	fcoFM   byte = 0x1E
	fcoSUB  byte = 0x3F
	fcoEO   byte = 0xFF
)

// Write control character bits.
const (
	WCCReset         byte = 0x40 // reset partition characteristics (ignored)
	WCCStartPrinter  byte = 0x08 // ignored: no printer
	WCCSoundAlarm    byte = 0x04
	WCCKeyboardReset byte = 0x02 // keyboard restore: unlock, reset AID
	WCCResetMDT      byte = 0x01
)

// Field attribute bits (the 3270 field attribute byte).
const (
	FAProtected   byte = 0x20
	FANumeric     byte = 0x10
	FADisplayMask byte = 0x0C
	FAIntensified byte = 0x08 // display bits 10
	FANonDisplay  byte = 0x0C // display bits 11
	FAModified    byte = 0x01 // MDT
	faMask        byte = 0x3F // the bits that carry meaning
)

// Extended attribute types (SFE, SA, MF).
const (
	XAAll        byte = 0x00 // SA only: reset all character attributes
	XAField      byte = 0xC0 // the 3270 field attribute
	XAHighlight  byte = 0x41
	XAColor      byte = 0x42
	XACharset    byte = 0x43
	XABackground byte = 0x45
	XATransp     byte = 0x46
	XAValidation byte = 0xC1
	XAOutlining  byte = 0xC2
)

// Highlighting values.
const (
	HighlightDefault    byte = 0x00
	HighlightNormal     byte = 0xF0
	HighlightBlink      byte = 0xF1
	HighlightReverse    byte = 0xF2
	HighlightUnderscore byte = 0xF4
	HighlightIntensify  byte = 0xF8
)

// Colour values.
const (
	ColorDefault   byte = 0x00
	ColorNeutral   byte = 0xF0
	ColorBlue      byte = 0xF1
	ColorRed       byte = 0xF2
	ColorPink      byte = 0xF3
	ColorGreen     byte = 0xF4
	ColorTurquoise byte = 0xF5
	ColorYellow    byte = 0xF6
	ColorWhite     byte = 0xF7
)

// Attention identifiers.
const (
	AIDNone    byte = 0x60
	AIDStructF byte = 0x88 // query reply / inbound structured field
	AIDEnter   byte = 0x7D
	AIDClear   byte = 0x6D
	AIDSysReq  byte = 0xF0
	AIDPA1     byte = 0x6C
	AIDPA2     byte = 0x6E
	AIDPA3     byte = 0x6B
	AIDPF1     byte = 0xF1
	AIDPF2     byte = 0xF2
	AIDPF3     byte = 0xF3
	AIDPF4     byte = 0xF4
	AIDPF5     byte = 0xF5
	AIDPF6     byte = 0xF6
	AIDPF7     byte = 0xF7
	AIDPF8     byte = 0xF8
	AIDPF9     byte = 0xF9
	AIDPF10    byte = 0x7A
	AIDPF11    byte = 0x7B
	AIDPF12    byte = 0x7C
	AIDPF13    byte = 0xC1
	AIDPF14    byte = 0xC2
	AIDPF15    byte = 0xC3
	AIDPF16    byte = 0xC4
	AIDPF17    byte = 0xC5
	AIDPF18    byte = 0xC6
	AIDPF19    byte = 0xC7
	AIDPF20    byte = 0xC8
	AIDPF21    byte = 0xC9
	AIDPF22    byte = 0x4A
	AIDPF23    byte = 0x4B
	AIDPF24    byte = 0x4C
)

// pfAIDs maps PF key number (1..24) to its AID.
var pfAIDs = [25]byte{0, AIDPF1, AIDPF2, AIDPF3, AIDPF4, AIDPF5, AIDPF6, AIDPF7, AIDPF8, AIDPF9,
	AIDPF10, AIDPF11, AIDPF12, AIDPF13, AIDPF14, AIDPF15, AIDPF16, AIDPF17, AIDPF18, AIDPF19,
	AIDPF20, AIDPF21, AIDPF22, AIDPF23, AIDPF24}

// isShortReadAID reports whether an AID is answered by the AID alone.
func isShortReadAID(aid byte) bool {
	return aid == AIDPA1 || aid == AIDPA2 || aid == AIDPA3 || aid == AIDClear
}

// Structured field identifiers and query codes.
const (
	sfReadPartition     byte = 0x01
	sfEraseReset        byte = 0x03
	sfSetReplyMode      byte = 0x09
	sfOutbound3270DS    byte = 0x40
	sfQueryReply        byte = 0x81
	rpQuery             byte = 0x02
	rpQueryList         byte = 0x03
	rpReadBuffer        byte = 0xF2
	rpReadModified      byte = 0xF6
	rpReadModifiedAll   byte = 0x6E
	qcSummary           byte = 0x80
	qcUsableArea        byte = 0x81
	qcCharacterSets     byte = 0x85
	qcColor             byte = 0x86
	qcHighlighting      byte = 0x87
	qcReplyModes        byte = 0x88
	qcImplicitPartn     byte = 0xA6
	qlList              byte = 0x00
	qlEquivalent        byte = 0x40
	qlAll               byte = 0x80
	eraseResetAlternate byte = 0x80
)

// codeTable turns a 6-bit value into the graphic byte used by 12-bit buffer
// addresses and by field attributes sent inbound.
var codeTable = [64]byte{
	0x40, 0xC1, 0xC2, 0xC3, 0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0x4A, 0x4B, 0x4C, 0x4D, 0x4E, 0x4F,
	0x50, 0xD1, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0x5A, 0x5B, 0x5C, 0x5D, 0x5E, 0x5F,
	0x60, 0x61, 0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0x6A, 0x6B, 0x6C, 0x6D, 0x6E, 0x6F,
	0xF0, 0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9, 0x7A, 0x7B, 0x7C, 0x7D, 0x7E, 0x7F,
}

// DecodeAddress decodes a two-byte buffer address. Both 12-bit (the top two
// bits of the first byte non-zero) and 14-bit (top bits 00) forms are
// accepted, as a terminal must.
func DecodeAddress(b1, b2 byte) int {
	if b1&0xC0 == 0 {
		return int(b1&0x3F)<<8 | int(b2)
	}
	return int(b1&0x3F)<<6 | int(b2&0x3F)
}

// EncodeAddress encodes a buffer address: 12-bit for addresses below 4096,
// 14-bit otherwise.
func EncodeAddress(addr int) [2]byte {
	if addr < 4096 {
		return [2]byte{codeTable[(addr>>6)&0x3F], codeTable[addr&0x3F]}
	}
	return [2]byte{byte(addr>>8) & 0x3F, byte(addr)}
}

// Model describes a 3278 model: its default and alternate screen sizes.
type Model struct {
	Number           int
	Rows, Cols       int // default (Erase/Write) size, always 24x80
	AltRows, AltCols int // alternate (Erase/Write Alternate) size
}

// LookupModel returns the model by number (2, 3, 4 or 5; 0 means 2).
func LookupModel(n int) (Model, error) {
	switch n {
	case 0, 2:
		return Model{2, 24, 80, 24, 80}, nil
	case 3:
		return Model{3, 24, 80, 32, 80}, nil
	case 4:
		return Model{4, 24, 80, 43, 80}, nil
	case 5:
		return Model{5, 24, 80, 27, 132}, nil
	}
	return Model{}, ErrBadModel
}

// TerminalType returns the telnet terminal type, e.g. "IBM-3278-2-E".
func (m Model) TerminalType(extended bool) string {
	s := "IBM-3278-" + string(rune('0'+m.Number))
	if extended {
		s += "-E"
	}
	return s
}

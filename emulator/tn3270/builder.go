package tn3270

import (
	"errors"
	"fmt"
)

// ScreenBuilder encodes an outbound (host to terminal) 3270 record: a write
// command, a WCC and orders. It is what a host application (such as
// termgate's demo host) uses to paint screens. Positions are given as row
// and column of a screen with the builder's width. Encoding errors are
// remembered and reported by Bytes. A ScreenBuilder is not safe for
// concurrent use.
type ScreenBuilder struct {
	cp   *CodePage
	cols int
	buf  []byte
	err  error
}

// NewScreenBuilder starts a record with command cmd (CmdW, CmdEW, CmdEWA or
// their SNA codes) and write control character wcc, for a screen cols wide,
// with text encoded in code page cp (037 when nil).
func NewScreenBuilder(cmd, wcc byte, cp *CodePage, cols int) *ScreenBuilder {
	if cp == nil {
		cp = codePages["037"]
	}
	if cols <= 0 {
		cols = 80
	}
	return &ScreenBuilder{cp: cp, cols: cols, buf: []byte{cmd, wcc}}
}

func (b *ScreenBuilder) addr(row, col int) {
	if row < 0 || col < 0 || col >= b.cols {
		b.fail(fmt.Errorf("tn3270: position %d,%d outside a %d-column screen", row, col, b.cols))
		return
	}
	a := EncodeAddress(row*b.cols + col)
	b.buf = append(b.buf, a[0], a[1])
}

func (b *ScreenBuilder) fail(err error) {
	if b.err == nil {
		b.err = err
	}
}

// SBA sets the buffer address.
func (b *ScreenBuilder) SBA(row, col int) *ScreenBuilder {
	b.buf = append(b.buf, OrderSBA)
	b.addr(row, col)
	return b
}

// SF starts a field with attribute attr (FAProtected, FANumeric, ...).
func (b *ScreenBuilder) SF(attr byte) *ScreenBuilder {
	b.buf = append(b.buf, OrderSF, codeTable[attr&faMask])
	return b
}

// XA is one extended attribute type/value pair.
type XA struct{ Type, Value byte }

// SFE starts a field with attribute attr and extended attributes.
func (b *ScreenBuilder) SFE(attr byte, xas ...XA) *ScreenBuilder {
	if len(xas) > 254 {
		b.fail(errors.New("tn3270: too many SFE pairs"))
		return b
	}
	b.buf = append(b.buf, OrderSFE, byte(len(xas)+1), XAField, codeTable[attr&faMask])
	for _, x := range xas {
		b.buf = append(b.buf, x.Type, x.Value)
	}
	return b
}

// MF modifies the field attribute at the current address.
func (b *ScreenBuilder) MF(xas ...XA) *ScreenBuilder {
	b.buf = append(b.buf, OrderMF, byte(len(xas)))
	for _, x := range xas {
		b.buf = append(b.buf, x.Type, x.Value)
	}
	return b
}

// SA sets a character attribute for the characters that follow.
func (b *ScreenBuilder) SA(typ, value byte) *ScreenBuilder {
	b.buf = append(b.buf, OrderSA, typ, value)
	return b
}

// IC puts the cursor at the current address.
func (b *ScreenBuilder) IC() *ScreenBuilder {
	b.buf = append(b.buf, OrderIC)
	return b
}

// PT is a program tab.
func (b *ScreenBuilder) PT() *ScreenBuilder {
	b.buf = append(b.buf, OrderPT)
	return b
}

// RA repeats r from the current address up to row, col (exclusive).
func (b *ScreenBuilder) RA(row, col int, r rune) *ScreenBuilder {
	b.buf = append(b.buf, OrderRA)
	b.addr(row, col)
	ch, ok := b.cp.Encode(r)
	if !ok {
		b.fail(fmt.Errorf("%w: %q", ErrUnencodable, r))
	}
	b.buf = append(b.buf, ch)
	return b
}

// EUA erases unprotected positions from the current address up to row, col.
func (b *ScreenBuilder) EUA(row, col int) *ScreenBuilder {
	b.buf = append(b.buf, OrderEUA)
	b.addr(row, col)
	return b
}

// GE writes one character of the graphic-escape (APL) set.
func (b *ScreenBuilder) GE(ch byte) *ScreenBuilder {
	b.buf = append(b.buf, OrderGE, ch)
	return b
}

// Text writes s at the current address, encoded in the builder's code page.
func (b *ScreenBuilder) Text(s string) *ScreenBuilder {
	enc, err := b.cp.EncodeString(s)
	if err != nil {
		b.fail(err)
		return b
	}
	for _, c := range enc {
		if c < 0x40 || c == 0xFF {
			b.fail(fmt.Errorf("%w: control character in text", ErrUnencodable))
			return b
		}
	}
	b.buf = append(b.buf, enc...)
	return b
}

// At is SBA(row, col) followed by Text(s).
func (b *ScreenBuilder) At(row, col int, s string) *ScreenBuilder { return b.SBA(row, col).Text(s) }

// Bytes returns the record (without telnet framing) or the first error.
func (b *ScreenBuilder) Bytes() ([]byte, error) {
	if b.err != nil {
		return nil, b.err
	}
	return append([]byte(nil), b.buf...), nil
}

// QueryRecord returns a Write Structured Field record holding a Read
// Partition Query, which asks the terminal for its query reply.
func QueryRecord() []byte {
	return []byte{CmdWSF, 0x00, 0x05, sfReadPartition, 0xFF, rpQuery}
}

// Inbound is a parsed terminal-to-host record (what an AID sends).
type Inbound struct {
	AID    byte
	Cursor int            // -1 for a short read or a query reply
	Fields []InboundField // modified fields, in order
	// QueryReplies holds the query codes of an AID 0x88 query reply.
	QueryReplies []byte
}

// InboundField is one modified field of an inbound record.
type InboundField struct {
	Addr int    // address of the field's first character
	Data []byte // EBCDIC characters, nulls already suppressed by the terminal
}

// ParseInbound parses a Read Modified (or Read Modified All) reply or a
// query reply. Malformed input yields an error wrapping ErrDataStream.
func ParseInbound(rec []byte) (Inbound, error) {
	if len(rec) == 0 {
		return Inbound{}, &DataStreamError{Reason: "empty inbound record"}
	}
	in := Inbound{AID: rec[0], Cursor: -1}
	if in.AID == AIDStructF {
		for i := 1; i < len(rec); {
			if i+4 > len(rec) {
				return in, &DataStreamError{Offset: i, Reason: "query reply truncated"}
			}
			n := int(rec[i])<<8 | int(rec[i+1])
			if n < 4 || i+n > len(rec) {
				return in, &DataStreamError{Offset: i, Reason: fmt.Sprintf("query reply length %d invalid", n)}
			}
			if rec[i+2] == sfQueryReply {
				in.QueryReplies = append(in.QueryReplies, rec[i+3])
			}
			i += n
		}
		return in, nil
	}
	if len(rec) == 1 {
		return in, nil
	}
	if len(rec) < 3 {
		return in, &DataStreamError{Offset: 1, Reason: "cursor address truncated"}
	}
	in.Cursor = DecodeAddress(rec[1], rec[2])
	var cur *InboundField
	for i := 3; i < len(rec); {
		if rec[i] == OrderSBA {
			if i+2 >= len(rec) {
				return in, &DataStreamError{Offset: i, Reason: "SBA truncated"}
			}
			in.Fields = append(in.Fields, InboundField{Addr: DecodeAddress(rec[i+1], rec[i+2])})
			cur = &in.Fields[len(in.Fields)-1]
			i += 3
			continue
		}
		if cur == nil {
			// Unformatted screen: data without SBA.
			in.Fields = append(in.Fields, InboundField{Addr: 0})
			cur = &in.Fields[len(in.Fields)-1]
		}
		cur.Data = append(cur.Data, rec[i])
		i++
	}
	return in, nil
}

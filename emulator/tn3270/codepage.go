package tn3270

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// CodePage is a single-byte EBCDIC code page: a bijection between the 256
// byte values and 256 Unicode code points. A CodePage is immutable and safe
// for concurrent use.
type CodePage struct {
	name    string
	cgcsgid uint32 // graphic character set (697) << 16 | code page number
	toUni   *[256]rune
	fromUni map[rune]byte
}

// codePages lists the supported code pages by canonical name.
var codePages = map[string]*CodePage{
	"037":  newCodePage("037", 37, &cp037ToUnicode),
	"1047": newCodePage("1047", 1047, &cp1047ToUnicode),
	"500":  newCodePage("500", 500, &cp500ToUnicode),
	"273":  newCodePage("273", 273, &cp273ToUnicode),
	"285":  newCodePage("285", 285, &cp285ToUnicode),
	"297":  newCodePage("297", 297, &cp297ToUnicode),
}

func newCodePage(name string, number uint32, table *[256]rune) *CodePage {
	cp := &CodePage{name: name, cgcsgid: 697<<16 | number, toUni: table, fromUni: make(map[rune]byte, 256)}
	for b, r := range table {
		cp.fromUni[r] = byte(b)
	}
	return cp
}

// CodePages returns the names of the supported code pages.
func CodePages() []string { return []string{"037", "1047", "500", "273", "285", "297"} }

// LookupCodePage returns the code page called name. It accepts "037",
// "37", "cp037", "IBM-037", "IBM037" and the like; the empty name is "037".
func LookupCodePage(name string) (*CodePage, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	for _, p := range []string{"ibm-", "ibm", "cp-", "cp"} {
		n = strings.TrimPrefix(n, p)
	}
	n = strings.TrimLeft(n, "0")
	switch n {
	case "":
		return codePages["037"], nil
	case "37":
		n = "037"
	}
	if cp, ok := codePages[n]; ok {
		return cp, nil
	}
	return nil, fmt.Errorf("%w: %q (supported: %s)", ErrUnknownCodePage, name, strings.Join(CodePages(), ", "))
}

// Name returns the canonical name of the code page, such as "037".
func (cp *CodePage) Name() string { return cp.name }

// CGCSGID returns the coded graphic character set global identifier that a
// Character Sets query reply reports for this code page.
func (cp *CodePage) CGCSGID() uint32 { return cp.cgcsgid }

// Decode returns the Unicode character of EBCDIC byte b.
func (cp *CodePage) Decode(b byte) rune { return cp.toUni[b] }

// Encode returns the EBCDIC byte of r, and false when the code page has no
// such character.
func (cp *CodePage) Encode(r rune) (byte, bool) {
	b, ok := cp.fromUni[r]
	return b, ok
}

// DecodeString converts EBCDIC bytes to a string, one rune per byte.
func (cp *CodePage) DecodeString(p []byte) string {
	var sb strings.Builder
	sb.Grow(len(p))
	for _, b := range p {
		sb.WriteRune(cp.toUni[b])
	}
	return sb.String()
}

// EncodeString converts s to EBCDIC. A character the code page lacks makes
// it fail with an error that wraps ErrUnencodable.
func (cp *CodePage) EncodeString(s string) ([]byte, error) {
	out := make([]byte, 0, len(s))
	for i, r := range s {
		if r == utf8.RuneError {
			return nil, fmt.Errorf("%w: invalid UTF-8 at offset %d", ErrUnencodable, i)
		}
		b, ok := cp.fromUni[r]
		if !ok {
			return nil, fmt.Errorf("%w: %q is not in code page %s", ErrUnencodable, r, cp.name)
		}
		out = append(out, b)
	}
	return out, nil
}

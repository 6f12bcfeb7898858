package tn3270

import (
	"errors"
	"testing"
)

func TestCodePageRoundTripEveryByte(t *testing.T) {
	for _, name := range CodePages() {
		cp, err := LookupCodePage(name)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[rune]byte{}
		for i := 0; i < 256; i++ {
			b := byte(i)
			r := cp.Decode(b)
			if prev, dup := seen[r]; dup {
				t.Errorf("cp%s: bytes %#02x and %#02x both decode to %U", name, prev, b, r)
			}
			seen[r] = b
			got, ok := cp.Encode(r)
			if !ok || got != b {
				t.Errorf("cp%s: Encode(Decode(%#02x)=%U) = %#02x, %v", name, b, r, got, ok)
			}
		}
		all := make([]byte, 256)
		for i := range all {
			all[i] = byte(i)
		}
		back, err := cp.EncodeString(cp.DecodeString(all))
		if err != nil || string(back) != string(all) {
			t.Errorf("cp%s: string round trip failed: %v", name, err)
		}
	}
}

func TestCodePageKnownCharacters(t *testing.T) {
	tests := []struct {
		page string
		b    byte
		want rune
	}{
		{"037", 0x40, ' '}, {"037", 0xC1, 'A'}, {"037", 0x81, 'a'}, {"037", 0xF0, '0'},
		{"037", 0x4A, '¢'}, {"037", 0xBA, '['}, {"037", 0x5F, '¬'}, {"037", 0x7C, '@'},
		{"1047", 0xAD, '['}, {"1047", 0xBD, ']'}, {"1047", 0x5F, '^'}, {"1047", 0x15, '\u0085'},
		{"500", 0x4A, '['}, {"500", 0x5A, ']'}, {"500", 0x4F, '!'},
		{"273", 0x4A, 'Ä'}, {"273", 0x5A, 'Ü'}, {"273", 0xE0, 'Ö'}, {"273", 0x7C, '§'},
		{"285", 0x5B, '£'}, {"285", 0x4A, '$'},
		{"297", 0x7B, '£'}, {"297", 0x44, '@'}, {"297", 0xC0, 'é'},
	}
	for _, tc := range tests {
		cp, err := LookupCodePage(tc.page)
		if err != nil {
			t.Fatal(err)
		}
		if got := cp.Decode(tc.b); got != tc.want {
			t.Errorf("cp%s: Decode(%#02x) = %q, want %q", tc.page, tc.b, got, tc.want)
		}
	}
}

func TestLookupCodePage(t *testing.T) {
	for _, name := range []string{"", "037", "37", "cp037", "CP37", "IBM-037", "ibm037"} {
		cp, err := LookupCodePage(name)
		if err != nil || cp.Name() != "037" {
			t.Errorf("LookupCodePage(%q) = %v, %v; want 037", name, cp, err)
		}
	}
	cp, err := LookupCodePage("IBM-1047")
	if err != nil || cp.Name() != "1047" || cp.CGCSGID() != 697<<16|1047 {
		t.Errorf("1047: %v %v", cp, err)
	}
	if _, err := LookupCodePage("1252"); !errors.Is(err, ErrUnknownCodePage) {
		t.Errorf("1252: err = %v, want ErrUnknownCodePage", err)
	}
	if _, err := codePages["037"].EncodeString("日本"); !errors.Is(err, ErrUnencodable) {
		t.Errorf("EncodeString(CJK) err = %v, want ErrUnencodable", err)
	}
}

func BenchmarkDecodeString(b *testing.B) {
	cp := codePages["037"]
	p := make([]byte, 80*24)
	for i := range p {
		p[i] = 0xC1 + byte(i%9)
	}
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		_ = cp.DecodeString(p)
	}
}

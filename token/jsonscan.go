package token

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// member is one top-level member of a JSON object: its name and its raw value.
type member struct {
	name string
	raw  []byte
}

// checkJSON verifies that b is exactly one JSON object, valid UTF-8, with no
// duplicate member names in any object at any depth, and returns the
// top-level members in order. Names equal under Unicode simple case folding
// count as duplicates, because encoding/json matches struct fields
// case-insensitively ("dst", "DST" and "dſt" would all land in Claims.Dst).
// A top-level member that folds to one of known must be spelled exactly as
// it is there.
//
// It runs before anything is unmarshalled, so the claims a verifier acts on
// are the only reading of the payload. json.Valid checks the grammar first;
// the walk below then only has to find member names. Its verdicts equal
// those of a json.Decoder token walk (see FuzzCheckJSON, which compares the two).
func checkJSON(b []byte, known []string) ([]member, error) {
	if !utf8.Valid(b) {
		return nil, errors.New("not valid UTF-8")
	}
	if !json.Valid(b) {
		return nil, errors.New("not valid JSON")
	}
	pos := skipSpace(b, 0)
	if b[pos] != '{' {
		return nil, errors.New("not a JSON object")
	}
	var (
		stack     []scanFrame
		members   []member
		expectKey bool
		valStart  = -1 // start of the current top-level member's value
	)
	endValue := func(end int) {
		if len(stack) == 1 && valStart >= 0 {
			members[len(members)-1].raw = trimSpaceRight(b[valStart:end])
			valStart = -1
		}
	}
	for pos < len(b) {
		switch c := b[pos]; c {
		case ' ', '\t', '\n', '\r', ':':
			pos++
		case ',':
			endValue(pos)
			expectKey = stack[len(stack)-1].object
			pos++
		case '{', '[':
			stack = append(stack, scanFrame{object: c == '{'})
			expectKey = c == '{'
			pos++
		case '}', ']':
			endValue(pos)
			stack = stack[:len(stack)-1]
			expectKey = false
			pos++
			if len(stack) == 0 {
				if skipSpace(b, pos) != len(b) {
					return nil, errors.New("data after the JSON object")
				}
				return members, nil
			}
		case '"':
			end := stringEnd(b, pos)
			if expectKey {
				name, err := decodeString(b[pos:end])
				if err != nil {
					return nil, err
				}
				if err := stack[len(stack)-1].add(name); err != nil {
					return nil, err
				}
				if len(stack) == 1 {
					for _, k := range known {
						if k != name && strings.EqualFold(k, name) {
							return nil, fmt.Errorf("member %q must be spelled %q", clip(name), k)
						}
					}
					members = append(members, member{name: name})
					valStart = skipSpace(b, skipSpace(b, end)+1) // past the ':'
				}
				expectKey = false
			}
			pos = end
		default: // number, true, false, null
			for pos < len(b) && !isDelim(b[pos]) {
				pos++
			}
		}
	}
	return nil, errors.New("unterminated JSON object")
}

// scanFrame is one open object or array of checkJSON's walk.
// strings.EqualFold is equality under Unicode simple case folding, the
// relation foldName canonicalises: small objects compare names pairwise
// without allocating, large ones switch to a map of folded names.
type scanFrame struct {
	object bool
	names  []string            // member names as written, while few
	set    map[string]struct{} // folded names, once many
}

func (f *scanFrame) add(name string) error {
	dup := false
	if f.set != nil {
		_, dup = f.set[foldName(name)]
	} else {
		for _, x := range f.names {
			if strings.EqualFold(x, name) {
				dup = true
				break
			}
		}
	}
	if dup {
		return fmt.Errorf("duplicate member %q", clip(name))
	}
	if f.set == nil && len(f.names) < 16 {
		f.names = append(f.names, name)
		return nil
	}
	if f.set == nil {
		f.set = make(map[string]struct{}, 32)
		for _, x := range f.names {
			f.set[foldName(x)] = struct{}{}
		}
		f.names = nil
	}
	f.set[foldName(name)] = struct{}{}
	return nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

func trimSpaceRight(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func isDelim(c byte) bool {
	return c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

// stringEnd returns the index just past the JSON string starting at b[i]
// (b is valid JSON, so the string is terminated).
func stringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(b)
}

// decodeString decodes a quoted JSON string (with its quotes).
func decodeString(q []byte) (string, error) {
	in := q[1 : len(q)-1]
	for _, c := range in {
		if c == '\\' {
			var s string
			err := json.Unmarshal(q, &s)
			return s, err
		}
	}
	return string(in), nil
}

// foldName maps s to a canonical representative of its case-folding class:
// every rune becomes the smallest rune of its unicode.SimpleFold orbit.
func foldName(s string) string {
	ascii, lower := true, false
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
		if s[i] >= 'a' && s[i] <= 'z' {
			lower = true
		}
	}
	if ascii {
		if !lower {
			return s
		}
		b := []byte(s)
		for i, c := range b {
			if c >= 'a' && c <= 'z' {
				b[i] = c - 'a' + 'A'
			}
		}
		return string(b)
	}
	out := make([]rune, 0, len(s))
	for _, r := range s {
		m := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if f < m {
				m = f
			}
		}
		out = append(out, m)
	}
	return string(out)
}

package token

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// member is one top-level member of a JSON object: its name and its raw
// value, both as substrings of the scanned text.
type member struct {
	name string
	raw  string
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
// are the only reading of the payload. One pass checks the grammar exactly
// as json.Valid does (RFC 8259, nesting at most 10000 deep) and finds the
// member names; a grammar error is reported before a name error. Its
// verdicts equal those of a json.Decoder token walk, and its grammar those of
// json.Valid (see FuzzCheckJSON, which compares all three).
func checkJSON(b []byte, known []string) ([]member, error) {
	return scanJSON(b, string(b), known, nil)
}

// scanJSON is checkJSON for a caller that holds the text both as bytes b and
// as the equal string s: member names and values are substrings of s, so a
// scan allocates nothing unless a name has escapes, an object has many
// members or the nesting is deep. Members are appended to out.
func scanJSON(b []byte, s string, known []string, out []member) ([]member, error) {
	if len(b) != len(s) {
		return nil, errors.New("internal error: scanJSON text mismatch")
	}
	if !utf8.Valid(b) {
		return nil, errors.New("not valid UTF-8")
	}
	var (
		frameBuf [8]scanFrame
		nameBuf  [32]string
		stack    = frameBuf[:0]
		names    = nameBuf[:0] // member names of the open objects, innermost last
		members  = out
		nameErr  error // the first duplicate or misspelled name, or a top level that is not an object
		state    = wantValue
		valStart int // start of the current top-level member's value
	)
	pos := skipSpace(b, 0)
	if pos < len(b) && b[pos] != '{' {
		nameErr = errors.New("not a JSON object")
	}
	for {
		pos = skipSpace(b, pos)
		if pos >= len(b) {
			if state != wantEnd {
				return nil, errSyntax
			}
			break
		}
		c := b[pos]
		switch state {
		case wantEnd: // json.Valid refuses data after the value too
			return nil, errSyntax
		case wantColon:
			if c != ':' {
				return nil, errSyntax
			}
			pos++
			state = wantValue
			if len(stack) == 1 {
				valStart = skipSpace(b, pos)
			}
			continue
		case wantKey, wantKeyOrEnd:
			if c == '}' && state == wantKeyOrEnd {
				break // closes the object below
			}
			if c != '"' {
				return nil, errSyntax
			}
			end, ok := stringEnd(b, pos)
			if !ok {
				return nil, errSyntax
			}
			name, err := jsonString(s[pos:end])
			if err != nil {
				return nil, errSyntax
			}
			top := &stack[len(stack)-1]
			dup := false
			if names, dup = top.add(names, name); dup && nameErr == nil {
				nameErr = fmt.Errorf("duplicate member %q", clip(name))
			}
			if len(stack) == 1 {
				if nameErr == nil && !slices.Contains(known, name) {
					// The known names are distinct under folding, so a
					// name spelled as one of them folds to no other.
					for _, k := range known {
						if strings.EqualFold(k, name) {
							nameErr = fmt.Errorf("member %q must be spelled %q", clip(name), k)
							break
						}
					}
				}
				members = append(members, member{name: name})
			}
			pos = end
			state = wantColon
			continue
		case wantCommaOrEnd:
			if len(stack) == 1 && stack[0].object {
				members[len(members)-1].raw = s[valStart:trimSpaceRight(b, pos)]
			}
			if c == ',' {
				pos++
				if stack[len(stack)-1].object {
					state = wantKey
				} else {
					state = wantValue
				}
				continue
			}
		case wantValue, wantValueOrEnd:
			if c == ']' && state == wantValueOrEnd {
				break // closes the array below
			}
			switch {
			case c == '{' || c == '[':
				if len(stack) == maxJSONDepth {
					return nil, errSyntax
				}
				stack = append(stack, scanFrame{object: c == '{', first: len(names)})
				pos++
				if c == '{' {
					state = wantKeyOrEnd
				} else {
					state = wantValueOrEnd
				}
				continue
			case c == '"':
				end, ok := stringEnd(b, pos)
				if !ok {
					return nil, errSyntax
				}
				pos = end
			case c == '-' || c >= '0' && c <= '9':
				end, ok := numberEnd(b, pos)
				if !ok {
					return nil, errSyntax
				}
				pos = end
			case c == 't' && strings.HasPrefix(s[pos:], "true"):
				pos += 4
			case c == 'f' && strings.HasPrefix(s[pos:], "false"):
				pos += 5
			case c == 'n' && strings.HasPrefix(s[pos:], "null"):
				pos += 4
			default:
				return nil, errSyntax
			}
			state = afterValue(stack)
			continue
		}
		// c closes the innermost object or array, if it is the right one.
		if len(stack) == 0 || c != stack[len(stack)-1].closer() {
			return nil, errSyntax
		}
		names = names[:stack[len(stack)-1].first]
		stack = stack[:len(stack)-1]
		pos++
		state = afterValue(stack)
	}
	if nameErr != nil {
		return nil, nameErr
	}
	return members, nil
}

// errSyntax is what scanJSON returns for text that json.Valid refuses.
var errSyntax = errors.New("not valid JSON")

// maxJSONDepth is encoding/json's limit on nesting, which json.Valid applies.
const maxJSONDepth = 10000

// What scanJSON's walk expects next.
const (
	wantValue      = iota // a value
	wantValueOrEnd        // a value or ']' (just after '[')
	wantKey               // a member name (after ',' in an object)
	wantKeyOrEnd          // a member name or '}' (just after '{')
	wantColon             // ':' after a member name
	wantCommaOrEnd        // ',' or the end of the innermost object or array
	wantEnd               // nothing: the top-level value is complete
)

func afterValue(stack []scanFrame) int {
	if len(stack) == 0 {
		return wantEnd
	}
	return wantCommaOrEnd
}

// scanFrame is one open object or array of scanJSON's walk. The member names
// of an object are names[first:] while it has few; strings.EqualFold is
// equality under Unicode simple case folding, the relation foldName
// canonicalises: small objects compare names pairwise without allocating,
// large ones switch to a map of folded names.
type scanFrame struct {
	object bool
	first  int                 // index in names of this object's first member name
	set    map[string]struct{} // folded names, once many
}

func (f *scanFrame) closer() byte {
	if f.object {
		return '}'
	}
	return ']'
}

// add records name as a member of f, whose names so far are names[f.first:]
// (or f.set), and returns names, extended by name unless f uses its set, and
// whether name duplicates an earlier one.
func (f *scanFrame) add(names []string, name string) ([]string, bool) {
	if f.set != nil {
		k := foldName(name)
		_, dup := f.set[k]
		f.set[k] = struct{}{}
		return names, dup
	}
	for _, x := range names[f.first:] {
		if strings.EqualFold(x, name) {
			return names, true
		}
	}
	if len(names)-f.first < 16 {
		return append(names, name), false
	}
	f.set = make(map[string]struct{}, 32)
	for _, x := range names[f.first:] {
		f.set[foldName(x)] = struct{}{}
	}
	f.set[foldName(name)] = struct{}{}
	return names, false
}

// stringEnd returns the index just past the JSON string at b[i] ('"'), and
// whether it is valid: no control characters, and only the escapes \" \\
// \/ \b \f \n \r \t and \u with four hex digits.
func stringEnd(b []byte, i int) (int, bool) {
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1, true
		case c < 0x20:
			return 0, false
		case c == '\\':
			i++
			if i >= len(b) {
				return 0, false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) {
					return 0, false
				}
				for _, h := range b[i+1 : i+5] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return 0, false
					}
				}
				i += 4
			default:
				return 0, false
			}
		}
	}
	return 0, false
}

// numberEnd returns the index just past the number at b[i], and whether it
// is -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func numberEnd(b []byte, i int) (int, bool) {
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(b, i)
	default:
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		if i+1 >= len(b) || b[i+1] < '0' || b[i+1] > '9' {
			return 0, false
		}
		i = digits(b, i+1)
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return 0, false
		}
		i = digits(b, i)
	}
	return i, true
}

// trimSpaceRight returns end moved left past the white space before it.
func trimSpaceRight(b []byte, end int) int {
	for end > 0 && (b[end-1] == ' ' || b[end-1] == '\t' || b[end-1] == '\n' || b[end-1] == '\r') {
		end--
	}
	return end
}

func digits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// jsonString decodes a quoted JSON string (with its quotes) that is valid
// JSON in valid UTF-8. Without escapes that is the text between the quotes,
// returned without copying.
func jsonString(q string) (string, error) {
	if len(q) < 2 || q[0] != '"' || q[len(q)-1] != '"' {
		return "", errors.New("not a JSON string")
	}
	if strings.IndexByte(q, '\\') < 0 {
		return q[1 : len(q)-1], nil
	}
	var s string
	err := json.Unmarshal([]byte(q), &s)
	return s, err
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

package token

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

// checkJSONReference is the straightforward json.Decoder token walk that
// checkJSON must agree with: FuzzCheckJSON compares their verdicts.
func checkJSONReference(b []byte, known []string) error {
	if !utf8.Valid(b) {
		return errors.New("not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		return errors.New("not a JSON object")
	}
	type frame struct {
		object, wantKey bool
		seen            map[string]bool
	}
	stack := []frame{{object: true, wantKey: true, seen: map[string]bool{}}}
	done := func() {
		if n := len(stack); n > 0 && stack[n-1].object {
			stack[n-1].wantKey = true
		}
	}
	for len(stack) > 0 {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		top := &stack[len(stack)-1]
		if top.object && top.wantKey {
			if d, ok := t.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				done()
				continue
			}
			name := t.(string)
			if top.seen[foldName(name)] {
				return fmt.Errorf("duplicate member %q", name)
			}
			top.seen[foldName(name)] = true
			if len(stack) == 1 {
				for _, k := range known {
					if k != name && foldName(k) == foldName(name) {
						return fmt.Errorf("member %q must be spelled %q", name, k)
					}
				}
			}
			top.wantKey = false
			continue
		}
		switch t {
		case json.Delim('{'):
			stack = append(stack, frame{object: true, wantKey: true, seen: map[string]bool{}})
		case json.Delim('['):
			stack = append(stack, frame{})
		case json.Delim(']'), json.Delim('}'):
			stack = stack[:len(stack)-1]
			done()
		default:
			done()
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON object")
	}
	return nil
}

var checkJSONCases = []string{
	`{}`, ` { } `, `{"a":1}`, `{"a":1,"a":2}`, `{"a":1,"A":2}`, `{"dst":"x","dſt":"y"}`, `{"k":1,"K":2}`,
	`{"a":{"b":1,"b":2}}`, `{"a":[{"b":1,"b":2}]}`, `{"a":[{"b":1},{"b":2}]}`, `{"a":{"b":1},"b":{"a":1}}`,
	`{"a":"\"b\":1","b":2}`, `{"d\u0073t":1,"dst":2}`, `{"a\\":1,"a":2}`, `{"a":1}{}`, `{"a":1}x`, `[]`, `"x"`,
	`{"a":1,}`, `{"a"}`, `{"DST":1}`, `{"Dst":1}`, `{"x":[1,2,[3,{"y":null}]],"z":true}`, `{"a":-1.5e3,"b":false}`,
	"{\"a\":\"\xff\"}", `{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"k":11,"l":12,"m":13,"n":14,"o":15,"p":16,"q":17,"a":18}`,
	// Grammar edges, which must match json.Valid.
	``, ` `, `{`, `}`, `{"a":}`, `{"a" 1}`, `{"a":1 "b":2}`, `{,}`, `{"a":1,,"b":2}`, `{"a":[1,]}`, `{"a":[,1]}`, `{"a":[1 2]}`,
	`{"a":-}`, `{"a":-0}`, `{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":1e}`, `{"a":1e+}`, `{"a":1E+2}`, `{"a":-1.0e-0}`, `{"a":+1}`,
	`{"a":tru}`, `{"a":nul}`, `{"a":truex}`, `{"a":True}`, `{"a":null}`, `{"a":"\u12G4"}`, `{"a":"\u12"}`, `{"a":"\x"}`, `{"a":"\/\b\f\n\r\t"}`,
	"{\"a\":\"\t\"}", "{\"a\":\"\x7f\"}", "\t{\r\n\"a\" :\n1 }\n", "{\"a\":1}\x00", `{"a":"\"}`, `{"a\u0000":1}`, `{"\u212a":1,"k":2}`,
	`{"a":{"b":{"c":[[[]]]}},"b":[{},{"a":1,"A":1}]}`, `["not", "an", {"object":1,"object":2}]`, `{"a":1}  `, `{"a":"é","é":"a","É":1}`,
}

func TestCheckJSONAgreesWithReference(t *testing.T) {
	for _, c := range checkJSONCases {
		_, got := checkJSON([]byte(c), knownClaims)
		want := checkJSONReference([]byte(c), knownClaims)
		if (got == nil) != (want == nil) {
			t.Errorf("%q: checkJSON = %v, reference = %v", c, got, want)
		}
		if syntax := got != nil && got.Error() == "not valid JSON"; syntax != (utf8.Valid([]byte(c)) && !json.Valid([]byte(c))) {
			t.Errorf("%q: checkJSON = %v, json.Valid = %v", c, got, json.Valid([]byte(c)))
		}
	}
}

// The walk nests as deep as json.Valid allows, and no deeper.
func TestCheckJSONDepthLikeValid(t *testing.T) {
	for _, depth := range []int{maxJSONDepth - 1, maxJSONDepth, maxJSONDepth + 1} {
		for _, open := range []string{"[", `{"a":`} {
			close := map[string]string{"[": "]", `{"a":`: "}"}[open]
			// The top level is an object: {"x": <depth-1 levels> }.
			c := []byte(`{"x":` + strings.Repeat(open, depth-1) + "1" + strings.Repeat(close, depth-1) + "}")
			_, err := checkJSON(c, nil)
			if (err == nil) != json.Valid(c) {
				t.Errorf("depth %d of %s: checkJSON = %v, json.Valid = %v", depth, open, err, json.Valid(c))
			}
		}
	}
}

func TestCheckJSONMembers(t *testing.T) {
	ms, err := checkJSON([]byte(`{ "alg" : "ES256" , "x":{"a":[1,{"b":2}]},"n":12 }`), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []member{{"alg", `"ES256"`}, {"x", `{"a":[1,{"b":2}]}`}, {"n", `12`}}
	if len(ms) != len(want) {
		t.Fatalf("members = %q", ms)
	}
	for i := range ms {
		if ms[i].name != want[i].name || ms[i].raw != want[i].raw {
			t.Errorf("member %d = %s %s, want %s %s", i, ms[i].name, ms[i].raw, want[i].name, want[i].raw)
		}
	}
}

func FuzzCheckJSON(f *testing.F) {
	for _, c := range checkJSONCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ms, got := checkJSON(b, knownClaims)
		want := checkJSONReference(b, knownClaims)
		if (got == nil) != (want == nil) {
			t.Fatalf("%q: checkJSON = %v, reference = %v", b, got, want)
		}
		if syntax := got != nil && got.Error() == "not valid JSON"; syntax != (utf8.Valid(b) && !json.Valid(b)) {
			t.Fatalf("%q: checkJSON = %v, json.Valid = %v", b, got, json.Valid(b))
		}
		for _, m := range ms {
			if !json.Valid([]byte(m.raw)) {
				t.Fatalf("%q: member %q has raw value %q, not JSON", b, m.name, m.raw)
			}
		}
	})
}

// foldName and strings.EqualFold must define the same relation, since
// checkJSON uses one for small objects and the other for large ones.
func FuzzFoldName(f *testing.F) {
	f.Add("dst", "dſt")
	f.Add("k", "\u212a")
	f.Add("ß", "ss")
	f.Fuzz(func(t *testing.T, a, b string) {
		if !utf8.ValidString(a) || !utf8.ValidString(b) {
			return
		}
		if (foldName(a) == foldName(b)) != strings.EqualFold(a, b) {
			t.Fatalf("foldName and EqualFold disagree on %q, %q", a, b)
		}
	})
}

// scanJSON skips the spelling check for a name spelled exactly as a known
// one, which is sound only while no two known names fold to each other.
func TestKnownNamesAreFoldDistinct(t *testing.T) {
	for _, known := range [][]string{knownClaims, knownHeaders, jwkMembers} {
		for i, a := range known {
			for _, b := range known[i+1:] {
				if strings.EqualFold(a, b) {
					t.Errorf("known names %q and %q are equal under case folding", a, b)
				}
			}
		}
	}
}

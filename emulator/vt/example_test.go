package vt_test

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/termgate/termgate/emulator/vt"
)

func Example() {
	var replies bytes.Buffer
	s := vt.New(vt.Config{Rows: 3, Cols: 20, Reply: &replies})
	s.Write([]byte("\x1b[2J\x1b[H\x1b[1mtermgate\x1b[m\r\n\x1b(0lqqk\x1b(B\r\n\x1b[6n"))
	for _, row := range s.Rows() {
		fmt.Printf("%q\n", row)
	}
	row, col, _ := s.Cursor()
	fmt.Println(row, col, s.Cell(0, 0).Attr.Has(vt.Bold))
	fmt.Printf("%q\n", replies.String())
	fmt.Printf("%q\n", vt.EncodeKey(vt.KeyUp, 0, s.CursorKeysApplication()))
	// Output:
	// "termgate"
	// "┌──┐"
	// ""
	// 2 0 true
	// "\x1b[3;1R"
	// "\x1b[A"
}

func ExampleReplay() {
	cast := `{"version": 2, "width": 10, "height": 2}
[0.5, "o", "hello\r\n"]
[0.9, "o", "\u001b[31mworld"]
`
	s, err := vt.Replay(strings.NewReader(cast), vt.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(strings.Join(s.Rows(), "|"))
	// Output: hello|world
}

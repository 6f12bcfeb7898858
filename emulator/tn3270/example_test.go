package tn3270_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/termgate/termgate/emulator/tn3270"
	"github.com/termgate/termgate/internal/demo/tn3270host"
)

// Example signs on to termgate's demo 3270 host and reads the menu.
func Example() {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	srv := &tn3270host.Server{}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(context.Background(), ln) }()
	defer func() { srv.Close(); <-done }()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	term, err := tn3270.Open(ctx, conn, tn3270.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer term.Close()

	term.WaitForText(ctx, "TERMGATE DEMO 3270")
	term.WaitForUnlock(ctx)
	fmt.Println(term.Mode())
	term.SetField(5, 20, "alice")
	term.SetField(6, 20, "demo")
	term.Press(tn3270.KeyEnter)
	if err := term.WaitForText(ctx, "MAIN MENU"); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(strings.TrimSpace(term.Screen()[0]))
	fmt.Println(strings.TrimSpace(term.Screen()[2]))
	// Output:
	// TN3270E
	// MAIN MENU
	// Signed on as ALICE
}

package tn3270host

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/termgate/termgate/emulator/tn3270"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func dialTerminal(t *testing.T, addr string, cfg tn3270.Config) *tn3270.Terminal {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	term, err := tn3270.Open(ctx, conn, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { term.Close() })
	return term
}

// step presses key and waits for text and an unlocked keyboard.
func step(t *testing.T, term *tn3270.Terminal, key tn3270.Key, text string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := term.Press(key); err != nil {
		t.Fatalf("press %v: %v", key, err)
	}
	if err := term.WaitForText(ctx, text); err != nil {
		t.Fatalf("after %v waiting for %q: %v\n%s", key, text, err, term.Text())
	}
	if err := term.WaitForUnlock(ctx); err != nil && !errors.Is(err, tn3270.ErrClosed) {
		t.Fatalf("after %v: %v", key, err)
	}
}

func TestRoundTripThroughTerminal(t *testing.T) {
	_, addr := startServer(t)
	cases := []struct {
		name string
		cfg  tn3270.Config
	}{
		{"model2-extended-tn3270e", tn3270.Config{}},
		{"model2-extended-tn3270", tn3270.Config{NoTN3270E: true}},
		{"model5-basic-tn3270", tn3270.Config{Basic: true, Model: 5, NoTN3270E: true}},
	}
	for _, tc := range cases {
		cfg := tc.cfg
		t.Run(tc.name, func(t *testing.T) {
			term := dialTerminal(t, addr, cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := term.WaitForText(ctx, "TERMGATE DEMO 3270"); err != nil {
				t.Fatal(err)
			}
			if err := term.WaitForUnlock(ctx); err != nil {
				t.Fatal(err)
			}
			if r, c := term.Cursor(); r != userRow || c != userCol {
				t.Errorf("cursor %d,%d want the user field", r, c)
			}
			pw, ok := term.FieldAt(passRow, passCol)
			if !ok || !pw.Hidden || pw.Protected || pw.Len != passLen {
				t.Fatalf("password field %+v %v", pw, ok)
			}
			if err := term.SetField(2, 5, "x"); !errors.Is(err, tn3270.ErrProtected) {
				t.Errorf("SetField on a label: %v", err)
			}
			// Wrong password.
			if err := term.SetField(userRow, userCol, "alice"); err != nil {
				t.Fatal(err)
			}
			if err := term.SetField(passRow, passCol, "wrong"); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(term.Text(), "wrong") {
				t.Fatal("the password shows on the screen")
			}
			step(t, term, tn3270.KeyEnter, "INVALID PASSWORD")
			if !strings.Contains(term.Screen()[msgRow], "INVALID PASSWORD") {
				t.Errorf("message row %q", term.Screen()[msgRow])
			}
			// Right password, typed like an operator.
			if err := term.Type("bob\tdemo"); err != nil {
				t.Fatal(err)
			}
			step(t, term, tn3270.KeyEnter, "MAIN MENU")
			if !strings.Contains(term.Text(), "Signed on as BOB") {
				t.Errorf("menu:\n%s", term.Text())
			}
			if err := term.Type("x"); !errors.Is(err, tn3270.ErrNumeric) {
				t.Errorf("letter into the numeric option field: %v", err)
			}
			term.Press(tn3270.KeyReset)
			if err := term.SetField(optRow, optCol, "9"); err != nil {
				t.Fatal(err)
			}
			step(t, term, tn3270.KeyEnter, "INVALID OPTION")
			if err := term.SetField(optRow, optCol, "1"); err != nil {
				t.Fatal(err)
			}
			step(t, term, tn3270.KeyEnter, "ACCOUNT BALANCES")
			if !strings.Contains(term.Text(), "100-2001") {
				t.Errorf("balances:\n%s", term.Text())
			}
			step(t, term, tn3270.KeyPF3, "MAIN MENU")
			if err := term.SetField(optRow, optCol, "2"); err != nil {
				t.Fatal(err)
			}
			step(t, term, tn3270.KeyEnter, "SYSTEM STATUS")
			wantMode := "TN3270E  LU TGLU0001"
			if cfg.NoTN3270E {
				wantMode = "TN3270"
			}
			if !strings.Contains(term.Text(), "Protocol . . : "+wantMode) {
				t.Errorf("status:\n%s", term.Text())
			}
			step(t, term, tn3270.KeyPF3, "MAIN MENU")
			step(t, term, tn3270.KeyClear, "MAIN MENU")
			step(t, term, tn3270.KeyPF3, "GOODBYE FROM TERMGATE DEMO 3270")
			select {
			case <-term.Done():
			case <-ctx.Done():
				t.Fatal("host did not close the connection after goodbye")
			}
		})
	}
}

func TestServerLifecycle(t *testing.T) {
	srv := &Server{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(context.Background(), ln) }()
	// A client that connects and never negotiates is dropped at Close.
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	term := dialTerminal(t, ln.Addr().String(), tn3270.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := term.WaitForText(ctx, "TERMGATE"); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	srv.Close()
	if err := <-errc; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Close = %v", err)
	}
	<-term.Done()
	if err := srv.Serve(context.Background(), ln); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve on a closed server = %v", err)
	}

	// Cancelling the context stops Serve with nil.
	srv2 := &Server{}
	ln2, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx2, cancel2 := context.WithCancel(context.Background())
	go func() { errc <- srv2.Serve(ctx2, ln2) }()
	cancel2()
	if err := <-errc; err != nil {
		t.Errorf("Serve after cancel = %v", err)
	}
	srv2.Close()
}

func TestNegotiationTimeout(t *testing.T) {
	_, addr := startServer(t, func(s *Server) { s.NegotiationTimeout = 200 * time.Millisecond })
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	for {
		if _, err := c.Read(buf); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("host kept a silent client past its negotiation timeout")
			}
			return
		}
	}
}

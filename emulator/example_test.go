package emulator_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"regexp"
	"strings"
	"time"

	"github.com/termgate/termgate/emulator"
)

// Example logs in, launches a session, waits for the host's first screen,
// types a line and reads the screen. It runs against an in-process stand-in
// for the management server and the proxy, relaying to termgate's demo VT
// host, so that its output is checked; against "termgate up" only the URL,
// the CA file and the credentials change.
func Example() {
	env, err := startEnv()
	if err != nil {
		log.Fatal(err)
	}
	defer env.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// With "termgate up": emulator.ClientOptions{CAFile: "termgate-data/ca.pem"}.
	c, err := emulator.NewClient(env.MgmtURL(), emulator.ClientOptions{CA: env.MgmtCA})
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Login(ctx, "alice", "correct horse"); err != nil {
		log.Fatal(err)
	}
	s, err := emulator.Open(ctx, c, "demo-vt", emulator.SessionOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	// The demo host repaints once it knows the terminal type (shown in its
	// status line): wait for that before typing.
	if _, err := s.WaitForRegexp(ctx, regexp.MustCompile(`(?m)Select an option[\s\S]*\| vt220 *$`)); err != nil {
		log.Fatal(err)
	}
	if err := s.Type("2"); err != nil { // echo mode
		log.Fatal(err)
	}
	if err := s.WaitForText(ctx, "Echo mode"); err != nil {
		log.Fatal(err)
	}
	if err := s.Type("hello"); err != nil {
		log.Fatal(err)
	}
	if err := s.Press("Enter"); err != nil {
		log.Fatal(err)
	}
	m, err := s.WaitForRegexp(ctx, regexp.MustCompile(`hello  =>  (\S+)`))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("the host answered:", m[1])
	rows, cols := s.Size()
	fmt.Println("screen:", rows, "x", cols)
	// Output:
	// the host answered: HELLO
	// screen: 24 x 80
}

// Example_tn3270 signs on to the demo 3270 host: the same Session API, plus
// fields and 3270 keys.
func Example_tn3270() {
	env, err := startEnv()
	if err != nil {
		log.Fatal(err)
	}
	defer env.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	c, err := emulator.NewClient(env.MgmtURL(), emulator.ClientOptions{CA: env.MgmtCA})
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Login(ctx, "alice", "correct horse"); err != nil {
		log.Fatal(err)
	}
	s, err := emulator.Open(ctx, c, "demo-3270", emulator.SessionOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	if err := s.WaitForText(ctx, "TERMGATE DEMO 3270"); err != nil {
		log.Fatal(err)
	}
	fields, err := s.Fields()
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range fields {
		if !f.Protected { // the input fields: user and (hidden) password
			fmt.Printf("input field at %d,%d: %d positions, hidden %v\n", f.Row, f.Col, f.Len, f.Hidden)
		}
	}
	if err := s.SetField(5, 20, "alice"); err != nil {
		log.Fatal(err)
	}
	if err := s.SetField(6, 20, "demo"); err != nil {
		log.Fatal(err)
	}
	if err := s.Press("Enter"); err != nil {
		log.Fatal(err)
	}
	if err := s.WaitForText(ctx, "MAIN MENU"); err != nil {
		log.Fatal(err)
	}
	if err := s.WaitForUnlock(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println(strings.TrimSpace(s.Screen()[2]))
	// Output:
	// input field at 5,20: 8 positions, hidden false
	// input field at 6,20: 8 positions, hidden true
	// Signed on as ALICE
}

// ExampleClient_Launch shows the lower layers: a launch, then a tunnel for
// any protocol.
func ExampleClient_Launch() {
	env, err := startEnv()
	if err != nil {
		log.Fatal(err)
	}
	defer env.Close()
	ctx := context.Background()

	c, _ := emulator.NewClient(env.MgmtURL(), emulator.ClientOptions{CA: env.MgmtCA})
	if err := c.Login(ctx, "alice", "correct horse"); err != nil {
		log.Fatal(err)
	}
	l, err := c.Launch(ctx, "echo-tcp", emulator.LaunchOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("protocol:", l.Session.Protocol, "proof of possession:", l.ProofKey != nil, "token:", l.Token)

	conn, err := emulator.Dial(ctx, l)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	// The test host echoes, and answers the end of input with "<EOF>".
	fmt.Fprint(conn, "ping")
	conn.CloseWrite()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	reply, err := io.ReadAll(conn)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", reply)
	// Output:
	// protocol: tcp proof of possession: true token: [REDACTED]
	// ping<EOF>
}

// ExampleProxyError shows how a refusal reads.
func ExampleProxyError() {
	err := error(&emulator.ProxyError{Status: 403, Code: "destination_denied", Reason: "10.0.0.9:23 is not in an allowed network",
		Target: "10.0.0.9:23", Proxy: "proxy.example.com:443"})
	fmt.Println(err)
	// Output:
	// proxy proxy.example.com:443 refused CONNECT 10.0.0.9:23: 403 Forbidden (destination_denied): 10.0.0.9:23 is not in an allowed network; the proxy's destination policy does not allow this host: ask the administrator to allow it
}

package emulator_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"time"

	"github.com/termgate/termgate/emulator"
)

// Example logs in, launches a session, waits for the host's first screen,
// types a line and reads the screen. It runs against an in-process stand-in
// for the management server, the proxy and a telnet host, so that its output
// is checked; against a real deployment only the URL, the CA file and the
// credentials change.
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

	if err := s.WaitForText(ctx, "termgate demo host"); err != nil {
		log.Fatal(err)
	}
	if err := s.Type("hello"); err != nil {
		log.Fatal(err)
	}
	if err := s.Press("Enter"); err != nil {
		log.Fatal(err)
	}
	if err := s.WaitForText(ctx, `got "hello"`); err != nil {
		log.Fatal(err)
	}
	for _, row := range s.Screen()[:3] {
		fmt.Println(row)
	}
	row, col := s.Cursor()
	fmt.Println("cursor:", row, col)
	// Output:
	// termgate demo host
	// > hello
	// got "hello"
	// cursor: 3 2
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

package telnet_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"time"

	"github.com/termgate/termgate/emulator/telnet"
	"github.com/termgate/termgate/internal/demo/vthost"
)

// Connect to a VT host, wait for its menu, choose echo mode and type a line.
func ExampleNewConn() {
	// A demo host on loopback stands in for the tunnel through the proxy.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	srv := &vthost.Server{}
	go srv.Serve(context.Background(), ln)
	defer srv.Close()

	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	c := telnet.NewConn(nc, telnet.Config{TerminalType: "xterm", Rows: 24, Cols: 80})
	defer c.Close()

	var screen []byte
	waitFor := func(s string) bool {
		buf := make([]byte, 4096)
		for !bytes.Contains(screen, []byte(s)) {
			n, err := c.Read(buf)
			screen = append(screen, buf[:n]...)
			if err != nil {
				return false
			}
		}
		screen = screen[bytes.Index(screen, []byte(s))+len(s):]
		return true
	}
	fmt.Println("menu:", waitFor("Select an option"))
	c.Write([]byte("2"))
	waitFor("Echo mode")
	c.Write([]byte("hello\r")) // "\r" is the Enter key
	fmt.Println("echoed:", waitFor("HELLO"))
	fmt.Println("host echoes:", c.RemoteOption(telnet.OptEcho))
	// Output:
	// menu: true
	// echoed: true
	// host echoes: true
}

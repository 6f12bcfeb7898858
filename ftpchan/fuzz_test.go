package ftpchan

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

func FuzzCommandLine(f *testing.F) {
	for _, s := range []string{"NOOP\r\n", "RETR a b\r\n", "PORT 1,2,3,4,5,6\r\n", "NOOP\rDELE x\r\n", "A\x00B\r\n", "x\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		br := bufio.NewReaderSize(bytes.NewReader(in), 16)
		for i := 0; i < 100; i++ {
			line, err := ReadLine(br, 64)
			if errors.Is(err, ErrLineTooLong) {
				continue
			}
			if err != nil {
				return
			}
			if len(line) > 64 {
				t.Fatalf("line of %d bytes over the bound", len(line))
			}
			cmd, err := ParseCommand(line)
			if err != nil {
				continue
			}
			if bytes.ContainsAny([]byte(cmd.String()), "\r\n\x00") {
				t.Fatalf("command %q carries CR, LF or NUL", cmd.String())
			}
			again, err := ParseCommand([]byte(cmd.String()))
			if err != nil || again != cmd {
				t.Fatalf("re-parse of %q: %+v %v", cmd.String(), again, err)
			}
		}
	})
}

func FuzzReply(f *testing.F) {
	for _, s := range []string{"220 hi\r\n", "211-Features:\r\n EPSV\r\n211 End\r\n", "150-a\r\n150\r\n", "227 (1,2,3,4,5,6)\r\n", "2x\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		rep, err := ReadReply(bufio.NewReader(bytes.NewReader(in)), 128, 1024)
		if err != nil {
			return
		}
		if rep.Code < 100 || rep.Code > 599 {
			t.Fatalf("code %d", rep.Code)
		}
		again, err := ReadReply(bufio.NewReader(bytes.NewReader(rep.Encode())), 128, 1024)
		if err != nil || again.Code != rep.Code || len(again.Lines) != len(rep.Lines) {
			t.Fatalf("re-read of %q: %+v %v", rep.Encode(), again, err)
		}
		if _, err := ReadReply(bufio.NewReader(io.MultiReader(bytes.NewReader(rep.Encode()))), 128, 1024); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzPASV(f *testing.F) {
	for _, s := range []string{"Entering Passive Mode (127,0,0,1,4,1).", "=1,2,3,4,5,6", "(999,1,1,1,1,1)", "1,2,3,4,5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ip, port, err := ParsePASV(s)
		if err != nil {
			return
		}
		if port < 1 || port > 65535 || !ip.Is4() {
			t.Fatalf("ParsePASV(%q) = %v %d", s, ip, port)
		}
		if _, p2, err := ParsePASV(PASVReply(ip, port).Text()); err != nil || p2 != port {
			t.Fatalf("round trip of %d: %d %v", port, p2, err)
		}
	})
}

func FuzzEPSV(f *testing.F) {
	for _, s := range []string{"Entering Extended Passive Mode (|||6446|)", "(!!!1!)", "(|||0|)", "(|||65536|)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		port, err := ParseEPSV(s)
		if err != nil {
			return
		}
		if port < 1 || port > 65535 {
			t.Fatalf("ParseEPSV(%q) = %d", s, port)
		}
		if p2, err := ParseEPSV(EPSVReply(port).Text()); err != nil || p2 != port {
			t.Fatalf("round trip of %d: %d %v", port, p2, err)
		}
	})
}

func FuzzTicket(f *testing.F) {
	key := []byte("0123456789abcdef0123456789abcdef")
	now := time.Unix(1_700_000_000, 0)
	tk, _ := NewTicketer([][]byte{key}, func() time.Time { return now })
	good, _ := tk.Issue(Ticket{Session: "s", Node: "n", Expires: now.Add(time.Hour)})
	for _, s := range []string{good, "t1.", "t1.AAAA", "x", good + "A"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := tk.Verify(s)
		if err != nil {
			return
		}
		if s != good && got.Session == "s" && got.Node == "n" {
			// another encoding of the same ticket would be a malleability bug
			t.Fatalf("a different string %q verified as the issued ticket", s)
		}
	})
}

func FuzzEvent(f *testing.F) {
	for _, s := range []string{`{"type":"keep-alive","time":"2024-01-01T00:00:00Z"}`, `{"type":"data-ready","port":5}`, `{}`, `{"type":"x"} {}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		e, err := ParseEvent(in)
		if err != nil {
			return
		}
		if _, err := ParseEvent(e.MarshalLine()); err != nil {
			t.Fatalf("re-parse of %q: %v", e.MarshalLine(), err)
		}
	})
}

// FuzzOwnerAddressHost: an owner address from the proxy's answer is accepted
// only as host:port with a valid port and nothing that could smuggle
// another header or name.
func FuzzOwnerAddressHost(f *testing.F) {
	for _, s := range []string{"node-a.example:9443", "127.0.0.1:9443", "[::1]:443", "node-a:0", "node-a", ":1", "a b:1", "a:1\r\nX: y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, a string) {
		host, err := OwnerAddressHost(a)
		if err != nil {
			return
		}
		if host == "" || strings.ContainsAny(a, " \t\r\n\x00") {
			t.Fatalf("OwnerAddressHost(%q) accepted %q", a, host)
		}
		_, port, perr := net.SplitHostPort(a)
		if p, cerr := strconv.Atoi(port); perr != nil || cerr != nil || p < 1 || p > 65535 {
			t.Fatalf("OwnerAddressHost(%q) accepted a bad port", a)
		}
	})
}

package proxy

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"
)

func FuzzParseConnect(f *testing.F) {
	for _, s := range []string{
		"CONNECT db2.example.com:23 HTTP/1.1\r\nHost: db2.example.com:23\r\nProxy-Authorization: Bearer a.b.c\r\n\r\n",
		"CONNECT [::1]:22 HTTP/1.0\n\npipelined",
		"GET / HTTP/1.1\r\n\r\n",
		"CONNECT x:1 HTTP/1.1\r\n folded\r\n\r\n",
		"CONNECT x:1 HTTP/1.1\r\nA: 1\r\nA: 2\r\nProxy-Authorization: x\r\nProxy-Authorization: y\r\n\r\n",
		"CONNECT x:1 HTTP/2\r\n\r\n",
		"CONNECT x:1 HTTP/1.1\r\nBad\x00Header: v\r\n\r\n",
		"CONNECT  x:1 HTTP/1.1\r\n\r\n",
		"CONNECT x:1 HTTP/1.1\r\nX: " + strings.Repeat("a", 100) + "\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReaderSize(bytes.NewReader(data), 64)
		req, err := ParseConnect(br)
		rest, _ := io.ReadAll(br)
		consumed := len(data) - len(rest)
		if consumed > MaxHeaderBytes+64 {
			t.Fatalf("consumed %d bytes, beyond the header cap", consumed)
		}
		if err != nil {
			return
		}
		if req.Method != "CONNECT" || req.Target == "" || strings.ContainsAny(req.Target, " \t\r\n") {
			t.Fatalf("accepted %+v", req)
		}
		if !bytes.HasSuffix(data[:consumed], []byte("\n")) {
			t.Fatal("stopped inside a line")
		}
		if !bytes.Equal(rest, data[consumed:]) {
			t.Fatal("bytes after the request were not left in the reader")
		}
		for k, vs := range req.Header {
			for _, v := range vs {
				if strings.ContainsAny(k+v, "\r\n\x00") {
					t.Fatalf("control characters in %q: %q", k, v)
				}
			}
		}
	})
}

func TestParseConnect(t *testing.T) {
	br := bufio.NewReader(strings.NewReader("CONNECT h:1 HTTP/1.1\r\nproxy-authorization:  Bearer t  \r\nTermgate-Proof: p\r\n\r\nDATA"))
	req, err := ParseConnect(br)
	if err != nil {
		t.Fatal(err)
	}
	if req.Target != "h:1" || req.Get("Proxy-Authorization") != "Bearer t" || req.Get("Termgate-Proof") != "p" {
		t.Errorf("req = %+v", req)
	}
	rest, _ := io.ReadAll(br)
	if string(rest) != "DATA" {
		t.Errorf("rest = %q", rest)
	}
	big := "CONNECT h:1 HTTP/1.1\r\nX: " + strings.Repeat("a", MaxHeaderBytes) + "\r\n\r\n"
	if _, err := ParseConnect(bufio.NewReader(strings.NewReader(big))); err == nil {
		t.Error("oversized header accepted")
	}
}

func FuzzProxyHeader(f *testing.F) {
	f.Add(proxyHeaderV1("203.0.113.7:5555"))
	f.Add([]byte("PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n\x16\x03\x01"))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add([]byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c\xcb\x00\x71\x07\x7f\x00\x00\x01\x15\xb3\x24\xd3"))
	f.Add([]byte("\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00"))
	f.Add([]byte("\x16\x03\x01\x00\x05hello"))
	f.Add([]byte("PROXY TCP4 1.1.1.1 2.2.2.2 99999 1\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReaderSize(bytes.NewReader(data), 256)
		client, ok, err := readProxyHeader(br)
		if err != nil {
			return
		}
		if ok && !client.IsValid() {
			t.Fatal("ok with an invalid client address")
		}
	})
}

// FuzzForwardRequest feeds the owner side of the peer link's FORWARD
// message: a header line and a JSON body from another node.
func FuzzForwardRequest(f *testing.F) {
	for _, s := range []string{
		"FORWARD 63\n{\"kind\":\"ftp-data\",\"ticket\":\"t1.abc\",\"target\":\"127.0.0.1:2121\"}",
		"FORWARD 5\n{\"a\":",
		"FORWARD 0\n",
		"FORWARD 18446744073709551616\n{}",
		"FORWARD 99\n{\"kind\":\"ftp-notify\",\"ticket\":\"t\",\"target\":\"h:1\",\"exporter\":\"AAAA\",\"client\":\"\\u0000x\"}",
		"CHECK abc 1\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		line, body, ok := bytes.Cut(data, []byte("\n"))
		if !ok {
			return
		}
		n, err := parseForwardHeader(string(line))
		if err != nil {
			return
		}
		if n <= 0 || n > maxForwardBody {
			t.Fatalf("accepted length %d", n)
		}
		if len(body) > n {
			body = body[:n]
		}
		req, err := decodeForward(body)
		if err != nil {
			return
		}
		if !req.Forwarded || req.Ticket == "" || req.Target == "" || len(req.Exporter) > 64 {
			t.Fatalf("accepted %+v", req)
		}
		if strings.ContainsAny(req.ClientAddr, "\r\n\x00") {
			t.Fatalf("client address not cleaned: %q", req.ClientAddr)
		}
		if _, err := encodeForward(req); err != nil {
			t.Fatalf("re-encoding an accepted request: %v", err)
		}
	})
}

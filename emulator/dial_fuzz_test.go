package emulator

import (
	"bufio"
	"bytes"
	"errors"
	"strings"
	"testing"
)

// FuzzResponseHead feeds arbitrary bytes to the CONNECT response parser: it
// must return an error or a status, never panic, and a refusal must become
// a one-line *ProxyError.
func FuzzResponseHead(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 Connection established\r\nTermgate-Session: s1\r\n\r\nhost bytes"))
	f.Add([]byte("HTTP/1.1 407 Proxy Authentication Required\r\nTermgate-Error: token_expired\r\nContent-Length: 12\r\n\r\ntoo old\nmore"))
	f.Add([]byte("HTTP/1.0 503\r\n\r\n"))
	f.Add([]byte("SSH-2.0-OpenSSH_9.2\r\n"))
	f.Add([]byte("HTTP/1.1 2000 x\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 403 Forbidden\r\nTermgate-Error: destination_denied\r\n\r\nno\x1b[31m\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		br := bufio.NewReader(bytes.NewReader(b))
		status, hdr, err := readResponseHead(br)
		if err != nil {
			return
		}
		if status < 100 || status > 999 {
			t.Fatalf("status %d accepted", status)
		}
		if status >= 200 && status <= 299 {
			return
		}
		err = refusal(br, status, hdr, DialOptions{Target: "h:1", ProxyAddr: "p:1"})
		var pe *ProxyError
		if !errors.As(err, &pe) {
			t.Fatalf("refusal is %T", err)
		}
		if strings.ContainsAny(pe.Reason+pe.Code, "\r\n\x1b") || len(pe.Reason) > maxReason {
			t.Fatalf("reason %q not one clean line", pe.Reason)
		}
		_ = pe.Error()
	})
}

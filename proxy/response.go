package proxy

import (
	"net/http"
	"strconv"
	"strings"
)

// establishedResponse is the success answer to a CONNECT.
func establishedResponse(sessionID string) []byte {
	return []byte("HTTP/1.1 200 Connection established\r\nTermgate-Session: " + sessionID + "\r\n\r\n")
}

// rejectResponse is the failure answer: status line, Termgate-Error, for 407
// a Proxy-Authenticate challenge, and a one-line plain-text body.
func rejectResponse(code Code, reason string) []byte {
	status := code.Status()
	body := oneLine(reason)
	if body == "" {
		body = string(code)
	}
	body += "\n"
	var b strings.Builder
	b.WriteString("HTTP/1.1 ")
	b.WriteString(strconv.Itoa(status))
	b.WriteByte(' ')
	b.WriteString(http.StatusText(status))
	b.WriteString("\r\nTermgate-Error: ")
	b.WriteString(string(code))
	b.WriteString("\r\n")
	if status == http.StatusProxyAuthRequired {
		b.WriteString("Proxy-Authenticate: Bearer error=\"invalid_token\"\r\n")
	}
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: ")
	b.WriteString(strconv.Itoa(len(body)))
	b.WriteString("\r\n\r\n")
	b.WriteString(body)
	return []byte(b.String())
}

// oneLine makes s safe as a one-line body: no control characters, bounded length.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > 512 {
		s = s[:512]
	}
	return strings.TrimSpace(s)
}

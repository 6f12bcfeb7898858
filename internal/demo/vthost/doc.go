// Package vthost is the demo VT host that `termgate up` starts: a small
// telnet server presenting a full-screen application, so that a fresh
// installation has something real to connect to through the proxy.
//
// The first screen shows a framed banner "termgate demo host" and a menu
// ending in "Select an option": (1) a system clock that updates every
// second, (2) echo mode, where each line typed is printed back as typed and
// upper-cased and a blank line returns, (3) a colour and DEC line-drawing
// test card, and (q) quit. Screens use cursor positioning, SGR colours, a
// scrolling region and the DEC Special Graphics set, and follow the window
// size the client reports with NAWS.
//
// Usage:
//
//	srv := &vthost.Server{Logger: log}
//	ln, err := net.Listen("tcp", "127.0.0.1:2323")
//	if err != nil { ... }
//	go srv.Serve(ctx, ln)
//	defer srv.Close()
//
// Telnet. The server side of negotiation reuses the codec and the RFC 1143
// Negotiator of package emulator/telnet: it offers WILL ECHO and WILL SGA
// (the host echoes, character at a time), asks DO TTYPE (then TTYPE SEND)
// and DO NAWS, accepts BINARY from the client and refuses everything else.
// CR NUL, CR LF, a lone CR and a lone LF all count as one Enter.
//
// Security model. The demo host has no login and no data: it is meant for
// loopback, and `termgate up` binds it to 127.0.0.1. Input is untrusted:
// subnegotiations are bounded, typed lines are capped, a terminal type is
// reduced to printable ASCII before it is shown, a connection without input
// for IdleTimeout (10 minutes) is closed, every write has a deadline, and
// MaxConns bounds concurrent connections.
//
// RFCs: 854, 855, 857 (ECHO), 858 (SGA), 1073 (NAWS), 1091 (TTYPE), 1143.
package vthost

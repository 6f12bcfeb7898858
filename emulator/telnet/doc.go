// Package telnet is the client side of the telnet protocol, as used to reach
// VT hosts through the termgate proxy.
//
// The package is split by role. The codec (Decoder, AppendData,
// AppendNegotiation, AppendSubnegotiation, AppendWindowSize) turns bytes into
// data and protocol events and back, with no I/O, so it can be fuzzed. The
// Negotiator is the RFC 1143 option state machine, also free of I/O and
// usable on the server side. Conn is the engine: it wraps a stream, answers
// negotiation internally and gives the application only data bytes.
//
// Usage:
//
//	nc, err := dialer.DialContext(ctx, "tcp", "db2.example.com:23") // e.g. a proxy tunnel
//	if err != nil { ... }
//	c := telnet.NewConn(nc, telnet.Config{TerminalType: "xterm", Rows: 24, Cols: 80})
//	defer c.Close()
//	c.Write([]byte("ls\r"))  // "\r" is the Enter key
//	n, err := c.Read(buf)    // data only, commands removed
//
// Options. A Conn agrees to BINARY (both ways), SGA (both ways), ECHO (host
// side only), TTYPE, NAWS and EOR, and refuses everything else
// (AUTHENTICATION, ENCRYPT, TSPEED, XDISPLOC, NEW-ENVIRON, LINEMODE, …) with
// DONT or WONT. Unless Config.Passive is set it opens with DO SGA, DO ECHO,
// WILL TTYPE and WILL NAWS, as common clients do. Hosts that negotiate late,
// after data, work: negotiation is handled wherever it appears.
//
// Line ends. Outside BINARY mode, RFC 854 makes CR a two-byte sequence: CR LF
// is a new line and CR NUL a bare carriage return. Write sends a CR that is
// not followed by LF in the same call as CR NUL; an application sends "\r"
// for the Enter key. LF is sent unchanged. Read turns CR NUL back into CR.
//
// Security model. Telnet has no confidentiality or integrity of its own:
// within termgate the bytes travel inside the TLS tunnel to the proxy, and
// in clear text from the proxy to the host. The decoder treats its input as
// hostile: subnegotiations are bounded (Decoder.MaxSubnegotiation), malformed
// commands are dropped, and no input makes it panic or grow without bound.
// Authentication and encryption options are refused because termgate does
// not implement them and must not pretend to.
//
// RFCs: 854 (protocol), 855 (option negotiation), 856 (BINARY), 857 (ECHO),
// 858 (SGA), 885 (EOR), 1073 (NAWS), 1091 (TTYPE), 1143 (the Q method).
package telnet

// Package emulator is termgate's headless client SDK: it logs in to the
// management server, launches a session, opens a tunnel through the security
// proxy and drives the terminal from code, with the screen as a data
// structure.
//
// It talks to termgate only over the wire: the management server's HTTPS API
// (Client) and the proxy's TLS + HTTP CONNECT front end (Dial, DialProxy).
// Session puts a protocol on top: telnet, SSH or raw TCP with a VT screen
// (package emulator/vt), or TN3270/TN3270E with an IBM 3270 terminal
// (package emulator/tn3270). Both kinds share one API (Screen, Cursor, Text,
// the waits, Type, Press, Reconnect, Close); 3270 sessions add fields
// (Fields, FieldAt, SetField), the keyboard state (Keyboard, WaitForUnlock)
// and 3270 keys (Press("PF3"), Press("PA1"), Press("Clear")).
//
//	c, _ := emulator.NewClient("https://127.0.0.1:8443", emulator.ClientOptions{CAFile: "termgate-data/ca.pem"})
//	if err := c.Login(ctx, "admin", password); err != nil { ... }
//	s, err := emulator.Open(ctx, c, "demo-vt", emulator.SessionOptions{})
//	if err != nil { ... }
//	defer s.Close()
//	_ = s.WaitForText(ctx, "termgate demo host")
//	_ = s.Type("hello")
//	_ = s.Press("Enter")
//	fmt.Println(strings.Join(s.Screen(), "\n"))
//
// A 3270 session, from a definition whose protocol is tn3270:
//
//	s, err := emulator.Open(ctx, c, "demo-3270", emulator.SessionOptions{})
//	if err != nil { ... }
//	defer s.Close()
//	_ = s.WaitForText(ctx, "TERMGATE DEMO 3270")
//	_ = s.SetField(5, 20, "alice") // 0-based row, column
//	_ = s.SetField(6, 20, password) // a hidden field: never shown by Screen
//	_ = s.Press("Enter")
//	_ = s.WaitForUnlock(ctx)
//
// The lower layers are usable on their own: Client.Launch returns the token,
// the proxy address and the trust store; Dial returns a net.Conn tunnel (with
// *net.TCPAddr addresses and CloseWrite) for any protocol, e.g. FTP.
//
// # Security model
//
//   - The proxy is trusted only through the trust store shipped in the launch
//     response (never the system roots), and its certificate must name the
//     server name of the launch unless the administrator turned "verify server
//     identity" off (a missing setting counts as on). A name mismatch is a
//     *pki.NameMismatchError naming both names.
//   - Launches use proof of possession by default (docs/protocol.md): each launch
//     makes an ephemeral P-256 key, the token is bound to its thumbprint, and
//     the CONNECT carries a signature over this TLS connection's exporter
//     value, so a stolen token is useless on any other connection.
//   - Tokens, passwords and tickets are Secret values that print as
//     "[REDACTED]"; they never appear in errors or logs.
//   - Each token opens one connection: Reconnect launches again.
//   - Bytes the host sends right after the proxy's 200 answer are kept: the
//     tunnel first returns what was read together with the answer.
//   - Every network step has a deadline: ClientOptions.Timeout per API call,
//     DialOptions.Timeout for the dial (15 s) and the TN3270 negotiation,
//     SessionOptions.WriteTimeout per write.
//   - The contents of hidden 3270 fields (passwords) leave the terminal only
//     in the record sent to the host: Screen, Fields, FieldAt and recordings
//     show them blank.
//
// Refusals of the proxy are *ProxyError values carrying the Termgate-Error
// code, the proxy's reason and a hint saying what to do; errors.Is matches a
// sentinel per code (ErrTokenExpired, ErrDestinationDenied, ...). Errors of
// the management API are *APIError. Once a tunnel runs, its end tells who
// ended it: io.EOF when the host (or the proxy, e.g. at its idle timeout)
// closed it cleanly, ErrProxyLost when the connection to the proxy just
// stopped (the node died, or the network failed).
//
// Specifications: RFC 9110 §9.3.6 (CONNECT), RFC 8446 and RFC 5705 (TLS 1.3,
// exported keying material), RFC 7638 (JWK thumbprint), RFC 854/1091/1073
// (telnet, terminal type, window size; package emulator/telnet), RFC 4254
// (SSH; package emulator/ssh), ECMA-48 and xterm control sequences (package
// emulator/vt), RFC 1576 and RFC 2355 (TN3270, TN3270E; package
// emulator/tn3270), asciicast v2 for recordings.
package emulator

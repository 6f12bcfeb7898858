// Package webui is termgate's browser front end: the administrative console
// (/admin/) and the user page (/app/) that lists the sessions a user may
// launch and opens a terminal in the page.
//
// It is plain HTML, CSS and small JavaScript modules, embedded in the binary:
// nothing to build or install. The pages are clients of exactly the
// management server's HTTP API (/api/v1/...); this package serves files only
// and holds no state.
//
// Usage: the management server (mgmt.Server.Handler) mounts the handler
// next to its API, so `termgate up` and `termgate mgmt serve` serve the
// console on their HTTPS address; another server would do the same:
//
//	ui := webui.Handler(webui.Options{ProxyAddress: cfg.ProxyAddress, Logger: log})
//	for _, p := range webui.Prefixes { // "/admin/", "/app/"
//		mux.Handle(p, ui)
//	}
//
// This package never imports mgmt (its browser test, an external test
// package, does). The pages use GET /api/v1/me for the signed-in user and
// role, the server-side filters of GET /api/v1/admin/audit, and read the
// shapes of mgmt's ReplicationStatus and MeteringReport as they are.
//
// # Security model
//
// Every response carries a strict Content-Security-Policy: scripts and
// styles only from this origin's files (no inline script or style, no eval),
// no plugins, no framing, no <base>, forms only to this origin, and
// connect-src limited to this origin plus wss://ProxyAddress. The Go tests
// parse every page and fail on an inline script, a style attribute or an
// event-handler attribute, and the console's own scripts never parse HTML
// strings (no innerHTML): server data reaches the page as text nodes only.
// xterm.js is vendored (assets/vendor, with versions and hashes in its
// README) and runs with its canvas renderer, because its default DOM renderer
// needs inline styles.
//
// Authentication is the management server's: POST /api/v1/login sets the
// HttpOnly login cookie tg_session and the readable cookie tg_csrf; every
// request that changes state sends X-CSRF-Token equal to tg_csrf (double
// submit, checked by the server). The scripts never store the login token.
// Both cookies are Secure and SameSite=Strict, so the console works over
// HTTPS only.
//
// # Browser terminal: the proxy's WebSocket front end (contract termgate.v1)
//
// A browser cannot send CONNECT, so the proxy offers a WebSocket (RFC 6455)
// front end on the same TLS listener. The page launches a session (POST
// /api/v1/sessions/{name}/launch, without pop_jwk: a browser cannot sign the
// TLS exporter, so browser tokens are bearer tokens protected by jti
// single use) and then:
//
//  1. Opens wss://{proxy.address}/ws, where proxy.address is the launch
//     response's, verbatim. TLS is checked by the browser against its own
//     trust store (not the launch response's trust_store), so the proxy's
//     certificate must chain to a CA the browser trusts and name
//     proxy.address's host; for `termgate up`, import termgate-data/ca.pem.
//  2. Offers the subprotocols, in this order, in Sec-WebSocket-Protocol:
//     "termgate.v1" and "bearer.<token>", where <token> is the launch
//     response's token (a JWS compact serialisation: base64url and dots,
//     all valid in an RFC 7230 token). The token is never in the URL.
//  3. The proxy verifies the token exactly as it verifies a CONNECT's
//     Proxy-Authorization (§3, §4 of the design), with the token's dst as
//     the target (there is no other), and SHOULD check the Origin header
//     against the management servers' origins. On success it answers 101
//     with "Sec-WebSocket-Protocol: termgate.v1" (never echoing the bearer
//     value); the page closes the connection if any other subprotocol is
//     selected. The proxy then dials dst and relays.
//  4. Data: binary frames only, carrying raw bytes of the TCP stream in
//     both directions; message boundaries mean nothing. For proto telnet the
//     bytes are the telnet stream itself: the page runs the telnet client
//     (negotiation, IAC escaping, NAWS on resize) in JavaScript, with the
//     same option policy as termgate's Go client (emulator/telnet): it
//     agrees to BINARY, SGA, TTYPE (sending the session's terminal model,
//     "xterm" by default), NAWS and EOR on its side, lets the host enable
//     BINARY, ECHO, SGA and EOR, and refuses everything else (RFC 1143).
//     The proxy never parses the stream. Text frames are a protocol error
//     (close 1003) in either direction. The page drives telnet and tcp
//     sessions only; ssh, tn3270 and ftp stay with the SDK and CLI.
//  5. Errors: a failure the proxy would answer to a CONNECT with status S
//     and Termgate-Error code C is sent, after the upgrade, as a close frame
//     with code 4000+S and reason C (e.g. 4407 "token_expired", 4403
//     "destination_denied", 4429 "rate_limited", 4502 "dial_failed", 4504
//     "dial_timeout", 4503 "draining"), so that the page can show it; a
//     browser cannot read the status of a refused upgrade. A failure before
//     the upgrade (bad TLS, no /ws) is seen by the page as 1006.
//  6. End: when the host closes, the proxy sends close 1000; when the page
//     closes (1000) or the socket drops, the proxy closes the host
//     connection. The proxy may send pings; browsers answer them. Idle and
//     session limits are the proxy's, as for CONNECT.
//
// RFCs: 6455 (WebSocket), 854/855 (telnet) with 856, 857, 858, 885, 1073,
// 1091 and 1143 for the options.
package webui

// Package tn3270host is termgate's demonstration 3270 host: a small TN3270 /
// TN3270E application that the all-in-one `termgate up` serves on
// 127.0.0.1:3270 and that tests drive with termgate's own terminal and with
// s3270.
//
// It negotiates TN3270E (RFC 2355: DEVICE-TYPE, FUNCTIONS with RESPONSES)
// and falls back to plain TN3270 (RFC 1576) when the client refuses. It asks
// an extended (-E) terminal for its query reply, then paints screens with
// the data-stream encoder of package emulator/tn3270 (ScreenBuilder):
//
//   - the logon panel "TERMGATE DEMO 3270": a user field and a hidden
//     password field. Any non-empty user with the password "demo" (printed
//     on the panel) signs on; a wrong password shows "INVALID PASSWORD".
//   - "MAIN MENU": option 1 (account balances) and 2 (system status).
//   - PF3 goes back one panel; PF3 on the menu or the logon panel shows a
//     goodbye panel and closes the connection.
//
// Usage:
//
//	srv := &tn3270host.Server{Logger: log}
//	ln, _ := net.Listen("tcp", "127.0.0.1:3270")
//	go srv.Serve(ctx, ln)
//	defer srv.Close()
//
// Security model: this is a demonstration host with a published password.
// It never echoes the password, bounds every read with a deadline (idle
// sessions are dropped), bounds record sizes, and binds wherever its
// listener is (use loopback).
package tn3270host

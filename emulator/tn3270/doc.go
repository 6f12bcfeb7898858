// Package tn3270 is termgate's headless IBM 3270 terminal: the 3270 data
// stream, the screen and keyboard of a 3278 model 2 to 5, and the TN3270 /
// TN3270E transport, so that programs can drive mainframe applications the
// way an operator (or s3270) would.
//
// The package is split by role:
//
//   - codec (pure, fuzzed): EBCDIC code pages 037, 1047, 500, 273, 285 and
//     297 (CodePage), buffer addresses (12- and 14-bit), the telnet record
//     Decoder, the TN3270E Header, ScreenBuilder (the outbound encoder a host
//     application uses) and ParseInbound (what a host reads back);
//   - engine (pure, fuzzed): Engine holds the presentation buffer, fields,
//     extended attributes, cursor and keyboard; Process applies host
//     commands (W, EW, EWA, EAU, RB, RM, RMA, WSF, in CCW and SNA codes) and
//     orders (SF, SFE, SBA, SA, MF, IC, PT, RA, EUA, GE); Press and Type
//     edit the screen and build Read Modified records; WSF Read Partition
//     Query is answered with Summary, Usable Area, Character Sets, Colour,
//     Highlighting, Reply Modes and Implicit Partition replies;
//   - transport: Open negotiates TN3270E (RFC 2355) with a fallback to
//     TN3270 (RFC 1576, RFC 1041) over any net.Conn, then Terminal runs a
//     read loop that feeds the engine while callers use the screen.
//
// Usage:
//
//	conn, err := net.Dial("tcp", "mainframe.example.com:23")
//	...
//	term, err := tn3270.Open(ctx, conn, tn3270.Config{Model: 2})
//	defer term.Close()
//	term.WaitForText(ctx, "LOGON")
//	term.SetField(5, 20, "ALICE")
//	term.Press(tn3270.KeyEnter)
//	term.WaitForUnlock(ctx)
//	fmt.Println(term.Screen()[0])
//
// Screens follow x3270: field attribute positions, nulls and control
// characters show as blanks, DUP as '*' and FM as ';'. Malformed host records
// stop at the bad order (as x3270 does), leave what was applied on the
// screen, are logged, and are answered with a TN3270E negative response when
// the host asked for one. Keyboard rules follow a real 3278: typing into a
// protected or numeric field, or inserting into a full field, locks the
// keyboard with an operator error that KeyReset clears; an AID locks it until
// the host's WCC restores it.
//
// Security model: everything the host sends is untrusted; records are
// bounded (MaxRecordSize), every parser is fuzzed, and no input can panic
// the engine. In TN3270E mode only 3270-DATA records reach the screen;
// SCS, NVT, SSCP-LU and BIND data are logged and dropped, and the only
// function accepted is RESPONSES. The contents of non-display (hidden) fields, such as
// passwords, are never returned by Screen, Fields or FieldAt — they are
// blanks there — and never logged; they leave the engine only in the inbound
// record sent to the host. Negotiation is bounded by the context given to
// Open and every write by Config.WriteTimeout; the read loop ends when the
// host closes the connection or Close is called.
//
// References: RFC 854/855 (telnet), RFC 856 (BINARY), RFC 885 (EOR), RFC 1091
// (TERMINAL-TYPE), RFC 1041 and RFC 1576 (TN3270), RFC 2355 (TN3270E), IBM
// GA23-0059 (3270 Data Stream Programmer's Reference).
package tn3270

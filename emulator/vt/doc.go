// Package vt is a headless VT100/VT220/xterm terminal: a parser and a screen
// model with no I/O. Feed it the bytes a host sends and read the screen as
// text or cells; it answers host queries through a writer you give it.
//
// Usage:
//
//	s := vt.New(vt.Config{Rows: 24, Cols: 80, Reply: conn})
//	io.Copy(s, conn)                // in one goroutine
//	rows := s.Rows()                // in another: the screen as text
//	row, col, _ := s.Cursor()
//	conn.Write(vt.EncodeKey(vt.KeyUp, 0, s.CursorKeysApplication()))
//
// To wait for the screen to change without polling, take s.Changed() first,
// check the screen, then wait on the channel (it is closed by the next Write).
//
// The parser follows the DEC ANSI parser model (vt100.net/emu/dec_ansi_parser):
// ground, escape, CSI, OSC, DCS and SOS/PM/APC states; C0 and C1 controls act
// in every state; CAN and SUB abort a sequence. Input is UTF-8 (RFC 3629);
// malformed bytes become U+FFFD (one per maximal invalid subpart). East Asian
// wide characters and emoji take two cells; combining characters attach to the
// cell printed last, or after cursor motion to the cell under the cursor. The
// screen follows xterm: pending-wrap semantics (the last-column flag is kept
// with DECAWM off), scroll margins, origin mode, insert mode, DEC special
// graphics rendered as Unicode box drawing, DECSC/DECRC, the alternate screen
// (47, 1047, 1049), selective erase with DECSCA, REP only right after a
// character, and replies to DA1, DA2, DSR, CPR and DECRQM. ECMA-48 and the
// xterm control sequences document are the references.
//
// Conformance: testdata/conformance holds screens recorded from tmux and from
// xterm under Xvfb for the same inputs (conformance_test.go explains how to
// regenerate them, conformance_xterm_test.go how the xterm captures are
// normalised); the few places where this package deliberately differs from
// xterm are listed there with reasons.
//
// asciicast.go reads and writes asciicast v2 recordings (CastRecorder,
// CastReader).
//
// Security model: the input is untrusted. The parser never panics on any byte
// sequence (fuzzed), never allocates per byte, and bounds everything a host can
// grow: parameters (32, each at most 65535), intermediates, OSC strings (4 KiB),
// combining marks per cell, REP counts, the scrollback (Config.Scrollback
// lines) and the screen size (4096×4096). Titles are stripped of control
// characters. Replies are only ever the fixed answers above; the host cannot
// make the terminal echo its own bytes back.
//
// A Screen is safe for concurrent use by one writer and many readers.
package vt

package tn3270

import (
	"bytes"
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// fakeHost is the host end of a loopback connection, driven step by step.
type fakeHost struct {
	t     *testing.T
	conn  net.Conn
	dec   Decoder
	queue []Event
}

func (h *fakeHost) send(p ...byte) {
	h.t.Helper()
	h.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := h.conn.Write(p); err != nil {
		h.t.Fatalf("host write: %v", err)
	}
}

func (h *fakeHost) sub(opt byte, data ...byte) { h.t.Helper(); h.send(AppendSubneg(nil, opt, data)...) }

func (h *fakeHost) next() Event {
	h.t.Helper()
	buf := make([]byte, 4096)
	for len(h.queue) == 0 {
		h.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := h.conn.Read(buf)
		if n > 0 {
			h.dec.Feed(buf[:n], func(ev Event) error { h.queue = append(h.queue, ev); return nil })
		}
		if err != nil && len(h.queue) == 0 {
			h.t.Fatalf("host read: %v", err)
		}
	}
	ev := h.queue[0]
	h.queue = h.queue[1:]
	return ev
}

func (h *fakeHost) expectOption(cmd, opt byte) {
	h.t.Helper()
	ev := h.next()
	if ev.Kind != EventOption || ev.Cmd != cmd || ev.Opt != opt {
		h.t.Fatalf("host got %+v, want option %d %d", ev, cmd, opt)
	}
}

func (h *fakeHost) expectSub(opt byte, data ...byte) {
	h.t.Helper()
	ev := h.next()
	if ev.Kind != EventSubneg || ev.Opt != opt || !bytes.Equal(ev.Data, data) {
		h.t.Fatalf("host got %+v (%q), want subneg %d % x", ev, ev.Data, opt, data)
	}
}

func (h *fakeHost) expectRecord() []byte {
	h.t.Helper()
	ev := h.next()
	if ev.Kind != EventRecord {
		h.t.Fatalf("host got %+v, want a record", ev)
	}
	return ev.Data
}

// pair opens a terminal against a fake host whose script runs in host().
func pair(t *testing.T, cfg Config, host func(h *fakeHost)) (*Terminal, *fakeHost, error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	h := &fakeHost{t: t, conn: server}
	done := make(chan struct{})
	go func() { defer close(done); host(h) }()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	term, err := Open(ctx, client, cfg)
	<-done
	if term != nil {
		t.Cleanup(func() { term.Close() })
	}
	return term, h, err
}

func negotiateBasic(h *fakeHost, termType string) {
	h.send(IAC, DO, OptTTYPE)
	h.expectOption(WILL, OptTTYPE)
	h.sub(OptTTYPE, TTYPESend)
	h.expectSub(OptTTYPE, append([]byte{TTYPEIs}, termType...)...)
	h.send(IAC, DO, OptEOR, IAC, WILL, OptEOR, IAC, DO, OptBinary, IAC, WILL, OptBinary)
	h.expectOption(WILL, OptEOR)
	h.expectOption(DO, OptEOR)
	h.expectOption(WILL, OptBinary)
	h.expectOption(DO, OptBinary)
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestOpenTN3270EWithResponses(t *testing.T) {
	term, h, err := pair(t, Config{LU: "LUX", Model: 3}, func(h *fakeHost) {
		h.send(IAC, DO, OptTN3270E)
		h.expectOption(WILL, OptTN3270E)
		h.sub(OptTN3270E, ESend, EDeviceType)
		h.expectSub(OptTN3270E, append(append([]byte{EDeviceType, ERequest}, "IBM-3278-3-E"...), append([]byte{EConnect}, "LUX"...)...)...)
		h.sub(OptTN3270E, append(append([]byte{EDeviceType, EIs}, "IBM-3278-3-E"...), append([]byte{EConnect}, "LUX"...)...)...)
		h.expectSub(OptTN3270E, EFunctions, ERequest, FuncResponses)
		h.sub(OptTN3270E, EFunctions, EIs, FuncResponses)
	})
	if err != nil {
		t.Fatal(err)
	}
	if term.Mode() != ModeTN3270E || term.LU() != "LUX" {
		t.Fatalf("mode %v LU %q", term.Mode(), term.LU())
	}
	// A screen that asks for a response; the 14-bit address 255 carries
	// an IAC byte, which must arrive doubled and be undoubled.
	screen := rec(CmdEW, WCCKeyboardReset, OrderSBA, 0x00, 0xFF, OrderSF, 0, "X", OrderIC)
	h.send(AppendRecord(nil, append(Header{DataType: Data3270, ResponseFlag: RespAlways, Seq: 7}.Append(nil), screen...))...)
	if got := h.expectRecord(); !bytes.Equal(got, []byte{DataResp, 0, RespPositive, 0, 7, RespDeviceEnd}) {
		t.Errorf("positive response % x", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := term.WaitForText(ctx, "X"); err != nil {
		t.Fatal(err)
	}
	if r, c := term.Cursor(); r != 3 || c != 17 {
		t.Errorf("cursor %d,%d want 3,17", r, c)
	}
	// A malformed record with respond-on-error gets a negative response.
	bad := rec(CmdW, 0, OrderSBA, 0x40)
	h.send(AppendRecord(nil, append(Header{DataType: Data3270, ResponseFlag: RespError, Seq: 8}.Append(nil), bad...))...)
	if got := h.expectRecord(); !bytes.Equal(got, []byte{DataResp, 0, RespNegative, 0, 8, RespCommandReject}) {
		t.Errorf("negative response % x", got)
	}
	// A good record with respond-on-error gets none: the next record the
	// host sees is the query reply.
	h.send(AppendRecord(nil, append(Header{DataType: Data3270, ResponseFlag: RespError, Seq: 9}.Append(nil), QueryRecord()...))...)
	got := h.expectRecord()
	if len(got) < 6 || got[0] != Data3270 || got[5] != AIDStructF {
		t.Fatalf("query reply % x", got)
	}
	if err := term.Type("Y"); err != nil {
		t.Fatal(err)
	}
	if err := term.Press(KeyEnter); err != nil {
		t.Fatal(err)
	}
	got = h.expectRecord()
	want := append([]byte{Data3270, 0, 0, 0, 1}, rec(AIDEnter, addr(258), OrderSBA, addr(256), "XY")...)
	if !bytes.Equal(got, want) {
		t.Errorf("Enter record % x\nwant            % x", got, want)
	}
	if term.Keyboard() != LockedWait {
		t.Errorf("keyboard %v after Enter", term.Keyboard())
	}
	if err := term.Press(KeyAttn); err != nil {
		t.Fatal(err)
	}
	if ev := h.next(); ev.Kind != EventCommand || ev.Cmd != IP {
		t.Errorf("Attn in TN3270E sent %+v, want IAC IP", ev)
	}
	h.send(AppendRecord(nil, append(Header{DataType: Data3270}.Append(nil), CmdW, WCCKeyboardReset))...)
	if err := term.WaitForUnlock(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestOpenFallsBackWhenTN3270ERejected(t *testing.T) {
	term, h, err := pair(t, Config{}, func(h *fakeHost) {
		h.send(IAC, DO, OptTN3270E)
		h.expectOption(WILL, OptTN3270E)
		h.sub(OptTN3270E, ESend, EDeviceType)
		h.expectSub(OptTN3270E, append([]byte{EDeviceType, ERequest}, "IBM-3278-2-E"...)...)
		h.sub(OptTN3270E, EDeviceType, EReject, EReason, 0x04)
		h.expectOption(WONT, OptTN3270E)
		negotiateBasic(h, "IBM-3278-2-E")
	})
	if err != nil {
		t.Fatal(err)
	}
	if term.Mode() != ModeTN3270 {
		t.Fatalf("mode %v, want TN3270", term.Mode())
	}
	h.send(AppendRecord(nil, rec(CmdEW, WCCKeyboardReset, "PLAIN"))...)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := term.WaitForText(ctx, "PLAIN"); err != nil {
		t.Fatal(err)
	}
	gen, ch := term.Changed()
	term.Press(KeyAttn)
	if ev := h.next(); ev.Kind != EventCommand || ev.Cmd != BRK {
		t.Errorf("Attn in TN3270 sent %+v, want IAC BREAK", ev)
	}
	select {
	case <-ch:
	default:
		t.Errorf("Changed channel not closed after a key")
	}
	if g, _ := term.Changed(); g <= gen {
		t.Errorf("generation %d did not advance from %d", g, gen)
	}
}

func TestOpenRefusesTN3270EWhenConfigured(t *testing.T) {
	term, _, err := pair(t, Config{NoTN3270E: true, Basic: true, Model: 5}, func(h *fakeHost) {
		h.send(IAC, DO, OptTN3270E, IAC, DO, 99)
		h.expectOption(WONT, OptTN3270E)
		h.expectOption(WONT, 99)
		negotiateBasic(h, "IBM-3278-5")
	})
	if err != nil {
		t.Fatal(err)
	}
	if term.Mode() != ModeTN3270 {
		t.Fatalf("mode %v", term.Mode())
	}
}

func TestOpenTimesOutAndHostClose(t *testing.T) {
	_, _, err := pair(t, Config{}, func(h *fakeHost) {})
	if !errors.Is(err, ErrNegotiation) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("silent host: err = %v", err)
	}
	_, _, err = pair(t, Config{}, func(h *fakeHost) { h.conn.Close() })
	if !errors.Is(err, ErrNegotiation) || !errors.Is(err, ErrClosed) {
		t.Errorf("closing host: err = %v", err)
	}
	if _, _, err := pair(t, Config{Model: 7}, func(h *fakeHost) {}); !errors.Is(err, ErrBadModel) {
		t.Errorf("model 7: %v", err)
	}
}

func TestTerminalCloseAndDisconnect(t *testing.T) {
	term, h, err := pair(t, Config{NoTN3270E: true}, func(h *fakeHost) { negotiateBasic(h, "IBM-3278-2-E") })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	h.conn.Close()
	if err := term.WaitForText(ctx, "never"); !errors.Is(err, ErrClosed) {
		t.Errorf("WaitForText after host close: %v", err)
	}
	if term.Keyboard() != LockedDisconnected {
		t.Errorf("keyboard %v", term.Keyboard())
	}
	if err := term.Press(KeyEnter); !errors.Is(err, ErrClosed) {
		t.Errorf("Press after close: %v", err)
	}
	if err := term.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := term.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	<-term.Done()
}

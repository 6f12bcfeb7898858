package metering

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestNewChecksConfig(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want error
	}{
		{"no address", Config{Ticket: "t"}, ErrNoAddress},
		{"no ticket", Config{Addresses: []string{"127.0.0.1:1"}}, ErrNoTicket},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := New(Config{Addresses: []string{"no-port"}, Ticket: "t"}); err == nil {
		t.Fatal("address without port accepted")
	}
	if _, err := New(Config{Addresses: []string{"127.0.0.1:1"}, Ticket: "t", TrustStore: []byte("not pem")}); err == nil {
		t.Fatal("bad trust store accepted")
	}
}

// A node that never answers: the sender keeps at most MaxPending
// heartbeats, reports the gap once, and Stop returns promptly.
func TestSilentNodeBuffersAndReportsGap(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0") // swallows every datagram
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	var got []Status
	s, err := New(Config{Addresses: []string{pc.LocalAddr().String()}, Ticket: "t", Interval: 10 * time.Millisecond,
		AckTimeout: 50 * time.Millisecond, MaxPending: 4, OnStatus: func(st Status) { got = append(got, st) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.Start(ctx)
	deadline := time.Now().Add(5 * time.Second)
	for s.Status().Dropped == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	s.Stop()
	s.Stop() // idempotent
	st := s.Status()
	if st.Delivering || st.Pending != 4 || st.Dropped == 0 || st.Sent != 0 || st.Err == nil {
		t.Fatalf("status %+v", st)
	}
	if len(got) == 0 || got[0].Delivering || got[0].GapSince.IsZero() {
		t.Fatalf("gap callbacks %+v", got)
	}
}

func TestStopWithoutStart(t *testing.T) {
	s, err := New(Config{Addresses: []string{"127.0.0.1:1"}, Ticket: "t"})
	if err != nil {
		t.Fatal(err)
	}
	s.Stop()
	s.Start(context.Background()) // after Stop: does nothing
	s.Stop()
}

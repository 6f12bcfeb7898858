package proxy

import (
	"context"
	"errors"
	"testing"
)

// A session canceled (by Drain or Close) before it runs is stopped as soon
// as it starts, with the first cause; one that runs is stopped at once.
func TestSessionStateCancel(t *testing.T) {
	var got []error
	stop := func(cause error) { got = append(got, cause) }

	early := &sessionState{}
	early.cancel(errDrainTimeout)
	early.cancel(errServerClosed)
	if len(got) != 0 {
		t.Fatalf("stopped before it ran: %v", got)
	}
	early.running(stop)
	if len(got) != 1 || !errors.Is(got[0], errDrainTimeout) {
		t.Fatalf("on start: %v, want [%v]", got, errDrainTimeout)
	}

	got = nil
	late := &sessionState{}
	late.running(stop)
	if len(got) != 0 {
		t.Fatalf("stopped without a cancel: %v", got)
	}
	late.cancel(nil)
	if len(got) != 1 || !errors.Is(got[0], context.Canceled) {
		t.Fatalf("cancel(nil) while running: %v, want [context.Canceled]", got)
	}
}

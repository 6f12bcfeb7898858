//go:build !linux

package relay

// canPark: there is no shared poller on this system; an idle direction
// waits on a goroutine of its own (see waitReadable).
const canPark = false

type poller struct{}

var sharedPoller poller

func (*poller) park(*dir) bool   { return false }
func (*poller) unpark(*dir) bool { return false }

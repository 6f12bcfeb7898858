//go:build !linux

package relay

import "syscall"

// canPark: there is no shared poller on this system; an idle direction
// waits on a goroutine of its own (see waitReadable).
const canPark = false

type poller struct{}

var sharedPoller poller

func (*poller) park(*dir) bool   { return false }
func (*poller) unpark(*dir) bool { return false }
func (*poller) handOn(*dir)      {}

// readable cannot be told here: records are relayed one at a time.
func readable(syscall.RawConn) int { return 0 }

//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package relay

import (
	"errors"
	"syscall"
)

// canWait: waitReadable does not work on this system; sources are read
// through a small buffer instead.
const canWait = false

func waitReadable(syscall.RawConn) error { return errors.ErrUnsupported }

//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package relay

import (
	"os"
	"syscall"
)

// canWait: waitReadable works on this system.
const canWait = true

// waitReadable blocks until the socket has data or end of stream, without
// reading anything: it peeks one byte, and lets the runtime's poller wait
// while there is none. A socket error (a reset) is returned, since peeking
// consumed it and a Read would then see only end of stream.
func waitReadable(sock syscall.RawConn) error {
	var one [1]byte
	var peekErr error
	err := sock.Read(func(fd uintptr) bool {
		for {
			_, _, err := syscall.Recvfrom(int(fd), one[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			switch err {
			case nil:
				return true
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false
			}
			peekErr = os.NewSyscallError("recvfrom", err)
			return true
		}
	})
	if err != nil {
		return err
	}
	return peekErr
}

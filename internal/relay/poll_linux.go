//go:build linux

package relay

import (
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// canPark: idle directions can be parked on the shared poller.
const canPark = true

// poller parks idle directions: instead of a goroutine each, blocked until
// its socket is readable, an idle direction is one entry in an epoll
// instance that is shared by every relay in the process. One goroutine
// waits on that instance (through the runtime's own poller, like any
// socket read) while at least one direction is parked, and starts a
// goroutine for each direction whose socket becomes readable. It ends when
// nothing is parked, so a process with no idle sessions has no poller
// goroutine.
//
// Each registration is one-shot (EPOLLONESHOT) and carries a fresh key:
// an event whose key is no longer parked (the session ended in between) is
// ignored. A socket stays registered between bursts and is re-armed with
// EPOLL_CTL_MOD; the kernel drops it when the socket is closed.
type poller struct {
	initOnce sync.Once
	file     *os.File        // the epoll instance
	rc       syscall.RawConn // file's, for waiting through the runtime's poller
	epfd     int

	events [64]syscall.EpollEvent // used by the one running loop

	mu       sync.Mutex
	broken   bool // setting up or waiting failed: park refuses, directions wait on goroutines
	running  bool // the loop goroutine is running
	watching bool // the watch goroutine is running

	gen    atomic.Uint64 // odd while the loop goroutine serves a direction itself
	since  atomic.Int64  // when it started to (unix nanoseconds)
	next   uint64
	parked map[uint64]*dir
}

var sharedPoller poller

func (p *poller) init() {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		p.broken = true
		return
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		p.broken = true
		return
	}
	// A non-blocking descriptor is registered with the runtime's poller,
	// so waiting for it to become readable parks the loop goroutine
	// rather than a thread.
	p.file = os.NewFile(uintptr(fd), "relay-epoll")
	rc, err := p.file.SyscallConn()
	if err != nil {
		p.file.Close()
		p.broken = true
		return
	}
	p.rc, p.epfd = rc, fd
	p.parked = make(map[uint64]*dir)
}

// park registers d's socket for one readiness event, after which
// d.session.resume(d) runs (on the loop's goroutine or a new one, see
// loop). It reports false if the
// socket could not be registered (it is closed, or the poller is
// unusable); the caller then waits for it itself.
func (p *poller) park(d *dir) bool {
	p.initOnce.Do(p.init)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.broken {
		return false
	}
	p.next++
	key := p.next
	ev := syscall.EpollEvent{
		Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT,
		Fd:     int32(uint32(key)),
		Pad:    int32(uint32(key >> 32)),
	}
	var ctlErr error
	err := d.sock.Control(func(fd uintptr) {
		op := syscall.EPOLL_CTL_MOD
		if !d.registered {
			op = syscall.EPOLL_CTL_ADD
		}
		ctlErr = syscall.EpollCtl(p.epfd, op, int(fd), &ev)
		switch {
		case ctlErr == syscall.EEXIST && op == syscall.EPOLL_CTL_ADD:
			ctlErr = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_MOD, int(fd), &ev)
		case ctlErr == syscall.ENOENT && op == syscall.EPOLL_CTL_MOD:
			ctlErr = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
		}
	})
	if err != nil || ctlErr != nil {
		return false
	}
	d.registered, d.key = true, key
	p.parked[key] = d
	if !p.running {
		p.running = true
		p.file.SetReadDeadline(time.Time{})
		go p.loop()
		if !p.watching {
			p.watching = true
			go p.watch()
		}
	}
	return true
}

// readable returns how many bytes the socket's receive queue holds
// (FIONREAD), or 0 if that cannot be told.
func readable(sock syscall.RawConn) int {
	n := 0
	sock.Control(func(fd uintptr) {
		var v int32
		if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&v))); errno == 0 {
			n = int(v)
		}
	})
	return n
}

// unpark takes d off the poller if it is parked there, and reports whether
// it was: then the caller owns d (no event will resume it).
func (p *poller) unpark(d *dir) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if d.key == 0 {
		return false
	}
	delete(p.parked, d.key)
	d.key = 0
	if len(p.parked) == 0 && p.running {
		p.file.SetReadDeadline(longAgo) // wake the loop so that it ends
	}
	return true
}

// loop waits for events and resumes the directions they name, until
// nothing is parked. When one direction is ready, the goroutine that the
// runtime woke serves it itself: a keystroke then costs no hand-over
// between goroutines (which may be on different CPUs) before it is
// relayed. When several are, each gets a goroutine of its own.
func (p *poller) loop() {
	for {
		var n int
		var waitErr error
		err := p.rc.Read(func(fd uintptr) bool {
			n, waitErr = syscall.EpollWait(int(fd), p.events[:], 0)
			switch waitErr {
			case nil:
				return n > 0
			case syscall.EINTR:
				waitErr = nil
				return false
			}
			return true
		})
		if err == nil {
			err = waitErr
		}
		var ready []*dir
		p.mu.Lock()
		for _, ev := range p.events[:n] {
			key := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			if d, ok := p.parked[key]; ok {
				delete(p.parked, key)
				d.key = 0
				ready = append(ready, d)
			}
		}
		stop := len(p.parked) == 0
		if err != nil && !os.IsTimeout(err) {
			// Waiting itself failed: resume everything parked (each
			// then waits on a goroutine of its own) and park no more.
			p.broken, stop = true, true
			for key, d := range p.parked {
				delete(p.parked, key)
				d.key = 0
				ready = append(ready, d)
			}
		}
		if stop {
			p.running = false
		} else if err != nil {
			p.file.SetReadDeadline(time.Time{}) // a wake-up to check for the end, but not the end
		}
		p.mu.Unlock()
		if len(ready) == 0 {
			if stop {
				return
			}
			continue
		}
		if len(ready) > 1 {
			// Under load the loop only dispatches: a direction it served
			// itself could hold up many others.
			for _, d := range ready {
				go d.session.resume(d)
			}
			if stop {
				return
			}
			continue
		}
		if stop {
			ready[0].session.resume(ready[0])
			return
		}
		// Serve ready[0] here and stay the loop, unless that takes
		// longer than handOff (a transfer, a peer slow to read): then
		// the watchdog starts the loop on a new goroutine, and this one
		// ends after. (A timer per event would cost more than the event:
		// arming one wakes the runtime's poller on another CPU.)
		d := ready[0]
		gen := p.gen.Add(1) // odd: serving
		p.since.Store(time.Now().UnixNano())
		d.inline = gen // cleared by the direction before it parks again (after which d is not ours)
		d.session.resume(d)
		if !p.gen.CompareAndSwap(gen, gen+1) {
			return // the loop was handed on
		}
	}
}

// handOn is called by a direction that starts a transfer: if it is being
// served by the loop's goroutine, the loop goes on on a new one at once.
func (p *poller) handOn(d *dir) {
	if gen := d.inline; gen != 0 {
		d.inline = 0
		if p.gen.CompareAndSwap(gen, gen+1) {
			go p.loop()
		}
	}
}

// handOff bounds how long the loop serves a direction itself before
// another goroutine takes over the waiting, when that direction neither
// ends nor starts a transfer (its peer is slow to read, say): about the
// most an event of another session then waits behind it. The watchdog
// ticks at this period while the loop runs, so it is not short.
const handOff = 10 * time.Millisecond

// watch runs while the loop does: it hands the loop on to a new goroutine
// when the one serving a direction itself takes longer than handOff.
func (p *poller) watch() {
	t := time.NewTicker(handOff)
	defer t.Stop()
	for range t.C {
		p.mu.Lock()
		if !p.running {
			p.watching = false
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		gen := p.gen.Load()
		if gen%2 == 1 && time.Now().UnixNano()-p.since.Load() > int64(handOff) && p.gen.CompareAndSwap(gen, gen+1) {
			go p.loop()
		}
	}
}

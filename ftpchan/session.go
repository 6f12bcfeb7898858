package ftpchan

import (
	"context"
	"crypto/tls"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// session is one FTP session owned by this node.
type session struct {
	id      string
	g       *Gateway
	created time.Time

	// set by attach under g.mu, read-only afterwards
	attached bool
	attachCh chan struct{} // closed when attached
	info     SessionInfo
	hostTLS  *tls.Config
	dstHost  string

	// set by runControl before any data slot exists
	serverIP netip.Addr
	ctx      context.Context
	cancel   context.CancelFunc

	activity   counter
	activeData atomic.Int32
	events     chan Event
	done       chan struct{}
	endOnce    sync.Once

	mu         sync.Mutex
	slots      map[int]*slot
	notifyOpen bool
	ended      bool
}

// slot is a data port announced on the control channel: usable once,
// until expires.
type slot struct {
	port     int
	expires  time.Time
	used     bool
	listener net.Listener // server-active mode: the gateway's one-shot listener
	timer    *time.Timer
}

func newSession(g *Gateway, id string, now time.Time) *session {
	ctx, cancel := context.WithCancel(g.ctx)
	s := &session{id: id, g: g, created: now, slots: map[int]*slot{}, events: make(chan Event, 64),
		done: make(chan struct{}), attachCh: make(chan struct{}), ctx: ctx, cancel: cancel}
	s.activity.touch()
	return s
}

// notify queues e for the notification channel; it never blocks (an event
// that does not fit is dropped).
func (s *session) notify(e Event) {
	if e.Time.IsZero() {
		e.Time = s.g.cfg.Now().UTC()
	}
	select {
	case s.events <- e:
	default:
	}
}

// announce registers a data port the server (or the gateway's listener)
// offers, replacing an older slot for the same port.
func (s *session) announce(port int, ln net.Listener) {
	exp := s.g.cfg.Now().Add(s.g.cfg.DataTimeout)
	sl := &slot{port: port, expires: exp, listener: ln}
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		if ln != nil {
			ln.Close()
		}
		return
	}
	if old := s.slots[port]; old != nil {
		old.release()
	}
	s.slots[port] = sl
	sl.timer = time.AfterFunc(s.g.cfg.DataTimeout, func() { s.expire(sl) })
	s.mu.Unlock()
	s.notify(Event{Type: EventDataReady, Port: port, Expires: exp.UTC()})
}

// expire forgets an unused slot at the end of its lifetime.
func (s *session) expire(sl *slot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.slots[sl.port] == sl && !sl.used {
		delete(s.slots, sl.port)
		sl.release()
	}
}

// release closes the slot's listener (if it is not being used).
func (sl *slot) release() {
	if sl.timer != nil {
		sl.timer.Stop()
	}
	if sl.listener != nil && !sl.used {
		sl.listener.Close()
	}
}

// claim takes the slot of port for one data connection.
func (s *session) claim(port int) (*slot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sl := s.slots[port]
	switch {
	case sl == nil:
		return nil, ErrPortNotAnnounced
	case sl.used:
		return nil, ErrPortUsed
	case !s.g.cfg.Now().Before(sl.expires):
		delete(s.slots, port)
		sl.release()
		return nil, ErrPortExpired
	}
	sl.used = true
	sl.timer.Stop()
	return sl, nil
}

// openNotify reserves the session's one notification channel.
func (s *session) openNotify() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.notifyOpen || s.ended {
		return false
	}
	s.notifyOpen = true
	return true
}

// end closes every slot and wakes the channels of the session.
func (s *session) end() {
	s.endOnce.Do(func() {
		s.mu.Lock()
		s.ended = true
		for p, sl := range s.slots {
			if !sl.used {
				sl.release()
			}
			delete(s.slots, p)
		}
		s.mu.Unlock()
		s.cancel()
		close(s.done)
	})
}

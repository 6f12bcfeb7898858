package mgmt

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"sync"

	bolt "go.etcd.io/bbolt"
)

type ctxKey int

const actorKey ctxKey = 0

// WithActor returns a context naming who makes in-process changes, for the
// audit trail (the HTTP API sets the authenticated user). Without it the
// actor is "local".
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey, actor)
}

func actorOf(ctx context.Context) string {
	if ctx != nil {
		if a, ok := ctx.Value(actorKey).(string); ok {
			return a
		}
	}
	return "local"
}

// auditor logs audit events at once and keeps the last Config.AuditKeep of
// them in the store, written in batches (about once a second) so that the
// token hot path never waits for a disk sync.
type auditor struct {
	s       *Server
	mu      sync.Mutex
	pending []AuditEvent
}

const maxPendingAudit = 10000

func newAuditor(s *Server) *auditor { return &auditor{s: s} }

func (s *Server) audit(_ context.Context, ev AuditEvent) {
	s.auditLogOnly(ev)
	ev.Time = s.now().UTC()
	a := s.auditor
	a.mu.Lock()
	if len(a.pending) >= maxPendingAudit {
		a.pending = a.pending[1:]
	}
	a.pending = append(a.pending, ev)
	a.mu.Unlock()
}

// auditLogOnly writes an audit event to the log only. The high-volume
// event of POST /api/v1/tokens uses it, so that the stored trail (for the
// console) keeps logins, launches and admin changes rather than a few
// seconds of API tokens.
func (s *Server) auditLogOnly(ev AuditEvent) {
	e := s.log.Info()
	if !ev.OK {
		e = s.log.Warn()
	}
	e = e.Bool("audit", true).Str("event", ev.Event).Bool("ok", ev.OK)
	if ev.Actor != "" {
		e = e.Str("actor", ev.Actor)
	}
	if ev.Client != "" {
		e = e.Str("client", ev.Client)
	}
	for k, v := range ev.Fields {
		e = e.Interface(k, v)
	}
	e.Msg("audit")
}

// flush writes pending events and trims the stored trail.
func (a *auditor) flush() {
	a.mu.Lock()
	evs := a.pending
	a.pending = nil
	a.mu.Unlock()
	if len(evs) == 0 {
		return
	}
	keep := a.s.cfg.auditKeep()
	err := a.s.st.updateLocal(func(tx *bolt.Tx) error {
		b := tx.Bucket(bAudit)
		for _, ev := range evs {
			seq, err := b.NextSequence()
			if err != nil {
				return err
			}
			ev.Seq = seq
			v, err := json.Marshal(ev)
			if err != nil {
				return err
			}
			if err := b.Put(u64(seq), v); err != nil {
				return err
			}
		}
		// Sequence numbers are dense: keep (last-keep, last].
		last := b.Sequence()
		if last > uint64(keep) {
			var old [][]byte
			c := b.Cursor()
			for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) <= last-uint64(keep); k, _ = c.Next() {
				old = append(old, append([]byte(nil), k...))
			}
			for _, k := range old {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		a.s.log.Error().Err(err).Int("events", len(evs)).Msg("audit trail not stored")
	}
}

// Audit returns up to limit of the most recent audit events, newest first.
func (s *Server) Audit(limit int) ([]AuditEvent, error) {
	s.auditor.flush()
	if limit <= 0 || limit > s.cfg.auditKeep() {
		limit = 100
	}
	var out []AuditEvent
	err := s.st.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bAudit).Cursor()
		for k, v := c.Last(); k != nil && len(out) < limit; k, v = c.Prev() {
			var ev AuditEvent
			if err := json.Unmarshal(v, &ev); err != nil {
				continue
			}
			ev.Seq = binary.BigEndian.Uint64(k)
			out = append(out, ev)
		}
		return nil
	})
	return out, err
}

package mgmt

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

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
	if errors.Is(err, ErrStorageFull) {
		// Keep the events for the next flush (bounded): the disk may get
		// space again, and the store has already logged that it is full.
		a.mu.Lock()
		a.pending = append(evs, a.pending...)
		if n := len(a.pending) - maxPendingAudit; n > 0 {
			a.pending = a.pending[n:]
		}
		a.mu.Unlock()
		a.s.log.Debug().Err(err).Int("events", len(evs)).Msg("audit trail not stored yet")
	} else if err != nil {
		a.s.log.Error().Err(err).Int("events", len(evs)).Msg("audit trail not stored")
	}
}

// AuditFilter selects audit events (GET /api/v1/admin/audit). Each zero
// field selects everything.
type AuditFilter struct {
	// Limit is the most events returned, newest first; 0 means 100, and
	// it is capped at Config.AuditKeep.
	Limit int
	// Actor keeps the events of this actor (exact match).
	Actor string
	// Event keeps the events of this kind (exact match, e.g. "login").
	Event string
	// OK, if set, keeps the successes (true) or the failures (false).
	OK *bool
	// Since and Until keep the events with Since <= time < Until.
	Since, Until time.Time
}

func (f *AuditFilter) match(ev *AuditEvent) bool {
	return (f.Actor == "" || ev.Actor == f.Actor) && (f.Event == "" || ev.Event == f.Event) &&
		(f.OK == nil || ev.OK == *f.OK) && (f.Since.IsZero() || !ev.Time.Before(f.Since)) &&
		(f.Until.IsZero() || ev.Time.Before(f.Until))
}

// Audit returns up to limit of the most recent audit events, newest first.
func (s *Server) Audit(limit int) ([]AuditEvent, error) {
	evs, _, err := s.AuditEvents(AuditFilter{Limit: limit})
	return evs, err
}

// AuditEvents returns the most recent stored audit events that match f,
// newest first; more reports that older events match too.
func (s *Server) AuditEvents(f AuditFilter) (events []AuditEvent, more bool, err error) {
	s.auditor.flush()
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, s.cfg.auditKeep())
	out := []AuditEvent{}
	err = s.st.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bAudit).Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			var ev AuditEvent
			if err := json.Unmarshal(v, &ev); err != nil {
				continue
			}
			if !f.match(&ev) {
				continue
			}
			if len(out) == limit {
				more = true
				return nil
			}
			ev.Seq = binary.BigEndian.Uint64(k)
			out = append(out, ev)
		}
		return nil
	})
	return out, more, err
}

var auditEventRE = regexp.MustCompile(`^[a-z][a-z0-9_.]{0,63}$`)

// ParseAuditFilter reads the query of GET /api/v1/admin/audit: limit (a
// positive integer; above the stored maximum it is capped), actor, event,
// ok (true or false), since and until (RFC 3339 times, since before
// until). Unknown, repeated or malformed parameters are an error (ErrInvalid).
func ParseAuditFilter(q url.Values) (AuditFilter, error) {
	var f AuditFilter
	for k, vs := range q {
		if len(vs) != 1 {
			return f, invalidf("audit query: parameter %q given %d times", k, len(vs))
		}
		v := vs[0]
		switch k {
		case "limit":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return f, invalidf("limit must be a positive integer")
			}
			f.Limit = n
		case "actor":
			if v == "" || len(v) > 256 || !utf8.ValidString(v) || strings.IndexFunc(v, unicode.IsControl) >= 0 {
				return f, invalidf("actor must be 1 to 256 printable characters")
			}
			f.Actor = v
		case "event":
			if !auditEventRE.MatchString(v) {
				return f, invalidf("event must be an event name such as login, launch or user.put")
			}
			f.Event = v
		case "ok":
			b := v == "true"
			if !b && v != "false" {
				return f, invalidf("ok must be true or false")
			}
			f.OK = &b
		case "since", "until":
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return f, invalidf("%s must be an RFC 3339 time such as 2006-01-02T15:04:05Z", k)
			}
			if k == "since" {
				f.Since = t
			} else {
				f.Until = t
			}
		default:
			return f, invalidf("audit query: unknown parameter %q (use limit, actor, event, ok, since, until)", k)
		}
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return f, invalidf("since must be before until")
	}
	return f, nil
}

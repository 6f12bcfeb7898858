package mgmt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// archiveMeta describes an archived (overwritten) snapshot.
type archiveMeta struct {
	Seq                uint64    `json:"seq"`
	Epoch              uint64    `json:"epoch"`
	Revision           uint64    `json:"revision"`
	Master             string    `json:"master,omitempty"`
	ArchivedAt         time.Time `json:"archived_at"`
	ReplacedByEpoch    uint64    `json:"replaced_by_epoch"`
	ReplacedByRevision uint64    `json:"replaced_by_revision"`
	Reason             string    `json:"reason"` // replication or restore
	Size               int       `json:"size"`
}

// ArchiveEntry is one overwritten snapshot, as GET /api/v1/admin/archive lists it.
type ArchiveEntry = archiveMeta

type archiveRecord struct {
	archiveMeta
	Snapshot *Snapshot `json:"snapshot"`
}

// archiveTx stores snap (the state about to be overwritten) and keeps the
// newest keep entries.
func archiveTx(tx *bolt.Tx, snap *Snapshot, m archiveMeta, keep int) error {
	b := tx.Bucket(bArchive)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	m.Seq, m.Revision = seq, snap.Revision
	raw, err := json.Marshal(snap)
	if err != nil {
		return err
	}
	m.Size = len(raw)
	v, err := json.Marshal(archiveRecord{archiveMeta: m, Snapshot: snap})
	if err != nil {
		return err
	}
	if err := b.Put(u64(seq), v); err != nil {
		return err
	}
	if seq > uint64(keep) {
		var old [][]byte
		c := b.Cursor()
		for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) <= seq-uint64(keep); k, _ = c.Next() {
			old = append(old, append([]byte(nil), k...))
		}
		for _, k := range old {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
	}
	return nil
}

// Archive lists the archived snapshots, newest first.
func (s *Server) Archive(ctx context.Context) ([]ArchiveEntry, error) {
	out := []ArchiveEntry{}
	err := s.st.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bArchive).Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			var rec struct{ archiveMeta }
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("store: corrupt archive entry: %w", err)
			}
			out = append(out, rec.archiveMeta)
		}
		return nil
	})
	return out, err
}

// ArchivedSnapshot returns the newest archived snapshot of revision rev.
func (s *Server) ArchivedSnapshot(ctx context.Context, rev uint64) (*Snapshot, ArchiveEntry, error) {
	var rec archiveRecord
	found := false
	err := s.st.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bArchive).Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			var m struct{ archiveMeta }
			if json.Unmarshal(v, &m) != nil || m.Revision != rev {
				continue
			}
			found = true
			return json.Unmarshal(v, &rec)
		}
		return nil
	})
	if err != nil {
		return nil, ArchiveEntry{}, err
	}
	if !found || rec.Snapshot == nil {
		return nil, ArchiveEntry{}, fmt.Errorf("archived revision %d: %w", rev, ErrNotFound)
	}
	return rec.Snapshot, rec.archiveMeta, nil
}

// RestoreArchived makes an archived snapshot the current state again, as a
// new revision (so it replicates like any change); the state it replaces
// is archived in turn. The group's signing certificates and members are
// kept as they are now (an old set could drop keys that sign today). On a
// slave it fails with ErrReplica (the HTTP API forwards the archived
// snapshot to the master instead).
func (s *Server) RestoreArchived(ctx context.Context, rev uint64) (uint64, error) {
	snap, _, err := s.ArchivedSnapshot(ctx, rev)
	if err != nil {
		return 0, err
	}
	return s.restoreSnapshot(ctx, snap)
}

func (s *Server) restoreSnapshot(ctx context.Context, snap *Snapshot) (uint64, error) {
	if s.st.replica.Load() {
		return 0, ErrReplica
	}
	if snap.Schema != SchemaVersion {
		return 0, invalidf("archived snapshot schema %d, this store has %d", snap.Schema, SchemaVersion)
	}
	s.repl.applyMu.Lock()
	defer s.repl.applyMu.Unlock()
	_, epoch, master := s.repl.state()
	var newRev uint64
	err := s.st.rawUpdate(func(tx *bolt.Tx) error {
		cur := exportTx(tx)
		next := &Snapshot{Schema: snap.Schema, Revision: cur.Revision + 1, Buckets: map[string]map[string][]byte{}}
		for name, kv := range snap.Buckets {
			next.Buckets[name] = kv
		}
		next.Buckets[string(bSigners)] = cur.Buckets[string(bSigners)]
		next.Buckets[string(bPeers)] = cur.Buckets[string(bPeers)]
		if err := archiveTx(tx, cur, archiveMeta{Epoch: epoch, Master: master, ArchivedAt: s.now().UTC(),
			ReplacedByEpoch: epoch, ReplacedByRevision: next.Revision, Reason: "restore"}, s.cfg.archiveKeep()); err != nil {
			return err
		}
		newRev = next.Revision
		return replaceState(tx, next)
	})
	if err != nil {
		return 0, err
	}
	s.st.changed()
	s.audit(ctx, AuditEvent{Event: "archive.restore", Actor: actorOf(ctx), OK: true, Fields: map[string]any{"from_revision": snap.Revision, "revision": newRev}})
	return newRev, s.reloadKeys()
}

func (s *Server) handleArchiveList(w http.ResponseWriter, r *http.Request, _ *principal) {
	out, err := s.Archive(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"archive": out})
}

func (s *Server) handleArchiveShow(w http.ResponseWriter, r *http.Request, _ *principal) {
	rev, err := strconv.ParseUint(r.PathValue("revision"), 10, 64)
	if err != nil {
		writeError(w, apiErr(http.StatusBadRequest, CodeBadRequest, "revision must be a number"))
		return
	}
	snap, meta, err := s.ArchivedSnapshot(r.Context(), rev)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"entry": meta, "summary": summarize(snap)})
}

// summarize lists the object names of a snapshot (never hashes or secrets).
func summarize(snap *Snapshot) map[string][]string {
	out := map[string][]string{}
	for _, b := range [][]byte{bSessions, bUsers, bProxies, bPeers} {
		names := []string{}
		for k := range snap.Buckets[string(b)] {
			names = append(names, k)
		}
		sort.Strings(names)
		out[string(b)] = names
	}
	out["api_keys"] = []string{fmt.Sprint(len(snap.Buckets[string(bAPIKeys)]))}
	return out
}

// RestoreRequest is the optional body of POST /api/v1/admin/archive/{revision}/restore:
// a slave forwards the archived snapshot to the master in it.
type RestoreRequest struct {
	Snapshot *Snapshot `json:"snapshot,omitempty"`
}

func (s *Server) handleArchiveRestore(w http.ResponseWriter, r *http.Request, _ *principal) {
	rev, err := strconv.ParseUint(r.PathValue("revision"), 10, 64)
	if err != nil {
		writeError(w, apiErr(http.StatusBadRequest, CodeBadRequest, "revision must be a number"))
		return
	}
	limit := s.cfg.maxSnapshot()
	var req RestoreRequest
	if err := DecodeJSONOptional(http.MaxBytesReader(w, r.Body, limit), &req, limit); err != nil {
		s.fail(w, r, err)
		return
	}
	role, _, _ := s.repl.state()
	if role == RoleSlave {
		snap, _, err := s.ArchivedSnapshot(r.Context(), rev)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		body, _ := json.Marshal(RestoreRequest{Snapshot: snap})
		s.forward(w, r, body)
		return
	}
	var newRev uint64
	if req.Snapshot != nil {
		if r.Header.Get(HeaderForwardedBy) == "" {
			writeError(w, apiErr(http.StatusBadRequest, CodeBadRequest, "a snapshot in the body is only accepted from a slave"))
			return
		}
		if req.Snapshot.Revision != rev {
			writeError(w, apiErr(http.StatusBadRequest, CodeBadRequest, "snapshot revision %d, path %d", req.Snapshot.Revision, rev))
			return
		}
		newRev, err = s.restoreSnapshot(r.Context(), req.Snapshot)
	} else {
		newRev, err = s.RestoreArchived(r.Context(), rev)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set(HeaderRevision, strconv.FormatUint(newRev, 10))
	writeJSON(w, http.StatusOK, map[string]any{"restored": rev, "revision": newRev})
}

// DecodeJSONOptional is DecodeJSON, but an empty body leaves v unchanged.
func DecodeJSONOptional(r io.Reader, v any, limit int64) error {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return apiErr(http.StatusRequestEntityTooLarge, CodeTooLarge, "request body larger than %d bytes", limit)
		}
		return apiErr(http.StatusBadRequest, CodeBadRequest, "read request body: %v", err)
	}
	if int64(len(b)) > limit {
		return apiErr(http.StatusRequestEntityTooLarge, CodeTooLarge, "request body larger than %d bytes", limit)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	return decodeStrict(b, v)
}

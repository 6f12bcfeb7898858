package mgmt

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// SchemaVersion is the store layout this termgate writes. Open migrates an
// older store forward, step by step, inside one transaction.
const SchemaVersion = 2

// Buckets. The replicated ones make up a Snapshot; the rest are local to a node.
var (
	bMeta     = []byte("meta")     // local: schema, revision
	bSessions = []byte("sessions") // name → SessionDef
	bUsers    = []byte("users")    // name → userRecord
	bAPIKeys  = []byte("api_keys") // id → apiKeyRecord
	bSettings = []byte("settings") // "security" → Security
	bProxies  = []byte("proxies")  // node id → Proxy
	bSigners  = []byte("signers")  // kid → SigningKey
	bEnroll   = []byte("enroll")   // hex SHA-256 of code → enrollCodeRecord
	bRevoked  = []byte("revoked")  // jti → expiry (unix seconds, 8 bytes)
	bAudit    = []byte("audit")    // local: seq (8 bytes) → AuditEvent
	bPeers    = []byte("peers")    // node id → PeerRecord (the replication group's members)
	bArchive  = []byte("archive")  // local: seq (8 bytes) → archiveEntry (overwritten snapshots)
	bMeter    = []byte("metering") // local: launch id \x00 seq (8 bytes) → meterRecord

	replicatedBuckets = [][]byte{bSessions, bUsers, bAPIKeys, bSettings, bProxies, bSigners, bEnroll, bRevoked, bPeers}

	keySchema   = []byte("schema")
	keyRevision = []byte("revision")
	keyNodeID   = []byte("node_id")
	keySecurity = []byte("security")
	keyEpoch    = []byte("epoch")  // local: replication epoch this node knows (8 bytes)
	keyMaster   = []byte("master") // local: master node of that epoch
	keyRole     = []byte("role")   // local: this node's replication role
)

// migrations[v] upgrades a store from schema v to v+1.
var migrations = map[int]func(tx *bolt.Tx) error{
	0: func(tx *bolt.Tx) error {
		for _, b := range append([][]byte{bMeta, bAudit}, replicatedBuckets...) {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		sec, _ := json.Marshal(DefaultSecurity())
		return tx.Bucket(bSettings).Put(keySecurity, sec)
	},
	// 2: replication group members, the snapshot archive and metering records.
	1: func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bPeers, bArchive, bMeter} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	},
}

// store is the embedded database of one management node. Every change is
// one bbolt transaction that also bumps the revision counter, so a
// snapshot (Export) always has one consistent revision.
type store struct {
	db   *bolt.DB
	path string
	// replica makes update refuse: a slave changes its replicated state
	// only by applying the master's snapshots.
	replica atomic.Bool
	// onChange, if set, is called after every committed change of the
	// replicated state (the master's push trigger).
	onChange atomic.Pointer[func()]
	// full is set while writes fail for lack of disk space (the error is
	// logged once when it starts, and once more when space returns).
	full atomic.Bool
	// log is set once by the server before the store is shared.
	log zerolog.Logger
}

type storeOptions struct {
	ReadOnly bool
	Create   bool
	Timeout  time.Duration
}

func openStore(path string, o storeOptions) (*store, error) {
	if !o.Create {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w", path, ErrNotInitialized)
		}
	}
	if o.Timeout == 0 {
		o.Timeout = time.Second
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: o.Timeout, ReadOnly: o.ReadOnly})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open %s: %w", path, ErrStoreLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s := &store{db: db, path: path}
	if o.ReadOnly {
		err = db.View(func(tx *bolt.Tx) error { return checkSchema(tx) })
	} else {
		err = s.writeErr(db.Update(migrate))
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	return s, nil
}

func schemaOf(tx *bolt.Tx) int {
	m := tx.Bucket(bMeta)
	if m == nil {
		return 0
	}
	v := m.Get(keySchema)
	if len(v) != 8 {
		return 0
	}
	return int(binary.BigEndian.Uint64(v))
}

func checkSchema(tx *bolt.Tx) error {
	v := schemaOf(tx)
	if v > SchemaVersion {
		return fmt.Errorf("%w: version %d, this termgate reads up to %d", ErrSchemaTooNew, v, SchemaVersion)
	}
	if v < 1 {
		return fmt.Errorf("not a termgate management store (no schema version)")
	}
	return nil
}

func migrate(tx *bolt.Tx) error {
	v := schemaOf(tx)
	if v > SchemaVersion {
		return fmt.Errorf("%w: version %d, this termgate reads up to %d", ErrSchemaTooNew, v, SchemaVersion)
	}
	for ; v < SchemaVersion; v++ {
		if err := migrations[v](tx); err != nil {
			return fmt.Errorf("migrate schema %d to %d: %w", v, v+1, err)
		}
		if err := tx.Bucket(bMeta).Put(keySchema, u64(uint64(v+1))); err != nil {
			return err
		}
	}
	return nil
}

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

func (s *store) close() error { return s.db.Close() }

// update runs fn in a write transaction and bumps the revision. On a
// slave it fails with ErrReplica.
func (s *store) update(fn func(tx *bolt.Tx) error) error {
	if s.replica.Load() {
		return ErrReplica
	}
	err := s.rawUpdate(func(tx *bolt.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		m := tx.Bucket(bMeta)
		return m.Put(keyRevision, u64(revisionOf(tx)+1))
	})
	if err == nil {
		s.changed()
	}
	return err
}

// rawUpdate runs fn in a write transaction, without the replica check or
// a revision bump (snapshot import, archive restore, join). A commit that
// fails for lack of disk space returns a *StorageFullError; bbolt rolls it
// back, so the store keeps its last committed state.
func (s *store) rawUpdate(fn func(tx *bolt.Tx) error) error { return s.writeErr(s.db.Update(fn)) }

// writeErr classifies the result of a write transaction: ENOSPC anywhere in
// the chain becomes a *StorageFullError naming the data directory, logged
// at error level when the disk becomes full (not again for every refused
// write), and a success after that logs that space has returned.
func (s *store) writeErr(err error) error {
	dir := filepath.Dir(s.path)
	if err == nil {
		if s.full.Load() && s.full.CompareAndSwap(true, false) {
			s.log.Info().Str("path", dir).Msg("store: writes succeed again: the data directory's disk has space")
		}
		return nil
	}
	var sf *StorageFullError
	if errors.As(err, &sf) || !errors.Is(err, syscall.ENOSPC) {
		return err
	}
	if s.full.CompareAndSwap(false, true) {
		s.log.Error().Err(err).Str("path", dir).Str("code", CodeStorageFull).
			Msg("store: the disk holding the data directory is full: changes are refused until space is freed on it")
	}
	return &StorageFullError{Dir: dir, Err: err}
}

func (s *store) changed() {
	if f := s.onChange.Load(); f != nil {
		(*f)()
	}
}

// updateLocal runs fn in a write transaction that changes only local state.
func (s *store) updateLocal(fn func(tx *bolt.Tx) error) error { return s.rawUpdate(fn) }

func (s *store) view(fn func(tx *bolt.Tx) error) error { return s.db.View(fn) }

func revisionOf(tx *bolt.Tx) uint64 {
	v := tx.Bucket(bMeta).Get(keyRevision)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// revision is the number of committed changes to the replicated state.
func (s *store) revision() uint64 {
	var r uint64
	s.db.View(func(tx *bolt.Tx) error { r = revisionOf(tx); return nil })
	return r
}

func getJSON(tx *bolt.Tx, bucket, key []byte, v any) error {
	b := tx.Bucket(bucket).Get(key)
	if b == nil {
		return ErrNotFound
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("store: corrupt %s/%s: %w", bucket, key, err)
	}
	return nil
}

func putJSON(tx *bolt.Tx, bucket, key []byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return tx.Bucket(bucket).Put(key, b)
}

// listJSON decodes every value of a bucket, in key order.
func listJSON[T any](tx *bolt.Tx, bucket []byte) ([]T, error) {
	var out []T
	err := tx.Bucket(bucket).ForEach(func(k, v []byte) error {
		var x T
		if err := json.Unmarshal(v, &x); err != nil {
			return fmt.Errorf("store: corrupt %s/%s: %w", bucket, k, err)
		}
		out = append(out, x)
		return nil
	})
	return out, err
}

func nodeIDOf(tx *bolt.Tx) string { return string(tx.Bucket(bMeta).Get(keyNodeID)) }

// Snapshot is the whole replicated state at one revision: sessions, users
// and grants (with password hashes), API keys (hashed), security settings,
// enrolled proxies, management signing certificates, enrollment codes
// (hashed) and revoked login tokens. Private keys are never part of it.
// Buckets maps a bucket name to its raw key/value pairs, so a snapshot
// taken by one version can be imported by the next and migrated.
type Snapshot struct {
	Schema   int                          `json:"schema"`
	Revision uint64                       `json:"revision"`
	Buckets  map[string]map[string][]byte `json:"buckets"`
}

// export returns the replicated state, consistently, in one read transaction.
func (s *store) export() (*Snapshot, error) {
	snap := &Snapshot{Buckets: map[string]map[string][]byte{}}
	err := s.db.View(func(tx *bolt.Tx) error {
		snap.Schema = schemaOf(tx)
		snap.Revision = revisionOf(tx)
		for _, name := range replicatedBuckets {
			m := map[string][]byte{}
			if err := tx.Bucket(name).ForEach(func(k, v []byte) error {
				m[string(k)] = bytes.Clone(v)
				return nil
			}); err != nil {
				return err
			}
			snap.Buckets[string(name)] = m
		}
		return nil
	})
	return snap, err
}

// importSnapshot replaces the replicated state with snap in one transaction
// and sets the revision to the snapshot's. Local buckets are kept.
func (s *store) importSnapshot(snap *Snapshot) error {
	if snap.Schema != SchemaVersion {
		return invalidf("snapshot schema %d, this store has %d", snap.Schema, SchemaVersion)
	}
	err := s.rawUpdate(func(tx *bolt.Tx) error { return replaceState(tx, snap) })
	if err == nil {
		s.changed()
	}
	return err
}

// replaceState replaces the replicated buckets with snap's and sets the revision.
func replaceState(tx *bolt.Tx, snap *Snapshot) error {
	for _, name := range replicatedBuckets {
		if err := tx.DeleteBucket(name); err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
			return err
		}
		b, err := tx.CreateBucket(name)
		if err != nil {
			return err
		}
		for k, v := range snap.Buckets[string(name)] {
			if err := b.Put([]byte(k), v); err != nil {
				return err
			}
		}
	}
	return tx.Bucket(bMeta).Put(keyRevision, u64(snap.Revision))
}

// exportTx is export inside a transaction the caller holds.
func exportTx(tx *bolt.Tx) *Snapshot {
	snap := &Snapshot{Schema: schemaOf(tx), Revision: revisionOf(tx), Buckets: map[string]map[string][]byte{}}
	for _, name := range replicatedBuckets {
		m := map[string][]byte{}
		if b := tx.Bucket(name); b != nil {
			b.ForEach(func(k, v []byte) error { m[string(k)] = bytes.Clone(v); return nil })
		}
		snap.Buckets[string(name)] = m
	}
	return snap
}

// writeTo writes a consistent copy of the whole database file.
func (s *store) writeTo(w io.Writer) (int64, error) {
	var n int64
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}

// validateStoreFile checks that path is a termgate management store this
// version can read: bbolt consistency check, schema, and every record decodes.
func validateStoreFile(path string) (rev uint64, err error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		return 0, fmt.Errorf("%s is not a readable store: %w", path, err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		var first error
		for cerr := range tx.Check() { // drain: the checker goroutine sends every error
			if first == nil {
				first = cerr
			}
		}
		if first != nil {
			return fmt.Errorf("consistency check: %w", first)
		}
		if err := checkSchema(tx); err != nil {
			return err
		}
		for _, b := range append([][]byte{bMeta}, replicatedBuckets...) {
			if tx.Bucket(b) == nil && !bytes.Equal(b, bPeers) { // peers came with schema 2
				return fmt.Errorf("bucket %s is missing", b)
			}
		}
		if nodeIDOf(tx) == "" {
			return fmt.Errorf("no node id")
		}
		if _, err := listJSON[SessionDef](tx, bSessions); err != nil {
			return err
		}
		if _, err := listJSON[userRecord](tx, bUsers); err != nil {
			return err
		}
		if _, err := listJSON[apiKeyRecord](tx, bAPIKeys); err != nil {
			return err
		}
		if _, err := listJSON[Proxy](tx, bProxies); err != nil {
			return err
		}
		if _, err := listJSON[SigningKey](tx, bSigners); err != nil {
			return err
		}
		var sec Security
		if err := getJSON(tx, bSettings, keySecurity, &sec); err != nil {
			return fmt.Errorf("security settings: %w", err)
		}
		rev = revisionOf(tx)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return rev, nil
}

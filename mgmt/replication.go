package mgmt

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/termgate/termgate/pki"
)

// Headers of the replication protocol.
const (
	// HeaderRevision is set on every answer: the node's revision after the
	// request (a slave waits for it after forwarding a change).
	HeaderRevision = "Termgate-Revision"
	// HeaderEpoch is the epoch the sender knows (on answers and forwarded
	// requests); a master that sees a higher one steps down.
	HeaderEpoch = "Termgate-Epoch"
	// HeaderMaster names the master of HeaderEpoch on refusals.
	HeaderMaster = "Termgate-Master"
	// HeaderForwardedBy marks a change a slave forwarded to the master.
	HeaderForwardedBy = "Termgate-Forwarded-By"
	// HeaderReplication is "applied" when a forwarded change came back in a
	// snapshot before the slave answered, "pending" when Config.ForwardWait
	// ran out first (the change is made; it arrives with the next push).
	HeaderReplication = "Termgate-Replication"
)

// PeerRecord is a member of the replication group, as replicated: where
// its API and metering listener are, and what its HTTPS certificate is
// verified against (public certificates only).
type PeerRecord struct {
	NodeID      string    `json:"node_id"`
	URL         string    `json:"url"`
	DTLSAddress string    `json:"dtls_address,omitempty"`
	TLSTrust    string    `json:"tls_trust"`
	JoinedAt    time.Time `json:"joined_at"`
}

// PeerStatus is the master's view of one peer.
type PeerStatus struct {
	ID             string    `json:"id"`
	URL            string    `json:"url"`
	LastPush       time.Time `json:"last_push,omitzero"`
	LastResult     string    `json:"last_result,omitempty"` // ok, refused, error
	LastError      string    `json:"last_error,omitempty"`
	AckedEpoch     uint64    `json:"acked_epoch"`
	AckedRevision  uint64    `json:"acked_revision"`
	Lag            uint64    `json:"lag"` // revisions the peer is behind (0: in sync)
	LastPushMillis float64   `json:"last_push_ms,omitempty"`
	failures       int
	nextTry        time.Time
}

// ReplicationStatus is the answer of GET /api/v1/admin/replication.
type ReplicationStatus struct {
	Node        string       `json:"node"`
	Role        string       `json:"role"`
	Epoch       uint64       `json:"epoch"`
	Master      string       `json:"master,omitempty"`
	Revision    uint64       `json:"revision"`
	LastApplied time.Time    `json:"last_applied,omitzero"`
	Peers       []PeerStatus `json:"peers"`
}

// replicator is a node's replication engine.
type replicator struct {
	s *Server

	applyMu sync.Mutex // serialises snapshot applies and restores

	mu          sync.Mutex
	role        string
	epoch       uint64
	master      string
	lastApplied time.Time
	changed     chan struct{} // closed and replaced when the state moves
	peers       map[string]*PeerStatus
	lastRound   time.Time
	signed      []byte // cached signed snapshot
	signedAt    [2]uint64

	kick   chan struct{}
	client *http.Client
}

func newReplicator(s *Server) (*replicator, error) {
	r := &replicator{s: s, changed: make(chan struct{}), kick: make(chan struct{}, 1), peers: map[string]*PeerStatus{}}
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{
			MinVersion: tls.VersionTLS12,
			// The chain is verified in VerifyConnection against the group's
			// current trust (it changes as members join).
			InsecureSkipVerify: true,
			VerifyConnection:   r.verifyPeerTLS,
		},
		TLSHandshakeTimeout: 5 * time.Second, ResponseHeaderTimeout: 15 * time.Second,
		MaxIdleConnsPerHost: 4, IdleConnTimeout: 60 * time.Second,
	}
	r.client = &http.Client{Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var stored string
	err := s.st.view(func(tx *bolt.Tx) error {
		m := tx.Bucket(bMeta)
		stored = string(m.Get(keyRole))
		if v := m.Get(keyEpoch); len(v) == 8 {
			r.epoch = binary.BigEndian.Uint64(v)
		}
		r.master = string(m.Get(keyMaster))
		return nil
	})
	if err != nil {
		return nil, err
	}
	want := s.cfg.Role
	switch want {
	case "", RoleStandalone, RoleMaster, RoleSlave:
	default:
		return nil, invalidf("role %q: use standalone, master or slave", want)
	}
	if want == "" {
		want = RoleStandalone
	}
	r.role = stored
	switch {
	case stored == "" || stored == RoleStandalone:
		r.role = want
		if want == RoleMaster && r.epoch == 0 {
			r.epoch, r.master = 1, s.nodeID
		}
		if want == RoleMaster {
			r.master = s.nodeID
		}
	case want != RoleStandalone && want != stored:
		s.log.Warn().Str("configured", want).Str("stored", stored).Uint64("epoch", r.epoch).Str("master", r.master).
			Msg("keeping the replication role recorded in the store (use termgate mgmt promote to make a slave master)")
	}
	if r.role != stored && !s.readOnly {
		if err := r.persistLocked(); err != nil {
			return nil, err
		}
	}
	s.st.replica.Store(r.role == RoleSlave)
	return r, nil
}

// persistLocked writes role, epoch and master to the local meta bucket.
func (r *replicator) persistLocked() error {
	return r.s.st.updateLocal(func(tx *bolt.Tx) error { return putReplMeta(tx, r.role, r.epoch, r.master) })
}

func putReplMeta(tx *bolt.Tx, role string, epoch uint64, master string) error {
	m := tx.Bucket(bMeta)
	if err := m.Put(keyRole, []byte(role)); err != nil {
		return err
	}
	if err := m.Put(keyEpoch, u64(epoch)); err != nil {
		return err
	}
	return m.Put(keyMaster, []byte(master))
}

func (r *replicator) state() (role string, epoch uint64, master string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.role, r.epoch, r.master
}

// broadcastLocked wakes everyone waiting for the state to move.
func (r *replicator) broadcastLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// trigger asks the push loop for a round (non-blocking).
func (r *replicator) trigger() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Role returns this node's replication role, epoch and the master of that epoch.
func (s *Server) Role() (role string, epoch uint64, master string) { return s.repl.state() }

// ----- trust between nodes -----

// groupTLSTrust is what the HTTPS of the other nodes is verified against.
func (r *replicator) groupTLSTrust() *pki.TrustStore {
	ts := pki.NewTrustStore()
	add := func(name string, pemBytes []byte) {
		if certs, err := pki.ParseCertsPEM(pemBytes); err == nil {
			for i, c := range certs {
				ts.Add(fmt.Sprintf("%s#%d", name, i), c)
			}
		}
	}
	add("self", r.s.mgmtTLS)
	if len(r.s.cfg.ReplicationTrust) > 0 {
		add("replication-trust", r.s.cfg.ReplicationTrust)
	}
	for _, p := range r.s.peerRecords() {
		add(p.NodeID, []byte(p.TLSTrust))
	}
	return ts
}

func (r *replicator) verifyPeerTLS(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("peer sent no certificate")
	}
	return pki.VerifyPeer(r.groupTLSTrust(), cs.PeerCertificates, pki.VerifyOptions{Name: cs.ServerName, Now: r.s.now()})
}

// peerRecords lists the replicated group members.
func (s *Server) peerRecords() []PeerRecord {
	var out []PeerRecord
	s.st.view(func(tx *bolt.Tx) error {
		if tx.Bucket(bPeers) == nil {
			return nil
		}
		out, _ = listJSON[PeerRecord](tx, bPeers)
		return nil
	})
	return out
}

// peerTargets is every other node: the replicated members, with the URLs
// of Config.Peers overriding (and adding to) them.
func (r *replicator) peerTargets() []Peer {
	m := map[string]string{}
	for _, p := range r.s.peerRecords() {
		m[p.NodeID] = p.URL
	}
	for _, p := range r.s.cfg.Peers {
		m[p.ID] = p.URL
	}
	delete(m, r.s.nodeID)
	out := make([]Peer, 0, len(m))
	for id, u := range m {
		out = append(out, Peer{ID: id, URL: u})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (r *replicator) peerURL(id string) string {
	for _, p := range r.peerTargets() {
		if p.ID == id {
			return p.URL
		}
	}
	return ""
}

// advertiseURL is how the other nodes reach this one.
func (s *Server) advertiseURL() string {
	if s.cfg.AdvertiseURL != "" {
		return s.cfg.AdvertiseURL
	}
	if s.ln != nil {
		return "https://" + s.ln.Addr().String()
	}
	return "https://" + s.cfg.addr()
}

// ensureSelfRecord makes sure the replicated members include this node
// with its current URL, metering address and HTTPS trust (on the master).
func (s *Server) ensureSelfRecord() error {
	want := PeerRecord{NodeID: s.nodeID, URL: s.advertiseURL(), DTLSAddress: s.meterAdvertise(), TLSTrust: string(s.mgmtTLS)}
	var cur PeerRecord
	err := s.st.view(func(tx *bolt.Tx) error { return getJSON(tx, bPeers, []byte(s.nodeID), &cur) })
	if err == nil && cur.URL == want.URL && cur.DTLSAddress == want.DTLSAddress && cur.TLSTrust == want.TLSTrust {
		return nil
	}
	want.JoinedAt = s.now().UTC()
	if err == nil {
		want.JoinedAt = cur.JoinedAt
	}
	return s.st.update(func(tx *bolt.Tx) error { return putJSON(tx, bPeers, []byte(s.nodeID), want) })
}

// ----- master: pushing -----

// pushLoop runs on every node; it pushes only while the node is master.
func (r *replicator) pushLoop(stop <-chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-r.kick:
		case <-t.C:
		}
		r.mu.Lock()
		wait := time.Until(r.lastRound.Add(r.s.cfg.pushDebounce()))
		r.mu.Unlock()
		if wait > 0 {
			select {
			case <-stop:
				return
			case <-time.After(wait):
			}
		}
		r.pushRound(stop)
	}
}

// pushRound pushes the current snapshot to every peer that needs it.
func (r *replicator) pushRound(stop <-chan struct{}) {
	r.mu.Lock()
	if r.role != RoleMaster {
		r.mu.Unlock()
		return
	}
	epoch := r.epoch
	r.mu.Unlock()
	now := time.Now()
	cur := r.s.st.revision()
	var due []Peer
	for _, p := range r.peerTargets() {
		r.mu.Lock()
		ps := r.peers[p.ID]
		if ps == nil {
			ps = &PeerStatus{ID: p.ID}
			r.peers[p.ID] = ps
		}
		ps.URL = p.URL
		inSync := ps.AckedEpoch == epoch && ps.AckedRevision >= cur
		if (!inSync && !now.Before(ps.nextTry)) || now.Sub(ps.LastPush) >= r.s.cfg.pushInterval() {
			due = append(due, p)
		}
		r.mu.Unlock()
	}
	if len(due) == 0 {
		return
	}
	body, rev, err := r.signedSnapshot(epoch)
	if err != nil {
		r.s.log.Error().Err(err).Msg("replication: cannot sign the snapshot")
		return
	}
	r.mu.Lock()
	r.lastRound = now // the debounce counts from the last round that sent something
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range due {
		wg.Add(1)
		go func(p Peer) {
			defer wg.Done()
			r.pushTo(stop, p, epoch, rev, body)
		}(p)
	}
	wg.Wait()
}

// signedSnapshot returns the current state signed for epoch (cached per revision).
func (r *replicator) signedSnapshot(epoch uint64) ([]byte, uint64, error) {
	snap, err := r.s.st.export()
	if err != nil {
		return nil, 0, err
	}
	r.mu.Lock()
	if r.signed != nil && r.signedAt == [2]uint64{epoch, snap.Revision} {
		b := r.signed
		r.mu.Unlock()
		return b, snap.Revision, nil
	}
	r.mu.Unlock()
	keys := r.s.ownSigningKeys()
	b, err := signSnapshot(snap, epoch, r.s.nodeID, keys, r.s.now())
	if err != nil {
		return nil, 0, err
	}
	r.mu.Lock()
	r.signed, r.signedAt = b, [2]uint64{epoch, snap.Revision}
	r.mu.Unlock()
	return b, snap.Revision, nil
}

// ownSigningKeys loads every published signing key of this node whose
// private key is on disk, the current one first.
func (s *Server) ownSigningKeys() []*ownKey {
	ks := s.keys.Load()
	out := []*ownKey{ks.current}
	for _, rec := range ks.records {
		if rec.NodeID != s.nodeID || rec.KID == ks.current.kid {
			continue
		}
		if k, err := s.loadOwnKey(rec); err == nil {
			out = append(out, k)
		}
	}
	return out
}

func (r *replicator) pushTo(stop <-chan struct{}, p Peer, epoch, rev uint64, body []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	go func() {
		select {
		case <-stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	start := time.Now()
	result, perr := "ok", ""
	var peerEpoch, peerRev uint64
	var peerMaster string
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.URL+"/api/v1/replication/snapshot", bytes.NewReader(body))
	if err == nil {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(HeaderEpoch, strconv.FormatUint(epoch, 10))
		var resp *http.Response
		resp, err = r.client.Do(req)
		if err == nil {
			peerEpoch, _ = strconv.ParseUint(resp.Header.Get(HeaderEpoch), 10, 64)
			peerRev, _ = strconv.ParseUint(resp.Header.Get(HeaderRevision), 10, 64)
			peerMaster = resp.Header.Get(HeaderMaster)
			if resp.StatusCode/100 != 2 {
				ae := readAPIError(resp).(*APIError)
				result, perr = "refused", ae.Code+": "+ae.Message
				if ae.Code == SnapshotStaleRevision && peerEpoch == epoch {
					result, perr = "ok", "" // the peer already has this revision
					if peerRev > rev {
						r.s.bumpRevision(peerRev)
					}
				}
			} else {
				io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			}
			resp.Body.Close()
		}
	}
	if err != nil {
		result, perr = "error", err.Error()
	}
	r.s.metrics.pushes.WithLabelValues(result).Inc()
	r.mu.Lock()
	ps := r.peers[p.ID]
	ps.LastPush, ps.LastResult, ps.LastError = time.Now(), result, perr
	ps.LastPushMillis = float64(time.Since(start).Microseconds()) / 1000
	if result == "ok" {
		ps.AckedEpoch, ps.AckedRevision, ps.failures, ps.nextTry = epoch, rev, 0, time.Time{}
	} else {
		ps.failures++
		ps.nextTry = time.Now().Add(min(time.Duration(1<<min(ps.failures, 6))*250*time.Millisecond, 5*time.Second))
	}
	r.mu.Unlock()
	if result != "ok" {
		r.s.log.Debug().Str("peer", p.ID).Str("result", result).Str("error", perr).Msg("replication push")
	}
	if peerEpoch > epoch {
		r.stepDown(peerEpoch, peerMaster, "peer "+p.ID+" knows a higher epoch")
	}
}

// bumpRevision raises the revision to at least rev (a master whose store
// went back, e.g. after an offline restore, catches up with its slaves).
func (s *Server) bumpRevision(rev uint64) {
	s.st.update(func(tx *bolt.Tx) error {
		if revisionOf(tx) >= rev {
			return errNoChange
		}
		return tx.Bucket(bMeta).Put(keyRevision, u64(rev)) // update adds one
	})
}

// stepDown makes this node a slave of a higher epoch's master.
func (r *replicator) stepDown(epoch uint64, master, why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if epoch <= r.epoch {
		return
	}
	was := r.role
	r.role, r.epoch, r.master = RoleSlave, epoch, master
	r.s.st.replica.Store(true)
	if err := r.persistLocked(); err != nil {
		r.s.log.Error().Err(err).Msg("replication: cannot record the new epoch")
	}
	r.broadcastLocked()
	if was == RoleMaster {
		r.s.log.Warn().Uint64("epoch", epoch).Str("master", master).Str("reason", why).Msg("replication: stepped down to slave")
	}
}

// ----- slave: applying -----

// ApplySnapshot verifies and applies a pushed snapshot (the body of POST
// /api/v1/replication/snapshot): it must be signed by a group signing key
// of the master it names, and be newer than the state this node has — a
// higher epoch, or the same epoch and master with a higher revision. The
// overwritten state is archived, in the same transaction.
func (s *Server) ApplySnapshot(ctx context.Context, body []byte) (*SnapshotHeader, error) {
	env, h, snap, err := DecodeSignedSnapshot(body, s.cfg.maxSnapshot())
	if err != nil {
		return nil, err
	}
	return h, s.repl.apply(ctx, env, h, snap)
}

func (r *replicator) apply(ctx context.Context, env *SignedSnapshot, h *SnapshotHeader, snap *Snapshot) error {
	s := r.s
	r.applyMu.Lock()
	defer r.applyMu.Unlock()
	role, epoch, master := r.state()
	refuse := func(reason, format string, a ...any) error {
		e := snapErr(reason, format, a...)
		e.Epoch, e.Master = epoch, master
		s.metrics.snapshots.WithLabelValues(reason).Inc()
		return e
	}
	if role == RoleStandalone {
		return refuse(SnapshotNotReplica, "node %s is standalone (start it with --role slave to replicate)", s.nodeID)
	}
	if _, err := verifySignedSnapshot(env, h, s.keys.Load().signers, s.now()); err != nil {
		return refuse(SnapshotBadSignature, "%s", err.(*SnapshotError).Detail)
	}
	rev := s.st.revision()
	switch {
	case h.Master == s.nodeID:
		return refuse(SnapshotWrongMaster, "the snapshot names this node as its master")
	case h.Epoch < epoch:
		return refuse(SnapshotStaleEpoch, "epoch %d is older than this node's %d (master %s)", h.Epoch, epoch, master)
	case h.Epoch == epoch && master != "" && h.Master != master:
		return refuse(SnapshotWrongMaster, "epoch %d belongs to master %s, not %s", epoch, master, h.Master)
	case h.Epoch == epoch && h.Revision <= rev:
		return refuse(SnapshotStaleRevision, "revision %d is not newer than the applied %d", h.Revision, rev)
	}
	if !s.snapshotHasOwnKey(snap) {
		return refuse(SnapshotNotMember, "the snapshot lacks a current signing key of node %s (join the group first: termgate mgmt join)", s.nodeID)
	}
	now := s.now().UTC()
	err := s.st.rawUpdate(func(tx *bolt.Tx) error {
		if err := archiveTx(tx, exportTx(tx), archiveMeta{Epoch: epoch, Master: master, ArchivedAt: now,
			ReplacedByEpoch: h.Epoch, ReplacedByRevision: h.Revision, Reason: "replication"}, s.cfg.archiveKeep()); err != nil {
			return err
		}
		if err := replaceState(tx, snap); err != nil {
			return err
		}
		return putReplMeta(tx, RoleSlave, h.Epoch, h.Master)
	})
	if err != nil {
		return fmt.Errorf("apply snapshot: %w", err)
	}
	r.mu.Lock()
	wasMaster := r.role == RoleMaster
	r.role, r.epoch, r.master, r.lastApplied = RoleSlave, h.Epoch, h.Master, time.Now()
	s.st.replica.Store(true)
	r.broadcastLocked()
	r.mu.Unlock()
	if wasMaster {
		s.log.Warn().Uint64("epoch", h.Epoch).Str("master", h.Master).Msg("replication: stepped down to slave (a higher epoch pushed)")
	}
	s.metrics.snapshots.WithLabelValues("applied").Inc()
	s.log.Debug().Uint64("epoch", h.Epoch).Uint64("revision", h.Revision).Str("master", h.Master).Msg("replication: snapshot applied")
	s.audit(ctx, AuditEvent{Event: "replication.apply", Actor: h.Master, OK: true, Fields: map[string]any{"epoch": h.Epoch, "revision": h.Revision, "replaced": rev}})
	return s.reloadKeys()
}

// snapshotHasOwnKey reports whether snap publishes a current signing key of
// this node whose private key is on disk.
func (s *Server) snapshotHasOwnKey(snap *Snapshot) bool {
	for _, v := range snap.Buckets[string(bSigners)] {
		var k SigningKey
		if strictUnmarshal(v, &k) != nil || k.NodeID != s.nodeID || k.State != KeyCurrent {
			continue
		}
		if _, err := s.loadOwnKey(k); err == nil {
			return true
		}
	}
	return false
}

// waitApplied waits until this node has (epoch, rev) or newer, or ctx ends.
func (r *replicator) waitApplied(ctx context.Context, epoch, rev uint64) bool {
	for {
		r.mu.Lock()
		ok := r.epoch > epoch || (r.epoch == epoch && r.s.st.revision() >= rev)
		ch := r.changed
		r.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
}

// Promote makes this node the master of a new epoch (one above the highest
// it knows). It then pushes its state to every member; a former master that
// returns sees the higher epoch and steps down.
func (s *Server) Promote(ctx context.Context) (ReplicationStatus, error) {
	r := s.repl
	r.applyMu.Lock()
	r.mu.Lock()
	if r.role != RoleMaster {
		r.role, r.epoch, r.master = RoleMaster, r.epoch+1, s.nodeID
		s.st.replica.Store(false)
		if err := r.persistLocked(); err != nil {
			r.mu.Unlock()
			r.applyMu.Unlock()
			return ReplicationStatus{}, err
		}
		for _, ps := range r.peers {
			ps.AckedEpoch, ps.nextTry = 0, time.Time{}
		}
		r.broadcastLocked()
		s.log.Warn().Uint64("epoch", r.epoch).Msg("replication: promoted to master")
	}
	epoch := r.epoch
	r.mu.Unlock()
	r.applyMu.Unlock()
	if s.ln != nil {
		if err := s.ensureSelfRecord(); err != nil {
			return ReplicationStatus{}, err
		}
	}
	s.audit(ctx, AuditEvent{Event: "replication.promote", Actor: actorOf(ctx), OK: true, Fields: map[string]any{"epoch": epoch}})
	r.trigger()
	return s.ReplicationStatus(), nil
}

// ReplicationStatus reports the role, epoch, revision and, on the master,
// each peer's last push and lag.
func (s *Server) ReplicationStatus() ReplicationStatus {
	r := s.repl
	rev := s.st.revision()
	r.mu.Lock()
	defer r.mu.Unlock()
	st := ReplicationStatus{Node: s.nodeID, Role: r.role, Epoch: r.epoch, Master: r.master, Revision: rev, LastApplied: r.lastApplied, Peers: []PeerStatus{}}
	for _, ps := range r.peers {
		p := *ps
		if p.AckedEpoch == r.epoch && p.AckedRevision <= rev {
			p.Lag = rev - p.AckedRevision
		} else if p.AckedEpoch != r.epoch {
			p.Lag = rev
		}
		st.Peers = append(st.Peers, p)
	}
	sort.Slice(st.Peers, func(i, j int) bool { return st.Peers[i].ID < st.Peers[j].ID })
	return st
}

// ----- handlers -----

func (s *Server) handleSnapshotPush(w http.ResponseWriter, r *http.Request) {
	limit := s.cfg.maxSnapshot()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit+1))
	if err != nil || int64(len(body)) > limit {
		s.metrics.snapshots.WithLabelValues(SnapshotTooLarge).Inc()
		s.fail(w, r, snapErr(SnapshotTooLarge, "snapshot larger than %d bytes", limit))
		return
	}
	h, err := s.ApplySnapshot(r.Context(), body)
	_, epoch, master := s.repl.state()
	w.Header().Set(HeaderEpoch, strconv.FormatUint(epoch, 10))
	w.Header().Set(HeaderMaster, master)
	if err != nil {
		var se *SnapshotError
		if errors.As(err, &se) && se.Reason != SnapshotStaleRevision {
			s.log.Warn().Str("reason", se.Reason).Str("client", clientAddr(r)).Msg("replication: snapshot refused: " + se.Detail)
		}
		if !errors.As(err, &se) {
			s.metrics.snapshots.WithLabelValues(SnapshotMalformed).Inc()
		}
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"applied": true, "epoch": h.Epoch, "revision": h.Revision})
}

func (s *Server) handleReplicationStatus(w http.ResponseWriter, r *http.Request, _ *principal) {
	writeJSON(w, http.StatusOK, s.ReplicationStatus())
}

func (s *Server) handlePromote(w http.ResponseWriter, r *http.Request, _ *principal) {
	var empty struct{}
	if err := s.decodeOptional(w, r, &empty); err != nil {
		s.fail(w, r, err)
		return
	}
	st, err := s.Promote(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// ----- forwarding admin writes from a slave to the master -----

// localWrites are state-changing endpoints a slave answers itself.
var localWrites = []string{"/api/v1/admin/replication/promote", "/api/v1/admin/backup", "/api/v1/admin/rotate-key", "/api/v1/replication/snapshot", "/api/v1/login", "/api/v1/login/refresh"}

// forwarded reports whether a request changes replicated state (a slave
// sends those to the master).
func forwarded(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	p := r.URL.Path
	if slices.Contains(localWrites, p) {
		return false
	}
	if len(p) > len("/api/v1/admin/archive/") && p[:len("/api/v1/admin/archive/")] == "/api/v1/admin/archive/" {
		return false // the restore handler forwards the archived snapshot itself
	}
	return p == "/api/v1/logout" || p == "/api/v1/enroll" || p == "/api/v1/replication/join" ||
		(len(p) > len("/api/v1/admin/") && p[:len("/api/v1/admin/")] == "/api/v1/admin/")
}

var forwardHeaders = []string{"Authorization", "Cookie", CSRFHeader, "Content-Type", "If-Match", "If-None-Match"}
var backHeaders = []string{"Content-Type", "ETag", "Set-Cookie", "Retry-After", "WWW-Authenticate", HeaderRevision, HeaderEpoch}

// forward sends a change to the master with the caller's credentials and,
// once it succeeded, waits (up to Config.ForwardWait) until the change is
// back here in a snapshot, so that a read after the answer sees it.
func (s *Server) forward(w http.ResponseWriter, r *http.Request, body []byte) {
	_, epoch, master := s.repl.state()
	base := s.repl.peerURL(master)
	if master == "" || base == "" {
		s.fail(w, r, fmt.Errorf("%w: this slave knows no master URL (epoch %d, master %q)", ErrMasterUnreachable, epoch, master))
		return
	}
	if body == nil {
		var err error
		body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.maxBody()))
		if err != nil {
			writeError(w, apiErr(http.StatusRequestEntityTooLarge, CodeTooLarge, "request body larger than %d bytes", s.cfg.maxBody()))
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
	defer cancel()
	u, err := url.Parse(base)
	if err != nil {
		s.fail(w, r, fmt.Errorf("%w: master URL %q: %v", ErrMasterUnreachable, base, err))
		return
	}
	u.Path, u.RawQuery = r.URL.Path, r.URL.RawQuery
	req, err := http.NewRequestWithContext(ctx, r.Method, u.String(), bytes.NewReader(body))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for _, h := range forwardHeaders {
		if v := r.Header.Values(h); len(v) > 0 {
			req.Header[h] = v
		}
	}
	req.Header.Set(HeaderForwardedBy, s.nodeID)
	req.Header.Set(HeaderEpoch, strconv.FormatUint(epoch, 10))
	req.Header.Set("X-Forwarded-For", clientAddr(r))
	resp, err := s.repl.client.Do(req)
	if err != nil {
		s.metrics.forwards.WithLabelValues("unreachable").Inc()
		s.fail(w, r, fmt.Errorf("%w: %s (%s): %v", ErrMasterUnreachable, master, base, err))
		return
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		s.fail(w, r, fmt.Errorf("%w: reading the answer of %s: %v", ErrMasterUnreachable, master, err))
		return
	}
	if resp.StatusCode/100 == 2 {
		me, _ := strconv.ParseUint(resp.Header.Get(HeaderEpoch), 10, 64)
		mr, _ := strconv.ParseUint(resp.Header.Get(HeaderRevision), 10, 64)
		s.repl.trigger()
		wctx, wcancel := context.WithTimeout(r.Context(), s.cfg.forwardWait())
		ok := s.repl.waitApplied(wctx, me, mr)
		wcancel()
		if ok {
			w.Header().Set(HeaderReplication, "applied")
		} else {
			w.Header().Set(HeaderReplication, "pending")
		}
		s.metrics.forwards.WithLabelValues("ok").Inc()
	} else {
		s.metrics.forwards.WithLabelValues("refused").Inc()
	}
	for _, h := range backHeaders {
		if v := resp.Header.Values(h); len(v) > 0 {
			w.Header()[h] = v
		}
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(resp.StatusCode)
	w.Write(out)
}

// checkForwarded refuses a change forwarded to a node that is not the
// master, and makes a master that learns of a higher epoch step down.
func (s *Server) checkForwarded(r *http.Request) error {
	if r.Header.Get(HeaderForwardedBy) == "" {
		return nil
	}
	their, _ := strconv.ParseUint(r.Header.Get(HeaderEpoch), 10, 64)
	role, epoch, _ := s.repl.state()
	if their > epoch {
		s.repl.stepDown(their, "", "a forwarded change carries a higher epoch")
		role = RoleSlave
	}
	if role != RoleMaster {
		return fmt.Errorf("%w: node %s is not the master (epoch %d)", ErrMasterUnreachable, s.nodeID, epoch)
	}
	return nil
}

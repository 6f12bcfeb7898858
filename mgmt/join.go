package mgmt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/termgate/termgate/pki"
)

// Join codes share the one-time code table with proxy enrollment codes
// (hashed, replicated, single use) but are a different kind: neither is
// accepted for the other.
const (
	codeKindJoin = "join"
	// JoinCodeTTL is how long a join code is valid.
	JoinCodeTTL = time.Hour
)

// JoinRequest is the body of POST /api/v1/replication/join: a new node
// presents a one-time join code, its signing certificate (the private key
// stays with it) and where the group reaches it.
type JoinRequest struct {
	Code        string `json:"code"`
	NodeID      string `json:"node_id"`
	URL         string `json:"url"`
	DTLSAddress string `json:"dtls_address,omitempty"`
	// Signer is the PEM of the node's current token-signing certificate.
	Signer string `json:"signer"`
	// TLSTrust is the PEM the node's HTTPS certificate is verified against.
	TLSTrust string `json:"tls_trust"`
}

// JoinResponse is the master's answer: the group's state, signed, which
// the new node applies as its first snapshot.
type JoinResponse struct {
	Snapshot json.RawMessage `json:"snapshot"`
}

// CreateJoinCode creates a one-time code that lets one new management node
// join the group (valid JoinCodeTTL). Only the master makes them.
func (s *Server) CreateJoinCode(ctx context.Context) (code string, expires time.Time, err error) {
	if role, _, _ := s.repl.state(); role != RoleMaster {
		return "", time.Time{}, fmt.Errorf("%w: join codes are made by the master (this node is %s; start the first node with --role master)", ErrConflict, role)
	}
	code = "tgj_" + randomB64(24)
	expires = s.now().Add(JoinCodeTTL).Truncate(time.Second)
	err = s.st.update(func(tx *bolt.Tx) error {
		return putJSON(tx, bEnroll, codeKey(code), enrollCodeRecord{ExpiresAt: expires, CreatedBy: actorOf(ctx), Kind: codeKindJoin})
	})
	if err != nil {
		return "", time.Time{}, err
	}
	s.audit(ctx, AuditEvent{Event: "join_code.create", Actor: actorOf(ctx), OK: true, Fields: map[string]any{"expires_at": expires}})
	return code, expires, nil
}

// AcceptJoin consumes a join code, adds the node's signing certificate and
// member record to the group, and returns the signed state for it.
func (s *Server) AcceptJoin(ctx context.Context, req JoinRequest) (*JoinResponse, error) {
	role, epoch, _ := s.repl.state()
	if role != RoleMaster {
		return nil, fmt.Errorf("%w: node %s is not the master", ErrConflict, s.nodeID)
	}
	if err := validName("node", req.NodeID); err != nil {
		return nil, err
	}
	if req.NodeID == s.nodeID {
		return nil, invalidf("node id %q is the master's own", req.NodeID)
	}
	if !strings.HasPrefix(req.URL, "https://") && !strings.HasPrefix(req.URL, "http://") {
		return nil, invalidf("url %q: want https://host:port", req.URL)
	}
	certs, err := pki.ParseCertsPEM([]byte(req.Signer))
	if err != nil {
		return nil, invalidf("signer: %v", err)
	}
	c := certs[0]
	now := s.now()
	if !pki.IsTokenSigner(c) || c.Subject.CommonName != req.NodeID || now.After(c.NotAfter) || now.Before(c.NotBefore) {
		return nil, invalidf("signer: want a valid token-signing certificate whose CommonName is %q", req.NodeID)
	}
	if _, err := pki.ParseCertsPEM([]byte(req.TLSTrust)); err != nil {
		return nil, invalidf("tls_trust: %v", err)
	}
	kid := pki.KID(c)
	err = s.st.update(func(tx *bolt.Tx) error {
		k := codeKey(req.Code)
		var rec enrollCodeRecord
		if err := getJSON(tx, bEnroll, k, &rec); err != nil || rec.Kind != codeKindJoin {
			if err == nil || errors.Is(err, ErrNotFound) {
				return ErrEnrollCode
			}
			return err
		}
		if err := tx.Bucket(bEnroll).Delete(k); err != nil {
			return err
		}
		if now.After(rec.ExpiresAt) {
			return errExpiredCode
		}
		// A node that joins again replaces its earlier keys.
		recs, err := listJSON[SigningKey](tx, bSigners)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if r.NodeID == req.NodeID {
				if err := tx.Bucket(bSigners).Delete([]byte(r.KID)); err != nil {
					return err
				}
			}
		}
		sk := SigningKey{KID: kid, NodeID: req.NodeID, State: KeyCurrent, Certificate: string(pki.EncodeCertPEM(c)), NotAfter: c.NotAfter, CreatedAt: now}
		if err := putJSON(tx, bSigners, []byte(kid), sk); err != nil {
			return err
		}
		return putJSON(tx, bPeers, []byte(req.NodeID), PeerRecord{NodeID: req.NodeID, URL: strings.TrimRight(req.URL, "/"),
			DTLSAddress: req.DTLSAddress, TLSTrust: req.TLSTrust, JoinedAt: now.UTC()})
	})
	if errors.Is(err, errExpiredCode) {
		s.st.update(func(tx *bolt.Tx) error { return tx.Bucket(bEnroll).Delete(codeKey(req.Code)) })
		return nil, ErrEnrollCode
	}
	if err != nil {
		return nil, err
	}
	if err := s.reloadKeys(); err != nil {
		return nil, err
	}
	body, _, err := s.repl.signedSnapshot(epoch)
	if err != nil {
		return nil, err
	}
	s.audit(ctx, AuditEvent{Event: "replication.join", Actor: req.NodeID, OK: true, Fields: map[string]any{"node_id": req.NodeID, "url": req.URL, "kid": kid}})
	return &JoinResponse{Snapshot: body}, nil
}

func (s *Server) handleJoin(w http.ResponseWriter, r *http.Request) {
	var req JoinRequest
	if err := s.decode(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	addrKey := "join:" + clientAddr(r)
	if err := s.limiter.check(addrKey); err != nil {
		s.fail(w, r, err)
		return
	}
	resp, err := s.AcceptJoin(r.Context(), req)
	if errors.Is(err, ErrEnrollCode) {
		s.limiter.fail(addrKey, s.limiter.policy.MaxFailures)
	}
	if err != nil {
		s.audit(r.Context(), AuditEvent{Event: "replication.join", Actor: req.NodeID, Client: clientAddr(r), OK: false, Fields: map[string]any{"reason": err.Error()}})
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) handleJoinCode(w http.ResponseWriter, r *http.Request, _ *principal) {
	var empty struct{}
	if err := s.decodeOptional(w, r, &empty); err != nil {
		s.fail(w, r, err)
		return
	}
	code, exp, err := s.CreateJoinCode(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"code": code, "expires_at": exp})
}

// JoinOptions configures Join.
type JoinOptions struct {
	// DataDir is the new node's data directory; Init makes it if needed.
	DataDir string
	// Init is passed to Init (node id, HTTPS names...).
	Init InitOptions
	// MasterURL is the master's base URL, e.g. "https://mgmt-1.example.com:8443".
	MasterURL string
	// MasterCA is the PEM the master's HTTPS certificate is verified against.
	MasterCA []byte
	// Code is the one-time join code (termgate mgmt join-code on the master).
	Code string
	// AdvertiseURL is how the group reaches this node ("https://host:port").
	AdvertiseURL string
	// DTLSAddress is where clients send this node metering heartbeats ("" none).
	DTLSAddress string
}

// Join makes a management node a slave of a replication group: it
// initialises DataDir if needed, sends the node's signing certificate and
// address to the master with the one-time code, and applies the group's
// state from the answer (users, sessions, settings, every member's signing
// certificates), so that the node verifies every member's tokens at once.
// The node must be stopped (Join opens its store). Afterwards run it with
// --role slave; its admin password is the group's.
func Join(ctx context.Context, o JoinOptions) (*InitResult, error) {
	res, err := Init(o.DataDir, o.Init)
	if err != nil {
		return nil, err
	}
	s, err := Open(Config{DataDir: o.DataDir, Role: RoleSlave, Password: o.Init.Password})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	ks := s.keys.Load()
	req := JoinRequest{Code: o.Code, NodeID: s.nodeID, URL: strings.TrimRight(o.AdvertiseURL, "/"), DTLSAddress: o.DTLSAddress,
		Signer: string(pki.EncodeCertPEM(ks.current.cert)), TLSTrust: string(s.mgmtTLS)}
	c, err := NewClient(o.MasterURL, o.MasterCA)
	if err != nil {
		return nil, err
	}
	defer c.HTTP.CloseIdleConnections()
	var resp JoinResponse
	if err := c.Do(ctx, http.MethodPost, "/api/v1/replication/join", req, &resp); err != nil {
		return nil, fmt.Errorf("join %s: %w", o.MasterURL, err)
	}
	env, h, snap, err := DecodeSignedSnapshot(resp.Snapshot, s.cfg.maxSnapshot())
	if err != nil {
		return nil, fmt.Errorf("join: the master's snapshot: %w", err)
	}
	// The answer came over HTTPS verified with MasterCA, for our one-time
	// code; its signature must still verify with the signers it carries.
	ts := pki.NewTrustStore()
	for _, v := range snap.Buckets[string(bSigners)] {
		var k SigningKey
		if json.Unmarshal(v, &k) != nil {
			continue
		}
		if certs, err := pki.ParseCertsPEM([]byte(k.Certificate)); err == nil {
			ts.Add(k.KID, certs[0])
		}
	}
	if _, err := verifySignedSnapshot(env, h, ts, s.now()); err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	if !s.snapshotHasOwnKey(snap) {
		return nil, fmt.Errorf("join: the master's state lacks this node's signing key")
	}
	err = s.st.rawUpdate(func(tx *bolt.Tx) error {
		if err := archiveTx(tx, exportTx(tx), archiveMeta{ArchivedAt: s.now().UTC(), ReplacedByEpoch: h.Epoch, ReplacedByRevision: h.Revision, Reason: "join"}, s.cfg.archiveKeep()); err != nil {
			return err
		}
		if err := replaceState(tx, snap); err != nil {
			return err
		}
		return putReplMeta(tx, RoleSlave, h.Epoch, h.Master)
	})
	if err != nil {
		return nil, fmt.Errorf("join: apply the group's state: %w", err)
	}
	return res, nil
}

package mgmt

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/termgate/termgate/pki"
	"github.com/termgate/termgate/token"
)

// ownKey is one of this node's signing keys, with its private key.
type ownKey struct {
	cert *x509.Certificate
	key  crypto.Signer
	kid  string
}

// keyState is an immutable view of the signing keys, swapped atomically.
type keyState struct {
	signers  *pki.TrustStore // every published signing certificate of the group
	records  []SigningKey
	current  *ownKey
	issuer   *token.Issuer
	security Security
}

func (s *Server) signingKeyFile(kid string) string {
	return filepath.Join(s.dataDir, "signing", kid+".key")
}

// newSigningCert creates a token-signing certificate for this node (issued
// by the local CA when its key is at hand, else self-signed) and saves the
// private key under DataDir/signing (0600).
func newSigningCert(dataDir, nodeID string, ca *pki.CA, kt pki.KeyType) (*ownKey, error) {
	spec := pki.CertSpec{CommonName: nodeID, Usage: pki.UsageTokenSigning, KeyType: kt}
	var (
		c   *pki.Cert
		err error
	)
	if ca != nil && ca.Key != nil {
		c, err = ca.Issue(spec)
	} else {
		c, err = pki.SelfSigned(spec)
	}
	if err != nil {
		return nil, fmt.Errorf("create signing certificate: %w", err)
	}
	kid := pki.KID(c.Cert)
	if err := os.MkdirAll(filepath.Join(dataDir, "signing"), 0o700); err != nil {
		return nil, err
	}
	if err := pki.SaveKeyFile(filepath.Join(dataDir, "signing", kid+".key"), c.Key); err != nil {
		return nil, err
	}
	return &ownKey{cert: c.Cert, key: c.Key, kid: kid}, nil
}

func signingRecord(k *ownKey, nodeID, state string, now time.Time) SigningKey {
	return SigningKey{KID: k.kid, NodeID: nodeID, State: state, Certificate: string(pki.EncodeCertPEM(k.cert)),
		NotAfter: k.cert.NotAfter, CreatedAt: now}
}

// reloadKeys rebuilds the key view from the store. It makes sure this node
// has a current signing key whose private key is on disk (after a restore
// from an older backup the file may be gone: a new key is then created).
func (s *Server) reloadKeys() error {
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	return s.reloadKeysLocked()
}

func (s *Server) reloadKeysLocked() error {
	var (
		recs []SigningKey
		sec  Security
	)
	if err := s.st.view(func(tx *bolt.Tx) error {
		var err error
		if recs, err = listJSON[SigningKey](tx, bSigners); err != nil {
			return err
		}
		return getJSON(tx, bSettings, keySecurity, &sec)
	}); err != nil {
		return err
	}
	var cur *ownKey
	for _, r := range recs {
		if r.NodeID != s.nodeID || r.State != KeyCurrent {
			continue
		}
		k, err := s.loadOwnKey(r)
		if err != nil {
			s.log.Warn().Err(err).Str("kid", r.KID).Msg("current signing key unusable")
			continue
		}
		cur = k
	}
	if cur == nil {
		if s.readOnly {
			return fmt.Errorf("no usable signing key for node %q", s.nodeID)
		}
		k, err := newSigningCert(s.dataDir, s.nodeID, s.ca, "")
		if err != nil {
			return err
		}
		now := s.now()
		if err := s.st.update(func(tx *bolt.Tx) error {
			// Any other "current" key of this node is unusable: retire it.
			for _, r := range recs {
				if r.NodeID == s.nodeID && r.State == KeyCurrent {
					r.State, r.RemoveAfter = KeyRetired, now.Add(s.retireFor())
					if err := putJSON(tx, bSigners, []byte(r.KID), r); err != nil {
						return err
					}
				}
			}
			return putJSON(tx, bSigners, []byte(k.kid), signingRecord(k, s.nodeID, KeyCurrent, now))
		}); err != nil {
			return err
		}
		s.log.Warn().Str("kid", k.kid).Msg("created a new signing key (no usable current key)")
		return s.reloadKeysLocked()
	}
	ts := pki.NewTrustStore()
	sort.Slice(recs, func(i, j int) bool { return recs[i].CreatedAt.Before(recs[j].CreatedAt) })
	for _, r := range recs {
		certs, err := pki.ParseCertsPEM([]byte(r.Certificate))
		if err != nil {
			return fmt.Errorf("signing key %s: %w", r.KID, err)
		}
		ts.Add(r.NodeID+" "+r.State+" "+r.KID, certs[0])
	}
	iss, err := token.NewIssuer(token.IssuerConfig{NodeID: s.nodeID, Cert: cur.cert, Key: cur.key, Audience: sec.Audience, Now: s.now})
	if err != nil {
		return fmt.Errorf("token issuer: %w", err)
	}
	s.keys.Store(&keyState{signers: ts, records: recs, current: cur, issuer: iss, security: sec})
	return nil
}

func (s *Server) loadOwnKey(r SigningKey) (*ownKey, error) {
	certs, err := pki.ParseCertsPEM([]byte(r.Certificate))
	if err != nil {
		return nil, err
	}
	key, err := pki.LoadKeyFile(s.signingKeyFile(r.KID))
	if err != nil {
		return nil, err
	}
	if !pki.IsTokenSigner(certs[0]) {
		return nil, pki.ErrNotTokenSigner
	}
	return &ownKey{cert: certs[0], key: key, kid: r.KID}, nil
}

// retireFor is how long a retired key stays published on this node.
func (s *Server) retireFor() time.Duration {
	return max(maxTokenLife, s.cfg.loginTTL()+token.DefaultLeeway)
}

// maxTokenLife is how long a retired key stays published: the longest
// token or login-token lifetime plus the verifiers' leeway.
const maxTokenLife = token.MaxTTL + token.DefaultLeeway

// RotateKey creates this node's next signing key and publishes it at once
// (JWKS, trust endpoints). Signing switches to it after Config.KeyPublishDelay
// (immediately if now is true), so every verifier can learn it first; the
// previous key stays published until the last token it signed has expired,
// then it is removed. It returns the new key's record.
func (s *Server) RotateKey(ctx context.Context, now bool) (SigningKey, error) {
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	k, err := newSigningCert(s.dataDir, s.nodeID, s.ca, "")
	if err != nil {
		return SigningKey{}, err
	}
	t := s.now()
	rec := signingRecord(k, s.nodeID, KeyNext, t)
	rec.ActivateAt = t.Add(s.cfg.keyPublishDelay())
	if now {
		rec.ActivateAt = t
	}
	if err := s.st.update(func(tx *bolt.Tx) error {
		// A rotation supersedes a pending one.
		recs, err := listJSON[SigningKey](tx, bSigners)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if r.NodeID == s.nodeID && r.State == KeyNext {
				if err := tx.Bucket(bSigners).Delete([]byte(r.KID)); err != nil {
					return err
				}
				os.Remove(s.signingKeyFile(r.KID))
			}
		}
		return putJSON(tx, bSigners, []byte(k.kid), rec)
	}); err != nil {
		os.Remove(s.signingKeyFile(k.kid))
		return SigningKey{}, err
	}
	s.audit(ctx, AuditEvent{Event: "key.rotate", Actor: actorOf(ctx), OK: true, Fields: map[string]any{"kid": k.kid, "activate_at": rec.ActivateAt}})
	if now {
		if err := s.maintainKeysLocked(); err != nil {
			return rec, err
		}
		rec.State = KeyCurrent
		return rec, nil
	}
	return rec, s.reloadKeysLocked()
}

// maintainKeys promotes a due next key and removes retired keys whose
// tokens have all expired.
func (s *Server) maintainKeys() error {
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	return s.maintainKeysLocked()
}

func (s *Server) maintainKeysLocked() error {
	now := s.now()
	var changed bool
	var removed []string
	err := s.st.update(func(tx *bolt.Tx) error {
		recs, err := listJSON[SigningKey](tx, bSigners)
		if err != nil {
			return err
		}
		var promote *SigningKey
		for i, r := range recs {
			if r.NodeID == s.nodeID && r.State == KeyNext && !now.Before(r.ActivateAt) {
				promote = &recs[i]
			}
		}
		for _, r := range recs {
			if r.NodeID != s.nodeID {
				continue
			}
			switch {
			case promote != nil && r.State == KeyCurrent:
				r.State, r.RemoveAfter = KeyRetired, now.Add(s.retireFor())
				if err := putJSON(tx, bSigners, []byte(r.KID), r); err != nil {
					return err
				}
				changed = true
			case r.State == KeyRetired && !now.Before(r.RemoveAfter):
				if err := tx.Bucket(bSigners).Delete([]byte(r.KID)); err != nil {
					return err
				}
				removed = append(removed, r.KID)
				changed = true
			}
		}
		if promote != nil {
			promote.State = KeyCurrent
			changed = true
			return putJSON(tx, bSigners, []byte(promote.KID), *promote)
		}
		if !changed {
			return errNoChange
		}
		return nil
	})
	if errors.Is(err, errNoChange) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, kid := range removed {
		os.Remove(s.signingKeyFile(kid))
		s.log.Info().Str("kid", kid).Msg("removed retired signing key")
	}
	if err := s.reloadKeysLocked(); err != nil {
		return err
	}
	s.log.Info().Str("kid", s.keys.Load().current.kid).Msg("signing key state changed")
	return nil
}

// errNoChange aborts a write transaction that found nothing to do.
var errNoChange = errors.New("no change")

// SigningKeys returns every published signing key of the group.
func (s *Server) SigningKeys() []SigningKey {
	return append([]SigningKey(nil), s.keys.Load().records...)
}

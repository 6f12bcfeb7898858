package mgmt

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/termgate/termgate/pki"
)

// SnapshotFormat is the version of the signed snapshot envelope.
const SnapshotFormat = 1

// snapshotContext prefixes the signed bytes, so a snapshot signature can
// never be mistaken for a token signature (or anything else a signing key
// signs).
const snapshotContext = "termgate-snapshot-v1\x00"

// SnapshotHeader describes a signed snapshot. It is signed as the exact
// bytes carried in SignedSnapshot.Header.
type SnapshotHeader struct {
	Format   int       `json:"format"`
	Epoch    uint64    `json:"epoch"`
	Revision uint64    `json:"revision"`
	Master   string    `json:"master"` // node id of the signing master
	Created  time.Time `json:"created"`
	// PayloadSHA256 is the hex SHA-256 of Payload.
	PayloadSHA256 string `json:"payload_sha256"`
}

// SnapshotSig is one signature over the header, by one of the
// master's signing keys (a master signs with each key it holds, so that a
// slave that has not yet learnt a freshly rotated key still verifies).
type SnapshotSig struct {
	KID string `json:"kid"`
	Sig []byte `json:"sig"`
}

// SignedSnapshot is what a master pushes to
// POST /api/v1/replication/snapshot: the header (raw JSON, signed as is),
// the payload (a Snapshot as JSON) and the signatures.
type SignedSnapshot struct {
	Header     json.RawMessage `json:"header"`
	Payload    []byte          `json:"payload"`
	Signatures []SnapshotSig   `json:"signatures"`
}

func snapErr(reason, format string, a ...any) *SnapshotError {
	return &SnapshotError{Reason: reason, Detail: fmt.Sprintf(format, a...)}
}

// signedBytes is what each signature covers.
func signedBytes(header []byte) []byte {
	return append([]byte(snapshotContext), header...)
}

// signSnapshot wraps snap at epoch for master, signed by keys.
func signSnapshot(snap *Snapshot, epoch uint64, master string, keys []*ownKey, now time.Time) ([]byte, error) {
	payload, err := json.Marshal(snap)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(payload)
	h := SnapshotHeader{Format: SnapshotFormat, Epoch: epoch, Revision: snap.Revision, Master: master,
		Created: now.UTC(), PayloadSHA256: hex.EncodeToString(sum[:])}
	hb, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	env := SignedSnapshot{Header: hb, Payload: payload}
	msg := signedBytes(hb)
	for _, k := range keys {
		sig, err := signMessage(k.key, msg)
		if err != nil {
			return nil, fmt.Errorf("sign snapshot with %s: %w", k.kid, err)
		}
		env.Signatures = append(env.Signatures, SnapshotSig{KID: k.kid, Sig: sig})
	}
	if len(env.Signatures) == 0 {
		return nil, fmt.Errorf("no signing key to sign the snapshot with")
	}
	return json.Marshal(env)
}

func signMessage(key crypto.Signer, msg []byte) ([]byte, error) {
	switch key.Public().(type) {
	case ed25519.PublicKey:
		return key.Sign(rand.Reader, msg, crypto.Hash(0))
	case *ecdsa.PublicKey:
		d := sha256.Sum256(msg)
		return key.Sign(rand.Reader, d[:], crypto.SHA256)
	}
	return nil, fmt.Errorf("unsupported key type %T", key.Public())
}

func verifyMessage(c *x509.Certificate, msg, sig []byte) error {
	switch c.PublicKey.(type) {
	case ed25519.PublicKey:
		return c.CheckSignature(x509.PureEd25519, msg, sig)
	case *ecdsa.PublicKey:
		return c.CheckSignature(x509.ECDSAWithSHA256, msg, sig)
	}
	return fmt.Errorf("unsupported key type %T", c.PublicKey)
}

// DecodeSignedSnapshot parses a pushed snapshot envelope without verifying
// it: strict JSON (no unknown fields, no trailing data), at most limit
// bytes, a well-formed header whose payload hash matches, and a payload
// that decodes into a Snapshot of the same revision. It never panics on
// any input.
func DecodeSignedSnapshot(b []byte, limit int64) (*SignedSnapshot, *SnapshotHeader, *Snapshot, error) {
	if int64(len(b)) > limit {
		return nil, nil, nil, snapErr(SnapshotTooLarge, "%d bytes, the limit is %d", len(b), limit)
	}
	var env SignedSnapshot
	if err := strictUnmarshal(b, &env); err != nil {
		return nil, nil, nil, snapErr(SnapshotMalformed, "envelope: %v", err)
	}
	if len(env.Header) == 0 || len(env.Payload) == 0 {
		return nil, nil, nil, snapErr(SnapshotMalformed, "header or payload missing")
	}
	var h SnapshotHeader
	if err := strictUnmarshal(env.Header, &h); err != nil {
		return nil, nil, nil, snapErr(SnapshotMalformed, "header: %v", err)
	}
	if h.Format != SnapshotFormat {
		return nil, nil, nil, snapErr(SnapshotMalformed, "format %d, this termgate reads %d", h.Format, SnapshotFormat)
	}
	if h.Epoch == 0 || validName("node", h.Master) != nil {
		return nil, nil, nil, snapErr(SnapshotMalformed, "header lacks an epoch or a valid master")
	}
	sum := sha256.Sum256(env.Payload)
	if want, err := hex.DecodeString(h.PayloadSHA256); err != nil || !bytes.Equal(want, sum[:]) {
		return nil, nil, nil, snapErr(SnapshotMalformed, "payload does not match its hash (truncated or altered)")
	}
	if len(env.Signatures) == 0 {
		return nil, nil, nil, snapErr(SnapshotUnsigned, "the snapshot carries no signature")
	}
	if len(env.Signatures) > 16 {
		return nil, nil, nil, snapErr(SnapshotMalformed, "too many signatures")
	}
	var snap Snapshot
	if err := strictUnmarshal(env.Payload, &snap); err != nil {
		return nil, nil, nil, snapErr(SnapshotMalformed, "payload: %v", err)
	}
	if snap.Revision != h.Revision {
		return nil, nil, nil, snapErr(SnapshotMalformed, "payload revision %d, header %d", snap.Revision, h.Revision)
	}
	if snap.Schema != SchemaVersion {
		return nil, nil, nil, snapErr(SnapshotSchema, "snapshot schema %d, this store has %d", snap.Schema, SchemaVersion)
	}
	known := map[string]bool{}
	for _, b := range replicatedBuckets {
		known[string(b)] = true
	}
	for name := range snap.Buckets {
		if !known[name] {
			return nil, nil, nil, snapErr(SnapshotMalformed, "unknown bucket %q", name)
		}
	}
	return &env, &h, &snap, nil
}

// verifySignedSnapshot checks that one signature verifies with a signing
// certificate of the group that belongs to the header's master, has the
// token-signing usage and is valid at now.
func verifySignedSnapshot(env *SignedSnapshot, h *SnapshotHeader, signers *pki.TrustStore, now time.Time) (string, error) {
	msg := signedBytes(env.Header)
	for _, s := range env.Signatures {
		c, ok := signers.ByKID(s.KID)
		if !ok || !pki.IsTokenSigner(c) || c.Subject.CommonName != h.Master {
			continue
		}
		if now.Before(c.NotBefore) || now.After(c.NotAfter) {
			continue
		}
		if verifyMessage(c, msg, s.Sig) == nil {
			return s.KID, nil
		}
	}
	return "", snapErr(SnapshotBadSignature, "no signature verifies with a signing certificate of %q known to this group", h.Master)
}

// strictUnmarshal decodes exactly one JSON value with no unknown fields.
func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s", jsonErrText(err))
	}
	if dec.More() {
		return fmt.Errorf("data after the value")
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); err == nil {
		return fmt.Errorf("data after the value")
	}
	return nil
}

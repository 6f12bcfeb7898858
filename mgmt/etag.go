package mgmt

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"

	bolt "go.etcd.io/bbolt"
)

const ifMatchKey ctxKey = 1

// WithIfMatch returns a context under which a change of an object
// (PutSession, DeleteSession, PutUser, DeleteUser, UpdateSecurity) is made
// only if the object's current ETag is etag ("*": only if it exists);
// otherwise it fails with ErrPreconditionFailed. The HTTP API sets it from
// the If-Match header.
func WithIfMatch(ctx context.Context, etag string) context.Context {
	return context.WithValue(ctx, ifMatchKey, etag)
}

// etagOf is the ETag of a stored object: a hash of its stored bytes, the
// same on every node of the group (the bytes are replicated as they are),
// so an edit made anywhere since the read is detected.
func etagOf(v []byte) string {
	sum := sha256.Sum256(v)
	return `"` + hex.EncodeToString(sum[:12]) + `"`
}

// checkIfMatch enforces the If-Match of ctx on bucket/key inside tx.
func checkIfMatch(ctx context.Context, tx *bolt.Tx, bucket, key []byte) error {
	want, _ := ctx.Value(ifMatchKey).(string)
	if want == "" {
		return nil
	}
	v := tx.Bucket(bucket).Get(key)
	if v == nil {
		return fmt.Errorf("%w: %s/%s does not exist", ErrPreconditionFailed, bucket, key)
	}
	if want == "*" {
		return nil
	}
	got := etagOf(v)
	for _, w := range strings.Split(want, ",") {
		w = strings.TrimPrefix(strings.TrimSpace(w), "W/")
		if w == got {
			return nil
		}
	}
	return fmt.Errorf("%w: %s/%s is now %s", ErrPreconditionFailed, bucket, key, got)
}

// ETag returns the current ETag of a session definition ("session"), a
// user ("user") or the security settings ("security", name ignored).
func (s *Server) ETag(kind, name string) (string, error) {
	var b, k []byte
	switch kind {
	case "session":
		b, k = bSessions, []byte(name)
	case "user":
		b, k = bUsers, []byte(name)
	case "security":
		b, k = bSettings, keySecurity
	default:
		return "", invalidf("ETag kind %q: use session, user or security", kind)
	}
	var tag string
	err := s.st.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(b).Get(k)
		if v == nil {
			return ErrNotFound
		}
		tag = etagOf(v)
		return nil
	})
	return tag, err
}

func (s *Server) setETag(w http.ResponseWriter, kind, name string) {
	if tag, err := s.ETag(kind, name); err == nil {
		w.Header().Set("ETag", tag)
	}
}

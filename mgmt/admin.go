package mgmt

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ----- sessions -----

// Sessions lists every session definition, by name.
func (s *Server) Sessions(ctx context.Context) ([]SessionDef, error) {
	var out []SessionDef
	err := s.st.view(func(tx *bolt.Tx) error {
		var err error
		out, err = listJSON[SessionDef](tx, bSessions)
		return err
	})
	if out == nil {
		out = []SessionDef{}
	}
	return out, err
}

// Session returns one session definition.
func (s *Server) Session(ctx context.Context, name string) (SessionDef, error) {
	var d SessionDef
	err := s.st.view(func(tx *bolt.Tx) error { return getJSON(tx, bSessions, []byte(name), &d) })
	if err != nil {
		return d, fmt.Errorf("session %q: %w", name, err)
	}
	return d, nil
}

// PutSession creates or replaces a session definition.
func (s *Server) PutSession(ctx context.Context, name string, def SessionDef) error {
	if err := validName("session", name); err != nil {
		return err
	}
	def.Name = name
	if err := def.normalize(); err != nil {
		return err
	}
	var before *SessionDef
	err := s.st.update(func(tx *bolt.Tx) error {
		if err := checkIfMatch(ctx, tx, bSessions, []byte(name)); err != nil {
			return err
		}
		var old SessionDef
		if err := getJSON(tx, bSessions, []byte(name), &old); err == nil {
			before = &old
		}
		return putJSON(tx, bSessions, []byte(name), def)
	})
	if err != nil {
		return err
	}
	s.audit(ctx, AuditEvent{Event: "session.put", Actor: actorOf(ctx), OK: true, Fields: map[string]any{"name": name, "before": before, "after": def}})
	return nil
}

// DeleteSession removes a session definition.
func (s *Server) DeleteSession(ctx context.Context, name string) error {
	var before SessionDef
	err := s.st.update(func(tx *bolt.Tx) error {
		if err := checkIfMatch(ctx, tx, bSessions, []byte(name)); err != nil {
			return err
		}
		if err := getJSON(tx, bSessions, []byte(name), &before); err != nil {
			return err
		}
		return tx.Bucket(bSessions).Delete([]byte(name))
	})
	if err != nil {
		return fmt.Errorf("session %q: %w", name, err)
	}
	s.audit(ctx, AuditEvent{Event: "session.delete", Actor: actorOf(ctx), OK: true, Fields: map[string]any{"name": name, "before": before}})
	return nil
}

// ----- users -----

// Users lists every user (without password hashes).
func (s *Server) Users(ctx context.Context) ([]User, error) {
	var recs []userRecord
	err := s.st.view(func(tx *bolt.Tx) error {
		var err error
		recs, err = listJSON[userRecord](tx, bUsers)
		return err
	})
	out := make([]User, 0, len(recs))
	for _, r := range recs {
		out = append(out, r.User)
	}
	return out, err
}

// User returns one user (without password hash).
func (s *Server) User(ctx context.Context, name string) (User, error) {
	var r userRecord
	err := s.st.view(func(tx *bolt.Tx) error { return getJSON(tx, bUsers, []byte(name), &r) })
	if err != nil {
		return User{}, fmt.Errorf("user %q: %w", name, err)
	}
	return r.User, nil
}

// PutUser creates or updates a user. An empty spec.Password keeps the
// current password (a new user needs one). Changing the password ends the
// user's existing logins. The last admin cannot be demoted.
func (s *Server) PutUser(ctx context.Context, name string, spec UserSpec) error {
	if err := validName("user", name); err != nil {
		return err
	}
	var exists bool
	s.st.view(func(tx *bolt.Tx) error { exists = tx.Bucket(bUsers).Get([]byte(name)) != nil; return nil })
	if err := spec.validate(!exists); err != nil {
		return err
	}
	var hash string
	if spec.Password != "" {
		var err error
		if hash, err = s.hasher.hash(ctx, spec.Password); err != nil {
			return err
		}
	}
	now := s.now()
	var before *User
	var after User
	err := s.st.update(func(tx *bolt.Tx) error {
		if err := checkIfMatch(ctx, tx, bUsers, []byte(name)); err != nil {
			return err
		}
		var rec userRecord
		err := getJSON(tx, bUsers, []byte(name), &rec)
		switch {
		case errors.Is(err, ErrNotFound):
			if hash == "" {
				return invalidf("password is required for a new user")
			}
		case err != nil:
			return err
		default:
			b := rec.User
			before = &b
			if rec.Role == RoleAdmin && spec.Role != RoleAdmin {
				if n, err := countAdmins(tx); err != nil {
					return err
				} else if n <= 1 {
					return fmt.Errorf("%w: %q is the last admin", ErrConflict, name)
				}
			}
		}
		rec.User = User{Name: name, Role: spec.Role, Sessions: spec.Sessions, Destinations: spec.Destinations, UpdatedAt: now}
		if hash != "" {
			rec.PasswordHash, rec.PasswordChangedAt = hash, now.Unix()
		}
		after = rec.User
		return putJSON(tx, bUsers, []byte(name), rec)
	})
	if err != nil {
		return err
	}
	s.audit(ctx, AuditEvent{Event: "user.put", Actor: actorOf(ctx), OK: true, Fields: map[string]any{
		"name": name, "before": before, "after": after, "password_changed": hash != ""}})
	return nil
}

// GrantSessions adds session grants to an existing user (keeping the others).
func (s *Server) GrantSessions(ctx context.Context, user string, sessions ...string) error {
	u, err := s.User(ctx, user)
	if err != nil {
		return err
	}
	for _, n := range sessions {
		if !slices.Contains(u.Sessions, n) {
			u.Sessions = append(u.Sessions, n)
		}
	}
	return s.PutUser(ctx, user, UserSpec{Role: u.Role, Sessions: u.Sessions, Destinations: u.Destinations})
}

func countAdmins(tx *bolt.Tx) (int, error) {
	us, err := listJSON[userRecord](tx, bUsers)
	n := 0
	for _, u := range us {
		if u.Role == RoleAdmin {
			n++
		}
	}
	return n, err
}

// DeleteUser removes a user; the last admin cannot be removed.
func (s *Server) DeleteUser(ctx context.Context, name string) error {
	var before userRecord
	err := s.st.update(func(tx *bolt.Tx) error {
		if err := checkIfMatch(ctx, tx, bUsers, []byte(name)); err != nil {
			return err
		}
		if err := getJSON(tx, bUsers, []byte(name), &before); err != nil {
			return err
		}
		if before.Role == RoleAdmin {
			if n, err := countAdmins(tx); err != nil {
				return err
			} else if n <= 1 {
				return fmt.Errorf("%w: %q is the last admin", ErrConflict, name)
			}
		}
		return tx.Bucket(bUsers).Delete([]byte(name))
	})
	if err != nil {
		return fmt.Errorf("user %q: %w", name, err)
	}
	s.audit(ctx, AuditEvent{Event: "user.delete", Actor: actorOf(ctx), OK: true, Fields: map[string]any{"name": name, "before": before.User}})
	return nil
}

// ----- API keys -----

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// CreateAPIKey creates an API key for the given destinations. The key
// string ("tgk_<id>_<secret>") is returned once; only its SHA-256 is stored
// (the secret has 256 bits of entropy, so a fast hash suffices).
func (s *Server) CreateAPIKey(ctx context.Context, spec APIKeySpec) (APIKey, string, error) {
	if spec.Name == "" {
		spec.Name = "api-key"
	}
	if err := validName("API key", spec.Name); err != nil {
		return APIKey{}, "", err
	}
	if err := validDestinations(spec.Destinations); err != nil {
		return APIKey{}, "", err
	}
	if spec.Destinations == nil {
		spec.Destinations = []string{}
	}
	idb := make([]byte, 10)
	if _, err := rand.Read(idb); err != nil {
		return APIKey{}, "", err
	}
	id := strings.ToLower(b32.EncodeToString(idb)) // 16 characters, no '_'
	key := apiKeyPrefix + id + "_" + randomB64(32)
	sum := sha256.Sum256([]byte(key))
	rec := apiKeyRecord{APIKey: APIKey{ID: id, Name: spec.Name, Destinations: spec.Destinations, CreatedAt: s.now(), CreatedBy: actorOf(ctx)}, Hash: hex.EncodeToString(sum[:])}
	if err := s.st.update(func(tx *bolt.Tx) error { return putJSON(tx, bAPIKeys, []byte(id), rec) }); err != nil {
		return APIKey{}, "", err
	}
	s.audit(ctx, AuditEvent{Event: "api_key.create", Actor: actorOf(ctx), OK: true, Fields: map[string]any{"after": rec.APIKey}})
	return rec.APIKey, key, nil
}

// APIKeys lists the API keys (never their secrets).
func (s *Server) APIKeys(ctx context.Context) ([]APIKey, error) {
	var recs []apiKeyRecord
	err := s.st.view(func(tx *bolt.Tx) error {
		var err error
		recs, err = listJSON[apiKeyRecord](tx, bAPIKeys)
		return err
	})
	out := make([]APIKey, 0, len(recs))
	for _, r := range recs {
		out = append(out, r.APIKey)
	}
	return out, err
}

// DeleteAPIKey revokes an API key.
func (s *Server) DeleteAPIKey(ctx context.Context, id string) error {
	var before apiKeyRecord
	err := s.st.update(func(tx *bolt.Tx) error {
		if err := getJSON(tx, bAPIKeys, []byte(id), &before); err != nil {
			return err
		}
		return tx.Bucket(bAPIKeys).Delete([]byte(id))
	})
	if err != nil {
		return fmt.Errorf("API key %q: %w", id, err)
	}
	s.audit(ctx, AuditEvent{Event: "api_key.delete", Actor: actorOf(ctx), OK: true, Fields: map[string]any{"before": before.APIKey}})
	return nil
}

// ----- security settings -----

// Security returns the security settings.
func (s *Server) Security(ctx context.Context) (Security, error) {
	var sec Security
	err := s.st.view(func(tx *bolt.Tx) error { return getJSON(tx, bSettings, keySecurity, &sec) })
	return sec, err
}

// UpdateSecurity applies a patch to the security settings and returns the result.
func (s *Server) UpdateSecurity(ctx context.Context, p SecurityPatch) (Security, error) {
	var before, after Security
	err := s.st.update(func(tx *bolt.Tx) error {
		if err := checkIfMatch(ctx, tx, bSettings, keySecurity); err != nil {
			return err
		}
		if err := getJSON(tx, bSettings, keySecurity, &before); err != nil {
			return err
		}
		var err error
		if after, err = p.apply(before); err != nil {
			return err
		}
		return putJSON(tx, bSettings, keySecurity, after)
	})
	if err != nil {
		return Security{}, err
	}
	s.audit(ctx, AuditEvent{Event: "security.put", Actor: actorOf(ctx), OK: true, Fields: map[string]any{"before": before, "after": after}})
	return after, s.reloadKeys()
}

// ----- handlers -----

func (s *Server) handleAdminSessions(w http.ResponseWriter, r *http.Request, _ *principal) {
	out, err := s.Sessions(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessions": out})
}

func (s *Server) handleAdminSessionGet(w http.ResponseWriter, r *http.Request, _ *principal) {
	d, err := s.Session(r.Context(), r.PathValue("name"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.setETag(w, "session", d.Name)
	writeJSON(w, http.StatusOK, d)
}

func (s *Server) handleAdminSessionPut(w http.ResponseWriter, r *http.Request, _ *principal) {
	var d SessionDef
	if err := s.decode(w, r, &d); err != nil {
		s.fail(w, r, err)
		return
	}
	name := r.PathValue("name")
	if err := s.PutSession(r.Context(), name, d); err != nil {
		s.fail(w, r, err)
		return
	}
	d, _ = s.Session(r.Context(), name)
	s.setETag(w, "session", name)
	writeJSON(w, http.StatusOK, d)
}

func (s *Server) handleAdminSessionDelete(w http.ResponseWriter, r *http.Request, _ *principal) {
	if err := s.DeleteSession(r.Context(), r.PathValue("name")); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleAdminUsers(w http.ResponseWriter, r *http.Request, _ *principal) {
	out, err := s.Users(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": out})
}

func (s *Server) handleAdminUserGet(w http.ResponseWriter, r *http.Request, _ *principal) {
	u, err := s.User(r.Context(), r.PathValue("name"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.setETag(w, "user", u.Name)
	writeJSON(w, http.StatusOK, u)
}

func (s *Server) handleAdminUserPut(w http.ResponseWriter, r *http.Request, _ *principal) {
	var spec UserSpec
	if err := s.decode(w, r, &spec); err != nil {
		s.fail(w, r, err)
		return
	}
	name := r.PathValue("name")
	if err := s.PutUser(r.Context(), name, spec); err != nil {
		s.fail(w, r, err)
		return
	}
	u, _ := s.User(r.Context(), name)
	s.setETag(w, "user", name)
	writeJSON(w, http.StatusOK, u)
}

func (s *Server) handleAdminUserDelete(w http.ResponseWriter, r *http.Request, _ *principal) {
	if err := s.DeleteUser(r.Context(), r.PathValue("name")); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// APIKeyCreated is the answer of POST /api/v1/admin/api-keys; Key is shown only here.
type APIKeyCreated struct {
	APIKey
	Key string `json:"key"`
}

func (s *Server) handleAdminAPIKeys(w http.ResponseWriter, r *http.Request, _ *principal) {
	out, err := s.APIKeys(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"api_keys": out})
}

func (s *Server) handleAdminAPIKeyCreate(w http.ResponseWriter, r *http.Request, _ *principal) {
	var spec APIKeySpec
	if err := s.decode(w, r, &spec); err != nil {
		s.fail(w, r, err)
		return
	}
	k, key, err := s.CreateAPIKey(r.Context(), spec)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, APIKeyCreated{APIKey: k, Key: key})
}

func (s *Server) handleAdminAPIKeyDelete(w http.ResponseWriter, r *http.Request, _ *principal) {
	if err := s.DeleteAPIKey(r.Context(), r.PathValue("id")); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleAdminSecurityGet(w http.ResponseWriter, r *http.Request, _ *principal) {
	sec, err := s.Security(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.setETag(w, "security", "")
	writeJSON(w, http.StatusOK, sec)
}

func (s *Server) handleAdminSecurityPut(w http.ResponseWriter, r *http.Request, _ *principal) {
	var p SecurityPatch
	if err := s.decode(w, r, &p); err != nil {
		s.fail(w, r, err)
		return
	}
	sec, err := s.UpdateSecurity(r.Context(), p)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.setETag(w, "security", "")
	writeJSON(w, http.StatusOK, sec)
}

func (s *Server) handleAdminProxies(w http.ResponseWriter, r *http.Request, _ *principal) {
	ps, err := s.Proxies(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"proxies": ps})
}

func (s *Server) handleAdminProxyDelete(w http.ResponseWriter, r *http.Request, _ *principal) {
	if err := s.RemoveProxy(r.Context(), r.PathValue("id")); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// EnrollCode is the answer of POST /api/v1/admin/enroll-codes.
type EnrollCode struct {
	Code      string `json:"code"`
	ExpiresAt string `json:"expires_at"`
}

func (s *Server) handleAdminEnrollCode(w http.ResponseWriter, r *http.Request, _ *principal) {
	var empty struct{}
	if err := s.decodeOptional(w, r, &empty); err != nil {
		s.fail(w, r, err)
		return
	}
	code, exp, err := s.CreateEnrollCode(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"code": code, "expires_at": exp})
}

func (s *Server) handleAdminSigningKeys(w http.ResponseWriter, r *http.Request, _ *principal) {
	writeJSON(w, http.StatusOK, map[string]any{"signing_keys": s.SigningKeys()})
}

// RotateKeyRequest is the optional body of POST /api/v1/admin/rotate-key.
type RotateKeyRequest struct {
	// Now switches signing to the new key at once instead of after the
	// publish delay (proxies that have not refreshed their trust yet will
	// refuse the new tokens until they do).
	Now bool `json:"now"`
}

func (s *Server) handleAdminRotateKey(w http.ResponseWriter, r *http.Request, _ *principal) {
	var req RotateKeyRequest
	if err := s.decodeOptional(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	k, err := s.RotateKey(r.Context(), req.Now)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, k)
}

func (s *Server) handleAdminCheckProxies(w http.ResponseWriter, r *http.Request, _ *principal) {
	rep := s.CheckProxies(r.Context())
	writeJSON(w, http.StatusOK, rep)
}

func (s *Server) handleAdminBackup(w http.ResponseWriter, r *http.Request, _ *principal) {
	var empty struct{}
	if err := s.decodeOptional(w, r, &empty); err != nil {
		s.fail(w, r, err)
		return
	}
	rc := http.NewResponseController(w)
	rc.SetWriteDeadline(time.Time{}) // a large store may take longer than WriteTimeout
	err := s.st.view(func(tx *bolt.Tx) error {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.FormatInt(tx.Size(), 10))
		w.Header().Set("Content-Disposition", `attachment; filename="termgate-mgmt-`+s.nodeID+`.db"`)
		w.WriteHeader(http.StatusOK)
		_, err := tx.WriteTo(w)
		return err
	})
	if err != nil {
		s.log.Error().Err(err).Msg("backup")
		panic(http.ErrAbortHandler) // the client sees a truncated body, never a "complete" bad file
	}
	s.audit(r.Context(), AuditEvent{Event: "store.backup", Actor: actorOf(r.Context()), Client: clientAddr(r), OK: true})
}

func (s *Server) handleAdminAudit(w http.ResponseWriter, r *http.Request, _ *principal) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		writeError(w, apiErr(http.StatusBadRequest, CodeBadRequest, "malformed query string"))
		return
	}
	f, err := ParseAuditFilter(q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	evs, more, err := s.AuditEvents(f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, AuditPage{Events: evs, More: more})
}

// AuditPage is the answer of GET /api/v1/admin/audit: the matching events,
// newest first, and whether older ones match too (raise limit or narrow
// the filter to see them).
type AuditPage struct {
	Events []AuditEvent `json:"events"`
	More   bool         `json:"more"`
}

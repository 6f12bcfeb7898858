package mgmt

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/termgate/termgate/internal/obs"
	"github.com/termgate/termgate/webui"
)

// Cookies of a browser login.
const (
	SessionCookie = "tg_session" // the login token; HttpOnly
	CSRFCookie    = "tg_csrf"    // double-submit token, echoed in CSRFHeader
	CSRFHeader    = "X-CSRF-Token"
)

// Handler returns the HTTP API (what New serves over HTTPS).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	h := func(pattern string, f http.HandlerFunc) { mux.HandleFunc(pattern, f) }
	// public
	h("POST /api/v1/login", s.handleLogin)
	h("GET /.well-known/jwks.json", s.handleJWKS)
	h("GET /api/v1/trust/mgmt.pem", s.handleTrustMgmt)
	h("GET /api/v1/trust/proxy.pem", s.handleTrustProxy)
	h("POST /api/v1/enroll", s.handleEnroll)
	h("POST /api/v1/replication/snapshot", s.handleSnapshotPush)
	h("POST /api/v1/replication/join", s.handleJoin)
	h("GET /healthz", s.handleHealth)
	h("GET /readyz", s.handleReady)
	mux.Handle("GET /metrics", obs.MetricsHandler(s.metrics.reg))
	// any authenticated caller
	h("POST /api/v1/login/refresh", s.authed(s.handleRefresh))
	h("POST /api/v1/logout", s.authed(s.handleLogout))
	h("GET /api/v1/me", s.authed(s.handleMe))
	h("GET /api/v1/sessions", s.authed(s.handleSessions))
	h("POST /api/v1/sessions/{name}/launch", s.authed(s.handleLaunch))
	h("POST /api/v1/tokens", s.authed(s.handleTokens))
	// admin
	h("GET /api/v1/admin/sessions", s.admin(s.handleAdminSessions))
	h("GET /api/v1/admin/sessions/{name}", s.admin(s.handleAdminSessionGet))
	h("PUT /api/v1/admin/sessions/{name}", s.admin(s.handleAdminSessionPut))
	h("DELETE /api/v1/admin/sessions/{name}", s.admin(s.handleAdminSessionDelete))
	h("GET /api/v1/admin/users", s.admin(s.handleAdminUsers))
	h("GET /api/v1/admin/users/{name}", s.admin(s.handleAdminUserGet))
	h("PUT /api/v1/admin/users/{name}", s.admin(s.handleAdminUserPut))
	h("DELETE /api/v1/admin/users/{name}", s.admin(s.handleAdminUserDelete))
	h("GET /api/v1/admin/api-keys", s.admin(s.handleAdminAPIKeys))
	h("POST /api/v1/admin/api-keys", s.admin(s.handleAdminAPIKeyCreate))
	h("DELETE /api/v1/admin/api-keys/{id}", s.admin(s.handleAdminAPIKeyDelete))
	h("GET /api/v1/admin/security", s.admin(s.handleAdminSecurityGet))
	h("PUT /api/v1/admin/security", s.admin(s.handleAdminSecurityPut))
	h("GET /api/v1/admin/proxies", s.admin(s.handleAdminProxies))
	h("DELETE /api/v1/admin/proxies/{id}", s.admin(s.handleAdminProxyDelete))
	h("POST /api/v1/admin/enroll-codes", s.admin(s.handleAdminEnrollCode))
	h("GET /api/v1/admin/signing-keys", s.admin(s.handleAdminSigningKeys))
	h("POST /api/v1/admin/rotate-key", s.admin(s.handleAdminRotateKey))
	h("GET /api/v1/admin/check-proxies", s.admin(s.handleAdminCheckProxies))
	h("POST /api/v1/admin/backup", s.admin(s.handleAdminBackup))
	h("GET /api/v1/admin/audit", s.admin(s.handleAdminAudit))
	h("GET /api/v1/admin/replication", s.admin(s.handleReplicationStatus))
	h("POST /api/v1/admin/replication/promote", s.admin(s.handlePromote))
	h("POST /api/v1/admin/replication/join-codes", s.admin(s.handleJoinCode))
	h("GET /api/v1/admin/archive", s.admin(s.handleArchiveList))
	h("GET /api/v1/admin/archive/{revision}", s.admin(s.handleArchiveShow))
	h("POST /api/v1/admin/archive/{revision}/restore", s.admin(s.handleArchiveRestore))
	h("GET /api/v1/admin/metering", s.admin(s.handleMeteringReport))
	h("GET /api/v1/admin/metering/records", s.admin(s.handleMeteringRecords))
	// the browser console (webui sets its own Content-Security-Policy)
	ui := webui.Handler(webui.Options{ProxyAddress: s.cfg.ProxyAddress, Logger: s.log.With().Str("component", "webui").Logger()})
	for _, p := range webui.Prefixes {
		mux.Handle(p, ui)
		mux.Handle(strings.TrimSuffix(p, "/"), ui) // redirects to p
	}
	h("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, webui.AppPrefix, http.StatusFound)
	})
	h("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, apiErr(http.StatusNotFound, CodeNotFound, "no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	return s.wrap(mux)
}

type statusWriter struct {
	http.ResponseWriter
	code int
	s    *Server
}

func (w *statusWriter) WriteHeader(c int) {
	if w.code == 0 {
		w.code = c
		if w.s != nil {
			// The state after the request: a slave that forwarded a change
			// waits for this revision to come back in a snapshot.
			h := w.Header()
			if h.Get(HeaderRevision) == "" {
				_, epoch, _ := w.s.repl.state()
				h.Set(HeaderRevision, strconv.FormatUint(w.s.st.revision(), 10))
				h.Set(HeaderEpoch, strconv.FormatUint(epoch, 10))
			}
		}
	}
	w.ResponseWriter.WriteHeader(c)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// wrap adds the security headers, panic recovery and request metrics.
func (s *Server) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, s: s}
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Strict-Transport-Security", "max-age=31536000")
		hd.Set("X-Frame-Options", "DENY")
		if !consolePath(r.URL.Path) {
			// The console's pages carry their own policy and caching.
			hd.Set("Cache-Control", "no-store")
			hd.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error().Interface("panic", p).Str("path", r.URL.Path).Msg("handler panic")
				if sw.code == 0 {
					writeError(sw, apiErr(http.StatusInternalServerError, CodeInternal, "internal error"))
				}
			}
			s.metrics.requests.WithLabelValues(strconv.Itoa(sw.code)).Inc()
		}()
		if forwarded(r) {
			if role, _, _ := s.repl.state(); role == RoleSlave {
				s.forward(sw, r, nil)
				return
			}
			if err := s.checkForwarded(r); err != nil {
				s.fail(sw, r, err)
				return
			}
		}
		next.ServeHTTP(sw, r)
	})
}

// consolePath reports whether the browser console (package webui) answers path.
func consolePath(path string) bool {
	for _, p := range webui.Prefixes {
		if strings.HasPrefix(path, p) || path == strings.TrimSuffix(p, "/") {
			return true
		}
	}
	return false
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"internal error"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, ae *APIError) {
	var body errorBody
	body.Error.Code, body.Error.Message = ae.Code, ae.Message
	if ae.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(ae.RetryAfter))
	}
	if ae.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="termgate"`)
	}
	writeJSON(w, ae.Status, body)
}

// fail logs an internal error's detail and answers with its API form.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	ae := toAPIError(err)
	if ae.Status >= 500 && !errors.Is(err, ErrStorageFull) { // the store logs a full disk once
		s.log.Error().Err(err).Str("method", r.Method).Str("path", r.URL.Path).Msg("request failed")
	}
	writeError(w, ae)
}

// DecodeJSON decodes exactly one JSON object from r into v, strictly:
// unknown fields, trailing data and bodies over limit bytes are errors. It
// returns an *APIError (400 invalid_json or 413 too_large).
func DecodeJSON(r io.Reader, v any, limit int64) error {
	lr := &io.LimitedReader{R: r, N: limit + 1}
	b, err := io.ReadAll(lr)
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
	return decodeStrict(b, v)
}

func decodeStrict(b []byte, v any) error {
	trimmed := bytes.TrimSpace(b)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return apiErr(http.StatusBadRequest, CodeInvalidJSON, "request body must be one JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return apiErr(http.StatusBadRequest, CodeInvalidJSON, "invalid JSON: %s", jsonErrText(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return apiErr(http.StatusBadRequest, CodeInvalidJSON, "invalid JSON: data after the object")
	}
	return nil
}

// jsonErrText keeps error messages short and free of request content.
func jsonErrText(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %q must be %s", te.Field, te.Type)
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return strings.TrimPrefix(err.Error(), "json: ")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end of input"
	}
	return "malformed"
}

// decode reads the request body into v (strict, capped).
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) error {
	return DecodeJSON(http.MaxBytesReader(w, r.Body, s.cfg.maxBody()), v, s.cfg.maxBody())
}

// decodeOptional is decode, but an empty body leaves v unchanged.
func (s *Server) decodeOptional(w http.ResponseWriter, r *http.Request, v any) error {
	limit := s.cfg.maxBody()
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return apiErr(http.StatusRequestEntityTooLarge, CodeTooLarge, "request body larger than %d bytes", limit)
		}
		return apiErr(http.StatusBadRequest, CodeBadRequest, "read request body: %v", err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	return decodeStrict(b, v)
}

func clientAddr(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

// principal is an authenticated caller.
type principal struct {
	kind         string // "user" or "apikey"
	name         string // user name, or "apikey:<id>"
	keyName      string // an API key's name
	role         string
	sessions     []string
	destinations []string
	claims       *loginClaims // login token, for users
	viaCookie    bool
}

// API keys: "tgk_<id>_<secret>", id 16 base32 characters, secret 32 random bytes.
const apiKeyPrefix = "tgk_"

func (s *Server) authenticate(r *http.Request) (*principal, error) {
	var tok string
	viaCookie := false
	if a := r.Header.Get("Authorization"); a != "" {
		scheme, rest, ok := strings.Cut(a, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || rest == "" {
			return nil, fmt.Errorf("%w: Authorization must be \"Bearer <token>\"", ErrUnauthorized)
		}
		tok = strings.TrimSpace(rest)
	} else if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
		tok, viaCookie = c.Value, true
	} else {
		return nil, fmt.Errorf("%w: log in first (POST /api/v1/login) and send the token as a Bearer token", ErrUnauthorized)
	}
	if strings.HasPrefix(tok, apiKeyPrefix) && !viaCookie {
		return s.authAPIKey(tok)
	}
	c, err := s.parseLogin(tok)
	if err != nil {
		return nil, err
	}
	p := &principal{kind: "user", name: c.Subject, claims: c, viaCookie: viaCookie}
	err = s.st.view(func(tx *bolt.Tx) error {
		if tx.Bucket(bRevoked).Get([]byte(c.ID)) != nil {
			return fmt.Errorf("%w: login token was revoked (logged out)", ErrUnauthorized)
		}
		var u userRecord
		if err := getJSON(tx, bUsers, []byte(c.Subject), &u); err != nil {
			if errors.Is(err, ErrNotFound) {
				return fmt.Errorf("%w: user no longer exists", ErrUnauthorized)
			}
			return err
		}
		if u.PasswordChangedAt > c.AuthTime {
			return fmt.Errorf("%w: password changed since this login", ErrUnauthorized)
		}
		p.role, p.sessions, p.destinations = u.Role, u.Sessions, u.Destinations
		return nil
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

func (s *Server) authAPIKey(key string) (*principal, error) {
	rest := strings.TrimPrefix(key, apiKeyPrefix)
	id, _, ok := strings.Cut(rest, "_")
	if !ok || len(id) != 16 {
		return nil, fmt.Errorf("%w: malformed API key", ErrUnauthorized)
	}
	var rec apiKeyRecord
	err := s.st.view(func(tx *bolt.Tx) error { return getJSON(tx, bAPIKeys, []byte(id), &rec) })
	sum := sha256.Sum256([]byte(key))
	want, _ := hex.DecodeString(rec.Hash)
	if err != nil || subtle.ConstantTimeCompare(sum[:], want) != 1 {
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: unknown or revoked API key", ErrUnauthorized)
	}
	return &principal{kind: "apikey", name: "apikey:" + id, keyName: rec.Name, role: RoleUser, sessions: nil, destinations: rec.Destinations}, nil
}

type authedHandler func(w http.ResponseWriter, r *http.Request, p *principal)

// authed authenticates the caller; a cookie-authenticated request that
// changes state must carry the CSRF header (double-submit, bound to the
// login token).
func (s *Server) authed(h authedHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authenticate(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if p.viaCookie && r.Method != http.MethodGet && r.Method != http.MethodHead {
			c, _ := r.Cookie(CSRFCookie)
			cv := ""
			if c != nil {
				cv = c.Value
			}
			if !csrfOK(p.claims, cv, r.Header.Get(CSRFHeader)) {
				writeError(w, apiErr(http.StatusForbidden, CodeForbidden, "cookie-authenticated requests that change state need the %s header equal to the %s cookie", CSRFHeader, CSRFCookie))
				return
			}
		}
		ctx := WithActor(r.Context(), p.name)
		if im := r.Header.Get("If-Match"); im != "" {
			ctx = WithIfMatch(ctx, im)
		}
		r = r.WithContext(ctx)
		h(w, r, p)
	}
}

func (s *Server) admin(h authedHandler) http.HandlerFunc {
	return s.authed(func(w http.ResponseWriter, r *http.Request, p *principal) {
		if p.kind != "user" || p.role != RoleAdmin {
			writeError(w, apiErr(http.StatusForbidden, CodeForbidden, "the admin API needs a user with role admin"))
			return
		}
		h(w, r, p)
	})
}

// Me is the answer of GET /api/v1/me: who the caller is. For a login
// (token or cookie) Name is the user, Role its role ("admin" or "user")
// and ExpiresAt the login token's expiry; for an API key Name is the key's
// name, Role is RoleAPIKey and ExpiresAt is absent (keys live until revoked).
type Me struct {
	Name      string     `json:"name"`
	Role      string     `json:"role"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// RoleAPIKey is the role GET /api/v1/me reports for an API key.
const RoleAPIKey = "api-key"

func (s *Server) handleMe(w http.ResponseWriter, r *http.Request, p *principal) {
	if p.kind == "apikey" {
		writeJSON(w, http.StatusOK, Me{Name: p.keyName, Role: RoleAPIKey})
		return
	}
	me := Me{Name: p.name, Role: p.role}
	if p.claims != nil && p.claims.ExpiresAt != nil {
		exp := p.claims.ExpiresAt.Time.UTC()
		me.ExpiresAt = &exp
	}
	writeJSON(w, http.StatusOK, me)
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "node": s.nodeID})
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ks := s.keys.Load()
	if ks == nil || ks.current == nil {
		writeError(w, apiErr(http.StatusServiceUnavailable, CodeUnavailable, "no signing key"))
		return
	}
	if err := s.st.view(func(tx *bolt.Tx) error { return nil }); err != nil {
		writeError(w, apiErr(http.StatusServiceUnavailable, CodeUnavailable, "store unavailable"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "node": s.nodeID, "revision": s.st.revision(), "kid": ks.current.kid})
}

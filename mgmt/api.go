package mgmt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/termgate/termgate/token"
)

// LoginRequest is the body of POST /api/v1/login.
type LoginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// TokenResponse is the answer of login, refresh and POST /api/v1/tokens.
type TokenResponse struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	var req LoginRequest
	if err := s.decode(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	client := clientAddr(r)
	tok, exp, csrf, err := s.Login(r.Context(), req.Username, req.Password, client)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.setLoginCookies(w, tok, csrf, exp)
	writeJSON(w, http.StatusOK, TokenResponse{Token: tok, ExpiresAt: exp})
}

func (s *Server) setLoginCookies(w http.ResponseWriter, tok, csrf string, exp time.Time) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: tok, Path: "/", Expires: exp, HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	http.SetCookie(w, &http.Cookie{Name: CSRFCookie, Value: csrf, Path: "/", Expires: exp, Secure: true, SameSite: http.SameSiteStrictMode})
}

// Login checks a user's password (rate-limited per user and per client
// address) and returns a login token, its expiry and the CSRF token bound
// to it (for cookie use).
func (s *Server) Login(ctx context.Context, user, password, client string) (tok string, exp time.Time, csrf string, err error) {
	userKey, addrKey := "user:"+user, "addr:"+client
	if err := s.limiter.check(userKey, addrKey); err != nil {
		s.metrics.logins.WithLabelValues("locked").Inc()
		s.audit(ctx, AuditEvent{Event: "login", Actor: user, Client: client, OK: false, Fields: map[string]any{"reason": "locked"}})
		return "", time.Time{}, "", err
	}
	if len(user) > 64 || len(password) > 1024 {
		return "", time.Time{}, "", fmt.Errorf("%w: user name or password too long", ErrUnauthorized)
	}
	var u userRecord
	lookupErr := s.st.view(func(tx *bolt.Tx) error { return getJSON(tx, bUsers, []byte(user), &u) })
	if lookupErr != nil && !errors.Is(lookupErr, ErrNotFound) {
		return "", time.Time{}, "", lookupErr
	}
	hash := u.PasswordHash
	if lookupErr != nil {
		hash = s.dummyHash // an unknown user costs as much time as a known one
	}
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	ok, err := s.hasher.verify(hctx, password, hash)
	cancel()
	if err != nil && !errors.Is(err, ErrRateLimited) {
		s.log.Error().Err(err).Str("user", user).Msg("password hash unusable")
	} else if err != nil {
		return "", time.Time{}, "", err
	}
	if !ok || lookupErr != nil {
		s.limiter.fail(userKey, s.limiter.policy.MaxFailures)
		s.limiter.fail(addrKey, s.limiter.policy.MaxAddrFailures)
		s.metrics.logins.WithLabelValues("failed").Inc()
		s.audit(ctx, AuditEvent{Event: "login", Actor: user, Client: client, OK: false, Fields: map[string]any{"reason": "bad credentials"}})
		return "", time.Time{}, "", fmt.Errorf("%w: wrong user name or password", ErrUnauthorized)
	}
	s.limiter.reset(userKey)
	csrf = randomB64(32)
	tok, exp, err = s.issueLogin(user, s.now(), csrf)
	if err != nil {
		return "", time.Time{}, "", err
	}
	s.metrics.logins.WithLabelValues("ok").Inc()
	s.audit(ctx, AuditEvent{Event: "login", Actor: user, Client: client, OK: true})
	return tok, exp, csrf, nil
}

func (s *Server) handleRefresh(w http.ResponseWriter, r *http.Request, p *principal) {
	if p.kind != "user" {
		writeError(w, apiErr(http.StatusBadRequest, CodeBadRequest, "only login tokens can be refreshed"))
		return
	}
	auth := time.Unix(p.claims.AuthTime, 0)
	if s.now().Sub(auth) > s.cfg.loginMaxAge() {
		s.fail(w, r, fmt.Errorf("%w: login is older than %s; log in again", ErrUnauthorized, s.cfg.loginMaxAge()))
		return
	}
	csrf := randomB64(32)
	tok, exp, err := s.issueLogin(p.name, auth, csrf)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if p.viaCookie {
		s.setLoginCookies(w, tok, csrf, exp)
	}
	writeJSON(w, http.StatusOK, TokenResponse{Token: tok, ExpiresAt: exp})
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request, p *principal) {
	if p.kind != "user" {
		writeError(w, apiErr(http.StatusBadRequest, CodeBadRequest, "API keys are revoked with DELETE /api/v1/admin/api-keys/{id}"))
		return
	}
	if err := s.revokeLogin(p.claims.ID, p.claims.ExpiresAt.Time); err != nil {
		s.fail(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	http.SetCookie(w, &http.Cookie{Name: CSRFCookie, Value: "", Path: "/", MaxAge: -1, Secure: true, SameSite: http.SameSiteStrictMode})
	s.audit(r.Context(), AuditEvent{Event: "logout", Actor: p.name, Client: clientAddr(r), OK: true})
	writeJSON(w, http.StatusOK, map[string]any{"revoked": true})
}

// revokeLogin puts a login token's jti on the deny-list until it expires.
func (s *Server) revokeLogin(jti string, exp time.Time) error {
	return s.st.update(func(tx *bolt.Tx) error {
		return tx.Bucket(bRevoked).Put([]byte(jti), u64(uint64(exp.Add(token.DefaultLeeway).Unix())))
	})
}

func (s *Server) handleSessions(w http.ResponseWriter, r *http.Request, p *principal) {
	defs, err := s.Sessions(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := []SessionDef{}
	for _, d := range defs {
		if sessionGranted(p.sessions, d.Name) {
			out = append(out, d)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessions": out})
}

// LaunchRequest is the optional body of POST /api/v1/sessions/{name}/launch.
type LaunchRequest struct {
	PoPJWK json.RawMessage `json:"pop_jwk,omitempty"`
}

// LaunchSession is the session part of a launch response.
type LaunchSession struct {
	Name     string   `json:"name"`
	Protocol string   `json:"protocol"`
	Host     string   `json:"host"`
	Port     int      `json:"port"`
	Terminal Terminal `json:"terminal"`
	HostTLS  bool     `json:"host_tls,omitempty"`
	HostKey  string   `json:"host_key,omitempty"`
}

// LaunchProxy says how to reach and check the proxy.
type LaunchProxy struct {
	Address              string `json:"address"`
	ServerName           string `json:"server_name"`
	VerifyServerIdentity bool   `json:"verify_server_identity"`
}

// Metering is the metering part of a launch response (null when the node
// has no metering listener, Config.DTLSAddr ""). The client sends a
// heartbeat every IntervalS seconds over DTLS to Address, or to any of
// Addresses (every node of the group, this one first), verifying the
// node's certificate against TrustStore and the host of the address.
type Metering struct {
	Address   string `json:"address"`
	IntervalS int    `json:"interval_s"`
	Ticket    string `json:"ticket"`
	// Addresses lists every node's metering address (added in v1.1).
	Addresses []string `json:"addresses,omitempty"`
	// TrustStore is the PEM the nodes' DTLS certificates (their HTTPS
	// certificates) are verified against. It is separate from the
	// launch's trust_store, which holds only the proxies' certificates.
	TrustStore string `json:"trust_store,omitempty"`
}

// LaunchResponse is the answer of POST /api/v1/sessions/{name}/launch.
type LaunchResponse struct {
	Session    LaunchSession `json:"session"`
	Proxy      LaunchProxy   `json:"proxy"`
	Token      string        `json:"token"`
	ExpiresAt  time.Time     `json:"expires_at"`
	TrustStore string        `json:"trust_store"`
	Metering   *Metering     `json:"metering"`
}

func (s *Server) handleLaunch(w http.ResponseWriter, r *http.Request, p *principal) {
	var req LaunchRequest
	if err := s.decodeOptional(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	var pop *token.JWK
	if len(req.PoPJWK) > 0 && string(req.PoPJWK) != "null" {
		k, err := token.ParseJWK(req.PoPJWK)
		if err != nil {
			writeError(w, apiErr(http.StatusBadRequest, CodeBadRequest, "pop_jwk: %v", err))
			return
		}
		pop = k
	}
	name := r.PathValue("name")
	resp, err := s.launch(r.Context(), p, name, pop, clientAddr(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// Launch issues a token for a session definition to user, as
// POST /api/v1/sessions/{name}/launch does (the user needs a grant).
func (s *Server) Launch(ctx context.Context, user, session string, pop *token.JWK) (*LaunchResponse, error) {
	var u userRecord
	if err := s.st.view(func(tx *bolt.Tx) error { return getJSON(tx, bUsers, []byte(user), &u) }); err != nil {
		return nil, fmt.Errorf("user %q: %w", user, err)
	}
	return s.launch(ctx, &principal{kind: "user", name: user, role: u.Role, sessions: u.Sessions, destinations: u.Destinations}, session, pop, "")
}

func (s *Server) launch(ctx context.Context, p *principal, name string, pop *token.JWK, client string) (*LaunchResponse, error) {
	if s.cfg.ProxyAddress == "" {
		return nil, ErrNoProxyAddress
	}
	var (
		def   SessionDef
		trust []byte
	)
	err := s.st.view(func(tx *bolt.Tx) error {
		if err := getJSON(tx, bSessions, []byte(name), &def); err != nil {
			return err
		}
		var err error
		trust, err = proxyTrustPEM(tx)
		return err
	})
	granted := sessionGranted(p.sessions, name)
	if errors.Is(err, ErrNotFound) && !granted {
		err = nil // do not reveal which sessions exist
	}
	if err != nil {
		return nil, fmt.Errorf("session %q: %w", name, err)
	}
	if !granted {
		s.audit(ctx, AuditEvent{Event: "launch", Actor: p.name, Client: client, OK: false, Fields: map[string]any{"session": name, "reason": "no grant"}})
		return nil, fmt.Errorf("%w: %s may not launch session %q (no grant)", ErrForbidden, p.name, name)
	}
	if len(trust) == 0 {
		return nil, fmt.Errorf("%w: no proxy is enrolled yet, so clients could not trust one (enroll a proxy: termgate mgmt enroll-code)", ErrNoProxyAddress)
	}
	ks := s.keys.Load()
	sec := ks.security
	ttl := sec.tokenTTL()
	if def.TokenTTLSeconds > 0 {
		ttl = time.Duration(def.TokenTTLSeconds) * time.Second
	}
	tok, claims, err := ks.issuer.Issue(token.Request{Subject: p.name, Dst: def.dst(), Proto: def.Protocol, Session: name, TTL: ttl, HostTLS: def.HostTLS, PoPKey: pop})
	if err != nil {
		return nil, fmt.Errorf("issue token: %w", err)
	}
	s.metrics.tokens.WithLabelValues("launch").Inc()
	s.audit(ctx, AuditEvent{Event: "launch", Actor: p.name, Client: client, OK: true, Fields: map[string]any{
		"session": name, "jti": claims.ID, "sub": claims.Subject, "dst": claims.Dst, "proto": claims.Proto, "ttl_s": int(ttl / time.Second), "pop": pop != nil}})
	meter, err := s.meteringFor(p.name, name, claims.ID)
	if err != nil {
		return nil, fmt.Errorf("metering ticket: %w", err)
	}
	serverName := s.cfg.ProxyServerName
	if serverName == "" {
		serverName = hostOf(s.cfg.ProxyAddress)
	}
	return &LaunchResponse{
		Session:    LaunchSession{Name: name, Protocol: def.Protocol, Host: def.Host, Port: def.Port, Terminal: def.Terminal, HostTLS: def.HostTLS, HostKey: def.HostKey},
		Proxy:      LaunchProxy{Address: s.cfg.ProxyAddress, ServerName: serverName, VerifyServerIdentity: sec.VerifyServerIdentity},
		Token:      tok,
		ExpiresAt:  claims.ExpiresAt.Time,
		TrustStore: string(trust),
		Metering:   meter,
	}, nil
}

func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// TokenRequest is the body of POST /api/v1/tokens.
type TokenRequest struct {
	Host     string          `json:"host"`
	Port     int             `json:"port"`
	Protocol string          `json:"protocol"`
	TTLS     int             `json:"ttl_s,omitempty"`
	HostTLS  bool            `json:"host_tls,omitempty"`
	PoPJWK   json.RawMessage `json:"pop_jwk,omitempty"`
}

func (s *Server) handleTokens(w http.ResponseWriter, r *http.Request, p *principal) {
	var req TokenRequest
	if err := s.decode(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	resp, err := s.issueFor(r.Context(), p, req, clientAddr(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) issueFor(ctx context.Context, p *principal, req TokenRequest, client string) (*TokenResponse, error) {
	if err := validProtocol(req.Protocol); err != nil {
		return nil, err
	}
	if req.Port < 1 || req.Port > 65535 {
		return nil, invalidf("port %d: use 1..65535", req.Port)
	}
	dst, err := token.NormalizeHostPort(net.JoinHostPort(req.Host, strconv.Itoa(req.Port)))
	if err != nil {
		return nil, invalidf("destination: %v", err)
	}
	if req.TTLS < 0 || time.Duration(req.TTLS)*time.Second > token.MaxTTL {
		return nil, invalidf("ttl_s %d: use 0..%d", req.TTLS, int(token.MaxTTL/time.Second))
	}
	var pop *token.JWK
	if len(req.PoPJWK) > 0 && string(req.PoPJWK) != "null" {
		if pop, err = token.ParseJWK(req.PoPJWK); err != nil {
			return nil, invalidf("pop_jwk: %v", err)
		}
	}
	if !destinationsAllow(p.destinations, dst) {
		s.audit(ctx, AuditEvent{Event: "token", Actor: p.name, Client: client, OK: false, Fields: map[string]any{"dst": dst, "reason": "no grant"}})
		return nil, fmt.Errorf("%w: %s has no grant for destination %s", ErrForbidden, p.name, dst)
	}
	ks := s.keys.Load()
	if err := policyAllows(ks.security, dst); err != nil {
		s.audit(ctx, AuditEvent{Event: "token", Actor: p.name, Client: client, OK: false, Fields: map[string]any{"dst": dst, "reason": "policy"}})
		return nil, err
	}
	ttl := time.Duration(req.TTLS) * time.Second
	if ttl == 0 {
		ttl = ks.security.tokenTTL()
	}
	tok, claims, err := ks.issuer.Issue(token.Request{Subject: p.name, Dst: dst, Proto: req.Protocol, TTL: ttl, HostTLS: req.HostTLS, PoPKey: pop})
	if err != nil {
		return nil, fmt.Errorf("issue token: %w", err)
	}
	s.metrics.tokens.WithLabelValues("api").Inc()
	if s.auditInfo {
		s.auditLogOnly(AuditEvent{Event: "token", Actor: p.name, Client: client, OK: true, Fields: map[string]any{
			"jti": claims.ID, "sub": claims.Subject, "dst": claims.Dst, "proto": claims.Proto, "ttl_s": int(ttl / time.Second), "pop": pop != nil}})
	}
	return &TokenResponse{Token: tok, ExpiresAt: claims.ExpiresAt.Time}, nil
}

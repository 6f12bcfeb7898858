package proxy

// The WebSocket front end: GET /ws on the client TLS listener, for browser
// terminals. A browser cannot send CONNECT, so it asks for the same session
// as a WebSocket whose binary messages carry the raw bytes both ways. Every
// check of the CONNECT path applies (draining, failed-authorization rate
// limit, node and per-user limits, token verification with cluster-wide
// single use, destination policy), with the same Termgate-Error codes,
// metrics and audit events (plus front=ws).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/termgate/termgate/internal/relay"
	"github.com/termgate/termgate/token"
)

// The /ws contract.
const (
	// WebSocketPath is the request path of the WebSocket front end.
	WebSocketPath = "/ws"
	// WebSocketProtocol is the subprotocol a /ws client offers and the
	// proxy selects in Sec-WebSocket-Protocol.
	WebSocketProtocol = "termgate.v1"
	// WebSocketBearerPrefix prefixes the token in an offered subprotocol:
	// "bearer.<token>" (a JWS compact token is a valid subprotocol name).
	WebSocketBearerPrefix = "bearer."
	// WebSocketCloseBase plus the HTTP status of a Termgate-Error code is
	// the close code of a refusal after the upgrade (4407 token_expired,
	// 4403 destination_mismatch, ...); the close reason is the code.
	WebSocketCloseBase = 4000
	// DefaultWebSocketMaxMessage is the default Config.WebSocketMaxMessage.
	DefaultWebSocketMaxMessage = 1 << 20
	// DefaultWebSocketPingInterval is the default Config.WebSocketPingInterval.
	DefaultWebSocketPingInterval = 30 * time.Second
)

const (
	// wsFirstMessageMax bounds the first message ({"token":…,"dst":…}).
	wsFirstMessageMax = 16 << 10
	// wsWriteTimeout bounds one message or ping to the client: a client
	// that reads nothing for this long is gone.
	wsWriteTimeout = 30 * time.Second
	// wsControlTimeout bounds writing a close frame.
	wsControlTimeout = time.Second
	// wsCloseWait is how long the proxy waits for the client's answer to
	// its close frame.
	wsCloseWait = 2 * time.Second
)

// ErrWebSocketText: a /ws client sent a text message after the handshake;
// the session carries binary messages only (closed with 1003).
var ErrWebSocketText = errors.New("text message on a termgate.v1 WebSocket: only binary messages carry session bytes")

// wsWriteBuffers are the write buffers of /ws sessions, held only while a
// message is written, so an idle session holds none.
var wsWriteBuffers sync.Pool

// isWebSocketRequest reports whether a request that is not a CONNECT asks
// for the WebSocket front end (GET /ws, with or without a query).
func isWebSocketRequest(req *Request) bool {
	if req == nil || req.Method != http.MethodGet {
		return false
	}
	path, _, _ := strings.Cut(req.Target, "?")
	return path == WebSocketPath
}

// wsHandshake is what a GET /ws request asks for.
type wsHandshake struct {
	protocol bool   // termgate.v1 was offered
	bearer   bool   // a bearer.<token> subprotocol was offered
	token    string // its token; never logged
	dst      string // the normalised dst query parameter, "" if none
}

// parseWebSocket checks a GET /ws request: HTTP/1.1, the WebSocket
// handshake fields, the query (dst only, and never a token), the origin and
// the offered subprotocols. A reason never repeats the query or the
// subprotocols, which may hold a token.
func parseWebSocket(req *Request, origins *originPolicy) (*wsHandshake, *RejectError) {
	hs := &wsHandshake{}
	if req.Proto != "HTTP/1.1" {
		return nil, reject(CodeBadRequest, nil, "a WebSocket handshake needs HTTP/1.1")
	}
	if _, query, ok := strings.Cut(req.Target, "?"); ok {
		dst, rej := parseWebSocketQuery(query)
		if rej != nil {
			return nil, rej
		}
		hs.dst = dst
	}
	if !headerHasToken(req.Header["Upgrade"], "websocket") || !headerHasToken(req.Header["Connection"], "upgrade") {
		return nil, reject(CodeBadRequest, nil, "GET %s is a WebSocket handshake: send Upgrade: websocket and Connection: Upgrade", WebSocketPath)
	}
	if v := req.Header["Sec-Websocket-Version"]; len(v) != 1 || strings.TrimSpace(v[0]) != "13" {
		return nil, reject(CodeBadRequest, nil, "unsupported WebSocket version: send Sec-WebSocket-Version: 13")
	}
	if k := req.Header["Sec-Websocket-Key"]; len(k) != 1 || !validWebSocketKey(k[0]) {
		return nil, reject(CodeBadRequest, nil, "Sec-WebSocket-Key must be one base64 value of 16 bytes")
	}
	switch o := req.Header["Origin"]; len(o) {
	case 0:
		// Not a browser: the origin check protects browsers only, and
		// any other client could send whatever Origin it liked.
	case 1:
		if !origins.allow(o[0], req.Get("Host")) {
			return nil, reject(CodeBadRequest, nil, "origin %q may not open %s on this proxy: the administrator lists allowed origins with --ws-origin (Config.WebSocketOrigins)", clip(o[0]), WebSocketPath)
		}
	default:
		return nil, reject(CodeBadRequest, nil, "more than one Origin header")
	}
	for _, field := range req.Header["Sec-Websocket-Protocol"] {
		for _, p := range strings.Split(field, ",") {
			p = strings.TrimSpace(p)
			switch {
			case p == "":
			case !isToken(p):
				return nil, reject(CodeBadRequest, nil, "malformed Sec-WebSocket-Protocol")
			case p == WebSocketProtocol:
				hs.protocol = true
			case len(p) >= len(WebSocketBearerPrefix) && strings.EqualFold(p[:len(WebSocketBearerPrefix)], WebSocketBearerPrefix):
				if hs.bearer {
					return nil, reject(CodeBadRequest, nil, "more than one bearer.<token> subprotocol")
				}
				hs.bearer, hs.token = true, p[len(WebSocketBearerPrefix):]
			}
		}
	}
	if hs.bearer && !hs.protocol {
		return nil, reject(CodeBadRequest, nil, "offer the subprotocol %s together with bearer.<token>", WebSocketProtocol)
	}
	return hs, nil
}

// tokenParams are query parameter names that would carry a token.
var tokenParams = []string{"token", "access_token", "id_token", "bearer", "bearer_token", "jwt", "auth", "authorization"}

// parseWebSocketQuery accepts one optional dst=host:port and nothing else;
// anything that looks like a token is refused with its own reason.
func parseWebSocketQuery(query string) (string, *RejectError) {
	var dsts []string
	unknown := false
	for _, kv := range strings.Split(query, "&") {
		if kv == "" {
			continue
		}
		rawK, rawV, _ := strings.Cut(kv, "=")
		k, errK := url.QueryUnescape(rawK)
		v, errV := url.QueryUnescape(rawV)
		if looksLikeToken(rawK) || looksLikeToken(rawV) || looksLikeToken(k) || looksLikeToken(v) || isTokenParam(k) {
			return "", reject(CodeBadRequest, nil, "a token must never be sent in the URL (URLs end up in logs and browser history): offer it as the subprotocol bearer.<token> or send it in the first message, and request a new token")
		}
		if errK != nil || errV != nil {
			return "", reject(CodeBadRequest, nil, "malformed query string")
		}
		if k != "dst" {
			unknown = true
			continue
		}
		dsts = append(dsts, v)
	}
	if unknown {
		return "", reject(CodeBadRequest, nil, "unknown query parameter: %s accepts only dst=host:port", WebSocketPath)
	}
	if len(dsts) == 0 {
		return "", nil
	}
	if len(dsts) > 1 {
		return "", reject(CodeBadRequest, nil, "dst given more than once")
	}
	dst, err := token.NormalizeHostPort(dsts[0])
	if err != nil {
		return "", reject(CodeBadRequest, err, "bad dst: %v", err)
	}
	return dst, nil
}

func isTokenParam(k string) bool {
	for _, p := range tokenParams {
		if strings.EqualFold(k, p) {
			return true
		}
	}
	return false
}

// looksLikeToken reports whether s has the shape of a JWS compact token:
// three base64url segments, the first one a JSON object ("eyJ").
func looksLikeToken(s string) bool {
	s = strings.TrimPrefix(s, WebSocketBearerPrefix)
	if !strings.HasPrefix(s, "eyJ") || len(s) < 32 {
		return false
	}
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts[:2] {
		if p == "" {
			return false
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '=') {
			return false
		}
	}
	return true
}

// headerHasToken reports whether a comma-separated header field holds tok
// (case-insensitive), as Connection: keep-alive, Upgrade does.
func headerHasToken(values []string, tok string) bool {
	for _, v := range values {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), tok) {
				return true
			}
		}
	}
	return false
}

func validWebSocketKey(k string) bool {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(k))
	return err == nil && len(b) == 16
}

// originPolicy decides which browser origins may open /ws.
type originPolicy struct {
	allowed map[string]bool // normalised origins; empty: same origin only
}

func newOriginPolicy(list []string) (*originPolicy, error) {
	p := &originPolicy{allowed: map[string]bool{}}
	for _, o := range list {
		if strings.Contains(o, "*") {
			return nil, fmt.Errorf("WebSocket origin %q: wildcards are not supported, list each origin (https://host:port)", o)
		}
		n, err := normalizeOrigin(o)
		if err != nil {
			return nil, fmt.Errorf("WebSocket origin %q: %w", o, err)
		}
		p.allowed[n] = true
	}
	return p, nil
}

// allow reports whether a browser on origin may open /ws on a proxy it
// reached as host (the Host header).
func (p *originPolicy) allow(origin, host string) bool {
	o, err := normalizeOrigin(origin)
	if err != nil {
		return false
	}
	if len(p.allowed) > 0 {
		return p.allowed[o]
	}
	h, port, err := net.SplitHostPort(host)
	if err != nil {
		h, port = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"), "443"
	}
	if h == "" {
		return false
	}
	return o == "https://"+net.JoinHostPort(strings.ToLower(h), port)
}

// normalizeOrigin turns scheme://host[:port] into its canonical form: the
// scheme and host in lower case, the default port made explicit.
func normalizeOrigin(s string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		return "", errors.New("not a URL")
	}
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	switch scheme {
	case "https":
		if port == "" {
			port = "443"
		}
	case "http":
		if port == "" {
			port = "80"
		}
	default:
		return "", errors.New("want http:// or https://")
	}
	if u.Opaque != "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
		return "", errors.New("an origin is scheme://host[:port] only")
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return "", errors.New("no host")
	}
	return scheme + "://" + net.JoinHostPort(host, port), nil
}

// firstMessage is the text message a /ws client sends right after the
// handshake when its token is not in Sec-WebSocket-Protocol.
type firstMessage struct {
	Token string `json:"token"`
	Dst   string `json:"dst,omitempty"`
}

// parseFirstMessage decodes one JSON object {"token":…,"dst":…} and
// nothing else. The normalised dst ("" if absent) is returned in the
// message. A reason never repeats the message.
func parseFirstMessage(b []byte) (*firstMessage, *RejectError) {
	bad := reject(CodeBadRequest, nil, `the first message must be one JSON object {"token":"…","dst":"host:port"}`)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var m firstMessage
	if err := dec.Decode(&m); err != nil {
		return nil, bad
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, bad
	}
	if m.Dst != "" {
		dst, err := token.NormalizeHostPort(m.Dst)
		if err != nil {
			return nil, reject(CodeBadRequest, err, "bad dst in the first message: %v", err)
		}
		m.Dst = dst
	}
	return &m, nil
}

// serveWebSocket runs the WebSocket front end for one parsed GET /ws.
// A request that is no valid termgate.v1 handshake (malformed, a foreign
// origin, a token in the URL, no subprotocol) is refused with an HTTP
// answer in the CONNECT format. Every other refusal comes after the
// upgrade, as a close frame with code 4000+status and the Termgate-Error
// code as reason, because a browser page cannot read the status of a
// refused handshake (webui's termgate.v1 contract).
func (s *Server) serveWebSocket(c *conn, req *Request) {
	var (
		ws  *websocket.Conn
		dst string
	)
	refuse := func(rej *RejectError, claims *token.Claims) {
		s.recordWebSocketRejection(c, rej, dst, claims, ws != nil)
		if ws == nil {
			c.tls.SetWriteDeadline(time.Now().Add(10 * time.Second))
			c.tls.Write(rejectResponse(rej.Code, rej.Reason))
			c.tls.CloseWrite()
			return
		}
		closeRefused(ws, rej.Code)
	}
	hs, rej := parseWebSocket(req, s.wsOrigins)
	if rej != nil {
		refuse(rej, nil)
		return
	}
	dst = hs.dst
	if !hs.protocol && !s.cfg.ClientAuthorizationOff {
		refuse(reject(Code(token.CodeMissing), token.ErrMissing, "no token: offer the subprotocols %s and bearer.<token> in Sec-WebSocket-Protocol, or %s alone and send {\"token\":…} as the first message", WebSocketProtocol, WebSocketProtocol), nil)
		return
	}
	id := newSessionID()
	var err error
	if ws, rej, err = s.upgradeWebSocket(c, req, hs, id); err != nil || rej != nil {
		if rej != nil {
			refuse(rej, nil)
		} else {
			s.log.Info().Str("front", "ws").Str("client", c.client.String()).Err(err).Msg("WebSocket upgrade failed")
		}
		return
	}

	if s.refusing.Load() {
		refuse(reject(CodeDraining, nil, "this proxy node is draining: connect again (the load balancer sends you to another node)"), nil)
		return
	}
	if s.fails.blocked(c.client.Addr(), s.cfg.Now()) {
		refuse(reject(CodeRateLimited, nil, "too many failed authorizations from %s: wait and retry", c.client.Addr()), nil)
		return
	}
	if n := s.active.Add(1); n > int64(s.cfg.MaxSessions) {
		s.active.Add(-1)
		refuse(reject(CodeOverloaded, nil, "this proxy node has %d sessions, its maximum: retry later", s.cfg.MaxSessions), nil)
		return
	}
	var held holdings // released on return, unless the relay took them over
	defer held.release()
	held.add(func() { s.active.Add(-1) })

	tok := hs.token
	firstMsg := hs.protocol && !hs.bearer && !s.cfg.ClientAuthorizationOff
	if firstMsg {
		m, rej := readFirstMessage(ws, s.cfg.HeaderTimeout, s.cfg.WebSocketMaxMessage)
		if rej != nil {
			refuse(rej, nil)
			return
		}
		if m.Dst != "" {
			if dst != "" && dst != m.Dst {
				refuse(reject(CodeDestinationMismatch, token.ErrDestinationMismatch, "dst in the URL (%s) and in the first message (%s) differ", dst, m.Dst), nil)
				return
			}
			dst = m.Dst
		}
		tok = m.Token
	}

	claims, target, rej := s.authorizeWebSocket(tok, dst)
	if target != "" {
		dst = target
	}
	if rej != nil {
		refuse(rej, nil)
		return
	}
	if claims != nil && claims.Proto == token.ProtoFTP {
		// A raw tunnel would bypass the FTP gateway (PORT bounce, data ports).
		refuse(reject(CodeBadRequest, nil, "FTP sessions need the CONNECT front end (the FTP gateway), not /ws"), claims)
		return
	}
	sub := ""
	if claims != nil {
		sub = claims.Subject
		if !s.reserveSubject(sub) {
			refuse(reject(CodeRateLimited, nil, "user %q already has %d sessions on this node, the maximum", sub, s.cfg.MaxSessionsPerSubject), claims)
			return
		}
		held.add(func() { s.releaseSubject(sub) })
	}
	dstart := time.Now()
	upstream, rej := s.connectDestination(c, target, claims)
	if rej != nil {
		refuse(rej, claims)
		return
	}
	s.metrics.dial.Observe(time.Since(dstart).Seconds())

	// Register the session, so that Drain and Close see it.
	st := &sessionState{}
	if !s.addSession(st, c) {
		upstream.Close()
		return
	}
	held.add(func() { s.removeSession(st) })

	if firstMsg {
		// a client that sent its token in the first message learns that it is through
		ws.SetWriteDeadline(time.Now().Add(wsWriteTimeout))
		if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"session":"`+id+`"}`)); err != nil {
			upstream.Close()
			return
		}
	}
	s.relayWebSocket(st, ws, c, upstream, wsSessionInfo{id: id, sub: sub, claims: claims, dst: target}, held.take())
}

type wsSessionInfo struct {
	id, sub, dst string
	claims       *token.Claims
}

// relayWebSocket starts the relay between the upgraded client and the host
// and writes the audit events, as serveConnect does for CONNECT. The relay
// owns the connections from here, and calls release when it ends; the
// handler's goroutine returns at once.
func (s *Server) relayWebSocket(st *sessionState, ws *websocket.Conn, c *conn, upstream net.Conn, info wsSessionInfo, release func()) {
	proto, jti := token.ProtoTCP, ""
	if info.claims != nil {
		proto, jti = info.claims.Proto, info.claims.ID
	}
	s.metrics.total.Inc()
	s.metrics.active.Inc()
	s.log.Info().Str("event", "session_start").Str("front", "ws").Str("session", info.id).Str("client", c.client.String()).
		Str("sub", info.sub).Str("jti", jti).Str("dst", info.dst).Str("proto", proto).
		Str("upstream", upstream.RemoteAddr().String()).Msg("session started")

	wc := newWSConn(ws, c.raw, s.cfg.WebSocketPingInterval, s.cfg.WebSocketMaxMessage)
	c.relaying = true // wc.finish closes the client's connection
	s.wg.Add(1)       // the handler still holds its own count: Close cannot be past Wait
	rs := relay.Start(context.Background(), relay.Side{Conn: wc}, relay.Side{Conn: upstream},
		relay.Config{IdleTimeout: s.cfg.IdleTimeout, MaxDuration: s.cfg.MaxSessionDuration},
		func(res relay.Result) {
			defer s.wg.Done()
			s.wsSessionEnded(wc, c, info, proto, jti, res)
			release()
		})
	st.running(rs.Cancel)
}

// wsSessionEnded closes the WebSocket with the code for the end reason
// and writes the session_end event.
func (s *Server) wsSessionEnded(wc *wsConn, c *conn, info wsSessionInfo, proto, jti string, res relay.Result) {
	reason := string(res.Reason)
	if res.Reason == relay.ReasonClientError && wc.clientClosed() {
		reason = string(relay.ReasonClosed) // the client's close frame is its normal end
	}
	if res.Reason == relay.ReasonCanceled {
		switch {
		case errors.Is(res.Err, errDrainTimeout):
			reason = "drain_timeout"
		case errors.Is(res.Err, errServerClosed):
			reason = "server_closed"
		}
	}
	code, text := wc.endClose(reason)
	wc.finish(code, text)

	s.metrics.active.Dec()
	s.metrics.bytes.WithLabelValues("in").Add(float64(res.BytesIn))
	s.metrics.bytes.WithLabelValues("out").Add(float64(res.BytesOut))
	ev := s.log.Info()
	if reason == "drain_timeout" || reason == "server_closed" {
		ev = s.log.Warn()
	}
	ev.Str("event", "session_end").Str("front", "ws").Str("session", info.id).Str("client", c.client.String()).
		Str("sub", info.sub).Str("jti", jti).Str("dst", info.dst).Str("proto", proto).
		Int64("bytes_in", res.BytesIn).Int64("bytes_out", res.BytesOut).
		Dur("duration", res.Duration).Str("end_reason", reason).Int("close_code", code).Msg("session ended")
}

// authorizeWebSocket checks a /ws token exactly as authorize does for
// CONNECT. The destination is the token's dst; dst, when the client named
// one, must match it. Tokens bound to a key (cnf) are refused: proof of
// possession signs the exporter of the client's own TLS connection, which
// a browser can neither compute nor send, and accepting such a token
// without its proof would let a stolen bound token through.
func (s *Server) authorizeWebSocket(tok, dst string) (*token.Claims, string, *RejectError) {
	if s.cfg.ClientAuthorizationOff {
		if dst == "" {
			return nil, "", reject(CodeBadRequest, nil, "client authorization is off: name the destination with %s?dst=host:port", WebSocketPath)
		}
		if s.allow.empty() {
			return nil, dst, reject(CodeDestinationDenied, nil, "client authorization is off and no destination is allowed (configure the allow list)")
		}
		return nil, dst, nil
	}
	if tok == "" {
		return nil, dst, reject(Code(token.CodeMissing), token.ErrMissing, "no token: offer the subprotocols %s and bearer.<token>, or send {\"token\":…} as the first message", WebSocketProtocol)
	}
	vstart := time.Now()
	defer func() { s.metrics.verify.Observe(time.Since(vstart).Seconds()) }()
	claims, err := s.verifier.Parse(tok)
	if err != nil {
		return nil, dst, tokenRejection(err)
	}
	if claims.Cnf != nil {
		return nil, dst, reject(Code(token.CodeProofMissing), token.ErrProofMissing, "the token is bound to a key (cnf) and %s cannot carry a proof of possession (a browser cannot sign the TLS exporter): use CONNECT, or get a token without pop_jwk", WebSocketPath)
	}
	target := dst
	if target == "" {
		if target, err = token.NormalizeHostPort(claims.Dst); err != nil {
			return nil, "", reject(Code(token.CodeMalformed), token.ErrMalformed, "the token's dst is not a valid host:port")
		}
	}
	vctx, cancel := context.WithTimeout(s.ctx, s.cfg.PeerTimeout+time.Second)
	claims, err = s.verifier.Verify(vctx, token.Presentation{Token: tok, Dst: target})
	cancel()
	if err != nil {
		return nil, target, tokenRejection(err)
	}
	return claims, target, nil
}

// tokenRejection maps a token error to its Termgate-Error code and reason.
func tokenRejection(err error) *RejectError {
	code := Code(token.CodeOf(err))
	if code == "" {
		code = Code(token.CodeMalformed)
	}
	reason := err.Error()
	var te *token.Error
	if errors.As(err, &te) && te.Reason != "" {
		reason = te.Reason
	}
	return reject(code, err, "%s", reason)
}

// recordWebSocketRejection counts and logs a refused /ws request as refuse
// does for CONNECT. It never logs the request target (its query may hold
// a token), only the normalised destination.
func (s *Server) recordWebSocketRejection(c *conn, rej *RejectError, dst string, claims *token.Claims, upgraded bool) {
	s.metrics.rejections.WithLabelValues(string(rej.Code)).Inc()
	status := rej.Code.Status()
	switch status {
	case http.StatusBadRequest, http.StatusForbidden, http.StatusProxyAuthRequired:
		s.fails.fail(c.client.Addr(), s.cfg.Now())
	}
	ev := s.log.Info().Str("event", "rejected").Str("front", "ws").Str("code", string(rej.Code)).Int("status", status).
		Str("client", c.client.String()).Str("reason", oneLine(rej.Reason))
	if upgraded {
		ev = ev.Int("close_code", WebSocketCloseBase+status)
	}
	if dst != "" {
		ev = ev.Str("dst", dst)
	}
	if claims != nil {
		ev = ev.Str("sub", claims.Subject).Str("jti", claims.ID)
	}
	ev.Msg("WebSocket rejected")
}

// closeRefused ends an upgraded session that was refused: a close frame
// with code 4000+status and the Termgate-Error code as reason, then a short
// wait for the client's answer, so that the frame is not lost to a reset.
func closeRefused(ws *websocket.Conn, code Code) {
	msg := websocket.FormatCloseMessage(WebSocketCloseBase+code.Status(), string(code))
	if err := ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(wsControlTimeout)); err != nil {
		return
	}
	ws.SetReadDeadline(time.Now().Add(wsCloseWait))
	for {
		if _, _, err := ws.NextReader(); err != nil {
			return
		}
	}
}

// readFirstMessage reads the {"token":…,"dst":…} text message that a
// client without a bearer subprotocol sends first. A message beyond
// wsFirstMessageMax is refused with 4400 like any other bad first message
// (the library's own 1009 applies only beyond maxMessage).
func readFirstMessage(ws *websocket.Conn, timeout time.Duration, maxMessage int64) (*firstMessage, *RejectError) {
	ws.SetReadLimit(max(maxMessage, wsFirstMessageMax+1))
	ws.SetReadDeadline(time.Now().Add(timeout))
	mt, r, err := ws.NextReader()
	var b []byte
	if err == nil {
		b, err = io.ReadAll(io.LimitReader(r, wsFirstMessageMax+1))
	}
	if err != nil {
		if isTimeout(err) {
			return nil, reject(CodeBadRequest, err, "no first message within %s: send {\"token\":…} as a text message right after the handshake", timeout)
		}
		return nil, reject(CodeBadRequest, err, "no first message: %v", err)
	}
	if len(b) > wsFirstMessageMax {
		return nil, reject(CodeBadRequest, nil, "the first message is larger than %d bytes", wsFirstMessageMax)
	}
	ws.SetReadDeadline(time.Time{})
	if mt != websocket.TextMessage {
		return nil, reject(CodeBadRequest, nil, "the first message must be a text message {\"token\":…} (or offer bearer.<token> in Sec-WebSocket-Protocol)")
	}
	return parseFirstMessage(b)
}

// upgradeWebSocket answers 101 Switching Protocols (selecting termgate.v1
// when offered, with Termgate-Session) on the proxy's own connection and
// buffered reader. A *RejectError means nothing was written yet; an error
// means the connection is unusable.
func (s *Server) upgradeWebSocket(c *conn, req *Request, hs *wsHandshake, id string) (*websocket.Conn, *RejectError, error) {
	hr := &http.Request{
		Method: req.Method, URL: &url.URL{Path: WebSocketPath}, Proto: req.Proto, ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header(req.Header), Host: req.Get("Host"), RequestURI: WebSocketPath,
	}
	resp := http.Header{"Termgate-Session": {id}}
	if hs.protocol {
		resp.Set("Sec-Websocket-Protocol", WebSocketProtocol)
	}
	w := &hijackWriter{c: c, header: http.Header{}}
	up := websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		WriteBufferSize:  relay.BufferSize, // one frame per relayed chunk
		WriteBufferPool:  &wsWriteBuffers,
		// parseWebSocket checked Origin against Config.WebSocketOrigins.
		CheckOrigin: func(*http.Request) bool { return true },
		Error: func(w http.ResponseWriter, _ *http.Request, _ int, reason error) {
			w.(*hijackWriter).refused = reason
		},
	}
	ws, err := up.Upgrade(w, hr, resp)
	if err != nil {
		if w.refused != nil {
			return nil, reject(CodeBadRequest, w.refused, "%v", w.refused), nil
		}
		return nil, nil, err
	}
	ws.SetReadLimit(s.cfg.WebSocketMaxMessage)
	return ws, nil, nil
}

// hijackWriter hands the proxy's TLS connection and the buffered reader
// that read the request to the WebSocket upgrader, so that no byte the
// client sent is lost. It writes nothing itself: refusals are recorded and
// answered by serveWebSocket in the Termgate-Error format.
type hijackWriter struct {
	c       *conn
	header  http.Header
	refused error
}

func (w *hijackWriter) Header() http.Header         { return w.header }
func (w *hijackWriter) Write(p []byte) (int, error) { return 0, http.ErrHijacked }
func (w *hijackWriter) WriteHeader(int)             {}

func (w *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return w.c.tls, bufio.NewReadWriter(w.c.br, bufio.NewWriterSize(w.c.tls, 512)), nil
}

// wsConn presents an upgraded WebSocket as a net.Conn carrying the payload
// of binary messages, for relay.Run: Read runs on the relay's client-to-host
// goroutine, Write on the host-to-client one. Close only interrupts them,
// so that finish can still send a close frame saying why the session ended.
// A keepalive goroutine pings the client; any frame from it (data or pong)
// extends the read deadline by two ping intervals.
type wsConn struct {
	ws   *websocket.Conn
	raw  net.Conn // the TLS connection under ws
	tcp  net.Conn // the client's TCP connection under raw
	ping time.Duration
	r    io.Reader // the message being read; nil between messages

	mu          sync.Mutex
	interrupted bool // Close was called
	closing     bool // a close frame went out: wait only wsCloseWait for the answer
	writers     int  // writes (data or ping) in progress
	broken      bool // tcp was closed under a stuck write: no close frame can follow
	hardClose   *time.Timer
	pinger      *time.Timer // the next keepalive ping; nil without pings
	peerClosed  bool        // the client sent its close frame
	closeCode   int         // set when the client broke the protocol
	closeText   string

	wg sync.WaitGroup // a keepalive ping being sent
}

var longAgo = time.Unix(1, 0)

func newWSConn(ws *websocket.Conn, tcp net.Conn, ping time.Duration, maxMessage int64) *wsConn {
	w := &wsConn{ws: ws, raw: ws.NetConn(), tcp: tcp, ping: ping}
	ws.SetReadLimit(maxMessage)
	ws.SetPongHandler(func(string) error { w.extendRead(); return nil })
	w.extendRead()
	if ping > 0 {
		// A timer, not a goroutine: an idle session holds no stack for it.
		w.mu.Lock()
		w.pinger = time.AfterFunc(ping, w.keepalive)
		w.mu.Unlock()
	}
	return w
}

func (w *wsConn) extendRead() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.interrupted || w.closing || w.ping <= 0 {
		return
	}
	w.raw.SetReadDeadline(time.Now().Add(2 * w.ping))
}

// keepalive sends a ping and arms the next one, until Close or CloseWrite,
// or a write error other than a timeout. finish waits for a ping being
// sent (wg): Add happens under mu, before Close sets interrupted.
func (w *wsConn) keepalive() {
	w.mu.Lock()
	if w.interrupted || w.closing {
		w.mu.Unlock()
		return
	}
	w.writers++
	w.wg.Add(1)
	w.mu.Unlock()
	defer w.wg.Done()
	err := w.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(wsWriteTimeout))
	w.endWrite()
	var ne net.Error
	if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
		return
	}
	w.mu.Lock()
	if !w.interrupted && !w.closing {
		w.pinger.Reset(w.ping)
	}
	w.mu.Unlock()
}

func (w *wsConn) beginWrite() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.interrupted || w.closing {
		return false
	}
	w.writers++
	return true
}

func (w *wsConn) endWrite() {
	w.mu.Lock()
	w.writers--
	w.mu.Unlock()
}

func (w *wsConn) setClose(code int, text string) {
	w.mu.Lock()
	if w.closeCode == 0 {
		w.closeCode, w.closeText = code, text
	}
	w.mu.Unlock()
}

// Read returns the payload of the client's binary messages in order. A
// close frame from the client is an error, not io.EOF: a WebSocket has no
// half-close, so the relay ends and the host connection is closed.
func (w *wsConn) Read(p []byte) (int, error) {
	for {
		if w.r == nil {
			mt, r, err := w.ws.NextReader()
			if err != nil {
				return 0, w.readError(err)
			}
			w.extendRead()
			if mt != websocket.BinaryMessage {
				w.setClose(websocket.CloseUnsupportedData, "binary messages only")
				return 0, ErrWebSocketText
			}
			w.r = r
		}
		n, err := w.r.Read(p)
		if err == io.EOF {
			w.r = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		if err != nil {
			return n, w.readError(err)
		}
		return n, nil
	}
}

func (w *wsConn) readError(err error) error {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		w.mu.Lock()
		w.peerClosed = true
		w.mu.Unlock()
		return fmt.Errorf("client closed the WebSocket (%d): %w", ce.Code, err)
	}
	if errors.Is(err, websocket.ErrReadLimit) {
		w.setClose(websocket.CloseMessageTooBig, "") // the library sent it already
	}
	return err
}

// Write sends p as one binary message. It blocks while the client does not
// read (backpressure), at most wsWriteTimeout.
func (w *wsConn) Write(p []byte) (int, error) {
	if !w.beginWrite() {
		return 0, net.ErrClosed
	}
	defer w.endWrite()
	w.ws.SetWriteDeadline(time.Now().Add(wsWriteTimeout))
	if err := w.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// CloseWrite is the host's end of output: a normal close frame, after
// which the client has wsCloseWait to answer.
func (w *wsConn) CloseWrite() error {
	err := w.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(wsControlTimeout))
	w.mu.Lock()
	w.closing = true
	if !w.interrupted {
		w.raw.SetReadDeadline(time.Now().Add(wsCloseWait))
	}
	w.mu.Unlock()
	if errors.Is(err, websocket.ErrCloseSent) {
		return nil
	}
	return err
}

// Close interrupts a blocked Read at once, and a write still in progress
// after wsControlTimeout by closing the TCP connection (a client that does
// not read could not take a close frame anyway; closing TCP rather than TLS
// queues no close_notify behind the stuck write). It is idempotent; finish
// releases the connection.
func (w *wsConn) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.interrupted {
		return nil
	}
	w.interrupted = true
	if w.pinger != nil {
		w.pinger.Stop()
	}
	w.raw.SetReadDeadline(longAgo)
	if w.writers > 0 {
		w.hardClose = time.AfterFunc(wsControlTimeout, func() {
			w.mu.Lock()
			defer w.mu.Unlock()
			if w.writers > 0 {
				w.broken = true
				w.tcp.Close()
			}
		})
	}
	return nil
}

func (w *wsConn) clientClosed() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.peerClosed
}

// endClose is the close frame that ends a session for an end reason.
func (w *wsConn) endClose(reason string) (int, string) {
	w.mu.Lock()
	code, text := w.closeCode, w.closeText
	w.mu.Unlock()
	if code != 0 {
		return code, text
	}
	switch relay.Reason(reason) {
	case relay.ReasonClosed:
		return websocket.CloseNormalClosure, ""
	case relay.ReasonHostError:
		return websocket.CloseInternalServerErr, reason
	}
	return websocket.CloseGoingAway, reason // idle_timeout, max_duration, drain_timeout, server_closed, client_error
}

// finish stops the keepalive, sends the close frame (unless one went out
// already or the connection broke) and closes the connection.
func (w *wsConn) finish(code int, text string) {
	w.Close()
	w.wg.Wait()
	w.mu.Lock()
	if w.hardClose != nil {
		w.hardClose.Stop() // every write is over: the relay and the keepalive returned
	}
	broken := w.broken
	w.mu.Unlock()
	if !broken {
		w.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(wsControlTimeout))
	}
	w.raw.Close()
}

func (w *wsConn) LocalAddr() net.Addr                { return w.raw.LocalAddr() }
func (w *wsConn) RemoteAddr() net.Addr               { return w.raw.RemoteAddr() }
func (w *wsConn) SetDeadline(t time.Time) error      { return w.raw.SetDeadline(t) }
func (w *wsConn) SetReadDeadline(t time.Time) error  { return w.raw.SetReadDeadline(t) }
func (w *wsConn) SetWriteDeadline(t time.Time) error { return w.ws.SetWriteDeadline(t) }

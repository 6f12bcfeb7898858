package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/termgate/termgate/ftpchan"
	"github.com/termgate/termgate/internal/obs"
	"github.com/termgate/termgate/internal/relay"
	"github.com/termgate/termgate/internal/tlsend"
	"github.com/termgate/termgate/pki"
	"github.com/termgate/termgate/token"
)

var (
	errDrainTimeout = errors.New("drain timeout reached")
	errServerClosed = errors.New("server closed")
)

// Server is one security proxy node. Create it with New, run it with Serve,
// stop it with Drain or Close. Its methods are safe for concurrent use.
type Server struct {
	cfg Config
	log zerolog.Logger

	ln, opsLn, peerLn net.Listener
	ops               *http.Server

	certs          *certLoader
	tlsConf        *tls.Config
	trust          *pki.TrustStore
	trustRefresher *trustRefresher
	hostTrust      *pki.TrustStore
	peerTrust      *pki.TrustStore
	verifier       *token.Verifier
	replay         *clusterReplay
	policy         *destPolicy
	allow          *allowList
	wsOrigins      *originPolicy
	fails          *failLimiter
	metrics        *metrics
	registry       *prometheus.Registry
	ftp            *ftpchan.Gateway
	ftpActive      map[string]bool // FTP destinations in server-active mode
	ftpSharedKeys  bool            // FTP ticket keys configured (shared by the cluster)

	ctx    context.Context
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	conns    map[net.Conn]struct{} // accepted, not yet relaying (and peer links)
	sessions map[*sessionState]struct{}
	perSub   map[string]int

	active    atomic.Int64 // sessions reserved or relaying
	draining  atomic.Bool  // /readyz false
	refusing  atomic.Bool  // drain grace over: CONNECTs get 503 draining
	served    atomic.Bool
	closeOnce sync.Once
	idleCh    chan struct{} // signalled when a session or pending connection ends
}

// sessionState is a session as Drain and Close see it: something to stop.
type sessionState struct {
	mu    sync.Mutex
	stop  func(cause error) // ends the session; nil until it runs
	cause error             // why it was stopped before it ran
}

// cancel ends the session with cause: at once if it is running, or as soon
// as it starts.
func (st *sessionState) cancel(cause error) {
	if cause == nil {
		cause = context.Canceled
	}
	st.mu.Lock()
	stop := st.stop
	if stop == nil && st.cause == nil {
		st.cause = cause
	}
	st.mu.Unlock()
	if stop != nil {
		stop(cause)
	}
}

// running records how to stop the session that now runs, and stops it at
// once if it was canceled before.
func (st *sessionState) running(stop func(cause error)) {
	st.mu.Lock()
	st.stop = stop
	cause := st.cause
	st.mu.Unlock()
	if cause != nil {
		stop(cause)
	}
}

// New validates cfg, loads certificates and trust stores, and binds the
// listeners (so Addr, OpsAddr and PeerAddr are valid at once). Call Serve
// to start, and Close to release everything.
func New(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if cfg.NodeID == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "proxy"
		}
		cfg.NodeID = h
	}
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger.With().Str("node", cfg.NodeID).Logger(),
		conns:    map[net.Conn]struct{}{},
		sessions: map[*sessionState]struct{}{},
		perSub:   map[string]int{},
		idleCh:   make(chan struct{}, 1),
		fails:    newFailLimiter(cfg.AuthFailureRate, cfg.AuthFailureBurst),
	}
	s.ctx, s.cancel = context.WithCancelCause(context.Background())
	if err := checkDirectAddress(cfg.FTPDirectAddress); err != nil {
		return nil, err
	}
	var err error
	if s.certs, err = newCertLoader(cfg.CertFile, cfg.KeyFile, cfg.Certificate); err != nil {
		return nil, err
	}
	if s.trust, err = openStore(cfg.MgmtTrustFile, cfg.MgmtTrust); err != nil {
		return nil, fmt.Errorf("proxy: management trust: %w", err)
	}
	mgmtTLS, err := openStore(cfg.MgmtTLSTrustFile, cfg.MgmtTLSTrust)
	if err != nil {
		return nil, fmt.Errorf("proxy: management TLS trust: %w", err)
	}
	if s.hostTrust, err = openStore(cfg.HostTrustFile, cfg.HostTrust); err != nil {
		return nil, fmt.Errorf("proxy: host trust: %w", err)
	}
	if s.peerTrust, err = openStore(cfg.PeerTrustFile, cfg.PeerTrust); err != nil {
		return nil, fmt.Errorf("proxy: peer trust: %w", err)
	}
	if (len(cfg.Peers) > 0 || cfg.PeerListen != "") && s.peerTrust.Len() == 0 {
		return nil, errors.New("proxy: peers or a peer listener need a peer trust store (PeerTrustFile) to authenticate the other nodes")
	}
	for _, u := range cfg.MgmtURLs {
		if !strings.HasPrefix(u, "https://") {
			return nil, fmt.Errorf("proxy: management URL %q: only https:// is allowed", u)
		}
	}
	if s.allow, err = newAllowList(cfg.Allow, token.NormalizeHostPort); err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	s.policy = newDestPolicy(cfg.AllowNetworks)
	if s.wsOrigins, err = newOriginPolicy(cfg.WebSocketOrigins); err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	s.trustRefresher = newTrustRefresher(s.trust, cfg.MgmtTrustFile, cfg.MgmtURLs, mgmtTLS, &s.cfg, s.log)

	s.replay = &clusterReplay{self: cfg.NodeID, nodes: []string{cfg.NodeID}, local: token.NewReplayCache(0),
		peers: map[string]*peerClient{}, timeout: cfg.PeerTimeout, log: s.log}
	dial := cfg.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	for _, p := range cfg.Peers {
		if p.ID == "" || p.Addr == "" {
			return nil, fmt.Errorf("proxy: peer %q at %q: both id and address are required", p.ID, p.Addr)
		}
		if p.ID == cfg.NodeID {
			continue // the same peer list may be given to every node
		}
		if _, dup := s.replay.peers[p.ID]; dup {
			return nil, fmt.Errorf("proxy: peer id %q listed twice", p.ID)
		}
		s.replay.nodes = append(s.replay.nodes, p.ID)
		s.replay.peers[p.ID] = &peerClient{id: p.ID, addr: p.Addr, timeout: cfg.PeerTimeout, dial: dial, tlsConf: s.peerClientTLS}
	}

	s.registry = cfg.Registry
	if s.registry == nil {
		s.registry = obs.NewRegistry()
	}
	s.metrics = newMetrics(s.registry, s)
	s.replay.onPeer = func(peer string, ok bool) {
		r := "ok"
		if !ok {
			r = "unavailable"
		}
		s.metrics.peerChecks.WithLabelValues(peer, r).Inc()
	}
	s.trustRefresher.onResult = func(err error) {
		r := "ok"
		if err != nil {
			r = "error"
		}
		s.metrics.refresh.WithLabelValues(r).Inc()
	}
	s.verifier = token.NewVerifier(token.VerifierConfig{
		Trust:        s.trust,
		Audience:     cfg.Audience,
		Replay:       s.replay,
		Now:          cfg.Now,
		OnUnknownKID: func(string) { s.trustRefresher.kick() },
		ClockSkew:    s.metrics.observeSkew,
	})

	if err := s.newFTPGateway(); err != nil {
		return nil, err
	}
	if !s.ftpSharedKeys && len(s.replay.peers) > 0 {
		s.log.Warn().Msg("no FTP ticket key configured: FTP channels that the load balancer sends to another node than their control channel's will be refused")
	}

	s.tlsConf = pki.ServerTLSConfig(s.certs.getCertificate)
	if err := s.listen(); err != nil {
		s.closeListeners()
		return nil, err
	}
	return s, nil
}

func openStore(file string, inProcess *pki.TrustStore) (*pki.TrustStore, error) {
	if file != "" {
		return pki.OpenTrustStore(file)
	}
	if inProcess != nil {
		return inProcess, nil
	}
	return pki.NewTrustStore(), nil
}

func (s *Server) listen() error {
	var err error
	if s.ln, err = net.Listen("tcp", s.cfg.Listen); err != nil {
		return fmt.Errorf("proxy: listen %s: %w", s.cfg.Listen, err)
	}
	own := []netip.AddrPort{addrPortOf(s.ln.Addr())}
	if s.cfg.OpsListen != "-" {
		if s.opsLn, err = net.Listen("tcp", s.cfg.OpsListen); err != nil {
			return fmt.Errorf("proxy: ops listen %s: %w", s.cfg.OpsListen, err)
		}
		own = append(own, addrPortOf(s.opsLn.Addr()))
	}
	if s.cfg.PeerListen != "" {
		raw, err := net.Listen("tcp", s.cfg.PeerListen)
		if err != nil {
			return fmt.Errorf("proxy: peer listen %s: %w", s.cfg.PeerListen, err)
		}
		own = append(own, addrPortOf(raw.Addr()))
		s.peerLn = tls.NewListener(batchListener{raw}, s.peerServerTLS())
	}
	s.policy.own = own
	return nil
}

func (s *Server) peerServerTLS() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS13,
		GetCertificate: s.certs.getCertificate,
		ClientAuth:     tls.RequireAnyClientCert,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			chain, err := parseChain(raw)
			if err != nil {
				return err
			}
			return pki.VerifyPeer(s.peerTrust, chain, pki.VerifyOptions{Usage: x509.ExtKeyUsageClientAuth})
		},
	}
}

func (s *Server) peerClientTLS() *tls.Config {
	return &tls.Config{
		MinVersion:           tls.VersionTLS13,
		GetClientCertificate: s.certs.getClientCertificate,
		// The chain is verified against the peer trust store below; peers
		// are addressed by host:port, not by the name in their certificate.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return pki.VerifyPeer(s.peerTrust, cs.PeerCertificates, pki.VerifyOptions{Usage: x509.ExtKeyUsageServerAuth})
		},
	}
}

func parseChain(raw [][]byte) ([]*x509.Certificate, error) {
	out := make([]*x509.Certificate, 0, len(raw))
	for _, b := range raw {
		c, err := x509.ParseCertificate(b)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// Addr is the client listener's address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// OpsAddr is the ops listener's address (nil if disabled).
func (s *Server) OpsAddr() net.Addr {
	if s.opsLn == nil {
		return nil
	}
	return s.opsLn.Addr()
}

// PeerAddr is the peer listener's address (nil if none).
func (s *Server) PeerAddr() net.Addr {
	if s.peerLn == nil {
		return nil
	}
	return s.peerLn.Addr()
}

// NodeID is this node's id.
func (s *Server) NodeID() string { return s.cfg.NodeID }

// Registry is the Prometheus registry holding the node's metrics.
func (s *Server) Registry() *prometheus.Registry { return s.registry }

// ActiveSessions is the number of sessions being set up or relayed.
func (s *Server) ActiveSessions() int { return int(s.active.Load()) }

// ReloadCertificate re-reads CertFile and KeyFile now (e.g. on SIGHUP).
// New handshakes use the new pair; established sessions are untouched.
func (s *Server) ReloadCertificate() error {
	err := s.certs.reload()
	s.logReload(err)
	return err
}

func (s *Server) logReload(err error) {
	if err != nil {
		s.log.Error().Err(err).Msg("certificate reload failed; keeping the current certificate")
		return
	}
	s.log.Info().Time("not_after", s.certs.notAfter()).Msg("certificate reloaded")
}

// RefreshTrust fetches the management signer store now.
func (s *Server) RefreshTrust(ctx context.Context) error { return s.trustRefresher.refresh(ctx) }

// Serve runs the node until ctx ends, Close is called or Drain completes; it
// then closes everything and returns nil. It may be called once.
func (s *Server) Serve(ctx context.Context) error {
	if !s.served.CompareAndSwap(false, true) {
		return errors.New("proxy: Serve called twice")
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.start(s.acceptClients)
	if s.peerLn != nil {
		s.start(s.acceptPeers)
	}
	if s.opsLn != nil {
		s.ops = &http.Server{Handler: s.opsHandler(), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute}
		s.start(func() { s.ops.Serve(s.opsLn) })
	}
	s.start(func() {
		s.certs.watch(s.ctx, s.cfg.CertReloadInterval, s.logReload)
	})
	s.start(func() { s.trustRefresher.run(s.ctx) })
	if s.cfg.MgmtTrustFile != "" {
		s.start(func() {
			s.trust.Watch(s.ctx, 2*time.Second, func(err error) {
				s.log.Error().Err(err).Msg("management trust file unreadable; keeping the current certificates")
			})
		})
	}
	s.start(s.housekeeping)
	s.mu.Unlock()
	s.log.Info().Str("listen", s.Addr().String()).Bool("client_authorization", !s.cfg.ClientAuthorizationOff).
		Int("mgmt_certs", s.trust.Len()).Int("peers", len(s.replay.peers)).Msg("proxy serving")

	select {
	case <-ctx.Done():
	case <-s.ctx.Done():
	}
	s.Close()
	return nil
}

// start runs f in a goroutine owned by s; s.mu must be held.
func (s *Server) start(f func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}

func (s *Server) housekeeping() {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			s.fails.sweep(s.cfg.Now())
		}
	}
}

// Close stops everything at once: listeners, pending connections and
// sessions (logged with end reason server_closed). It waits for every
// goroutine the server started and is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.cancel(errServerClosed)
		s.closeListeners()
		if s.ops != nil {
			s.ops.Close()
		}
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		for st := range s.sessions {
			st.cancel(errServerClosed)
		}
		s.mu.Unlock()
		s.ftp.Close()
		s.replay.close()
		s.trustRefresher.client.CloseIdleConnections()
	})
	s.wg.Wait()
	return nil
}

func (s *Server) closeListeners() {
	for _, l := range []net.Listener{s.ln, s.opsLn, s.peerLn} {
		if l != nil {
			l.Close()
		}
	}
}

// Drain takes the node out of service gracefully: /readyz fails at once,
// connections are still accepted for DrainGrace (for the load balancer to
// notice), then the client listener closes and later CONNECTs get 503
// draining; sessions may finish until DrainTimeout, after which they are
// closed with end reason drain_timeout. Then the server closes and Serve
// returns nil. If ctx ends first, remaining sessions are closed at once.
func (s *Server) Drain(ctx context.Context) error {
	if s.draining.Swap(true) {
		// a second Drain just waits for the first
		select {
		case <-s.ctx.Done():
		case <-ctx.Done():
		}
		s.wg.Wait()
		return nil
	}
	s.log.Info().Dur("grace", s.cfg.DrainGrace).Dur("timeout", s.cfg.DrainTimeout).Msg("draining: readiness off")
	s.ftp.Drain(time.Now().Add(s.cfg.DrainGrace + s.cfg.DrainTimeout))
	grace := time.NewTimer(s.cfg.DrainGrace)
	select {
	case <-grace.C:
	case <-ctx.Done():
	case <-s.ctx.Done():
	}
	grace.Stop()
	s.refusing.Store(true)
	s.ln.Close()
	deadline := time.NewTimer(s.cfg.DrainTimeout)
	defer deadline.Stop()
wait:
	for {
		s.mu.Lock()
		busy := len(s.sessions) + len(s.conns) - s.peerConnsLocked()
		s.mu.Unlock()
		if busy <= 0 {
			break
		}
		select {
		case <-s.idleCh:
		case <-deadline.C:
			s.mu.Lock()
			n := len(s.sessions)
			for st := range s.sessions {
				st.cancel(errDrainTimeout)
			}
			s.mu.Unlock()
			s.log.Warn().Int("sessions", n).Msg("drain timeout: closing the remaining sessions")
			break wait
		case <-ctx.Done():
			s.mu.Lock()
			for st := range s.sessions {
				st.cancel(errDrainTimeout)
			}
			s.mu.Unlock()
			break wait
		case <-s.ctx.Done():
			break wait
		}
	}
	s.log.Info().Msg("drained")
	return s.Close()
}

// peerConnsLocked counts peer-link connections among s.conns.
func (s *Server) peerConnsLocked() int {
	n := 0
	for c := range s.conns {
		if _, ok := c.(*tls.Conn); ok {
			n++
		}
	}
	return n
}

func (s *Server) notifyIdle() {
	select {
	case s.idleCh <- struct{}{}:
	default:
	}
}

// track registers c for Close; it returns false (and closes c) when the
// server is closed or too many connections are pending.
func (s *Server) track(c net.Conn, limit int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || limit > 0 && len(s.conns) >= limit {
		c.Close()
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.notifyIdle()
}

func (s *Server) acceptClients() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			return
		}
		if !s.track(c, s.cfg.MaxPending) {
			s.metrics.rejections.WithLabelValues("overloaded").Inc()
			continue
		}
		go func() {
			defer s.wg.Done()
			s.handle(c)
		}()
	}
}

func (s *Server) acceptPeers() {
	for {
		c, err := s.peerLn.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			return
		}
		if !s.track(c, 0) {
			continue
		}
		go func() {
			defer s.wg.Done()
			defer s.untrack(c)
			s.servePeer(s.ctx, c)
		}()
	}
}

// conn is what the server knows about one client connection.
type conn struct {
	raw     net.Conn
	tls     *tls.Conn
	client  netip.AddrPort
	br      *bufio.Reader
	tracked bool
	// relaying: the relay's goroutines own the connection; the handler
	// returns without closing it.
	relaying bool
}

// handle serves one client connection from accept to the end of its session.
func (s *Server) handle(raw net.Conn) {
	c := &conn{raw: raw, tracked: true}
	defer func() {
		if c.tracked {
			s.untrack(raw)
		}
		if !c.relaying {
			raw.Close()
		}
	}()
	start := s.cfg.Now()
	hsDeadline := time.Now().Add(s.cfg.HandshakeTimeout)
	front, client, err := s.frontEnd(raw, hsDeadline)
	c.client = client
	if err != nil {
		if errors.Is(err, ErrProxyHeader) {
			s.metrics.rejections.WithLabelValues("proxy_protocol").Inc()
			s.log.Warn().Str("client", client.String()).Err(err).Msg("connection refused")
		}
		return
	}
	// tlsend tells an FTP data channel's cut from its end (serveChannel).
	tc := tls.Server(relay.NewBatchConn(tlsend.New(front)), s.tlsConf)
	c.tls = tc
	// The deadline bounds the handshake, and Close closes tracked
	// connections: no context (whose watcher would be a goroutine per
	// handshake) is needed.
	tc.SetDeadline(hsDeadline)
	err = tc.Handshake()
	if err != nil {
		s.metrics.rejections.WithLabelValues("tls_handshake").Inc()
		s.log.Debug().Str("client", client.String()).Err(err).Msg("TLS handshake failed")
		return
	}
	s.metrics.handshake.Observe(s.cfg.Now().Sub(start).Seconds())
	tc.SetDeadline(time.Now().Add(s.cfg.HeaderTimeout))
	c.br = bufio.NewReaderSize(tc, 4096)
	req, err := ParseConnect(c.br)
	if err != nil {
		var ne net.Error
		switch {
		case errors.Is(err, ErrNotConnect) && isWebSocketRequest(req):
			s.serveWebSocket(c, req) // the WebSocket front end (ws.go)
		case errors.Is(err, ErrHeaderTooLarge), errors.Is(err, ErrBadRequest), errors.Is(err, ErrNotConnect):
			s.refuse(c, req, reject(CodeBadRequest, err, "%v", err), nil)
		case errors.As(err, &ne) && ne.Timeout():
			s.metrics.rejections.WithLabelValues("header_timeout").Inc()
			s.log.Info().Str("client", client.String()).Msg("request header timeout: connection closed")
		}
		return
	}
	s.serveConnect(c, req)
}

// refuse answers a CONNECT with an error response and records the rejection.
func (s *Server) refuse(c *conn, req *Request, rej *RejectError, claims *token.Claims) {
	s.metrics.rejections.WithLabelValues(string(rej.Code)).Inc()
	switch rej.Code.Status() {
	case http.StatusBadRequest, http.StatusForbidden, http.StatusProxyAuthRequired:
		s.fails.fail(c.client.Addr(), s.cfg.Now())
	}
	ev := s.log.Info().Str("event", "rejected").Str("code", string(rej.Code)).Int("status", rej.Code.Status()).
		Str("client", c.client.String()).Str("reason", oneLine(rej.Reason))
	if req != nil {
		ev = ev.Str("dst", clip(req.Target))
	}
	if claims != nil {
		ev = ev.Str("sub", claims.Subject).Str("jti", claims.ID)
	}
	ev.Msg("CONNECT rejected")
	c.tls.SetWriteDeadline(time.Now().Add(10 * time.Second))
	c.tls.Write(rejectResponse(rej.Code, rej.Reason))
	c.tls.CloseWrite()
}

// serveConnect authorizes a parsed CONNECT, dials and relays. Once the
// 200 answer is out, the relay's own goroutines carry the session and
// serveConnect returns, so that the handler goroutine (whose stack grew
// during the TLS handshake and the token check) ends; the last relay
// goroutine releases the session and writes its audit event.
func (s *Server) serveConnect(c *conn, req *Request) {
	if s.refusing.Load() {
		s.refuse(c, req, reject(CodeDraining, nil, "this proxy node is draining: connect again (the load balancer sends you to another node)"), nil)
		return
	}
	now := s.cfg.Now()
	if s.fails.blocked(c.client.Addr(), now) {
		s.refuse(c, req, reject(CodeRateLimited, nil, "too many failed authorizations from %s: wait and retry", c.client.Addr()), nil)
		return
	}
	target, err := token.NormalizeHostPort(req.Target)
	if err != nil {
		s.refuse(c, req, reject(CodeBadRequest, err, "bad CONNECT target: %v", err), nil)
		return
	}
	if n := s.active.Add(1); n > int64(s.cfg.MaxSessions) {
		s.active.Add(-1)
		s.refuse(c, req, reject(CodeOverloaded, nil, "this proxy node has %d sessions, its maximum: retry later", s.cfg.MaxSessions), nil)
		return
	}
	var held holdings // released on return, unless the relay took them over
	defer held.release()
	held.add(func() { s.active.Add(-1) })

	if req.Get("Termgate-Channel") != "" {
		s.serveChannel(c, req) // FTP data or notification channel (ftp.go)
		return
	}

	var claims *token.Claims
	if !s.cfg.ClientAuthorizationOff {
		claims, err = s.authorize(c, req, target)
		if err != nil {
			var rej *RejectError
			errors.As(err, &rej)
			s.refuse(c, req, rej, nil)
			return
		}
	} else if s.allow.empty() {
		s.refuse(c, req, reject(CodeDestinationDenied, nil, "client authorization is off and no destination is allowed (configure the allow list)"), nil)
		return
	}
	sub := ""
	if claims != nil {
		sub = claims.Subject
		if !s.reserveSubject(sub) {
			s.refuse(c, req, reject(CodeRateLimited, nil, "user %q already has %d sessions on this node, the maximum", sub, s.cfg.MaxSessionsPerSubject), claims)
			return
		}
		held.add(func() { s.releaseSubject(sub) })
	}

	dstart := time.Now()
	upstream, rej := s.connectDestination(c, target, claims)
	if rej != nil {
		s.refuse(c, req, rej, claims)
		return
	}
	s.metrics.dial.Observe(time.Since(dstart).Seconds())

	// Register the session before answering, so Drain and Close see it.
	st := &sessionState{}
	if !s.addSession(st, c) {
		upstream.Close()
		return
	}
	held.add(func() { s.removeSession(st) })

	info := sessionInfo{id: newSessionID(), client: c.client.String(), sub: sub, dst: target, proto: token.ProtoTCP}
	if claims != nil {
		info.proto, info.jti = claims.Proto, claims.ID
	}
	resp := establishedResponse(info.id)
	isFTP := claims != nil && claims.Proto == token.ProtoFTP
	if isFTP {
		ticket, err := s.ftp.IssueTicket(info.id)
		if err != nil {
			upstream.Close()
			s.refuse(c, req, reject(CodeDraining, err, "this proxy node is closing: connect again"), claims)
			return
		}
		resp = establishedFTPResponse(info.id, ticket, s.cfg.FTPDirectAddress)
	}
	c.tls.SetDeadline(time.Time{})
	c.tls.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.tls.Write(resp); err != nil {
		upstream.Close()
		return
	}
	c.tls.SetWriteDeadline(time.Time{})
	s.sessionStarted(info, upstream)

	if isFTP {
		ctx, cancel := context.WithCancelCause(s.ctx)
		defer cancel(nil)
		st.running(cancel)
		s.sessionEnded(info, s.runFTPControl(ctx, c, upstream, info.id, target, claims))
		return
	}
	// Bytes the client pipelined after the request go first; the 4 KiB
	// request buffer is dropped with the handler.
	var pipelined []byte
	if n := c.br.Buffered(); n > 0 {
		pipelined, _ = c.br.Peek(n)
		pipelined = bytes.Clone(pipelined)
	}
	c.br = nil
	release := held.take()
	c.relaying = true
	tc, raw := c.tls, c.raw
	s.wg.Add(1) // the handler still holds its own count: Close cannot be past Wait
	// The session is stopped through st (Drain, Close), not a context:
	// an idle session holds as little as possible.
	rs := relay.Start(context.Background(), relay.Side{Conn: tc, Buffered: pipelined}, relay.Side{Conn: upstream},
		relay.Config{IdleTimeout: s.cfg.IdleTimeout, MaxDuration: s.cfg.MaxSessionDuration},
		func(res relay.Result) {
			defer s.wg.Done()
			raw.Close()
			s.sessionEnded(info, res)
			release()
		})
	st.running(rs.Cancel)
}

// holdings are what a session took (a slot, a per-user count, its
// registration), released in reverse order by release, or handed over
// with take.
type holdings struct{ undo []func() }

func (h *holdings) add(f func()) { h.undo = append(h.undo, f) }

// take hands the holdings over: the returned func releases them, and
// release no longer does.
func (h *holdings) take() func() {
	undo := h.undo
	h.undo = nil
	return func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
}

func (h *holdings) release() { h.take()() }

// sessionInfo is what a CONNECT session's audit events say about it.
type sessionInfo struct {
	id, client, sub, jti, dst, proto string
}

func (s *Server) sessionStarted(info sessionInfo, upstream net.Conn) {
	s.metrics.total.Inc()
	s.metrics.active.Inc()
	s.log.Info().Str("event", "session_start").Str("session", info.id).Str("client", info.client).
		Str("sub", info.sub).Str("jti", info.jti).Str("dst", info.dst).Str("proto", info.proto).
		Str("upstream", upstream.RemoteAddr().String()).Msg("session started")
}

func (s *Server) sessionEnded(info sessionInfo, res relay.Result) {
	s.metrics.active.Dec()
	s.metrics.bytes.WithLabelValues("in").Add(float64(res.BytesIn))
	s.metrics.bytes.WithLabelValues("out").Add(float64(res.BytesOut))
	reason := string(res.Reason)
	if res.Reason == relay.ReasonCanceled {
		switch {
		case errors.Is(res.Err, errDrainTimeout):
			reason = "drain_timeout"
		case errors.Is(res.Err, errServerClosed):
			reason = "server_closed"
		}
	}
	ev := s.log.Info()
	if reason == "drain_timeout" || reason == "server_closed" {
		ev = s.log.Warn()
	}
	ev.Str("event", "session_end").Str("session", info.id).Str("client", info.client).
		Str("sub", info.sub).Str("jti", info.jti).Str("dst", info.dst).Str("proto", info.proto).
		Int64("bytes_in", res.BytesIn).Int64("bytes_out", res.BytesOut).
		Dur("duration", res.Duration).Str("end_reason", reason).Msg("session ended")
}

// authorize verifies the token of a CONNECT for target.
func (s *Server) authorize(c *conn, req *Request, target string) (*token.Claims, error) {
	auth := req.Get("Proxy-Authorization")
	if auth == "" {
		return nil, reject(Code(token.CodeMissing), token.ErrMissing, "no token: send Proxy-Authorization: Bearer <token>")
	}
	scheme, tok, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return nil, reject(Code(token.CodeMalformed), token.ErrMalformed, "Proxy-Authorization must use the Bearer scheme")
	}
	p := token.Presentation{
		Token:    strings.TrimSpace(tok),
		Dst:      target,
		Proof:    req.Get("Termgate-Proof"),
		ProofKey: req.Get("Termgate-Proof-Key"),
	}
	if p.Proof != "" || p.ProofKey != "" {
		if ekm, err := token.Exporter(c.tls.ConnectionState()); err == nil {
			p.Exporter = ekm
		}
	}
	vstart := time.Now()
	// The replay check bounds its own wait for a peer node (and a local
	// check needs none: no timer per request).
	claims, err := s.verifier.Verify(s.ctx, p)
	s.metrics.verify.Observe(time.Since(vstart).Seconds())
	if err != nil {
		code := Code(token.CodeOf(err))
		if code == "" {
			code = Code(token.CodeMalformed)
		}
		reason := err.Error()
		var te *token.Error
		if errors.As(err, &te) && te.Reason != "" {
			reason = te.Reason
		}
		return nil, reject(code, err, "%s", reason)
	}
	return claims, nil
}

func (s *Server) reserveSubject(sub string) bool {
	if s.cfg.MaxSessionsPerSubject < 0 {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perSub[sub] >= s.cfg.MaxSessionsPerSubject {
		return false
	}
	s.perSub[sub]++
	return true
}

func (s *Server) releaseSubject(sub string) {
	if s.cfg.MaxSessionsPerSubject < 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perSub[sub]--; s.perSub[sub] <= 0 {
		delete(s.perSub, sub)
	}
}

func newSessionID() string {
	var b [12]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// batchListener puts a relay.BatchConn under every connection it accepts,
// for the TLS layer that wraps it.
type batchListener struct{ net.Listener }

func (l batchListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return relay.NewBatchConn(tlsend.New(c)), nil
}

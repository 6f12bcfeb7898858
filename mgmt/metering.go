package mgmt

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/pion/dtls/v3"
	bolt "go.etcd.io/bbolt"

	"github.com/termgate/termgate/token"
)

// meterClaims are the claims of a metering ticket: sub is the user, jti the
// launch id (the authorization token's jti), ses the session definition.
type meterClaims struct {
	jwt.RegisteredClaims
	Session  string `json:"ses,omitempty"`
	Interval int    `json:"ivl"`
}

// issueTicket signs a metering ticket for one launch.
func (s *Server) issueTicket(user, session, launchID string) (string, error) {
	ks := s.keys.Load()
	m, err := signingMethod(ks.current)
	if err != nil {
		return "", err
	}
	now := s.now()
	c := meterClaims{
		RegisteredClaims: jwt.RegisteredClaims{Issuer: s.nodeID, Subject: user, Audience: jwt.ClaimStrings{MeterAudience},
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(s.cfg.ticketTTL())), ID: launchID},
		Session:  session,
		Interval: int(s.cfg.meterInterval() / time.Second),
	}
	t := jwt.NewWithClaims(m, c)
	t.Header["typ"] = MeterTicketType
	t.Header["kid"] = ks.current.kid
	return t.SignedString(ks.current.key)
}

// parseTicket verifies a metering ticket against the group's signing keys
// (a ticket from any node verifies on every node).
func (s *Server) parseTicket(tok string) (*meterClaims, error) {
	if len(tok) > token.MaxSize {
		return nil, fmt.Errorf("%w: too large", ErrTicket)
	}
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodES256.Alg(), jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithAudience(MeterAudience), jwt.WithExpirationRequired(), jwt.WithIssuedAt(),
		jwt.WithLeeway(token.DefaultLeeway), jwt.WithTimeFunc(s.now), jwt.WithStrictDecoding(),
	)
	var c meterClaims
	if _, err := p.ParseWithClaims(tok, &c, s.signerKeyfunc(s.keys.Load().signers, MeterTicketType)); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTicket, err)
	}
	if c.ID == "" || c.Subject == "" || c.Interval < 1 || c.IssuedAt == nil {
		return nil, fmt.Errorf("%w: ticket lacks jti, sub, ivl or iat", ErrTicket)
	}
	return &c, nil
}

// meterAdvertise is the metering address clients are told ("" without metering).
func (s *Server) meterAdvertise() string {
	if s.cfg.DTLSAdvertise != "" {
		return s.cfg.DTLSAdvertise
	}
	if s.meter != nil && s.meter.ln != nil {
		return s.meter.ln.Addr().String()
	}
	return s.cfg.DTLSAddr
}

// meteringFor builds the metering part of a launch response.
func (s *Server) meteringFor(user, session, launchID string) (*Metering, error) {
	if s.cfg.DTLSAddr == "" {
		return nil, nil
	}
	t, err := s.issueTicket(user, session, launchID)
	if err != nil {
		return nil, err
	}
	self := s.meterAdvertise()
	addrs := []string{self}
	for _, p := range s.peerRecords() {
		if p.NodeID != s.nodeID && p.DTLSAddress != "" && p.DTLSAddress != self {
			addrs = append(addrs, p.DTLSAddress)
		}
	}
	return &Metering{Address: self, IntervalS: int(s.cfg.meterInterval() / time.Second), Ticket: t,
		Addresses: addrs, TrustStore: string(s.repl.groupTLSTrust().Encode())}, nil
}

// ----- the DTLS listener -----

// meter is the metering listener of one node.
type meter struct {
	s   *Server
	ln  net.Listener
	sem chan struct{}
	wg  sync.WaitGroup

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	active map[string]activeLaunch // launch id → last heartbeat here
	closed bool
}

type activeLaunch struct {
	user string
	last time.Time
	ivl  time.Duration
}

func newMeter(s *Server) (*meter, error) {
	addr, err := net.ResolveUDPAddr("udp", s.cfg.DTLSAddr)
	if err != nil {
		return nil, fmt.Errorf("metering address %q: %w", s.cfg.DTLSAddr, err)
	}
	ln, err := dtls.ListenWithOptions("udp", addr,
		dtls.WithGetCertificate(func(*dtls.ClientHelloInfo) (*tls.Certificate, error) { return s.tlsCert, nil }),
		dtls.WithInsecureSkipVerifyHello(false), // the cookie exchange (HelloVerifyRequest) is always on
		dtls.WithExtendedMasterSecret(dtls.RequireExtendedMasterSecret),
		dtls.WithFlightInterval(500*time.Millisecond),
	)
	if err != nil {
		return nil, fmt.Errorf("metering listen %s: %w", s.cfg.DTLSAddr, err)
	}
	return &meter{s: s, ln: ln, sem: make(chan struct{}, s.cfg.maxMeterConns()), conns: map[net.Conn]struct{}{}, active: map[string]activeLaunch{}}, nil
}

// DTLSAddr is the metering listener's address, or nil without metering.
func (s *Server) DTLSAddr() net.Addr {
	if s.meter == nil {
		return nil
	}
	return s.meter.ln.Addr()
}

func (m *meter) serve(stop <-chan struct{}) {
	defer m.wg.Done()
	for {
		c, err := m.ln.Accept()
		if err != nil {
			select {
			case <-stop:
				return
			default:
			}
			m.mu.Lock()
			closed := m.closed
			m.mu.Unlock()
			if closed {
				return
			}
			m.s.log.Debug().Err(err).Msg("metering accept")
			time.Sleep(10 * time.Millisecond)
			continue
		}
		select {
		case m.sem <- struct{}{}:
		default:
			c.Close() // too many associations at once
			m.s.metrics.heartbeats.WithLabelValues("overloaded").Inc()
			continue
		}
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			c.Close()
			<-m.sem
			return
		}
		m.conns[c] = struct{}{}
		m.wg.Add(1)
		m.mu.Unlock()
		go m.handle(c)
	}
}

func (m *meter) close() {
	m.mu.Lock()
	m.closed = true
	for c := range m.conns {
		c.Close()
	}
	m.mu.Unlock()
	m.ln.Close()
	m.wg.Wait()
}

func (m *meter) handle(c net.Conn) {
	defer func() {
		c.Close()
		m.mu.Lock()
		delete(m.conns, c)
		m.mu.Unlock()
		<-m.sem
		m.wg.Done()
	}()
	defer func() {
		if p := recover(); p != nil {
			m.s.log.Error().Interface("panic", p).Msg("metering connection")
		}
	}()
	dc, ok := c.(*dtls.Conn)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	err := dc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		m.s.metrics.heartbeats.WithLabelValues("handshake_failed").Inc()
		m.s.log.Debug().Err(err).Str("client", c.RemoteAddr().String()).Msg("metering handshake failed")
		return
	}
	idle := max(3*m.s.cfg.meterInterval(), 30*time.Second)
	buf := make([]byte, MaxHeartbeatSize+1)
	for {
		c.SetReadDeadline(time.Now().Add(idle))
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		ack := m.s.recordHeartbeat(buf[:n], c.RemoteAddr().String())
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(encodeAck(ack)); err != nil {
			return
		}
	}
}

// meterRecord is one heartbeat as a node stores it (and as
// GET /api/v1/admin/metering/records lists it).
type MeterRecord struct {
	Launch    string    `json:"launch"`
	User      string    `json:"user"`
	Session   string    `json:"session,omitempty"`
	Seq       uint64    `json:"seq"`
	TS        time.Time `json:"ts"`
	Node      string    `json:"node"`
	IntervalS int       `json:"interval_s"`
}

func meterKey(launch string, seq uint64) []byte {
	return append(append([]byte(launch), 0), u64(seq)...)
}

// RecordHeartbeat checks one heartbeat datagram and records it: a valid
// ticket from any node of the group, a sequence number not yet recorded
// here for that launch, and a time within the ticket's life. It returns
// the acknowledgement to send back.
func (s *Server) RecordHeartbeat(b []byte) HeartbeatAck { return s.recordHeartbeat(b, "") }

func (s *Server) recordHeartbeat(b []byte, client string) HeartbeatAck {
	hb, err := DecodeHeartbeat(b)
	if err != nil {
		s.metrics.heartbeats.WithLabelValues(AckMalformed).Inc()
		return HeartbeatAck{Error: AckMalformed}
	}
	ack := HeartbeatAck{Seq: hb.Seq}
	c, err := s.parseTicket(hb.Ticket)
	if err != nil {
		s.metrics.heartbeats.WithLabelValues(AckTicket).Inc()
		s.log.Debug().Err(err).Str("client", client).Msg("metering: heartbeat refused")
		ack.Error = AckTicket
		return ack
	}
	now := s.now()
	ts := time.UnixMilli(hb.TS)
	if ts.After(now.Add(time.Minute)) || ts.Before(c.IssuedAt.Add(-time.Minute)) || ts.After(c.ExpiresAt.Add(time.Minute)) {
		s.metrics.heartbeats.WithLabelValues(AckClock).Inc()
		ack.Error = AckClock
		return ack
	}
	rec := MeterRecord{Launch: c.ID, User: c.Subject, Session: c.Session, Seq: hb.Seq, TS: ts.UTC(), Node: s.nodeID, IntervalS: c.Interval}
	v, _ := json.Marshal(rec)
	err = s.st.updateLocal(func(tx *bolt.Tx) error {
		b := tx.Bucket(bMeter)
		k := meterKey(c.ID, hb.Seq)
		if b.Get(k) != nil {
			return errReplayed
		}
		return b.Put(k, v)
	})
	switch {
	case errors.Is(err, errReplayed):
		s.metrics.heartbeats.WithLabelValues(AckReplayed).Inc()
		ack.Error = AckReplayed
		return ack
	case err != nil:
		s.storeErrorEvent(err).Err(err).Msg("metering: cannot record a heartbeat")
		s.metrics.heartbeats.WithLabelValues(AckInternal).Inc()
		ack.Error = AckInternal
		return ack
	}
	s.metrics.heartbeats.WithLabelValues("ok").Inc()
	s.checkConcurrency(rec, now)
	ack.OK = true
	return ack
}

var errReplayed = errors.New("replayed")

// checkConcurrency alerts (log and metric) when a user has more sessions
// active on this node than Config.MeteringConcurrencyLimit. The merged
// report (GET /api/v1/admin/metering) lists alerts over the whole group.
func (s *Server) checkConcurrency(rec MeterRecord, now time.Time) {
	if s.meter == nil {
		return
	}
	m := s.meter
	m.mu.Lock()
	m.active[rec.Launch] = activeLaunch{user: rec.User, last: now, ivl: time.Duration(rec.IntervalS) * time.Second}
	n := 0
	for id, a := range m.active {
		if now.Sub(a.last) > 3*a.ivl+time.Second {
			delete(m.active, id)
			continue
		}
		if a.user == rec.User {
			n++
		}
	}
	m.mu.Unlock()
	if lim := s.cfg.MeteringConcurrencyLimit; lim > 0 && n > lim {
		s.metrics.meterAlerts.Inc()
		s.log.Warn().Str("sub", rec.User).Int("concurrent", n).Int("limit", lim).Msg("metering: concurrent sessions above the limit")
	}
}

// MeteringRecords returns this node's heartbeat records with from <= ts < to.
func (s *Server) MeteringRecords(from, to time.Time) ([]MeterRecord, error) {
	out := []MeterRecord{}
	err := s.st.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bMeter).ForEach(func(k, v []byte) error {
			var r MeterRecord
			if json.Unmarshal(v, &r) != nil {
				return nil
			}
			if !r.TS.Before(from) && r.TS.Before(to) {
				out = append(out, r)
			}
			return nil
		})
	})
	return out, err
}

// sweepMetering deletes records older than Config.MeteringKeep.
func (s *Server) sweepMetering() error {
	limit := s.now().Add(-s.cfg.meterKeep())
	return s.st.updateLocal(func(tx *bolt.Tx) error {
		b := tx.Bucket(bMeter)
		var old [][]byte
		b.ForEach(func(k, v []byte) error {
			var r MeterRecord
			if json.Unmarshal(v, &r) != nil || r.TS.Before(limit) {
				old = append(old, append([]byte(nil), k...))
			}
			return nil
		})
		for _, k := range old {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

// ----- the merged report -----

// MeteredSession is one launch as the merged report sees it.
type MeteredSession struct {
	Launch     string    `json:"launch"`
	User       string    `json:"user"`
	Session    string    `json:"session,omitempty"`
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"` // last heartbeat + interval
	Heartbeats int       `json:"heartbeats"`
	Nodes      []string  `json:"nodes"` // nodes that received its heartbeats
	// Gaps counts silences longer than 3 intervals (the launch then counts
	// as several segments).
	Gaps int `json:"gaps"`
}

// Concurrency is the peak number of sessions active at once.
type Concurrency struct {
	Total     int            `json:"total"`
	ByUser    map[string]int `json:"by_user"`
	BySession map[string]int `json:"by_session"`
}

// MeteringWindow is the peak concurrency within one time window.
type MeteringWindow struct {
	Start time.Time   `json:"start"`
	End   time.Time   `json:"end"`
	Peak  Concurrency `json:"peak"`
}

// MeteringAlert is a user above Config.MeteringConcurrencyLimit.
type MeteringAlert struct {
	User  string    `json:"user"`
	Peak  int       `json:"peak"`
	Limit int       `json:"limit"`
	At    time.Time `json:"at"`
}

// MeteringReport is the answer of GET /api/v1/admin/metering.
type MeteringReport struct {
	From     time.Time        `json:"from"`
	To       time.Time        `json:"to"`
	Nodes    []string         `json:"nodes"`             // nodes whose records are merged
	Missing  []string         `json:"missing,omitempty"` // nodes that could not be asked
	Sessions []MeteredSession `json:"sessions"`
	Peak     Concurrency      `json:"peak"`
	Windows  []MeteringWindow `json:"windows"`
	Alerts   []MeteringAlert  `json:"alerts"`
}

type segment struct {
	user, session string
	start, end    time.Time
}

// BuildMeteringReport merges heartbeat records (from any number of nodes,
// duplicates removed by launch and seq) into sessions, peaks of concurrency
// per user and per session definition over [from, to) and per window, and
// alerts for users above limit (0: none).
func BuildMeteringReport(recs []MeterRecord, from, to time.Time, window time.Duration, limit int) MeteringReport {
	rep := MeteringReport{From: from, To: to, Sessions: []MeteredSession{}, Windows: []MeteringWindow{}, Alerts: []MeteringAlert{}}
	type key struct {
		l string
		s uint64
	}
	seen := map[key]bool{}
	by := map[string][]MeterRecord{}
	for _, r := range recs {
		k := key{r.Launch, r.Seq}
		if seen[k] {
			continue
		}
		seen[k] = true
		by[r.Launch] = append(by[r.Launch], r)
	}
	var segs []segment
	for id, rs := range by {
		sort.Slice(rs, func(i, j int) bool { return rs[i].TS.Before(rs[j].TS) })
		ivl := time.Duration(max(rs[0].IntervalS, 1)) * time.Second
		ms := MeteredSession{Launch: id, User: rs[0].User, Session: rs[0].Session, Start: rs[0].TS, Heartbeats: len(rs)}
		nodes := map[string]bool{}
		segStart := rs[0].TS
		for i, r := range rs {
			nodes[r.Node] = true
			if i > 0 && r.TS.Sub(rs[i-1].TS) > 3*ivl {
				ms.Gaps++
				segs = append(segs, segment{ms.User, ms.Session, segStart, rs[i-1].TS.Add(ivl)})
				segStart = r.TS
			}
		}
		ms.End = rs[len(rs)-1].TS.Add(ivl)
		segs = append(segs, segment{ms.User, ms.Session, segStart, ms.End})
		for n := range nodes {
			ms.Nodes = append(ms.Nodes, n)
		}
		sort.Strings(ms.Nodes)
		rep.Sessions = append(rep.Sessions, ms)
	}
	sort.Slice(rep.Sessions, func(i, j int) bool {
		if !rep.Sessions[i].Start.Equal(rep.Sessions[j].Start) {
			return rep.Sessions[i].Start.Before(rep.Sessions[j].Start)
		}
		return rep.Sessions[i].Launch < rep.Sessions[j].Launch
	})
	var userPeakAt map[string]time.Time
	rep.Peak, userPeakAt = peak(segs, from, to)
	if window > 0 {
		for ws := from; ws.Before(to) && len(rep.Windows) < 10000; ws = ws.Add(window) {
			we := ws.Add(window)
			if we.After(to) {
				we = to
			}
			p, _ := peak(segs, ws, we)
			rep.Windows = append(rep.Windows, MeteringWindow{Start: ws, End: we, Peak: p})
		}
	}
	if limit > 0 {
		for u, n := range rep.Peak.ByUser {
			if n > limit {
				rep.Alerts = append(rep.Alerts, MeteringAlert{User: u, Peak: n, Limit: limit, At: userPeakAt[u]})
			}
		}
		sort.Slice(rep.Alerts, func(i, j int) bool { return rep.Alerts[i].User < rep.Alerts[j].User })
	}
	return rep
}

// peak sweeps the segments clipped to [from, to).
func peak(segs []segment, from, to time.Time) (Concurrency, map[string]time.Time) {
	type ev struct {
		t     time.Time
		d     int
		user  string
		sess  string
		index int
	}
	var evs []ev
	for i, s := range segs {
		st, en := s.start, s.end
		if st.Before(from) {
			st = from
		}
		if en.After(to) {
			en = to
		}
		if !st.Before(en) {
			continue
		}
		evs = append(evs, ev{st, 1, s.user, s.session, i}, ev{en, -1, s.user, s.session, i})
	}
	// Ends sort before starts at the same instant: back-to-back is not concurrent.
	sort.Slice(evs, func(i, j int) bool {
		if !evs[i].t.Equal(evs[j].t) {
			return evs[i].t.Before(evs[j].t)
		}
		return evs[i].d < evs[j].d
	})
	c := Concurrency{ByUser: map[string]int{}, BySession: map[string]int{}}
	at := map[string]time.Time{}
	total, users, sessions := 0, map[string]int{}, map[string]int{}
	for _, e := range evs {
		total += e.d
		users[e.user] += e.d
		sessions[e.sess] += e.d
		c.Total = max(c.Total, total)
		if users[e.user] > c.ByUser[e.user] {
			c.ByUser[e.user] = users[e.user]
			at[e.user] = e.t
		}
		if e.sess != "" {
			c.BySession[e.sess] = max(c.BySession[e.sess], sessions[e.sess])
		}
	}
	return c, at
}

// MeteringReport merges the heartbeat records of every node of the group
// over [from, to): this node's own and those of each peer (asked over
// HTTPS with auth, the caller's credentials). Each node keeps the
// heartbeats it received, so no node is a single point of failure for
// metering; a peer that cannot be asked is listed in Missing.
func (s *Server) MeteringReport(ctx context.Context, from, to time.Time, window time.Duration, auth http.Header) (MeteringReport, error) {
	recs, err := s.MeteringRecords(from, to)
	if err != nil {
		return MeteringReport{}, err
	}
	nodes := []string{s.nodeID}
	var missing []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, p := range s.repl.peerTargets() {
		wg.Add(1)
		go func(p Peer) {
			defer wg.Done()
			rs, err := s.fetchRecords(ctx, p, from, to, auth)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				s.log.Warn().Err(err).Str("peer", p.ID).Msg("metering: peer records unavailable")
				missing = append(missing, p.ID)
				return
			}
			nodes = append(nodes, p.ID)
			recs = append(recs, rs...)
		}(p)
	}
	wg.Wait()
	rep := BuildMeteringReport(recs, from, to, window, s.cfg.MeteringConcurrencyLimit)
	sort.Strings(nodes)
	sort.Strings(missing)
	rep.Nodes, rep.Missing = nodes, missing
	return rep, nil
}

func (s *Server) fetchRecords(ctx context.Context, p Peer, from, to time.Time, auth http.Header) ([]MeterRecord, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	q := url.Values{"from": {from.UTC().Format(time.RFC3339Nano)}, "to": {to.UTC().Format(time.RFC3339Nano)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/api/v1/admin/metering/records?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	for _, h := range []string{"Authorization", "Cookie"} {
		if v := auth.Values(h); len(v) > 0 {
			req.Header[h] = v
		}
	}
	resp, err := s.repl.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, readAPIError(resp)
	}
	var out struct {
		Records []MeterRecord `json:"records"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 256<<20)).Decode(&out); err != nil {
		return nil, err
	}
	return out.Records, nil
}

func parseRange(r *http.Request, now time.Time) (from, to time.Time, window time.Duration, err error) {
	q := r.URL.Query()
	to, from, window = now, now.Add(-24*time.Hour), time.Hour
	parse := func(name string, dst *time.Time) error {
		v := q.Get(name)
		if v == "" {
			return nil
		}
		t, e := time.Parse(time.RFC3339Nano, v)
		if e != nil {
			if sec, e2 := strconv.ParseInt(v, 10, 64); e2 == nil {
				t = time.Unix(sec, 0)
			} else {
				return invalidf("%s: want RFC 3339 time or Unix seconds", name)
			}
		}
		*dst = t
		return nil
	}
	if err = parse("from", &from); err != nil {
		return
	}
	if err = parse("to", &to); err != nil {
		return
	}
	if v := q.Get("window"); v != "" {
		if window, err = time.ParseDuration(v); err != nil || window < time.Second {
			return from, to, 0, invalidf("window: want a duration of at least 1s, e.g. 5m")
		}
	}
	if !from.Before(to) {
		return from, to, 0, invalidf("from must be before to")
	}
	return from, to, window, nil
}

func (s *Server) handleMeteringReport(w http.ResponseWriter, r *http.Request, _ *principal) {
	from, to, window, err := parseRange(r, s.now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rep, err := s.MeteringReport(r.Context(), from, to, window, r.Header)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

func (s *Server) handleMeteringRecords(w http.ResponseWriter, r *http.Request, _ *principal) {
	from, to, _, err := parseRange(r, s.now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	recs, err := s.MeteringRecords(from, to)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"node": s.nodeID, "records": recs})
}

package proxy

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/termgate/termgate/internal/relay"
	"github.com/termgate/termgate/internal/tlsend"
	"github.com/termgate/termgate/token"
)

// Peer link protocol (mutually authenticated TLS, one request per line):
//
//	→ CHECK <jti> <expires-unix-seconds>\n
//	← OK\n | REPLAYED\n | ERROR <reason>\n
//
// A connection carries any number of requests in sequence and is kept in a
// small pool for reuse. A FORWARD request (forward.go) instead turns the
// connection into the stream of one forwarded FTP channel.
const (
	peerMaxLine     = 256
	peerIdleTimeout = 5 * time.Minute
	peerPoolSize    = 4
	maxJTILen       = 128
)

// clusterReplay is the cluster-wide token.ReplayChecker: each jti has one
// owner node, chosen by rendezvous (highest random weight) hashing over the
// node ids, and the owner's local ReplayCache arbitrates its first use.
// It is safe for concurrent use.
type clusterReplay struct {
	self    string
	nodes   []string
	local   *token.ReplayCache
	peers   map[string]*peerClient
	timeout time.Duration
	log     zerolog.Logger
	onPeer  func(peer string, ok bool) // metrics hook; may be nil
}

var _ token.ReplayChecker = (*clusterReplay)(nil)

// owner returns the node id that arbitrates jti.
func (c *clusterReplay) owner(jti string) string {
	return hrwOwner(c.nodes, jti)
}

// hrwOwner is rendezvous hashing: the node with the highest hash of
// (node, key) owns key. Every node computes the same answer from the same
// set of ids, and removing a node moves only the keys it owned.
func hrwOwner(nodes []string, key string) string {
	var best string
	var bestScore uint64
	for _, n := range nodes {
		h := sha256.New()
		h.Write([]byte(n))
		h.Write([]byte{0})
		h.Write([]byte(key))
		var sum [sha256.Size]byte
		score := binary.BigEndian.Uint64(h.Sum(sum[:0]))
		if best == "" || score > bestScore || score == bestScore && n < best {
			best, bestScore = n, score
		}
	}
	return best
}

// Check implements token.ReplayChecker. The owner node answers; when the
// owner cannot be reached the jti is recorded in the local cache (a local
// replay is still refused) and the error wraps
// token.ErrReplayCheckUnavailable, which the Verifier tolerates only for a
// proof-of-possession token.
func (c *clusterReplay) Check(ctx context.Context, jti string, expires time.Time) error {
	owner := c.owner(jti)
	if owner == c.self || owner == "" {
		return c.local.Check(ctx, jti, expires)
	}
	p := c.peers[owner]
	pctx, cancel := context.WithTimeout(ctx, c.timeout+time.Second)
	replayed, err := p.check(pctx, jti, expires)
	cancel()
	if c.onPeer != nil {
		c.onPeer(owner, err == nil)
	}
	if err == nil {
		if replayed {
			return fmt.Errorf("jti owner %s: %w", owner, token.ErrReplayed)
		}
		return nil
	}
	c.log.Warn().Err(err).Str("peer", owner).Msg("replay check: owner node unreachable")
	if lerr := c.local.Check(ctx, jti, expires); lerr != nil {
		return lerr
	}
	return fmt.Errorf("ask owner node %s: %w: %w", owner, token.ErrReplayCheckUnavailable, err)
}

func (c *clusterReplay) close() {
	for _, p := range c.peers {
		p.close()
	}
}

// peerClient keeps a few idle connections to one peer.
type peerClient struct {
	id      string
	addr    string
	tlsConf func() *tls.Config
	timeout time.Duration
	dial    func(ctx context.Context, network, addr string) (net.Conn, error)

	mu     sync.Mutex
	idle   []*peerConn
	closed bool
}

type peerConn struct {
	c  net.Conn
	br *bufio.Reader
}

func (p *peerClient) get(ctx context.Context) (*peerConn, bool, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, false, ErrClosed
	}
	if n := len(p.idle); n > 0 {
		pc := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return pc, true, nil
	}
	p.mu.Unlock()
	dctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	tc, err := p.dialConn(dctx)
	if err != nil {
		return nil, false, err
	}
	return &peerConn{c: tc, br: bufio.NewReaderSize(tc, 512)}, false, nil
}

// dialConn opens a new mutually authenticated connection to the peer,
// bounded by ctx.
func (p *peerClient) dialConn(ctx context.Context) (*tls.Conn, error) {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	raw, err := p.dial(ctx, "tcp", p.addr)
	if err != nil {
		return nil, err
	}
	tc := tls.Client(relay.NewBatchConn(tlsend.New(raw)), p.tlsConf())
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, err
	}
	return tc, nil
}

func (p *peerClient) put(pc *peerConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || len(p.idle) >= peerPoolSize {
		pc.c.Close()
		return
	}
	p.idle = append(p.idle, pc)
}

func (p *peerClient) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, pc := range p.idle {
		pc.c.Close()
	}
	p.idle = nil
}

// check asks the peer; a pooled connection that fails is replaced by a
// fresh one once.
func (p *peerClient) check(ctx context.Context, jti string, expires time.Time) (replayed bool, err error) {
	if p == nil {
		return false, fmt.Errorf("%w: no link configured", ErrPeerUnavailable)
	}
	for attempt := 0; attempt < 2; attempt++ {
		pc, reused, err := p.get(ctx)
		if err != nil {
			return false, fmt.Errorf("%w: %s (%s): %v", ErrPeerUnavailable, p.id, p.addr, err)
		}
		replayed, err := p.ask(ctx, pc, jti, expires)
		if err == nil {
			p.put(pc)
			return replayed, nil
		}
		pc.c.Close()
		if !reused || ctx.Err() != nil {
			return false, fmt.Errorf("%w: %s (%s): %v", ErrPeerUnavailable, p.id, p.addr, err)
		}
	}
	return false, fmt.Errorf("%w: %s", ErrPeerUnavailable, p.id)
}

func (p *peerClient) ask(ctx context.Context, pc *peerConn, jti string, expires time.Time) (bool, error) {
	dl := time.Now().Add(p.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	pc.c.SetDeadline(dl)
	if _, err := fmt.Fprintf(pc.c, "CHECK %s %d\n", jti, expires.Unix()); err != nil {
		return false, err
	}
	line, err := pc.br.ReadSlice('\n')
	if err != nil {
		return false, err
	}
	switch resp := strings.TrimRight(string(line), "\r\n"); {
	case resp == "OK":
		return false, nil
	case resp == "REPLAYED":
		return true, nil
	default:
		return false, fmt.Errorf("peer answered %q", clip(resp))
	}
}

// validJTI accepts the base64url alphabet only, bounded in length.
func validJTI(s string) bool {
	if s == "" || len(s) > maxJTILen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// parsePeerRequest decodes one request line (without its newline).
func parsePeerRequest(line string, now time.Time) (jti string, expires time.Time, err error) {
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != "CHECK" {
		return "", time.Time{}, errors.New("bad request")
	}
	if !validJTI(f[1]) {
		return "", time.Time{}, errors.New("bad jti")
	}
	sec, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil {
		return "", time.Time{}, errors.New("bad expiry")
	}
	expires = time.Unix(sec, 0)
	// a peer cannot pin entries for longer than any token may live
	if max := now.Add(token.MaxTTL + 2*token.DefaultLeeway); expires.After(max) {
		expires = max
	}
	return f[1], expires, nil
}

// servePeer answers one authenticated peer connection.
func (s *Server) servePeer(ctx context.Context, c net.Conn) {
	defer c.Close()
	tc := c.(*tls.Conn)
	tc.SetDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	if err := tc.HandshakeContext(ctx); err != nil {
		s.log.Warn().Err(err).Str("peer_addr", c.RemoteAddr().String()).Msg("peer link handshake failed")
		return
	}
	br := bufio.NewReaderSize(tc, peerMaxLine)
	for {
		tc.SetReadDeadline(time.Now().Add(peerIdleTimeout))
		line, err := br.ReadSlice('\n')
		if err != nil {
			return
		}
		if strings.HasPrefix(string(line), "FORWARD ") {
			s.serveForward(ctx, tc, br, strings.TrimRight(string(line), "\r\n"))
			return
		}
		var resp string
		jti, exp, perr := parsePeerRequest(strings.TrimRight(string(line), "\r\n"), time.Now())
		if perr != nil {
			resp = "ERROR " + perr.Error() + "\n"
		} else {
			switch err := s.replay.local.Check(ctx, jti, exp); {
			case err == nil:
				resp = "OK\n"
			case errors.Is(err, token.ErrReplayed):
				resp = "REPLAYED\n"
			default:
				resp = "ERROR unavailable\n"
			}
		}
		tc.SetWriteDeadline(time.Now().Add(s.cfg.PeerTimeout))
		if _, err := tc.Write([]byte(resp)); err != nil || perr != nil {
			return
		}
	}
}

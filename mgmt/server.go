package mgmt

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	bolt "go.etcd.io/bbolt"

	"github.com/termgate/termgate/pki"
)

// Server is a management server node. Its methods are safe for concurrent
// use. Make it with New (listening) or Open (data directory only, for
// offline administration), and Close it.
type Server struct {
	cfg      Config
	log      zerolog.Logger
	now      func() time.Time
	dataDir  string
	nodeID   string
	readOnly bool

	st      *store
	ca      *pki.CA // key may be nil
	mgmtTLS []byte  // PEM clients and proxies trust for this HTTPS endpoint
	tlsCert *tls.Certificate
	hasher  *hasher
	// dummyHash is checked for unknown users (equal timing).
	dummyHash string
	limiter   *limiter
	metrics   *metrics
	auditor   *auditor
	// auditInfo is whether the logger writes info events (log-only audit
	// events on the token hot path are not built when it does not).
	auditInfo bool

	keyMu sync.Mutex // serialises signing-key changes
	keys  atomic.Pointer[keyState]

	repl  *replicator
	meter *meter // nil without Config.DTLSAddr

	ln        net.Listener
	hs        *http.Server
	stop      chan struct{}
	bg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
	served    atomic.Bool
}

// Open opens a data directory made by Init without listening. Use it for
// offline administration (a stopped server); every method but Serve works.
func Open(cfg Config) (*Server, error) {
	if cfg.DataDir == "" {
		return nil, invalidf("Config.DataDir is required")
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	s := &Server{cfg: cfg, log: cfg.Logger, now: now, dataDir: cfg.DataDir, stop: make(chan struct{})}
	st, err := openStore(filepath.Join(cfg.DataDir, StoreFile), storeOptions{})
	if err != nil {
		return nil, err
	}
	s.st = st
	if err := s.init(); err != nil {
		st.close()
		return nil, err
	}
	return s, nil
}

func (s *Server) init() error {
	s.st.view(func(tx *bolt.Tx) error { s.nodeID = nodeIDOf(tx); return nil })
	if s.nodeID == "" {
		return fmt.Errorf("store has no node id: %w", ErrNotInitialized)
	}
	if s.cfg.NodeID != "" && s.cfg.NodeID != s.nodeID {
		return invalidf("data directory %s belongs to node %q, not %q", s.dataDir, s.nodeID, s.cfg.NodeID)
	}
	s.log = s.log.With().Str("node", s.nodeID).Logger()
	s.st.log = s.log
	ev := s.log.Info()
	s.auditInfo = ev.Enabled()
	ev.Discard()
	if ca, err := pki.LoadCA(filepath.Join(s.dataDir, CACertFile), filepath.Join(s.dataDir, CAKeyFile)); err == nil {
		s.ca = ca
	} else if certs, err := pki.LoadCertFile(filepath.Join(s.dataDir, CACertFile)); err == nil {
		s.ca = &pki.CA{Cert: pki.Cert{Cert: certs[0]}}
	}
	certFile, keyFile := s.cfg.tlsFiles()
	chain, err := pki.LoadCertFile(certFile)
	if err != nil {
		return fmt.Errorf("HTTPS certificate: %w", err)
	}
	key, err := pki.LoadKeyFile(keyFile)
	if err != nil {
		return fmt.Errorf("HTTPS key: %w", err)
	}
	tc := (&pki.Cert{Cert: chain[0], Key: key}).TLSCertificate(chain[1:]...)
	s.tlsCert = &tc
	s.mgmtTLS = mgmtTLSBundle(chain, s.ca)
	s.hasher = newHasher(s.cfg.Password, s.cfg.hashConcurrency())
	if s.dummyHash, err = s.hasher.hash(context.Background(), randomB64(16)); err != nil {
		return err
	}
	s.limiter = newLimiter(s.cfg.Lockout, s.now)
	s.auditor = newAuditor(s)
	if s.repl, err = newReplicator(s); err != nil {
		return err
	}
	s.metrics = newMetrics(s)
	if err := s.reloadKeys(); err != nil {
		return err
	}
	trigger := s.repl.trigger
	s.st.onChange.Store(&trigger)
	return nil
}

// mgmtTLSBundle is what a client must trust for the HTTPS certificate: the
// local CA if it issued it, else the top of the chain (a CA or the
// self-signed certificate itself).
func mgmtTLSBundle(chain []*x509.Certificate, ca *pki.CA) []byte {
	if ca != nil && chain[0].CheckSignatureFrom(ca.Cert.Cert) == nil {
		return pki.EncodeCertPEM(ca.Cert.Cert)
	}
	return pki.EncodeCertPEM(chain[len(chain)-1])
}

// New opens the data directory and listens on Config.Addr. Call Serve to
// answer requests and Close to stop.
func New(cfg Config) (*Server, error) {
	s, err := Open(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.addr())
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("listen %s: %w", cfg.addr(), err)
	}
	s.ln = ln
	if cfg.DTLSAddr != "" {
		if s.meter, err = newMeter(s); err != nil {
			ln.Close()
			s.ln = nil
			s.Close()
			return nil, err
		}
	}
	tlsCfg := pki.ServerTLSConfig(func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return s.tlsCert, nil })
	s.hs = &http.Server{
		Handler:           s.Handler(),
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          log.New(debugWriter{s}, "", 0), // TLS handshake noise goes to debug
	}
	return s, nil
}

// Addr is the listening address (useful with port 0), or nil for Open.
func (s *Server) Addr() net.Addr {
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// URL is the base URL of the HTTPS API, e.g. "https://127.0.0.1:8443".
func (s *Server) URL() string {
	if s.ln == nil {
		return ""
	}
	return "https://" + s.ln.Addr().String()
}

// NodeID is this node's id.
func (s *Server) NodeID() string { return s.nodeID }

// TLSTrust is the PEM bundle to trust for the HTTPS API (what --ca points at).
func (s *Server) TLSTrust() []byte { return append([]byte(nil), s.mgmtTLS...) }

// Serve answers HTTPS requests and runs the maintenance loops until ctx ends
// or Close is called. It returns nil after a clean stop.
func (s *Server) Serve(ctx context.Context) error {
	if s.ln == nil {
		return ErrNotListening
	}
	if !s.served.CompareAndSwap(false, true) {
		return errors.New("Serve called twice")
	}
	select {
	case <-s.stop:
		return ErrClosed
	default:
	}
	if role, _, _ := s.repl.state(); role == RoleMaster {
		if err := s.ensureSelfRecord(); err != nil {
			s.log.Error().Err(err).Msg("replication: cannot record this node as a member")
		}
	}
	s.bg.Add(3)
	go func() { defer s.bg.Done(); s.maintenance() }()
	go func() { defer s.bg.Done(); s.repl.pushLoop(s.stop) }()
	s.repl.trigger() // a master pushes at once: a returning old master learns its epoch is over
	if s.meter != nil {
		s.meter.wg.Add(1)
		go s.meter.serve(s.stop)
	}
	go func() {
		defer s.bg.Done()
		select {
		case <-ctx.Done():
			s.shutdown()
		case <-s.stop:
		}
	}()
	role, epoch, master := s.repl.state()
	ev := s.log.Info().Str("addr", s.ln.Addr().String()).Str("kid", s.keys.Load().current.kid).
		Str("role", role).Uint64("epoch", epoch).Str("master", master)
	if s.meter != nil {
		ev = ev.Str("dtls_addr", s.meter.ln.Addr().String())
	}
	ev.Msg("management server listening")
	err := s.hs.ServeTLS(s.ln, "", "")
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	s.log.Info().Msg("management server stopped")
	return err
}

func (s *Server) shutdown() {
	if s.hs == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.hs.Shutdown(ctx); err != nil {
		s.hs.Close()
	}
}

// Close stops serving (gracefully, up to 5 s), stops the maintenance
// loops, flushes the audit trail and closes the store. It is idempotent and
// waits for every goroutine the server started.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		if s.meter != nil {
			s.meter.close()
		}
		if s.hs != nil {
			s.shutdown()
			if !s.served.Load() {
				s.ln.Close()
			}
		}
		s.bg.Wait()
		if s.repl != nil {
			s.repl.client.CloseIdleConnections()
		}
		if s.auditor != nil {
			s.auditor.flush()
		}
		s.closeErr = s.st.close()
	})
	return s.closeErr
}

// maintenance runs the periodic jobs: key promotion/removal, cleanup of
// expired deny-list entries and enrollment codes, audit flushing and
// certificate expiry warnings.
func (s *Server) maintenance() {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var lastSweep, lastWarn time.Time
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		s.tick(&lastSweep, &lastWarn)
	}
}

func (s *Server) tick(lastSweep, lastWarn *time.Time) {
	// A slave's keys and deny-list change with the master's snapshots.
	replica := s.st.replica.Load()
	if !replica {
		if err := s.maintainKeys(); err != nil {
			s.storeErrorEvent(err).Err(err).Msg("signing key maintenance")
		}
	}
	s.auditor.flush()
	now := time.Now()
	if now.Sub(*lastSweep) >= time.Minute {
		*lastSweep = now
		if !replica {
			if err := s.sweep(); err != nil {
				s.storeErrorEvent(err).Err(err).Msg("store cleanup")
			}
		}
		if err := s.sweepMetering(); err != nil {
			s.storeErrorEvent(err).Err(err).Msg("metering cleanup")
		}
	}
	if now.Sub(*lastWarn) >= 12*time.Hour {
		*lastWarn = now
		s.warnExpiry()
	}
}

// sweep deletes expired revocations and enrollment codes.
func (s *Server) sweep() error {
	now := s.now()
	err := s.st.update(func(tx *bolt.Tx) error {
		n := 0
		var expired [][]byte
		if err := tx.Bucket(bRevoked).ForEach(func(k, v []byte) error {
			if len(v) != 8 || time.Unix(int64(beUint64(v)), 0).Before(now.Add(-time.Minute)) {
				expired = append(expired, append([]byte(nil), k...))
			}
			return nil
		}); err != nil {
			return err
		}
		for _, k := range expired {
			if err := tx.Bucket(bRevoked).Delete(k); err != nil {
				return err
			}
			n++
		}
		codes, err := listKeys(tx, bEnroll)
		if err != nil {
			return err
		}
		for _, k := range codes {
			var r enrollCodeRecord
			if err := getJSON(tx, bEnroll, k, &r); err != nil || now.After(r.ExpiresAt) {
				if err := tx.Bucket(bEnroll).Delete(k); err != nil {
					return err
				}
				n++
			}
		}
		if n == 0 {
			return errNoChange
		}
		return nil
	})
	if errors.Is(err, errNoChange) {
		return nil
	}
	return err
}

func listKeys(tx *bolt.Tx, bucket []byte) ([][]byte, error) {
	var out [][]byte
	err := tx.Bucket(bucket).ForEach(func(k, _ []byte) error { out = append(out, append([]byte(nil), k...)); return nil })
	return out, err
}

// certInfo is one certificate whose expiry is watched.
type certInfo struct {
	kind, name string
	notAfter   time.Time
}

func (s *Server) watchedCerts() []certInfo {
	out := []certInfo{{"tls", s.tlsCert.Leaf.Subject.CommonName, s.tlsCert.Leaf.NotAfter}}
	if s.ca != nil {
		out = append(out, certInfo{"ca", s.ca.Cert.Cert.Subject.CommonName, s.ca.Cert.Cert.NotAfter})
	}
	for _, r := range s.keys.Load().records {
		out = append(out, certInfo{"signing", r.KID, r.NotAfter})
	}
	return out
}

func (s *Server) warnExpiry() {
	now := s.now()
	for _, c := range s.watchedCerts() {
		if left := c.notAfter.Sub(now); left < s.cfg.certWarnBefore() {
			s.log.Warn().Str("cert", c.kind).Str("name", c.name).Time("not_after", c.notAfter).
				Int("days_left", int(left.Hours()/24)).Msg("certificate expires soon: renew it (signing keys: termgate mgmt rotate-key)")
		}
	}
}

// Backup writes a consistent copy of the store (a bbolt file) to w while
// the server keeps running.
func (s *Server) Backup(ctx context.Context, w io.Writer) (int64, error) {
	n, err := s.st.writeTo(w)
	if err == nil {
		s.audit(ctx, AuditEvent{Event: "store.backup", Actor: actorOf(ctx), OK: true, Fields: map[string]any{"bytes": n}})
	}
	return n, err
}

// Revision is the number of committed changes to the replicated state.
func (s *Server) Revision() uint64 { return s.st.revision() }

// Export returns the replicated state at one revision (see Snapshot).
func (s *Server) Export() (*Snapshot, error) { return s.st.export() }

// Import replaces the replicated state with snap atomically and reloads the keys.
func (s *Server) Import(ctx context.Context, snap *Snapshot) error {
	if err := s.st.importSnapshot(snap); err != nil {
		return err
	}
	s.audit(ctx, AuditEvent{Event: "store.import", Actor: actorOf(ctx), OK: true, Fields: map[string]any{"revision": snap.Revision}})
	return s.reloadKeys()
}

// BackupOffline copies the store of a stopped server's data directory to
// file. It fails with ErrStoreLocked while a server runs on it (use the
// admin endpoint then: POST /api/v1/admin/backup).
func BackupOffline(dataDir, file string) (int64, error) {
	st, err := openStore(filepath.Join(dataDir, StoreFile), storeOptions{ReadOnly: true})
	if err != nil {
		return 0, err
	}
	defer st.close()
	f, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".tmp*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	n, err := st.writeTo(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	if err := os.Chmod(f.Name(), 0o600); err != nil {
		return 0, err
	}
	return n, os.Rename(f.Name(), file)
}

// Restore replaces the store of a stopped server's data directory with a
// backup file, after validating it (consistency, schema, every record, and
// that it belongs to the same node). The previous store is kept as
// store.db.before-restore. It fails with ErrStoreLocked while a server runs.
func Restore(dataDir, file string) (revision uint64, err error) {
	rev, err := validateStoreFile(file)
	if err != nil {
		return 0, err
	}
	storePath := filepath.Join(dataDir, StoreFile)
	cur, err := openStore(storePath, storeOptions{}) // takes the exclusive lock: proves the server is stopped
	if err != nil {
		return 0, err
	}
	var curNode string
	cur.view(func(tx *bolt.Tx) error { curNode = nodeIDOf(tx); return nil })
	b, err := os.ReadFile(file)
	if err != nil {
		cur.close()
		return 0, err
	}
	tmp := storePath + ".restore"
	if err := pki.WriteFileAtomic(tmp, b, 0o600); err != nil {
		cur.close()
		return 0, err
	}
	defer os.Remove(tmp)
	chk, err := openStore(tmp, storeOptions{ReadOnly: true})
	if err != nil {
		cur.close()
		return 0, err
	}
	var node string
	chk.view(func(tx *bolt.Tx) error { node = nodeIDOf(tx); return nil })
	chk.close()
	if node != curNode {
		cur.close()
		return 0, invalidf("backup belongs to node %q, this data directory to %q", node, curNode)
	}
	if err := copyFile(storePath, storePath+".before-restore"); err != nil {
		cur.close()
		return 0, err
	}
	if err := os.Rename(tmp, storePath); err != nil {
		cur.close()
		return 0, err
	}
	cur.close()
	return rev, nil
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return pki.WriteFileAtomic(dst, b, 0o600)
}

// storeErrorEvent is the log event for a failed background write: error
// level, but debug for a full disk, which the store logs once by itself.
func (s *Server) storeErrorEvent(err error) *zerolog.Event {
	if errors.Is(err, ErrStorageFull) {
		return s.log.Debug()
	}
	return s.log.Error()
}

type debugWriter struct{ s *Server }

func (w debugWriter) Write(p []byte) (int, error) {
	w.s.log.Debug().Str("component", "http").Msg(strings.TrimSpace(string(p)))
	return len(p), nil
}

func beUint64(b []byte) uint64 {
	return uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 | uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
}

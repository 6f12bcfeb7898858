package pki

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// Entry is one certificate of a trust store with its friendly name.
type Entry struct {
	Name string
	Cert *x509.Certificate
}

// TrustStore is an ordered set of trusted certificates, kept on disk as a PEM
// bundle in the ca-bundle.crt convention: each certificate is preceded by a
// comment line "# <friendly name>". A certificate appears at most once
// (identity is its DER). A TrustStore is safe for concurrent use: readers
// always see a complete old or new set while it reloads.
type TrustStore struct {
	mu      sync.RWMutex
	path    string
	entries []Entry
	byKID   map[string]*x509.Certificate
	pool    *x509.CertPool
	modTime time.Time
	loaded  time.Time
	version uint64
}

// NewTrustStore returns an empty in-memory store. Give it a path with
// LoadTrustStore or SetPath to persist it.
func NewTrustStore(certs ...*x509.Certificate) *TrustStore {
	s := &TrustStore{}
	es := make([]Entry, 0, len(certs))
	for _, c := range certs {
		es = append(es, Entry{Name: defaultName(c), Cert: c})
	}
	s.setLocked(es)
	return s
}

func defaultName(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return c.Subject.CommonName
	}
	return FingerprintHex(c)[:16]
}

// MaxTrustStoreSize bounds the size of a PEM bundle that ParseTrustStore accepts.
const MaxTrustStoreSize = 8 << 20

// ParseTrustStore decodes a PEM bundle. Friendly names come from "# name"
// comment lines just before each block; non-certificate blocks are skipped;
// a certificate that does not parse is an error (a trust store is never
// silently partial). An empty bundle gives an empty store.
func ParseTrustStore(data []byte) (*TrustStore, error) {
	es, err := parseBundle(data)
	if err != nil {
		return nil, err
	}
	s := &TrustStore{}
	s.setLocked(es)
	return s, nil
}

func parseBundle(data []byte) ([]Entry, error) {
	if len(data) > MaxTrustStoreSize {
		return nil, fmt.Errorf("trust store is %d bytes, more than the %d allowed", len(data), MaxTrustStoreSize)
	}
	var es []Entry
	rest := data
	for {
		start := bytes.Index(rest, []byte("-----BEGIN "))
		if start < 0 {
			break
		}
		name := lastCommentName(rest[:start])
		b, after := pem.Decode(rest[start:])
		if b == nil {
			return nil, fmt.Errorf("trust store: malformed PEM block at byte %d", len(data)-len(rest)+start)
		}
		rest = after
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("trust store: certificate %d: %w", len(es)+1, err)
		}
		if name == "" {
			name = defaultName(c)
		}
		es = append(es, Entry{Name: name, Cert: c})
	}
	return dedupe(es), nil
}

// lastCommentName returns the text of the last "# ..." line in b, if the
// lines after it are blank.
func lastCommentName(b []byte) string {
	lines := strings.Split(strings.TrimRight(string(b), "\r\n\t "), "\n")
	if len(lines) == 0 {
		return ""
	}
	l := strings.TrimSpace(lines[len(lines)-1])
	if strings.HasPrefix(l, "#") {
		return strings.TrimSpace(strings.TrimPrefix(l, "#"))
	}
	return ""
}

func dedupe(es []Entry) []Entry {
	seen := make(map[string]bool, len(es))
	out := es[:0:0]
	for _, e := range es {
		k := string(e.Cert.Raw)
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, e)
	}
	return out
}

// LoadTrustStore reads a PEM bundle file and remembers its path for Save,
// Reload and Watch. A missing file is an error.
func LoadTrustStore(path string) (*TrustStore, error) {
	s := &TrustStore{path: path}
	if err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// OpenTrustStore is LoadTrustStore, but a missing file gives an empty store
// bound to path.
func OpenTrustStore(path string) (*TrustStore, error) {
	s, err := LoadTrustStore(path)
	if os.IsNotExist(unwrapPath(err)) {
		s = &TrustStore{path: path}
		s.setLocked(nil)
		return s, nil
	}
	return s, err
}

func unwrapPath(err error) error {
	for err != nil {
		if _, ok := err.(*os.PathError); ok {
			return err
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
	return nil
}

// Path is the file the store is bound to ("" for an in-memory store).
func (s *TrustStore) Path() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.path
}

// SetPath binds the store to a file for Save, Reload and Watch.
func (s *TrustStore) SetPath(path string) {
	s.mu.Lock()
	s.path = path
	s.mu.Unlock()
}

// Reload re-reads the bound file. On error the current contents are kept.
func (s *TrustStore) Reload() error {
	s.mu.RLock()
	path := s.path
	s.mu.RUnlock()
	if path == "" {
		return fmt.Errorf("trust store has no file to reload")
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("trust store: %w", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("trust store: %w", err)
	}
	es, err := parseBundle(b)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	s.mu.Lock()
	s.setLocked(es)
	s.modTime = fi.ModTime()
	s.mu.Unlock()
	return nil
}

// setLocked replaces the contents; s.mu must be held (or s unshared).
func (s *TrustStore) setLocked(es []Entry) {
	s.entries = es
	s.byKID = make(map[string]*x509.Certificate, len(es))
	s.pool = x509.NewCertPool()
	for _, e := range es {
		s.byKID[KID(e.Cert)] = e.Cert
		s.pool.AddCert(e.Cert)
	}
	s.loaded = time.Now()
	s.version++
}

// Encode returns the store as a PEM bundle with "# name" lines.
func (s *TrustStore) Encode() []byte {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return encodeEntries(s.entries)
}

func encodeEntries(es []Entry) []byte {
	var buf bytes.Buffer
	for _, e := range es {
		name := strings.NewReplacer("\n", " ", "\r", " ").Replace(e.Name)
		fmt.Fprintf(&buf, "# %s\n", name)
		pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: e.Cert.Raw})
	}
	return buf.Bytes()
}

// Save writes the store atomically to its bound file.
func (s *TrustStore) Save() error {
	s.mu.RLock()
	path := s.path
	s.mu.RUnlock()
	if path == "" {
		return fmt.Errorf("trust store has no file to save to")
	}
	return s.SaveAs(path)
}

// SaveAs writes the store atomically to path (mode 0644).
func (s *TrustStore) SaveAs(path string) error {
	if err := WriteFileAtomic(path, s.Encode(), 0o644); err != nil {
		return err
	}
	if fi, err := os.Stat(path); err == nil {
		s.mu.Lock()
		if s.path == path {
			s.modTime = fi.ModTime()
		}
		s.mu.Unlock()
	}
	return nil
}

// Add appends a certificate under name (empty: its common name). It reports
// whether the store changed (false if the certificate was already present).
func (s *TrustStore) Add(name string, c *x509.Certificate) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byKID[KID(c)]; ok {
		return false
	}
	if name == "" {
		name = defaultName(c)
	}
	es := append(append([]Entry(nil), s.entries...), Entry{Name: name, Cert: c})
	s.setLocked(es)
	return true
}

// Remove deletes the certificates whose friendly name, KID, or SHA-256
// fingerprint (hex, with or without colons, any case) equals ref. It returns
// how many were removed.
func (s *TrustStore) Remove(ref string) int {
	norm := strings.ToLower(strings.ReplaceAll(ref, ":", ""))
	s.mu.Lock()
	defer s.mu.Unlock()
	var keep []Entry
	for _, e := range s.entries {
		if e.Name == ref || KID(e.Cert) == ref || FingerprintHex(e.Cert) == norm {
			continue
		}
		keep = append(keep, e)
	}
	n := len(s.entries) - len(keep)
	if n > 0 {
		s.setLocked(keep)
	}
	return n
}

// Merge adds every certificate of other that s does not hold yet, and
// reports how many were added.
func (s *TrustStore) Merge(other *TrustStore) int {
	n := 0
	for _, e := range other.Entries() {
		if s.Add(e.Name, e.Cert) {
			n++
		}
	}
	return n
}

// Replace sets the contents to those of other (used when a fresher copy of a
// replicated store arrives).
func (s *TrustStore) Replace(other *TrustStore) {
	es := other.Entries()
	s.mu.Lock()
	s.setLocked(es)
	s.mu.Unlock()
}

// Entries returns a copy of the entries in order.
func (s *TrustStore) Entries() []Entry {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append([]Entry(nil), s.entries...)
}

// Certificates returns the certificates in order.
func (s *TrustStore) Certificates() []*x509.Certificate {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*x509.Certificate, len(s.entries))
	for i, e := range s.entries {
		out[i] = e.Cert
	}
	return out
}

// Len is the number of certificates.
func (s *TrustStore) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.entries)
}

// ByKID looks a certificate up by its key id (see KID).
func (s *TrustStore) ByKID(kid string) (*x509.Certificate, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.byKID[kid]
	return c, ok
}

// Pool returns the certificates as an x509.CertPool (do not modify it).
func (s *TrustStore) Pool() *x509.CertPool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.pool
}

// Version increases on every change of contents.
func (s *TrustStore) Version() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.version
}

// LoadedAt is when the contents last changed (loaded, reloaded or edited).
func (s *TrustStore) LoadedAt() time.Time {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.loaded
}

// Watch reloads the store whenever its file changes (checked every interval;
// zero means 2 s) until ctx ends. A file that fails to parse is reported to
// onError (may be nil) and the current contents are kept.
func (s *TrustStore) Watch(ctx context.Context, interval time.Duration, onError func(error)) {
	if interval <= 0 {
		interval = 2 * time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.RLock()
		path, mod := s.path, s.modTime
		s.mu.RUnlock()
		if path == "" {
			continue
		}
		fi, err := os.Stat(path)
		if err != nil || fi.ModTime().Equal(mod) {
			continue
		}
		if err := s.Reload(); err != nil && onError != nil {
			onError(err)
		}
	}
}

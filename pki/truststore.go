package pki

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
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
//
// A store bound to a file treats the file as the source of truth: Reload,
// ReloadIfChanged and Watch replace in-memory edits (Add, Remove, Merge) that
// were not saved.
type TrustStore struct {
	// reloadMu serialises reading the bound file, so that two concurrent
	// reloads cannot install an older file's contents after a newer one's.
	reloadMu sync.Mutex

	// mu serialises changes of the contents and guards the fields below.
	mu   sync.RWMutex
	path string
	file os.FileInfo // the bound file as last loaded successfully
	bad  os.FileInfo // the bound file as last seen failing to parse

	// cur is the current contents. Readers load it without locking (the
	// lookups on every token stay contention-free); writers replace it
	// whole while holding mu.
	cur atomic.Pointer[snapshot]
}

// snapshot is one immutable version of a store's contents.
type snapshot struct {
	entries []Entry
	byKID   map[string]*x509.Certificate
	pool    *x509.CertPool
	loaded  time.Time
	version uint64
}

var emptySnapshot = &snapshot{byKID: map[string]*x509.Certificate{}, pool: x509.NewCertPool()}

// snap returns the current contents (empty for a zero TrustStore).
func (s *TrustStore) snap() *snapshot {
	if c := s.cur.Load(); c != nil {
		return c
	}
	return emptySnapshot
}

// errNoPath is returned by file operations of an in-memory store.
var errNoPath = errors.New("trust store is not bound to a file")

// NewTrustStore returns an empty in-memory store. Give it a path with
// LoadTrustStore or SetPath to persist it.
func NewTrustStore(certs ...*x509.Certificate) *TrustStore {
	s := &TrustStore{}
	es := make([]Entry, 0, len(certs))
	for _, c := range certs {
		es = append(es, Entry{Name: defaultName(c), Cert: c})
	}
	s.setLocked(dedupe(es))
	return s
}

func defaultName(c *x509.Certificate) string {
	if n := cleanName(c.Subject.CommonName); n != "" {
		return n
	}
	return FingerprintHex(c)[:16]
}

// cleanName makes a friendly name fit on its "# name" line: control
// characters become spaces and surrounding space is trimmed. It is
// idempotent, so names survive Encode and Parse unchanged.
func cleanName(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// MaxTrustStoreSize bounds the size of a PEM bundle that ParseTrustStore accepts.
const MaxTrustStoreSize = 8 << 20

// ParseTrustStore decodes a PEM bundle. Friendly names come from "# name"
// comment lines just before each block; non-certificate blocks are skipped;
// a malformed PEM block or a certificate that does not parse is an error (a
// trust store is never silently partial). A certificate that appears twice
// is kept once, under its first name. An empty bundle gives an empty store.
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
		start := beginLine(rest)
		if start < 0 {
			break
		}
		name := lastCommentName(rest[:start])
		b, after := pem.Decode(rest[start:])
		// pem.Decode skips a malformed block and returns the next good one;
		// a block that swallowed another BEGIN line was malformed.
		if b == nil || beginLine(rest[start+1:len(rest)-len(after)]) >= 0 {
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

// beginLine returns the offset of the first "-----BEGIN " that starts a
// line of b, or -1. Like pem.Decode, it ignores one in the middle of a line.
func beginLine(b []byte) int {
	const begin = "-----BEGIN "
	if bytes.HasPrefix(b, []byte(begin)) {
		return 0
	}
	if i := bytes.Index(b, []byte("\n"+begin)); i >= 0 {
		return i + 1
	}
	return -1
}

// lastCommentName returns the text of the last "# ..." line in b, if the
// lines after it are blank.
func lastCommentName(b []byte) string {
	b = bytes.TrimRight(b, "\r\n\t ")
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[i+1:]
	}
	l := strings.TrimSpace(string(b))
	if strings.HasPrefix(l, "#") {
		return cleanName(strings.TrimPrefix(l, "#"))
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
	if errors.Is(err, fs.ErrNotExist) {
		s = &TrustStore{path: path}
		s.setLocked(nil)
		return s, nil
	}
	return s, err
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
// Reloading a file whose contents equal the store's changes nothing (Version
// stays).
func (s *TrustStore) Reload() error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	path := s.Path()
	if path == "" {
		return errNoPath
	}
	_, err := s.reloadLocked(path)
	return err
}

// ReloadIfChanged re-reads the bound file if it differs from the one last
// read (another file renamed over it, or a new modification time or size),
// and reports whether the contents changed. A file that failed to parse is
// reported once: until it changes again, it is not re-read and the call
// returns false, nil. Writers should replace the file atomically (write a
// temporary file and rename it, as WriteFileAtomic and Save do); an in-place
// rewrite of equal size within the file system's timestamp granularity can
// go unnoticed.
func (s *TrustStore) ReloadIfChanged() (bool, error) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	s.mu.RLock()
	path, cur, bad := s.path, s.file, s.bad
	s.mu.RUnlock()
	if path == "" {
		return false, errNoPath
	}
	fi, err := os.Stat(path)
	if err != nil {
		return false, fmt.Errorf("trust store: %w", err)
	}
	if sameFile(cur, fi) || sameFile(bad, fi) {
		return false, nil
	}
	return s.reloadLocked(path)
}

func sameFile(a, b os.FileInfo) bool {
	return a != nil && b != nil && os.SameFile(a, b) && a.ModTime().Equal(b.ModTime()) && a.Size() == b.Size()
}

// reloadLocked reads path; s.reloadMu must be held. The file's identity is
// taken from the open descriptor, so it always describes the bytes read.
func (s *TrustStore) reloadLocked(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, fmt.Errorf("trust store: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return false, fmt.Errorf("trust store: %w", err)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxTrustStoreSize+1))
	if err != nil {
		return false, fmt.Errorf("trust store: %w", err)
	}
	es, err := parseBundle(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	bound := s.path == path
	if err != nil {
		if bound {
			s.bad = fi
		}
		return false, fmt.Errorf("%s: %w", path, err)
	}
	changed := !equalEntries(s.snap().entries, es)
	if changed {
		s.setLocked(es)
	}
	if bound {
		s.file, s.bad = fi, nil
	}
	return changed, nil
}

func equalEntries(a, b []Entry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || !bytes.Equal(a[i].Cert.Raw, b[i].Cert.Raw) {
			return false
		}
	}
	return true
}

// setLocked publishes new contents; s.mu must be held (or s unshared). It
// builds a new map and pool, so values handed out earlier stay valid.
func (s *TrustStore) setLocked(es []Entry) {
	n := &snapshot{
		entries: es,
		byKID:   make(map[string]*x509.Certificate, len(es)),
		pool:    x509.NewCertPool(),
		loaded:  time.Now(),
		version: s.snap().version + 1,
	}
	for _, e := range es {
		n.byKID[KID(e.Cert)] = e.Cert
		n.pool.AddCert(e.Cert)
	}
	s.cur.Store(n)
}

// Encode returns the store as a PEM bundle with "# name" lines.
func (s *TrustStore) Encode() []byte {
	return encodeEntries(s.snap().entries)
}

func encodeEntries(es []Entry) []byte {
	var buf bytes.Buffer
	for _, e := range es {
		name := cleanName(e.Name)
		if name == "" {
			name = defaultName(e.Cert)
		}
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
		return errNoPath
	}
	return s.SaveAs(path)
}

// SaveAs writes the store atomically to path (mode 0644): readers of the file
// see the old or the new bundle, and no temporary file is left behind. A
// watcher of the store's own file re-reads it once and finds it unchanged.
func (s *TrustStore) SaveAs(path string) error {
	return WriteFileAtomic(path, s.Encode(), 0o644)
}

// Add appends a certificate under name (empty: its common name; control
// characters become spaces). It reports whether the store changed (false if
// the certificate was already present, whatever its name).
func (s *TrustStore) Add(name string, c *x509.Certificate) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.snap()
	if _, ok := cur.byKID[KID(c)]; ok {
		return false
	}
	name = cleanName(name)
	if name == "" {
		name = defaultName(c)
	}
	es := append(append([]Entry(nil), cur.entries...), Entry{Name: name, Cert: c})
	s.setLocked(es)
	return true
}

// Remove deletes the certificates whose friendly name, KID, or SHA-256
// fingerprint (hex, with or without colons, any case) equals ref. It returns
// how many were removed.
func (s *TrustStore) Remove(ref string) int {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return 0
	}
	norm := strings.ToLower(strings.ReplaceAll(ref, ":", ""))
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.snap()
	var keep []Entry
	for _, e := range cur.entries {
		if e.Name == ref || KID(e.Cert) == ref || FingerprintHex(e.Cert) == norm {
			continue
		}
		keep = append(keep, e)
	}
	n := len(cur.entries) - len(keep)
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
// replicated store arrives). Version changes only if the contents differ.
func (s *TrustStore) Replace(other *TrustStore) {
	es := other.Entries()
	s.mu.Lock()
	if !equalEntries(s.snap().entries, es) {
		s.setLocked(es)
	}
	s.mu.Unlock()
}

// Entries returns a copy of the entries in order.
func (s *TrustStore) Entries() []Entry {
	return append([]Entry(nil), s.snap().entries...)
}

// Certificates returns the certificates in order.
func (s *TrustStore) Certificates() []*x509.Certificate {
	es := s.snap().entries
	out := make([]*x509.Certificate, len(es))
	for i, e := range es {
		out[i] = e.Cert
	}
	return out
}

// Len is the number of certificates.
func (s *TrustStore) Len() int {
	return len(s.snap().entries)
}

// ByKID looks a certificate up by its key id (see KID). It takes no lock.
func (s *TrustStore) ByKID(kid string) (*x509.Certificate, bool) {
	c, ok := s.snap().byKID[kid]
	return c, ok
}

// Pool returns the certificates as an x509.CertPool (do not modify it).
func (s *TrustStore) Pool() *x509.CertPool {
	return s.snap().pool
}

// Version increases on every change of contents.
func (s *TrustStore) Version() uint64 {
	return s.snap().version
}

// LoadedAt is when the contents last changed (loaded, reloaded or edited).
func (s *TrustStore) LoadedAt() time.Time {
	return s.snap().loaded
}

// Watch reloads the store whenever its file changes (see ReloadIfChanged;
// checked every interval, zero means 2 s) until ctx ends. A file that fails
// to parse, or cannot be read, is reported to onError (may be nil) once, and
// the current contents are kept until a good file appears. Watch returns
// when ctx ends; run it in a goroutine that the caller waits for.
func (s *TrustStore) Watch(ctx context.Context, interval time.Duration, onError func(error)) {
	if interval <= 0 {
		interval = 2 * time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		_, err := s.ReloadIfChanged()
		if errors.Is(err, errNoPath) {
			continue
		}
		if err == nil {
			lastErr = ""
			continue
		}
		if msg := err.Error(); msg != lastErr {
			lastErr = msg
			if onError != nil {
				onError(err)
			}
		}
	}
}

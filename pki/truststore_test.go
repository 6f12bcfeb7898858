package pki

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func leaves(t testing.TB, n int) []*x509.Certificate {
	t.Helper()
	out := make([]*x509.Certificate, n)
	for i := range out {
		out[i] = mustIssue(t, testCA(), CertSpec{CommonName: "node-" + string(rune('a'+i))}).Cert
	}
	return out
}

func names(es []Entry) string {
	var s []string
	for _, e := range es {
		s = append(s, e.Name)
	}
	return strings.Join(s, "|")
}

func TestTrustStoreOrderDedupeNamesThroughSaveLoad(t *testing.T) {
	cs := leaves(t, 3)
	s := NewTrustStore()
	for i, name := range []string{"zeta", "alpha", "mid"} {
		if !s.Add(name, cs[i]) {
			t.Fatalf("Add(%s) reported no change", name)
		}
	}
	if s.Add("again", cs[1]) {
		t.Error("adding a present certificate reported a change")
	}
	if s.Len() != 3 {
		t.Fatalf("Len = %d, want 3", s.Len())
	}
	path := filepath.Join(t.TempDir(), "trust.pem")
	if err := s.SaveAs(path); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	if !bytes.HasPrefix(raw, []byte("# zeta\n-----BEGIN CERTIFICATE-----\n")) {
		t.Errorf("file does not start with a name line:\n%.80s", raw)
	}
	got, err := LoadTrustStore(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := names(got.Entries()); n != "zeta|alpha|mid" {
		t.Errorf("names after load = %s, want zeta|alpha|mid (order kept)", n)
	}
	for i, c := range got.Certificates() {
		if !c.Equal(cs[i]) {
			t.Errorf("certificate %d changed", i)
		}
	}
	// A bundle with a certificate twice keeps the first, and unnamed blocks
	// take the common name.
	dup := append(append(EncodeCertPEM(cs[2]), raw...), EncodeCertPEM(cs[0])...)
	p, err := ParseTrustStore(dup)
	if err != nil {
		t.Fatal(err)
	}
	if n := names(p.Entries()); n != "node-c|zeta|alpha" {
		t.Errorf("deduped names = %s, want node-c|zeta|alpha", n)
	}
}

func TestTrustStoreNameCleaning(t *testing.T) {
	c := leaves(t, 1)[0]
	s := NewTrustStore()
	s.Add("  evil\nname\r\x00 ", c)
	if n := s.Entries()[0].Name; n != "evil name" {
		t.Errorf("name = %q, want %q", n, "evil name")
	}
	p, err := ParseTrustStore(s.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if n := p.Entries()[0].Name; n != "evil name" {
		t.Errorf("name after round trip = %q", n)
	}
	// A name with a PEM marker in it does not break the bundle.
	s2 := NewTrustStore()
	s2.Add("x -----BEGIN CERTIFICATE-----", c)
	if _, err := ParseTrustStore(s2.Encode()); err != nil {
		t.Errorf("bundle with a marker in a name: %v", err)
	}
}

func TestParseTrustStoreErrors(t *testing.T) {
	c := leaves(t, 2)
	good := NewTrustStore(c...).Encode()
	for _, tc := range []struct {
		name string
		data []byte
		ok   bool
		n    int
	}{
		{name: "empty", data: nil, ok: true},
		{name: "comments only", data: []byte("# nothing\n"), ok: true},
		{name: "good", data: good, ok: true, n: 2},
		{name: "other block skipped", data: append([]byte("-----BEGIN PARAMS-----\nAAAA\n-----END PARAMS-----\n"), good...), ok: true, n: 2},
		{name: "truncated", data: good[:len(good)-40]},
		{name: "bad base64 in first block", data: bytes.Replace(good, []byte("MII"), []byte("M!I"), 1)},
		{name: "not a certificate", data: []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")},
		{name: "too large", data: make([]byte, MaxTrustStoreSize+1)},
	} {
		s, err := ParseTrustStore(tc.data)
		if tc.ok != (err == nil) {
			t.Errorf("%s: err = %v, want ok=%v", tc.name, err, tc.ok)
			continue
		}
		if err == nil && s.Len() != tc.n {
			t.Errorf("%s: %d certificates, want %d", tc.name, s.Len(), tc.n)
		}
	}
}

func TestTrustStoreRemove(t *testing.T) {
	cs := leaves(t, 4)
	mk := func() *TrustStore {
		s := NewTrustStore()
		for i, n := range []string{"one", "two", "three", "four"} {
			s.Add(n, cs[i])
		}
		return s
	}
	for _, tc := range []struct {
		name string
		ref  string
		want string
	}{
		{"by name", "two", "one|three|four"},
		{"by KID", KID(cs[0]), "two|three|four"},
		{"by fingerprint with colons", Fingerprint(cs[2]), "one|two|four"},
		{"by fingerprint lower-case colons", strings.ToLower(Fingerprint(cs[2])), "one|two|four"},
		{"by fingerprint hex", FingerprintHex(cs[3]), "one|two|three"},
		{"by fingerprint upper hex", strings.ToUpper(FingerprintHex(cs[3])), "one|two|three"},
		{"unknown", "nobody", "one|two|three|four"},
		{"empty", "", "one|two|three|four"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mk()
			v := s.Version()
			n := s.Remove(tc.ref)
			if got := names(s.Entries()); got != tc.want {
				t.Errorf("after Remove(%q): %s, want %s", tc.ref, got, tc.want)
			}
			wantN := 4 - strings.Count(tc.want, "|") - 1
			if n != wantN {
				t.Errorf("Remove returned %d, want %d", n, wantN)
			}
			if (s.Version() != v) != (n > 0) {
				t.Errorf("version %d -> %d with %d removed", v, s.Version(), n)
			}
			if n > 0 {
				if _, ok := s.ByKID(KID(cs[0])); ok == (tc.ref == KID(cs[0])) {
					t.Error("ByKID index not rebuilt")
				}
			}
		})
	}
	// Every certificate sharing a name goes.
	s := NewTrustStore()
	s.Add("same", cs[0])
	s.Add("same", cs[1])
	s.Add("other", cs[2])
	if n := s.Remove("same"); n != 2 || s.Len() != 1 {
		t.Errorf("Remove(same) = %d, Len %d", n, s.Len())
	}
}

func TestTrustStoreMergeReplace(t *testing.T) {
	cs := leaves(t, 3)
	a := NewTrustStore(cs[0], cs[1])
	b := NewTrustStore()
	b.Add("b-one", cs[1])
	b.Add("b-two", cs[2])
	if n := a.Merge(b); n != 1 {
		t.Errorf("Merge added %d, want 1", n)
	}
	if got := names(a.Entries()); got != "node-a|node-b|b-two" {
		t.Errorf("after merge: %s", got)
	}
	if n := a.Merge(b); n != 0 {
		t.Errorf("second Merge added %d", n)
	}
	if c, ok := a.ByKID(KID(cs[2])); !ok || !c.Equal(cs[2]) {
		t.Error("merged certificate not found by KID")
	}
	v := a.Version()
	a.Replace(NewTrustStore(a.Certificates()...))
	if names(a.Entries()) != "node-a|node-b|node-c" || a.Version() == v {
		t.Errorf("Replace: %s version %d->%d", names(a.Entries()), v, a.Version())
	}
	v = a.Version()
	a.Replace(NewTrustStore(a.Certificates()...))
	if a.Version() != v {
		t.Error("Replace with equal contents changed the version")
	}
}

func TestTrustStoreAtomicSaveLeavesNoTempFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "trust.pem")
	s, err := OpenTrustStore(path)
	if err != nil {
		t.Fatalf("OpenTrustStore on a missing file: %v", err)
	}
	if s.Len() != 0 || s.Path() != path {
		t.Fatalf("open missing: len %d path %q", s.Len(), s.Path())
	}
	for _, c := range leaves(t, 3) {
		s.Add("", c)
		if err := s.Save(); err != nil {
			t.Fatal(err)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != "trust.pem" {
		var n []string
		for _, e := range ents {
			n = append(n, e.Name())
		}
		t.Errorf("directory holds %v, want only trust.pem", n)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v", fi.Mode().Perm())
	}
	if _, err := LoadTrustStore(filepath.Join(dir, "missing.pem")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadTrustStore(missing) = %v", err)
	}
	if err := NewTrustStore().Save(); err == nil {
		t.Error("Save of an unbound store succeeded")
	}
	// A failed write (directory missing) leaves nothing behind either.
	if err := s.SaveAs(filepath.Join(dir, "no", "such", "dir.pem")); err == nil {
		t.Error("SaveAs into a missing directory succeeded")
	}
}

// TestTrustStoreConcurrentReadersWhileReloading runs readers against a store
// whose file is rewritten and reloaded; under -race it proves the locking,
// and each reader checks that it sees a whole set, never a mix.
func TestTrustStoreConcurrentReadersWhileReloading(t *testing.T) {
	cs := leaves(t, 4)
	path := filepath.Join(t.TempDir(), "trust.pem")
	setA := NewTrustStore(cs[0], cs[1])
	setB := NewTrustStore(cs[2], cs[3])
	if err := setA.SaveAs(path); err != nil {
		t.Fatal(err)
	}
	s, err := LoadTrustStore(path)
	if err != nil {
		t.Fatal(err)
	}
	kidA, kidB := KID(cs[0]), KID(cs[2])
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var reads atomic.Int64
	var bad atomic.Value
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				es := s.Entries()
				if len(es) != 2 {
					bad.Store("entries of a partial set")
					return
				}
				first := KID(es[0].Cert)
				if (first == kidA) == (KID(es[1].Cert) == KID(cs[3])) {
					bad.Store("entries from two sets mixed")
					return
				}
				// The index and pool are swapped as a whole too; a lookup
				// by a KID of the set just read may see the next set.
				_, _ = s.ByKID(kidA)
				_, _ = s.ByKID(kidB)
				_ = s.Pool()
				_ = s.Version()
				_ = s.Len()
				reads.Add(1)
			}
		}()
	}
	var wrote sync.WaitGroup
	wrote.Add(1)
	go func() {
		defer wrote.Done()
		for i := range 20 {
			src := setA
			if i%2 == 0 {
				src = setB
			}
			if err := src.SaveAs(path); err != nil {
				bad.Store(err.Error())
				return
			}
			if err := s.Reload(); err != nil {
				bad.Store(err.Error())
				return
			}
		}
	}()
	// Concurrent reloads too: they are serialised, never torn.
	for range 20 {
		if _, err := s.ReloadIfChanged(); err != nil {
			t.Error(err)
		}
	}
	wrote.Wait()
	cancel()
	wg.Wait()
	if v := bad.Load(); v != nil {
		t.Fatal(v)
	}
	if reads.Load() == 0 {
		t.Fatal("readers never ran")
	}
	// The last write was setA (i = 19); a final reload agrees.
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.ByKID(kidA); !ok {
		t.Error("final contents are not the last file written")
	}
}

func TestReloadIfChanged(t *testing.T) {
	cs := leaves(t, 2)
	path := filepath.Join(t.TempDir(), "trust.pem")
	if err := NewTrustStore(cs[0]).SaveAs(path); err != nil {
		t.Fatal(err)
	}
	s, err := LoadTrustStore(path)
	if err != nil {
		t.Fatal(err)
	}
	v := s.Version()
	if changed, err := s.ReloadIfChanged(); changed || err != nil {
		t.Errorf("unchanged file: %v %v", changed, err)
	}
	// Saving the same contents (a new file renamed over) is read but is no change.
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	if changed, err := s.ReloadIfChanged(); changed || err != nil || s.Version() != v {
		t.Errorf("same contents: changed %v err %v version %d->%d", changed, err, v, s.Version())
	}
	if err := NewTrustStore(cs[0], cs[1]).SaveAs(path); err != nil {
		t.Fatal(err)
	}
	if changed, err := s.ReloadIfChanged(); !changed || err != nil || s.Len() != 2 {
		t.Errorf("new contents: changed %v err %v len %d", changed, err, s.Len())
	}
	if err := WriteFileAtomic(path, []byte("-----BEGIN CERTIFICATE-----\ngarbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReloadIfChanged(); err == nil {
		t.Error("corrupt file: no error")
	}
	if changed, err := s.ReloadIfChanged(); changed || err != nil {
		t.Errorf("corrupt file re-read: %v %v (want it reported once)", changed, err)
	}
	if s.Len() != 2 {
		t.Errorf("corrupt file replaced the contents: len %d", s.Len())
	}
	if _, err := NewTrustStore().ReloadIfChanged(); err == nil {
		t.Error("unbound store: no error")
	}
}

func TestWatchPicksUpAtomicRewriteAndKeepsContentOnCorruptOne(t *testing.T) {
	cs := leaves(t, 3)
	path := filepath.Join(t.TempDir(), "trust.pem")
	if err := NewTrustStore(cs[0]).SaveAs(path); err != nil {
		t.Fatal(err)
	}
	s, err := LoadTrustStore(path)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Watch(ctx, 5*time.Millisecond, func(err error) { errs <- err })
	}()
	t.Cleanup(func() { cancel(); <-done })

	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	// 1. An atomic rewrite with a new certificate is picked up.
	if err := NewTrustStore(cs[0], cs[1]).SaveAs(path); err != nil {
		t.Fatal(err)
	}
	waitFor("the new certificate", func() bool { _, ok := s.ByKID(KID(cs[1])); return ok })

	// 2. A corrupt rewrite is reported once and the old contents stay.
	v := s.Version()
	if err := WriteFileAtomic(path, []byte("# broken\n-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		if !strings.Contains(err.Error(), path) {
			t.Errorf("error does not name the file: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("corrupt rewrite not reported")
	}
	time.Sleep(50 * time.Millisecond) // ten more polls
	select {
	case err := <-errs:
		t.Errorf("corrupt file reported twice: %v", err)
	default:
	}
	if s.Version() != v || s.Len() != 2 {
		t.Errorf("corrupt rewrite changed the store: version %d->%d len %d", v, s.Version(), s.Len())
	}

	// 3. The next good rewrite is picked up again.
	if err := NewTrustStore(cs[2]).SaveAs(path); err != nil {
		t.Fatal(err)
	}
	waitFor("recovery", func() bool { _, ok := s.ByKID(KID(cs[2])); return ok && s.Len() == 1 })

	// 4. A deleted file is reported once and changes nothing.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("deleted file: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("deleted file not reported")
	}
	if s.Len() != 1 {
		t.Errorf("deleted file changed the store: len %d", s.Len())
	}
}

func TestWatchStopsWithContext(t *testing.T) {
	s := NewTrustStore()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Watch(ctx, time.Millisecond, nil); close(done) }()
	time.Sleep(5 * time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not return after cancel")
	}
}

package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// certLoader serves the node's current certificate and reloads it from disk
// when the files change. Handshakes in progress and established sessions
// keep the pair they started with. It is safe for concurrent use.
type certLoader struct {
	certFile, keyFile string

	mu      sync.RWMutex
	cert    *tls.Certificate
	certMod time.Time
	keyMod  time.Time
}

func newCertLoader(certFile, keyFile string, inProcess *tls.Certificate) (*certLoader, error) {
	l := &certLoader{certFile: certFile, keyFile: keyFile}
	if certFile == "" {
		if inProcess == nil {
			return nil, errors.New("proxy: no TLS certificate: set CertFile and KeyFile (or Certificate)")
		}
		c := *inProcess
		if c.Leaf == nil && len(c.Certificate) > 0 {
			leaf, err := x509.ParseCertificate(c.Certificate[0])
			if err != nil {
				return nil, fmt.Errorf("proxy: certificate: %w", err)
			}
			c.Leaf = leaf
		}
		l.cert = &c
		return l, nil
	}
	if keyFile == "" {
		return nil, errors.New("proxy: CertFile is set but KeyFile is not")
	}
	if err := l.reload(); err != nil {
		return nil, err
	}
	return l, nil
}

// reload loads the pair from disk; on error the current pair stays.
func (l *certLoader) reload() error {
	if l.certFile == "" {
		return nil
	}
	cfi, err := os.Stat(l.certFile)
	if err != nil {
		return fmt.Errorf("proxy: certificate: %w", err)
	}
	kfi, err := os.Stat(l.keyFile)
	if err != nil {
		return fmt.Errorf("proxy: key: %w", err)
	}
	c, err := tls.LoadX509KeyPair(l.certFile, l.keyFile)
	if err != nil {
		return fmt.Errorf("proxy: load %s and %s: %w", l.certFile, l.keyFile, err)
	}
	l.mu.Lock()
	l.cert, l.certMod, l.keyMod = &c, cfi.ModTime(), kfi.ModTime()
	l.mu.Unlock()
	return nil
}

// changed reports whether either file's modification time moved.
func (l *certLoader) changed() bool {
	if l.certFile == "" {
		return false
	}
	cfi, err1 := os.Stat(l.certFile)
	kfi, err2 := os.Stat(l.keyFile)
	if err1 != nil || err2 != nil {
		return false
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	return !cfi.ModTime().Equal(l.certMod) || !kfi.ModTime().Equal(l.keyMod)
}

func (l *certLoader) current() *tls.Certificate {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.cert
}

func (l *certLoader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return l.current(), nil
}

func (l *certLoader) getClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return l.current(), nil
}

// notAfter is the current leaf's expiry.
func (l *certLoader) notAfter() time.Time {
	c := l.current()
	if c == nil || c.Leaf == nil {
		return time.Time{}
	}
	return c.Leaf.NotAfter
}

// watch polls the files every interval until ctx ends.
func (l *certLoader) watch(ctx context.Context, interval time.Duration, onReload func(error)) {
	if l.certFile == "" || interval < 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if l.changed() {
			onReload(l.reload())
		}
	}
}

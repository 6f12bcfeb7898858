package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/termgate/termgate/pki"
)

// MgmtTrustPath is where management servers publish their signing certificates.
const MgmtTrustPath = "/api/v1/trust/mgmt.pem"

// trustRefresher keeps the management signer store fresh: periodically and,
// rate-limited, when a token names an unknown kid. The last good copy is
// saved to the store's file and used while the management servers are
// unreachable. It is safe for concurrent use.
type trustRefresher struct {
	store    *pki.TrustStore
	file     string
	urls     []string
	client   *http.Client
	interval time.Duration
	minDelay time.Duration
	log      zerolog.Logger
	now      func() time.Time
	trigger  chan struct{}
	onResult func(error) // metrics hook

	mu       sync.Mutex
	lastGood time.Time // last load from disk or successful fetch
	lastTry  time.Time
	lastErr  error
}

func newTrustRefresher(store *pki.TrustStore, file string, urls []string, tlsTrust *pki.TrustStore, cfg *Config, log zerolog.Logger) *trustRefresher {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if tlsTrust != nil && tlsTrust.Len() > 0 {
		tc.RootCAs = tlsTrust.Pool()
	}
	r := &trustRefresher{
		store: store, file: file, urls: urls,
		client: &http.Client{
			Timeout: 15 * time.Second,
			Transport: &http.Transport{
				TLSClientConfig:     tc,
				TLSHandshakeTimeout: 10 * time.Second,
				MaxIdleConnsPerHost: 1,
				IdleConnTimeout:     time.Minute,
			},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		interval: cfg.TrustRefreshInterval,
		minDelay: cfg.TrustRefreshMinDelay,
		log:      log,
		now:      cfg.Now,
		trigger:  make(chan struct{}, 1),
	}
	if file != "" {
		if fi, err := os.Stat(file); err == nil {
			r.lastGood = fi.ModTime()
		}
	} else if store.Len() > 0 {
		r.lastGood = r.now()
	}
	return r
}

// kick asks for a refresh soon (an unknown kid was seen). It never blocks.
func (r *trustRefresher) kick() {
	select {
	case r.trigger <- struct{}{}:
	default:
	}
}

// age is how long ago the store was last known good.
func (r *trustRefresher) age() (time.Duration, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lastGood.IsZero() {
		return 0, false
	}
	return r.now().Sub(r.lastGood), true
}

func (r *trustRefresher) markGood() {
	r.mu.Lock()
	r.lastGood = r.now()
	r.mu.Unlock()
}

func (r *trustRefresher) run(ctx context.Context) {
	if len(r.urls) == 0 {
		return
	}
	tick := time.NewTicker(r.interval)
	defer tick.Stop()
	var delayed *time.Timer
	var delayedC <-chan time.Time
	defer func() {
		if delayed != nil {
			delayed.Stop()
		}
	}()
	r.refreshLogged(ctx) // at start: pick up changes made while this node was down
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			r.refreshLogged(ctx)
		case <-delayedC:
			delayedC = nil
			r.refreshLogged(ctx)
		case <-r.trigger:
			r.mu.Lock()
			wait := r.minDelay - r.now().Sub(r.lastTry)
			r.mu.Unlock()
			if wait <= 0 {
				r.refreshLogged(ctx)
			} else if delayedC == nil {
				delayed = time.NewTimer(wait)
				delayedC = delayed.C
			}
		}
	}
}

func (r *trustRefresher) refreshLogged(ctx context.Context) {
	err := r.refresh(ctx)
	if r.onResult != nil {
		r.onResult(err)
	}
	if err != nil && ctx.Err() == nil {
		r.log.Warn().Err(err).Int("certs", r.store.Len()).Msg("management trust refresh failed; keeping the last good copy")
	}
}

// refresh fetches the signer bundle from the first management server that
// answers with a valid one and installs it.
func (r *trustRefresher) refresh(ctx context.Context) error {
	r.mu.Lock()
	r.lastTry = r.now()
	r.mu.Unlock()
	var errs []error
	for _, u := range r.urls {
		fresh, err := r.fetch(ctx, u)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", u, err))
			continue
		}
		if !samePEM(fresh, r.store) {
			r.store.Replace(fresh)
			r.log.Info().Str("url", u).Int("certs", fresh.Len()).Msg("management trust updated")
		}
		if r.file != "" {
			if err := r.store.SaveAs(r.file); err != nil {
				r.log.Warn().Err(err).Msg("saving management trust")
			}
		}
		r.markGood()
		r.mu.Lock()
		r.lastErr = nil
		r.mu.Unlock()
		return nil
	}
	err := errors.Join(errs...)
	r.mu.Lock()
	r.lastErr = err
	r.mu.Unlock()
	return err
}

func (r *trustRefresher) fetch(ctx context.Context, base string) (*pki.TrustStore, error) {
	u := strings.TrimRight(base, "/") + MgmtTrustPath
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %s", resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, pki.MaxTrustStoreSize+1))
	if err != nil {
		return nil, err
	}
	ts, err := pki.ParseTrustStore(b)
	if err != nil {
		return nil, err
	}
	if ts.Len() == 0 {
		return nil, errors.New("the management server returned no certificate; keeping the current ones")
	}
	for _, c := range ts.Certificates() {
		if !pki.IsTokenSigner(c) {
			return nil, fmt.Errorf("certificate %q: %w; refusing the whole bundle", c.Subject.CommonName, pki.ErrNotTokenSigner)
		}
	}
	return ts, nil
}

func samePEM(a, b *pki.TrustStore) bool {
	ac, bc := a.Certificates(), b.Certificates()
	if len(ac) != len(bc) {
		return false
	}
	for i := range ac {
		if !ac[i].Equal(bc[i]) {
			return false
		}
	}
	return true
}

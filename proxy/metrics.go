package proxy

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/termgate/termgate/internal/obs"
	"github.com/termgate/termgate/pki"
)

// metrics are the node's Prometheus series (prefix termgate_proxy_).
type metrics struct {
	active     prometheus.Gauge
	total      prometheus.Counter
	rejections *prometheus.CounterVec
	bytes      *prometheus.CounterVec
	handshake  prometheus.Histogram
	verify     prometheus.Histogram
	dial       prometheus.Histogram
	refresh    *prometheus.CounterVec
	peerChecks *prometheus.CounterVec
	// FTP channels handed to their owner node (sender side, by owner and
	// result) and received from peers (owner side).
	ftpForwards *prometheus.CounterVec
	ftpReceived prometheus.Counter

	mu     sync.Mutex
	skew   map[string]time.Duration // issuer → last observed clock offset
	skewAt map[string]time.Time
}

func newMetrics(reg *prometheus.Registry, s *Server) *metrics {
	m := &metrics{
		active: prometheus.NewGauge(prometheus.GaugeOpts{Name: "termgate_proxy_sessions_active", Help: "Sessions being relayed."}),
		total:  prometheus.NewCounter(prometheus.CounterOpts{Name: "termgate_proxy_sessions_total", Help: "Sessions established."}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "termgate_proxy_rejections_total",
			Help: "Refused connections and CONNECT requests by Termgate-Error code (proxy_protocol, tls_handshake for refusals before HTTP)."}, []string{"code"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "termgate_proxy_bytes_total",
			Help: "Bytes relayed: direction in = client to host, out = host to client."}, []string{"direction"}),
		handshake: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "termgate_proxy_tls_handshake_seconds", Help: "Client TLS handshake latency.", Buckets: obs.DefaultBuckets}),
		verify:    prometheus.NewHistogram(prometheus.HistogramOpts{Name: "termgate_proxy_token_verify_seconds", Help: "Token verification latency (including the replay check).", Buckets: obs.DefaultBuckets}),
		dial:      prometheus.NewHistogram(prometheus.HistogramOpts{Name: "termgate_proxy_dial_seconds", Help: "Destination resolve+dial(+TLS) latency.", Buckets: obs.DefaultBuckets}),
		refresh: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "termgate_proxy_trust_refresh_total",
			Help: "Management trust refresh attempts by result."}, []string{"result"}),
		peerChecks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "termgate_proxy_peer_checks_total",
			Help: "Replay checks asked of peer nodes by peer and result."}, []string{"peer", "result"}),
		ftpForwards: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "termgate_proxy_ftp_forwards_total",
			Help: "FTP data and notification channels this node forwarded over the peer link to the node owning their session, by owner and result (ok, unavailable)."}, []string{"owner", "result"}),
		ftpReceived: prometheus.NewCounter(prometheus.CounterOpts{Name: "termgate_proxy_ftp_forwards_received_total",
			Help: "FTP channels that peer nodes forwarded to this node, the owner of their session."}),
		skew:   map[string]time.Duration{},
		skewAt: map[string]time.Time{},
	}
	reg.MustRegister(m.active, m.total, m.rejections, m.bytes, m.handshake, m.verify, m.dial, m.refresh, m.peerChecks, m.ftpForwards, m.ftpReceived)
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "termgate_proxy_certificate_expiry_seconds",
		Help: "Seconds until this node's TLS certificate expires."}, func() float64 {
		na := s.certs.notAfter()
		if na.IsZero() {
			return 0
		}
		return na.Sub(s.cfg.Now()).Seconds()
	}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "termgate_proxy_trust_age_seconds",
		Help: "Seconds since the management signer store was last loaded or refreshed."}, func() float64 {
		a, ok := s.trustRefresher.age()
		if !ok {
			return -1
		}
		return a.Seconds()
	}))
	reg.MustRegister(&storeCollector{s: s})
	m.bytes.WithLabelValues("in")
	m.bytes.WithLabelValues("out")
	for _, c := range []string{"bad_request", "token_missing", "destination_denied", "rate_limited", "dial_failed", "overloaded", "draining"} {
		m.rejections.WithLabelValues(c)
	}
	return m
}

// observeSkew records an issuer's clock offset (iat − now).
func (m *metrics) observeSkew(iss string, off time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.skew) > 1024 {
		return // issuers are few; never let a flood of names grow the map
	}
	m.skew[iss] = off
	m.skewAt[iss] = time.Now()
}

func (m *metrics) skews() map[string]float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]float64, len(m.skew))
	for k, v := range m.skew {
		out[k] = v.Seconds()
	}
	return out
}

var (
	mgmtExpiryDesc = prometheus.NewDesc("termgate_proxy_mgmt_certificate_expiry_seconds",
		"Seconds until each trusted management signing certificate expires.", []string{"kid", "name"}, nil)
	skewDesc = prometheus.NewDesc("termgate_proxy_issuer_clock_offset_seconds",
		"Last observed clock offset of each token issuer (token iat minus this node's clock; positive: the issuer is ahead).", []string{"iss"}, nil)
)

// storeCollector exports per-certificate and per-issuer gauges computed at scrape time.
type storeCollector struct{ s *Server }

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- mgmtExpiryDesc
	ch <- skewDesc
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.s.cfg.Now()
	for _, e := range c.s.trust.Entries() {
		ch <- prometheus.MustNewConstMetric(mgmtExpiryDesc, prometheus.GaugeValue, e.Cert.NotAfter.Sub(now).Seconds(), pki.KID(e.Cert), e.Name)
	}
	for iss, off := range c.s.metrics.skews() {
		ch <- prometheus.MustNewConstMetric(skewDesc, prometheus.GaugeValue, off, iss)
	}
}

package mgmt

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/termgate/termgate/internal/obs"
)

// metrics of one node; every series carries the label node.
type metrics struct {
	reg      *prometheus.Registry
	logins   *prometheus.CounterVec
	tokens   *prometheus.CounterVec
	requests *prometheus.CounterVec
}

func newMetrics(s *Server) *metrics {
	reg := s.cfg.Registry
	if reg == nil {
		reg = obs.NewRegistry()
	}
	m := &metrics{
		reg: reg,
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "termgate_mgmt_logins_total", Help: "Login attempts by result (ok, failed, locked).",
		}, []string{"result"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "termgate_mgmt_tokens_issued_total", Help: "Authorization tokens issued, by route (launch, api).",
		}, []string{"via"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "termgate_mgmt_http_requests_total", Help: "HTTP requests by status code.",
		}, []string{"code"}),
	}
	r := prometheus.WrapRegistererWith(prometheus.Labels{"node": s.nodeID}, reg)
	for _, c := range []prometheus.Collector{m.logins, m.tokens, m.requests, &certCollector{s: s},
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "termgate_mgmt_store_revision", Help: "Revision of the replicated state."},
			func() float64 { return float64(s.st.revision()) })} {
		if err := r.Register(c); err != nil {
			s.log.Warn().Err(err).Msg("metrics registration")
		}
	}
	return m
}

var certExpiryDesc = prometheus.NewDesc("termgate_mgmt_cert_expiry_seconds",
	"Seconds until a certificate expires (cert: tls, ca, signing; name: subject or kid).", []string{"cert", "name"}, nil)

// certCollector reports certificate expiry at scrape time.
type certCollector struct{ s *Server }

func (c *certCollector) Describe(ch chan<- *prometheus.Desc) { ch <- certExpiryDesc }

func (c *certCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.s.now()
	for _, ci := range c.s.watchedCerts() {
		ch <- prometheus.MustNewConstMetric(certExpiryDesc, prometheus.GaugeValue, ci.notAfter.Sub(now).Seconds(), ci.kind, ci.name)
	}
}

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
	// replication and metering
	pushes      *prometheus.CounterVec
	snapshots   *prometheus.CounterVec
	forwards    *prometheus.CounterVec
	heartbeats  *prometheus.CounterVec
	meterAlerts prometheus.Counter
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
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "termgate_mgmt_replication_pushes_total", Help: "Snapshot pushes to peers by result (ok, refused, error).",
		}, []string{"result"}),
		snapshots: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "termgate_mgmt_replication_snapshots_total", Help: "Received snapshots by result (applied or the refusal reason).",
		}, []string{"result"}),
		forwards: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "termgate_mgmt_replication_forwards_total", Help: "Changes a slave forwarded to the master, by result (ok, refused, unreachable).",
		}, []string{"result"}),
		heartbeats: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "termgate_mgmt_metering_heartbeats_total", Help: "Metering heartbeats by result (ok, malformed, ticket, replayed, clock, handshake_failed...).",
		}, []string{"result"}),
		meterAlerts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "termgate_mgmt_metering_concurrency_alerts_total", Help: "Heartbeats that found a user above the concurrency limit.",
		}),
	}
	r := prometheus.WrapRegistererWith(prometheus.Labels{"node": s.nodeID}, reg)
	for _, c := range []prometheus.Collector{m.logins, m.tokens, m.requests, m.pushes, m.snapshots, m.forwards, m.heartbeats, m.meterAlerts, &certCollector{s: s}, &replCollector{s: s},
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

var (
	replEpochDesc = prometheus.NewDesc("termgate_mgmt_replication_epoch", "Replication epoch this node knows.", nil, nil)
	replRoleDesc  = prometheus.NewDesc("termgate_mgmt_replication_role", "1 for this node's replication role.", []string{"role"}, nil)
	replLagDesc   = prometheus.NewDesc("termgate_mgmt_replication_peer_lag", "Revisions a peer is behind the master.", []string{"peer"}, nil)
)

// replCollector reports the replication state at scrape time.
type replCollector struct{ s *Server }

func (c *replCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- replEpochDesc
	ch <- replRoleDesc
	ch <- replLagDesc
}

func (c *replCollector) Collect(ch chan<- prometheus.Metric) {
	if c.s.repl == nil {
		return
	}
	st := c.s.ReplicationStatus()
	ch <- prometheus.MustNewConstMetric(replEpochDesc, prometheus.GaugeValue, float64(st.Epoch))
	ch <- prometheus.MustNewConstMetric(replRoleDesc, prometheus.GaugeValue, 1, st.Role)
	for _, p := range st.Peers {
		ch <- prometheus.MustNewConstMetric(replLagDesc, prometheus.GaugeValue, float64(p.Lag), p.ID)
	}
}

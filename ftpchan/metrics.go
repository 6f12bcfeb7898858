package ftpchan

import "github.com/prometheus/client_golang/prometheus"

// Metrics receives the gateway's counters. Implementations must be safe for
// concurrent use. A nil Metrics in Config counts nothing.
type Metrics interface {
	// ChannelOpened counts a data or notification channel served here.
	ChannelOpened(kind ChannelKind)
	// ChannelForwarded counts a channel handed to its owner node.
	ChannelForwarded(kind ChannelKind)
	// ChannelRefused counts a refused channel by code.
	ChannelRefused(code Code)
	// CommandRefused counts a client command answered by the gateway with
	// a refusal: reason is "port" (PORT/EPRT/LPRT), "auth" (AUTH/CCC/REIN),
	// "too_long", "malformed" or "epsv_all".
	CommandRefused(reason string)
	// DataBytes counts bytes relayed on data channels.
	DataBytes(toServer, toClient int64)
}

type nopMetrics struct{}

func (nopMetrics) ChannelOpened(ChannelKind)    {}
func (nopMetrics) ChannelForwarded(ChannelKind) {}
func (nopMetrics) ChannelRefused(Code)          {}
func (nopMetrics) CommandRefused(string)        {}
func (nopMetrics) DataBytes(int64, int64)       {}

// PrometheusMetrics implements Metrics with Prometheus counters:
//
//	termgate_ftp_channels_total{kind}
//	termgate_ftp_channels_forwarded_total{kind}
//	termgate_ftp_channels_refused_total{code}
//	termgate_ftp_commands_refused_total{reason}
//	termgate_ftp_data_bytes_total{direction="to_server"|"to_client"}
type PrometheusMetrics struct {
	opened, forwarded, refused, commands, bytes *prometheus.CounterVec
}

// NewPrometheusMetrics creates the counters and registers them with reg
// (nil: not registered).
func NewPrometheusMetrics(reg prometheus.Registerer) (*PrometheusMetrics, error) {
	m := &PrometheusMetrics{
		opened: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "termgate_ftp_channels_total",
			Help: "FTP data and notification channels served by this node."}, []string{"kind"}),
		forwarded: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "termgate_ftp_channels_forwarded_total",
			Help: "FTP channels forwarded to the node that owns their session."}, []string{"kind"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "termgate_ftp_channels_refused_total",
			Help: "FTP channels refused, by Termgate-Error code."}, []string{"code"}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "termgate_ftp_commands_refused_total",
			Help: "FTP control commands refused by the gateway."}, []string{"reason"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "termgate_ftp_data_bytes_total",
			Help: "Bytes relayed on FTP data channels."}, []string{"direction"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.opened, m.forwarded, m.refused, m.commands, m.bytes} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *PrometheusMetrics) ChannelOpened(k ChannelKind) { m.opened.WithLabelValues(string(k)).Inc() }
func (m *PrometheusMetrics) ChannelForwarded(k ChannelKind) {
	m.forwarded.WithLabelValues(string(k)).Inc()
}
func (m *PrometheusMetrics) ChannelRefused(c Code)   { m.refused.WithLabelValues(string(c)).Inc() }
func (m *PrometheusMetrics) CommandRefused(r string) { m.commands.WithLabelValues(r).Inc() }
func (m *PrometheusMetrics) DataBytes(toServer, toClient int64) {
	m.bytes.WithLabelValues("to_server").Add(float64(toServer))
	m.bytes.WithLabelValues("to_client").Add(float64(toClient))
}

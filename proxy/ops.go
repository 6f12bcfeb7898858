package proxy

import (
	"encoding/json"
	"net/http"

	"github.com/termgate/termgate/internal/obs"
)

// Readiness is the JSON body of /readyz.
type Readiness struct {
	Ready    bool     `json:"ready"`
	Node     string   `json:"node"`
	Draining bool     `json:"draining"`
	Problems []string `json:"problems,omitempty"`
	// MgmtCerts is the number of trusted management signing certificates.
	MgmtCerts int `json:"mgmt_certs"`
	// TrustAgeSeconds is the age of the signer store (-1: never loaded).
	TrustAgeSeconds float64 `json:"trust_age_s"`
	// ClockOffsets is the last observed clock offset of each token issuer,
	// in seconds (iat − this node's clock; positive: the issuer is ahead).
	ClockOffsets   map[string]float64 `json:"clock_offsets"`
	ActiveSessions int                `json:"active_sessions"`
}

// Ready reports the node's readiness as /readyz does.
func (s *Server) Ready() Readiness {
	r := Readiness{
		Node:            s.cfg.NodeID,
		Draining:        s.draining.Load(),
		MgmtCerts:       s.trust.Len(),
		TrustAgeSeconds: -1,
		ClockOffsets:    s.metrics.skews(),
		ActiveSessions:  int(s.active.Load()),
	}
	age, known := s.trustRefresher.age()
	if known {
		r.TrustAgeSeconds = age.Seconds()
	}
	if r.Draining {
		r.Problems = append(r.Problems, "draining")
	}
	if !s.cfg.ClientAuthorizationOff {
		if r.MgmtCerts == 0 {
			r.Problems = append(r.Problems, "no management signing certificate: enroll this node or set the management trust file")
		} else if s.cfg.TrustMaxAge > 0 && (!known || age > s.cfg.TrustMaxAge) {
			r.Problems = append(r.Problems, "management trust store is older than the configured maximum age: the management servers are unreachable")
		}
	}
	r.Ready = len(r.Problems) == 0
	return r
}

func (s *Server) opsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		r := s.Ready()
		w.Header().Set("Content-Type", "application/json")
		if !r.Ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		json.NewEncoder(w).Encode(r)
	})
	mux.Handle("GET /metrics", obs.MetricsHandler(s.registry))
	return mux
}

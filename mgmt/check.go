package mgmt

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/termgate/termgate/pki"
)

// ProxyCheck is the result of one TLS connection to the proxy address.
type ProxyCheck struct {
	Address     string `json:"address"`
	ServerName  string `json:"server_name"`
	OK          bool   `json:"ok"`
	Certificate string `json:"certificate,omitempty"` // one-line description of what the proxy presented
	Fingerprint string `json:"fingerprint,omitempty"` // SHA-256 of that certificate
	Node        string `json:"node,omitempty"`        // the enrolled proxy whose certificate it is
	Error       string `json:"error,omitempty"`       // what is wrong and how to fix it
}

// ProxyCheckReport is the answer of GET /api/v1/admin/check-proxies.
type ProxyCheckReport struct {
	OK     bool         `json:"ok"`
	Checks []ProxyCheck `json:"checks"`
}

// checkAttempts is how many connections CheckProxies makes, so that a load
// balancer spreading them shows several nodes.
const checkAttempts = 3

// CheckProxies connects to Config.ProxyAddress as a client would and
// verifies the certificate presented against the proxy trust store and the
// server name clients check (when verify_server_identity is on). A name
// mismatch is reported with the fix (which names the certificate needs).
func (s *Server) CheckProxies(ctx context.Context) ProxyCheckReport {
	addr := s.cfg.ProxyAddress
	name := s.cfg.ProxyServerName
	if name == "" {
		name = hostOf(addr)
	}
	if addr == "" {
		return ProxyCheckReport{Checks: []ProxyCheck{{Error: ErrNoProxyAddress.Error()}}}
	}
	rep := ProxyCheckReport{OK: true}
	trustPEM, err := s.ProxyTrust()
	var trust *pki.TrustStore
	if err == nil {
		trust, err = pki.ParseTrustStore(trustPEM)
	}
	if err != nil {
		return ProxyCheckReport{Checks: []ProxyCheck{{Address: addr, ServerName: name, Error: "proxy trust store: " + err.Error()}}}
	}
	if trust.Len() == 0 {
		return ProxyCheckReport{Checks: []ProxyCheck{{Address: addr, ServerName: name,
			Error: "no proxy is enrolled: create a code with `termgate mgmt enroll-code` and enroll each proxy node"}}}
	}
	sec := s.keys.Load().security
	seen := map[string]bool{}
	for i := 0; i < checkAttempts; i++ {
		c := s.checkOne(ctx, addr, name, trust, sec.VerifyServerIdentity)
		if c.Fingerprint != "" && seen[c.Fingerprint] {
			continue
		}
		seen[c.Fingerprint] = true
		if !c.OK {
			rep.OK = false
		}
		rep.Checks = append(rep.Checks, c)
		if c.Certificate == "" { // could not connect: more attempts will not tell more
			break
		}
	}
	s.audit(ctx, AuditEvent{Event: "check_proxies", Actor: actorOf(ctx), OK: rep.OK, Fields: map[string]any{"address": addr, "server_name": name}})
	return rep
}

func (s *Server) checkOne(ctx context.Context, addr, name string, trust *pki.TrustStore, checkName bool) ProxyCheck {
	c := ProxyCheck{Address: addr, ServerName: name}
	var chain []*x509.Certificate
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		ServerName: name,
		NextProtos: []string{"http/1.1"},
		// The chain is checked below with pki.VerifyPeer, which explains failures.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			chain = cs.PeerCertificates
			return nil
		},
	}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	d := tls.Dialer{NetDialer: &net.Dialer{}, Config: cfg}
	conn, err := d.DialContext(dctx, "tcp", addr)
	if err != nil && len(chain) == 0 {
		c.Error = fmt.Sprintf("cannot connect to %s: %v", addr, err)
		return c
	}
	if conn != nil {
		conn.Close()
	}
	c.Certificate, c.Fingerprint = pki.Describe(chain[0]), pki.Fingerprint(chain[0])
	opts := pki.VerifyOptions{Now: s.now()}
	if checkName {
		opts.Name = name
	}
	for _, e := range trust.Entries() {
		if e.Cert.Equal(chain[0]) {
			c.Node = e.Name
		}
	}
	if err := pki.VerifyPeer(trust, chain, opts); err != nil {
		var nm *pki.NameMismatchError
		if errors.As(err, &nm) {
			c.Error = nm.Error()
		} else {
			c.Error = err.Error()
		}
		return c
	}
	c.OK = true
	return c
}

package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"

	"github.com/termgate/termgate/pki"
	"github.com/termgate/termgate/token"
)

// connectDestination resolves target once, checks every address against
// the destination policy (and, without client authorization, the allow
// list), then dials the checked addresses in turn — never the name again,
// so a second DNS answer cannot move the connection (no DNS rebinding).
// For a token with htls it then speaks TLS to the host and verifies its
// certificate and name against the host trust store.
func (s *Server) connectDestination(c *conn, target string, claims *token.Claims) (net.Conn, *RejectError) {
	host, portStr, err := net.SplitHostPort(target)
	if err != nil {
		return nil, reject(CodeBadRequest, err, "bad target %q", clip(target))
	}
	p, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || p == 0 {
		return nil, reject(CodeBadRequest, err, "bad port in %q", clip(target))
	}
	port := uint16(p)
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.DialTimeout)
	defer cancel()

	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else {
		ips, err = s.cfg.Resolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			if isTimeout(err) {
				return nil, reject(CodeDialTimeout, err, "resolving %s timed out", host)
			}
			return nil, reject(CodeDialFailed, err, "cannot resolve %s: %v", host, err)
		}
		if len(ips) == 0 {
			return nil, reject(CodeDialFailed, nil, "%s has no addresses", host)
		}
	}
	for _, ip := range ips {
		if err := s.policy.check(ip, port); err != nil {
			return nil, reject(CodeDestinationDenied, err, "%s: %v", target, err)
		}
	}
	if s.cfg.ClientAuthorizationOff && !s.allow.matchName(target) {
		for _, ip := range ips {
			if !s.allow.matchIP(ip, port) {
				return nil, reject(CodeDestinationDenied, ErrDestinationDenied, "%s (%s) is not in this proxy's allow list", target, ip)
			}
		}
	}

	dial := s.cfg.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	var up net.Conn
	var errs []error
	for _, ip := range ips {
		up, err = dial(ctx, "tcp", netip.AddrPortFrom(ip.Unmap(), port).String())
		if err == nil {
			break
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	if up == nil {
		err := errors.Join(errs...)
		if isTimeout(err) || ctx.Err() != nil {
			return nil, reject(CodeDialTimeout, err, "connecting to %s timed out after %s", target, s.cfg.DialTimeout)
		}
		return nil, reject(CodeDialFailed, err, "cannot connect to %s: %v", target, err)
	}
	if claims == nil || !claims.HTLS {
		return up, nil
	}
	if s.hostTrust.Len() == 0 {
		up.Close()
		return nil, reject(CodeDialFailed, nil, "the token asks for TLS to the host but this proxy has no host trust store")
	}
	if claims.Proto == token.ProtoFTP {
		// FTP starts in plain text: the gateway runs AUTH TLS itself (RFC 4217).
		return up, nil
	}
	tc := tls.Client(up, s.hostTLSConfig(host))
	if err := tc.HandshakeContext(ctx); err != nil {
		up.Close()
		if isTimeout(err) || ctx.Err() != nil {
			return nil, reject(CodeDialTimeout, err, "TLS to %s timed out", target)
		}
		return nil, reject(CodeDialFailed, err, "TLS to host %s failed: %v", target, err)
	}
	return tc, nil
}

// hostTLSConfig verifies the host's chain against the host trust store and
// its certificate against the name in the token.
func (s *Server) hostTLSConfig(host string) *tls.Config {
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		// The chain and the name are verified by VerifyConnection against
		// the host trust store only, with pki's explanatory errors.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return pki.VerifyPeer(s.hostTrust, cs.PeerCertificates, pki.VerifyOptions{Name: host})
		},
	}
	if _, err := netip.ParseAddr(host); err != nil {
		cfg.ServerName = host
	}
	return cfg
}

func isTimeout(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

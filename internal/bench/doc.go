// Package bench measures termgate's security proxy against baselines in the
// same run, on loopback: the upstream reached directly, a plain Go relay
// (crypto/tls in front, io.Copy both ways) and, where it is installed,
// HAProxy terminating TLS in mode tcp. It backs "termgate bench proxy".
//
//	rep, err := bench.Run(ctx, bench.Config{
//		Exe:     "/usr/bin/termgate", // re-executed as "termgate proxy" and "termgate bench relay-baseline"
//		HAProxy: "/usr/sbin/haproxy",
//	})
//	if err != nil { ... }
//	rep.WriteTable(os.Stdout)
//
// # What is measured
//
// For every target, one after the other so that only one middle process
// competes for the CPU at a time:
//
//  1. bulk throughput, client to host, of Config.Bytes over one session;
//  2. connection set-up rate: TCP + TLS handshake (+ CONNECT with a fresh
//     token for termgate) + one byte echoed by the host, with
//     Config.Conns concurrent clients, bounded by Config.SetupCount and
//     Config.SetupTime; and the middle process's CPU time (user and
//     system) per session opened;
//  3. keystroke latency: p50 and p99 of one-byte round trips over an
//     established session, and what each target adds to the direct round trip;
//  4. resident memory per idle session: the middle process's VmRSS before
//     and after opening Config.Idle sessions, divided by their number.
//
// The middle processes (the proxy, the plain relay, HAProxy) run as child
// processes in their own process groups, so the client side and the host
// side, which live in the calling process, are not counted in their
// memory. Tokens are minted before each timed phase by an in-process
// token.Issuer whose certificate is the proxy's only trusted management
// signer, so signing is not charged to the proxy; verifying is.
//
// # Fairness
//
// All three TLS servers use the same ECDSA P-256 certificate; HAProxy is
// told to prefer the same TLS 1.3 cipher suite as Go. The client offers Go's
// default key-exchange groups unless Config.Curves says otherwise: Go
// servers then pick the hybrid X25519MLKEM768, which HAProxy's OpenSSL does
// not implement, so the report names the negotiated group of every target.
// The proxy's logging is off (HAProxy logs nothing without a log section).
//
// # Security model
//
// Everything binds 127.0.0.1 and every loop is bounded in count and time.
// The generated PKI, tokens and configuration live in a temporary
// directory that Run removes, and Run kills the process groups it started.
package bench

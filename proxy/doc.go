// Package proxy is termgate's security proxy node: the small, boring box in
// the DMZ that relays a terminal or FTP session only when the client
// presents an authorization token the management servers signed for exactly
// that destination (docs/protocol.md).
//
//	srv, err := proxy.New(proxy.Config{
//		Listen:        "0.0.0.0:9443",
//		CertFile:      "proxy.pem", KeyFile: "proxy.key",
//		MgmtTrustFile: "termgate-proxy/mgmt-signers.pem",
//		MgmtTLSTrustFile: "termgate-proxy/mgmt-tls.pem",
//		MgmtURLs:      []string{"https://mgmt1.example.com:8443"},
//		Logger:        logger,
//	})
//	if err != nil { ... }
//	go func() { <-sigterm; srv.Drain(context.Background()) }()
//	err = srv.Serve(ctx)
//
// # Front end
//
// Clients speak TLS (1.2 minimum, the certificate reloaded from disk without
// dropping sessions) and send exactly one HTTP/1.1 CONNECT request, read
// with a hand-written parser (ParseConnect) from a buffered reader that the
// relay then continues from, so bytes pipelined after the request are kept.
// The answer is "200 Connection established" with Termgate-Session, or a
// status with a Termgate-Error code and a one-line reason, then close.
// Connections from the load balancers' networks (Config.ProxyProtocolFrom)
// must start with a PROXY protocol v1 or v2 header, whose client address is
// used for logs and limits; a PROXY header from anywhere else is refused.
//
// # WebSocket front end (browsers)
//
// On the same listener, GET /ws with Upgrade: websocket opens the same
// session for a browser terminal: binary messages carry the raw bytes both
// ways (a text message from the client closes the session with 1003). The
// client offers the subprotocol termgate.v1 (selected in the 101 answer,
// which also carries Termgate-Session) and its token as a second
// subprotocol bearer.<token>; or, offering termgate.v1 alone, sends
// {"token":"…","dst":"host:port"} as its first, text, message and gets
// {"session":"<id>"} back once authorized. The destination is the token's
// dst; /ws?dst=host:port (the only query parameter) and the first
// message's dst must match it. A token in the URL is refused and never
// logged. Every CONNECT check applies, with the same codes, metrics and
// audit events (front=ws). Refusals before the upgrade are the HTTP
// answers of docs/protocol.md; after it, a close frame with code 4000+status
// (4407, 4403, ...) and the Termgate-Error code as reason. Tokens with cnf
// are refused (proof_missing): their proof signs the TLS exporter of the
// client's own connection, which a browser cannot compute. Browsers must
// come from an origin in Config.WebSocketOrigins (default: the proxy's own
// origin only). Sessions are pinged every WebSocketPingInterval and end
// when the client answers nothing for two intervals, or after IdleTimeout
// without data; messages are bounded by WebSocketMaxMessage and writes
// block while the client does not read (no unbounded buffering).
//
// # Security model
//
//   - Never an open relay: with client authorization on (the default) every
//     CONNECT needs a token verified against the management signer store
//     only (certificates carrying termgate's token-signing usage); with it
//     off, only destinations in the proxy's own allow list may be reached,
//     and an empty list denies everything.
//   - Destination policy, applied to every resolved address before any
//     dial: link-local, cloud metadata endpoints, unspecified, multicast,
//     broadcast and reserved addresses and the proxy's own listeners are
//     denied; loopback and private ranges only inside Config.AllowNetworks
//     (metadata addresses need their exact /32 or /128 listed, link-local a
//     network inside the link-local range). The name is resolved once and
//     the checked address is dialled, so DNS rebinding cannot redirect it.
//   - Host TLS: a token with htls makes the proxy speak TLS to the host and
//     verify its chain and name against the host trust store, as clients
//     verify the proxy.
//   - Limits: concurrent sessions per node (503 overloaded) and per token
//     subject (429 rate_limited), failed authorizations per client address
//     (a token bucket, 429 rate_limited), TLS handshake and request-header
//     timeouts, a 16 KiB header cap, idle and maximum session durations.
//
// # Single use of a token across the cluster
//
// Each jti has one owner node: the highest rendezvous (HRW) hash of
// (node id, jti) over this node and Config.Peers. The owner's local replay
// cache decides first use; other nodes ask it over the peer link (mutually
// authenticated TLS with certificates from the peer trust store, a
// line-based protocol on pooled connections, Config.PeerTimeout per check).
// When the owner cannot be reached:
//
//   - a token with cnf (proof of possession, docs/protocol.md) is accepted on
//     this node's local replay cache only: it is bound to the client's TLS
//     connection by the proof, so replaying it elsewhere is useless;
//   - a bearer token fails closed with 503 replay_check_unavailable.
//
// # FTP (docs/protocol.md)
//
// A CONNECT whose token has proto "ftp" is an FTP control channel: the node
// dials the host in plain TCP (for a token with htls the gateway then runs
// explicit AUTH TLS itself, verifying the host against the host trust
// store), answers 200 with Termgate-Session and Termgate-Ticket, and hands
// both connections to its ftpchan.Gateway, which parses the control channel
// (PASV/EPSV learnt, PORT/EPRT refused, server-active mode for the
// destinations in Config.FTPServerActive). A CONNECT carrying
// Termgate-Channel: ftp-data or ftp-notify and Termgate-Ticket carries no
// token (one with Proxy-Authorization is refused as bad_request): the
// ticket, and for a session whose token had cnf a Termgate-Proof over the
// channel's own TLS exporter, authorizes it. Draining, the failed
// authorization limiter and the node's session cap apply to channels as to
// any CONNECT.
//
// Tickets are HMAC-signed with the cluster's shared keys
// (Config.FTPTicketKeys or FTPTicketKeyFile, LoadFTPTicketKeys) and name
// the owner node, where the control channel runs. Without configured keys
// a node signs with a random key of its own: FTP works on one node, and a
// channel that reaches another node fails closed with ticket_invalid and a
// reason naming the missing shared key.
//
// A channel whose session another node owns (behind a round-robin load
// balancer, about half of them) is forwarded over the peer link: the node
// opens a new mutually authenticated connection to the owner and sends
//
//	FORWARD <n>\n<n bytes: the channel request as JSON, TLS exporter included>
//
// the owner answers FORWARDING\n (or ERROR <reason>\n) and from then on the
// connection is the client's stream: the owner's gateway checks the ticket,
// the proof and the data port as for a direct channel, writes the CONNECT
// answer and dials the FTP server from its own address. Each forward is
// logged (event ftp_channel_forwarded with node, owner, session, kind) and
// counted (termgate_proxy_ftp_forwards_total{owner,result} on the sender,
// termgate_proxy_ftp_forwards_received_total on the owner, and ftpchan's
// termgate_ftp_channels_forwarded_total). An owner that cannot be reached
// within PeerTimeout gives 503 owner_unavailable. Config.FTPForwardingOff
// (termgate proxy --ftp-forwarding=false) exists for debugging and for the
// control experiment that shows why forwarding is needed: such channels
// then get owner_unavailable. Answering a non-owner's channel with a
// redirect to the owner's own address is deliberately not offered: clients
// know only the load balancer's name, and the nodes' certificates name it,
// not each node.
//
// Drain sends every FTP session a draining notification with the time at
// which the node will close it; Close ends every FTP session and channel.
//
// FTP-channel extensions of the §3 error table (the same response format):
//
//	407 ticket_invalid, ticket_expired (and proof_missing, proof_invalid)
//	403 channel_denied (another session's port, a port not announced on
//	    the session's control channel or already used, another host)
//	503 owner_unavailable (the owner node is unreachable, not a peer, or
//	    forwarding is off)
//
// # Management trust
//
// The signer store (Config.MgmtTrustFile, written by Enroll) is refreshed
// from GET {url}/api/v1/trust/mgmt.pem of each Config.MgmtURLs in turn,
// over HTTPS verified against Config.MgmtTLSTrustFile, every
// TrustRefreshInterval and when a token names an unknown kid (at most once
// per TrustRefreshMinDelay). A bundle holding any certificate without the
// token-signing usage, or no certificate, is refused. The last good copy is
// saved atomically and used while the management servers are unreachable;
// /readyz fails when it is older than Config.TrustMaxAge.
//
// # Operations
//
// The ops listener serves /healthz, /readyz (JSON, with the issuers'
// observed clock offsets) and /metrics (Prometheus). Drain turns readiness
// off, keeps accepting for DrainGrace, then lets sessions finish until
// DrainTimeout. Audit events (session start and end with bytes_in = client
// to host and bytes_out = host to client, and every rejection) go to
// Config.Logger; a token is never logged.
//
// # Standards
//
// RFC 9110 §9.3.6 (CONNECT), RFC 9112 (HTTP/1.1 message syntax), RFC 6455
// (WebSocket), RFC 8446 and RFC 5705 (TLS 1.3, exporters), the PROXY
// protocol specification (HAProxy, v1 and v2), RFC 6750 (Bearer challenge).
package proxy

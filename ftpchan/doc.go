// Package ftpchan carries FTP through the termgate proxy (docs/protocol.md):
// the proxy side is an application-level gateway (Gateway) for the control
// channel and the data and notification channels of each FTP session; the
// client side (Client) wraps github.com/jlaffaye/ftp so that every
// connection it opens is a CONNECT through the proxy.
//
// # Connections of one session
//
//   - control: a CONNECT with a proto "ftp" token. The proxy answers 200
//     with Termgate-Session and Termgate-Ticket (from IssueTicket), then
//     hands both connections to HandleControl.
//   - data: one per listing or transfer, a CONNECT to "session host:data
//     port" with Termgate-Channel: ftp-data and the ticket (no token).
//   - notification: one per session, Termgate-Channel: ftp-notify; the
//     proxy writes JSON lines (Event): data-ready, transfer-aborted,
//     draining, keep-alive.
//
// # Security model
//
// The gateway parses the control channel line by line. A line longer than
// Config.MaxLine, or holding NUL or a CR that does not end it, is answered
// with 500 and never reaches the server. PORT, EPRT, LPRT and LPSV are
// answered with 502 (no bounce attack is possible: the server is never
// told to connect anywhere by the client). AUTH, CCC, REIN and ADAT are
// refused (the client leg is TLS already). Too many refused lines close
// the session.
//
// The data port is learnt from the server's 227/229 reply to the client's
// PASV/EPSV; the address in a 227 reply is ignored: data connections go
// to the control connection's peer only. The reply the client sees keeps
// the server's port (the client names it in its data CONNECT) and, in a
// 227, names the gateway's own address. Each announced port may be used
// once, within Config.DataTimeout, by a data channel carrying a ticket of
// the same session and naming the session's host; anything else is
// refused (channel_denied) and reported as transfer-aborted.
//
// In server-active mode (SessionInfo.ServerActive) the client still uses
// passive mode; the gateway sends PORT/EPRT naming a one-shot listener on
// its address facing the server, answers the client with a synthetic
// 227/229 naming that listener's port, and accepts on it only a
// connection from the server's address.
//
// Tickets are HMAC-SHA256 over (session id, owner node id, expiry) under a
// key shared by the proxy nodes (Config.TicketKeys), checked in constant
// time. They never leave the cluster's trust domain: only proxy nodes
// verify them, and clients only hand them back. A ticket is bound to its
// session: it is useless once the control channel ends. When the control
// token carried cnf (proof of possession, docs/protocol.md), every channel
// must also carry a proof by the same key over its own TLS exporter, so a
// stolen ticket is useless without the client's key.
//
// With SessionInfo.HostTLS the gateway secures the server leg with
// explicit FTPS (AUTH TLS, PBSZ 0, PROT P; RFC 4217): data connections are
// TLS clients resuming the control connection's session, as vsftpd
// requires.
//
// # Glue for the proxy
//
// One Gateway per node: gw, err := ftpchan.New(ftpchan.Config{NodeID: id,
// TicketKeys: keys, Forwarder: peerForwarder, Metrics: m, Logger: log}),
// gw.Close() on shutdown, gw.Drain(deadline) when draining. Then, in the
// CONNECT handler:
//
//	if kind := req.Get("Termgate-Channel"); kind != "" {
//		// no token: the ticket authorizes the channel
//		ekm, _ := token.Exporter(tlsConn.ConnectionState())
//		err := gw.HandleChannel(ctx, clientConn, ftpchan.ChannelRequest{
//			Kind: ftpchan.ChannelKind(kind), Ticket: req.Get("Termgate-Ticket"),
//			Target: req.Target, Proof: req.Get("Termgate-Proof"),
//			ProofKey: req.Get("Termgate-Proof-Key"), Exporter: ekm,
//			ClientAddr: client.String()})
//		// HandleChannel wrote the 200 or the refusal itself; err is for logs
//		// (ftpchan.CodeOf(err) is the Termgate-Error code sent).
//		return
//	}
//	// control channel of a proto "ftp" token, after authorize and dial:
//	id := newSessionID()
//	ticket, err := gw.IssueTicket(id)
//	write "200 Connection established", "Termgate-Session: id", "Termgate-Ticket: ticket"
//	err = gw.HandleControl(ctx, clientConn, upstream, ftpchan.SessionInfo{
//		ID: id, Sub: claims.Subject, ClientAddr: client.String(), Dst: target,
//		JKT: claims.Cnf.JKT /* if any */, ClientReader: bufferedReader,
//		HostTLS: /* if claims.HTLS: pki.ClientTLSConfig(hostTrust, host, true) */,
//		ServerActive: /* per-destination setting */})
//
// For proto "ftp" the proxy must dial the destination in plain TCP even
// when the token has htls: the gateway does the explicit AUTH TLS.
// The Forwarder (implemented by the proxy) sends the ChannelRequest
// (Exporter included) and the raw client stream over the authenticated
// peer link to the owner node, which calls its own gw.HandleChannel with
// Forwarded set and the peer stream as client.
//
// # Client side
//
//	l, _ := mgmtClient.Launch(ctx, "files", emulator.LaunchOptions{})
//	c, err := ftpchan.Dial(ctx, l, ftpchan.ClientConfig{User: "bob", Password: pw})
//	defer c.Close()
//	r, err := c.Retr("report.pdf")   // any *ftp.ServerConn method
//
// RFCs: 959 (FTP), 1123 §4.1.2.6 (PASV parsing), 2428 (EPSV/EPRT), 4217
// (FTPS), 7231 §4.3.6 (CONNECT).
package ftpchan

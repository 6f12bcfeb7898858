// Package mgmt is termgate's management server: it keeps users and their
// grants, session definitions, API keys, security settings and enrolled
// proxies in an embedded store (bbolt), logs users in, and issues the
// short-lived signed authorization tokens that proxies verify (docs/protocol.md).
//
// # Usage
//
// A data directory is made once by Init (a no-op when it exists), then a
// Server runs on it:
//
//	res, err := mgmt.Init("termgate-data", mgmt.InitOptions{})      // CA, certificates, store, user admin
//	srv, err := mgmt.New(mgmt.Config{DataDir: res.DataDir, ProxyAddress: "proxy.example.com:443", Logger: log})
//	go srv.Serve(ctx)                                                // HTTPS on 127.0.0.1:8443
//	defer srv.Close()
//
// The all-in-one `termgate up` does the same and then, in process:
//
//	code, _, _ := srv.CreateEnrollCode(ctx)                         // one-time proxy enrollment code
//	c, _ := mgmt.NewClient(srv.URL(), srv.TLSTrust())                // or the proxy's own enrollment client
//	resp, _ := c.Enroll(ctx, pki.EnrollRequest{Code: code, NodeID: "proxy-1", Certificate: proxyPEM})
//	srv.PutSession(ctx, "demo-vt", mgmt.SessionDef{Protocol: "telnet", Host: "127.0.0.1", Port: 2323})
//	srv.PutSession(ctx, "demo-3270", mgmt.SessionDef{Protocol: "tn3270", Host: "127.0.0.1", Port: 3270})
//	srv.GrantSessions(ctx, "admin", "demo-vt", "demo-3270")
//
// resp.MgmtSigners is what the proxy verifies tokens against and
// resp.MgmtTLS what it trusts to refresh them from GET /api/v1/trust/mgmt.pem.
// Open gives a Server without a listener for offline administration (the
// `termgate mgmt` commands use it when the server is stopped); BackupOffline
// and Restore work on a stopped server's data directory.
//
// # Data directory
//
//	ca.pem, ca.key     local CA (issues the HTTPS and signing certificates); ca.pem is the --ca of clients
//	tls.crt, tls.key   HTTPS certificate (names from InitOptions.TLSNames)
//	signing/KID.key    this node's token-signing private keys (never in the store, never replicated)
//	store.db           bbolt store (mode 0600)
//	admin-password     the generated password of user admin (mode 0600)
//
// The store has one bucket per kind (sessions, users, api_keys, settings,
// proxies, signers, enroll, revoked) plus local ones (meta: schema version
// and revision; audit). Every change is one transaction that bumps the
// revision; Export/Import move the replicated buckets as one Snapshot at one
// revision. A schema change adds a step to the migrations table.
//
// # Security model
//
// Passwords are hashed with argon2id (t=2, m=19 MiB, p=1; see
// PasswordParams), compared in constant time, with a bounded number of
// hashes at once; unknown users cost the same time as known ones. Failed
// logins lock the user name and the client address for a growing time
// (LockoutPolicy), answered with 429 and Retry-After before any hashing.
//
// A login token is a JWT (typ "tg-login+jwt", aud "termgate-mgmt", 15 min)
// signed by the node's signing key, so any node holding the replicated
// signer set can verify it without session state; POST /api/v1/login/refresh
// renews it up to Config.LoginMaxAge after the password login; logout puts
// its jti on a deny-list in the store until it expires; a password change
// ends earlier logins. Its type and audience differ from the authorization
// token's ("tg-authz+jwt", "termgate-proxy"), so neither is accepted as the
// other. Login also sets an HttpOnly, Secure, SameSite=Strict cookie; a
// cookie-authenticated request that changes state must echo the tg_csrf
// cookie in X-CSRF-Token, and that value is bound into the login token.
// Bearer requests need no CSRF token.
//
// API keys are "tgk_<id>_<secret>" with a 256-bit secret, shown once and
// stored as SHA-256, found by id and compared in constant time. They may
// request tokens (POST /api/v1/tokens) for their destinations only, and
// never use the admin API.
//
// Grants: a user launches only the sessions listed in its grant ("*": all)
// and requests tokens only for destinations matching its patterns
// ("host-or-cidr:port", see the grammar in grants.go). The destination
// policy (allowed_networks) refuses IP destinations in link-local and cloud
// metadata ranges unless listed; the proxy enforces its own policy too.
//
// Each node signs with one key at a time, in a certificate carrying the
// token-signing extended key usage and naming the node. Rotation publishes
// the next key at once (JWKS, trust/mgmt.pem), signs with it after
// Config.KeyPublishDelay, and keeps the previous one published until every
// token it signed has expired. Request bodies are capped (1 MiB) and decoded
// strictly; secrets never appear in URLs, logs, errors or the audit trail.
//
// # Replication (docs/deployment.md)
//
// Config.Role is standalone (default), master or slave; after the first
// start the role and epoch recorded in the store win. A group is made with
// join codes:
//
//	termgate mgmt serve --data A --role master                     # node 1
//	termgate mgmt join-code --data A                               # on the master: tgj_...
//	termgate mgmt join --data B --node-id mgmt-b --addr HOST:8443 \
//	    --master https://mgmt-a:8443 --master-ca A/ca.pem --code tgj_...
//	termgate mgmt serve --data B --role slave --addr HOST:8443
//
// Join sends the new node's signing certificate (never its key), its URL,
// metering address and HTTPS trust; the master adds them to the replicated
// members (bucket peers) and signers and answers with the signed state, so
// every node verifies every member's login tokens, tickets and snapshots,
// and trust/mgmt.pem lists every member's signer on every node.
//
// The master pushes a signed full snapshot (SignedSnapshot: header with
// epoch, revision, master and payload hash, signed with each signing key it
// holds, then the Snapshot) on every change (Config.PushDebounce) and every
// Config.PushInterval to POST /api/v1/replication/snapshot of each member.
// A slave applies it only if a signature verifies with a group signer of
// the named master and it is newer: a higher epoch, or the same epoch and
// master with a higher revision. Archive, import and the new epoch are one
// bbolt transaction; the overwritten state is archived (Config.ArchiveKeep).
// Admin writes, logout and enrollment reaching a slave are forwarded to the
// master with the caller's credentials and answered once the change is back
// (Termgate-Replication: applied | pending), or 503 master_unreachable.
// GET of a session, user or the security settings returns an ETag (a hash
// of the stored bytes, identical on every node); PUT/DELETE with a stale
// If-Match get 412 precondition_failed. Promote raises the epoch; a master
// that sees a higher epoch (in a push, a refusal or a forwarded change)
// steps down. Never replicated: private keys, certificate files, listener
// settings, the audit trail, the archive and metering records.
//
// # Metering (docs/protocol.md)
//
// With Config.DTLSAddr, a node listens for heartbeats over DTLS 1.2
// (pion/dtls v3; cookie exchange on, extended master secret required; the
// HTTPS certificate) and launch answers metering {address, addresses,
// interval_s, ticket, trust_store}: the ticket is a JWT (typ tg-meter+jwt,
// aud termgate-metering, sub user, ses session, jti launch id, ivl) signed
// by the node; trust_store verifies every node's certificate. Each node
// stores the heartbeats it receives (replays of a launch's seq refused) and
// GET /api/v1/admin/metering merges every node's records at query time, so
// the report is whole whichever node took each heartbeat and needs no
// master; a node that cannot be asked is listed in "missing".
//
// # HTTP API
//
//	POST /api/v1/login, /api/v1/login/refresh, /api/v1/logout;  GET /api/v1/me
//	GET  /api/v1/sessions;  POST /api/v1/sessions/{name}/launch;  POST /api/v1/tokens
//	GET  /.well-known/jwks.json, /api/v1/trust/mgmt.pem, /api/v1/trust/proxy.pem
//	POST /api/v1/enroll
//	GET|PUT|DELETE /api/v1/admin/sessions[/{name}], /api/v1/admin/users[/{name}]
//	GET|POST /api/v1/admin/api-keys, DELETE /api/v1/admin/api-keys/{id}
//	GET|PUT /api/v1/admin/security;  GET /api/v1/admin/proxies, DELETE /api/v1/admin/proxies/{id}
//	POST /api/v1/admin/enroll-codes, /api/v1/admin/rotate-key, /api/v1/admin/backup
//	GET  /api/v1/admin/signing-keys, /api/v1/admin/check-proxies
//	GET  /api/v1/admin/audit?limit=&actor=&event=&ok=&since=&until=
//	GET  /api/v1/admin/replication; POST /api/v1/admin/replication/promote, /api/v1/admin/replication/join-codes
//	GET  /api/v1/admin/archive[/{revision}]; POST /api/v1/admin/archive/{revision}/restore
//	GET  /api/v1/admin/metering?from=&to=&window=, /api/v1/admin/metering/records
//	POST /api/v1/replication/snapshot (signed push), /api/v1/replication/join (join code)
//	GET  /healthz, /readyz, /metrics
//	GET  /admin/, /app/ (the browser console, package webui); / redirects to /app/
//
// GET /api/v1/me says who the caller is: {"name","role","expires_at"} for a
// login (token or cookie), {"name": the key's name, "role": "api-key"} for
// an API key. The audit trail is filtered on the server: limit (default
// 100, capped at Config.AuditKeep), actor and event (exact), ok
// (true|false), since and until (RFC 3339; since <= time < until); an
// unknown, repeated or malformed parameter is 400; the answer is
// {"events": [...newest first], "more": older events match too}.
//
// The console's pages carry their own Content-Security-Policy (scripts and
// styles from this origin only, WebSockets to Config.ProxyAddress); every
// other answer has "default-src 'none'" and Cache-Control no-store.
//
// Errors are {"error":{"code","message"}}: 400 bad_request/invalid_json,
// 401 unauthorized, 403 forbidden, 404 not_found, 409 conflict, 413
// too_large, 429 rate_limited (with Retry-After), 500 internal, 503 unavailable,
// 507 storage_full (the disk of the data directory is full: the message
// names the directory; the change was not saved, bbolt rolled it back; the
// server logs it once at error level with the path, and once more at info
// when writes succeed again);
// replication adds 409 replica/stale_epoch/stale_revision/wrong_master,
// 412 precondition_failed, 503 master_unreachable and the snapshot_* codes.
//
// It follows RFC 7519 (JWT), RFC 7517 (JWK, JWKS with x5c), RFC 9106
// (argon2id) and RFC 6265 (cookies, with SameSite).
package mgmt

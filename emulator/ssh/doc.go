// Package ssh is the SSH client of the termgate SDK: an interactive
// session with a pty over a connection that already exists, typically the
// tunnel that the termgate proxy opened to the host.
//
// It is a thin layer over golang.org/x/crypto/ssh: Open runs the handshake,
// checks the host key, authenticates, requests a pty and starts the login
// shell (or Config.Command). The Session is an io.ReadWriteCloser: Read
// returns what the host prints (stdout and stderr merged), Write is typed
// input.
//
// Usage:
//
//	conn, err := tunnel.DialContext(ctx, "tcp", "db2.example.com:22")
//	if err != nil { ... }
//	s, err := ssh.Open(ctx, conn, "db2.example.com:22", ssh.Config{
//		User:     "alice",
//		Password: password,
//		HostKey:  "ssh-ed25519 AAAAC3Nza...", // from the session definition
//		Rows:     24, Cols: 80,
//	})
//	if err != nil { ... }
//	defer s.Close()
//	s.Write([]byte("ls\r"))
//	n, err := s.Read(buf)
//
// Security model. The proxy relays bytes and cannot vouch for the host, so
// the client checks the host's key itself and Open refuses to run without
// a way to do so: Config.HostKey (pinned keys, e.g. from the session
// definition) or Config.KnownHostsFile (OpenSSH known_hosts, with @revoked
// honoured). A mismatch is a *HostKeyError naming the expected and the
// presented SHA-256 fingerprints. Only the host-key algorithms of the known
// keys are offered, so a host with several keys presents one that can be
// checked. Config.InsecureIgnoreHostKey turns the check off and exists for
// tests only. Passwords are never logged. The handshake and session start
// are bounded by Config.Timeout and by the caller's context.
//
// RFCs: 4251–4254 (SSH architecture, authentication, connection protocol,
// pty and window-change requests), 4256 (keyboard-interactive), 8709
// (ed25519 keys); the known_hosts format is OpenSSH's sshd(8).
package ssh

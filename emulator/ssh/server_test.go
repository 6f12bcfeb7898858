package ssh

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"

	"github.com/creack/pty"
	xssh "golang.org/x/crypto/ssh"
)

// testServer is an in-process SSH server that runs /bin/sh on a pty.
type testServer struct {
	addr    string
	hostKey xssh.Signer
	ln      net.Listener
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   map[net.Conn]struct{}
}

func newSigner(t *testing.T) xssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := xssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// startTestServer accepts the user "tester" with clientKey or password.
func startTestServer(t *testing.T, clientKey xssh.PublicKey, password string) *testServer {
	t.Helper()
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	s := &testServer{hostKey: newSigner(t), conns: map[net.Conn]struct{}{}}
	cfg := &xssh.ServerConfig{
		PublicKeyCallback: func(md xssh.ConnMetadata, key xssh.PublicKey) (*xssh.Permissions, error) {
			if md.User() == "tester" && clientKey != nil && string(key.Marshal()) == string(clientKey.Marshal()) {
				return nil, nil
			}
			return nil, errors.New("denied")
		},
		PasswordCallback: func(md xssh.ConnMetadata, pw []byte) (*xssh.Permissions, error) {
			if md.User() == "tester" && password != "" && string(pw) == password {
				return nil, nil
			}
			return nil, errors.New("denied")
		},
	}
	cfg.AddHostKey(s.hostKey)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.ln, s.addr = ln, ln.Addr().String()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[c] = struct{}{}
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serveConn(c, cfg)
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
			}()
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *testServer) close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *testServer) serveConn(c net.Conn, cfg *xssh.ServerConfig) {
	defer c.Close()
	sc, chans, reqs, err := xssh.NewServerConn(c, cfg)
	if err != nil {
		return
	}
	defer sc.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() { defer wg.Done(); xssh.DiscardRequests(reqs) }()
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(xssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			serveSession(ch, creqs)
			sc.Close() // one session per connection, as the client uses it
		}()
	}
}

func serveSession(ch xssh.Channel, reqs <-chan *xssh.Request) {
	defer ch.Close()
	var (
		term       = "dumb"
		rows, cols uint32
		ptmx       *os.File
		cmd        *exec.Cmd
		copied     = make(chan struct{})
		exited     = make(chan struct{})
		exitStatus uint32
	)
	start := func(args []string) bool {
		cmd = exec.Command(args[0], args[1:]...)
		cmd.Env = []string{"TERM=" + term, "PATH=/usr/bin:/bin", "HOME=/tmp", "PS1=$ "}
		f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: uint16(rows), Cols: uint16(cols)})
		if err != nil {
			return false
		}
		ptmx = f
		go func() { io.Copy(f, ch) }() // ends when ptmx is closed or the channel ends
		go func() {
			io.Copy(ch, f) // ends with EIO once the shell and its children are gone
			close(copied)
		}()
		go func() {
			err := cmd.Wait()
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				exitStatus = uint32(ee.ExitCode())
			}
			close(exited)
		}()
		return true
	}
	for {
		select {
		case req, ok := <-reqs:
			if !ok {
				if cmd != nil {
					cmd.Process.Signal(syscall.SIGHUP)
					<-exited
					ptmx.Close()
				}
				return
			}
			switch req.Type {
			case "pty-req":
				var p struct {
					Term             string
					Cols, Rows, W, H uint32
					Modes            string
				}
				if xssh.Unmarshal(req.Payload, &p) == nil {
					term, rows, cols = p.Term, p.Rows, p.Cols
				}
				req.Reply(true, nil)
			case "window-change":
				if len(req.Payload) >= 8 && ptmx != nil {
					pty.Setsize(ptmx, &pty.Winsize{Cols: uint16(binary.BigEndian.Uint32(req.Payload)), Rows: uint16(binary.BigEndian.Uint32(req.Payload[4:]))})
				}
			case "shell":
				req.Reply(cmd == nil && start([]string{"/bin/sh"}), nil)
			case "exec":
				var p struct{ Command string }
				ok := cmd == nil && xssh.Unmarshal(req.Payload, &p) == nil && start([]string{"/bin/sh", "-c", p.Command})
				req.Reply(ok, nil)
			default:
				req.Reply(false, nil)
			}
		case <-exited:
			<-copied
			ptmx.Close()
			ch.SendRequest("exit-status", false, xssh.Marshal(struct{ Status uint32 }{exitStatus}))
			ch.CloseWrite()
			return
		}
	}
}

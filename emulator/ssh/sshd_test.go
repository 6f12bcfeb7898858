package ssh

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	xssh "golang.org/x/crypto/ssh"

	"github.com/termgate/termgate/internal/testpeer"
)

// startSSHD runs OpenSSH sshd on a free loopback port with a throwaway
// ed25519 host key and key authentication of the current user through a
// temporary AuthorizedKeysFile. It returns the address and the host key.
func startSSHD(t *testing.T, clientKey xssh.PublicKey) (string, xssh.PublicKey) {
	t.Helper()
	sshd := testpeer.Require(t, "/usr/sbin/sshd", "openssh-server")
	keygen := testpeer.Require(t, "ssh-keygen", "openssh-client")
	if _, err := os.Stat("/run/sshd"); err != nil {
		if os.Geteuid() != 0 {
			t.Skip("sshd needs the directory /run/sshd; create it as root")
		}
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	hostKeyFile := filepath.Join(dir, "hostkey")
	if out, err := exec.Command(keygen, "-q", "-t", "ed25519", "-N", "", "-f", hostKeyFile).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	pub, err := os.ReadFile(hostKeyFile + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	hostKey, _, _, _, err := xssh.ParseAuthorizedKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	authorized := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(authorized, xssh.MarshalAuthorizedKey(clientKey), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	cfg := filepath.Join(dir, "sshd_config")
	conf := fmt.Sprintf(`ListenAddress 127.0.0.1
Port %s
HostKey %s
PidFile %s
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
AuthorizedKeysFile %s
StrictModes no
`, port, hostKeyFile, filepath.Join(dir, "sshd.pid"), authorized)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(sshd, "-t", "-f", cfg).CombinedOutput(); err != nil {
		t.Fatalf("sshd -t: %v: %s", err, out)
	}
	cmd := exec.Command(sshd, "-D", "-e", "-f", cfg)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var logs strings.Builder
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			t.Logf("sshd log:\n%s", logs.String())
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return addr, hostKey
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd did not listen on %s: %v\n%s", addr, err, logs.String())
		}
	}
}

func TestRealSSHD(t *testing.T) {
	client := newSigner(t)
	addr, hostKey := startSSHD(t, client.PublicKey())
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{User: u.Username, Signers: []xssh.Signer{client}, HostKey: authorizedLine(hostKey)}

	t.Run("command", func(t *testing.T) {
		cfg := cfg
		cfg.Command = "echo sshd-$((6*7)) $TERM; stty size"
		cfg.Rows, cfg.Cols = 33, 91
		s, err := Open(context.Background(), dial(t, addr), addr, cfg)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer s.Close()
		out := newReader(s).drain(t)
		if !strings.Contains(out, "sshd-42 xterm") || !strings.Contains(out, "33 91") {
			t.Errorf("output = %q", out)
		}
		if err := s.Wait(); err != nil {
			t.Errorf("Wait = %v", err)
		}
	})

	t.Run("shell", func(t *testing.T) {
		s, err := Open(context.Background(), dial(t, addr), addr, cfg)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer s.Close()
		out := newReader(s)
		s.Write([]byte("echo shell-$((7*6))\r"))
		out.waitFor(t, "shell-42")
		s.Write([]byte("exit 4\r"))
		out.drain(t)
		var exit *xssh.ExitError
		if err := s.Wait(); !errors.As(err, &exit) || exit.ExitStatus() != 4 {
			t.Errorf("Wait = %v, want exit status 4", err)
		}
	})

	t.Run("wrong host key", func(t *testing.T) {
		cfg := cfg
		other := newSigner(t).PublicKey()
		cfg.HostKey = authorizedLine(other)
		_, err := Open(context.Background(), dial(t, addr), addr, cfg)
		var herr *HostKeyError
		if !errors.As(err, &herr) {
			t.Fatalf("Open = %v, want a HostKeyError", err)
		}
		for _, fp := range []string{xssh.FingerprintSHA256(hostKey), xssh.FingerprintSHA256(other)} {
			if !strings.Contains(err.Error(), fp) {
				t.Errorf("error %q does not name %s", err, fp)
			}
		}
	})
}

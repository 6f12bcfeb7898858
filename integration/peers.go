package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/termgate/termgate/internal/testpeer"
)

// HAProxyBackend is one server line of an HAProxy backend.
type HAProxyBackend struct {
	Name    string
	Addr    string // host:port of the proxy node's TLS listener
	OpsAddr string // host:port of its ops listener, for /readyz checks ("" = TCP check)
}

// HAProxyConfig describes a round-robin TCP load balancer.
type HAProxyConfig struct {
	Listen       string // frontend bind host:port
	Backends     []HAProxyBackend
	SendProxyV2  bool // send a PROXY protocol v2 header to each backend
	CheckInterMS int  // health-check interval; 0 → 500 ms
}

// StartHAProxy writes a configuration, checks it with haproxy -c and runs it.
func StartHAProxy(t testing.TB, cfg HAProxyConfig) *Proc {
	t.Helper()
	bin := testpeer.Require(t, "haproxy", "haproxy")
	inter := cfg.CheckInterMS
	if inter == 0 {
		inter = 500
	}
	var b strings.Builder
	fmt.Fprintf(&b, "global\n  maxconn 20000\n\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 10m\n  timeout server 10m\n\n")
	fmt.Fprintf(&b, "frontend fe\n  bind %s\n  default_backend be\n\nbackend be\n  balance roundrobin\n", cfg.Listen)
	for _, be := range cfg.Backends {
		line := fmt.Sprintf("  server %s %s check inter %d fall 2 rise 1", be.Name, be.Addr, inter)
		if be.OpsAddr != "" {
			_, port, _ := strings.Cut(be.OpsAddr, ":")
			if i := strings.LastIndex(be.OpsAddr, ":"); i >= 0 {
				port = be.OpsAddr[i+1:]
			}
			line += " port " + port
		}
		if cfg.SendProxyV2 {
			line += " send-proxy-v2"
		}
		b.WriteString(line + "\n")
	}
	hasHTTPCheck := false
	for _, be := range cfg.Backends {
		if be.OpsAddr != "" {
			hasHTTPCheck = true
		}
	}
	if hasHTTPCheck {
		b.WriteString("  option httpchk GET /readyz\n")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-c", "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s\n%s", err, out, b.String())
	}
	p := Start(t, "haproxy", nil, bin, "-db", "-f", path)
	WaitTCP(t, cfg.Listen, 10*time.Second)
	return p
}

// StartTelnetd runs inetutils telnetd behind socat on addr. With a shell
// command, telnetd runs it instead of login (telnetd -E).
func StartTelnetd(t testing.TB, addr, shell string) *Proc {
	t.Helper()
	socat := testpeer.Require(t, "socat", "socat")
	telnetd := testpeer.Require(t, "telnetd", "inetutils-telnetd")
	host, port := splitHostPort(t, addr)
	exe := telnetd + " -h"
	if shell != "" {
		exe += " -E " + shell
	}
	p := Start(t, "telnetd", nil, socat,
		fmt.Sprintf("TCP-LISTEN:%s,bind=%s,reuseaddr,fork", port, host),
		fmt.Sprintf("EXEC:%s,nofork", exe))
	WaitTCP(t, addr, 10*time.Second)
	return p
}

// SSHD is a running OpenSSH server with a throwaway host key.
type SSHD struct {
	Proc       *Proc
	Addr       string
	HostKeyPub string // authorized_keys form of the host key
	ClientKey  string // path of a private key whose public half is authorized
	User       string
}

// StartSSHD runs sshd on addr with key authentication for the current user.
func StartSSHD(t testing.TB, addr string) *SSHD {
	t.Helper()
	sshd := testpeer.Require(t, "sshd", "openssh-server")
	keygen := testpeer.Require(t, "ssh-keygen", "openssh-client")
	dir := t.TempDir()
	for _, k := range []string{"hostkey", "clientkey"} {
		if out, err := exec.Command(keygen, "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, k)).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
	}
	pub, err := os.ReadFile(filepath.Join(dir, "clientkey.pub"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), pub, 0o600); err != nil {
		t.Fatal(err)
	}
	host, port := splitHostPort(t, addr)
	cfg := fmt.Sprintf(`ListenAddress %s
Port %s
HostKey %s
PidFile %s
UsePAM no
PasswordAuthentication no
PubkeyAuthentication yes
AuthorizedKeysFile %s
StrictModes no
PermitRootLogin yes
LogLevel VERBOSE
`, host, port, filepath.Join(dir, "hostkey"), filepath.Join(dir, "sshd.pid"), filepath.Join(dir, "authorized_keys"))
	cfgPath := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll("/run/sshd", 0o755)
	if out, err := exec.Command(sshd, "-t", "-f", cfgPath).CombinedOutput(); err != nil {
		t.Fatalf("sshd -t: %v\n%s", err, out)
	}
	p := Start(t, "sshd", nil, sshd, "-D", "-e", "-f", cfgPath)
	WaitTCP(t, addr, 10*time.Second)
	hostPub, err := os.ReadFile(filepath.Join(dir, "hostkey.pub"))
	if err != nil {
		t.Fatal(err)
	}
	user := os.Getenv("USER")
	if user == "" {
		user = "root"
	}
	return &SSHD{Proc: p, Addr: addr, HostKeyPub: strings.TrimSpace(string(hostPub)), ClientKey: filepath.Join(dir, "clientkey"), User: user}
}

func splitHostPort(t testing.TB, addr string) (string, string) {
	t.Helper()
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		t.Fatalf("address %q has no port", addr)
	}
	return strings.Trim(addr[:i], "[]"), addr[i+1:]
}

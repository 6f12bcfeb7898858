package testpeer

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/termgate/termgate/pki"
)

// VsftpdOptions configure StartVsftpd. The zero value serves an anonymous,
// writable root on 127.0.0.1 in plain FTP.
type VsftpdOptions struct {
	// IP is the loopback address to listen on; "" means 127.0.0.1.
	IP string
	// PasvAddress is announced in 227 replies instead of the real address.
	PasvAddress string
	// TLSName, when set, makes the server require explicit FTPS (AUTH
	// TLS, PROT P) for anonymous logins and data, with a self-signed
	// certificate for that name (Vsftpd.Cert).
	TLSName string
}

// Vsftpd is a running vsftpd.
type Vsftpd struct {
	Addr string // host:port of the control channel
	Root string // the anonymous root, writable by nobody
	Log  string // vsftpd's own output ("500 OOPS" lines)
	// Cert is the server's certificate with VsftpdOptions.TLSName; nil
	// in plain FTP.
	Cert *pki.Cert
}

// StartVsftpd runs a real vsftpd, unprivileged (as nobody, which needs
// root to switch to), with an anonymous writable root and a throwaway
// configuration, and stops it at the end of the test. Without vsftpd or
// root it skips the test, or fails it in CI.
func StartVsftpd(t testing.TB, o VsftpdOptions) *Vsftpd {
	t.Helper()
	bin := Require(t, "vsftpd", "vsftpd")
	setpriv := Require(t, "setpriv", "util-linux")
	if os.Geteuid() != 0 {
		if InCI() {
			t.Fatal("vsftpd runs as nobody: the test needs root to switch user")
		}
		t.Skip("vsftpd runs as nobody here: the test needs root to switch user")
	}
	ip := o.IP
	if ip == "" {
		ip = "127.0.0.1"
	}
	// Not t.TempDir: its parent is 0700, which nobody cannot traverse.
	dir, err := os.MkdirTemp("", "termgate-vsftpd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	v := &Vsftpd{Root: filepath.Join(dir, "root"), Log: filepath.Join(dir, "vsftpd.log")}
	empty := filepath.Join(dir, "empty")
	for _, d := range []string{v.Root, empty} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(empty, 0o555)
	if err := os.Chown(v.Root, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	port := freePort(t, ip)
	pasvMin := 20000 + port%20000
	v.Addr = net.JoinHostPort(ip, strconv.Itoa(port))
	cfg := []string{
		"listen=YES", "listen_ipv6=NO", "listen_address=" + ip, "listen_port=" + strconv.Itoa(port),
		"background=NO", "run_as_launching_user=YES", "seccomp_sandbox=NO", "isolate=NO", "isolate_network=NO",
		"anonymous_enable=YES", "local_enable=NO", "no_anon_password=YES", "anon_root=" + v.Root,
		"anon_upload_enable=YES", "anon_mkdir_write_enable=YES", "anon_other_write_enable=YES",
		"anon_umask=022", "anon_world_readable_only=NO", "write_enable=YES",
		"pasv_enable=YES", "port_enable=YES", "connect_from_port_20=NO",
		fmt.Sprintf("pasv_min_port=%d", pasvMin), fmt.Sprintf("pasv_max_port=%d", pasvMin+500),
		"secure_chroot_dir=" + empty, "xferlog_enable=NO", "dual_log_enable=NO", "syslog_enable=NO",
		"max_clients=500", "max_per_ip=500", "idle_session_timeout=300", "data_connection_timeout=120",
	}
	if o.PasvAddress != "" {
		cfg = append(cfg, "pasv_address="+o.PasvAddress, "pasv_addr_resolve=NO")
	}
	if o.TLSName != "" {
		c, err := pki.SelfSigned(pki.CertSpec{CommonName: o.TLSName, DNSNames: []string{o.TLSName}, Usage: pki.UsageServer})
		if err != nil {
			t.Fatal(err)
		}
		keyPEM, err := pki.MarshalKeyPEM(c.Key)
		if err != nil {
			t.Fatal(err)
		}
		v.Cert = c
		certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
		if err := os.WriteFile(certFile, pki.EncodeCertPEM(c.Cert), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		os.Chown(keyFile, 65534, 65534)
		cfg = append(cfg, "ssl_enable=YES", "rsa_cert_file="+certFile, "rsa_private_key_file="+keyFile,
			"allow_anon_ssl=YES", "force_anon_logins_ssl=YES", "force_anon_data_ssl=YES",
			"require_ssl_reuse=YES", "ssl_ciphers=HIGH", "ssl_tlsv1=YES", "ssl_sslv2=NO", "ssl_sslv3=NO")
	}
	cfgFile := filepath.Join(dir, "vsftpd.conf")
	if err := os.WriteFile(cfgFile, []byte(strings.Join(cfg, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(cfgFile, 65534, 65534); err != nil { // vsftpd insists on owning its config
		t.Fatal(err)
	}
	logf, err := os.Create(v.Log)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups", bin, cfgFile)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = logf, logf, logf // "500 OOPS" goes to fd 0
	if err := cmd.Start(); err != nil {
		t.Fatalf("start vsftpd: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			out, _ := os.ReadFile(v.Log)
			t.Logf("---- vsftpd log ----\n%s", out)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", v.Addr, time.Second)
		if err == nil {
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			b := make([]byte, 64)
			n, _ := c.Read(b)
			c.Close()
			if strings.HasPrefix(string(b[:n]), "220") {
				return v
			}
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(v.Log)
			t.Fatalf("vsftpd did not start on %s: %s", v.Addr, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// freePort returns a TCP port on ip that was free a moment ago.
func freePort(t testing.TB, ip string) int {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

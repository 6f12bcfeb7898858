package ftpchan

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

	"github.com/termgate/termgate/internal/testpeer"
	"github.com/termgate/termgate/pki"
)

type vsftpdOptions struct {
	pasvAddress string // announced in 227 replies; "" means the real one
	tls         bool   // explicit FTPS required for anonymous logins and data
}

type vsftpd struct {
	addr string
	root string // anonymous root (writable by nobody)
	cert *pki.Cert
	log  string
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startVsftpd runs a real vsftpd as nobody on a loopback port, with an
// anonymous, writable root, and stops it at the end of the test.
func startVsftpd(t testing.TB, o vsftpdOptions) *vsftpd {
	t.Helper()
	bin := testpeer.Require(t, "vsftpd", "vsftpd")
	setpriv := testpeer.Require(t, "setpriv", "util-linux")
	if os.Geteuid() != 0 {
		t.Skip("vsftpd tests run it as nobody and need root to switch user")
	}
	dir, err := os.MkdirTemp("", "ftpchan-vsftpd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	v := &vsftpd{root: filepath.Join(dir, "root"), log: filepath.Join(dir, "vsftpd.log")}
	empty := filepath.Join(dir, "empty")
	for _, d := range []string{v.root, empty} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(dir, 0o755)
	os.Chmod(empty, 0o555)
	if err := os.Chown(v.root, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	pasvMin := 20000 + port%20000
	v.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cfg := []string{
		"listen=YES", "listen_ipv6=NO", "listen_address=127.0.0.1", "listen_port=" + strconv.Itoa(port),
		"background=NO", "run_as_launching_user=YES", "seccomp_sandbox=NO", "isolate=NO", "isolate_network=NO",
		"anonymous_enable=YES", "local_enable=NO", "no_anon_password=YES", "anon_root=" + v.root,
		"anon_upload_enable=YES", "anon_mkdir_write_enable=YES", "anon_other_write_enable=YES",
		"anon_umask=022", "anon_world_readable_only=NO", "write_enable=YES",
		"pasv_enable=YES", "port_enable=YES", "connect_from_port_20=NO",
		fmt.Sprintf("pasv_min_port=%d", pasvMin), fmt.Sprintf("pasv_max_port=%d", pasvMin+200),
		"secure_chroot_dir=" + empty, "xferlog_enable=NO", "dual_log_enable=NO", "syslog_enable=NO",
		"max_clients=200", "max_per_ip=200", "idle_session_timeout=120", "data_connection_timeout=60",
	}
	if o.pasvAddress != "" {
		cfg = append(cfg, "pasv_address="+o.pasvAddress, "pasv_addr_resolve=NO")
	}
	if o.tls {
		c, err := pki.SelfSigned(pki.CertSpec{CommonName: "ftp.test", DNSNames: []string{"ftp.test"}, Usage: pki.UsageServer})
		if err != nil {
			t.Fatal(err)
		}
		v.cert = c
		keyPEM, err := pki.MarshalKeyPEM(c.Key)
		if err != nil {
			t.Fatal(err)
		}
		certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
		os.WriteFile(certFile, pki.EncodeCertPEM(c.Cert), 0o644)
		os.WriteFile(keyFile, keyPEM, 0o600)
		os.Chown(keyFile, 65534, 65534)
		cfg = append(cfg, "ssl_enable=YES", "rsa_cert_file="+certFile, "rsa_private_key_file="+keyFile,
			"allow_anon_ssl=YES", "force_anon_logins_ssl=YES", "force_anon_data_ssl=YES",
			"require_ssl_reuse=YES", "ssl_ciphers=HIGH", "ssl_tlsv1=YES", "ssl_sslv2=NO", "ssl_sslv3=NO")
	}
	cfgFile := filepath.Join(dir, "vsftpd.conf")
	if err := os.WriteFile(cfgFile, []byte(strings.Join(cfg, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(cfgFile, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(v.log)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups", bin, cfgFile)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = logf, logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start vsftpd: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", v.addr, time.Second)
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
			out, _ := os.ReadFile(v.log)
			t.Fatalf("vsftpd did not start on %s: %s", v.addr, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

package ftpchan

import (
	"testing"

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

// startVsftpd runs a real vsftpd (testpeer.StartVsftpd) on a loopback
// port, with an anonymous, writable root.
func startVsftpd(t testing.TB, o vsftpdOptions) *vsftpd {
	t.Helper()
	opts := testpeer.VsftpdOptions{PasvAddress: o.pasvAddress}
	if o.tls {
		opts.TLSName = "ftp.test"
	}
	s := testpeer.StartVsftpd(t, opts)
	return &vsftpd{addr: s.Addr, root: s.Root, log: s.Log, cert: s.Cert}
}

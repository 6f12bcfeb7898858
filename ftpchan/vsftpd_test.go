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
	v := &vsftpd{}
	if o.tls {
		c, err := pki.SelfSigned(pki.CertSpec{CommonName: "ftp.test", DNSNames: []string{"ftp.test"}, Usage: pki.UsageServer})
		if err != nil {
			t.Fatal(err)
		}
		keyPEM, err := pki.MarshalKeyPEM(c.Key)
		if err != nil {
			t.Fatal(err)
		}
		v.cert, opts.CertPEM, opts.KeyPEM = c, pki.EncodeCertPEM(c.Cert), keyPEM
	}
	s := testpeer.StartVsftpd(t, opts)
	v.addr, v.root, v.log = s.Addr, s.Root, s.Log
	return v
}

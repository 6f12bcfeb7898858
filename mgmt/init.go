package mgmt

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/termgate/termgate/pki"
)

// InitOptions configures Init. The zero value is a local, loopback setup.
type InitOptions struct {
	// NodeID names the node; "" means the host name (or "mgmt-1").
	NodeID string
	// TLSNames are the DNS names and IP addresses of the HTTPS certificate;
	// empty means localhost, 127.0.0.1 and ::1.
	TLSNames []string
	// CA issues the HTTPS and signing certificates; nil creates a local CA
	// (DataDir/ca.pem, DataDir/ca.key). A CA without a key is written as
	// ca.pem only, and the certificates are then self-signed.
	CA *pki.CA
	// AdminPassword is the password of user admin; "" generates one.
	AdminPassword string
	// Password is the argon2id cost (zero: the defaults of PasswordParams).
	Password PasswordParams
}

// InitResult describes a data directory.
type InitResult struct {
	DataDir string
	NodeID  string
	// Created is true if Init created the directory, false if it reused it.
	Created bool
	// CAFile is the PEM that clients trust for the management server's HTTPS
	// certificate (DataDir/ca.pem, the local CA).
	CAFile string
	CA     *x509.Certificate
	// AdminPasswordFile is DataDir/admin-password (mode 0600).
	AdminPasswordFile string
	// AdminPassword is the password of user admin: the generated one, or on
	// reuse the content of AdminPasswordFile ("" if it was removed).
	AdminPassword string
}

// Init creates a management data directory, or reuses it unchanged when it
// already holds a store. A new directory gets a local CA, the HTTPS
// certificate, this node's token-signing certificate (CommonName = node id),
// the store with default security settings, and user admin (role admin)
// whose password is written to DataDir/admin-password (0600). The store is
// created under a temporary name and renamed last, so an interrupted Init
// leaves no half-made store.
func Init(dir string, opts InitOptions) (*InitResult, error) {
	if dir == "" {
		return nil, invalidf("data directory is required")
	}
	res := &InitResult{DataDir: dir, CAFile: filepath.Join(dir, CACertFile), AdminPasswordFile: filepath.Join(dir, AdminPasswordFile)}
	storePath := filepath.Join(dir, StoreFile)
	if _, err := os.Stat(storePath); err == nil {
		st, err := openStore(storePath, storeOptions{ReadOnly: true})
		if err != nil {
			return nil, err
		}
		st.view(func(tx *bolt.Tx) error { res.NodeID = nodeIDOf(tx); return nil })
		st.close()
		if opts.NodeID != "" && opts.NodeID != res.NodeID {
			return nil, invalidf("data directory %s belongs to node %q, not %q", dir, res.NodeID, opts.NodeID)
		}
		if b, err := os.ReadFile(res.AdminPasswordFile); err == nil {
			res.AdminPassword = strings.TrimSpace(string(b))
		}
		if certs, err := pki.LoadCertFile(res.CAFile); err == nil {
			res.CA = certs[0]
		}
		return res, nil
	}
	nodeID := opts.NodeID
	if nodeID == "" {
		nodeID = defaultNodeID()
	}
	if err := validName("node", nodeID); err != nil {
		return nil, err
	}
	res.NodeID, res.Created = nodeID, true
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	ca := opts.CA
	if ca == nil {
		var err error
		if ca, err = pki.NewCA(pki.CertSpec{CommonName: "termgate local CA (" + nodeID + ")"}); err != nil {
			return nil, err
		}
	}
	if err := pki.WriteFileAtomic(res.CAFile, pki.EncodeCertPEM(ca.Cert.Cert), 0o644); err != nil {
		return nil, err
	}
	if ca.Key != nil {
		if err := pki.SaveKeyFile(filepath.Join(dir, CAKeyFile), ca.Key); err != nil {
			return nil, err
		}
	}
	res.CA = ca.Cert.Cert
	if err := initTLS(dir, nodeID, ca, opts.TLSNames); err != nil {
		return nil, err
	}
	pw := opts.AdminPassword
	if pw == "" {
		pw = generatePassword()
	}
	if err := writeInitStore(dir, storePath, nodeID, ca, pw, opts.Password); err != nil {
		return nil, err
	}
	if err := pki.WriteFileAtomic(res.AdminPasswordFile, []byte(pw+"\n"), 0o600); err != nil {
		return nil, err
	}
	res.AdminPassword = pw
	return res, nil
}

func initTLS(dir, nodeID string, ca *pki.CA, names []string) error {
	certFile, keyFile := filepath.Join(dir, TLSCertFile), filepath.Join(dir, TLSKeyFile)
	if _, err := os.Stat(certFile); err == nil {
		return nil // provided by the operator
	}
	if len(names) == 0 {
		names = []string{"localhost", "127.0.0.1", "::1"}
	}
	spec := pki.CertSpec{CommonName: nodeID, Usage: pki.UsageServer}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			spec.IPs = append(spec.IPs, ip)
		} else {
			spec.DNSNames = append(spec.DNSNames, strings.ToLower(n))
		}
	}
	var (
		c   *pki.Cert
		err error
	)
	if ca.Key != nil {
		c, err = ca.Issue(spec)
	} else {
		c, err = pki.SelfSigned(spec)
	}
	if err != nil {
		return fmt.Errorf("create HTTPS certificate: %w", err)
	}
	return c.Save(certFile, keyFile)
}

func writeInitStore(dir, storePath, nodeID string, ca *pki.CA, password string, pp PasswordParams) error {
	tmp := storePath + ".init"
	os.Remove(tmp)
	st, err := openStore(tmp, storeOptions{Create: true})
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	k, err := newSigningCert(dir, nodeID, ca, "")
	if err != nil {
		st.close()
		return err
	}
	hash, err := newHasher(pp, 1).hash(context.Background(), password)
	if err != nil {
		st.close()
		return err
	}
	now := time.Now()
	err = st.update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bMeta).Put(keyNodeID, []byte(nodeID)); err != nil {
			return err
		}
		if err := putJSON(tx, bSigners, []byte(k.kid), signingRecord(k, nodeID, KeyCurrent, now)); err != nil {
			return err
		}
		u := userRecord{User: User{Name: "admin", Role: RoleAdmin, Sessions: []string{}, Destinations: []string{}, UpdatedAt: now}, PasswordHash: hash, PasswordChangedAt: now.Unix()}
		return putJSON(tx, bUsers, []byte("admin"), u)
	})
	if cerr := st.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, storePath); err != nil {
		return fmt.Errorf("create store: %w", err)
	}
	return nil
}

func defaultNodeID() string {
	h, err := os.Hostname()
	if err == nil {
		h = strings.ToLower(strings.SplitN(h, ".", 2)[0])
		if validName("node", h) == nil {
			return h
		}
	}
	return "mgmt-1"
}

// generatePassword returns 20 random characters from an unambiguous alphabet
// (about 113 bits).
func generatePassword() string {
	const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 20)
	for i := range b {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			panic(err)
		}
		b[i] = alphabet[n.Int64()]
	}
	return string(b)
}

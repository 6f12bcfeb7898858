package cli

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/termgate/termgate/pki"
)

func init() { register(newPKICmd) }

func newPKICmd(g *Globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pki",
		Short: "Create a local CA, issue and inspect certificates, edit trust stores",
		Long: `pki manages termgate's certificates without any other tool:

  termgate pki init   --dir ca                       create a local CA (ca/ca.pem, ca/ca-key.pem)
  termgate pki issue  --ca-dir ca --cn proxy --dns proxy.example.com --out proxy
  termgate pki show   proxy.pem                      subject, names, validity, usages, KID, fingerprint
  termgate pki export --cert proxy.pem --key proxy-key.pem --format p12 --out proxy.p12 --password-env P12_PASSWORD
  termgate pki trust add    --store trust.pem ca/ca.pem
  termgate pki trust list   --store trust.pem
  termgate pki trust remove --store trust.pem NAME|KID|FINGERPRINT

Private keys are written with mode 0600. Passwords are read from the
environment variable that --password-env names, never from the command line.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q for %q", args[0], cmd.CommandPath())
			}
			return cmd.Help()
		},
	}
	cmd.AddCommand(newPKIInitCmd(g), newPKIIssueCmd(g), newPKIShowCmd(g), newPKIExportCmd(g), newPKITrustCmd(g))
	return cmd
}

func newPKIInitCmd(g *Globals) *cobra.Command {
	var (
		dir, keyType, cn string
		days             int
		force            bool
	)
	cmd := &cobra.Command{
		Use:   "init --dir DIR",
		Short: "Create a local certificate authority in DIR (ca.pem, ca-key.pem)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return usagef("--dir is required")
			}
			kt, err := pki.ParseKeyType(keyType)
			if err != nil {
				return &UsageError{Err: err}
			}
			if days <= 0 {
				return usagef("--days must be positive, not %d", days)
			}
			ca, err := pki.InitCADir(dir, pki.CertSpec{CommonName: cn, KeyType: kt, Validity: time.Duration(days) * 24 * time.Hour}, force)
			if errors.Is(err, pki.ErrCAExists) {
				return fmt.Errorf("%w; use --force to replace it (certificates it issued will no longer verify)", err)
			}
			if err != nil {
				return err
			}
			certFile, keyFile := pki.CADirPaths(dir)
			fmt.Fprintf(g.Stdout, "created CA %q (%s), valid until %s\n", ca.Cert.Cert.Subject.CommonName, kt,
				ca.Cert.Cert.NotAfter.UTC().Format(time.DateOnly))
			fmt.Fprintf(g.Stdout, "  certificate: %s\n  private key: %s (mode 0600)\n  sha256:      %s\n", certFile, keyFile, pki.Fingerprint(ca.Cert.Cert))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "dir", "", "directory for ca.pem and ca-key.pem (created with mode 0700)")
	f.StringVar(&keyType, "key-type", string(pki.KeyECDSAP256), "key type: ecdsa-p256, ed25519 or rsa-3072")
	f.StringVar(&cn, "cn", "termgate local CA", "common name of the CA")
	f.IntVar(&days, "days", 3650, "validity in days")
	f.BoolVar(&force, "force", false, "replace an existing CA")
	return cmd
}

func parseUsage(s string) (pki.Usage, error) {
	switch strings.ToLower(s) {
	case "server", "":
		return pki.UsageServer, nil
	case "client":
		return pki.UsageClient, nil
	case "token-signing", "token":
		return pki.UsageTokenSigning, nil
	}
	return 0, fmt.Errorf("unknown --usage %q (use server, client or token-signing)", s)
}

func newPKIIssueCmd(g *Globals) *cobra.Command {
	var (
		caDir, cn, usage, keyType, out string
		dns, ips                       []string
		days                           int
		force                          bool
	)
	cmd := &cobra.Command{
		Use:   "issue --ca-dir DIR --cn NAME --out PREFIX",
		Short: "Issue a certificate signed by the local CA (PREFIX.pem, PREFIX-key.pem)",
		Long: `issue creates a key and a certificate signed by the CA in --ca-dir and writes
PREFIX.pem and PREFIX-key.pem (mode 0600). Usages:
  server         TLS server and client (proxy and management nodes; node-to-node links)
  client         TLS client only
  token-signing  a management node's token-signing certificate (termgate's own
                 extended key usage; never valid for TLS)
A server certificate without --dns or --ip names its common name.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if caDir == "" || cn == "" || out == "" {
				return usagef("--ca-dir, --cn and --out are required")
			}
			u, err := parseUsage(usage)
			if err != nil {
				return &UsageError{Err: err}
			}
			kt, err := pki.ParseKeyType(keyType)
			if err != nil {
				return &UsageError{Err: err}
			}
			if days <= 0 {
				return usagef("--days must be positive, not %d", days)
			}
			spec := pki.CertSpec{CommonName: cn, DNSNames: dns, Usage: u, KeyType: kt, Validity: time.Duration(days) * 24 * time.Hour}
			for _, s := range ips {
				ip := net.ParseIP(strings.TrimSpace(s))
				if ip == nil {
					return usagef("--ip %q is not an IP address", s)
				}
				spec.IPs = append(spec.IPs, ip)
			}
			certFile, keyFile := out+".pem", out+"-key.pem"
			if !force {
				for _, p := range []string{certFile, keyFile} {
					if _, err := os.Lstat(p); err == nil {
						return fmt.Errorf("%s already exists; use --force to replace it", p)
					}
				}
			}
			ca, err := pki.LoadCADir(caDir)
			if err != nil {
				return fmt.Errorf("load CA: %w", err)
			}
			c, err := ca.Issue(spec)
			if err != nil {
				return err
			}
			if err := c.Save(certFile, keyFile); err != nil {
				return err
			}
			fmt.Fprintf(g.Stdout, "issued %q for %s, valid until %s\n", cn, strings.Join(pki.UsageNames(c.Cert), ", "),
				c.Cert.NotAfter.UTC().Format(time.DateOnly))
			if names := pki.CertNames(c.Cert); len(names) > 0 {
				fmt.Fprintf(g.Stdout, "  names:       %s\n", strings.Join(names, ", "))
			}
			fmt.Fprintf(g.Stdout, "  certificate: %s\n  private key: %s (mode 0600)\n  kid:         %s\n  sha256:      %s\n",
				certFile, keyFile, pki.KID(c.Cert), pki.Fingerprint(c.Cert))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&caDir, "ca-dir", "", "directory of the CA made by 'pki init'")
	f.StringVar(&cn, "cn", "", "common name")
	f.StringSliceVar(&dns, "dns", nil, "DNS subject alternative name (repeatable)")
	f.StringSliceVar(&ips, "ip", nil, "IP subject alternative name (repeatable)")
	f.StringVar(&usage, "usage", "server", "server, client or token-signing")
	f.IntVar(&days, "days", 825, "validity in days (never beyond the CA's)")
	f.StringVar(&keyType, "key-type", string(pki.KeyECDSAP256), "key type: ecdsa-p256, ed25519 or rsa-3072")
	f.StringVar(&out, "out", "", "output prefix: writes PREFIX.pem and PREFIX-key.pem")
	f.BoolVar(&force, "force", false, "replace existing output files")
	return cmd
}

// passwordFromEnv reads the password from the environment variable named by
// a --password-env flag. An empty name means no password.
func passwordFromEnv(name string) (string, error) {
	if name == "" {
		return "", nil
	}
	v, ok := os.LookupEnv(name)
	if !ok {
		return "", usagef("--password-env names %s, which is not set", name)
	}
	return v, nil
}

// readCerts reads PEM, DER or PKCS#12 certificates from path.
func readCerts(path, password string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	certs, err := pki.ParseCertsAny(data)
	if err == nil {
		return certs, nil
	}
	if bytes.Contains(data, []byte("-----BEGIN ")) {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	certs, p12err := pki.DecodePKCS12Certs(data, password)
	if p12err == nil {
		return certs, nil
	}
	if errors.Is(p12err, pki.ErrPKCS12Password) {
		return nil, fmt.Errorf("%s: %w (give the password with --password-env VAR)", path, p12err)
	}
	return nil, fmt.Errorf("%s: not a PEM, DER or PKCS#12 certificate file", path)
}

func validityText(c *x509.Certificate, now time.Time) string {
	span := fmt.Sprintf("%s to %s", c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339))
	switch {
	case now.Before(c.NotBefore):
		return span + " (not valid yet)"
	case now.After(c.NotAfter):
		return fmt.Sprintf("%s (EXPIRED %d days ago)", span, int(now.Sub(c.NotAfter).Hours()/24))
	}
	return fmt.Sprintf("%s (%d days left)", span, int(c.NotAfter.Sub(now).Hours()/24))
}

func newPKIShowCmd(g *Globals) *cobra.Command {
	var passwordEnv string
	cmd := &cobra.Command{
		Use:   "show FILE...",
		Short: "Describe the certificates of PEM, DER or PKCS#12 files",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			password, err := passwordFromEnv(passwordEnv)
			if err != nil {
				return err
			}
			now := time.Now()
			for _, path := range args {
				certs, err := readCerts(path, password)
				if err != nil {
					return err
				}
				for i, c := range certs {
					fmt.Fprintf(g.Stdout, "%s [%d/%d]\n", path, i+1, len(certs))
					names := strings.Join(pki.CertNames(c), ", ")
					if names == "" {
						names = "(none)"
					}
					tw := tabwriter.NewWriter(g.Stdout, 0, 0, 1, ' ', 0)
					fmt.Fprintf(tw, "  subject:\t%s\n", c.Subject)
					fmt.Fprintf(tw, "  issuer:\t%s\n", c.Issuer)
					fmt.Fprintf(tw, "  names:\t%s\n", names)
					fmt.Fprintf(tw, "  valid:\t%s\n", validityText(c, now))
					fmt.Fprintf(tw, "  usages:\t%s\n", strings.Join(pki.UsageNames(c), ", "))
					fmt.Fprintf(tw, "  key:\t%s\n", c.PublicKeyAlgorithm)
					fmt.Fprintf(tw, "  kid:\t%s\n", pki.KID(c))
					fmt.Fprintf(tw, "  sha256:\t%s\n", pki.Fingerprint(c))
					tw.Flush()
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&passwordEnv, "password-env", "", "environment variable holding the PKCS#12 password")
	return cmd
}

func newPKIExportCmd(g *Globals) *cobra.Command {
	var certFile, keyFile, format, out, passwordEnv string
	var force bool
	cmd := &cobra.Command{
		Use:   "export --cert C --key K --format pem|der|p12 --out FILE",
		Short: "Convert a certificate (and key) to PEM, DER or PKCS#12",
		Long: `export writes the certificate of --cert (with the chain that follows it in
that file) and the key of --key in one file:
  pem  the certificates, then the key if --key is given (mode 0600 with a key)
  der  the first certificate alone (no key: DER holds one object)
  p12  key, certificate and chain, encrypted with the password held by the
       environment variable that --password-env names (AES-256, PBKDF2-SHA-256)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if certFile == "" || out == "" {
				return usagef("--cert and --out are required")
			}
			format = strings.ToLower(format)
			switch format {
			case "pem":
			case "der":
				if keyFile != "" {
					return usagef("--format der holds one certificate and no key; export the key with --format pem or p12")
				}
			case "p12", "pkcs12", "pfx":
				format = "p12"
				if keyFile == "" || passwordEnv == "" {
					return usagef("--format p12 needs --key and --password-env")
				}
			default:
				return usagef("unknown --format %q (use pem, der or p12)", format)
			}
			password, err := passwordFromEnv(passwordEnv)
			if err != nil {
				return err
			}
			if format == "p12" && password == "" {
				return usagef("the variable %s that --password-env names is empty; a PKCS#12 file needs a password", passwordEnv)
			}
			if !force {
				if _, err := os.Lstat(out); err == nil {
					return fmt.Errorf("%s already exists; use --force to replace it", out)
				}
			}
			certs, err := pki.LoadCertFile(certFile)
			if err != nil {
				return err
			}
			var c *pki.Cert
			if keyFile != "" {
				if c, err = pki.LoadPair(certFile, keyFile); err != nil {
					return err
				}
			}
			var data []byte
			mode := fs.FileMode(0o644)
			what := fmt.Sprintf("%d certificate(s)", len(certs))
			switch format {
			case "pem":
				data = pki.EncodeCertPEM(certs...)
				if c != nil {
					kp, err := pki.MarshalKeyPEM(c.Key)
					if err != nil {
						return err
					}
					data = append(data, kp...)
					mode, what = 0o600, what+" and the private key"
				}
			case "der":
				data, what = certs[0].Raw, "1 certificate"
			case "p12":
				if data, err = pki.EncodePKCS12(c, certs[1:], password); err != nil {
					return err
				}
				mode, what = 0o600, what+" and the private key"
			}
			if err := pki.WriteFileAtomic(out, data, mode); err != nil {
				return err
			}
			fmt.Fprintf(g.Stdout, "wrote %s (%s: %s, mode %04o)\n  sha256: %s\n", out, format, what, mode, pki.Fingerprint(certs[0]))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&certFile, "cert", "", "certificate file (PEM or DER; a chain follows the leaf)")
	f.StringVar(&keyFile, "key", "", "private key file (PEM)")
	f.StringVar(&format, "format", "pem", "output format: pem, der or p12")
	f.StringVar(&out, "out", "", "output file")
	f.StringVar(&passwordEnv, "password-env", "", "environment variable holding the PKCS#12 password")
	f.BoolVar(&force, "force", false, "replace an existing output file")
	return cmd
}

func newPKITrustCmd(g *Globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "trust",
		Short: "Edit a PEM trust store (add, list, remove)",
		Long: `A trust store is a PEM bundle with a "# name" line before each certificate.
Clients trust the proxy certificates (or their CA) of one store; proxies
verify tokens against the management signing certificates of another.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q for %q", args[0], cmd.CommandPath())
			}
			return cmd.Help()
		},
	}
	cmd.AddCommand(newTrustAddCmd(g), newTrustListCmd(g), newTrustRemoveCmd(g))
	return cmd
}

func newTrustAddCmd(g *Globals) *cobra.Command {
	var store, name, passwordEnv string
	cmd := &cobra.Command{
		Use:   "add --store FILE [--name N] CERTFILE...",
		Short: "Add the certificates of PEM, DER or PKCS#12 files to a trust store (created if missing)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if store == "" {
				return usagef("--store is required")
			}
			password, err := passwordFromEnv(passwordEnv)
			if err != nil {
				return err
			}
			var certs []*x509.Certificate
			for _, p := range args {
				cs, err := readCerts(p, password)
				if err != nil {
					return err
				}
				certs = append(certs, cs...)
			}
			s, err := pki.OpenTrustStore(store)
			if err != nil {
				return err
			}
			added := 0
			for i, c := range certs {
				n := name
				if n != "" && i > 0 {
					n = fmt.Sprintf("%s (%d)", name, i+1)
				}
				if s.Add(n, c) {
					added++
					n = s.Entries()[s.Len()-1].Name
					fmt.Fprintf(g.Stdout, "added    %s  %s\n", n, pki.Fingerprint(c))
				} else {
					fmt.Fprintf(g.Stdout, "present  %s  %s\n", trustName(s, c), pki.Fingerprint(c))
				}
			}
			if added > 0 {
				if err := s.Save(); err != nil {
					return err
				}
			}
			fmt.Fprintf(g.Stdout, "%s: %d added, %d certificate(s) in total\n", store, added, s.Len())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&store, "store", "", "trust store file (PEM bundle)")
	f.StringVar(&name, "name", "", `friendly name (default: the common name; "N (2)"... for further certificates)`)
	f.StringVar(&passwordEnv, "password-env", "", "environment variable holding the password of PKCS#12 files")
	return cmd
}

func trustName(s *pki.TrustStore, c *x509.Certificate) string {
	for _, e := range s.Entries() {
		if e.Cert.Equal(c) {
			return e.Name
		}
	}
	return c.Subject.CommonName
}

func newTrustListCmd(g *Globals) *cobra.Command {
	var store string
	cmd := &cobra.Command{
		Use:   "list --store FILE",
		Short: "List a trust store: name, SHA-256 fingerprint, KID, expiry",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if store == "" {
				return usagef("--store is required")
			}
			s, err := pki.LoadTrustStore(store)
			if err != nil {
				return err
			}
			if s.Len() == 0 {
				fmt.Fprintf(g.Stdout, "%s: empty trust store\n", store)
				return nil
			}
			now := time.Now()
			tw := tabwriter.NewWriter(g.Stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSHA256 FINGERPRINT\tKID\tEXPIRES")
			for _, e := range s.Entries() {
				exp := e.Cert.NotAfter.UTC().Format(time.DateOnly)
				if now.After(e.Cert.NotAfter) {
					exp += " (EXPIRED)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Name, pki.Fingerprint(e.Cert), pki.KID(e.Cert), exp)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&store, "store", "", "trust store file (PEM bundle)")
	return cmd
}

func newTrustRemoveCmd(g *Globals) *cobra.Command {
	var store string
	cmd := &cobra.Command{
		Use:   "remove --store FILE REF...",
		Short: "Remove certificates by name, KID or SHA-256 fingerprint (with or without colons)",
		Long: `remove deletes every certificate that a REF names: its friendly name, its KID,
or its SHA-256 fingerprint in hex (colons and case do not matter). If any REF
matches nothing, the store is left unchanged.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if store == "" {
				return usagef("--store is required")
			}
			s, err := pki.LoadTrustStore(store)
			if err != nil {
				return err
			}
			before := s.Entries()
			var missing []string
			for _, ref := range args {
				if s.Remove(ref) == 0 {
					missing = append(missing, ref)
				}
			}
			if len(missing) > 0 {
				return fmt.Errorf("%s: nothing matches %s (a name, KID or SHA-256 fingerprint from 'termgate pki trust list'); the store is unchanged",
					store, strings.Join(quoteAll(missing), ", "))
			}
			if err := s.Save(); err != nil {
				return err
			}
			for _, e := range before {
				if _, ok := s.ByKID(pki.KID(e.Cert)); !ok {
					fmt.Fprintf(g.Stdout, "removed  %s  %s\n", e.Name, pki.Fingerprint(e.Cert))
				}
			}
			fmt.Fprintf(g.Stdout, "%s: %d certificate(s) left\n", store, s.Len())
			return nil
		},
	}
	cmd.Flags().StringVar(&store, "store", "", "trust store file (PEM bundle)")
	return cmd
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

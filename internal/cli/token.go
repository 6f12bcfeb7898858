package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/termgate/termgate/pki"
	"github.com/termgate/termgate/token"
)

func init() { register(newTokenCmd) }

func newTokenCmd(g *Globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Issue and verify authorization tokens offline",
		Long: `token issues an authorization token with a management signing certificate,
or verifies one against a trust store of management signing certificates, as
a proxy would (signature, header, time claims, audience and destination; no
replay check).

  termgate token issue  --key mgmt-key.pem --cert mgmt.pem --dst db2.example.com:23 --proto telnet --ttl 2m
  termgate token verify --trust mgmt-signers.pem --dst db2.example.com:23 TOKEN

verify prints the claims as JSON and exits 0, or prints "CODE: reason" (a
Termgate-Error code) on stderr and exits 1.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q for %q", args[0], cmd.CommandPath())
			}
			return cmd.Help()
		},
	}
	cmd.AddCommand(newTokenIssueCmd(g), newTokenVerifyCmd(g))
	return cmd
}

func newTokenIssueCmd(g *Globals) *cobra.Command {
	var (
		keyFile, certFile, dst, proto, sub, aud, nodeID, popFile, session string
		ttl                                                               time.Duration
		hostTLS                                                           bool
	)
	cmd := &cobra.Command{
		Use:   "issue --key FILE --cert FILE --dst HOST:PORT --proto PROTO",
		Short: "Sign a token with a management signing certificate and print it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, req := range [][2]string{{"key", keyFile}, {"cert", certFile}, {"dst", dst}, {"proto", proto}} {
				if req[1] == "" {
					return usagef("--%s is required", req[0])
				}
			}
			if ttl < time.Second || ttl > token.MaxTTL {
				return usagef("--ttl %v: must be between 1s and %v", ttl, token.MaxTTL)
			}
			if !token.ValidProto(proto) {
				return usagef("--proto %q: must be telnet, ssh, tn3270, ftp or tcp", proto)
			}
			if _, err := token.NormalizeHostPort(dst); err != nil {
				return usagef("--dst %q: %v", dst, err)
			}
			pair, err := pki.LoadPair(certFile, keyFile)
			if err != nil {
				return err
			}
			iss, err := token.NewIssuer(token.IssuerConfig{NodeID: nodeID, Cert: pair.Cert, Key: pair.Key, Audience: aud})
			if err != nil {
				return err
			}
			req := token.Request{Subject: sub, Dst: dst, Proto: proto, Session: session, TTL: ttl, HostTLS: hostTLS}
			if popFile != "" {
				b, err := os.ReadFile(popFile)
				if err != nil {
					return fmt.Errorf("read --pop-jwk: %w", err)
				}
				if req.PoPKey, err = token.ParseJWK(b); err != nil {
					return fmt.Errorf("--pop-jwk %s: %w", popFile, err)
				}
			}
			tok, _, err := iss.Issue(req)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(g.Stdout, tok)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&keyFile, "key", "", "PEM private key of the signing certificate (ECDSA P-256 or Ed25519)")
	f.StringVar(&certFile, "cert", "", "PEM signing certificate (must carry the termgate token-signing usage)")
	f.StringVar(&dst, "dst", "", "destination host:port the token grants")
	f.StringVar(&proto, "proto", "", "protocol: telnet, ssh, tn3270, ftp or tcp")
	f.DurationVar(&ttl, "ttl", token.DefaultTTL, "lifetime of the token (at most 1h)")
	f.StringVar(&sub, "sub", "", "subject: the user or API client the token is for")
	f.StringVar(&aud, "aud", token.DefaultAudience, "audience: the proxy cluster's name")
	f.StringVar(&nodeID, "node-id", "", "issuer node id (default: the certificate's common name, which it must equal)")
	f.StringVar(&session, "session", "", "session definition name (ses claim)")
	f.BoolVar(&hostTLS, "host-tls", false, "the proxy speaks TLS to the destination (htls claim)")
	f.StringVar(&popFile, "pop-jwk", "", "JSON file with the client's public JWK: bind the token to it (cnf.jkt)")
	return cmd
}

func newTokenVerifyCmd(g *Globals) *cobra.Command {
	var trustFile, dst, aud string
	cmd := &cobra.Command{
		Use:   "verify --trust FILE --dst HOST:PORT [TOKEN|-]",
		Short: "Verify a token as a proxy would (without replay check) and print its claims",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if trustFile == "" || dst == "" {
				return usagef("--trust and --dst are required")
			}
			if _, err := token.NormalizeHostPort(dst); err != nil {
				return usagef("--dst %q: %v", dst, err)
			}
			store, err := pki.LoadTrustStore(trustFile)
			if err != nil {
				return err
			}
			tok := ""
			if len(args) == 1 && args[0] != "-" {
				tok = args[0]
			} else {
				if tok, err = readToken(g.Stdin); err != nil {
					return err
				}
			}
			v := token.NewVerifier(token.VerifierConfig{Trust: store, Audience: aud})
			claims, err := v.Parse(tok)
			if err == nil {
				err = claims.CheckDestination(dst)
			}
			if err != nil {
				fmt.Fprintln(g.Stderr, err) // "CODE: reason"
				return &ExitError{Code: ExitFailure}
			}
			out, err := json.MarshalIndent(claims, "", "  ")
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(g.Stdout, "%s\n", out)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&trustFile, "trust", "", "PEM bundle of trusted management signing certificates")
	f.StringVar(&dst, "dst", "", "the CONNECT target host:port to check the token's dst against")
	f.StringVar(&aud, "aud", token.DefaultAudience, "audience the token must name")
	return cmd
}

// readToken reads one token from r (stdin), trimming surrounding space.
func readToken(r io.Reader) (string, error) {
	if r == nil {
		return "", errors.New("no token given and no standard input")
	}
	b, err := io.ReadAll(io.LimitReader(bufio.NewReader(r), token.MaxSize+2))
	if err != nil {
		return "", fmt.Errorf("read token: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

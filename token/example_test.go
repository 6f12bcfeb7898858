package token_test

import (
	"context"
	"fmt"

	"github.com/termgate/termgate/pki"
	"github.com/termgate/termgate/token"
)

// A management node issues a token for one destination; a proxy verifies
// it against the management signing certificates, once.
func Example() {
	ca, _ := pki.NewCA(pki.CertSpec{})
	signer, _ := ca.Issue(pki.CertSpec{CommonName: "mgmt-1", Usage: pki.UsageTokenSigning})

	issuer, err := token.NewIssuer(token.IssuerConfig{Cert: signer.Cert, Key: signer.Key})
	if err != nil {
		fmt.Println(err)
		return
	}
	tok, _, err := issuer.Issue(token.Request{Subject: "alice", Dst: "DB2.example.com:23", Proto: token.ProtoTelnet})
	if err != nil {
		fmt.Println(err)
		return
	}

	verifier := token.NewVerifier(token.VerifierConfig{
		Trust:  pki.NewTrustStore(signer.Cert),
		Replay: token.NewReplayCache(0),
	})
	ctx := context.Background()
	claims, err := verifier.Verify(ctx, token.Presentation{Token: tok, Dst: "db2.example.com:23"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(claims.Subject, claims.Issuer, claims.Dst, claims.Proto)

	_, err = verifier.Verify(ctx, token.Presentation{Token: tok, Dst: "db2.example.com:23"})
	code := token.CodeOf(err)
	fmt.Println(code, code.HTTPStatus())
	// Output:
	// alice mgmt-1 db2.example.com:23 telnet
	// token_replayed 407
}

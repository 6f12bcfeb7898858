// Package token issues and verifies termgate authorization tokens
// (docs/protocol.md) and their proof of possession (§5).
//
// A management node's [Issuer] signs a short-lived JWS compact JWT naming
// one destination host:port; a proxy's [Verifier] checks it against the
// management signing certificates it trusts and against the CONNECT target.
//
//	iss, _ := token.NewIssuer(token.IssuerConfig{Cert: signer.Cert, Key: signer.Key})
//	tok, _, _ := iss.Issue(token.Request{Subject: "alice", Dst: "db2.example.com:23", Proto: token.ProtoTelnet})
//
//	v := token.NewVerifier(token.VerifierConfig{Trust: mgmtSigners, Replay: token.NewReplayCache(0)})
//	claims, err := v.Verify(ctx, token.Presentation{Token: tok, Dst: connectTarget})
//	if err != nil {
//		code := token.CodeOf(err) // Termgate-Error header; code.HTTPStatus() is the status
//	}
//
// # Token
//
// Header {"alg":"ES256"|"EdDSA","typ":"tg-authz+jwt","kid":pki.KID(cert)};
// claims iss (the node id = the signing certificate's common name), sub,
// aud, iat, nbf, exp, jti (128 random bits), dst (normalised by
// [NormalizeHostPort]), proto, and optionally ses, cnf and htls ([Claims]).
//
// # Security model
//
// Keys come only from the trust store, selected by kid. The kid is the
// SHA-256 of a certificate, so it names one certificate exactly and cannot
// point at a file, URL or key of the attacker's choosing; headers that carry
// or point to keys (jwk, jku, x5c, x5u) are refused, and so is crit. The
// certificate must carry the token-signing extended key usage
// (pki.OIDTokenSigning) and be valid now: a proxy's TLS certificate may sit
// in the same store or chain to the same CA, yet can never mint tokens. iss
// must equal the certificate's common name, so one node cannot speak for
// another.
//
// Only asymmetric algorithms are accepted (RFC 8725 §3.1, §3.2): no none,
// no HMAC, in any spelling. The key handed to the signature check is the
// certificate's own key and only when its type matches alg (ES256 ↔ ECDSA
// P-256, EdDSA ↔ Ed25519), so "HS256 keyed with the public key" cannot
// work. ES256 signatures must be canonical (low s): the Issuer always
// produces them, and the verifier refuses the malleated twin (r, n−s).
//
// Parsing is strict: at most [MaxSize] bytes, checked first; strict
// unpadded base64url; valid UTF-8 JSON objects without duplicate members at
// any depth (names equal under case folding count as duplicates, because
// encoding/json would merge them) and with the exact spelling of every
// member termgate reads; typ exactly [Type]; exp and iat required; the
// lifetime exp−iat and the remaining time exp−now capped; the token is
// accepted only when every check returned no error.
//
// Replay: each jti is single-use. [ReplayCache] remembers the jti values a
// node saw until exp+leeway; the check runs last, so only a token that
// passed everything else (and so whose signature verified) is recorded.
//
// Proof of possession binds a token to one TLS connection: the client signs
// the connection's RFC 5705 exporter value ([Exporter]) with the key whose
// RFC 7638 thumbprint the token carries in cnf.jkt, domain-separated by the
// prefix "termgate-pop-v1\x00". A stolen token is useless on another
// connection, so a bound token stays usable when the cluster-wide replay
// check is unavailable. Exporters of TLS 1.2 without extended master secret
// are refused (RFC 7627).
//
// # Error codes
//
// Every refusal is an [*Error] whose [Code] is a Termgate-Error code:
//
//	token_missing        empty token
//	token_malformed      size, structure, base64, JSON, duplicate members, crit, missing
//	                     exp/iat/iss/jti, lifetime beyond the cap, bad dst/proto/cnf form
//	token_signature      alg not ES256/EdDSA (none, HS256... in any case), alg not
//	                     matching the key, non-canonical or wrong signature
//	token_untrusted_key  no/unknown/ill-formed kid, certificate without the signing
//	                     EKU or outside its validity, jwk/jku/x5c/x5u headers, iss not
//	                     the certificate's node
//	token_expired        exp + leeway has passed (the reason says by how much)
//	token_not_yet_valid  nbf or iat beyond now + leeway (issuer clock ahead by N s)
//	token_audience       aud lacks the expected audience
//	token_type           typ is not tg-authz+jwt
//	destination_mismatch dst differs from the CONNECT target
//	proof_missing        cnf without Termgate-Proof / Termgate-Proof-Key
//	proof_invalid        proof by another key or over another connection
//	token_replayed       jti seen before
//	replay_check_unavailable  the replay check failed (bearer tokens only)
//
// Time checks follow RFC 7519: a token is valid while now < exp + leeway
// and once now ≥ nbf − leeway and now ≥ iat − leeway.
//
// # Standards
//
// RFC 7515 (JWS), RFC 7519 (JWT), RFC 8725 (JWT best current practices),
// RFC 7517 and RFC 8037 (JWK, OKP keys), RFC 7638 (JWK thumbprint), RFC 7800
// (cnf), RFC 5705 and RFC 8446 §7.5 (TLS exporters), RFC 7627 (extended
// master secret).
package token

package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/termgate/termgate/ftpchan"
)

// Forwarded FTP channel on the peer link (after the TLS handshake, on a
// connection of its own):
//
//	→ FORWARD <n>\n  then n bytes: the channel request as JSON
//	← FORWARDING\n | ERROR <reason>\n
//
// After FORWARDING the connection is the client's stream: the owner writes
// the CONNECT answer (200 or a refusal) and both sides relay raw bytes
// until both directions end.

// maxForwardBody bounds the JSON of a forwarded request: every field comes
// from a CONNECT header block, itself at most MaxHeaderBytes.
const maxForwardBody = MaxHeaderBytes + 1024

// forwardRequest is the wire form of an ftpchan.ChannelRequest.
type forwardRequest struct {
	Kind       string `json:"kind"`
	Ticket     string `json:"ticket"`
	Target     string `json:"target"`
	Proof      string `json:"proof,omitempty"`
	ProofKey   string `json:"proof_key,omitempty"`
	Exporter   []byte `json:"exporter,omitempty"`
	ClientAddr string `json:"client,omitempty"`
}

// encodeForward is the FORWARD message for req.
func encodeForward(req ftpchan.ChannelRequest) ([]byte, error) {
	body, err := json.Marshal(forwardRequest{Kind: string(req.Kind), Ticket: req.Ticket, Target: req.Target,
		Proof: req.Proof, ProofKey: req.ProofKey, Exporter: req.Exporter, ClientAddr: req.ClientAddr})
	if err != nil {
		return nil, err
	}
	if len(body) > maxForwardBody {
		return nil, fmt.Errorf("forwarded request of %d bytes exceeds %d", len(body), maxForwardBody)
	}
	return append([]byte("FORWARD "+strconv.Itoa(len(body))+"\n"), body...), nil
}

// parseForwardHeader reads the body length of a FORWARD line (without its newline).
func parseForwardHeader(line string) (int, error) {
	verb, num, ok := strings.Cut(line, " ")
	if !ok || verb != "FORWARD" {
		return 0, errors.New("bad request")
	}
	n, err := strconv.Atoi(num)
	if err != nil || n <= 0 || n > maxForwardBody || strconv.Itoa(n) != num {
		return 0, errors.New("bad length")
	}
	return n, nil
}

// decodeForward parses a FORWARD body into a request marked Forwarded.
func decodeForward(body []byte) (ftpchan.ChannelRequest, error) {
	var fr forwardRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fr); err != nil {
		return ftpchan.ChannelRequest{}, errors.New("bad body")
	}
	if dec.More() {
		return ftpchan.ChannelRequest{}, errors.New("trailing data")
	}
	kind, err := ftpchan.ParseChannelKind(fr.Kind)
	if err != nil {
		return ftpchan.ChannelRequest{}, errors.New("bad channel kind")
	}
	if fr.Ticket == "" || fr.Target == "" || len(fr.Exporter) > 64 {
		return ftpchan.ChannelRequest{}, errors.New("incomplete request")
	}
	return ftpchan.ChannelRequest{Kind: kind, Ticket: fr.Ticket, Target: fr.Target, Proof: fr.Proof,
		ProofKey: fr.ProofKey, Exporter: fr.Exporter, ClientAddr: clip(fr.ClientAddr), Forwarded: true}, nil
}

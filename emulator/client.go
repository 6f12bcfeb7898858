package emulator

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/termgate/termgate/pki"
	"github.com/termgate/termgate/token"
)

// DefaultAPITimeout bounds one management API request when
// ClientOptions.Timeout is zero.
const DefaultAPITimeout = 30 * time.Second

// maxAPIResponse bounds a management API response body.
const maxAPIResponse = 16 << 20

// Secret holds a token or password. It prints as "[REDACTED]" with every fmt
// verb, so that it cannot leak into logs or error messages by accident; use
// Reveal to get the value.
type Secret string

// Reveal returns the secret value.
func (s Secret) Reveal() string { return string(s) }

// String returns "[REDACTED]".
func (s Secret) String() string { return "[REDACTED]" }

// GoString returns "[REDACTED]".
func (s Secret) GoString() string { return "[REDACTED]" }

// Format prints "[REDACTED]" for every verb.
func (s Secret) Format(f fmt.State, _ rune) { io.WriteString(f, "[REDACTED]") }

// MarshalText returns "[REDACTED]", so a Secret is not leaked by encoders
// either.
func (s Secret) MarshalText() ([]byte, error) { return []byte("[REDACTED]"), nil }

// ClientOptions configures a Client. The zero value verifies the management
// server's HTTPS certificate against the system roots.
type ClientOptions struct {
	// CA, if set, is the only trust for the management server's HTTPS
	// certificate (instead of the system roots).
	CA *x509.CertPool
	// CAFile, if set and CA is nil, is a PEM file of trusted certificates
	// read by NewClient (e.g. termgate-data/ca.pem of "termgate up").
	CAFile string
	// HTTPClient, if set, is used as is and CA, CAFile are ignored.
	HTTPClient *http.Client
	// Timeout bounds each API request; zero means DefaultAPITimeout.
	Timeout time.Duration
	// Logger receives request events at debug level; the zero value logs nothing.
	Logger zerolog.Logger
}

// Client talks to the management server's HTTP API (docs/protocol.md). It is safe
// for concurrent use.
type Client struct {
	base    *url.URL
	hc      *http.Client
	timeout time.Duration
	log     zerolog.Logger

	mu    sync.RWMutex
	login Secret
	exp   time.Time
}

// NewClient returns a client for the management server at baseURL (e.g.
// "https://127.0.0.1:8443").
func NewClient(baseURL string, opts ClientOptions) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("management URL %q: %w", baseURL, err)
	}
	if u.Scheme != "https" && u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("management URL %q: want https://host:port", baseURL)
	}
	c := &Client{base: u, hc: opts.HTTPClient, timeout: opts.Timeout, log: opts.Logger}
	if c.timeout <= 0 {
		c.timeout = DefaultAPITimeout
	}
	if c.hc == nil {
		pool := opts.CA
		if pool == nil && opts.CAFile != "" {
			certs, err := pki.LoadCertFile(opts.CAFile)
			if err != nil {
				return nil, fmt.Errorf("management CA file: %w", err)
			}
			pool = x509.NewCertPool()
			for _, ct := range certs {
				pool.AddCert(ct)
			}
		}
		tr := &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool},
			TLSHandshakeTimeout: 10 * time.Second,
			ForceAttemptHTTP2:   true,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     90 * time.Second,
		}
		c.hc = &http.Client{Transport: tr}
	}
	return c, nil
}

// BaseURL returns the management server's URL.
func (c *Client) BaseURL() string { return c.base.String() }

// UseToken makes the client authenticate with a login token (from an
// earlier Login, e.g. saved in a file) or an API key.
func (c *Client) UseToken(loginToken string) {
	c.mu.Lock()
	c.login, c.exp = Secret(strings.TrimSpace(loginToken)), time.Time{}
	c.mu.Unlock()
}

// LoginToken returns the current login token and its expiry (zero if
// unknown), e.g. to save it for a later UseToken.
func (c *Client) LoginToken() (Secret, time.Time) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.login, c.exp
}

// Login exchanges a user name and password for a login token, which the
// client then uses for its other calls.
func (c *Client) Login(ctx context.Context, user, password string) error {
	var out struct {
		Token     string   `json:"token"`
		ExpiresAt flexTime `json:"expires_at"`
	}
	in := map[string]string{"username": user, "password": password}
	if err := c.do(ctx, http.MethodPost, "/api/v1/login", false, in, &out); err != nil {
		return fmt.Errorf("login as %q: %w", user, err)
	}
	if out.Token == "" {
		return fmt.Errorf("login as %q: the management server returned no token", user)
	}
	c.mu.Lock()
	c.login, c.exp = Secret(out.Token), out.ExpiresAt.Time
	c.mu.Unlock()
	return nil
}

// Terminal is a session's terminal model and size.
type Terminal struct {
	Model    string `json:"model"`    // e.g. "xterm", "vt220", "IBM-3278-2"
	Rows     int    `json:"rows"`     // 0: the emulator's default
	Cols     int    `json:"cols"`     // 0: the emulator's default
	Codepage string `json:"codepage"` // 3270 only, e.g. "cp037"
}

// SessionInfo is a session definition as the management server shows it.
type SessionInfo struct {
	Name        string   `json:"name"`
	Protocol    string   `json:"protocol"` // telnet, ssh, tn3270, ftp or tcp
	Host        string   `json:"host"`
	Port        int      `json:"port"`
	Terminal    Terminal `json:"terminal"`
	Description string   `json:"description,omitempty"`
	// HostKey is the SSH host's public key in authorized_keys format, if the
	// definition carries one.
	HostKey string `json:"host_key,omitempty"`
}

// Target returns the session's destination as host:port.
func (s SessionInfo) Target() string {
	h := s.Host
	if strings.Contains(h, ":") && !strings.HasPrefix(h, "[") {
		h = "[" + h + "]"
	}
	return h + ":" + strconv.Itoa(s.Port)
}

// Sessions returns the session definitions this user may launch.
func (c *Client) Sessions(ctx context.Context) ([]SessionInfo, error) {
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodGet, "/api/v1/sessions", true, nil, &raw); err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	var list []SessionInfo
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '[' {
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, fmt.Errorf("list sessions: %w", err)
		}
		return list, nil
	}
	var wrapped struct {
		Sessions []SessionInfo `json:"sessions"`
	}
	if err := json.Unmarshal(raw, &wrapped); err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	return wrapped.Sessions, nil
}

// ProxyInfo says where and how to reach the security proxy.
type ProxyInfo struct {
	Address    string `json:"address"`     // host:port to dial (usually the load balancer)
	ServerName string `json:"server_name"` // the name its certificate must carry; "" means the host of Address
	// VerifyServerIdentity is the administrator's setting; a launch response
	// without the field means true.
	VerifyServerIdentity bool `json:"verify_server_identity"`
}

// Metering is what the client needs to send metering heartbeats.
type Metering struct {
	Address   string        // DTLS host:port of a management node ("" when metering is off)
	Addresses []string      // every node's DTLS address, for failover (may be empty: use Address)
	Interval  time.Duration // between heartbeats
	Ticket    Secret        // signed metering ticket
	// TrustStore is the PEM the nodes' DTLS certificates are verified against.
	TrustStore []byte
}

// Launch is the answer to a session launch: everything needed to dial the
// proxy and open the session.
type Launch struct {
	Session   SessionInfo
	Proxy     ProxyInfo
	Token     Secret
	ExpiresAt time.Time
	// Trust is the store of proxy certificates shipped with the launch: the
	// only trust used for the TLS connection to the proxy.
	Trust    *pki.TrustStore
	Metering Metering
	// ProofKey is the ephemeral key the token is bound to (cnf.jkt); nil for
	// a launch with NoProof.
	ProofKey *token.ProofKey
}

// LaunchOptions configures Launch. The zero value binds the token to a fresh
// key (proof of possession).
type LaunchOptions struct {
	// NoProof asks for a plain bearer token without proof of possession.
	// Such a token can be replayed by whoever steals it within its lifetime
	// (the proxy cluster's replay check is then the only defence).
	NoProof bool
}

type launchResponse struct {
	Session SessionInfo `json:"session"`
	Proxy   struct {
		Address              string `json:"address"`
		ServerName           string `json:"server_name"`
		VerifyServerIdentity *bool  `json:"verify_server_identity"`
	} `json:"proxy"`
	Token      string   `json:"token"`
	ExpiresAt  flexTime `json:"expires_at"`
	TrustStore string   `json:"trust_store"`
	Metering   struct {
		Address    string   `json:"address"`
		Addresses  []string `json:"addresses"`
		IntervalS  float64  `json:"interval_s"`
		Ticket     string   `json:"ticket"`
		TrustStore string   `json:"trust_store"`
	} `json:"metering"`
}

// Launch asks for a token for the session definition name. Unless
// opts.NoProof, it creates an ephemeral proof key and sends its public JWK,
// so the token is only usable on a TLS connection whose exporter value this
// client signs (docs/protocol.md).
func (c *Client) Launch(ctx context.Context, name string, opts LaunchOptions) (*Launch, error) {
	if name == "" {
		return nil, errors.New("launch: empty session name")
	}
	var key *token.ProofKey
	body := map[string]any{}
	if !opts.NoProof {
		k, err := token.NewProofKey()
		if err != nil {
			return nil, fmt.Errorf("launch %q: proof key: %w", name, err)
		}
		key = k
		body["pop_jwk"] = k.JWK()
	}
	var out launchResponse
	if err := c.do(ctx, http.MethodPost, "/api/v1/sessions/"+url.PathEscape(name)+"/launch", true, body, &out); err != nil {
		return nil, fmt.Errorf("launch %q: %w", name, err)
	}
	l, err := out.launch()
	if err != nil {
		return nil, fmt.Errorf("launch %q: %w", name, err)
	}
	if l.Session.Name == "" {
		l.Session.Name = name
	}
	l.ProofKey = key
	return l, nil
}

func (r *launchResponse) launch() (*Launch, error) {
	if r.Token == "" {
		return nil, errors.New("the management server returned no token")
	}
	if r.Proxy.Address == "" {
		return nil, errors.New("the management server returned no proxy address")
	}
	trust, err := pki.ParseTrustStore([]byte(r.TrustStore))
	if err != nil {
		return nil, fmt.Errorf("shipped trust store: %w", err)
	}
	if trust.Len() == 0 {
		return nil, errors.New("the management server shipped an empty proxy trust store: ask the administrator to enroll a proxy")
	}
	verify := true
	if r.Proxy.VerifyServerIdentity != nil {
		verify = *r.Proxy.VerifyServerIdentity
	}
	return &Launch{
		Session: r.Session,
		Proxy: ProxyInfo{
			Address:              r.Proxy.Address,
			ServerName:           r.Proxy.ServerName,
			VerifyServerIdentity: verify,
		},
		Token:     Secret(r.Token),
		ExpiresAt: r.ExpiresAt.Time,
		Trust:     trust,
		Metering: Metering{
			Address:    r.Metering.Address,
			Addresses:  r.Metering.Addresses,
			Interval:   time.Duration(r.Metering.IntervalS * float64(time.Second)),
			Ticket:     Secret(r.Metering.Ticket),
			TrustStore: []byte(r.Metering.TrustStore),
		},
	}, nil
}

// TokenRequest asks for a token for an explicit destination.
type TokenRequest struct {
	Host     string
	Port     int
	Protocol string        // telnet, ssh, tn3270, ftp or tcp
	TTL      time.Duration // 0: the server's default
	// NoProof asks for a bearer token without proof of possession.
	NoProof bool
}

// IssuedToken is a token for an explicit destination.
type IssuedToken struct {
	Token     Secret
	ExpiresAt time.Time
	ProofKey  *token.ProofKey // nil with NoProof
}

// Token asks for a token to req's destination (POST /api/v1/tokens); the
// user or API key needs a grant for it.
func (c *Client) Token(ctx context.Context, req TokenRequest) (*IssuedToken, error) {
	body := map[string]any{"host": req.Host, "port": req.Port, "protocol": req.Protocol}
	if req.TTL > 0 {
		body["ttl_s"] = int64((req.TTL + time.Second - 1) / time.Second)
	}
	var key *token.ProofKey
	if !req.NoProof {
		k, err := token.NewProofKey()
		if err != nil {
			return nil, fmt.Errorf("token: proof key: %w", err)
		}
		key = k
		body["pop_jwk"] = k.JWK()
	}
	var out struct {
		Token     string   `json:"token"`
		ExpiresAt flexTime `json:"expires_at"`
	}
	if err := c.do(ctx, http.MethodPost, "/api/v1/tokens", true, body, &out); err != nil {
		return nil, fmt.Errorf("token for %s:%d: %w", req.Host, req.Port, err)
	}
	if out.Token == "" {
		return nil, errors.New("token: the management server returned no token")
	}
	return &IssuedToken{Token: Secret(out.Token), ExpiresAt: out.ExpiresAt.Time, ProofKey: key}, nil
}

// do sends one JSON request and decodes the JSON answer into out.
func (c *Client) do(ctx context.Context, method, path string, auth bool, in, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth {
		tok, _ := c.LoginToken()
		if tok == "" {
			return ErrNotLoggedIn
		}
		req.Header.Set("Authorization", "Bearer "+tok.Reveal())
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAPIResponse+1))
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if len(b) > maxAPIResponse {
		return fmt.Errorf("%s %s: answer larger than %d bytes", method, path, maxAPIResponse)
	}
	c.log.Debug().Str("method", method).Str("path", path).Int("status", resp.StatusCode).Msg("management API")
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return apiError(resp.StatusCode, b)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: malformed answer: %w", method, path, err)
	}
	return nil
}

func apiError(status int, body []byte) *APIError {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	ae := &APIError{Status: status}
	if json.Unmarshal(body, &e) == nil && (e.Error.Code != "" || e.Error.Message != "") {
		ae.Code, ae.Message = e.Error.Code, e.Error.Message
		return ae
	}
	// Not our JSON (a load balancer's page, say): keep a short, printable excerpt.
	msg := strings.TrimSpace(string(body))
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	ae.Message = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, msg)
	return ae
}

// flexTime decodes an RFC 3339 string or a number of Unix seconds.
type flexTime struct{ time.Time }

func (t *flexTime) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	if b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if s == "" {
			return nil
		}
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return fmt.Errorf("expires_at: %w", err)
		}
		t.Time = v
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("expires_at: %w", err)
	}
	sec := int64(f)
	t.Time = time.Unix(sec, int64((f-float64(sec))*1e9))
	return nil
}

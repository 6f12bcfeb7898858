package mgmt

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/termgate/termgate/pki"
)

// Client talks to a management server's HTTPS API, for administration
// commands (`termgate mgmt ...` against a running server) and tests. It is
// safe for concurrent use once its token is set.
type Client struct {
	// BaseURL is e.g. "https://127.0.0.1:8443".
	BaseURL string
	// HTTP is the client to use; NewClient makes one trusting only the given CA.
	HTTP *http.Client
	// Token is sent as "Authorization: Bearer": a login token or an API key.
	Token string
}

// NewClient returns a client for baseURL that trusts only the certificates
// in caPEM (nil: the system roots).
func NewClient(baseURL string, caPEM []byte) (*Client, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caPEM != nil {
		ts, err := pki.ParseTrustStore(caPEM)
		if err != nil {
			return nil, err
		}
		if ts.Len() == 0 {
			return nil, fmt.Errorf("CA bundle holds no certificate")
		}
		cfg.RootCAs = ts.Pool()
	}
	tr := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: false, MaxIdleConnsPerHost: 16,
		TLSHandshakeTimeout: 10 * time.Second, ResponseHeaderTimeout: 60 * time.Second, IdleConnTimeout: 90 * time.Second}
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), HTTP: &http.Client{Transport: tr, Timeout: 5 * time.Minute}}, nil
}

// Do sends in (JSON, if not nil) and decodes a 2xx answer into out (if not
// nil). A non-2xx answer is an *APIError.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	resp, err := c.send(ctx, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

func (c *Client) send(ctx context.Context, method, path string, in any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, body)
	if err != nil {
		return nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, readAPIError(resp)
	}
	return resp, nil
}

func readAPIError(resp *http.Response) error {
	var eb errorBody
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	ae := &APIError{Status: resp.StatusCode}
	if json.Unmarshal(b, &eb) == nil && eb.Error.Code != "" {
		ae.Code, ae.Message = eb.Error.Code, eb.Error.Message
	} else {
		ae.Code, ae.Message = CodeInternal, strings.TrimSpace(string(b))
	}
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
		ae.RetryAfter = ra
	}
	return ae
}

// Login logs in with a password and keeps the login token in c.Token.
func (c *Client) Login(ctx context.Context, user, password string) (TokenResponse, error) {
	var tr TokenResponse
	err := c.Do(ctx, http.MethodPost, "/api/v1/login", LoginRequest{Username: user, Password: password}, &tr)
	if err == nil {
		c.Token = tr.Token
	}
	return tr, err
}

// CreateEnrollCode asks for a one-time proxy enrollment code.
func (c *Client) CreateEnrollCode(ctx context.Context) (code string, expires time.Time, err error) {
	var out struct {
		Code      string    `json:"code"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	err = c.Do(ctx, http.MethodPost, "/api/v1/admin/enroll-codes", nil, &out)
	return out.Code, out.ExpiresAt, err
}

// Enroll performs the certificate exchange (no login needed: the code is the credential).
func (c *Client) Enroll(ctx context.Context, req pki.EnrollRequest) (*pki.EnrollResponse, error) {
	var out pki.EnrollResponse
	if err := c.Do(ctx, http.MethodPost, "/api/v1/enroll", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// PutUser creates or updates a user.
func (c *Client) PutUser(ctx context.Context, name string, spec UserSpec) (User, error) {
	var u User
	err := c.Do(ctx, http.MethodPut, "/api/v1/admin/users/"+name, spec, &u)
	return u, err
}

// PutSession creates or replaces a session definition.
func (c *Client) PutSession(ctx context.Context, name string, def SessionDef) (SessionDef, error) {
	var d SessionDef
	err := c.Do(ctx, http.MethodPut, "/api/v1/admin/sessions/"+name, def, &d)
	return d, err
}

// RotateKey starts a signing-key rotation.
func (c *Client) RotateKey(ctx context.Context, now bool) (SigningKey, error) {
	var k SigningKey
	err := c.Do(ctx, http.MethodPost, "/api/v1/admin/rotate-key", RotateKeyRequest{Now: now}, &k)
	return k, err
}

// CheckProxies runs the name preflight on the server.
func (c *Client) CheckProxies(ctx context.Context) (ProxyCheckReport, error) {
	var rep ProxyCheckReport
	err := c.Do(ctx, http.MethodGet, "/api/v1/admin/check-proxies", nil, &rep)
	return rep, err
}

// Backup streams a consistent copy of the running server's store to w and
// checks that the whole file arrived.
func (c *Client) Backup(ctx context.Context, w io.Writer) (int64, error) {
	resp, err := c.send(ctx, http.MethodPost, "/api/v1/admin/backup", nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("backup: %w", err)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return n, fmt.Errorf("backup: got %d of %d bytes", n, resp.ContentLength)
	}
	return n, nil
}

// CreateJoinCode asks the master for a one-time code that lets a new node join.
func (c *Client) CreateJoinCode(ctx context.Context) (code string, expires time.Time, err error) {
	var out struct {
		Code      string    `json:"code"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	err = c.Do(ctx, http.MethodPost, "/api/v1/admin/replication/join-codes", nil, &out)
	return out.Code, out.ExpiresAt, err
}

// ReplicationStatus returns the node's replication status.
func (c *Client) ReplicationStatus(ctx context.Context) (ReplicationStatus, error) {
	var st ReplicationStatus
	err := c.Do(ctx, http.MethodGet, "/api/v1/admin/replication", nil, &st)
	return st, err
}

// Promote makes the node the master of a new epoch.
func (c *Client) Promote(ctx context.Context) (ReplicationStatus, error) {
	var st ReplicationStatus
	err := c.Do(ctx, http.MethodPost, "/api/v1/admin/replication/promote", nil, &st)
	return st, err
}

// Archive lists the node's archived snapshots, newest first.
func (c *Client) Archive(ctx context.Context) ([]ArchiveEntry, error) {
	var out struct {
		Archive []ArchiveEntry `json:"archive"`
	}
	err := c.Do(ctx, http.MethodGet, "/api/v1/admin/archive", nil, &out)
	return out.Archive, err
}

// ArchiveShow describes one archived revision (object names only).
func (c *Client) ArchiveShow(ctx context.Context, rev uint64) (json.RawMessage, error) {
	var out json.RawMessage
	err := c.Do(ctx, http.MethodGet, "/api/v1/admin/archive/"+strconv.FormatUint(rev, 10), nil, &out)
	return out, err
}

// RestoreArchive makes an archived revision current again (as a new revision).
func (c *Client) RestoreArchive(ctx context.Context, rev uint64) (uint64, error) {
	var out struct {
		Revision uint64 `json:"revision"`
	}
	err := c.Do(ctx, http.MethodPost, "/api/v1/admin/archive/"+strconv.FormatUint(rev, 10)+"/restore", nil, &out)
	return out.Revision, err
}

// MeteringReport returns the group's merged metering report over [from, to)
// with peaks per window (0: the server's default of 1 h).
func (c *Client) MeteringReport(ctx context.Context, from, to time.Time, window time.Duration) (MeteringReport, error) {
	q := url.Values{"from": {from.UTC().Format(time.RFC3339Nano)}, "to": {to.UTC().Format(time.RFC3339Nano)}}
	if window > 0 {
		q.Set("window", window.String())
	}
	var rep MeteringReport
	err := c.Do(ctx, http.MethodGet, "/api/v1/admin/metering?"+q.Encode(), nil, &rep)
	return rep, err
}

// Me says who the client is logged in as (GET /api/v1/me).
func (c *Client) Me(ctx context.Context) (Me, error) {
	var me Me
	err := c.Do(ctx, http.MethodGet, "/api/v1/me", nil, &me)
	return me, err
}

// Audit returns the node's stored audit events that match f, newest first,
// and whether older ones match too.
func (c *Client) Audit(ctx context.Context, f AuditFilter) (AuditPage, error) {
	q := url.Values{}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.Actor != "" {
		q.Set("actor", f.Actor)
	}
	if f.Event != "" {
		q.Set("event", f.Event)
	}
	if f.OK != nil {
		q.Set("ok", strconv.FormatBool(*f.OK))
	}
	if !f.Since.IsZero() {
		q.Set("since", f.Since.UTC().Format(time.RFC3339Nano))
	}
	if !f.Until.IsZero() {
		q.Set("until", f.Until.UTC().Format(time.RFC3339Nano))
	}
	path := "/api/v1/admin/audit"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var page AuditPage
	err := c.Do(ctx, http.MethodGet, path, nil, &page)
	return page, err
}

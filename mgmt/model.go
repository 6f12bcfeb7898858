package mgmt

import (
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/termgate/termgate/token"
)

// Roles of a user.
const (
	RoleAdmin = "admin" // may use the admin API
	RoleUser  = "user"  // may launch granted sessions and request granted tokens
)

// Terminal is a session's terminal: model (e.g. "xterm", "vt220",
// "IBM-3278-2-E"), size and, for TN3270, the host code page (e.g. "cp037").
type Terminal struct {
	Model    string `json:"model"`
	Rows     int    `json:"rows"`
	Cols     int    `json:"cols"`
	Codepage string `json:"codepage,omitempty"`
}

// SessionDef is a session definition: what a granted user may launch.
type SessionDef struct {
	// Name is set from the URL; it is ignored in request bodies.
	Name     string   `json:"name,omitempty"`
	Protocol string   `json:"protocol"` // telnet, ssh, tn3270, ftp or tcp
	Host     string   `json:"host"`
	Port     int      `json:"port"`
	Terminal Terminal `json:"terminal"`
	// TokenTTLSeconds is the lifetime of tokens launched from this session;
	// 0 means the security setting token_ttl_s (default 120 s); at most 3600.
	TokenTTLSeconds int    `json:"token_ttl_s,omitempty"`
	Description     string `json:"description,omitempty"`
	// HostTLS makes the proxy speak TLS to the host (token claim htls).
	HostTLS bool `json:"host_tls,omitempty"`
	// HostKey is, for ssh, the host's public key as an authorized_keys line;
	// the client pins it.
	HostKey string `json:"host_key,omitempty"`
}

// UserSpec is the body of PUT /api/v1/admin/users/{name}. An empty Password
// keeps the current one (it is required when the user is created).
type UserSpec struct {
	Password     string   `json:"password,omitempty"`
	Role         string   `json:"role"`
	Sessions     []string `json:"sessions"`
	Destinations []string `json:"destinations"`
}

// User is a user as the admin API shows it (no password hash).
type User struct {
	Name         string    `json:"name"`
	Role         string    `json:"role"`
	Sessions     []string  `json:"sessions"`
	Destinations []string  `json:"destinations"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// userRecord is a user as stored.
type userRecord struct {
	User
	PasswordHash string `json:"password_hash"`
	// PasswordChangedAt (unix seconds) invalidates older login tokens.
	PasswordChangedAt int64 `json:"password_changed_at"`
}

// APIKeySpec is the body of POST /api/v1/admin/api-keys.
type APIKeySpec struct {
	Name         string   `json:"name"`
	Destinations []string `json:"destinations"`
}

// APIKey is an API key as the admin API shows it (no secret, no hash).
type APIKey struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	Destinations []string  `json:"destinations"`
	CreatedAt    time.Time `json:"created_at"`
	CreatedBy    string    `json:"created_by"`
}

type apiKeyRecord struct {
	APIKey
	Hash string `json:"sha256"` // hex SHA-256 of the whole key string
}

// Security is the security settings (replicated to every node).
type Security struct {
	// VerifyServerIdentity makes clients check that the proxy certificate
	// names the address they dial (default true).
	VerifyServerIdentity bool `json:"verify_server_identity"`
	// ClientAuthorization makes proxies require an authorization token for
	// every session (default true).
	ClientAuthorization bool `json:"client_authorization"`
	// TokenTTLSeconds is the default token lifetime (default 120, max 3600).
	TokenTTLSeconds int `json:"token_ttl_s"`
	// AllowedNetworks is the destination policy: CIDRs that IP destinations
	// must fall in (empty: any, except link-local and cloud metadata
	// addresses, which are denied unless listed here).
	AllowedNetworks []string `json:"allowed_networks"`
	// Audience is the token audience, the proxy cluster's name (default "termgate-proxy").
	Audience string `json:"audience"`
}

// DefaultSecurity is the settings of a new store.
func DefaultSecurity() Security {
	return Security{VerifyServerIdentity: true, ClientAuthorization: true, TokenTTLSeconds: int(token.DefaultTTL / time.Second), AllowedNetworks: []string{}, Audience: token.DefaultAudience}
}

// SecurityPatch is the body of PUT /api/v1/admin/security: absent fields
// keep their current value.
type SecurityPatch struct {
	VerifyServerIdentity *bool    `json:"verify_server_identity"`
	ClientAuthorization  *bool    `json:"client_authorization"`
	TokenTTLSeconds      *int     `json:"token_ttl_s"`
	AllowedNetworks      []string `json:"allowed_networks"`
	Audience             *string  `json:"audience"`
}

// Proxy is an enrolled proxy node.
type Proxy struct {
	NodeID      string    `json:"node_id"`
	Address     string    `json:"address,omitempty"`
	Fingerprint string    `json:"fingerprint"`
	Certificate string    `json:"certificate"` // PEM of the leaf
	NotAfter    time.Time `json:"not_after"`
	EnrolledAt  time.Time `json:"enrolled_at"`
}

// Signing key states.
const (
	KeyNext    = "next"    // published, not yet signing
	KeyCurrent = "current" // signing
	KeyRetired = "retired" // published until its last token expired
)

// SigningKey is a management node's token-signing certificate as stored
// (the private key never is: it stays in the node's data directory).
type SigningKey struct {
	KID         string    `json:"kid"`
	NodeID      string    `json:"node_id"`
	State       string    `json:"state"`
	Certificate string    `json:"certificate"`
	NotAfter    time.Time `json:"not_after"`
	CreatedAt   time.Time `json:"created_at"`
	ActivateAt  time.Time `json:"activate_at,omitempty"`  // next → current
	RemoveAfter time.Time `json:"remove_after,omitempty"` // retired → removed
}

type enrollCodeRecord struct {
	ExpiresAt time.Time `json:"expires_at"`
	CreatedBy string    `json:"created_by"`
	// Kind is "" for a proxy enrollment code, "join" for a node join code.
	Kind string `json:"kind,omitempty"`
}

// AuditEvent is one entry of the audit trail.
type AuditEvent struct {
	Seq    uint64         `json:"seq"`
	Time   time.Time      `json:"time"`
	Event  string         `json:"event"`
	Actor  string         `json:"actor,omitempty"`
	Client string         `json:"client,omitempty"`
	OK     bool           `json:"ok"`
	Fields map[string]any `json:"fields,omitempty"`
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

func validName(kind, s string) error {
	if !nameRE.MatchString(s) {
		return invalidf("%s name %q: use 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit", kind, s)
	}
	return nil
}

var protocols = []string{token.ProtoTelnet, token.ProtoSSH, token.ProtoTN3270, token.ProtoFTP, token.ProtoTCP}

func validProtocol(p string) error {
	if !slices.Contains(protocols, p) {
		return invalidf("protocol %q: use one of %s", p, strings.Join(protocols, ", "))
	}
	return nil
}

// normalize validates d and fills defaults.
func (d *SessionDef) normalize() error {
	if err := validProtocol(d.Protocol); err != nil {
		return err
	}
	if d.Port < 1 || d.Port > 65535 {
		return invalidf("port %d: use 1..65535", d.Port)
	}
	dst, err := token.NormalizeHostPort(net.JoinHostPort(strings.Trim(d.Host, "[]"), strconv.Itoa(d.Port)))
	if err != nil {
		return invalidf("host %q: %v", d.Host, err)
	}
	h, _, _ := net.SplitHostPort(dst)
	d.Host = h
	if d.TokenTTLSeconds < 0 || d.TokenTTLSeconds > int(token.MaxTTL/time.Second) {
		return invalidf("token_ttl_s %d: use 0..%d", d.TokenTTLSeconds, int(token.MaxTTL/time.Second))
	}
	t := &d.Terminal
	if t.Model == "" {
		switch d.Protocol {
		case token.ProtoTN3270:
			t.Model = "IBM-3278-2-E"
		case token.ProtoFTP, token.ProtoTCP:
		default:
			t.Model = "xterm"
		}
	}
	if t.Rows == 0 && t.Cols == 0 && t.Model != "" {
		t.Rows, t.Cols = 24, 80
	}
	if t.Rows < 0 || t.Rows > 1000 || t.Cols < 0 || t.Cols > 1000 {
		return invalidf("terminal size %dx%d: use 1..1000", t.Rows, t.Cols)
	}
	if t.Codepage == "" && d.Protocol == token.ProtoTN3270 {
		t.Codepage = "cp037"
	}
	if len(d.Description) > 1024 || len(t.Model) > 64 || len(t.Codepage) > 64 {
		return invalidf("description, terminal model or codepage too long")
	}
	if d.HostKey != "" {
		if d.Protocol != token.ProtoSSH {
			return invalidf("host_key is only valid for protocol ssh")
		}
		if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(d.HostKey)); err != nil {
			return invalidf("host_key: not an authorized_keys line: %v", err)
		}
	}
	return nil
}

func (d SessionDef) dst() string {
	return net.JoinHostPort(d.Host, strconv.Itoa(d.Port))
}

func (u *UserSpec) validate(creating bool) error {
	switch u.Role {
	case "":
		u.Role = RoleUser
	case RoleAdmin, RoleUser:
	default:
		return invalidf("role %q: use admin or user", u.Role)
	}
	if creating && u.Password == "" {
		return invalidf("password is required for a new user")
	}
	if u.Password != "" && (len(u.Password) < 8 || len(u.Password) > 1024) {
		return invalidf("password must be 8 to 1024 bytes long")
	}
	for _, s := range u.Sessions {
		if s != "*" {
			if err := validName("session", s); err != nil {
				return err
			}
		}
	}
	if u.Sessions == nil {
		u.Sessions = []string{}
	}
	if err := validDestinations(u.Destinations); err != nil {
		return err
	}
	if u.Destinations == nil {
		u.Destinations = []string{}
	}
	return nil
}

func validDestinations(ds []string) error {
	for _, d := range ds {
		if _, err := parseDestPattern(d); err != nil {
			return err
		}
	}
	return nil
}

func (p SecurityPatch) apply(s Security) (Security, error) {
	if p.VerifyServerIdentity != nil {
		s.VerifyServerIdentity = *p.VerifyServerIdentity
	}
	if p.ClientAuthorization != nil {
		s.ClientAuthorization = *p.ClientAuthorization
	}
	if p.TokenTTLSeconds != nil {
		s.TokenTTLSeconds = *p.TokenTTLSeconds
	}
	if p.AllowedNetworks != nil {
		s.AllowedNetworks = p.AllowedNetworks
	}
	if p.Audience != nil {
		s.Audience = *p.Audience
	}
	return s, s.validate()
}

func (s *Security) validate() error {
	if s.TokenTTLSeconds < 1 || s.TokenTTLSeconds > int(token.MaxTTL/time.Second) {
		return invalidf("token_ttl_s %d: use 1..%d", s.TokenTTLSeconds, int(token.MaxTTL/time.Second))
	}
	if s.Audience == "" || len(s.Audience) > 128 {
		return invalidf("audience must be 1..128 characters")
	}
	if s.AllowedNetworks == nil {
		s.AllowedNetworks = []string{}
	}
	for _, n := range s.AllowedNetworks {
		if _, err := parsePrefix(n); err != nil {
			return invalidf("allowed network %q: %v", n, err)
		}
	}
	return nil
}

func (s Security) tokenTTL() time.Duration {
	if s.TokenTTLSeconds <= 0 {
		return token.DefaultTTL
	}
	return time.Duration(s.TokenTTLSeconds) * time.Second
}

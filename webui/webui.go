package webui

import (
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"path"
	"strings"

	"github.com/rs/zerolog"
)

//go:embed assets
var assetFS embed.FS

// Path prefixes the Handler answers. Mount the Handler on each of them.
const (
	AdminPrefix = "/admin/" // the administrative console (role admin)
	AppPrefix   = "/app/"   // the user page: launchable sessions and the browser terminal
)

// Prefixes lists AdminPrefix and AppPrefix, for mounting:
//
//	for _, p := range webui.Prefixes { mux.Handle(p, ui) }
var Prefixes = []string{AdminPrefix, AppPrefix}

// Options configures the Handler. The zero value serves the console with a
// policy that lets the terminal page reach any wss: origin.
type Options struct {
	// ProxyAddress is the proxy's public host:port, as launch responses
	// return it (mgmt Config.ProxyAddress). It narrows the page's
	// connect-src to wss://ProxyAddress; "" allows any wss: origin (TLS
	// still required).
	ProxyAddress string
	// Logger receives request errors; the zero value logs nothing.
	Logger zerolog.Logger
}

type asset struct {
	body        []byte
	contentType string
	etag        string
	immutable   bool // versioned vendor files
	page        bool // an HTML page (gets the CSP)
}

// handler serves the embedded console. It is safe for concurrent use: its
// state is built once and only read afterwards.
type handler struct {
	assets map[string]*asset // URL path → asset
	csp    string
	log    zerolog.Logger
}

var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
}

// Handler returns the console's HTTP handler. It answers GET and HEAD under
// AdminPrefix and AppPrefix (and the bare /admin and /app with a redirect);
// anything else is 404 (405 for other methods). Every answer carries a
// strict Content-Security-Policy and no-referrer, nosniff and framing
// headers; assets carry an ETag, vendored libraries are cached for a year.
func Handler(opts Options) http.Handler {
	h := &handler{assets: map[string]*asset{}, csp: contentSecurityPolicy(opts.ProxyAddress), log: opts.Logger}
	add := func(urlPath, file string) {
		b, err := fs.ReadFile(assetFS, file)
		if err != nil {
			panic(fmt.Sprintf("webui: embedded asset %s: %v", file, err)) // a build defect, caught by the tests
		}
		sum := sha256.Sum256(b)
		ct := contentTypes[path.Ext(file)]
		h.assets[urlPath] = &asset{
			body:        b,
			contentType: ct,
			etag:        `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`,
			immutable:   strings.HasPrefix(file, "assets/vendor/"),
			page:        path.Ext(file) == ".html",
		}
	}
	add(AdminPrefix, "assets/admin.html")
	add(AppPrefix, "assets/app.html")
	err := fs.WalkDir(assetFS, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		name := path.Base(p)
		if strings.HasPrefix(name, ".") || strings.Contains(name, ".test.") || path.Ext(p) == ".html" {
			return nil
		}
		if _, ok := contentTypes[path.Ext(p)]; !ok {
			return nil
		}
		// assets/js/app.js → /app/assets/js/app.js (shared by both pages).
		add(AppPrefix+p, p)
		return nil
	})
	if err != nil {
		panic(fmt.Sprintf("webui: walk embedded assets: %v", err))
	}
	return h
}

// contentSecurityPolicy is the policy of every response: scripts and
// styles only from files of this origin (no inline code, no eval), no
// plugins, no framing, no <base>; fetches to this origin and WebSockets to
// the proxy.
func contentSecurityPolicy(proxyAddress string) string {
	connect := "'self' wss:"
	if proxyAddress != "" {
		if host, port, err := net.SplitHostPort(proxyAddress); err == nil && validHost(host) && validPort(port) {
			connect = "'self' wss://" + net.JoinHostPort(host, port)
		}
	}
	return "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; " +
		"object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; connect-src " + connect
}

// validHost accepts DNS names and IP literals, and nothing that could
// break out of a CSP source expression.
func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	if net.ParseIP(h) != nil {
		return true
	}
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func validPort(p string) bool {
	if p == "" || len(p) > 5 {
		return false
	}
	for _, c := range p {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func (h *handler) setSecurityHeaders(hd http.Header) {
	hd.Set("Content-Security-Policy", h.csp)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	hd.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	h.setSecurityHeaders(hd)
	p := r.URL.Path
	if p == "/admin" || p == "/app" {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.notAllowed(w)
			return
		}
		hd.Set("Cache-Control", "no-cache")
		http.Redirect(w, r, p+"/", http.StatusMovedPermanently)
		return
	}
	a, ok := h.assets[p]
	if !ok {
		// The pages are single documents: /admin/<anything> is not a route.
		hd.Set("Cache-Control", "no-store")
		hd.Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintln(w, "404 not found")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.notAllowed(w)
		return
	}
	hd.Set("Content-Type", a.contentType)
	hd.Set("ETag", a.etag)
	if a.immutable {
		hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hd.Set("Cache-Control", "no-cache") // revalidate with the ETag
	}
	if etagMatch(r.Header.Get("If-None-Match"), a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hd.Set("Content-Length", fmt.Sprint(len(a.body)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	if _, err := w.Write(a.body); err != nil {
		h.log.Debug().Err(err).Str("path", p).Msg("write console asset")
	}
}

func (h *handler) notAllowed(w http.ResponseWriter) {
	w.Header().Set("Allow", "GET, HEAD")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusMethodNotAllowed)
	fmt.Fprintln(w, "405 method not allowed")
}

// etagMatch implements If-None-Match's weak comparison for our strong tags.
func etagMatch(header, etag string) bool {
	if header == "" {
		return false
	}
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}

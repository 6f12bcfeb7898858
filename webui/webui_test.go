package webui

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/termgate/termgate/internal/testpeer"
)

func get(t *testing.T, h http.Handler, method, target string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func checkSecurityHeaders(t *testing.T, w *httptest.ResponseRecorder, target string) {
	t.Helper()
	csp := w.Header().Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "script-src 'self';", "style-src 'self';", "object-src 'none'",
		"frame-ancestors 'none'", "base-uri 'none'", "connect-src 'self' wss:"} {
		if !strings.Contains(csp, want) {
			t.Errorf("%s: CSP %q lacks %q", target, csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-") {
		t.Errorf("%s: CSP %q allows unsafe sources", target, csp)
	}
	for k, want := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"} {
		if got := w.Header().Get(k); got != want {
			t.Errorf("%s: %s = %q, want %q", target, k, got, want)
		}
	}
}

var pages = []string{AdminPrefix, AppPrefix}

// TestPagesHaveNoInlineCode parses every page and rejects anything the CSP
// would block or that would need 'unsafe-inline': inline scripts, style
// elements and attributes, event-handler attributes, javascript: URLs.
func TestPagesHaveNoInlineCode(t *testing.T) {
	h := Handler(Options{})
	for _, p := range pages {
		t.Run(p, func(t *testing.T) {
			w := get(t, h, http.MethodGet, p, nil)
			if w.Code != http.StatusOK {
				t.Fatalf("GET %s = %d", p, w.Code)
			}
			if ct := w.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("Content-Type = %q", ct)
			}
			checkSecurityHeaders(t, w, p)
			scripts, refs, problems, err := htmlProblems(w.Body.String())
			if err != nil {
				t.Fatalf("parse page: %v", err)
			}
			for _, p := range problems {
				t.Error(p)
			}
			if scripts == 0 {
				t.Errorf("page loads no script")
			}
			for _, ref := range refs {
				if !strings.HasPrefix(ref, "/") || strings.HasPrefix(ref, "//") {
					if strings.HasPrefix(ref, "#") {
						continue
					}
					t.Errorf("reference %q is not a same-origin absolute path", ref)
					continue
				}
				if r := get(t, h, http.MethodGet, ref, nil); r.Code != http.StatusOK && ref != AdminPrefix && ref != AppPrefix && !strings.HasPrefix(ref, "/api/") {
					t.Errorf("page references %s, which answers %d", ref, r.Code)
				}
			}
		})
	}
}

// htmlProblems walks the document and returns the number of external
// scripts, the URLs the page references and what it found wrong.
func htmlProblems(doc string) (scripts int, refs, problems []string, err error) {
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	d := xml.NewDecoder(strings.NewReader(doc))
	d.Strict = false
	d.AutoClose = xml.HTMLAutoClose
	d.Entity = xml.HTMLEntity
	inScript := false
	ids := map[string]bool{}
	labelFor := map[string]bool{}
	var inputs []string
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return scripts, refs, problems, err
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			name := strings.ToLower(tk.Name.Local)
			attrs := map[string]string{}
			for _, a := range tk.Attr {
				k := strings.ToLower(a.Name.Local)
				attrs[k] = a.Value
				if k == "style" {
					bad("<%s> has a style attribute", name)
				}
				if strings.HasPrefix(k, "on") {
					bad("<%s> has an event-handler attribute %s", name, k)
				}
				if strings.HasPrefix(strings.TrimSpace(strings.ToLower(a.Value)), "javascript:") {
					bad("<%s %s> is a javascript: URL", name, k)
				}
				if k == "id" {
					if ids[a.Value] {
						bad("duplicate id %q", a.Value)
					}
					ids[a.Value] = true
				}
			}
			switch name {
			case "script":
				if attrs["src"] == "" {
					bad("inline <script> (no src)")
				} else {
					scripts++
					refs = append(refs, attrs["src"])
				}
				inScript = true
			case "style":
				bad("<style> element")
			case "link":
				refs = append(refs, attrs["href"])
			case "a":
				refs = append(refs, attrs["href"])
			case "label":
				labelFor[attrs["for"]] = true
			case "input", "select", "textarea":
				inputs = append(inputs, attrs["id"])
			}
		case xml.CharData:
			if inScript && strings.TrimSpace(string(tk)) != "" {
				bad("<script> with inline content %q", string(tk))
			}
		case xml.EndElement:
			if strings.ToLower(tk.Name.Local) == "script" {
				inScript = false
			}
		}
	}
	for _, id := range inputs {
		if id == "" || !labelFor[id] {
			bad("input %q has no <label for>", id)
		}
	}
	if !ids["main"] || !ids["status"] {
		bad("page lacks the skip-link target #main or the live region #status")
	}
	return scripts, refs, problems, nil
}

func TestHTMLProblemsCatchesInlineCode(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"inline script", `<html><body><main id="main"></main><p id="status"></p><script>alert(1)</script></body></html>`, "inline <script>"},
		{"style element", `<html><head><style>p{}</style></head><body id="main"><p id="status"></p></body></html>`, "<style> element"},
		{"style attribute", `<html><body id="main"><p id="status" style="color:red"></p></body></html>`, "style attribute"},
		{"handler", `<html><body id="main" onload="x()"><p id="status"></p></body></html>`, "event-handler attribute onload"},
		{"javascript url", `<html><body id="main"><p id="status"></p><a href="javascript:x()">x</a></body></html>`, "javascript: URL"},
		{"unlabelled input", `<html><body id="main"><p id="status"></p><input id="q"></body></html>`, `input "q" has no <label for>`},
		{"no live region", `<html><body id="main"></body></html>`, "live region"},
	}
	for _, tt := range tests {
		_, _, problems, err := htmlProblems(tt.doc)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if !strings.Contains(strings.Join(problems, "\n"), tt.want) {
			t.Errorf("%s: problems %q, want one containing %q", tt.name, problems, tt.want)
		}
	}
	clean := `<html><body><main id="main"><p id="status"></p><label for="q">Q</label><input id="q" /><script src="/x.js"></script></main></body></html>`
	if n, _, problems, err := htmlProblems(clean); err != nil || len(problems) != 0 || n != 1 {
		t.Errorf("clean page: %d scripts, problems %q, err %v", n, problems, err)
	}
}

func TestAssetsContentTypesAndCaching(t *testing.T) {
	h := Handler(Options{})
	tests := []struct {
		path      string
		wantType  string
		immutable bool
	}{
		{"/app/assets/js/admin.js", "text/javascript; charset=utf-8", false},
		{"/app/assets/js/telnet.js", "text/javascript; charset=utf-8", false},
		{"/app/assets/css/console.css", "text/css; charset=utf-8", false},
		{"/app/assets/vendor/xterm-5.5.0/xterm.js", "text/javascript; charset=utf-8", true},
		{"/app/assets/vendor/xterm-5.5.0/xterm.css", "text/css; charset=utf-8", true},
		{"/app/assets/vendor/addon-fit-0.10.0/addon-fit.js", "text/javascript; charset=utf-8", true},
		{"/app/assets/vendor/addon-canvas-0.7.0/addon-canvas.js", "text/javascript; charset=utf-8", true},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			w := get(t, h, http.MethodGet, tt.path, nil)
			if w.Code != http.StatusOK {
				t.Fatalf("GET = %d", w.Code)
			}
			if got := w.Header().Get("Content-Type"); got != tt.wantType {
				t.Errorf("Content-Type = %q, want %q", got, tt.wantType)
			}
			checkSecurityHeaders(t, w, tt.path)
			cc := w.Header().Get("Cache-Control")
			if tt.immutable != strings.Contains(cc, "immutable") {
				t.Errorf("Cache-Control = %q, immutable want %v", cc, tt.immutable)
			}
			etag := w.Header().Get("ETag")
			if etag == "" || w.Body.Len() == 0 {
				t.Fatalf("ETag %q, body %d bytes", etag, w.Body.Len())
			}
			nm := get(t, h, http.MethodGet, tt.path, map[string]string{"If-None-Match": etag})
			if nm.Code != http.StatusNotModified || nm.Body.Len() != 0 {
				t.Errorf("conditional GET = %d with %d bytes, want 304 and none", nm.Code, nm.Body.Len())
			}
			other := get(t, h, http.MethodGet, tt.path, map[string]string{"If-None-Match": `"other"`})
			if other.Code != http.StatusOK {
				t.Errorf("GET with a stale ETag = %d, want 200", other.Code)
			}
			head := get(t, h, http.MethodHead, tt.path, nil)
			if head.Code != http.StatusOK || head.Body.Len() != 0 || head.Header().Get("Content-Length") != w.Header().Get("Content-Length") {
				t.Errorf("HEAD = %d, %d bytes, length %q", head.Code, head.Body.Len(), head.Header().Get("Content-Length"))
			}
		})
	}
}

func TestUnknownPathsAndMethods(t *testing.T) {
	h := Handler(Options{})
	for _, p := range []string{"/admin/users", "/app/assets/js/telnet.test.mjs", "/app/assets/js/charts.test.mjs",
		"/app/assets/js/nope.js", "/app/assets/", "/app/assets/vendor/xterm-5.5.0/LICENSE", "/admin/assets/js/admin.js",
		"/app/assets/../admin.html", "/app/assets/admin.html", "/", "/api/v1/sessions"} {
		w := get(t, h, http.MethodGet, p, nil)
		if w.Code != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", p, w.Code)
		}
		checkSecurityHeaders(t, w, p)
	}
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		w := get(t, h, m, AppPrefix, nil)
		if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("%s %s = %d (Allow %q), want 405", m, AppPrefix, w.Code, w.Header().Get("Allow"))
		}
	}
	for _, p := range []string{"/admin", "/app"} {
		w := get(t, h, http.MethodGet, p, nil)
		if w.Code != http.StatusMovedPermanently || w.Header().Get("Location") != p+"/" {
			t.Errorf("GET %s = %d to %q, want 301 to %s/", p, w.Code, w.Header().Get("Location"), p)
		}
	}
}

func TestConnectSrcNamesTheProxy(t *testing.T) {
	tests := []struct {
		addr, want string
	}{
		{"proxy.example.com:443", "connect-src 'self' wss://proxy.example.com:443"},
		{"127.0.0.1:9443", "connect-src 'self' wss://127.0.0.1:9443"},
		{"[::1]:9443", "connect-src 'self' wss://[::1]:9443"},
		{"", "connect-src 'self' wss:"},
		{"evil.example; script-src *:1", "connect-src 'self' wss:"},
		{"evil example:1", "connect-src 'self' wss:"},
		{"host:12a", "connect-src 'self' wss:"},
	}
	for _, tt := range tests {
		csp := contentSecurityPolicy(tt.addr)
		if !strings.HasSuffix(csp, tt.want) {
			t.Errorf("ProxyAddress %q: CSP %q, want it to end with %q", tt.addr, csp, tt.want)
		}
		w := get(t, Handler(Options{ProxyAddress: tt.addr}), http.MethodGet, AppPrefix, nil)
		if w.Header().Get("Content-Security-Policy") != csp {
			t.Errorf("ProxyAddress %q: handler CSP differs from contentSecurityPolicy", tt.addr)
		}
	}
}

// TestScriptsBuildNoHTML keeps the console's own scripts free of the APIs
// that parse HTML or evaluate strings (the vendored library is checked by
// the CSP in the browser instead).
func TestScriptsBuildNoHTML(t *testing.T) {
	bad := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|setAttribute\(\s*['"]style|\.style\.|localStorage`)
	err := fs.WalkDir(assetFS, "assets/js", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(assetFS, p)
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(strings.NewReader(string(b)))
		for n := 1; sc.Scan(); n++ {
			if m := bad.FindString(sc.Text()); m != "" {
				t.Errorf("%s:%d uses %s", p, n, m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestVendoredFilesMatchREADME recomputes the hashes recorded in
// assets/vendor/README.md.
func TestVendoredFilesMatchREADME(t *testing.T) {
	readme, err := fs.ReadFile(assetFS, "assets/vendor/README.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("→ `([^`]+)` \\| `([0-9a-f]{64})`")
	matches := row.FindAllStringSubmatch(string(readme), -1)
	if len(matches) < 7 {
		t.Fatalf("README lists %d files, want every vendored file", len(matches))
	}
	listed := map[string]bool{}
	for _, m := range matches {
		b, err := fs.ReadFile(assetFS, path.Join("assets/vendor", m[1]))
		if err != nil {
			t.Errorf("%s: %v", m[1], err)
			continue
		}
		sum := sha256.Sum256(b)
		if got := hex.EncodeToString(sum[:]); got != m[2] {
			t.Errorf("%s: sha256 %s, README says %s", m[1], got, m[2])
		}
		listed[m[1]] = true
	}
	fs.WalkDir(assetFS, "assets/vendor", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && p != "assets/vendor/README.md" && !listed[strings.TrimPrefix(p, "assets/vendor/")] {
			t.Errorf("%s is not listed in the README", p)
		}
		return err
	})
}

// TestJavaScript runs the node test suites of the pure modules (telnet
// codec, chart data).
func TestJavaScript(t *testing.T) {
	node := testpeer.Require(t, "node", "nodejs")
	files, err := filepath.Glob(filepath.Join("assets", "js", "*.test.mjs"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no JavaScript tests found: %v", err)
	}
	cmd := exec.Command(node, append([]string{"--test"}, files...)...)
	cmd.Env = append(os.Environ(), "NODE_OPTIONS=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test: %v\n%s", err, out)
	}
	if !regexp.MustCompile(`(?m)^# fail 0$`).Match(out) || !regexp.MustCompile(`(?m)^# pass [1-9]`).Match(out) {
		t.Fatalf("node --test output does not report passes without failures:\n%s", out)
	}
	t.Logf("%s", regexp.MustCompile(`(?m)^# (tests|pass|fail) \d+$`).FindAll(out, -1))
}

// Package testpeer lets tests find the real external programs they run
// against (telnetd, sshd, HAProxy, vsftpd, s3270, tmux, curl...). Locally a
// missing program skips the test with the command that installs it; under
// CI (CI=true) it fails the test, so CI never passes by skipping.
package testpeer

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// InstallHint is the command that installs every peer the test suite uses.
const InstallHint = "apt-get update && apt-get install -y haproxy vsftpd inetutils-telnetd openssh-server socat s3270 hercules tmux curl chromium libnss3-tools"

// InCI reports whether the tests run under CI (CI=true).
func InCI() bool { return os.Getenv("CI") == "true" }

// Require returns the path of the program named bin, looking in PATH and in
// /usr/sbin and /sbin (where daemons live). If it is missing the test is
// skipped with the install command for debianPkg, or failed under CI.
func Require(t testing.TB, bin, debianPkg string) string {
	t.Helper()
	if p, err := exec.LookPath(bin); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := filepath.Join(dir, bin)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	if InCI() {
		t.Fatalf("%s is required under CI but missing: apt-get install -y %s", bin, debianPkg)
	}
	t.Skipf("%s not installed; to run this test: apt-get install -y %s", bin, debianPkg)
	return ""
}

// TempDir is a temporary directory for an external program (a browser
// profile, say), removed at the end of the test. Removal is retried for a
// few seconds, because helper processes of the program may still write
// into it just after it stopped.
func TempDir(t testing.TB, pattern string) string {
	t.Helper()
	d, err := os.MkdirTemp("", pattern)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		var err error
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			if err = os.RemoveAll(d); err == nil {
				return
			}
		}
		t.Logf("remove %s: %v", d, err)
	})
	return d
}

package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/termgate/termgate/emulator"
	"github.com/termgate/termgate/emulator/ssh"
)

// Environment variables read by the client commands. They are not flags, so
// that a password never appears in a process list or a config file.
const (
	EnvPassword    = "TERMGATE_PASSWORD"
	EnvSSHPassword = "TERMGATE_SSH_PASSWORD"
)

// clientFlags are the flags every client command (connect, screen, ftp)
// shares (docs/README.md).
type clientFlags struct {
	mgmt           string
	ca             string
	user           string
	loginTokenFile string
	session        string

	sshUser       string
	sshKnownHosts string
}

func (f *clientFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.mgmt, "mgmt", "", "management server URL, e.g. https://127.0.0.1:8443 (required)")
	fs.StringVar(&f.ca, "ca", "", "PEM file trusted for the management server's HTTPS certificate (default: system roots)")
	fs.StringVar(&f.user, "user", "", "user name; the password comes from "+EnvPassword+" or a prompt on a terminal")
	fs.StringVar(&f.loginTokenFile, "login-token-file", "", "file holding a login token or API key (instead of --user)")
	fs.StringVar(&f.session, "session", "", "name of the session definition to open (required)")
	fs.StringVar(&f.sshUser, "ssh-user", "", "user on the SSH host of an ssh session (default: --user)")
	fs.StringVar(&f.sshKnownHosts, "ssh-known-hosts", "", "known_hosts file for the SSH host's key (default: ~/.ssh/known_hosts if present; a host key in the session definition is always accepted)")
}

// check reports missing flags as usage errors.
func (f *clientFlags) check() error {
	switch {
	case f.mgmt == "":
		return usagef("--mgmt is required (the management server's URL)")
	case f.session == "":
		return usagef("--session is required")
	case f.user == "" && f.loginTokenFile == "":
		return usagef("give --user (password from %s or a prompt) or --login-token-file", EnvPassword)
	case f.user != "" && f.loginTokenFile != "":
		return usagef("give either --user or --login-token-file, not both")
	}
	return nil
}

// client builds a client and authenticates it.
func (f *clientFlags) client(ctx context.Context, g *Globals) (*emulator.Client, error) {
	c, err := emulator.NewClient(f.mgmt, emulator.ClientOptions{CAFile: f.ca, Logger: g.Logger()})
	if err != nil {
		return nil, err
	}
	if f.loginTokenFile != "" {
		b, err := os.ReadFile(f.loginTokenFile)
		if err != nil {
			return nil, fmt.Errorf("login token: %w", err)
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return nil, fmt.Errorf("login token file %s is empty", f.loginTokenFile)
		}
		c.UseToken(tok)
		return c, nil
	}
	pw, err := password(g, EnvPassword, fmt.Sprintf("Password for %s at %s: ", f.user, f.mgmt))
	if err != nil {
		return nil, err
	}
	if err := c.Login(ctx, f.user, pw); err != nil {
		return nil, err
	}
	return c, nil
}

// sshConfig returns the SSH credentials for an ssh session. The password
// is asked for only if the host wants one.
func (f *clientFlags) sshConfig(g *Globals) ssh.Config {
	cfg := ssh.Config{User: f.sshUser, KnownHostsFile: f.sshKnownHosts}
	if cfg.User == "" {
		cfg.User = f.user
	}
	if cfg.KnownHostsFile == "" {
		if home, err := os.UserHomeDir(); err == nil {
			p := filepath.Join(home, ".ssh", "known_hosts")
			if _, err := os.Stat(p); err == nil {
				cfg.KnownHostsFile = p
			}
		}
	}
	cfg.PasswordFunc = func() (string, error) {
		return password(g, EnvSSHPassword, fmt.Sprintf("SSH password for %s: ", cfg.User))
	}
	return cfg
}

// password reads env, else prompts without echo if stdin is a terminal.
func password(g *Globals, env, prompt string) (string, error) {
	if pw, ok := os.LookupEnv(env); ok {
		return pw, nil
	}
	fd, ok := terminalFD(g.Stdin)
	if !ok {
		return "", fmt.Errorf("no password: set %s (stdin is not a terminal to prompt on)", env)
	}
	fmt.Fprint(g.Stderr, prompt)
	b, err := term.ReadPassword(fd)
	fmt.Fprintln(g.Stderr)
	if err != nil {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	if len(b) == 0 {
		return "", errors.New("empty password")
	}
	return string(b), nil
}

// terminalFD returns the file descriptor of r if it is a terminal.
func terminalFD(r io.Reader) (int, bool) {
	f, ok := r.(*os.File)
	if !ok {
		return 0, false
	}
	fd := int(f.Fd())
	return fd, term.IsTerminal(fd)
}

// Package cli implements the termgate command line. Every subcommand is a thin
// layer over what the library packages export: if a command needs something,
// an SDK user needs it too, so it lives in a package, not here.
//
// Exit codes: 0 success, 1 the command ran and failed, 2 usage error (unknown
// command or flag, wrong arguments, a bad config file).
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"

	"github.com/termgate/termgate/internal/obs"
)

// Exit codes of the termgate binary.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// EnvPrefix prefixes the environment variable of every flag: --log-level is
// also read from TERMGATE_LOG_LEVEL.
const EnvPrefix = "TERMGATE_"

// Globals holds what every command shares: standard streams and global flags.
type Globals struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer

	LogLevel   string
	LogFormat  string
	ConfigFile string
}

// Logger returns the process logger, writing to Stderr.
func (g *Globals) Logger() zerolog.Logger {
	l, err := obs.NewLogger(g.Stderr, obs.LogConfig{Level: g.LogLevel, Format: obs.LogFormat(g.LogFormat)})
	if err != nil {
		return zerolog.New(g.Stderr).With().Timestamp().Logger()
	}
	return l
}

// UsageError is a command-line usage mistake; it makes the process exit 2.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// usagef returns a UsageError with a formatted message.
func usagef(format string, a ...any) error { return &UsageError{Err: fmt.Errorf(format, a...)} }

// ExitError carries an explicit exit code and a message already printed (or
// empty). Commands that print their own failure report return it.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}
func (e *ExitError) Unwrap() error { return e.Err }

// runFailure marks an error returned by a command's own RunE, as opposed to a
// parse error from cobra.
type runFailure struct{ err error }

func (e *runFailure) Error() string { return e.err.Error() }
func (e *runFailure) Unwrap() error { return e.err }

// ExitCode maps an error returned by Run to the process exit code.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	var ue *UsageError
	if errors.As(err, &ue) {
		return ExitUsage
	}
	var rf *runFailure
	if errors.As(err, &rf) {
		return ExitFailure
	}
	return ExitUsage // an error from cobra's own parsing
}

// commandFactories are the subcommands; each file registers its own in init.
var commandFactories []func(*Globals) *cobra.Command

func register(f func(*Globals) *cobra.Command) { commandFactories = append(commandFactories, f) }

// NewRoot builds the command tree.
func NewRoot(g *Globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "termgate",
		Short: "Security gateway for terminal-emulation sessions and FTP",
		Long: `termgate puts a security proxy in front of hosts reached by VT (telnet, SSH),
TN3270 and FTP. A management server decides who may reach which host:port and
proves it with a short-lived signed token; the proxy verifies the token and
relays the session; the client SDK drives the terminal from code.

Every flag can also be set with an environment variable TERMGATE_<FLAG> (dashes
become underscores: --log-level is TERMGATE_LOG_LEVEL) or as a key of the YAML
file given with --config. Precedence: flag, environment, config file, default.

Exit codes: 0 success, 1 failure, 2 usage error.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnvAndConfig(cmd, g); err != nil {
				return &UsageError{Err: err}
			}
			if _, err := obs.ParseLevel(g.LogLevel); err != nil {
				return &UsageError{Err: err}
			}
			return nil
		},
	}
	root.SetIn(g.Stdin)
	root.SetOut(g.Stdout)
	root.SetErr(g.Stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&g.LogLevel, "log-level", "info", "log level: trace, debug, info, warn, error or off")
	pf.StringVar(&g.LogFormat, "log-format", "", "log format: json or console (default: console on a terminal, else json)")
	pf.StringVar(&g.ConfigFile, "config", "", "YAML file whose keys are flag names (e.g. listen: 127.0.0.1:9443)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &UsageError{Err: err} })
	for _, f := range commandFactories {
		root.AddCommand(f(g))
	}
	wrapRunE(root)
	return root
}

// wrapRunE marks errors returned by command bodies so ExitCode can tell them
// from parse errors, and makes Args validation errors usage errors.
func wrapRunE(c *cobra.Command) {
	if c.HasParent() && c.HasSubCommands() && c.Run == nil && c.RunE == nil {
		// A group of commands: cobra would print its help and exit 0 for
		// "termgate mgmt user frobnicate"; an unknown subcommand is a usage error.
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q for %q", args[0], cmd.CommandPath())
			}
			return cmd.Help()
		}
	}
	if c.RunE != nil {
		inner := c.RunE
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if err := inner(cmd, args); err != nil {
				var ue *UsageError
				var ee *ExitError
				if errors.As(err, &ue) || errors.As(err, &ee) {
					return err
				}
				return &runFailure{err: err}
			}
			return nil
		}
	}
	if c.Args != nil {
		inner := c.Args
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := inner(cmd, args); err != nil {
				return &UsageError{Err: err}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		wrapRunE(sub)
	}
}

// Run executes the command line args and returns the error to report; it
// prints the error itself. Use ExitCode to turn it into an exit status.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	g := &Globals{Stdin: stdin, Stdout: stdout, Stderr: stderr}
	root := NewRoot(g)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err != nil {
		var ee *ExitError
		if !errors.As(err, &ee) || ee.Err != nil {
			fmt.Fprintf(stderr, "termgate: %v\n", err)
		}
		if ExitCode(err) == ExitUsage {
			fmt.Fprintln(stderr, "Run 'termgate --help' for usage.")
		}
	}
	return err
}

// applyEnvAndConfig fills every flag the user did not set on the command line
// from TERMGATE_<FLAG>, then from the --config YAML file.
func applyEnvAndConfig(cmd *cobra.Command, g *Globals) error {
	if g.ConfigFile == "" {
		g.ConfigFile = os.Getenv(EnvPrefix + "CONFIG")
	}
	var file map[string]any
	if g.ConfigFile != "" {
		b, err := os.ReadFile(g.ConfigFile)
		if err != nil {
			return fmt.Errorf("config file: %w", err)
		}
		if err := yaml.Unmarshal(b, &file); err != nil {
			return fmt.Errorf("config file %s: %w", g.ConfigFile, err)
		}
	}
	known := map[string]bool{}
	var errs []error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		known[f.Name] = true
		if f.Changed || f.Name == "config" || f.Name == "help" {
			return
		}
		env := EnvPrefix + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok {
			if err := setFlag(f, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", env, err))
			}
			return
		}
		if v, ok := file[f.Name]; ok {
			if err := setFlagValue(f, v); err != nil {
				errs = append(errs, fmt.Errorf("config key %q: %w", f.Name, err))
			}
		}
	})
	var unknown []string
	for k := range file {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		errs = append(errs, fmt.Errorf("config file %s: unknown keys for %q: %s", g.ConfigFile, cmd.CommandPath(), strings.Join(unknown, ", ")))
	}
	return errors.Join(errs...)
}

func setFlag(f *pflag.Flag, v string) error {
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		parts := strings.Split(v, ",")
		if v == "" {
			parts = nil
		}
		return sv.Replace(parts)
	}
	return f.Value.Set(v)
}

func setFlagValue(f *pflag.Flag, v any) error {
	if v == nil { // "key:" without a value: empty, never the text "<nil>"
		return setFlag(f, "")
	}
	if list, ok := v.([]any); ok {
		sv, ok := f.Value.(pflag.SliceValue)
		if !ok {
			return fmt.Errorf("a list is not valid for --%s", f.Name)
		}
		parts := make([]string, len(list))
		for i, x := range list {
			parts[i] = fmt.Sprint(x)
		}
		return sv.Replace(parts)
	}
	return setFlag(f, fmt.Sprint(v))
}

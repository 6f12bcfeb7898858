package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	"syscall"
	"text/tabwriter"

	"github.com/jlaffaye/ftp"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/termgate/termgate/emulator"
	"github.com/termgate/termgate/ftpchan"
)

// EnvFTPPassword holds the FTP password of `termgate ftp`.
const EnvFTPPassword = "TERMGATE_FTP_PASSWORD"

func init() { register(newFTPCmd) }

type ftpFlags struct {
	clientFlags
	ftpUser  string
	noDirect bool
}

func newFTPCmd(g *Globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ftp",
		Short: "Transfer files with an FTP session through the proxy",
		Long: `ftp opens an FTP session definition through the security proxy: the control,
data and notification connections are all tunnels through the proxy, which
checks every data connection against the session's ticket.

The FTP password comes from ` + EnvFTPPassword + `; without --ftp-user the login is
anonymous.

  TERMGATE_PASSWORD=... termgate ftp ls --mgmt https://127.0.0.1:8443 \
      --ca termgate-data/ca.pem --user admin --session files /pub`,
	}
	sub := func(use, short string, args cobra.PositionalArgs, run func(context.Context, *ftpchan.Client, *ftpFlags, []string) error) *cobra.Command {
		var f ftpFlags
		c := &cobra.Command{
			Use: use, Short: short, Args: args,
			RunE: func(cmd *cobra.Command, a []string) error {
				if err := f.check(); err != nil {
					return err
				}
				ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGHUP, syscall.SIGTERM, os.Interrupt)
				defer stop()
				fc, err := openFTP(ctx, g, &f)
				if err != nil {
					return err
				}
				defer fc.Close()
				return run(ctx, fc, &f, a)
			},
		}
		f.register(c)
		c.Flags().StringVar(&f.ftpUser, "ftp-user", "", "FTP user (password from "+EnvFTPPassword+"); anonymous if empty")
		c.Flags().BoolVar(&f.noDirect, "no-direct", false, "open data channels through the proxy address even when the proxy names its own node's address for them")
		return c
	}
	cmd.AddCommand(
		sub("ls [PATH]", "List a directory", cobra.MaximumNArgs(1), func(_ context.Context, c *ftpchan.Client, _ *ftpFlags, a []string) error {
			p := ""
			if len(a) == 1 {
				p = a[0]
			}
			entries, err := c.List(p)
			if err != nil {
				return fmt.Errorf("ls %s: %w", p, err)
			}
			tw := tabwriter.NewWriter(g.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
			for _, e := range entries {
				kind := "-"
				if e.Type == ftp.EntryTypeFolder {
					kind = "d"
				}
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t\n", kind, e.Size, e.Time.Format("2006-01-02 15:04"), e.Name)
			}
			return tw.Flush()
		}),
		getCmd(g, sub),
		sub("put LOCAL [REMOTE]", "Upload a file", cobra.RangeArgs(1, 2), func(_ context.Context, c *ftpchan.Client, _ *ftpFlags, a []string) error {
			local, remote := a[0], filepath.Base(a[0])
			if len(a) == 2 {
				remote = a[1]
			}
			f, err := os.Open(local)
			if err != nil {
				return err
			}
			defer f.Close()
			st, err := f.Stat()
			if err != nil {
				return err
			}
			var r io.Reader = f
			if bar := progress(g, st.Size(), "put "+remote); bar != nil {
				defer bar.Close()
				r = io.TeeReader(f, bar)
			}
			if err := c.Stor(remote, r); err != nil {
				return fmt.Errorf("put %s: %w", remote, err)
			}
			return nil
		}),
		sub("rm PATH...", "Delete files", cobra.MinimumNArgs(1), func(_ context.Context, c *ftpchan.Client, _ *ftpFlags, a []string) error {
			for _, p := range a {
				if err := c.Delete(p); err != nil {
					return fmt.Errorf("rm %s: %w", p, err)
				}
			}
			return nil
		}),
		sub("mkdir PATH...", "Create directories", cobra.MinimumNArgs(1), func(_ context.Context, c *ftpchan.Client, _ *ftpFlags, a []string) error {
			for _, p := range a {
				if err := c.MakeDir(p); err != nil {
					return fmt.Errorf("mkdir %s: %w", p, err)
				}
			}
			return nil
		}),
	)
	return cmd
}

type subFunc func(use, short string, args cobra.PositionalArgs, run func(context.Context, *ftpchan.Client, *ftpFlags, []string) error) *cobra.Command

func getCmd(g *Globals, sub subFunc) *cobra.Command {
	var resume *bool
	c := sub("get REMOTE [LOCAL]", "Download a file", cobra.RangeArgs(1, 2), func(_ context.Context, c *ftpchan.Client, _ *ftpFlags, a []string) error {
		remote, local := a[0], path.Base(a[0])
		if len(a) == 2 {
			local = a[1]
		}
		if local == "" || local == "." || local == "/" {
			return usagef("give a LOCAL file name for %q", remote)
		}
		flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
		var offset int64
		if *resume {
			if st, err := os.Stat(local); err == nil {
				offset = st.Size()
				flags = os.O_WRONLY | os.O_APPEND
			}
		}
		size, _ := c.FileSize(remote) // optional: only for the progress bar and resume check
		if *resume && size > 0 && offset == size {
			fmt.Fprintf(g.Stderr, "%s is complete (%d bytes)\n", local, size)
			return nil
		}
		if *resume && size > 0 && offset > size {
			return fmt.Errorf("get %s: local %s (%d bytes) is longer than the remote file (%d bytes): not resuming", remote, local, offset, size)
		}
		f, err := os.OpenFile(local, flags, 0o644)
		if err != nil {
			return err
		}
		r, err := c.RetrFrom(remote, uint64(offset))
		if err != nil {
			f.Close()
			return fmt.Errorf("get %s: %w", remote, err)
		}
		var w io.Writer = f
		if bar := progress(g, size, "get "+remote); bar != nil {
			defer bar.Close()
			bar.Set64(offset)
			w = io.MultiWriter(f, bar)
		}
		_, cerr := io.Copy(w, r)
		rerr := r.Close()
		ferr := f.Close()
		if err := errors.Join(cerr, rerr); err != nil {
			return fmt.Errorf("get %s: %w (run again with --resume to continue)", remote, err)
		}
		return ferr
	})
	resume = c.Flags().Bool("resume", false, "continue a partial download: append to LOCAL from its current size")
	return c
}

// progress returns a byte progress bar on stderr if it is a terminal.
func progress(g *Globals, total int64, desc string) *progressbar.ProgressBar {
	f, ok := g.Stderr.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	if total <= 0 {
		total = -1
	}
	return progressbar.NewOptions64(total, progressbar.OptionSetWriter(f), progressbar.OptionShowBytes(true),
		progressbar.OptionSetDescription(desc), progressbar.OptionThrottle(100_000_000), progressbar.OptionClearOnFinish())
}

// openFTP logs in, launches the session and opens the FTP client.
func openFTP(ctx context.Context, g *Globals, f *ftpFlags) (*ftpchan.Client, error) {
	c, err := f.client(ctx, g)
	if err != nil {
		return nil, err
	}
	l, err := c.Launch(ctx, f.session, emulator.LaunchOptions{})
	if err != nil {
		return nil, err
	}
	if l.Session.Protocol != "" && l.Session.Protocol != "ftp" {
		return nil, fmt.Errorf("session %s is a %s session, not ftp", f.session, l.Session.Protocol)
	}
	cfg := ftpchan.ClientConfig{User: f.ftpUser, Logger: g.Logger(), NoDirect: f.noDirect}
	if f.ftpUser != "" {
		pw, ok := os.LookupEnv(EnvFTPPassword)
		if !ok {
			if pw, err = password(g, EnvFTPPassword, fmt.Sprintf("FTP password for %s: ", f.ftpUser)); err != nil {
				return nil, err
			}
		}
		cfg.Password = pw
	}
	return ftpchan.Dial(ctx, l, cfg)
}

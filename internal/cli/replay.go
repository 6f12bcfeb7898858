package cli

import (
	"bufio"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/termgate/termgate/emulator/vt"
)

func init() { register(newReplayCmd) }

// newReplayCmd builds `termgate replay`: feed a recorded host stream through
// the VT emulator and print the final screen.
func newReplayCmd(g *Globals) *cobra.Command {
	var rows, cols int
	cmd := &cobra.Command{
		Use:   "replay [--rows R] [--cols C] FILE",
		Short: "Replay a recorded terminal stream and print the final screen",
		Long: `replay feeds FILE through termgate's VT100/VT220/xterm emulator and prints the
final screen: one line per row, trailing spaces trimmed, every row printed
(empty rows as empty lines).

FILE holds the raw bytes a host sent, or an asciicast v2 recording (detected
by a first line that is a JSON object with "version": 2), whose "o" events are
fed in order. "-" reads standard input. The screen is 24×80 unless --rows and
--cols say otherwise; for a recording they default to its header's size.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if rows < 0 || rows > 4096 || cols < 0 || cols > 4096 {
				return usagef("--rows and --cols must be between 1 and 4096")
			}
			var in io.Reader = g.Stdin
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return fmt.Errorf("replay: %w", err)
				}
				defer f.Close()
				in = f
			}
			s, err := vt.Replay(in, vt.Config{Rows: rows, Cols: cols})
			if err != nil {
				return fmt.Errorf("replay %s: %w", args[0], err)
			}
			w := bufio.NewWriter(g.Stdout)
			for _, l := range s.Rows() {
				w.WriteString(l)
				w.WriteByte('\n')
			}
			return w.Flush()
		},
	}
	cmd.Flags().IntVar(&rows, "rows", 0, "screen rows (default 24, or the recording's height)")
	cmd.Flags().IntVar(&cols, "cols", 0, "screen columns (default 80, or the recording's width)")
	return cmd
}

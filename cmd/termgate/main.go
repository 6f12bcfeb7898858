// Command termgate is the single binary of termgate: the management server, the
// security proxy, the all-in-one demo, and the client commands. See "termgate --help".
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/termgate/termgate/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(cli.ExitCode(err))
}

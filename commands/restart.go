package commands

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

func restartCommand(p *Program) *cli.Command {
	return &cli.Command{
		Name:      "restart",
		Usage:     "tell every worker of a connection to exit after its current job (queue:restart)",
		ArgsUsage: "[connection]",
		Flags:     []cli.Flag{connectionFlag()},
		Action: func(c *cli.Context) error {
			ctx, conn, done, err := openConnection(c, p, 0)
			if err != nil {
				return err
			}
			defer done()
			if err := conn.Restart(ctx); err != nil {
				return managerError(err)
			}
			fmt.Fprintln(p.Stdout, "Broadcasting queue restart signal.")
			return nil
		},
	}
}

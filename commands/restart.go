package commands

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/qctl/qctl/connectors"
)

func restartCommand(p *Program) *cli.Command {
	return &cli.Command{
		Name:      "restart",
		Usage:     "tell every worker of a connection to exit after its current job (queue:restart)",
		ArgsUsage: "[connection]",
		Action: func(c *cli.Context) error {
			_, conn, err := configAndConnection(c, c.Args().First())
			if err != nil {
				return err
			}
			ctx, cancel := stopSignals(p)
			defer cancel()
			q, err := openQueue(ctx, conn, nil)
			if err != nil {
				return err
			}
			defer q.Close()
			rs, ok := q.(connectors.Restarter)
			if !ok {
				return usageError("connection %q (%s) has no shared store for the restart signal", conn.Name, conn.Driver)
			}
			if _, err := connectors.BroadcastRestartAt(ctx, rs, time.Now()); err != nil {
				return fmt.Errorf("broadcasting the restart signal on %q: %w", conn.Name, err)
			}
			fmt.Fprintln(p.Stdout, "Broadcasting queue restart signal.")
			return nil
		},
	}
}

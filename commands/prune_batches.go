package commands

import (
	"context"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/qctl/qctl/laravel"
	"github.com/qctl/qctl/manager"
)

// pruneBatchesCommand is queue:prune-batches: delete finished batches older than --hours.
func pruneBatchesCommand(p *Program) *cli.Command {
	return &cli.Command{
		Name:  "prune-batches",
		Usage: "delete finished job batches older than --hours; for cron (queue:prune-batches)",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "hours", Value: 24, Usage: "delete batches that finished more than this many hours ago"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageError("prune-batches takes no arguments")
			}
			if c.Int("hours") < 0 {
				return usageError("--hours must not be negative")
			}
			return withBatches(c, p, func(ctx context.Context, _ *manager.Manager, repo *laravel.Batches) error {
				n, err := repo.Prune(ctx, time.Now().Add(-time.Duration(c.Int("hours"))*time.Hour))
				if err != nil {
					return err
				}
				fmt.Fprintf(p.Stdout, "%d entries deleted.\n", n)
				return nil
			})
		},
	}
}

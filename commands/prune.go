package commands

import (
	"context"
	"github.com/qctl/qctl/failed"
	"github.com/qctl/qctl/manager"
	"github.com/urfave/cli/v2"
)

// pruneFailedCommand is flush for cron: it never asks, and by default keeps the last day.
func pruneFailedCommand(p *Program) *cli.Command {
	return &cli.Command{
		Name:  "prune-failed",
		Usage: "delete failed jobs older than --hours, without asking; for cron (queue:prune-failed)",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "hours", Value: 24, Usage: "delete jobs that failed more than this many hours ago"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageError("prune-failed takes no arguments")
			}
			if c.Int("hours") < 1 {
				return usageError("--hours must be 1 or more (use `qctl flush` to delete every failed job)")
			}
			return withFailedStore(c, p, func(ctx context.Context, _ *manager.Manager, store *failed.Store) error {
				return flushOlder(ctx, p, store, c.Int("hours"))
			})
		},
	}
}

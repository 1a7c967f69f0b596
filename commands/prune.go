package commands

import (
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
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			ctx, cancel := stopSignals(p)
			defer cancel()
			store, err := openFailed(ctx, cfg)
			if err != nil {
				return err
			}
			defer store.Close()
			return flushOlder(ctx, p, store, c.Int("hours"))
		},
	}
}

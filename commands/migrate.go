package commands

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

func migrateCommand(p *Program) *cli.Command {
	return &cli.Command{
		Name:      "migrate",
		Usage:     "create the jobs, failed_jobs and job_batches tables that are missing (queue:table + migrate)",
		ArgsUsage: "[connection]",
		Flags:     []cli.Flag{connectionFlag()},
		Action: func(c *cli.Context) error {
			m, err := openManager(c, p)
			if err != nil {
				return err
			}
			name, err := connectionName(c, 0)
			if err != nil {
				return err
			}
			ctx, cancel := stopSignals(p)
			defer cancel()
			lines, err := m.Migrate(ctx, name)
			for _, l := range lines {
				fmt.Fprintln(p.Stdout, l)
			}
			if err != nil {
				return managerError(err)
			}
			if len(lines) == 0 {
				fmt.Fprintln(p.Stdout, "Nothing to migrate.")
			}
			return nil
		},
	}
}

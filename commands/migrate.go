package commands

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/qctl/qctl/config"
	"github.com/qctl/qctl/connectors/dbqueue"
	"github.com/qctl/qctl/internal/sqldb"
	"github.com/qctl/qctl/migrations"
)

func migrateCommand(p *Program) *cli.Command {
	return &cli.Command{
		Name:      "migrate",
		Usage:     "create the jobs, failed_jobs and job_batches tables that are missing (queue:table + migrate)",
		ArgsUsage: "[connection]",
		Action: func(c *cli.Context) error {
			cfg, conn, err := configAndConnection(c, c.Args().First())
			if err != nil {
				return err
			}
			ctx, cancel := stopSignals(p)
			defer cancel()
			type step struct {
				dialect, dsn string
				targets      []migrations.Target
			}
			var steps []step
			if conn.Driver == config.DriverDatabase {
				// The jobs table in the connection's format: Laravel's or think-queue's columns.
				o := dbqueue.Options{Table: conn.Table, Format: conn.Format}
				steps = append(steps, step{conn.Dialect, conn.DSN, o.Targets()})
			}
			if cfg.Failed.Driver == config.DriverDatabase {
				targets := []migrations.Target{failedTarget(cfg)}
				if cfg.Failed.UUIDs { // Laravel's job_batches, beside its failed_jobs
					targets = append(targets, migrations.Target{Kind: migrations.JobBatches, Table: cfg.Failed.BatchesTable})
				}
				steps = append(steps, step{cfg.Failed.Dialect, cfg.Failed.DSN, targets})
			}
			applied := 0
			for _, s := range steps {
				db, err := sqldb.Open(ctx, s.dialect, s.dsn)
				if err != nil {
					return err
				}
				lines, err := migrations.Apply(ctx, db, s.dialect, s.targets...)
				if sqlDB, e := db.DB(); e == nil {
					sqlDB.Close()
				}
				if err != nil {
					return fmt.Errorf("migrating the %s database: %w", s.dialect, err)
				}
				for _, l := range lines {
					fmt.Fprintln(p.Stdout, l)
				}
				applied += len(lines)
			}
			if applied == 0 {
				fmt.Fprintln(p.Stdout, "Nothing to migrate.")
			}
			return nil
		},
	}
}

package commands

import (
	"context"
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/qctl/qctl/failed"
	"github.com/qctl/qctl/laravel"
	"github.com/qctl/qctl/manager"
)

// retryBatchCommand is queue:retry-batch: retry every failed job of one batch.
func retryBatchCommand(p *Program) *cli.Command {
	return &cli.Command{
		Name:      "retry-batch",
		Usage:     "retry the failed jobs of a Laravel job batch (queue:retry-batch)",
		ArgsUsage: "<id>",
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageError("retry-batch takes one batch id")
			}
			var ids []string
			err := withBatches(c, p, func(ctx context.Context, _ *manager.Manager, repo *laravel.Batches) error {
				b, err := repo.Find(ctx, c.Args().First())
				if errors.Is(err, laravel.ErrBatchNotFound) {
					return withStatus(ExitError, fmt.Errorf("unable to find a batch with ID [%s]", c.Args().First()))
				}
				if err == nil && len(b.FailedJobIDs) == 0 {
					return withStatus(ExitError, errors.New("the given batch does not contain any failed jobs"))
				}
				if b != nil {
					ids = b.FailedJobIDs
				}
				return err
			})
			if err != nil {
				return err
			}
			return withFailedStore(c, p, func(ctx context.Context, m *manager.Manager, store *failed.Store) error {
				r := &retryOutput{p: p}
				res, err := m.Retry(ctx, store, manager.RetrySelection{IDs: ids}, r.progress())
				return r.finish(ctx, res, err)
			})
		},
	}
}

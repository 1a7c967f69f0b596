package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/qctl/qctl/laravel"
	"github.com/qctl/qctl/manager"
)

// batchesCommand lists Laravel's job batches (Bus::batch), newest first, or shows one.
func batchesCommand(p *Program) *cli.Command {
	return &cli.Command{
		Name:      "batches",
		Usage:     "list Laravel's job batches, newest first, or show one",
		ArgsUsage: "[id]",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "limit", Value: 50, Usage: "list at most this many batches"},
			&cli.BoolFlag{Name: "json", Usage: "one JSON object per batch"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 1 {
				return usageError("batches takes at most one batch id")
			}
			return withBatches(c, p, func(ctx context.Context, _ *manager.Manager, repo *laravel.Batches) error {
				var list []*laravel.Batch
				if id := c.Args().First(); id != "" {
					b, err := repo.Find(ctx, id)
					if errors.Is(err, laravel.ErrBatchNotFound) {
						return withStatus(ExitError, fmt.Errorf("unable to find a batch with ID [%s]", id))
					}
					if err != nil {
						return err
					}
					list = []*laravel.Batch{b}
				} else {
					var err error
					if list, err = repo.List(ctx, c.Int("limit")); err != nil {
						return err
					}
				}
				if c.Bool("json") {
					return printBatchesJSON(p, list)
				}
				if c.Args().First() != "" {
					printBatch(p, list[0])
					return nil
				}
				printBatchTable(p, list)
				return nil
			})
		},
	}
}

// withBatches runs fn with the job_batches table (beside the failed jobs) open and a context
// that the first TERM or INT cancels.
func withBatches(c *cli.Context, p *Program, fn func(ctx context.Context, m *manager.Manager, repo *laravel.Batches) error) error {
	m, err := openManager(c, p)
	if err != nil {
		return err
	}
	ctx, cancel := stopSignals(p)
	defer cancel()
	repo, err := m.OpenBatches(ctx)
	if err != nil {
		return managerError(err)
	}
	defer repo.Close()
	return fn(ctx, m, repo)
}

func batchState(b *laravel.Batch) string {
	switch {
	case b.Cancelled():
		return "cancelled"
	case b.Finished():
		return "finished"
	}
	return "pending"
}

func printBatchTable(p *Program, list []*laravel.Batch) {
	if len(list) == 0 {
		fmt.Fprintln(p.Stdout, "No batches found.")
		return
	}
	w := tabwriter.NewWriter(p.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tName\tTotal\tPending\tFailed\tState\tCreated At")
	for _, b := range list {
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%s\t%s\n", b.ID, b.Name, b.TotalJobs, b.PendingJobs, b.FailedJobs, batchState(b), b.CreatedAt.Format(time.DateTime))
	}
	w.Flush()
}

func printBatch(p *Program, b *laravel.Batch) {
	at := func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return t.Format(time.DateTime)
	}
	fmt.Fprintf(p.Stdout, "ID:          %s\nName:        %s\nState:       %s\nTotal:       %d\nPending:     %d\nProcessed:   %d\nFailed:      %d\nCreated At:  %s\nCancelled At: %s\nFinished At: %s\nFailed Jobs: %s\n",
		b.ID, b.Name, batchState(b), b.TotalJobs, b.PendingJobs, b.ProcessedJobs(), b.FailedJobs,
		b.CreatedAt.Format(time.DateTime), at(b.CancelledAt), at(b.FinishedAt), strings.Join(b.FailedJobIDs, ", "))
}

func printBatchesJSON(p *Program, list []*laravel.Batch) error {
	enc := json.NewEncoder(p.Stdout)
	for _, b := range list {
		if err := enc.Encode(map[string]any{
			"id": b.ID, "name": b.Name, "total_jobs": b.TotalJobs, "pending_jobs": b.PendingJobs,
			"processed_jobs": b.ProcessedJobs(), "failed_jobs": b.FailedJobs, "failed_job_ids": b.FailedJobIDs,
			"state": batchState(b), "created_at": b.CreatedAt.Unix(), "cancelled_at": unixOrNil(b.CancelledAt), "finished_at": unixOrNil(b.FinishedAt),
		}); err != nil {
			return err
		}
	}
	return nil
}

func unixOrNil(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.Unix()
}

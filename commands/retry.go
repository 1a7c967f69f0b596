package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/qctl/qctl/failed"
	"github.com/qctl/qctl/manager"
)

func retryCommand(p *Program) *cli.Command {
	return &cli.Command{
		Name:      "retry",
		Usage:     "push failed jobs back onto their connection and queue (queue:retry)",
		ArgsUsage: "<id...|all>",
		Description: "Each job goes back onto the connection and queue it failed on, with its attempts reset and\n" +
			"its uuid kept, and is then forgotten; a job whose push fails stays listed. A retry deadline\n" +
			"(retryUntil, think-queue's timeoutAt) that has passed is cleared, so the job runs again with\n" +
			"its tries (Laravel asks the PHP job for a new one, which qctl cannot). --queue, --job, --since,\n" +
			"--before and --range select jobs as `qctl failed` does, and add to the ids given.",
		Flags: append(filterFlags(),
			&cli.StringSliceFlag{Name: "range", Usage: "retry the jobs whose integer row id is in `FROM-TO` (see `failed --json` row_id; repeatable, or 1-5,9)"},
		),
		Action: func(c *cli.Context) error {
			var ids []string
			all := false
			for _, a := range c.Args().Slice() {
				if a == "all" {
					all = true
				} else {
					ids = append(ids, a)
				}
			}
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			filter, err := readFilter(c, time.Now().In(cfg.Timezone))
			if err != nil {
				return err
			}
			if filter.Ranges, err = parseRanges(c.StringSlice("range")); err != nil {
				return err
			}
			selects := all || filter.Queue != "" || filter.Job != "" || !filter.Since.IsZero() || !filter.Before.IsZero() || len(filter.Ranges) > 0
			if len(ids) == 0 && !selects {
				return usageError("retry takes failed job ids, `all`, or a selection (--queue, --job, --since, --before, --range)")
			}
			return withFailedStore(c, p, func(ctx context.Context, m *manager.Manager, store *failed.Store) error {
				r := &retryOutput{p: p}
				res, err := m.Retry(ctx, store, manager.RetrySelection{IDs: ids, All: selects, Filter: filter}, r.progress())
				return r.finish(ctx, res, err)
			})
		},
	}
}

// retryOutput prints what a retry does: Laravel's lines per job, a progress bar when there are
// more jobs than a terminal has rows, and a summary.
type retryOutput struct {
	p   *Program
	bar *progressBar // nil unless retrying more than a screenful on a terminal
}

func (r *retryOutput) progress() manager.RetryProgress {
	return manager.RetryProgress{
		NotFound: func(id string) { fmt.Fprintf(r.p.Stderr, "Unable to find failed job with ID [%s].\n", id) },
		Total:    r.startProgress,
		Batch: func(pushed []failed.Record, refused []manager.Refusal) {
			r.clearProgress()
			var out strings.Builder
			for _, rec := range pushed {
				fmt.Fprintf(&out, "The failed job [%s] has been pushed back onto the queue!\n", rec.ID)
			}
			io.WriteString(r.p.Stdout, out.String())
			for _, no := range refused {
				fmt.Fprintf(r.p.Stderr, "Failed job [%s] not retried: %v\n", no.Record.ID, no.Err)
			}
			if r.bar != nil {
				r.bar.add(len(pushed) + len(refused))
			}
		},
	}
}

// finish prints the summary. The exit status is 1 when any job was not found or not retried.
func (r *retryOutput) finish(ctx context.Context, res manager.RetryResult, err error) error {
	if r.bar != nil {
		r.bar.finish()
	}
	summary := fmt.Sprintf("%d retried, %d not retried", res.Retried, res.NotRetried)
	if res.NotFound > 0 {
		summary += fmt.Sprintf(", %d not found", res.NotFound)
	}
	fmt.Fprintln(r.p.Stdout, summary+".")
	switch {
	case err != nil && ctx.Err() != nil:
		return withStatus(ExitError, errors.New("retry interrupted: the jobs not yet retried are still listed"))
	case err != nil:
		return err
	case res.NotRetried > 0 || res.NotFound > 0:
		return withStatus(ExitError, fmt.Errorf("%d failed jobs were not retried and %d not found; they are still listed", res.NotRetried, res.NotFound))
	}
	return nil
}

// startProgress shows a progress bar on stderr when it is a terminal and there are more jobs than
// it has rows.
func (r *retryOutput) startProgress(total int64) {
	if !isTerminal(r.p.Stderr) {
		return
	}
	if _, rows := terminalSize(r.p.Stderr); total > int64(rows) {
		r.bar = newProgressBar(r.p.Stderr, total)
	}
}

// clearProgress takes the bar off the screen before lines are printed, when they share it.
func (r *retryOutput) clearProgress() {
	if r.bar != nil {
		r.bar.clear()
	}
}

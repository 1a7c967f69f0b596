package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
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
			&cli.StringSliceFlag{Name: "range", Usage: "retry the jobs whose failed-table row id (Row ID in failed show, row_id in failed --json) is in `FROM-TO` (repeatable, or 1-5,9)"},
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "a line per job even on a terminal, where many jobs get a progress bar instead"},
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
				r := &retryOutput{p: p, ctx: ctx, verbose: c.Bool("verbose")}
				res, err := m.Retry(ctx, store, manager.RetrySelection{IDs: ids, All: selects, Filter: filter}, r.progress())
				return r.finish(ctx, res, err)
			})
		},
	}
}

// retryOutput prints what a retry does: Laravel's line per job when piped (or with -v, or when
// they fit on the terminal), else a progress bar; then one summary line.
type retryOutput struct {
	p        *Program
	ctx      context.Context // the retry's: once cancelled, refusals are the interruption's
	verbose  bool
	lines    bool                     // print a line per job
	bar      *progressbar.ProgressBar // nil unless the lines are off on a terminal
	total    int64
	notFound []string
}

func (r *retryOutput) progress() manager.RetryProgress {
	return manager.RetryProgress{
		NotFound: func(id string) {
			r.notFound = append(r.notFound, id)
			fmt.Fprintf(r.p.Stderr, "Unable to find failed job with ID [%s].\n", id)
		},
		Total: r.start,
		Batch: func(pushed []failed.Record, refused []manager.Refusal) {
			if r.bar != nil {
				_ = r.bar.Add(len(pushed) + len(refused))
			}
			if r.lines {
				var out strings.Builder
				for _, rec := range pushed {
					fmt.Fprintf(&out, "The failed job [%s] has been pushed back onto the queue!\n", rec.ID)
				}
				io.WriteString(r.p.Stdout, out.String())
			}
			for _, no := range refused {
				if r.ctx.Err() != nil || errors.Is(no.Err, context.Canceled) {
					continue // interrupted: the summary says what stayed listed
				}
				if r.bar != nil {
					_ = r.bar.Clear()
				}
				fmt.Fprintf(r.p.Stderr, "Failed job [%s] not retried: %v\n", no.Record.ID, no.Err)
			}
		},
	}
}

// start decides how to show total jobs: their lines when piped, with -v, or when they fit on the
// terminal; a progress bar on stderr otherwise.
func (r *retryOutput) start(total int64) {
	r.total = total
	_, rows := terminalSize(r.p.Stdout)
	r.lines = r.verbose || !isTerminal(r.p.Stdout) || total <= int64(rows)
	if !r.lines && isTerminal(r.p.Stderr) {
		r.bar = newProgressBar(r.p.Stderr, total, "retrying")
	}
}

// finish prints the summary. Exit status: 130 when interrupted (what was not retried is still
// listed), 1 when a job was not found or not retried.
func (r *retryOutput) finish(ctx context.Context, res manager.RetryResult, err error) error {
	if r.bar != nil {
		_ = r.bar.Finish()
	}
	if err != nil && ctx.Err() != nil {
		left := max(r.total-int64(res.Retried), 0)
		fmt.Fprintf(r.p.Stdout, "Interrupted: %d failed %s moved back onto their queues; the other %d %s still listed.\n",
			res.Retried, plural(int64(res.Retried), "job", "jobs"), left, plural(left, "is", "are"))
		return withStatus(ExitInterrupted, errors.New(""))
	}
	summary := fmt.Sprintf("%d retried, %d not retried", res.Retried, res.NotRetried)
	if res.NotFound > 0 {
		summary += fmt.Sprintf(", %d not found", res.NotFound)
	}
	fmt.Fprintln(r.p.Stdout, summary+".")
	if err != nil {
		return err
	}
	var problems []string
	if res.NotRetried > 0 {
		problems = append(problems, fmt.Sprintf("%d failed %s could not be pushed back and %s still listed (reasons above)",
			res.NotRetried, plural(int64(res.NotRetried), "job", "jobs"), plural(int64(res.NotRetried), "is", "are")))
	}
	if res.NotFound > 0 {
		shown := r.notFound[:min(len(r.notFound), 5)]
		more := ""
		if len(r.notFound) > len(shown) {
			more = fmt.Sprintf(" and %d more", len(r.notFound)-len(shown))
		}
		problems = append(problems, fmt.Sprintf("no failed job has the %s %s%s (see `qctl failed`)",
			plural(int64(res.NotFound), "id", "ids"), strings.Join(shown, ", "), more))
	}
	if len(problems) > 0 {
		return withStatus(ExitError, errors.New(strings.Join(problems, "; ")))
	}
	return nil
}

package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/qctl/qctl/config"
	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/failed"
)

// retryBatch is how many failed jobs retry reads, pushes and forgets at a time: one page of the
// table, one bulk push per connection and queue in it, one DELETE.
const retryBatch = 1000

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
			return withFailedStore(c, p, func(ctx context.Context, cfg *config.Config, store *failed.Store) error {

				r := newRetrier(p, cfg, store)
				defer r.close()
				return r.run(ctx, ids, filter, selects)
			})
		},
	}
}

// retrier pushes failed jobs back, batch by batch, and keeps the tally. One goroutine uses it.
type retrier struct {
	p       *Program
	cfg     *config.Config
	store   *failed.Store
	queues  map[string]connectors.Queue // opened connections by name
	refused map[string]error            // connections that cannot take jobs, and why
	bar     *progressBar                // nil unless retrying more than a screenful on a terminal
	now     func() time.Time

	retried, notRetried, notFound int
}

func newRetrier(p *Program, cfg *config.Config, store *failed.Store) *retrier {
	return &retrier{p: p, cfg: cfg, store: store, queues: map[string]connectors.Queue{}, refused: map[string]error{}, now: time.Now}
}

func (r *retrier) close() {
	for _, q := range r.queues {
		q.Close()
	}
}

// run retries the jobs named by ids, then (when selects) every job filter matches, oldest first,
// and prints the summary. The exit status is 1 when any job was not found or not retried.
func (r *retrier) run(ctx context.Context, ids []string, filter failed.Filter, selects bool) error {
	var named []failed.Record
	seen := map[int64]bool{}
	for _, id := range ids {
		rec, err := r.store.Find(ctx, id)
		if errors.Is(err, failed.ErrNotFound) {
			fmt.Fprintf(r.p.Stderr, "Unable to find failed job with ID [%s].\n", id)
			r.notFound++
			continue
		}
		if err != nil {
			return err
		}
		if !seen[rec.RowID] {
			seen[rec.RowID] = true
			named = append(named, *rec)
		}
	}
	total := int64(len(named))
	if selects {
		n, err := r.store.Count(ctx, filter)
		if err != nil {
			return err
		}
		total += n
	}
	r.startProgress(total)

	var err error
	for start := 0; start < len(named) && err == nil; start += retryBatch {
		err = r.batch(ctx, named[start:min(start+retryBatch, len(named))])
	}
	for after := int64(0); selects && err == nil; {
		var page []failed.Record
		if page, err = r.store.Page(ctx, filter, after, retryBatch); err != nil || len(page) == 0 {
			break
		}
		after = page[len(page)-1].RowID
		fresh := page[:0]
		for _, rec := range page {
			if !seen[rec.RowID] {
				fresh = append(fresh, rec)
			}
		}
		err = r.batch(ctx, fresh)
	}
	if r.bar != nil {
		r.bar.finish()
	}
	summary := fmt.Sprintf("%d retried, %d not retried", r.retried, r.notRetried)
	if r.notFound > 0 {
		summary += fmt.Sprintf(", %d not found", r.notFound)
	}
	fmt.Fprintln(r.p.Stdout, summary+".")
	switch {
	case err != nil && ctx.Err() != nil:
		return withStatus(ExitError, errors.New("retry interrupted: the jobs not yet retried are still listed"))
	case err != nil:
		return err
	case r.notRetried > 0 || r.notFound > 0:
		return withStatus(ExitError, fmt.Errorf("%d failed jobs were not retried and %d not found; they are still listed", r.notRetried, r.notFound))
	}
	return nil
}

// batch pushes recs back, grouped by connection and queue, then forgets exactly the ones whose
// push succeeded. A push that fails leaves its records listed; a forget that fails after a good
// push stops the retry (the job is queued and still listed: retrying it again would run it twice).
func (r *retrier) batch(ctx context.Context, recs []failed.Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	type group struct {
		connection, queue string
		recs              []failed.Record
	}
	var groups []*group
	byKey := map[[2]string]*group{}
	for _, rec := range recs {
		k := [2]string{rec.Connection, rec.Queue}
		g := byKey[k]
		if g == nil {
			g = &group{connection: rec.Connection, queue: rec.Queue}
			byKey[k] = g
			groups = append(groups, g)
		}
		g.recs = append(g.recs, rec)
	}
	var pushed []failed.Record
	var refusals []string
	for _, g := range groups {
		ok, failures := r.push(ctx, g.connection, g.queue, g.recs)
		pushed = append(pushed, ok...)
		refusals = append(refusals, failures...)
	}
	var forgetErr error
	if len(pushed) > 0 {
		rowIDs := make([]int64, len(pushed))
		for i, rec := range pushed {
			rowIDs[i] = rec.RowID
		}
		// Not cancelled by a signal: jobs already pushed must not stay listed.
		_, forgetErr = r.store.ForgetN(context.WithoutCancel(ctx), rowIDs)
	}
	r.clearProgress()
	var out strings.Builder
	for _, rec := range pushed {
		fmt.Fprintf(&out, "The failed job [%s] has been pushed back onto the queue!\n", rec.ID)
	}
	io.WriteString(r.p.Stdout, out.String())
	for _, line := range refusals {
		fmt.Fprintln(r.p.Stderr, line)
	}
	r.retried += len(pushed)
	r.notRetried += len(recs) - len(pushed)
	if r.bar != nil {
		r.bar.add(len(recs))
	}
	if forgetErr != nil {
		return fmt.Errorf("%d jobs were pushed back but are still listed (forget them with `qctl forget`, or they run twice when retried again): %w", len(pushed), forgetErr)
	}
	return nil
}

// push puts recs (all of one connection and queue) back, in one bulk push where the connection
// supports it, and returns the records it pushed and a line for each it could not.
func (r *retrier) push(ctx context.Context, connection, queue string, recs []failed.Record) (pushed []failed.Record, refusals []string) {
	refuse := func(recs []failed.Record, err error) []string {
		for _, rec := range recs {
			refusals = append(refusals, fmt.Sprintf("Failed job [%s] not retried: %v", rec.ID, err))
		}
		return refusals
	}
	q, err := r.target(ctx, connection)
	if err != nil {
		return nil, refuse(recs, err)
	}
	now := r.now()
	payloads := make([][]byte, len(recs))
	for i, rec := range recs {
		payloads[i] = retryPayload(rec.Payload, now)
	}
	if bulk, ok := q.(connectors.BulkPusher); ok && len(recs) > 1 {
		// All or nothing on the database driver (one transaction). On Redis a failure part way
		// leaves some pushed and all listed: retrying them again runs those twice, but none is lost.
		if _, err := bulk.PushBulk(ctx, queue, payloads, 0); err != nil {
			return nil, refuse(recs, fmt.Errorf("pushing onto %s/%s: %w", connection, queue, err))
		}
		return recs, nil
	}
	for i, rec := range recs {
		if _, err := q.Push(ctx, queue, payloads[i], 0); err != nil {
			refuse(recs[i:i+1], fmt.Errorf("pushing onto %s/%s: %w", connection, queue, err))
			continue
		}
		pushed = append(pushed, rec)
	}
	return pushed, refusals
}

// target opens (once) the connection a job failed on. A connection no longer in the config, or
// one that keeps no queue (sync runs jobs in the pushing process, null discards them), is refused
// for its jobs alone.
func (r *retrier) target(ctx context.Context, name string) (connectors.Queue, error) {
	if q, ok := r.queues[name]; ok {
		return q, nil
	}
	if err, ok := r.refused[name]; ok {
		return nil, err
	}
	conn, err := r.cfg.Connection(name)
	switch {
	case err != nil || name == "":
		err = fmt.Errorf("its connection %q is not in the config (known: %s)", name, strings.Join(r.cfg.Names(), ", "))
	case conn.Driver == config.DriverSync || conn.Driver == config.DriverNull:
		err = fmt.Errorf("its connection %q uses the %s driver, which has no queue to push it back onto", name, conn.Driver)
	}
	if err == nil {
		var q connectors.Queue
		if q, err = openQueue(ctx, conn, nil); err == nil {
			r.queues[name] = q
			return q, nil
		}
	}
	r.refused[name] = err
	return nil, err
}

// startProgress shows a progress bar on stderr when it is a terminal and there are more jobs than
// it has rows.
func (r *retrier) startProgress(total int64) {
	if !isTerminal(r.p.Stderr) {
		return
	}
	if _, rows := terminalSize(r.p.Stderr); total > int64(rows) {
		r.bar = newProgressBar(r.p.Stderr, total)
	}
}

// clearProgress takes the bar off the screen before lines are printed, when they share it.
func (r *retrier) clearProgress() {
	if r.bar != nil {
		r.bar.clear()
	}
}

package manager

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/failed"
	"github.com/qctl/qctl/jobs"
)

// RetryBatch is how many failed jobs Retry reads, pushes and forgets at a time: one page of the
// table, one bulk push per connection and queue in it, one DELETE.
const RetryBatch = 1000

// RetrySelection names the failed jobs to retry: the IDs given, plus, with All, every job that
// Filter matches (an empty filter matches every job).
type RetrySelection struct {
	IDs    []string
	All    bool
	Filter failed.Filter
}

// Refusal is a failed job that Retry could not push back, and why; it stays listed.
type Refusal struct {
	Record failed.Record
	Err    error
}

// RetryProgress receives what Retry does as it goes; every field is optional.
type RetryProgress struct {
	// NotFound is called for each id of RetrySelection.IDs that is not in the store.
	NotFound func(id string)
	// Total is called once, before any job is pushed, with how many jobs will be tried.
	Total func(n int64)
	// Batch is called after each batch with the jobs pushed back (and forgotten) and refused.
	Batch func(pushed []failed.Record, refused []Refusal)
}

// RetryResult counts what Retry did.
type RetryResult struct {
	Retried, NotRetried, NotFound int
}

// Retry pushes the selected failed jobs back onto the connection and queue each failed on, with
// their attempts reset and their uuid kept (jobs.ForRetry), and forgets exactly those pushed. A job
// whose connection is gone or keeps no jobs, or whose push fails, stays listed and is counted as
// not retried. Cancelling ctx stops between batches; what was not yet retried stays listed.
func (m *Manager) Retry(ctx context.Context, store *failed.Store, sel RetrySelection, progress RetryProgress) (RetryResult, error) {
	r := &retrier{m: m, store: store, progress: progress, conns: map[string]*Conn{}, refused: map[string]error{}, now: time.Now}
	defer r.close()
	var named []failed.Record
	seen := map[int64]bool{}
	for _, id := range sel.IDs {
		rec, err := store.Find(ctx, id)
		if errors.Is(err, failed.ErrNotFound) {
			if progress.NotFound != nil {
				progress.NotFound(id)
			}
			r.NotFound++
			continue
		}
		if err != nil {
			return r.RetryResult, err
		}
		if !seen[rec.RowID] {
			seen[rec.RowID] = true
			named = append(named, *rec)
		}
	}
	total := int64(len(named))
	if sel.All {
		n, err := store.Count(ctx, sel.Filter)
		if err != nil {
			return r.RetryResult, err
		}
		total += n
	}
	if progress.Total != nil {
		progress.Total(total)
	}
	var err error
	for start := 0; start < len(named) && err == nil; start += RetryBatch {
		err = r.batch(ctx, named[start:min(start+RetryBatch, len(named))])
	}
	for after := int64(0); sel.All && err == nil; {
		var page []failed.Record
		if page, err = store.Page(ctx, sel.Filter, after, RetryBatch); err != nil || len(page) == 0 {
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
	return r.RetryResult, err
}

// retrier is one Retry call's state. One goroutine uses it.
type retrier struct {
	m        *Manager
	store    *failed.Store
	progress RetryProgress
	conns    map[string]*Conn // opened connections by name
	refused  map[string]error // connections that cannot take jobs, and why
	now      func() time.Time
	RetryResult
}

func (r *retrier) close() {
	for _, c := range r.conns {
		c.Close()
	}
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
	var pushed, forgotten []failed.Record
	var refused []Refusal
	for _, g := range groups {
		ok, no, done := r.push(ctx, g.connection, g.queue, g.recs)
		pushed = append(pushed, ok...)
		refused = append(refused, no...)
		if !done {
			forgotten = append(forgotten, ok...)
		}
	}
	var forgetErr error
	if len(forgotten) > 0 {
		rowIDs := make([]int64, len(forgotten))
		for i, rec := range forgotten {
			rowIDs[i] = rec.RowID
		}
		// Not cancelled by a signal: jobs already pushed must not stay listed.
		_, forgetErr = r.store.ForgetN(context.WithoutCancel(ctx), rowIDs)
	}
	if r.progress.Batch != nil {
		r.progress.Batch(pushed, refused)
	}
	r.Retried += len(pushed)
	r.NotRetried += len(recs) - len(pushed)
	if forgetErr != nil {
		return fmt.Errorf("%d jobs were pushed back but are still listed (forget them with `qctl forget`, or they run twice when retried again): %w", len(pushed), forgetErr)
	}
	return nil
}

// push puts recs (all of one connection and queue) back, in one bulk push where the connection
// supports it, and returns the records it pushed and those it could not. forgotten says the
// pushed records were also forgotten, in the push's own transaction: the queue shares the failed
// store's database, so a crash can never leave a job both queued and listed.
func (r *retrier) push(ctx context.Context, connection, queue string, recs []failed.Record) (pushed []failed.Record, refused []Refusal, forgotten bool) {
	refuse := func(recs []failed.Record, err error) {
		for _, rec := range recs {
			refused = append(refused, Refusal{Record: rec, Err: err})
		}
	}
	c, err := r.target(ctx, connection)
	if err != nil {
		refuse(recs, err)
		return nil, refused, false
	}
	now := r.now()
	payloads := make([][]byte, len(recs))
	rowIDs := make([]int64, len(recs))
	for i, rec := range recs {
		payloads[i] = jobs.ForRetry(rec.Payload, now)
		rowIDs[i] = rec.RowID
	}
	if tx, ok := c.Backend.(connectors.TxPusher); ok && tx.SharesDatabase(r.store.Database()) {
		query, args := r.store.ForgetStatement(rowIDs)
		_, err := tx.PushBulkWith(ctx, queue, payloads, 0, connectors.Statement{SQL: query, Args: args, Expect: int64(len(recs))})
		if errors.Is(err, connectors.ErrConflict) {
			err = errors.New("another retry took some of these jobs at the same time; nothing of this batch was pushed")
		}
		if err != nil {
			refuse(recs, fmt.Errorf("pushing onto %s/%s: %w", connection, queue, err))
			return nil, refused, false
		}
		return recs, nil, true
	}
	if once, ok := c.Backend.(connectors.OncePusher); ok {
		// Each failure is pushed once however often the retry is repeated: a job already
		// pushed by a retry that died before forgetting it is skipped and now forgotten.
		tokens := make([]string, len(recs))
		for i, rec := range recs {
			tokens[i] = RetryToken(rec)
		}
		ids, err := once.PushOnce(ctx, queue, payloads, tokens)
		if err != nil {
			refuse(recs[len(ids):], fmt.Errorf("pushing onto %s/%s: %w", connection, queue, err))
			return recs[:len(ids)], refused, false
		}
		return recs, nil, false
	}
	// Elsewhere a bulk push stores all or nothing, and one at a time stops at the first failure:
	// the ids returned are those stored, and only those records are forgotten.
	ids, err := c.PushRaw(ctx, queue, payloads, 0, nil)
	if err != nil {
		refuse(recs[len(ids):], fmt.Errorf("pushing onto %s/%s: %w", connection, queue, err))
		return recs[:len(ids)], refused, false
	}
	return recs, nil, false
}

// RetryToken names one failure of a job for connectors.OncePusher: a job that fails again after
// its retry is a new failure (a new row), which a later retry must push again.
func RetryToken(rec failed.Record) string {
	return fmt.Sprintf("%s:%d:%d", rec.ID, rec.RowID, rec.FailedAt.Unix())
}

// target opens (once) the connection a job failed on. A connection no longer in the config, or
// one that keeps no queue (sync runs jobs in the pushing process, null discards them), is refused
// for its jobs alone.
func (r *retrier) target(ctx context.Context, name string) (*Conn, error) {
	if c, ok := r.conns[name]; ok {
		return c, nil
	}
	if err, ok := r.refused[name]; ok {
		return nil, err
	}
	conn, err := r.m.cfg.Connection(name)
	var c *Conn
	switch {
	case err != nil || name == "":
		err = fmt.Errorf("its connection %q is not in the config (known: %s)", name, strings.Join(r.m.cfg.Names(), ", "))
	default:
		if c, err = r.m.Open(ctx, name); err == nil && !c.KeepsJobs() {
			c.Close()
			err = fmt.Errorf("its connection %q uses the %s driver, which has no queue to push it back onto", name, conn.Driver)
		}
	}
	if err != nil {
		r.refused[name] = err
		return nil, err
	}
	r.conns[name] = c
	return c, nil
}

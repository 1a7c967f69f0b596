package laravel

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/qctl/qctl/internal/sqldb"
)

// ErrBatchNotFound is returned by Batches.Find for an id with no row.
var ErrBatchNotFound = errors.New("no batch with that id")

// Batch is one row of Laravel's job_batches table, as Illuminate\Bus\Batch reads it.
type Batch struct {
	ID           string
	Name         string
	TotalJobs    int
	PendingJobs  int
	FailedJobs   int
	FailedJobIDs []string
	CreatedAt    time.Time
	CancelledAt  *time.Time
	FinishedAt   *time.Time
	// options is PHP's serialize() of PendingBatch's options (base64 on PostgreSQL): the
	// allowFailures flag, and the then, catch and finally closures only PHP can run.
	options string
}

// Cancelled reports whether the batch was cancelled.
func (b *Batch) Cancelled() bool { return b.CancelledAt != nil }

// Finished reports whether the batch has finished.
func (b *Batch) Finished() bool { return b.FinishedAt != nil }

// ProcessedJobs is Batch::processedJobs: the jobs that ran and did not fail.
func (b *Batch) ProcessedJobs() int { return b.TotalJobs - b.PendingJobs }

// AllowsFailures is Batch::allowsFailures: PendingBatch::allowFailures() set options.allowFailures.
func (b *Batch) AllowsFailures() bool {
	return strings.Contains(b.optionsText(), `s:13:"allowFailures";b:1;`)
}

// HasCallbacks reports whether options holds PHP callbacks under key (then, catch or finally).
func (b *Batch) HasCallbacks(key string) bool {
	text := b.optionsText()
	prefix := fmt.Sprintf(`s:%d:"%s";a:`, len(key), key)
	at := strings.Index(text, prefix)
	return at >= 0 && !strings.HasPrefix(text[at+len(prefix):], "0:")
}

// optionsText undoes the base64 DatabaseBatchRepository::serialize adds on PostgreSQL.
func (b *Batch) optionsText() string {
	if !strings.ContainsAny(b.options, ":;") {
		if raw, err := base64.StdEncoding.DecodeString(b.options); err == nil {
			return string(raw)
		}
	}
	return b.options
}

// Batches is Laravel's DatabaseBatchRepository over the job_batches table: the counts change in
// a transaction that locks the row (SELECT ... FOR UPDATE; SQLite's write lock), so PHP and qctl
// workers finishing jobs of one batch at once never lose an update.
type Batches struct {
	db      *sql.DB
	dialect string
	table   string
	now     func() time.Time
}

// CheckBatchesTable checks the name of a job_batches table ("" for "job_batches") without
// connecting, for a worker that opens the table only when a batched job comes.
func CheckBatchesTable(table string) error {
	if table == "" {
		return nil
	}
	if err := sqldb.CheckTable(table); err != nil {
		return fmt.Errorf("batches_table: %w", err)
	}
	return nil
}

// OpenBatches connects to the database of the job_batches table called table ("" for
// "job_batches"). Close closes it.
func OpenBatches(ctx context.Context, dialect, dsn, table string) (*Batches, error) {
	if table == "" {
		table = "job_batches"
	}
	if err := CheckBatchesTable(table); err != nil {
		return nil, err
	}
	gdb, err := sqldb.Open(ctx, dialect, dsn)
	if err != nil {
		return nil, fmt.Errorf("job batches: %w", err)
	}
	db, err := gdb.DB()
	if err != nil {
		return nil, fmt.Errorf("job batches: %w", err)
	}
	return &Batches{db: db, dialect: dialect, table: table, now: time.Now}, nil
}

// Close closes the database.
func (r *Batches) Close() error { return r.db.Close() }

// Table is the table's name.
func (r *Batches) Table() string { return r.table }

func (r *Batches) sql(text string) string {
	return sqldb.Placeholders(r.dialect, strings.ReplaceAll(text, "{table}", sqldb.Quote(r.dialect, r.table)))
}

const batchColumns = "id, name, total_jobs, pending_jobs, failed_jobs, failed_job_ids, options, created_at, cancelled_at, finished_at"

type rowScanner interface{ Scan(dest ...any) error }

func scanBatch(row rowScanner) (*Batch, error) {
	var (
		b                     Batch
		ids                   string
		options               sql.NullString
		created               int64
		cancelled, finishedAt sql.NullInt64
	)
	if err := row.Scan(&b.ID, &b.Name, &b.TotalJobs, &b.PendingJobs, &b.FailedJobs, &ids, &options, &created, &cancelled, &finishedAt); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(ids), &b.FailedJobIDs); err != nil {
		return nil, fmt.Errorf("batch %s: failed_job_ids is not a JSON list: %w", b.ID, err)
	}
	b.options, b.CreatedAt = options.String, time.Unix(created, 0)
	if cancelled.Valid {
		t := time.Unix(cancelled.Int64, 0)
		b.CancelledAt = &t
	}
	if finishedAt.Valid {
		t := time.Unix(finishedAt.Int64, 0)
		b.FinishedAt = &t
	}
	return &b, nil
}

// Find returns the batch with id, or an error wrapping ErrBatchNotFound.
func (r *Batches) Find(ctx context.Context, id string) (*Batch, error) {
	b, err := scanBatch(r.db.QueryRowContext(ctx, r.sql("SELECT "+batchColumns+" FROM {table} WHERE id = ?"), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("batch %s: %w", id, ErrBatchNotFound)
	}
	return b, err
}

// List returns up to limit batches, newest first (DatabaseBatchRepository::get; ids are
// ordered uuids, so they sort by creation).
func (r *Batches) List(ctx context.Context, limit int) ([]*Batch, error) {
	rows, err := r.db.QueryContext(ctx, r.sql("SELECT "+batchColumns+" FROM {table} ORDER BY id DESC LIMIT ?"), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Batch
	for rows.Next() {
		b, err := scanBatch(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// counts are the values updateAtomicValues writes back.
type counts struct {
	pending, failed int
	ids             []string
}

// update is DatabaseBatchRepository::updateAtomicValues: read the row under a lock, change its
// counts with fn, write them, in one transaction. A missing row changes nothing (ok false).
func (r *Batches) update(ctx context.Context, id string, fn func(*counts)) (c counts, ok bool, err error) {
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return c, false, err
	}
	defer tx.Rollback()
	lock := " FOR UPDATE"
	if r.dialect == sqldb.SQLite {
		lock = "" // SQLite locks the database for the write below; it has no row locks
	}
	var ids string
	err = tx.QueryRowContext(ctx, r.sql("SELECT pending_jobs, failed_jobs, failed_job_ids FROM {table} WHERE id = ?"+lock), id).Scan(&c.pending, &c.failed, &ids)
	if errors.Is(err, sql.ErrNoRows) {
		return c, false, nil
	}
	if err != nil {
		return c, false, err
	}
	if err := json.Unmarshal([]byte(ids), &c.ids); err != nil {
		return c, false, fmt.Errorf("batch %s: failed_job_ids is not a JSON list: %w", id, err)
	}
	fn(&c)
	if c.ids == nil {
		c.ids = []string{}
	}
	idsJSON, _ := json.Marshal(c.ids)
	if _, err := tx.ExecContext(ctx, r.sql("UPDATE {table} SET pending_jobs = ?, failed_jobs = ?, failed_job_ids = ? WHERE id = ?"), c.pending, c.failed, string(idsJSON), id); err != nil {
		return c, false, err
	}
	return c, true, tx.Commit()
}

// recordSuccess is Batch::recordSuccessfulJob's part that is not PHP code: decrement
// pending_jobs, drop the job's uuid from failed_job_ids (a retried job), and mark the batch
// finished when none is pending. It returns what the callbacks would have been given.
func (r *Batches) recordSuccess(ctx context.Context, id, uuid string) (c counts, ok bool, err error) {
	c, ok, err = r.update(ctx, id, func(c *counts) {
		c.pending--
		kept := c.ids[:0]
		for _, x := range c.ids {
			if x != uuid {
				kept = append(kept, x)
			}
		}
		c.ids = kept
	})
	if err == nil && ok && c.pending == 0 {
		err = r.markFinished(ctx, id)
	}
	return c, ok, err
}

// recordFailure is Batch::recordFailedJob's part that is not PHP code: count the failure, add
// the job's uuid to failed_job_ids once, and cancel the batch at its first failure unless it
// allows failures.
func (r *Batches) recordFailure(ctx context.Context, b *Batch, uuid string) (c counts, err error) {
	c, ok, err := r.update(ctx, b.ID, func(c *counts) {
		c.failed++
		for _, x := range c.ids {
			if x == uuid {
				return
			}
		}
		c.ids = append(c.ids, uuid)
	})
	if err == nil && ok && c.failed == 1 && !b.AllowsFailures() {
		err = r.Cancel(ctx, b.ID)
	}
	return c, err
}

func (r *Batches) markFinished(ctx context.Context, id string) error {
	_, err := r.db.ExecContext(ctx, r.sql("UPDATE {table} SET finished_at = ? WHERE id = ?"), r.now().Unix(), id)
	return err
}

// Cancel is DatabaseBatchRepository::cancel: cancelled_at and finished_at set to now.
func (r *Batches) Cancel(ctx context.Context, id string) error {
	now := r.now().Unix()
	_, err := r.db.ExecContext(ctx, r.sql("UPDATE {table} SET cancelled_at = ?, finished_at = ? WHERE id = ?"), now, now, id)
	return err
}

// Prune is DatabaseBatchRepository::prune (`queue:prune-batches`): it deletes the batches that
// finished before before and returns how many.
func (r *Batches) Prune(ctx context.Context, before time.Time) (int64, error) {
	res, err := r.db.ExecContext(ctx, r.sql("DELETE FROM {table} WHERE finished_at IS NOT NULL AND finished_at < ?"), before.Unix())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

package dbqueue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/internal/sqldb"
)

// Delete removes a reserved job's row by id, as Laravel does. It returns an error wrapping
// connectors.ErrLeaseLost when the row is already gone.
func (q *Queue) Delete(ctx context.Context, job *connectors.Reserved) error {
	id, err := parseID(job)
	if err != nil {
		return q.fail("delete", err)
	}
	var res sql.Result
	err = q.retryDeadlock(func() (err error) {
		res, err = q.db.ExecContext(ctx, q.sql.deleteOne, id)
		return err
	})
	if err != nil {
		return q.fail("delete", err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return q.fail("delete", fmt.Errorf("job %d: %w", id, connectors.ErrLeaseLost))
	}
	return nil
}

// DeleteN deletes the rows of jobs in one statement; rows already gone are skipped.
func (q *Queue) DeleteN(ctx context.Context, jobs []*connectors.Reserved) error {
	if len(jobs) == 0 {
		return nil
	}
	ids := make([]int64, len(jobs))
	for i, j := range jobs {
		id, err := parseID(j)
		if err != nil {
			return q.fail("delete", err)
		}
		ids[i] = id
	}
	var err error
	if q.dialect == sqldb.Postgres {
		_, err = q.db.ExecContext(ctx, q.sql.deleteMany, ids)
	} else {
		args := make([]any, len(ids))
		for i, id := range ids {
			args[i] = id
		}
		query := inList(q.sql.deleteMany, len(ids))
		err = q.retryDeadlock(func() error {
			_, err := q.db.ExecContext(ctx, query, args...)
			return err
		})
	}
	if err != nil {
		return q.fail("delete", err)
	}
	return nil
}

// Release makes a reserved job ready again at now+delay the way Laravel does: its row is deleted
// and inserted anew with the same queue, payload and attempts, atomically, so the job gets a new
// id. When the row is already gone nothing is inserted and the error wraps ErrLeaseLost.
func (q *Queue) Release(ctx context.Context, job *connectors.Reserved, delay time.Duration) error {
	id, err := parseID(job)
	if err != nil {
		return q.fail("release", err)
	}
	now := q.unix()
	available := now + ceilSeconds(delay)
	if q.dialect == sqldb.Postgres {
		var newID int64
		err = q.db.QueryRowContext(ctx, q.sql.releasePG, id, available, now).Scan(&newID)
		if errors.Is(err, sql.ErrNoRows) {
			err = fmt.Errorf("job %d: %w", id, connectors.ErrLeaseLost)
		}
	} else {
		err = q.retryDeadlock(func() error { return q.releaseCopy(ctx, id, available, now) })
	}
	if err != nil {
		return q.fail("release", err)
	}
	q.pushed(job.Queue, available, now)
	return nil
}

// releaseCopy is Release for SQLite and MySQL: copy the row to a new id, then delete the old one,
// in one transaction.
func (q *Queue) releaseCopy(ctx context.Context, id, available, now int64) (err error) {
	tx, err := q.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	res, err := tx.ExecContext(ctx, q.sql.releaseCopy, available, now, id)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return fmt.Errorf("job %d: %w", id, connectors.ErrLeaseLost)
	}
	if _, err = tx.ExecContext(ctx, q.sql.deleteOne, id); err != nil {
		return err
	}
	return tx.Commit()
}

// Extend makes job's reservation end lease from now, by moving reserved_at to
// now + lease - retry_after (the row's lease ends at reserved_at + retry_after, the rule PHP
// workers apply too). It returns an error wrapping ErrLeaseLost when the reservation is gone:
// the row was deleted or released, or its lease lapsed and another pop reserved it again (which
// counted an attempt, so the row's attempts no longer match the reservation's).
//
// Extend only reads job, so it may run in a goroutine other than the one that popped the job and
// at the same time as reads of it; it must not race a Delete or Release of the same job, which
// the worker guarantees by stopping its lease keeper first.
func (q *Queue) Extend(ctx context.Context, job *connectors.Reserved, lease time.Duration) error {
	id, err := parseID(job)
	if err != nil {
		return q.fail("extend", err)
	}
	attempts, err := strconv.Atoi(job.Receipt)
	if err != nil {
		return q.fail("extend", fmt.Errorf("job %d: receipt %q is not from this connector", id, job.Receipt))
	}
	reservedAt := max(q.unix()+ceilSeconds(lease)-q.retryAfter, 0)
	if q.retryAfter == 0 {
		// Reservations never lapse; touching reserved_at just confirms the reservation.
		reservedAt = q.unix()
	}
	res, err := q.db.ExecContext(ctx, q.sql.extend, reservedAt, id, attempts)
	if err != nil {
		return q.fail("extend", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return q.fail("extend", err)
	}
	if n == 0 {
		return q.fail("extend", fmt.Errorf("job %d (attempt %d): %w", id, attempts, connectors.ErrLeaseLost))
	}
	return nil
}

package dbqueue

import (
	"context"
	"database/sql"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/internal/sqldb"
)

// Pop reserves the oldest available job of queue, or returns nil, nil when there is none.
func (q *Queue) Pop(ctx context.Context, queue string) (*connectors.Reserved, error) {
	jobs, err := q.reserve(ctx, "pop", queue, 1)
	if err != nil || len(jobs) == 0 {
		return nil, err
	}
	return jobs[0], nil
}

// PopN reserves up to n available jobs of queue, oldest first, in one statement (PostgreSQL,
// SQLite) or one transaction (MySQL).
func (q *Queue) PopN(ctx context.Context, queue string, n int) ([]*connectors.Reserved, error) {
	if n <= 0 {
		return nil, nil
	}
	return q.reserve(ctx, "pop", queue, n)
}

// reserveArgs returns the pop statement's arguments in the order its dialect's text wants.
func (q *Queue) reserveArgs(now int64, queue string, n int) []any {
	lapsed := now - q.retryAfter
	switch {
	case q.dialect == sqldb.MySQL && q.retryAfter > 0:
		return []any{queue, now, lapsed, n}
	case q.dialect == sqldb.MySQL:
		return []any{queue, now, n}
	case q.retryAfter > 0:
		return []any{now, queue, lapsed, n}
	default:
		return []any{now, queue, n}
	}
}

func (q *Queue) reserve(ctx context.Context, op, queue string, n int) ([]*connectors.Reserved, error) {
	q.wake.popping(queue)
	now := q.unix()
	var (
		jobs []*connectors.Reserved
		err  error
	)
	if q.dialect == sqldb.MySQL {
		err = q.retryDeadlock(func() (err error) {
			jobs, err = q.reserveMySQL(ctx, now, queue, n)
			return err
		})
	} else {
		jobs, err = q.reserveReturning(ctx, now, queue, n)
	}
	if err != nil {
		return nil, q.fail(op, err)
	}
	if len(jobs) > 0 && q.dialect != sqldb.Postgres {
		q.wake.worked(time.Now())
	}
	for _, j := range jobs {
		j.Queue = queue
		// The reservation is this (id, attempts) pair: every pop of the row, by qctl or PHP,
		// counts an attempt, so Extend can tell its own reservation from a later one.
		j.Receipt = strconv.Itoa(j.Attempts)
	}
	return jobs, nil
}

// reserveReturning runs the one-statement UPDATE … RETURNING pop and puts the jobs in id order,
// which RETURNING does not promise.
func (q *Queue) reserveReturning(ctx context.Context, now int64, queue string, n int) ([]*connectors.Reserved, error) {
	rows, err := q.db.QueryContext(ctx, q.sql.pop, q.reserveArgs(now, queue, n)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	jobs := make([]*connectors.Reserved, 0, min(n, 64))
	for rows.Next() {
		var (
			id  int64
			due sql.NullInt64
			j   connectors.Reserved
		)
		if err := rows.Scan(&id, &j.Payload, &j.Attempts, &due); err != nil {
			return nil, err
		}
		j.ID = strconv.FormatInt(id, 10)
		j.ReadyAt = readyAt(due)
		jobs = append(jobs, &j)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	slices.SortFunc(jobs, byID)
	return jobs, nil
}

// reserveMySQL pops in one transaction: SELECT … FOR UPDATE SKIP LOCKED, then UPDATE the rows it
// locked. The transaction is run as statements on one connection rather than as a sql.Tx, whose
// COMMIT takes no context: a server that stopped answering would hold a COMMIT (and the worker's
// fetch) past the pop's deadline, until the connection's read timeout. Every statement here is
// cut off by ctx, which closes the connection; a COMMIT the server still reads after that may
// commit a reservation nobody received, and the job then waits out its lease, as after a crash.
func (q *Queue) reserveMySQL(ctx context.Context, now int64, queue string, n int) (jobs []*connectors.Reserved, err error) {
	conn, err := q.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close() // a connection ctx cut off is closed, and the pool drops it
	if _, err = conn.ExecContext(ctx, "START TRANSACTION"); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			rollbackCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
			defer cancel()
			_, _ = conn.ExecContext(rollbackCtx, "ROLLBACK")
		}
	}()
	rows, err := conn.QueryContext(ctx, q.sql.pop, q.reserveArgs(now, queue, n)...)
	if err != nil {
		return nil, err
	}
	args := []any{now}
	for rows.Next() {
		var (
			id  int64
			due sql.NullInt64
			j   connectors.Reserved
		)
		if err = rows.Scan(&id, &j.Payload, &j.Attempts, &due); err != nil {
			rows.Close()
			return nil, err
		}
		j.ID = strconv.FormatInt(id, 10)
		j.ReadyAt = readyAt(due)
		j.Attempts++
		jobs = append(jobs, &j)
		args = append(args, id)
	}
	rows.Close()
	if err = rows.Err(); err != nil {
		return nil, err
	}
	if len(jobs) == 0 {
		_, err = conn.ExecContext(ctx, "ROLLBACK")
		return nil, err
	}
	if _, err = conn.ExecContext(ctx, inList(q.sql.reservePrefix, len(jobs)), args...); err != nil {
		return nil, err
	}
	if _, err = conn.ExecContext(ctx, "COMMIT"); err != nil {
		return nil, err
	}
	return jobs, nil
}

// rollbackTimeout bounds the ROLLBACK after a failed pop, which runs even when the pop's own
// context has ended.
const rollbackTimeout = 5 * time.Second

// byID orders reservations by row id. IDs are decimal without leading zeros, so a shorter one is
// smaller, and equal lengths compare as strings.
func byID(a, b *connectors.Reserved) int {
	if len(a.ID) != len(b.ID) {
		return len(a.ID) - len(b.ID)
	}
	return strings.Compare(a.ID, b.ID)
}

// readyAt is a popped row's due time (its available_at), for Reserved.ReadyAt.
func readyAt(due sql.NullInt64) time.Time {
	if !due.Valid || due.Int64 <= 0 {
		return time.Time{}
	}
	return time.Unix(due.Int64, 0)
}

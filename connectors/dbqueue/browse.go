package dbqueue

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"

	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/internal/sqldb"
)

var _ connectors.Browser = (*Queue)(nil)

// stateCond is the WHERE condition that keeps a state's rows, with its arguments, by the same
// rules as QueueStats: a reservation older than retry_after counts as ready.
func (q *Queue) stateCond(state connectors.JobState) (string, []any, error) {
	now := q.unix()
	lapsed := int64(-1)
	if q.retryAfter > 0 {
		lapsed = now - q.retryAfter
	}
	r, a := q.cols.reserved, q.cols.available
	switch state {
	case connectors.StateReady:
		return "((" + r + " IS NULL AND " + a + " <= ?) OR " + r + " <= ?)", []any{now, lapsed}, nil
	case connectors.StateDelayed:
		return r + " IS NULL AND " + a + " > ?", []any{now}, nil
	case connectors.StateReserved:
		return r + " > ?", []any{lapsed}, nil
	}
	return "", nil, fmt.Errorf("dbqueue: unknown job state %q", state)
}

// Browse lists a page of queue's jobs in state, by id (the pop order); the cursor is the last
// id listed. The queue index (queue, id) finds the page, so a page costs the same near the head
// of a million-job queue as of a short one.
func (q *Queue) Browse(ctx context.Context, queue string, state connectors.JobState, cursor string, n int) ([]connectors.BrowsedJob, string, error) {
	cond, args, err := q.stateCond(state)
	if err != nil {
		return nil, "", err
	}
	after := int64(0)
	if cursor != "" {
		if after, err = strconv.ParseInt(cursor, 10, 64); err != nil {
			return nil, "", fmt.Errorf("dbqueue: cursor %q is not a row id", cursor)
		}
	}
	text := "SELECT id, payload, attempts, " + q.cols.reserved + ", " + q.cols.available + " FROM " + sqldb.Quote(q.dialect, q.table) +
		" WHERE queue = ? AND " + cond + " AND id > ? ORDER BY id LIMIT " + strconv.Itoa(n)
	rows, err := q.db.QueryContext(ctx, sqldb.Placeholders(q.dialect, text), append(append([]any{queue}, args...), after)...)
	if err != nil {
		return nil, "", q.fail("browse", err)
	}
	defer rows.Close()
	var list []connectors.BrowsedJob
	var last int64
	for rows.Next() {
		var (
			j         connectors.BrowsedJob
			payload   string
			reserved  sql.NullInt64
			available int64
		)
		if err := rows.Scan(&last, &payload, &j.Attempts, &reserved, &available); err != nil {
			return nil, "", q.fail("browse", err)
		}
		j.ID, j.Ref, j.Payload = strconv.FormatInt(last, 10), strconv.FormatInt(last, 10), []byte(payload)
		j.Available = time.Unix(available, 0)
		if state == connectors.StateReserved && q.retryAfter > 0 {
			j.Available = time.Unix(reserved.Int64+q.retryAfter, 0)
		} else if state == connectors.StateReserved {
			j.Available = time.Time{} // the lease never ends
		}
		list = append(list, j)
	}
	if err := rows.Err(); err != nil {
		return nil, "", q.fail("browse", err)
	}
	next := ""
	if len(list) == n {
		next = strconv.FormatInt(last, 10)
	}
	return list, next, nil
}

// DeleteJob deletes the ready or delayed job whose row id is ref, if it is still in state.
func (q *Queue) DeleteJob(ctx context.Context, queue string, state connectors.JobState, ref string) error {
	if state == connectors.StateReserved {
		return fmt.Errorf("dbqueue: a reserved job belongs to the worker running it: %w", connectors.ErrJobNotFound)
	}
	id, err := refID(ref)
	if err != nil {
		return err
	}
	cond, args, err := q.stateCond(state)
	if err != nil {
		return err
	}
	text := "DELETE FROM " + sqldb.Quote(q.dialect, q.table) + " WHERE id = ? AND queue = ? AND " + cond
	return q.changeOne(ctx, "delete job", text, append([]any{id, queue}, args...), id)
}

// ReadyNow makes the delayed job whose row id is ref due now; it keeps its id, so it is taken
// in its place among the ready jobs.
func (q *Queue) ReadyNow(ctx context.Context, queue string, ref string) error {
	id, err := refID(ref)
	if err != nil {
		return err
	}
	now := q.unix()
	text := "UPDATE " + sqldb.Quote(q.dialect, q.table) + " SET " + q.cols.available + " = ? WHERE id = ? AND queue = ? AND " +
		q.cols.reserved + " IS NULL AND " + q.cols.available + " > ?"
	return q.changeOne(ctx, "run job now", text, []any{now, id, queue, now}, id)
}

// refID reads a Browse ref: the row id.
func refID(ref string) (int64, error) {
	id, err := strconv.ParseInt(ref, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("dbqueue: job %q is not a row id: %w", ref, connectors.ErrJobNotFound)
	}
	return id, nil
}

// changeOne runs a statement that changes row id or nothing, and says which.
func (q *Queue) changeOne(ctx context.Context, op, text string, args []any, id int64) error {
	res, err := q.db.ExecContext(ctx, sqldb.Placeholders(q.dialect, text), args...)
	if err != nil {
		return q.fail(op, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return q.fail(op, err)
	} else if n == 0 {
		return fmt.Errorf("dbqueue: job %d: %w", id, connectors.ErrJobNotFound)
	}
	return nil
}

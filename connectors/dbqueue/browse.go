package dbqueue

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
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

// Browse lists a page of queue's jobs in state. Ready jobs come by id (the pop order), read along
// the queue index (queue, id); the cursor is the last id listed. Delayed jobs come by due time,
// then id (the order they fall due), and reserved ones by reservation time (the longest held
// first): both read a range of the state index (0010_jobs_state_index). A page costs about the
// same near the head of a million-job queue as of a short one, whichever state the million are in.
func (q *Queue) Browse(ctx context.Context, queue string, state connectors.JobState, cursor string, n int) ([]connectors.BrowsedJob, string, error) {
	cond, args, err := q.stateCond(state)
	if err != nil {
		return nil, "", err
	}
	var after cursorAt
	if cursor != "" {
		if after, err = parseCursor(state, cursor); err != nil {
			return nil, "", err
		}
	}
	text, args := q.browseSQL(queue, state, cond, args, after, cursor != "", n)
	rows, err := q.db.QueryContext(ctx, text, args...)
	if err != nil {
		return nil, "", q.fail("browse", err)
	}
	defer rows.Close()
	var (
		list []connectors.BrowsedJob
		last cursorAt
	)
	for rows.Next() {
		var (
			j         connectors.BrowsedJob
			payload   string
			reserved  sql.NullInt64
			available int64
		)
		if err := rows.Scan(&last.id, &payload, &j.Attempts, &reserved, &available); err != nil {
			return nil, "", q.fail("browse", err)
		}
		j.ID, j.Ref, j.Payload = strconv.FormatInt(last.id, 10), strconv.FormatInt(last.id, 10), []byte(payload)
		j.Available = time.Unix(available, 0)
		last.reserved, last.available = reserved.Int64, available
		if state == connectors.StateReserved {
			j.Available = time.Time{} // the lease never ends
			if q.retryAfter > 0 {
				j.Available = time.Unix(reserved.Int64+q.retryAfter, 0)
			}
		}
		list = append(list, j)
	}
	if err := rows.Err(); err != nil {
		return nil, "", q.fail("browse", err)
	}
	next := ""
	if len(list) == n {
		next = last.String(state)
	}
	return list, next, nil
}

// browseSQL is Browse's statement for a page of state's jobs after the cursor (hasCursor) and its
// arguments. Ready jobs are ordered by id. Delayed and reserved ones are ordered by the state
// index's own columns (reserved_at, available_at, id), so the page is the first entries of the
// state's range: PostgreSQL does not take `reserved_at IS NULL` as fixing that column, and would
// sort the whole range for ORDER BY available_at alone (MySQL, the other way round, sorts when
// ORDER BY names it). TestStatePlans checks each with EXPLAIN.
func (q *Queue) browseSQL(queue string, state connectors.JobState, cond string, condArgs []any, after cursorAt, hasCursor bool, n int) (text string, args []any) {
	r, a := q.cols.reserved, q.cols.available
	text = "SELECT id, payload, attempts, " + r + ", " + a + " FROM " + sqldb.Quote(q.dialect, q.table) +
		" WHERE queue = ? AND " + cond
	args = append([]any{queue}, condArgs...)
	switch {
	case state == connectors.StateReady:
		text += " AND id > ? ORDER BY id"
		args = append(args, after.id)
	case !hasCursor:
	case state == connectors.StateDelayed && q.dialect == sqldb.MySQL:
		// a >= t bounds the range the index reads; the OR drops the rows listed already.
		text += " AND " + a + " >= ? AND (" + a + " > ? OR id > ?)"
		args = append(args, after.available, after.available, after.id)
	case state == connectors.StateDelayed:
		// A row value compares as the index orders, so the page starts at its entry
		// (reserved_at is NULL here, which compares with nothing, so it is left out).
		text += " AND (" + a + ", id) > (?, ?)"
		args = append(args, after.available, after.id)
	case q.dialect == sqldb.MySQL: // reserved
		text += " AND " + r + " >= ? AND (" + r + " > ? OR " + a + " > ? OR (" + a + " = ? AND id > ?))"
		args = append(args, after.reserved, after.reserved, after.available, after.available, after.id)
	default: // reserved
		text += " AND (" + r + ", " + a + ", id) > (?, ?, ?)"
		args = append(args, after.reserved, after.available, after.id)
	}
	switch {
	case state == connectors.StateDelayed && q.dialect == sqldb.MySQL:
		text += " ORDER BY " + a + ", id" // MySQL sorts the range when ORDER BY names reserved_at
	case state != connectors.StateReady:
		text += " ORDER BY " + r + ", " + a + ", id"
	}
	return sqldb.Placeholders(q.dialect, text+" LIMIT "+strconv.Itoa(n)), args
}

// cursorAt is a Browse cursor: the last job listed. A ready page's cursor is its id; a delayed
// one's "available_at:id"; a reserved one's "reserved_at:available_at:id".
type cursorAt struct{ reserved, available, id int64 }

func (c cursorAt) String(state connectors.JobState) string {
	id := strconv.FormatInt(c.id, 10)
	switch state {
	case connectors.StateDelayed:
		return strconv.FormatInt(c.available, 10) + ":" + id
	case connectors.StateReserved:
		return strconv.FormatInt(c.reserved, 10) + ":" + strconv.FormatInt(c.available, 10) + ":" + id
	}
	return id
}

// parseCursor reads a cursor Browse returned for state.
func parseCursor(state connectors.JobState, s string) (cursorAt, error) {
	parts := strings.Split(s, ":")
	var want []*int64
	var c cursorAt
	switch state {
	case connectors.StateDelayed:
		want = []*int64{&c.available, &c.id}
	case connectors.StateReserved:
		want = []*int64{&c.reserved, &c.available, &c.id}
	default:
		want = []*int64{&c.id}
	}
	bad := len(parts) != len(want)
	for i := 0; !bad && i < len(want); i++ {
		var err error
		*want[i], err = strconv.ParseInt(parts[i], 10, 64)
		bad = err != nil
	}
	if bad {
		return c, fmt.Errorf("dbqueue: cursor %q is not one of Browse's for %s jobs; start from the first page", s, state)
	}
	return c, nil
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

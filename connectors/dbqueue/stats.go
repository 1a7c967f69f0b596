package dbqueue

import (
	"context"
	"database/sql"
	"time"

	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/internal/sqldb"
)

var _ connectors.Inspector = (*Queue)(nil)

// statsSQL returns the text that counts one queue's rows of table by state in one scan of its
// index, naming l's columns. Arguments, in order (each placeholder is used once, so the text
// serves MySQL's positional ? as is):
//
//	now, lapsed       ready: not reserved and due, or reserved at or before lapsed
//	now               delayed: not reserved and not due
//	lapsed            reserved: reserved after lapsed
//	now               oldest available_at of the ready rows that were never reserved
//	lapsed            oldest reserved_at of the lapsed rows (their lease ended retry_after later)
//	queue
//
// lapsed is now - retry_after, or -1 (no row is reserved that early) when reservations never lapse.
func statsSQL(table string, l layout) string {
	r, a := l.reserved, l.available
	return "SELECT" +
		" COUNT(CASE WHEN (" + r + " IS NULL AND " + a + " <= ?) OR " + r + " <= ? THEN 1 END)," +
		" COUNT(CASE WHEN " + r + " IS NULL AND " + a + " > ? THEN 1 END)," +
		" COUNT(CASE WHEN " + r + " > ? THEN 1 END)," +
		" MIN(CASE WHEN " + r + " IS NULL AND " + a + " <= ? THEN " + a + " END)," +
		" MIN(CASE WHEN " + r + " <= ? THEN " + r + " END)" +
		" FROM " + table + " WHERE queue = ?"
}

// QueueStats counts queue's jobs by state. A reservation older than retry_after counts as ready,
// since the next pop takes it; its job became ready when that lease ended.
func (q *Queue) QueueStats(ctx context.Context, queue string) (connectors.QueueStats, error) {
	now := q.unix()
	lapsed := int64(-1)
	if q.retryAfter > 0 {
		lapsed = now - q.retryAfter
	}
	var (
		st                     connectors.QueueStats
		oldestDue, oldestLapse sql.NullInt64
	)
	err := q.db.QueryRowContext(ctx, sqldb.Placeholders(q.dialect, statsSQL(sqldb.Quote(q.dialect, q.table), q.cols)),
		now, lapsed, now, lapsed, now, lapsed, queue).
		Scan(&st.Ready, &st.Delayed, &st.Reserved, &oldestDue, &oldestLapse)
	if err != nil {
		return connectors.QueueStats{}, q.fail("stats", err)
	}
	var since int64
	if oldestDue.Valid {
		since = oldestDue.Int64
	}
	if oldestLapse.Valid && (since == 0 || oldestLapse.Int64+q.retryAfter < since) {
		since = oldestLapse.Int64 + q.retryAfter
	}
	if since > 0 {
		st.OldestReady = time.Unix(since, 0)
	}
	return st, nil
}

// Queues lists the distinct queue names in the jobs table, sorted.
func (q *Queue) Queues(ctx context.Context) ([]string, error) {
	rows, err := q.db.QueryContext(ctx, "SELECT DISTINCT queue FROM "+sqldb.Quote(q.dialect, q.table)+" ORDER BY queue")
	if err != nil {
		return nil, q.fail("list queues", err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, q.fail("list queues", err)
		}
		names = append(names, name)
	}
	if err := rows.Err(); err != nil {
		return nil, q.fail("list queues", err)
	}
	return names, nil
}

package dbqueue

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/internal/sqldb"
)

var _ connectors.Inspector = (*Queue)(nil)

// statsSQL returns the text that counts one queue's rows of table by state, naming l's columns.
// Each part reads one range of an index: the queue's entries of the queue index for the total
// (a covering scan, the one part that grows with the queue), and ranges of the state index
// (0010_jobs_state_index: queue, reserved_at, available_at) for the delayed and reserved counts
// and the two oldest times, so a million ready jobs cost one index scan and never a row read.
// Ready is the total less the others: the four conditions split every row of the queue. One
// statement reads one snapshot, so the parts agree. Arguments, in order (each placeholder is
// used once, so the text serves MySQL's positional ? as is):
//
//	queue                   total
//	queue, now              delayed: not reserved and not due
//	queue, lapsed           reserved: reserved after lapsed
//	queue, now              oldest available_at of the ready rows that were never reserved
//	queue, lapsed           oldest reserved_at of the lapsed rows (their lease ended retry_after later)
//
// lapsed is now - retry_after, or -1 (no row is reserved that early) when reservations never lapse.
func statsSQL(dialect, table string, l layout) string {
	return "SELECT (" + strings.Join(statsParts(dialect, table, l), "), (") + ")"
}

// statsParts are statsSQL's five subqueries. The oldest-due part orders by the index columns
// after queue as the dialect's planner reads them off the index: PostgreSQL does not take `IS
// NULL` as fixing reserved_at, so ORDER BY available_at alone would sort the range, and MySQL
// sorts it when ORDER BY names reserved_at.
func statsParts(dialect, table string, l layout) []string {
	r, a := l.reserved, l.available
	from := " FROM " + table + " WHERE queue = ?"
	dueOrder := r + ", " + a
	if dialect == sqldb.MySQL {
		dueOrder = a
	}
	return []string{
		"SELECT COUNT(*)" + from,
		"SELECT COUNT(*)" + from + " AND " + r + " IS NULL AND " + a + " > ?",
		"SELECT COUNT(*)" + from + " AND " + r + " > ?",
		"SELECT " + a + from + " AND " + r + " IS NULL AND " + a + " <= ? ORDER BY " + dueOrder + " LIMIT 1",
		"SELECT " + r + from + " AND " + r + " <= ? ORDER BY " + r + ", " + a + " LIMIT 1",
	}
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
		total                  int64
		oldestDue, oldestLapse sql.NullInt64
	)
	err := q.db.QueryRowContext(ctx, sqldb.Placeholders(q.dialect, statsSQL(q.dialect, sqldb.Quote(q.dialect, q.table), q.cols)),
		queue, queue, now, queue, lapsed, queue, now, queue, lapsed).
		Scan(&total, &st.Delayed, &st.Reserved, &oldestDue, &oldestLapse)
	if err != nil {
		return connectors.QueueStats{}, q.fail("stats", err)
	}
	st.Ready = total - st.Delayed - st.Reserved
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

// Queues lists the distinct queue names in the jobs table, sorted. SQLite and PostgreSQL read
// DISTINCT by walking every entry of the queue index, a million for a million-job queue; the
// recursive query seeks from one name to the next instead, one index probe per queue. MySQL's
// DISTINCT does that itself (a loose index scan), and MySQL 5.7 has no WITH RECURSIVE.
func (q *Queue) Queues(ctx context.Context) ([]string, error) {
	t := sqldb.Quote(q.dialect, q.table)
	text := "WITH RECURSIVE names(name) AS (SELECT MIN(queue) FROM " + t +
		" UNION ALL SELECT (SELECT MIN(queue) FROM " + t + " WHERE queue > names.name) FROM names WHERE names.name IS NOT NULL)" +
		" SELECT name FROM names WHERE name IS NOT NULL ORDER BY name"
	if q.dialect == sqldb.MySQL {
		text = "SELECT DISTINCT queue FROM " + t + " ORDER BY queue"
	}
	rows, err := q.db.QueryContext(ctx, text)
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

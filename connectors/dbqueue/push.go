package dbqueue

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/internal/sqldb"
)

// PushBulk splits its rows into INSERTs of at most bulkRows rows and about bulkBytes of payload,
// well inside every dialect's limits on placeholders (SQLite 32766) and packet size (MySQL's
// max_allowed_packet defaults to 16 MiB or more).
const (
	bulkRows  = 500
	bulkBytes = 4 << 20
)

// bulkMode is how PushBulk learns the ids of a multi-row INSERT on MySQL.
type bulkMode int

const (
	// bulkReturning: INSERT … RETURNING id (PostgreSQL, SQLite, MariaDB 10.5+).
	bulkReturning bulkMode = iota
	// bulkConsecutive: MySQL with innodb_autoinc_lock_mode 0 or 1 gives one multi-row INSERT
	// consecutive ids (step auto_increment_increment) starting at LAST_INSERT_ID().
	bulkConsecutive
	// bulkOneByOne: MySQL 8's default lock mode 2 may interleave ids of concurrent INSERTs, so
	// rows are inserted one at a time in a transaction, each reporting its own id.
	bulkOneByOne
)

// detectBulkMode asks a MySQL-protocol server which bulkMode it allows, and the id step.
func detectBulkMode(ctx context.Context, db *sql.DB) (bulkMode, error) {
	var (
		version  string
		lockMode int
	)
	err := db.QueryRowContext(ctx, "SELECT VERSION(), @@innodb_autoinc_lock_mode").Scan(&version, &lockMode)
	if err != nil {
		return 0, fmt.Errorf("read server version: %w", err)
	}
	if strings.Contains(version, "MariaDB") && versionAtLeast(version, 10, 5) {
		return bulkReturning, nil
	}
	if lockMode < 2 {
		return bulkConsecutive, nil
	}
	return bulkOneByOne, nil
}

// versionAtLeast reports whether a "major.minor…" version string is at least major.minor.
func versionAtLeast(v string, major, minor int) bool {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return false
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return ma > major || ma == major && mi >= minor
}

// fits refuses a payload larger than MySQL's max_allowed_packet (less room for the statement)
// before it is sent: MariaDB may answer one by dropping the connection instead of error 1153.
func (q *Queue) fits(payload []byte) error {
	if q.maxPacket > 0 && int64(len(payload))+1024 > q.maxPacket {
		return sqldb.TooLarge(int64(len(payload)), q.maxPacket)
	}
	return nil
}

// Push inserts one job, ready at now+delay, and returns its row id.
func (q *Queue) Push(ctx context.Context, queue string, payload []byte, delay time.Duration) (string, error) {
	if err := q.checkStorable(payload); err != nil {
		return "", q.fail("push", err)
	}
	now := q.unix()
	args := []any{queue, string(payload), now + ceilSeconds(delay), now}
	var id int64
	if q.dialect == sqldb.MySQL {
		res, err := q.db.ExecContext(ctx, q.sql.push, args...)
		if err == nil {
			id, err = res.LastInsertId()
		}
		if err != nil {
			return "", q.fail("push", err)
		}
	} else if err := q.db.QueryRowContext(ctx, q.sql.push, args...).Scan(&id); err != nil {
		return "", q.fail("push", err)
	}
	q.pushed(queue, now+ceilSeconds(delay), now)
	return strconv.FormatInt(id, 10), nil
}

// PushBulk inserts payloads in multi-row INSERTs inside one transaction, so either every job is
// pushed or none, and returns their ids in payload order.
func (q *Queue) PushBulk(ctx context.Context, queue string, payloads [][]byte, delay time.Duration) (ids []string, err error) {
	return q.PushBulkWith(ctx, queue, payloads, delay)
}

// SharesDatabase reports whether dialect and dsn name this queue's own database.
func (q *Queue) SharesDatabase(dialect, dsn string) bool { return dialect == q.dialect && dsn == q.dsn }

// PushBulkWith is PushBulk that also runs also in its transaction, after the INSERTs: the jobs
// and those changes commit together or not at all. A statement whose Expect is not -1 and that
// changes another number of rows rolls everything back with ErrConflict.
func (q *Queue) PushBulkWith(ctx context.Context, queue string, payloads [][]byte, delay time.Duration, also ...connectors.Statement) (ids []string, err error) {
	if len(payloads) == 0 {
		return nil, nil
	}
	if err := q.checkStorable(payloads...); err != nil {
		return nil, q.fail("push bulk", err)
	}
	now := q.unix()
	available := now + ceilSeconds(delay)
	tx, err := q.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, q.fail("push bulk", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	ids = make([]string, 0, len(payloads))
	for start := 0; start < len(payloads); {
		end, size := start, 0
		for end < len(payloads) && end-start < bulkRows && (end == start || size+len(payloads[end]) <= bulkBytes) {
			size += len(payloads[end])
			end++
		}
		got, err := q.insertChunk(ctx, tx, queue, payloads[start:end], available, now)
		if err != nil {
			return nil, q.fail("push bulk", err)
		}
		ids = append(ids, got...)
		start = end
	}
	for _, st := range also {
		res, err := tx.ExecContext(ctx, sqldb.Placeholders(q.dialect, st.SQL), st.Args...)
		if err != nil {
			return nil, q.fail("push bulk", err)
		}
		if n, err := res.RowsAffected(); st.Expect >= 0 && (err != nil || n != st.Expect) {
			return nil, fmt.Errorf("%w: %d rows changed, want %d", connectors.ErrConflict, n, st.Expect)
		}
	}
	if err = tx.Commit(); err != nil {
		return nil, q.fail("push bulk", err)
	}
	q.pushed(queue, available, now)
	return ids, nil
}

// checkStorable refuses a payload the jobs table's text column cannot hold, naming the byte and
// the remedy, where the server would say only "invalid byte sequence" (or, MySQL without strict
// mode, store the payload cut short at that byte).
func (q *Queue) checkStorable(payloads ...[]byte) error {
	for _, p := range payloads {
		if err := q.fits(p); err != nil {
			return err
		}
	}
	for n, p := range payloads {
		i := sqldb.FirstRefused(q.dialect, p)
		if i < 0 {
			continue
		}
		what := "invalid UTF-8"
		if p[i] == 0 {
			what = "NUL"
		}
		which := ""
		if len(payloads) > 1 {
			which = fmt.Sprintf(" %d", n+1)
		}
		return fmt.Errorf("payload%s: byte %d (0x%02x) is %s, which a %s text column cannot store: payloads must be UTF-8 text without NUL (encode binary data, e.g. as base64)", which, i, p[i], what, q.dialect)
	}
	return nil
}

// insertChunk inserts one chunk and returns its ids in order.
func (q *Queue) insertChunk(ctx context.Context, tx *sql.Tx, queue string, payloads [][]byte, available, now int64) ([]string, error) {
	if q.bulk == bulkOneByOne {
		ids := make([]string, 0, len(payloads))
		for _, p := range payloads {
			res, err := tx.ExecContext(ctx, q.sql.push, queue, string(p), available, now)
			if err != nil {
				return nil, err
			}
			id, err := res.LastInsertId()
			if err != nil {
				return nil, err
			}
			ids = append(ids, strconv.FormatInt(id, 10))
		}
		return ids, nil
	}
	var b strings.Builder
	b.WriteString(q.sql.bulkPrefix)
	var args []any
	if q.dialect == sqldb.MySQL {
		args = make([]any, 0, 4*len(payloads))
		for i, p := range payloads {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(?, ?, 0, NULL, ?, ?)")
			args = append(args, queue, string(p), available, now)
		}
	} else {
		// Shared values are parameters 1-3; payload i is parameter i+4.
		mark := "$"
		if q.dialect == sqldb.SQLite {
			mark = "?"
		}
		args = make([]any, 0, 3+len(payloads))
		args = append(args, queue, available, now)
		for i, p := range payloads {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "(%s1, %s%d, 0, NULL, %s2, %s3)", mark, mark, i+4, mark, mark)
			args = append(args, string(p))
		}
	}
	b.WriteString(q.sql.bulkSuffix)
	if q.bulk == bulkConsecutive {
		return q.insertConsecutive(ctx, tx, b.String(), args, len(payloads))
	}
	if q.dialect == sqldb.MySQL {
		b.WriteString(" RETURNING id")
	}
	rows, err := tx.QueryContext(ctx, b.String(), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	nums := make([]int64, 0, len(payloads))
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		nums = append(nums, id)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(nums) != len(payloads) {
		return nil, fmt.Errorf("insert of %d rows returned %d ids", len(payloads), len(nums))
	}
	// One statement takes its ids from the sequence in VALUES order, so ascending ids are
	// payload order even if the server returned the rows in another order.
	slices.Sort(nums)
	ids := make([]string, len(nums))
	for i, id := range nums {
		ids[i] = strconv.FormatInt(id, 10)
	}
	return ids, nil
}

// insertConsecutive runs a multi-row INSERT on MySQL in lock mode 0 or 1, where the rows' ids are
// LAST_INSERT_ID() (the first) onwards, spaced by auto_increment_increment.
func (q *Queue) insertConsecutive(ctx context.Context, tx *sql.Tx, query string, args []any, n int) ([]string, error) {
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	first, err := res.LastInsertId()
	if err != nil {
		return nil, err
	}
	var step int64
	if err := tx.QueryRowContext(ctx, "SELECT @@auto_increment_increment").Scan(&step); err != nil {
		return nil, err
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = strconv.FormatInt(first+int64(i)*step, 10)
	}
	return ids, nil
}

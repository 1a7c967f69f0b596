package dbqueue

import (
	"strings"

	"github.com/qctl/qctl/internal/sqldb"
)

// statements holds every SQL text of one Queue, built once at Open. Texts use $n placeholders for
// PostgreSQL, ?n for SQLite (numbered, so one text serves both) and ? for MySQL. Comments name
// Laravel's time columns; a think-format Queue's texts use think-queue's (see layout).
type statements struct {
	// push inserts one ready-or-delayed job. Args: queue, payload, available_at, created_at.
	// Returns the id (RETURNING) except on MySQL, which reports it as LastInsertId. On PostgreSQL
	// push, bulk push and release NOTIFY the table's channel in their own transaction (see
	// notifying).
	push string
	// bulkPrefix is the INSERT head of PushBulk; rows follow, then bulkSuffix.
	bulkPrefix, bulkSuffix string
	// pop reserves up to n jobs. PostgreSQL and SQLite: one UPDATE … RETURNING id, payload,
	// attempts with args now, queue, [lapsed,] n. MySQL: the SELECT … FOR UPDATE SKIP LOCKED of
	// its pop transaction with args queue, now, [lapsed,] n, followed by reservePrefix + ids.
	pop           string
	reservePrefix string // MySQL: UPDATE … WHERE id IN (; args now first
	// deleteOne deletes by id. deleteMany: PostgreSQL `= ANY($1)`; others a prefix for IN (…).
	deleteOne, deleteMany string
	// releasePG is PostgreSQL's one-statement release (args id, available_at, created_at;
	// returns the new id). Others run releaseCopy (args available_at, created_at, id) then
	// deleteOne in a transaction.
	releasePG, releaseCopy string
	// extend renews a reservation. Args: reserved_at, id, attempts.
	extend      string
	size, clear string
	// maxID reads the table's highest id, which every push and release raises (SQLite and
	// MySQL waits poll it).
	maxID string
	// signalGet reads a signal (arg name); signalSet upserts one (args name, value, updated_at).
	signalGet, signalSet string
}

func buildStatements(dialect, table, signals string, l layout, lapses bool) statements {
	t := sqldb.Quote(dialect, table)
	s := sqldb.Quote(dialect, signals)
	reserved, available := l.reserved, l.available
	cols := "(queue, payload, attempts, " + reserved + ", " + available + ", " + l.created + ")"
	var st statements

	// Ready: never reserved and due. Lapsed: reserved long enough ago (only with retry_after).
	due := reserved + " IS NULL AND " + available + " <= $1"
	limit := "$3"
	if lapses {
		due = "((" + reserved + " IS NULL AND " + available + " <= $1) OR " + reserved + " <= $3)"
		limit = "$4"
	}

	st.push = "INSERT INTO " + t + " " + cols + " VALUES ($1, $2, 0, NULL, $3, $4)"
	st.bulkPrefix = "INSERT INTO " + t + " " + cols + " VALUES "
	st.deleteOne = "DELETE FROM " + t + " WHERE id = $1"
	st.extend = "UPDATE " + t + " SET " + reserved + " = $1 WHERE id = $2 AND attempts = $3 AND " + reserved + " IS NOT NULL"
	st.size = "SELECT COUNT(*) FROM " + t + " WHERE queue = $1"
	st.maxID = "SELECT MAX(id) FROM " + t
	st.clear = "DELETE FROM " + t + " WHERE queue = $1"
	st.signalGet = "SELECT value FROM " + s + " WHERE name = $1"
	st.signalSet = "INSERT INTO " + s + " (name, value, updated_at) VALUES ($1, $2, $3) " +
		"ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
	st.releaseCopy = "INSERT INTO " + t + " " + cols +
		" SELECT queue, payload, attempts, NULL, $1, $2 FROM " + t + " WHERE id = $3"

	switch dialect {
	case sqldb.Postgres:
		notify := notifying(sqldb.NotifyChannel(table), l)
		st.push = "WITH ins AS (" + st.push + notify
		st.bulkPrefix = "WITH ins AS (" + st.bulkPrefix
		st.bulkSuffix = notify
		// The subquery locks the rows it picks and skips rows other pops hold, so concurrent
		// pops never wait for each other nor take the same job. The reservation commits without
		// waiting for its WAL flush (see asyncReserve).
		st.pop = "UPDATE " + t + " SET " + reserved + " = $1, attempts = attempts + 1 FROM " + asyncReserve + " WHERE id IN (" +
			"SELECT id FROM " + t + " WHERE queue = $2 AND " + due +
			" ORDER BY id LIMIT " + limit + " FOR UPDATE SKIP LOCKED) RETURNING id, payload, attempts, " + l.available
		st.deleteMany = "DELETE FROM " + t + " WHERE id = ANY($1)"
		st.releasePG = "WITH gone AS (DELETE FROM " + t + " WHERE id = $1 RETURNING queue, payload, attempts), " +
			"ins AS (INSERT INTO " + t + " " + cols + " SELECT queue, payload, attempts, NULL, $2, $3 FROM gone" + notify
	case sqldb.SQLite:
		// SQLite has no row locks: it runs one writer at a time, so the UPDATE alone is atomic.
		st.push += " RETURNING id"
		st.bulkSuffix = " RETURNING id"
		st.pop = "UPDATE " + t + " SET " + reserved + " = $1, attempts = attempts + 1 WHERE id IN (" +
			"SELECT id FROM " + t + " WHERE queue = $2 AND " + due +
			" ORDER BY id LIMIT " + limit + ") RETURNING id, payload, attempts, " + l.available
		st.deleteMany = "DELETE FROM " + t + " WHERE id IN ("
		st = numbered(st)
	case sqldb.MySQL:
		// MySQL has no UPDATE … RETURNING: pop selects with row locks, then updates, in one
		// transaction. Arguments are positional, so the select takes queue first.
		due = strings.NewReplacer("$1", "?", "$3", "?").Replace(due)
		st.pop = "SELECT id, payload, attempts, " + l.available + " FROM " + t + " WHERE queue = ? AND " + due +
			" ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED"
		st.reservePrefix = "UPDATE " + t + " SET " + reserved + " = ?, attempts = attempts + 1 WHERE id IN ("
		st.deleteMany = "DELETE FROM " + t + " WHERE id IN ("
		st.signalSet = "INSERT INTO " + s + " (name, value, updated_at) VALUES (?, ?, ?) " +
			"ON DUPLICATE KEY UPDATE value = VALUES(value), updated_at = VALUES(updated_at)"
		st = positional(st)
	}
	return st
}

// asyncReserve, joined into PostgreSQL's pop, turns synchronous_commit off for the pop's own
// transaction (set_config's third argument: local to it), so the reservation's COMMIT does not
// wait for the server's disk flush. That flush was a third of what a job cost (push, pop,
// delete each waited for one) and the pop's one sat between a push and its job's start.
//
// At-least-once still holds: an asynchronous commit can only be lost when the database server
// itself crashes (or its machine does) within about three wal_writer_delay (600 ms by default)
// after it; a lost connection or a killed worker loses nothing. A lost reservation leaves the row
// as it was before the pop, ready, so the job is simply handed out again. Nothing later can
// outlive it: the WAL is one sequence, so the synchronous commit of the job's delete, release or
// failure flushes the reservation with it. What such a crash costs is a run that counts no
// attempt, and a job whose first run was cut off by the crash (its worker lost its connection
// too) may start again before retry_after. Push, bulk push, release and delete keep synchronous
// commits: losing one of those could lose a job or run a finished one again.
const asyncReserve = "(SELECT set_config('synchronous_commit', 'off', true)) AS async_commit"

// notifying ends an INSERT begun as `WITH ins AS (INSERT …`: each row NOTIFYs channel with
// "<available_at> <queue>" (the notify_trigger's payload) and the statement returns the ids.
// PostgreSQL delivers identical notifications of one transaction once, so a bulk push of one
// queue notifies once, and a push on a table with the trigger too.
func notifying(channel string, l layout) string {
	return " RETURNING id, pg_notify(" + sqldb.QuoteLiteral(channel) + ", " + l.available + " || ' ' || queue)) SELECT id FROM ins"
}

// numbered turns $n into SQLite's ?n in every text.
func numbered(st statements) statements {
	r := strings.NewReplacer("$", "?")
	for _, p := range st.texts() {
		*p = r.Replace(*p)
	}
	return st
}

// positional turns $n into MySQL's ?; every MySQL text uses each placeholder once, in order.
func positional(st statements) statements {
	for _, p := range st.texts() {
		var b strings.Builder
		s := *p
		for i := 0; i < len(s); i++ {
			if s[i] == '$' {
				b.WriteByte('?')
				for i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9' {
					i++
				}
				continue
			}
			b.WriteByte(s[i])
		}
		*p = b.String()
	}
	return st
}

func (st *statements) texts() []*string {
	return []*string{&st.push, &st.bulkPrefix, &st.bulkSuffix, &st.pop, &st.reservePrefix,
		&st.deleteOne, &st.deleteMany, &st.releasePG, &st.releaseCopy, &st.extend, &st.size,
		&st.clear, &st.maxID, &st.signalGet, &st.signalSet}
}

// inList appends "?, ?, …)" for n values to prefix (SQLite and MySQL).
func inList(prefix string, n int) string {
	var b strings.Builder
	b.Grow(len(prefix) + 3*n)
	b.WriteString(prefix)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('?')
	}
	b.WriteByte(')')
	return b.String()
}

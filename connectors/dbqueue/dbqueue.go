// Package dbqueue is the database connector: Laravel's `jobs` table, or think-queue 3's, shared
// byte for byte with PHP workers, on SQLite, PostgreSQL or MySQL/MariaDB.
//
// A job is a row. Ready: reserved_at NULL and available_at <= now. Reserved: reserved_at set by a
// pop, which also counts the attempt; the reservation lapses once reserved_at <= now - retry_after.
// Deleted: the row is gone. Released: the row is deleted and inserted anew (a new id), as Laravel
// does, keeping its attempts. think-queue 3 follows the same rules on columns named reserve_time,
// available_time and create_time (Options.Format; see layout.go).
//
// All times are unix seconds from Options.Now, never from the database's clock, as in Laravel.
// The hot path (pop, delete) is plain SQL built once per Queue and run through database/sql; gorm
// is only used to open the database and migrate it.
package dbqueue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/internal/sqldb"
	"github.com/qctl/qctl/migrations"
)

// Options configures a Queue.
type Options struct {
	// Dialect is "sqlite", "postgres" or "mysql"; DSN is the file path (SQLite) or server DSN.
	Dialect, DSN string
	// Table is the jobs table; "" means "jobs".
	Table string
	// SignalsTable keeps the restart broadcast; "" means "qctl_signals".
	SignalsTable string
	// RetryAfter is the lease of a pop: a reservation older than this is handed out again.
	// 0 means reservations never lapse.
	RetryAfter time.Duration
	// Now is the clock every time written or compared comes from; nil means time.Now.
	Now func() time.Time
	// AutoMigrate creates missing tables on Open instead of failing with ErrNotMigrated.
	AutoMigrate bool
	// Format is the jobs table's layout: FormatLaravel ("" too) or FormatThink. It must match
	// the table's columns, and the PHP side that shares the table.
	Format string
	// CacheTable, when set, is Laravel's database cache table (`php artisan cache:table`): the
	// restart signal then lives there, under CachePrefix + "illuminate:queue:restart", so `qctl
	// restart` and `php artisan queue:restart` stop each other's workers. qctl never creates it.
	CacheTable, CachePrefix string
	// NotifyTrigger (PostgreSQL) makes Targets include the trigger that NOTIFYs rows inserted
	// by PHP, so `qctl migrate` creates it; qctl's own pushes notify with or without it.
	NotifyTrigger bool
	// FleetTable keeps the worker registry and, without CacheTable, the fleet's flags; ""
	// means "qctl_fleet". Open does not require it: only fleet operations fail until `qctl
	// migrate` creates it.
	FleetTable string
}

// Queue is a connection to one jobs table. It is safe for concurrent use.
type Queue struct {
	db         *sql.DB
	dialect    string
	table      string
	signals    string
	retryAfter int64 // seconds; 0 = reservations never lapse
	cols       layout
	now        func() time.Time
	sql        statements
	cache      *laravelCache // the restart signal's home when Options.CacheTable is set
	*Fleet                   // the connectors.Fleet ability, on the same connections
	bulk       bulkMode
	maxPacket  int64 // MySQL's max_allowed_packet, read at Open; 0 elsewhere
	closeOnce  sync.Once
	closeErr   error

	// Waiting (wait.go, listen.go).
	wake        *wakeup
	dsn         string // as configured: PostgreSQL's listening connection dials it; SharesDatabase
	channel     string // PostgreSQL: the NOTIFY channel of the table
	walFile     string // SQLite: the write-ahead log, whose changes a wait looks for
	listenStart sync.Once
	listening   *listener // set by the first Wait on PostgreSQL
	listenPID   atomic.Uint32
	// notifyTrigger: the table's trigger NOTIFYs every insert (Options.NotifyTrigger).
	notifyTrigger bool
}

var (
	_ connectors.Queue          = (*Queue)(nil)
	_ connectors.BatchPopper    = (*Queue)(nil)
	_ connectors.BatchDeleter   = (*Queue)(nil)
	_ connectors.BulkPusher     = (*Queue)(nil)
	_ connectors.LeaseExtender  = (*Queue)(nil)
	_ connectors.Restarter      = (*Queue)(nil)
	_ connectors.LockReleaser   = (*Queue)(nil)
	_ connectors.SerialPopper   = (*Queue)(nil)
	_ connectors.TxPusher       = (*Queue)(nil)
	_ connectors.SleepWaiter    = (*Queue)(nil)
	_ connectors.NotifiedWaiter = (*Queue)(nil)
	_ connectors.Fleet          = (*Queue)(nil)
)

// Open connects to the database and checks that the jobs and signals tables exist, creating them
// when o.AutoMigrate is set. Missing tables give an error wrapping connectors.ErrNotMigrated that
// names them; an unreachable database, one wrapping connectors.ErrUnavailable.
func Open(ctx context.Context, o Options) (*Queue, error) {
	q := &Queue{
		dialect:       o.Dialect,
		table:         o.Table,
		signals:       o.SignalsTable,
		retryAfter:    ceilSeconds(o.RetryAfter),
		now:           o.Now,
		wake:          newWakeup(),
		dsn:           o.DSN,
		notifyTrigger: o.NotifyTrigger,
	}
	if q.table == "" {
		q.table = "jobs"
	}
	if q.signals == "" {
		q.signals = "qctl_signals"
	}
	if q.now == nil {
		q.now = time.Now
	}
	fail := func(err error) error {
		return fmt.Errorf("dbqueue: open %q (%s): %w", q.table, q.dialect, err)
	}
	switch o.Dialect {
	case sqldb.SQLite, sqldb.Postgres, sqldb.MySQL:
	default:
		return nil, fail(fmt.Errorf("unknown dialect %q (want sqlite, postgres or mysql)", o.Dialect))
	}
	var err error
	if q.cols, err = layoutFor(o.Format); err != nil {
		return nil, fail(err)
	}
	for _, t := range []string{q.table, q.signals} {
		if err := sqldb.CheckTable(t); err != nil {
			return nil, fail(err)
		}
	}
	if o.CacheTable != "" {
		if q.cache, err = newLaravelCache(o.Dialect, o.CacheTable, o.CachePrefix); err != nil {
			return nil, fail(err)
		}
	}
	gdb, err := sqldb.Open(ctx, o.Dialect, o.DSN)
	if err != nil {
		if errors.Is(err, sqldb.ErrUnreachable) {
			err = fmt.Errorf("%w: %w", connectors.ErrUnavailable, err)
		}
		return nil, fail(err)
	}
	q.db, err = gdb.DB()
	if err != nil {
		return nil, fail(err)
	}
	o.Table, o.SignalsTable = q.table, q.signals
	targets := o.Targets()
	if o.AutoMigrate {
		_, err = migrations.Apply(ctx, gdb, o.Dialect, append(targets, o.FleetTarget())...)
		// A table of the other format fails a later step (its index names columns it lacks):
		// the layout check says why, and which key to change.
		if err != nil && !sqldb.IsConnectionError(err) {
			if cerr := q.cols.check(ctx, gdb, q.dialect, q.table); cerr != nil {
				err = cerr
			}
		}
	} else {
		var missing []migrations.Target
		missing, err = migrations.Missing(ctx, gdb, targets...)
		if err == nil && len(missing) > 0 {
			var names []string
			for _, t := range missing {
				names = append(names, strconv.Quote(t.TableName()))
			}
			err = fmt.Errorf("table %s missing: %w", strings.Join(names, " and "), connectors.ErrNotMigrated)
		}
	}
	if err == nil {
		err = q.cols.check(ctx, gdb, q.dialect, q.table)
	}
	if err == nil && o.Dialect == sqldb.MySQL {
		q.bulk, err = detectBulkMode(ctx, q.db)
		_ = q.db.QueryRowContext(ctx, "SELECT @@max_allowed_packet").Scan(&q.maxPacket) // 0: unknown, not checked
	}
	if err != nil {
		q.db.Close()
		if sqldb.IsConnectionError(err) && !errors.Is(err, connectors.ErrUnavailable) {
			err = fmt.Errorf("%w: %w", connectors.ErrUnavailable, err)
		}
		return nil, fail(err)
	}
	q.channel = sqldb.NotifyChannel(q.table)
	if o.Dialect == sqldb.SQLite {
		q.walFile = sqldb.SQLitePath(o.DSN) + "-wal"
	}
	q.sql = buildStatements(o.Dialect, q.table, q.signals, q.cols, q.retryAfter > 0)
	q.Fleet, err = NewFleet(q.db, o.Dialect, FleetOptions{Table: o.FleetTable, CacheTable: o.CacheTable, CachePrefix: o.CachePrefix, Now: q.now})
	if err != nil {
		q.db.Close()
		return nil, fail(err)
	}
	return q, nil
}

// PopsAreSerial reports true on SQLite, whose single writer makes pops wait for one another.
func (q *Queue) PopsAreSerial() bool { return q.dialect == sqldb.SQLite }

// Close stops listening and closes the database connections. It is safe to call twice.
func (q *Queue) Close() error {
	q.closeOnce.Do(func() {
		q.stopListening()
		q.closeErr = q.db.Close()
	})
	return q.closeErr
}

// unix returns the current time in unix seconds.
func (q *Queue) unix() int64 { return q.now().Unix() }

// ceilSeconds rounds d up to whole seconds, so a delay or lease is never cut short.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64(math.Ceil(d.Seconds()))
}

// fail wraps err with the operation and table, translating connection failures into
// connectors.ErrUnavailable and a missing table into connectors.ErrNotMigrated.
func (q *Queue) fail(op string, err error) error { return q.failOn(op, q.table, err) }

// failOn is fail naming table.
func (q *Queue) failOn(op, table string, err error) error { return failOn(q.dialect, op, table, err) }

// failOn wraps err with the operation, table and dialect, translating connection failures into
// connectors.ErrUnavailable and a missing table into connectors.ErrNotMigrated.
func failOn(dialect, op, table string, err error) error {
	prefix := fmt.Sprintf("dbqueue: %s %q (%s)", op, table, dialect)
	switch {
	case sqldb.IsConnectionError(err):
		return fmt.Errorf("%s: %w: %w", prefix, connectors.ErrUnavailable, err)
	case sqldb.IsUndefinedTable(err):
		return fmt.Errorf("%s: %w: %w", prefix, connectors.ErrNotMigrated, err)
	}
	return fmt.Errorf("%s: %w", prefix, sqldb.ExplainTooLarge(err))
}

func parseID(job *connectors.Reserved) (int64, error) {
	id, err := strconv.ParseInt(job.ID, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("job id %q is not a row id", job.ID)
	}
	return id, nil
}

// Size counts every job of queue: ready, delayed and reserved.
func (q *Queue) Size(ctx context.Context, queue string) (int64, error) {
	var n int64
	if err := q.db.QueryRowContext(ctx, q.sql.size, queue).Scan(&n); err != nil {
		return 0, q.fail("size", err)
	}
	return n, nil
}

// Clear deletes every job of queue, reserved ones included, and returns how many there were.
func (q *Queue) Clear(ctx context.Context, queue string) (int64, error) {
	res, err := q.db.ExecContext(ctx, q.sql.clear, queue)
	if err != nil {
		return 0, q.fail("clear", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, q.fail("clear", err)
	}
	return n, nil
}

// retryDeadlock runs fn again, up to three times in all, while it fails with a deadlock: InnoDB
// picks a victim among transactions that lock the same rows in different orders (a pop's SELECT …
// FOR UPDATE takes the queue index then the row; a DELETE the row then the index), and the victim's
// statements are safe to repeat. Other dialects never deadlock here and run fn once.
func (q *Queue) retryDeadlock(fn func() error) error {
	err := fn()
	for try := 1; try < 3 && q.dialect == sqldb.MySQL && sqldb.IsDeadlock(err); try++ {
		err = fn()
	}
	return err
}

package dbqueue

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/internal/sqldb"
	"github.com/qctl/qctl/migrations"
)

// Fleet is the connectors.Fleet ability on a database: worker entries are rows of qctl_fleet
// (`qctl migrate` creates it), shaped like Laravel's cache table, and flags are rows of Laravel's
// cache table when the connection names one (so `php artisan queue:pause` and `qctl pause` stop
// each other's workers), else of qctl_fleet too. A database queue has one; the manager opens one
// on the failed store's database for a backend that keeps no state (beanstalkd).
//
// Expirations are unix seconds, as in Laravel's cache: a row counts while now < expiration. A
// worker's entry is written with its ttl rounded up, so it outlives its ttl by under a second.
type Fleet struct {
	db                    *sql.DB
	own                   bool // Close closes db
	dialect               string
	table                 string // qctl_fleet
	flagTable, flagPrefix string // where flags live and the prefix of their keys
	postgres              bool   // Laravel base64-encodes values with NUL bytes on PostgreSQL
	now                   func() time.Time

	put, remove, list, expire string // on table
	flagSet, flagDel, flagGet string // on flagTable; flagGet is completed per call
}

// FleetOptions configure a Fleet.
type FleetOptions struct {
	// Table is the fleet table; "" means "qctl_fleet".
	Table string
	// CacheTable, when set, is Laravel's database cache table, where flags then live under
	// CachePrefix, as Laravel's DatabaseStore keeps them.
	CacheTable, CachePrefix string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// fleetKey is the key of a worker's entry in the fleet table.
const fleetKey = "qctl:worker:"

var _ connectors.Fleet = (*Fleet)(nil)

// NewFleet returns the fleet state kept in db, whose connections the caller keeps.
func NewFleet(db *sql.DB, dialect string, o FleetOptions) (*Fleet, error) {
	f := &Fleet{db: db, dialect: dialect, table: o.Table, flagTable: o.CacheTable, now: o.Now,
		postgres: dialect == sqldb.Postgres}
	if f.table == "" {
		f.table = migrations.Target{Kind: migrations.Fleet}.TableName()
	}
	if f.flagTable == "" {
		f.flagTable = f.table
	} else {
		f.flagPrefix = o.CachePrefix
	}
	if f.now == nil {
		f.now = time.Now
	}
	for _, t := range []string{f.table, f.flagTable} {
		if err := sqldb.CheckTable(t); err != nil {
			return nil, fmt.Errorf("dbqueue: fleet: %w", err)
		}
	}
	t, ft, k := sqldb.Quote(dialect, f.table), sqldb.Quote(dialect, f.flagTable), sqldb.Quote(dialect, "key")
	upsert := " ON CONFLICT (" + k + ") DO UPDATE SET value = excluded.value, expiration = excluded.expiration"
	if dialect == sqldb.MySQL {
		upsert = " ON DUPLICATE KEY UPDATE value = VALUES(value), expiration = VALUES(expiration)"
	}
	ph := func(q string) string { return sqldb.Placeholders(dialect, q) }
	f.put = ph("INSERT INTO " + t + " (" + k + ", value, expiration) VALUES (?, ?, ?)" + upsert)
	f.remove = ph("DELETE FROM " + t + " WHERE " + k + " = ?")
	f.list = ph("SELECT " + k + ", value FROM " + t + " WHERE " + k + " LIKE '" + fleetKey + "%' AND expiration > ?")
	f.expire = ph("DELETE FROM " + t + " WHERE " + k + " LIKE '" + fleetKey + "%' AND expiration <= ?")
	f.flagSet = ph("INSERT INTO " + ft + " (" + k + ", value, expiration) VALUES (?, ?, ?)" + upsert)
	f.flagDel = ph("DELETE FROM " + ft + " WHERE " + k + " = ?")
	f.flagGet = "SELECT " + k + ", value, expiration FROM " + ft + " WHERE " + k + " IN ("
	return f, nil
}

// OpenFleet connects to a database of its own for the fleet state, creating the fleet table
// when autoMigrate is set; Close closes the connection.
func OpenFleet(ctx context.Context, dialect, dsn string, autoMigrate bool, o FleetOptions) (*Fleet, error) {
	gdb, err := sqldb.Open(ctx, dialect, dsn)
	if err != nil {
		return nil, fmt.Errorf("dbqueue: open the fleet table (%s): %w", dialect, err)
	}
	db, err := gdb.DB()
	if err == nil && autoMigrate {
		_, err = migrations.Apply(ctx, gdb, dialect, migrations.Target{Kind: migrations.Fleet, Table: o.Table})
	}
	var f *Fleet
	if err == nil {
		f, err = NewFleet(db, dialect, o)
	}
	if err != nil {
		if db != nil {
			db.Close()
		}
		return nil, fmt.Errorf("dbqueue: open the fleet table (%s): %w", dialect, err)
	}
	f.own = true
	return f, nil
}

// Close closes the database connections when OpenFleet opened them.
func (f *Fleet) Close() error {
	if f.own {
		return f.db.Close()
	}
	return nil
}

// PutWorker upserts id's entry, counting until ttl from now, rounded up to the second.
func (f *Fleet) PutWorker(ctx context.Context, id string, entry []byte, ttl time.Duration) error {
	until := f.now().Add(ttl + time.Second - 1).Unix()
	_, err := f.db.ExecContext(ctx, f.put, fleetKey+id, string(entry), until)
	return f.fail("register worker in", f.table, err)
}

// RemoveWorker deletes id's entry.
func (f *Fleet) RemoveWorker(ctx context.Context, id string) error {
	_, err := f.db.ExecContext(ctx, f.remove, fleetKey+id)
	return f.fail("unregister worker from", f.table, err)
}

// Workers deletes expired entries and returns the live ones.
func (f *Fleet) Workers(ctx context.Context) (map[string][]byte, error) {
	now := f.now().Unix()
	if _, err := f.db.ExecContext(ctx, f.expire, now); err != nil {
		return nil, f.fail("expire workers in", f.table, err)
	}
	rows, err := f.db.QueryContext(ctx, f.list, now)
	if err != nil {
		return nil, f.fail("list workers in", f.table, err)
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var key, value string
		if err := rows.Scan(&key, &value); err != nil {
			return nil, f.fail("list workers in", f.table, err)
		}
		out[strings.TrimPrefix(key, fleetKey)] = []byte(value)
	}
	return out, f.fail("list workers in", f.table, rows.Err())
}

// SetFlag upserts key, as Laravel's DatabaseStore put does; ttl 0 is Cache::forever's ten years.
func (f *Fleet) SetFlag(ctx context.Context, key, value string, ttl time.Duration) error {
	until := f.now().Unix() + foreverSeconds
	if ttl > 0 {
		// Rounded up from now, not from the whole second now is in: a flag set at 12.95 s for
		// one second counts until 14, never only until 13.
		until = f.now().Add(ttl + time.Second - 1).Unix()
	}
	_, err := f.db.ExecContext(ctx, f.flagSet, f.flagPrefix+key, value, until)
	return f.fail("store flag in", f.flagTable, err)
}

// Flags reads every key in one SELECT.
func (f *Fleet) Flags(ctx context.Context, keys []string) ([]string, error) {
	out := make([]string, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	args := make([]any, len(keys))
	at := make(map[string][]int, len(keys))
	for i, k := range keys {
		args[i] = f.flagPrefix + k
		at[f.flagPrefix+k] = append(at[f.flagPrefix+k], i)
	}
	rows, err := f.db.QueryContext(ctx, sqldb.Placeholders(f.dialect, inList(f.flagGet, len(keys))), args...)
	if err != nil {
		return nil, f.fail("read flags in", f.flagTable, err)
	}
	defer rows.Close()
	now := f.now().Unix()
	for rows.Next() {
		var (
			key, value string
			expiration int64
		)
		if err := rows.Scan(&key, &value, &expiration); err != nil {
			return nil, f.fail("read flags in", f.flagTable, err)
		}
		if now >= expiration {
			continue // DatabaseStore treats it as gone
		}
		for _, i := range at[key] {
			out[i] = decodeCacheValue(f.postgres, value)
		}
	}
	return out, f.fail("read flags in", f.flagTable, rows.Err())
}

// DeleteFlag deletes key, as Laravel's forget does.
func (f *Fleet) DeleteFlag(ctx context.Context, key string) error {
	_, err := f.db.ExecContext(ctx, f.flagDel, f.flagPrefix+key)
	return f.fail("delete flag in", f.flagTable, err)
}

// fail wraps err naming the table; a missing table means `qctl migrate` has not run since the
// fleet table came (or Laravel's cache table was never created).
func (f *Fleet) fail(op, table string, err error) error {
	if err == nil {
		return nil
	}
	return failOn(f.dialect, op, table, err)
}

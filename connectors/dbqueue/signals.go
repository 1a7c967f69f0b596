package dbqueue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/qctl/qctl/internal/sqldb"
)

// restartSignal is the qctl_signals row `qctl restart` writes.
const restartSignal = "restart"

// RestartSignal returns the value of the last restart broadcast, or "" when there was none.
func (q *Queue) RestartSignal(ctx context.Context) (string, error) {
	if q.cache != nil {
		v, err := q.cache.read(ctx, q.db, q.unix())
		return v, q.cacheFail("read restart signal", err)
	}
	var v string
	err := q.db.QueryRowContext(ctx, q.sql.signalGet, restartSignal).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", q.failOn("read restart signal", q.signals, err)
	}
	return v, nil
}

// BroadcastRestart stores value as the restart signal for every worker on this database.
func (q *Queue) BroadcastRestart(ctx context.Context, value string) error {
	if q.cache != nil {
		return q.cacheFail("broadcast restart", q.cache.write(ctx, q.db, value, q.unix()))
	}
	if _, err := q.db.ExecContext(ctx, q.sql.signalSet, restartSignal, value, q.unix()); err != nil {
		return q.failOn("broadcast restart", q.signals, err)
	}
	return nil
}

// cacheFail wraps an error of Laravel's cache table; a missing table is the app's to create.
func (q *Queue) cacheFail(op string, err error) error {
	if err == nil {
		return nil
	}
	if sqldb.IsUndefinedTable(err) {
		return fmt.Errorf("dbqueue: %s: Laravel's cache table %q (cache_table) does not exist: create it with `php artisan cache:table && php artisan migrate`, or remove cache_table to keep the signal in %q: %w",
			op, q.cache.table, q.signals, err)
	}
	return q.failOn(op, q.cache.table, err)
}

// ForceReleaseLock deletes a lock of Laravel's DatabaseStore, as DatabaseLock::forceRelease
// does, from the cache's lock table (cache_table + "_locks", as `php artisan cache:table` names
// it). Without a cache_table, or without its lock table, there is no lock qctl can know of.
func (q *Queue) ForceReleaseLock(ctx context.Context, name string) error {
	if q.cache == nil {
		return nil
	}
	_, err := q.db.ExecContext(ctx, q.cache.release, q.cache.prefix+name)
	if err == nil || sqldb.IsUndefinedTable(err) {
		return nil
	}
	return q.failOn("release lock", q.cache.table+"_locks", err)
}

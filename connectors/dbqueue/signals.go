package dbqueue

import (
	"context"
	"database/sql"
	"errors"
)

// restartSignal is the qctl_signals row `qctl restart` writes.
const restartSignal = "restart"

// RestartSignal returns the value of the last restart broadcast, or "" when there was none.
func (q *Queue) RestartSignal(ctx context.Context) (string, error) {
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
	if _, err := q.db.ExecContext(ctx, q.sql.signalSet, restartSignal, value, q.unix()); err != nil {
		return q.failOn("broadcast restart", q.signals, err)
	}
	return nil
}

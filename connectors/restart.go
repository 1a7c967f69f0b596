package connectors

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// restartAhead bounds how far ahead of now a stored restart value may be and still count as a
// Unix second that the next value must pass: far enough for many restarts in one second and
// for clocks of different hosts that disagree, far short of the nanoseconds qctl once stored.
const restartAhead = 24 * time.Hour

// NextRestartValue is the restart signal a broadcast stores when previous is stored now: the
// current Unix second, as `php artisan queue:restart` and `php think queue:restart` store, or
// previous+1 when previous is already at or past it (a second restart within one second, or one
// after a host whose clock runs ahead). So values stay Unix seconds for any reader that expects
// them, and every broadcast changes the value, which is all a worker looks for. A previous value
// that is not such a second (none, the nanoseconds older qctl stored, anything else) is
// passed over; the value returned differs from it all the same.
func NextRestartValue(previous string, now time.Time) string {
	next := now.Unix()
	if p, err := strconv.ParseInt(previous, 10, 64); err == nil && p >= next && p <= now.Add(restartAhead).Unix() {
		next = p + 1
	}
	return strconv.FormatInt(next, 10)
}

// BroadcastRestartAt reads r's restart signal and stores NextRestartValue of it, so every worker
// sharing r's backend stops after its current job; it returns the value stored. Two broadcasts
// racing each other may read the same previous value and store the same next one: workers then
// see one change, which stops them all the same.
func BroadcastRestartAt(ctx context.Context, r Restarter, now time.Time) (string, error) {
	previous, err := r.RestartSignal(ctx)
	if err != nil {
		return "", fmt.Errorf("reading the restart signal: %w", err)
	}
	next := NextRestartValue(previous, now)
	if err := r.BroadcastRestart(ctx, next); err != nil {
		return "", fmt.Errorf("storing the restart signal: %w", err)
	}
	return next, nil
}

package beanstalkqueue

import (
	"context"
	"errors"
	"fmt"
	"time"

	beanstalk "github.com/beanstalkd/go-beanstalk"
)

// waitPoll is how often Wait asks the server whether tube has a ready job. An idle worker then
// sends 40 peek-ready a second, each a few microseconds of the server's time, and picks up a job
// pushed meanwhile within 25 ms.
const waitPoll = 25 * time.Millisecond

// Wait blocks until tube has a ready job (true), d passes (false), or ctx ends (ctx's error). It
// waits at most Options.BlockFor when that is set. The job is not reserved: a Pop after Wait takes
// it, or finds that another worker was quicker.
//
// Wait polls peek-ready instead of blocking in reserve, beanstalkd's only blocking command, because
// a reservation counts an attempt (the job's reserves, which are its Attempts) and keeps the job
// from every other worker: a reserve made only to wait would charge an attempt to a run that has
// not happened, or, handed back, reorder the tube. Between polls it also nudges reservations whose
// TTR ran out (see nudgeExpired), so a job abandoned by this process comes back while its workers
// wait.
func (q *Queue) Wait(ctx context.Context, tube string, d time.Duration) (bool, error) {
	if err := checkTube(tube); err != nil {
		return false, err
	}
	if q.blockFor > 0 && d > q.blockFor {
		d = q.blockFor
	}
	deadline := time.Now().Add(d)
	s := q.serverFor(tube)
	var tick *time.Timer
	for {
		ready, err := q.hasReady(ctx, tube)
		if ready || err != nil {
			return ready, err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return false, nil
		}
		s.nudgeExpired(ctx)
		if tick == nil {
			tick = time.NewTimer(min(left, waitPoll))
			defer tick.Stop()
		} else {
			tick.Reset(min(left, waitPoll))
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-tick.C:
		}
	}
}

// hasReady reports whether tube has a ready job (peek-ready on an idle connection).
func (q *Queue) hasReady(ctx context.Context, tube string) (bool, error) {
	err := q.borrow(ctx, tube, func(c *conn) error {
		return c.do(ctx, "peek-ready", func() error {
			_, _, err := (&beanstalk.Tube{Conn: c.bc, Name: tube}).PeekReady()
			return err
		})
	})
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, beanstalk.ErrNotFound):
		return false, nil
	case ctx.Err() != nil:
		return false, ctx.Err()
	}
	return false, fmt.Errorf("wait on tube %q: %w", tube, err)
}

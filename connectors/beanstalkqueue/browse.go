package beanstalkqueue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/beanstalkd/go-beanstalk"

	"github.com/qctl/qctl/connectors"
)

var (
	_ connectors.Browser     = (*Queue)(nil)
	_ connectors.NextJobOnly = (*Queue)(nil)
)

// NextJobOnly marks what the protocol allows a Browser: peek-ready and peek-delayed show the next
// job of each state, and nothing lists the ones behind it or the reserved ones.
func (q *Queue) NextJobOnly() {}

// Browse lists the next job of tube in state, as far as beanstalkd lets a client look without
// reserving: the ready job a reserve would take next (peek-ready) or the delayed job due first
// (peek-delayed). There is never a next page. Reserved jobs cannot be listed (there is no
// peek-reserved); stats-tube only counts them.
func (q *Queue) Browse(ctx context.Context, tube string, state connectors.JobState, cursor string, n int) ([]connectors.BrowsedJob, string, error) {
	if state == connectors.StateReserved {
		return nil, "", fmt.Errorf("beanstalkqueue: beanstalkd cannot list reserved jobs (it has no peek-reserved; stats-tube counts them)")
	}
	if state != connectors.StateReady && state != connectors.StateDelayed {
		return nil, "", fmt.Errorf("beanstalkqueue: unknown job state %q", state)
	}
	if cursor != "" || n <= 0 {
		return nil, "", nil
	}
	job, err := q.Peek(ctx, tube, string(state))
	if err != nil || job == nil {
		return nil, "", err
	}
	b := connectors.BrowsedJob{ID: job.ID, Ref: job.ID, Attempts: job.Attempts, Payload: job.Payload}
	if state == connectors.StateDelayed {
		b.Available = time.Now().Add(job.TimeLeft).Truncate(time.Second)
	} else {
		b.Available = time.Now().Add(-job.Age).Truncate(time.Second) // put then; due since, unless it was put with a delay
	}
	return []connectors.BrowsedJob{b}, "", nil
}

// DeleteJob deletes the job whose id is ref if stats-job finds it in tube and in state, ready or
// delayed. beanstalkd lets any connection delete a ready, delayed or buried job, and only its
// holder a reserved one.
func (q *Queue) DeleteJob(ctx context.Context, tube string, state connectors.JobState, ref string) error {
	if state == connectors.StateReserved {
		return fmt.Errorf("beanstalkqueue: a reserved job belongs to the worker running it: %w", connectors.ErrJobNotFound)
	}
	return q.onJobIn(ctx, tube, string(state), ref, "delete", func(c *conn, id uint64) error { return c.bc.Delete(id) })
}

// ReadyNow makes the delayed job whose id is ref ready now with kick-job (beanstalkd 1.8), which
// keeps its id, priority and reserves.
func (q *Queue) ReadyNow(ctx context.Context, tube string, ref string) error {
	return q.onJobIn(ctx, tube, "delayed", ref, "kick-job", func(c *conn, id uint64) error { return c.bc.KickJob(id) })
}

// onJobIn runs cmd on job ref after stats-job has found it in tube and in state, on the tube's
// server; a job that is gone or elsewhere is ErrJobNotFound. The job can still change state
// between the two commands (a delayed job falling due, a worker reserving a ready one): a reserved
// job's delete then fails with NOT_FOUND, reported as ErrJobNotFound too.
func (q *Queue) onJobIn(ctx context.Context, tube, state, ref, op string, cmd func(c *conn, id uint64) error) error {
	if err := checkTube(tube); err != nil {
		return err
	}
	id, err := strconv.ParseUint(ref, 10, 64)
	if err != nil {
		return fmt.Errorf("beanstalkqueue: job %q is not a job id: %w", ref, connectors.ErrJobNotFound)
	}
	err = q.borrow(ctx, tube, func(c *conn) error {
		var st map[string]string
		if err := c.do(ctx, "stats-job", func() (err error) { st, err = c.bc.StatsJob(id); return err }); err != nil {
			return err
		}
		if st["tube"] != tube || st["state"] != state {
			return fmt.Errorf("job %d is %s in tube %q: %w", id, st["state"], st["tube"], connectors.ErrJobNotFound)
		}
		return c.do(ctx, op, func() error { return cmd(c, id) })
	})
	if errors.Is(err, beanstalk.ErrNotFound) {
		return fmt.Errorf("beanstalkqueue: %s job %d of tube %q: %w", op, id, tube, connectors.ErrJobNotFound)
	}
	if err != nil && !errors.Is(err, connectors.ErrJobNotFound) {
		return fmt.Errorf("beanstalkqueue: %s job %d of tube %q: %w", op, id, tube, err)
	}
	if err != nil {
		return fmt.Errorf("beanstalkqueue: %w", err)
	}
	return nil
}

package beanstalkqueue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	beanstalk "github.com/beanstalkd/go-beanstalk"

	"github.com/qctl/qctl/connectors"
)

// This file is a job's lifecycle: put (ready or delayed) -> reserve (bound to one connection) ->
// delete | release | bury, with touch restarting the TTR meanwhile.

// Push puts payload on tube with Options.Priority and the TTR Options.RetryAfter, ready after
// delay (rounded up to whole seconds), and returns beanstalkd's job id.
func (q *Queue) Push(ctx context.Context, tube string, payload []byte, delay time.Duration) (string, error) {
	return q.PushPriority(ctx, tube, payload, delay, q.priority)
}

// PushPriority is Push with an explicit priority: 0 is the most urgent, 4294967295 the least, and
// jobs of equal priority come out first in, first out.
func (q *Queue) PushPriority(ctx context.Context, tube string, payload []byte, delay time.Duration, priority uint32) (string, error) {
	if err := checkTube(tube); err != nil {
		return "", err
	}
	var id uint64
	err := q.borrow(ctx, tube, func(c *conn) error {
		return c.do(ctx, "put", func() (err error) {
			id, err = c.put(tube, payload, priority, wholeSeconds(delay), q.ttr)
			return err
		})
	})
	switch {
	case err == nil:
		return strconv.FormatUint(id, 10), nil
	case errors.Is(err, beanstalk.ErrJobTooBig):
		return "", fmt.Errorf("push to tube %q: a payload of %d bytes is over beanstalkd %s's max-job-size (raise it with beanstalkd -z)", tube, len(payload), q.serverFor(tube).addr)
	case errors.Is(err, beanstalk.ErrDraining):
		return "", fmt.Errorf("push to tube %q: beanstalkd %s is draining (shutting down): %w", tube, q.serverFor(tube).addr, connectors.ErrUnavailable)
	}
	return "", fmt.Errorf("push to tube %q: %w", tube, err)
}

// Pop reserves the next ready job of tube (by priority, then first in, first out) and returns
// nil, nil at once when none is ready (reserve-with-timeout 0; Wait is how to wait). The
// reservation lasts the job's TTR. Attempts is the job's reserves count, one round trip more
// (stats-job) that also gives the job's priority and TTR, kept for Release, Bury and reclaiming;
// see CountAttemptsAtPop for leaving it to CountAttempts.
func (q *Queue) Pop(ctx context.Context, tube string) (*connectors.Reserved, error) {
	jobs, err := q.PopN(ctx, tube, 1)
	if len(jobs) == 0 {
		return nil, err
	}
	return jobs[0], err
}

// Delete deletes a reserved job. It returns an error wrapping ErrLeaseLost when the reservation
// is gone: its TTR ran out and another worker reserved the job, or its connection was lost. (A
// job whose TTR ran out but that nobody reserved yet is still deleted: beanstalkd allows that.)
func (q *Queue) Delete(ctx context.Context, job *connectors.Reserved) error {
	return q.onReservation(ctx, job, "delete", true, func(c *conn, res *reservation) error { return c.bc.Delete(res.job) })
}

// Release ends the reservation and makes the job ready again after delay (whole seconds, rounded
// up), with the priority it had. The reserves count, and so Attempts, is kept.
func (q *Queue) Release(ctx context.Context, job *connectors.Reserved, delay time.Duration) error {
	return q.onReservation(ctx, job, "release", true, func(c *conn, res *reservation) error {
		if err := c.learn(res); err != nil {
			return err
		}
		return c.bc.Release(res.job, res.pri, wholeSeconds(delay))
	})
}

// Bury ends the reservation by moving the job to its tube's buried list, where it stays, keeping
// its priority, until Kick brings it back. It is how `bury_failed` fails a job.
func (q *Queue) Bury(ctx context.Context, job *connectors.Reserved) error {
	return q.onReservation(ctx, job, "bury", true, func(c *conn, res *reservation) error {
		if err := c.learn(res); err != nil {
			return err
		}
		return c.bc.Bury(res.job, res.pri)
	})
}

// Extend restarts the job's TTR with `touch`. beanstalkd fixes a job's TTR when it is put, so the
// reservation runs for that whole TTR from now and lease is ignored; a lease extender calling
// every lease/2 with lease = retry_after keeps the job as long as it runs.
func (q *Queue) Extend(ctx context.Context, job *connectors.Reserved, lease time.Duration) error {
	return q.onReservation(ctx, job, "touch", false, func(c *conn, res *reservation) error {
		if err := c.bc.Touch(res.job); err != nil {
			return err
		}
		if res.known {
			res.deadline = time.Now().Add(res.ttr)
		}
		return nil
	})
}

// CountAttemptsAtPop(false) makes Pop and PopN skip their stats-job, a third of the commands a
// job costs the server, and leave Reserved.Attempts 0; CountAttempts then counts on demand, as
// Laravel's BeanstalkdJob::attempts() does. The worker turns it off when its tries are unlimited:
// it then asks only on a failure or when a handler calls Job.Attempts, so a job costs two
// commands, reserve and delete. Release and Bury of an uncounted job read its priority first.
func (q *Queue) CountAttemptsAtPop(on bool) { q.lazy.Store(!on) }

// CountAttempts reads the attempts (reserves) of a job popped without counting, with stats-job on
// the connection holding it, which also learns its priority and TTR for later. A job whose count
// is known already costs nothing.
func (q *Queue) CountAttempts(ctx context.Context, job *connectors.Reserved) (int, error) {
	if job != nil && job.Attempts > 0 {
		return job.Attempts, nil
	}
	var attempts int
	err := q.onReservation(ctx, job, "stats-job", false, func(c *conn, res *reservation) (err error) {
		attempts, err = c.describe(res)
		return err
	})
	return attempts, err
}

// onReservation runs cmd on the connection holding job's reservation, the only one beanstalkd
// accepts it on. ends says cmd ends the reservation (delete, release, bury), which frees the
// connection for other work once it holds no other; otherwise (touch) the reservation's local
// deadline moves on.
func (q *Queue) onReservation(ctx context.Context, job *connectors.Reserved, op string, ends bool, cmd func(c *conn, res *reservation) error) error {
	if job == nil {
		return fmt.Errorf("beanstalkqueue: %s of a nil job", op)
	}
	rc, err := parseReceipt(job.Receipt)
	if err != nil {
		return err
	}
	if rc.instance != q.instance || rc.server >= uint64(len(q.servers)) {
		return fmt.Errorf("beanstalkqueue: %s job %s: it was reserved through another Queue", op, job.ID)
	}
	s := q.servers[rc.server]
	lost := func(why string) error {
		return fmt.Errorf("beanstalkd %s: %s job %s: %s: %w", s.addr, op, job.ID, why, connectors.ErrLeaseLost)
	}
	c, ok := s.lookup(rc.conn)
	if !ok {
		return lost("the connection holding the reservation closed, and beanstalkd handed the job back")
	}
	c.mu.Lock()
	res, held := c.held[rc.gen]
	if !held {
		c.mu.Unlock()
		return lost("the reservation ended (its TTR ran out)")
	}
	err = c.do(ctx, op, func() error { return cmd(c, &res) })
	switch {
	case err == nil && !ends:
		c.held[rc.gen] = res
		c.mu.Unlock()
		return nil
	case err == nil, errors.Is(err, beanstalk.ErrNotFound), op == "release" && errors.Is(err, beanstalk.ErrBuried):
		delete(c.held, rc.gen)
		idle := len(c.held) == 0
		c.mu.Unlock()
		if idle {
			s.release(c)
		}
		switch {
		case err == nil:
			return nil
		case errors.Is(err, beanstalk.ErrNotFound):
			return lost("beanstalkd no longer has it reserved here (its TTR ran out)")
		}
		return fmt.Errorf("beanstalkd %s: release job %s: the server is out of memory and buried the job instead", s.addr, job.ID)
	case isReply(err):
		c.mu.Unlock()
		return fmt.Errorf("beanstalkd %s: %s job %s: %w", s.addr, op, job.ID, err)
	}
	// The connection failed (do discarded it), and the reservation went with it.
	c.mu.Unlock()
	return fmt.Errorf("%s job %s: reservation lost with its connection: %w: %w", op, job.ID, connectors.ErrLeaseLost, err)
}

// borrow runs fn on an idle connection of tube's server (fn may use c under c.mu) and returns the
// connection to the pool unless fn's I/O broke it.
func (q *Queue) borrow(ctx context.Context, tube string, fn func(c *conn) error) error {
	s := q.serverFor(tube)
	c, err := s.acquire(ctx)
	if err != nil {
		return err
	}
	c.mu.Lock()
	err = fn(c)
	c.mu.Unlock()
	if !c.broken.Load() {
		s.release(c)
	}
	return err
}

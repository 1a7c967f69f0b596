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
			t := beanstalk.Tube{Conn: c.bc, Name: tube}
			id, err = t.Put(payload, priority, wholeSeconds(delay), q.ttr)
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
// (stats-job) that also gives the job's priority and TTR, kept for Release, Bury and reclaiming.
func (q *Queue) Pop(ctx context.Context, tube string) (*connectors.Reserved, error) {
	if err := checkTube(tube); err != nil {
		return nil, err
	}
	s := q.serverFor(tube)
	c, err := s.acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("pop from tube %q: %w", tube, err)
	}
	c.mu.Lock()
	job, err := q.reserve(ctx, c, tube)
	c.mu.Unlock()
	if job == nil && !c.broken.Load() {
		s.release(c)
	}
	if err != nil {
		return nil, fmt.Errorf("pop from tube %q: %w", tube, err)
	}
	if job == nil {
		s.nudgeExpired(ctx)
	}
	return job, nil
}

// reserve reserves a job of tube on c (the caller holds c.mu) and binds c to it.
func (q *Queue) reserve(ctx context.Context, c *conn, tube string) (*connectors.Reserved, error) {
	c.watchTube(tube)
	var (
		id   uint64
		body []byte
	)
	err := c.do(ctx, "reserve", func() (err error) {
		id, body, err = c.watch.Reserve(0)
		return err
	})
	// TIMED_OUT is reserve-with-timeout 0 finding nothing ready. DEADLINE_SOON only answers a
	// connection that holds a reservation about to expire; ours hold none when they reserve, but
	// it still means "nothing for you now".
	if errors.Is(err, beanstalk.ErrTimeout) || errors.Is(err, beanstalk.ErrDeadline) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	// The job is reserved: finish even if ctx ends now, since dropping the connection would hand
	// the job back with an attempt counted for a run that never happened.
	var stats map[string]string
	err = c.do(context.WithoutCancel(ctx), "stats-job", func() (err error) {
		stats, err = c.bc.StatsJob(id)
		return err
	})
	if err == nil {
		var res reservation
		var attempts int
		if attempts, res, err = parseJobStats(stats); err == nil {
			res.gen, res.job, res.deadline = q.gen.Add(1), id, time.Now().Add(res.ttr)
			c.res = res
			rc := receipt{instance: q.instance, server: uint64(c.srv.index), conn: c.id, gen: res.gen}
			return &connectors.Reserved{Queue: tube, ID: strconv.FormatUint(id, 10), Attempts: attempts, Payload: body, Receipt: rc.String()}, nil
		}
	}
	if !c.broken.Load() {
		// Closing the connection is the one sure way to hand back a job we cannot describe.
		c.srv.discard(c, false)
	}
	return nil, fmt.Errorf("beanstalkd %s: stats-job %d after reserving it: %w", c.srv.addr, id, err)
}

// parseJobStats reads attempts (reserves), priority and TTR from a stats-job reply.
func parseJobStats(st map[string]string) (attempts int, res reservation, err error) {
	reserves, err1 := strconv.Atoi(st["reserves"])
	pri, err2 := strconv.ParseUint(st["pri"], 10, 32)
	ttr, err3 := strconv.ParseInt(st["ttr"], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return 0, res, fmt.Errorf("unreadable stats-job reply %v: %w", st, err)
	}
	return reserves, reservation{pri: uint32(pri), ttr: time.Duration(ttr) * time.Second}, nil
}

// Delete deletes a reserved job. It returns an error wrapping ErrLeaseLost when the reservation
// is gone: its TTR ran out and another worker reserved the job, or its connection was lost. (A
// job whose TTR ran out but that nobody reserved yet is still deleted: beanstalkd allows that.)
func (q *Queue) Delete(ctx context.Context, job *connectors.Reserved) error {
	return q.onReservation(ctx, job, "delete", true, func(c *conn) error { return c.bc.Delete(c.res.job) })
}

// Release ends the reservation and makes the job ready again after delay (whole seconds, rounded
// up), with the priority it had. The reserves count, and so Attempts, is kept.
func (q *Queue) Release(ctx context.Context, job *connectors.Reserved, delay time.Duration) error {
	return q.onReservation(ctx, job, "release", true, func(c *conn) error {
		return c.bc.Release(c.res.job, c.res.pri, wholeSeconds(delay))
	})
}

// Bury ends the reservation by moving the job to its tube's buried list, where it stays, keeping
// its priority, until Kick brings it back. It is how `bury_failed` fails a job.
func (q *Queue) Bury(ctx context.Context, job *connectors.Reserved) error {
	return q.onReservation(ctx, job, "bury", true, func(c *conn) error { return c.bc.Bury(c.res.job, c.res.pri) })
}

// Extend restarts the job's TTR with `touch`. beanstalkd fixes a job's TTR when it is put, so the
// reservation runs for that whole TTR from now and lease is ignored; a lease extender calling
// every lease/2 with lease = retry_after keeps the job as long as it runs.
func (q *Queue) Extend(ctx context.Context, job *connectors.Reserved, lease time.Duration) error {
	return q.onReservation(ctx, job, "touch", false, func(c *conn) error { return c.bc.Touch(c.res.job) })
}

// onReservation runs cmd on the connection holding job's reservation, the only one beanstalkd
// accepts it on. ends says cmd ends the reservation (delete, release, bury), which frees the
// connection for other work; otherwise (touch) the reservation's local deadline moves on.
func (q *Queue) onReservation(ctx context.Context, job *connectors.Reserved, op string, ends bool, cmd func(c *conn) error) error {
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
	if c.res.gen != rc.gen {
		c.mu.Unlock()
		return lost("the reservation ended (its TTR ran out)")
	}
	err = c.do(ctx, op, func() error { return cmd(c) })
	switch {
	case err == nil && !ends:
		c.res.deadline = time.Now().Add(c.res.ttr)
		c.mu.Unlock()
		return nil
	case err == nil, errors.Is(err, beanstalk.ErrNotFound), op == "release" && errors.Is(err, beanstalk.ErrBuried):
		c.res = reservation{}
		c.mu.Unlock()
		s.release(c)
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

package beanstalkqueue

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	beanstalk "github.com/beanstalkd/go-beanstalk"

	"github.com/qctl/qctl/connectors"
)

// PopN reserves up to n ready jobs of tube on one connection, which then holds them all, in two
// round trips however large n is: n pipelined reserve-with-timeout 0, then the stats-job of each
// job reserved. On a connection that does not watch tube yet, the first reserve goes alone
// through go-beanstalk, which sends the watch list with it, and costs one round trip more. It
// returns an empty slice at once when nothing is ready. Attempts, priority and TTR come from
// stats-job as in Pop; after CountAttemptsAtPop(false) that round trip is skipped and Attempts
// is 0 until CountAttempts. A job that Wait reserved (see wait.go) is handed out first, alone.
func (q *Queue) PopN(ctx context.Context, tube string, n int) ([]*connectors.Reserved, error) {
	if err := checkTube(tube); err != nil {
		return nil, err
	}
	if n < 1 {
		return nil, nil
	}
	if jobs := q.unpark(tube, n); len(jobs) > 0 {
		return jobs, nil
	}
	jobs, err := q.reserveOn(ctx, tube, n, 0)
	if err != nil {
		return nil, fmt.Errorf("pop from tube %q: %w", tube, err)
	}
	if len(jobs) == 0 {
		q.serverFor(tube).nudgeExpired(ctx)
	}
	return jobs, nil
}

// reserveOn reserves up to n jobs of tube on an idle connection of its server, the first
// waiting up to block for one (see reserveN).
func (q *Queue) reserveOn(ctx context.Context, tube string, n int, block time.Duration) ([]*connectors.Reserved, error) {
	s := q.serverFor(tube)
	c, err := s.acquire(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	jobs, err := q.reserveN(ctx, c, tube, n, block)
	c.mu.Unlock()
	if len(jobs) == 0 && !c.broken.Load() {
		s.release(c)
	}
	return jobs, err
}

// reserveN reserves up to n jobs of tube on c (the caller holds c.mu) and binds c to them. With
// block > 0 the first reserve waits up to block (whole seconds) for a job, and ctx is not allowed
// to cut it short: beanstalkd cannot take a reserve back, and closing the connection while the
// server hands it a job would charge that job an attempt for a run that never happened.
func (q *Queue) reserveN(ctx context.Context, c *conn, tube string, n int, block time.Duration) ([]*connectors.Reserved, error) {
	var (
		ids    []uint64
		bodies [][]byte
	)
	// reserved reads count reserve replies, keeping the jobs.
	reserved := func(count int) error {
		for range count {
			id, body, ok, err := c.readReserved()
			if err != nil {
				return err
			}
			if ok {
				ids, bodies = append(ids, id), append(bodies, body)
			}
		}
		return nil
	}
	var p pipeline
	if c.watched == tube && block == 0 {
		for range n {
			p.reserveNow()
		}
		err := c.do(ctx, "reserve", func() error {
			if err := c.send(&p); err != nil {
				return err
			}
			return reserved(n)
		})
		if err != nil || len(ids) == 0 {
			return nil, err // on an I/O error do discarded c, which hands back what it reserved
		}
		n = 0
	} else {
		c.watchTube(tube)
		var (
			id   uint64
			body []byte
		)
		reserveCtx := ctx
		if block > 0 {
			// Past block, only a dead or hung server keeps the reply away.
			var cancel context.CancelFunc
			reserveCtx, cancel = context.WithTimeout(context.WithoutCancel(ctx), block+dialTimeout)
			defer cancel()
		}
		err := c.do(reserveCtx, "reserve", func() (err error) {
			id, body, err = c.watch.Reserve(block)
			if err == nil || isReply(err) {
				c.watched = tube
			}
			return err
		})
		// TIMED_OUT is reserve-with-timeout finding nothing ready. DEADLINE_SOON only answers
		// a connection that holds a reservation about to expire; ours hold none when they
		// reserve, but it still means "nothing for you now".
		if errors.Is(err, beanstalk.ErrTimeout) || errors.Is(err, beanstalk.ErrDeadline) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		ids, bodies = append(ids, id), append(bodies, body)
		n-- // the other reserves go out with the stats-jobs
	}

	// Jobs are reserved: finish even if ctx ends now, since dropping the connection would hand
	// them back with an attempt counted for a run that never happened. When attempts are not
	// counted at pop, only the reserves still to send go out, and the jobs stay uncounted.
	lazy := q.lazy.Load()
	var (
		attempts []int
		held     []reservation
	)
	described := func() int {
		if lazy {
			return len(ids)
		}
		return len(held)
	}
	err := c.do(context.WithoutCancel(ctx), "stats-job", func() error {
		for described() < len(ids) || n > 0 {
			p.buf = p.buf[:0]
			asked := len(ids) - described()
			for _, id := range ids[described():] {
				p.statsJob(id)
			}
			more := n
			for range more {
				p.reserveNow()
			}
			n = 0
			if err := c.send(&p); err != nil {
				return err
			}
			for range asked {
				a, res, err := c.readJobStats()
				if err != nil {
					return err
				}
				attempts, held = append(attempts, a), append(held, res)
			}
			if err := reserved(more); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if !c.broken.Load() {
			// Closing the connection is the one sure way to hand back jobs we cannot describe.
			c.srv.discard(c, false)
		}
		return nil, fmt.Errorf("beanstalkd %s: stats-job after reserving %d job(s): %w", c.srv.addr, len(ids), err)
	}

	now := time.Now()
	jobs := make([]*connectors.Reserved, len(ids))
	for i, id := range ids {
		var res reservation
		job := &connectors.Reserved{Queue: tube, ID: strconv.FormatUint(id, 10), Payload: bodies[i]}
		if !lazy {
			res = held[i]
			res.known, res.deadline, job.Attempts = true, now.Add(res.ttr), attempts[i]
		}
		res.job = id
		gen := q.gen.Add(1)
		c.hold(gen, res)
		job.Receipt = receipt{instance: q.instance, server: uint64(c.srv.index), conn: c.id, gen: gen}.String()
		jobs[i] = job
	}
	return jobs, nil
}

// DeleteN deletes reserved jobs with one pipelined round trip per connection holding them (Delete
// costs one per job): the deletes go out on every connection first, then the replies are read, so
// the connections' round trips overlap without a goroutine each. A job whose reservation already
// ended is skipped, as the contract asks. When a connection fails midway its jobs were not
// deleted; they come back when the server notices, and the error says so.
func (q *Queue) DeleteN(ctx context.Context, jobs []*connectors.Reserved) error {
	groups := make(map[holder][]uint64) // reservation numbers, by the connection holding them
	var errs []error
	for _, job := range jobs {
		if job == nil {
			continue
		}
		rc, err := parseReceipt(job.Receipt)
		if err == nil && (rc.instance != q.instance || rc.server >= uint64(len(q.servers))) {
			err = fmt.Errorf("beanstalkqueue: delete job %s: it was reserved through another Queue", job.ID)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		h := holder{rc.server, rc.conn}
		groups[h] = append(groups[h], rc.gen)
	}
	// Connections are locked in one order, so two DeleteN never wait for each other in a cycle.
	holders := make([]holder, 0, len(groups))
	for h := range groups {
		holders = append(holders, h)
	}
	slices.SortFunc(holders, func(a, b holder) int {
		return cmp.Or(cmp.Compare(a.server, b.server), cmp.Compare(a.conn, b.conn))
	})

	sent := make([]deletion, 0, len(holders))
	for _, h := range holders {
		d := deletion{s: q.servers[h.server]}
		c, ok := d.s.lookup(h.conn)
		if !ok {
			continue // the connection closed and the server handed its jobs back: nothing to delete
		}
		d.c = c
		c.mu.Lock()
		var p pipeline
		for _, gen := range groups[h] {
			if res, ok := c.held[gen]; ok {
				p.delete(res.job)
				d.gens = append(d.gens, gen)
			}
		}
		if len(d.gens) == 0 {
			c.mu.Unlock()
			continue
		}
		if err := c.do(ctx, "delete", func() error { return c.send(&p) }); err != nil {
			errs = append(errs, d.end(err))
			continue
		}
		sent = append(sent, d)
	}
	for _, d := range sent {
		err := d.c.do(ctx, "delete", func() error {
			for range d.gens {
				if _, err := d.c.readDeleted(); err != nil { // NOT_FOUND: the TTR ran out; skipped
					return err
				}
			}
			return nil
		})
		if err != nil && !d.c.broken.Load() {
			// do refused to start (ctx ended): the replies are still on their way, so the
			// connection is out of step and must go.
			d.s.discard(d.c, false)
		}
		errs = append(errs, d.end(err))
	}
	return joinErrors(errs...)
}

// holder names a connection: its server's index and its id.
type holder struct{ server, conn uint64 }

// deletion is DeleteN's work on one connection, whose lock it holds from sending to end.
type deletion struct {
	s    *server
	c    *conn
	gens []uint64 // the reservations being deleted
}

// end forgets the reservations, unlocks the connection and gives it back to the pool once it
// holds no reservation (a failed one was discarded by conn.do).
func (d deletion) end(err error) error {
	for _, gen := range d.gens {
		delete(d.c.held, gen)
	}
	idle := len(d.c.held) == 0
	d.c.mu.Unlock()
	if err != nil {
		return fmt.Errorf("delete %d job(s): %w (they return to their tubes when beanstalkd notices the closed connection)", len(d.gens), err)
	}
	if idle {
		d.s.release(d.c)
	}
	return nil
}

// bulkChunk is how many puts PushBulk writes at once: about 256 KiB of 1 KiB payloads, well within
// what the server reads ahead, and small enough that a failure names a narrow range.
const bulkChunk = 256

// PushBulk puts payloads on tube in order, with Options.Priority and TTR, ready after delay, and
// returns their ids. On a connection that does not use tube yet, one put goes through go-beanstalk,
// which sends `use` with it; the rest are pipelined bulkChunk at a time. A job the server refuses
// (JOB_TOO_BIG, DRAINING, or BURIED for want of memory) does not stop the others already written;
// the error counts the refusals, and ids lists every job that was put.
func (q *Queue) PushBulk(ctx context.Context, tube string, payloads [][]byte, delay time.Duration) ([]string, error) {
	if err := checkTube(tube); err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(payloads))
	var refused []string
	delay = wholeSeconds(delay)
	err := q.borrow(ctx, tube, func(c *conn) error {
		for rest := payloads; len(rest) > 0; {
			if c.used != tube {
				var id uint64
				err := c.do(ctx, "put", func() (err error) {
					id, err = c.put(tube, rest[0], q.priority, delay, q.ttr)
					return err
				})
				switch {
				case errors.Is(err, beanstalk.ErrJobTooBig), errors.Is(err, beanstalk.ErrDraining), errors.Is(err, beanstalk.ErrBuried):
					refused = append(refused, err.Error())
				case err != nil:
					return err
				default:
					ids = append(ids, strconv.FormatUint(id, 10))
				}
				rest = rest[1:]
				continue
			}
			chunk := rest[:min(bulkChunk, len(rest))]
			rest = rest[len(chunk):]
			err := c.do(ctx, "put", func() error {
				var p pipeline
				for _, body := range chunk {
					p.put(q.priority, delay, q.ttr, body)
				}
				if err := c.send(&p); err != nil {
					return err
				}
				for range chunk {
					id, why, err := c.readInserted()
					if err != nil {
						return err
					}
					if why != "" {
						refused = append(refused, why)
						continue
					}
					ids = append(ids, strconv.FormatUint(id, 10))
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil && len(refused) > 0 {
		err = fmt.Errorf("beanstalkd %s refused %d of %d jobs for tube %q (first reply %s; raise max-job-size with beanstalkd -z for JOB_TOO_BIG)", q.serverFor(tube).addr, len(refused), len(payloads), tube, refused[0])
	}
	if err != nil {
		return ids, fmt.Errorf("push to tube %q: %w", tube, err)
	}
	return ids, nil
}

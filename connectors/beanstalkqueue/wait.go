package beanstalkqueue

import (
	"context"
	"fmt"
	"time"

	"github.com/qctl/qctl/connectors"
)

// waitChunk is the longest one blocking reserve of Wait. A reserve cannot be taken back, so Wait
// never cuts one short; it looks at its context between chunks, and a stopped worker leaves Wait
// within this time. It is beanstalkd's unit of time, so it cannot be shorter.
const waitChunk = time.Second

// Wait blocks until tube has a ready job (true), d passes (false), or ctx ends (ctx's error). It
// waits at most Options.BlockFor when that is set, and may overrun d to the next whole second.
//
// Wait blocks the way Laravel's worker does, in reserve-with-timeout, so a job pushed to an idle
// worker starts within a round trip. The job it reserves is parked: the next Pop or PopN of tube
// hands it out, and the attempt its reservation counted is the run that follows. A worker only
// waits when every queue is empty and none of its jobs runs, so it pops right after. Should the
// Queue close first (the worker was stopped meanwhile), Close puts a fresh copy of a parked job
// back on its tube and deletes the reserved one, so no attempt is charged to a run that never
// happened. Between chunks Wait also nudges reservations whose TTR ran out (see nudgeExpired), so
// a job abandoned by this process comes back while its workers wait.
func (q *Queue) Wait(ctx context.Context, tube string, d time.Duration) (bool, error) {
	if err := checkTube(tube); err != nil {
		return false, err
	}
	if q.blockFor > 0 && d > q.blockFor {
		d = q.blockFor
	}
	if q.hasParked(tube) {
		return true, nil
	}
	deadline := time.Now().Add(d)
	for {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		block := min(wholeSeconds(time.Until(deadline)), waitChunk)
		jobs, err := q.reserveOn(ctx, tube, 1, block)
		if err != nil {
			return false, fmt.Errorf("wait on tube %q: %w", tube, err)
		}
		if len(jobs) > 0 {
			q.park(jobs[0])
			return true, nil
		}
		if block == 0 || !time.Now().Before(deadline) {
			return false, nil
		}
		q.serverFor(tube).nudgeExpired(ctx)
	}
}

// WaitReserves marks Wait as reserving the job it woke on (connectors.ReservingWaiter): the worker
// waits on it only while none of its jobs runs.
func (q *Queue) WaitReserves() {}

// park keeps a job Wait reserved for the next Pop of its tube.
func (q *Queue) park(job *connectors.Reserved) {
	q.parkMu.Lock()
	defer q.parkMu.Unlock()
	if q.parked == nil {
		q.parked = make(map[string][]*connectors.Reserved)
	}
	q.parked[job.Queue] = append(q.parked[job.Queue], job)
}

func (q *Queue) hasParked(tube string) bool {
	q.parkMu.Lock()
	defer q.parkMu.Unlock()
	return len(q.parked[tube]) > 0
}

// unpark hands out up to n parked jobs of tube, oldest first.
func (q *Queue) unpark(tube string, n int) []*connectors.Reserved {
	q.parkMu.Lock()
	defer q.parkMu.Unlock()
	jobs := q.parked[tube]
	if len(jobs) == 0 {
		return nil
	}
	n = min(n, len(jobs))
	out := append([]*connectors.Reserved(nil), jobs[:n]...)
	if rest := jobs[n:]; len(rest) > 0 {
		q.parked[tube] = rest
	} else {
		delete(q.parked, tube)
	}
	return out
}

// requeueParked runs at Close: each parked job goes back to its tube as a fresh copy (same body,
// priority and TTR, no reserves) and the reserved original is deleted. Should the copy fail, the
// original is released instead: it then carries one attempt too many, but it is not lost.
func (q *Queue) requeueParked(ctx context.Context) {
	q.parkMu.Lock()
	parked := q.parked
	q.parked = nil
	q.parkMu.Unlock()
	for tube, jobs := range parked {
		for _, job := range jobs {
			_ = q.onReservation(ctx, job, "requeue", true, func(c *conn, res *reservation) error {
				if err := c.learn(res); err != nil {
					return err
				}
				if _, err := c.put(tube, job.Payload, res.pri, 0, res.ttr); err != nil {
					return c.bc.Release(res.job, res.pri, 0)
				}
				return c.bc.Delete(res.job)
			})
		}
	}
}

package beanstalkqueue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	beanstalk "github.com/beanstalkd/go-beanstalk"
)

// This file holds the operations on a whole tube: counting, clearing, peeking and kicking.

// TubeStats counts a tube's jobs in each beanstalkd state.
type TubeStats struct {
	Ready, Delayed, Reserved, Buried int64
}

// Stats reads tube's counts from stats-tube. beanstalkd forgets a tube nobody uses and that holds
// no job, so a tube it does not know counts zero everywhere.
func (q *Queue) Stats(ctx context.Context, tube string) (TubeStats, error) {
	if err := checkTube(tube); err != nil {
		return TubeStats{}, err
	}
	var st map[string]string
	err := q.borrow(ctx, tube, func(c *conn) error {
		return c.do(ctx, "stats-tube", func() (err error) {
			t := beanstalk.Tube{Conn: c.bc, Name: tube}
			st, err = t.Stats()
			return err
		})
	})
	if errors.Is(err, beanstalk.ErrNotFound) {
		return TubeStats{}, nil
	}
	if err != nil {
		return TubeStats{}, fmt.Errorf("stats of tube %q: %w", tube, err)
	}
	var out TubeStats
	for _, f := range []struct {
		key string
		n   *int64
	}{
		{"current-jobs-ready", &out.Ready},
		{"current-jobs-delayed", &out.Delayed},
		{"current-jobs-reserved", &out.Reserved},
		{"current-jobs-buried", &out.Buried},
	} {
		if *f.n, err = strconv.ParseInt(st[f.key], 10, 64); err != nil {
			return TubeStats{}, fmt.Errorf("stats of tube %q: unreadable %s %q", tube, f.key, st[f.key])
		}
	}
	return out, nil
}

// Size counts tube's ready, delayed and reserved jobs; buried jobs are failed ones and not counted.
func (q *Queue) Size(ctx context.Context, tube string) (int64, error) {
	st, err := q.Stats(ctx, tube)
	return st.Ready + st.Delayed + st.Reserved, err
}

// Clear deletes tube's ready, delayed and buried jobs, peeking at each and deleting it by id, and
// returns how many it deleted. Reserved jobs are left alone, this Queue's own included: beanstalkd
// lets only the reserving connection delete them. Their holders delete or release them, or their
// TTR runs out and a later Clear finds them.
func (q *Queue) Clear(ctx context.Context, tube string) (int64, error) {
	if err := checkTube(tube); err != nil {
		return 0, err
	}
	var deleted int64
	err := q.borrow(ctx, tube, func(c *conn) error {
		t := beanstalk.Tube{Conn: c.bc, Name: tube}
		peeks := []func() (uint64, []byte, error){t.PeekReady, t.PeekDelayed, t.PeekBuried}
		for found := true; found; {
			found = false // another pass when this one found jobs: a delayed one may have become ready
			for _, peek := range peeks {
				for {
					var id uint64
					err := c.do(ctx, "peek", func() (err error) { id, _, err = peek(); return err })
					if errors.Is(err, beanstalk.ErrNotFound) {
						break
					}
					if err != nil {
						return err
					}
					found = true
					err = c.do(ctx, "delete", func() error { return c.bc.Delete(id) })
					switch {
					case err == nil:
						deleted++
					case !errors.Is(err, beanstalk.ErrNotFound): // NOT_FOUND: reserved meanwhile
						return err
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return deleted, fmt.Errorf("clear tube %q after deleting %d jobs: %w", tube, deleted, err)
	}
	return deleted, nil
}

// PeekedJob is a job Peek saw without reserving it, with what stats-job tells about it.
type PeekedJob struct {
	ID       string
	Payload  []byte
	Priority uint32
	// Attempts counts the job's reservations so far (its reserves): a buried job's include the
	// run that failed, and a ready job's next run will be Attempts+1.
	Attempts int
	// Age is the time since the job was put; TimeLeft, for a delayed job, the time until it is
	// ready. Both are whole seconds, as beanstalkd counts them.
	Age, TimeLeft time.Duration
}

// peekStates are the states Peek takes, as beanstalkd's peek-ready, peek-delayed and peek-buried.
var peekStates = map[string]func(t *beanstalk.Tube) (uint64, []byte, error){
	"ready":   (*beanstalk.Tube).PeekReady,
	"delayed": (*beanstalk.Tube).PeekDelayed,
	"buried":  (*beanstalk.Tube).PeekBuried,
}

// Peek returns the next job of tube in state "ready" (the one a reserve would take), "delayed"
// (the one due first) or "buried" (the first buried, the one a kick brings back first) without
// reserving it; nil, nil when there is none. It costs two round trips: the peek and stats-job.
func (q *Queue) Peek(ctx context.Context, tube, state string) (*PeekedJob, error) {
	if err := checkTube(tube); err != nil {
		return nil, err
	}
	peek := peekStates[state]
	if peek == nil {
		return nil, fmt.Errorf("beanstalkqueue: cannot peek at %q jobs: the states are ready, delayed and buried", state)
	}
	var job *PeekedJob
	err := q.borrow(ctx, tube, func(c *conn) error {
		t := &beanstalk.Tube{Conn: c.bc, Name: tube}
		// A job can be reserved or deleted between the peek and its stats-job: peek again.
		for range 5 {
			var (
				id   uint64
				body []byte
				st   map[string]string
			)
			if err := c.do(ctx, "peek-"+state, func() (err error) { id, body, err = peek(t); return err }); err != nil {
				return err
			}
			err := c.do(ctx, "stats-job", func() (err error) { st, err = c.bc.StatsJob(id); return err })
			if errors.Is(err, beanstalk.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			job = &PeekedJob{ID: strconv.FormatUint(id, 10), Payload: body}
			attempts, res, err := parseJobStats(st)
			if err != nil {
				return err
			}
			age, _ := strconv.ParseInt(st["age"], 10, 64)
			left, _ := strconv.ParseInt(st["time-left"], 10, 64)
			job.Attempts, job.Priority = attempts, res.pri
			job.Age = time.Duration(age) * time.Second
			if state == "delayed" {
				job.TimeLeft = time.Duration(left) * time.Second
			}
			return nil
		}
		return fmt.Errorf("the tube's %s jobs kept changing under the peek", state)
	})
	if errors.Is(err, beanstalk.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("peek at tube %q: %w", tube, err)
	}
	return job, nil
}

// Kick moves up to n jobs of tube back to ready and returns how many it moved. As beanstalkd's kick
// does, it moves buried jobs when the tube has any, and otherwise delayed jobs (making them ready
// early).
func (q *Queue) Kick(ctx context.Context, tube string, n int) (int, error) {
	if err := checkTube(tube); err != nil {
		return 0, err
	}
	if n <= 0 {
		return 0, fmt.Errorf("beanstalkqueue: kick %d jobs: the count must be positive", n)
	}
	var kicked int
	err := q.borrow(ctx, tube, func(c *conn) error {
		return c.do(ctx, "kick", func() (err error) {
			t := beanstalk.Tube{Conn: c.bc, Name: tube}
			kicked, err = t.Kick(n)
			return err
		})
	})
	if err != nil {
		return 0, fmt.Errorf("kick tube %q: %w", tube, err)
	}
	return kicked, nil
}

// Requeue moves up to n buried jobs of tube back to ready, first buried first, as new jobs: the
// same body, priority and TTR under a new id, with their attempts starting over. It returns how
// many it moved. It is `qctl kick`.
//
// beanstalkd's own kick (Kick) keeps a job's reserves count, which is its Attempts, so a job
// buried because it was out of tries would come back still out of tries, and a worker would fail
// it again at once without running it. So each job is reserved by id (reserve-job, beanstalkd
// 1.12), which keeps workers and other kicks off it; its copy is put, then it is deleted. A failure
// between the two leaves both (the job runs twice, as after a retry) rather than neither. On a
// server without reserve-job, Requeue falls back to Kick and the jobs keep their attempts.
func (q *Queue) Requeue(ctx context.Context, tube string, n int) (int, error) {
	if err := checkTube(tube); err != nil {
		return 0, err
	}
	if n <= 0 {
		return 0, fmt.Errorf("beanstalkqueue: requeue %d jobs: the count must be positive", n)
	}
	moved := 0
	err := q.borrow(ctx, tube, func(c *conn) error {
		t := &beanstalk.Tube{Conn: c.bc, Name: tube}
		for moved < n {
			var id uint64
			err := c.do(ctx, "peek-buried", func() (err error) { id, _, err = t.PeekBuried(); return err })
			if errors.Is(err, beanstalk.ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			var body []byte
			err = c.do(ctx, "reserve-job", func() (err error) { body, err = c.bc.ReserveJob(id); return err })
			switch {
			case errors.Is(err, beanstalk.ErrNotFound):
				continue // kicked or deleted meanwhile
			case errors.Is(err, beanstalk.ErrUnknown):
				return c.do(ctx, "kick", func() error {
					k, err := t.Kick(n - moved)
					moved += k
					return err
				})
			case err != nil:
				return err
			}
			if err := q.requeueReserved(ctx, c, t, id, body); err != nil {
				return err
			}
			moved++
		}
		return nil
	})
	if err != nil {
		return moved, fmt.Errorf("requeue buried jobs of tube %q after %d: %w", tube, moved, err)
	}
	return moved, nil
}

// requeueReserved puts a copy of job id, which c holds reserved, on t and deletes the original.
// If the copy cannot be put, the original is buried again (or handed back, should c break).
func (q *Queue) requeueReserved(ctx context.Context, c *conn, t *beanstalk.Tube, id uint64, body []byte) error {
	// The job is reserved: finish even if ctx ends, as Pop does.
	ctx = context.WithoutCancel(ctx)
	var st map[string]string
	err := c.do(ctx, "stats-job", func() (err error) { st, err = c.bc.StatsJob(id); return err })
	var res reservation
	if err == nil {
		_, res, err = parseJobStats(st)
	}
	if err == nil {
		err = c.do(ctx, "put", func() error { _, err := c.put(t.Name, body, res.pri, 0, res.ttr); return err })
	}
	if err != nil {
		if !c.broken.Load() {
			_ = c.do(ctx, "bury", func() error { return c.bc.Bury(id, res.pri) })
		}
		return err
	}
	return c.do(ctx, "delete", func() error { return c.bc.Delete(id) })
}

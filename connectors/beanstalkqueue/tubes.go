package beanstalkqueue

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	beanstalk "github.com/beanstalkd/go-beanstalk"

	"github.com/qctl/qctl/connectors"
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

// Peek returns the next job of tube in state "ready", "delayed" (the one due first) or "buried"
// without reserving it, with only ID and Payload set; nil, nil when there is none.
func (q *Queue) Peek(ctx context.Context, tube, state string) (*connectors.Reserved, error) {
	if err := checkTube(tube); err != nil {
		return nil, err
	}
	var job *connectors.Reserved
	err := q.borrow(ctx, tube, func(c *conn) error {
		t := beanstalk.Tube{Conn: c.bc, Name: tube}
		peek := map[string]func() (uint64, []byte, error){"ready": t.PeekReady, "delayed": t.PeekDelayed, "buried": t.PeekBuried}[state]
		if peek == nil {
			return fmt.Errorf("beanstalkqueue: cannot peek at %q jobs: the states are ready, delayed and buried", state)
		}
		return c.do(ctx, "peek-"+state, func() error {
			id, body, err := peek()
			if err == nil {
				job = &connectors.Reserved{Queue: tube, ID: strconv.FormatUint(id, 10), Payload: body}
			}
			return err
		})
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

package beanstalkqueue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	beanstalk "github.com/beanstalkd/go-beanstalk"

	"github.com/qctl/qctl/connectors"
)

var _ connectors.Inspector = (*Queue)(nil)

// QueueStats reads tube's counts from stats-tube and, when a job is ready, the age of the one a
// reserve would take next (peek-ready, then stats-job): beanstalkd orders ready jobs by priority,
// so that is the next job to run rather than strictly the oldest, and its age counts from its put.
func (q *Queue) QueueStats(ctx context.Context, tube string) (connectors.QueueStats, error) {
	ts, err := q.Stats(ctx, tube)
	if err != nil {
		return connectors.QueueStats{}, err
	}
	st := connectors.QueueStats{Ready: ts.Ready, Delayed: ts.Delayed, Reserved: ts.Reserved, Buried: ts.Buried}
	if st.Ready == 0 {
		return st, nil
	}
	var age int64
	err = q.borrow(ctx, tube, func(c *conn) error {
		t := beanstalk.Tube{Conn: c.bc, Name: tube}
		var id uint64
		if err := c.do(ctx, "peek-ready", func() (err error) { id, _, err = t.PeekReady(); return err }); err != nil {
			return err
		}
		return c.do(ctx, "stats-job", func() error {
			js, err := c.bc.StatsJob(id)
			if err == nil {
				age, err = strconv.ParseInt(js["age"], 10, 64)
			}
			return err
		})
	})
	switch {
	case errors.Is(err, beanstalk.ErrNotFound): // reserved or deleted between the two commands
		return st, nil
	case err != nil:
		return st, fmt.Errorf("age of the next job of tube %q: %w", tube, err)
	}
	st.OldestReady = time.Now().Add(-time.Duration(age) * time.Second)
	return st, nil
}

// Queues lists the tubes of every server (list-tubes), sorted, leaving out beanstalkd's
// "default" tube when it holds no job (the server always has it) and the tube of qctl's restart
// signal, which is no queue.
func (q *Queue) Queues(ctx context.Context) ([]string, error) {
	seen := map[string]bool{}
	for _, s := range q.servers {
		c, err := s.acquire(ctx)
		if err != nil {
			return nil, fmt.Errorf("list tubes: %w", err)
		}
		var tubes []string
		c.mu.Lock()
		err = c.do(ctx, "list-tubes", func() (err error) { tubes, err = c.bc.ListTubes(); return err })
		c.mu.Unlock()
		if !c.broken.Load() {
			s.release(c)
		}
		if err != nil {
			return nil, fmt.Errorf("list tubes: %w", err)
		}
		for _, t := range tubes {
			seen[t] = t != restartTube // qctl's own, not a queue
		}
	}
	if seen["default"] {
		if st, err := q.Stats(ctx, "default"); err == nil && st == (TubeStats{}) {
			delete(seen, "default")
		}
	}
	names := make([]string, 0, len(seen))
	for t, queue := range seen {
		if queue {
			names = append(names, t)
		}
	}
	slices.Sort(names)
	return names, nil
}

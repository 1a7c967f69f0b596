package beanstalkqueue

import (
	"context"
	"errors"
	"fmt"

	beanstalk "github.com/beanstalkd/go-beanstalk"
)

// restartTube holds the restart signal. The name is reserved: no queue should use it.
//
// beanstalkd has no key-value store, so the signal is kept as the body of the tube's one ready
// job: nobody watches the tube, so the job stays ready, and peek-ready reads it from any
// connection without reserving it. With several servers, the tube lives on its hashed server like
// any other, so every process listing the same servers reads the same one.
//
// beanstalkd keeps jobs in memory unless it runs with a binlog (-b): a server restarted without
// one forgets the signal, and every worker then sees it change (to "") and exits as after `qctl
// restart`. Under a supervisor that only restarts the workers, which reconnect anyway.
const restartTube = "qctl.restart"

// RestartSignal returns the value BroadcastRestart stored, or "" when there is none.
func (q *Queue) RestartSignal(ctx context.Context) (string, error) {
	var value string
	err := q.borrow(ctx, restartTube, func(c *conn) error {
		return c.do(ctx, "peek-ready", func() error {
			_, body, err := (&beanstalk.Tube{Conn: c.bc, Name: restartTube}).PeekReady()
			value = string(body)
			return err
		})
	})
	switch {
	case errors.Is(err, beanstalk.ErrNotFound):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("read the restart signal (tube %q): %w", restartTube, err)
	}
	return value, nil
}

// BroadcastRestart stores value as the restart signal: it puts value at priority 0, then deletes
// the older signal jobs ahead of it. Putting first means a reader never finds the tube empty
// (which would read as a change to ""), only the old value and then the new one. Job ids grow,
// so a broadcast that finds a newer job than its own (a concurrent broadcast) stops there and
// the newest value wins.
func (q *Queue) BroadcastRestart(ctx context.Context, value string) error {
	err := q.borrow(ctx, restartTube, func(c *conn) error {
		t := beanstalk.Tube{Conn: c.bc, Name: restartTube}
		var mine uint64
		if err := c.do(ctx, "put", func() (err error) {
			mine, err = c.put(restartTube, []byte(value), 0, 0, q.ttr)
			return err
		}); err != nil {
			return err
		}
		for {
			var id uint64
			err := c.do(ctx, "peek-ready", func() (err error) { id, _, err = t.PeekReady(); return err })
			switch {
			case errors.Is(err, beanstalk.ErrNotFound):
				return nil // a concurrent broadcast deleted ours after putting its own
			case err != nil:
				return err
			case id >= mine:
				return nil
			}
			err = c.do(ctx, "delete", func() error { return c.bc.Delete(id) })
			if err != nil && !errors.Is(err, beanstalk.ErrNotFound) {
				return err
			}
		}
	})
	if err != nil {
		return fmt.Errorf("broadcast the restart signal (tube %q): %w", restartTube, err)
	}
	return nil
}

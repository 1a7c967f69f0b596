package worker

import (
	"context"
	"errors"
	"time"

	"github.com/qctl/qctl/connectors"
)

// completer deletes finished jobs on its own goroutine, so the worker's next pop never waits for
// the previous job's delete. Jobs that finish while one delete is in flight make up the next batch,
// which a BatchDeleter removes in one round trip: batches grow with load, with no timer to tune.
//
// Only the loop's goroutine calls add and stop; the completer's goroutine owns everything else.
type completer struct {
	queue  connectors.Queue
	report Reporter
	in     chan *connectors.Reserved
	done   chan struct{}
}

func newCompleter(q connectors.Queue, report Reporter, buffer int) *completer {
	c := &completer{queue: q, report: report, in: make(chan *connectors.Reserved, buffer), done: make(chan struct{})}
	go c.run()
	return c
}

// add queues a finished job for deletion.
func (c *completer) add(r *connectors.Reserved) { c.in <- r }

// stop deletes what is still queued and returns once the goroutine is gone.
func (c *completer) stop() {
	close(c.in)
	<-c.done
}

func (c *completer) run() {
	defer close(c.done)
	batch := make([]*connectors.Reserved, 0, cap(c.in))
	for r := range c.in {
		batch = append(batch[:0], r)
	more:
		for {
			select {
			case r, ok := <-c.in:
				if !ok {
					break more
				}
				batch = append(batch, r)
			default:
				break more
			}
		}
		c.delete(batch)
	}
}

// delete removes batch from the queue. On failure the jobs stay reserved and come back when their
// leases end: at least once, never lost.
func (c *completer) delete(batch []*connectors.Reserved) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var err error
	if bd, ok := c.queue.(connectors.BatchDeleter); ok && len(batch) > 1 {
		err = bd.DeleteN(ctx, batch)
	} else {
		// One round trip per job, but all at once: a backend without batch delete (beanstalkd)
		// then costs a batch one round trip of time, not len(batch).
		errs := make(chan error, len(batch))
		for _, r := range batch {
			go func(r *connectors.Reserved) { errs <- c.queue.Delete(ctx, r) }(r)
		}
		for range batch {
			if e := <-errs; e != nil && !errors.Is(e, connectors.ErrLeaseLost) {
				err = e
			}
		}
	}
	if err != nil {
		c.report(Event{Type: EventError, Error: "deleting finished jobs (they return when their leases end): " + err.Error()})
	}
}

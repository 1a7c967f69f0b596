// Package syncqueue is the `sync` driver: Push runs the job at once, in the pushing process, as
// Laravel's sync driver does. It is for development and tests, where a queue server is overkill and
// seeing a job's failure right away is the point.
package syncqueue

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/qctl/qctl/connectors"
)

// RunFunc runs one reserved job to its end (handler, release or failure bookkeeping) and returns the
// handler's error, if any. The command layer passes the worker's single-job executor.
type RunFunc func(ctx context.Context, job *connectors.Reserved) error

// Queue runs each pushed job immediately through run.
type Queue struct {
	run RunFunc
	seq atomic.Int64
}

// New returns a sync queue that hands every pushed job to run.
func New(run RunFunc) *Queue { return &Queue{run: run} }

var _ connectors.Queue = (*Queue)(nil)

// ErrDelayed is returned for a delayed push: there is no later in a queue with no storage.
var ErrDelayed = errors.New("the sync driver runs jobs at once and cannot delay them; use a database or redis connection")

// Push runs the job now and returns its sequence number as the id. The handler's error is returned,
// so `qctl push` on a sync connection reports a failing job immediately.
func (q *Queue) Push(ctx context.Context, queue string, payload []byte, delay time.Duration) (string, error) {
	if delay > 0 {
		return "", ErrDelayed
	}
	id := strconv.FormatInt(q.seq.Add(1), 10)
	if q.run == nil {
		return id, nil
	}
	return id, q.run(ctx, &connectors.Reserved{Queue: queue, ID: id, Attempts: 1, Payload: payload})
}

// Pop never finds a job: pushed jobs have already run.
func (q *Queue) Pop(context.Context, string) (*connectors.Reserved, error) { return nil, nil }

// Delete has nothing to delete: a sync job is never stored.
func (q *Queue) Delete(context.Context, *connectors.Reserved) error { return nil }

// Release cannot put the job back anywhere; like Laravel's sync driver it drops the retry.
func (q *Queue) Release(context.Context, *connectors.Reserved, time.Duration) error { return nil }

// Size is always zero.
func (q *Queue) Size(context.Context, string) (int64, error) { return 0, nil }

// Clear has nothing to clear.
func (q *Queue) Clear(context.Context, string) (int64, error) { return 0, nil }

// Close does nothing.
func (q *Queue) Close() error { return nil }

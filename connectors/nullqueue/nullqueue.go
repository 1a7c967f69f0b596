// Package nullqueue is the `null` driver: it accepts pushes and discards them, and never has a job.
// It is for environments (tests, previews) where queued work must not run or pile up, as Laravel's
// null driver.
package nullqueue

import (
	"context"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/qctl/qctl/connectors"
)

// Queue discards everything pushed to it.
type Queue struct{ pushed atomic.Int64 }

// New returns a null queue.
func New() *Queue { return &Queue{} }

var _ connectors.Queue = (*Queue)(nil)

// Push discards payload and returns a sequence number as the id, so callers can still print one.
func (q *Queue) Push(context.Context, string, []byte, time.Duration) (string, error) {
	return strconv.FormatInt(q.pushed.Add(1), 10), nil
}

// Pop never finds a job.
func (q *Queue) Pop(context.Context, string) (*connectors.Reserved, error) { return nil, nil }

// Delete has nothing to delete.
func (q *Queue) Delete(context.Context, *connectors.Reserved) error { return nil }

// Release has nothing to release.
func (q *Queue) Release(context.Context, *connectors.Reserved, time.Duration) error { return nil }

// Size is always zero.
func (q *Queue) Size(context.Context, string) (int64, error) { return 0, nil }

// Clear has nothing to clear.
func (q *Queue) Clear(context.Context, string) (int64, error) { return 0, nil }

// Close does nothing.
func (q *Queue) Close() error { return nil }

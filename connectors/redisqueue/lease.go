package redisqueue

import (
	"context"
	"fmt"
	"time"

	"github.com/qctl/qctl/connectors"
)

// Extend makes job's lease end lease from now, so a job that runs longer than retry_after is not
// handed to a second worker. It returns an error wrapping ErrLeaseLost when the reservation is
// gone (the lease ran out and a pop moved the job back).
func (q *Queue) Extend(ctx context.Context, job *connectors.Reserved, lease time.Duration) error {
	k, err := q.keysFor(job.Queue)
	if err != nil {
		return err
	}
	n, err := extendScript.Run(ctx, q.rdb, []string{k.reserved}, job.Receipt, q.unixNow()+seconds(lease)).Int64()
	if err != nil {
		return q.wrap("extend lease in", k.reserved, err)
	}
	if n == 0 {
		return fmt.Errorf("redisqueue: extend job %s in %s: %w", job.ID, k.reserved, connectors.ErrLeaseLost)
	}
	return nil
}

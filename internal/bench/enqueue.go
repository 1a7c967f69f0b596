package bench

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qctl/qctl/connectors"
)

// bulkChunk is how many payloads one PushBulk call takes.
const bulkChunk = 1000

// enqueue pushes Jobs jobs from Concurrency goroutines, one Push per job or, with bulk, PushBulk
// calls of bulkChunk, and times it. Every job is the same payload, encoded once, so the phase
// measures the backend rather than JSON encoding.
func (b *bench) enqueue(ctx context.Context, bulk bool) (*Throughput, error) {
	name, chunk := "enqueue", 1
	if bulk {
		name, chunk = "enqueue (bulk)", bulkChunk
	}
	payload, err := b.payload(time.Now())
	if err != nil {
		return nil, err
	}
	n := b.opts.Jobs
	var elapsed time.Duration
	err = b.phase(ctx, name, n, func(ctx context.Context, m *meter) error {
		ctx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		var (
			next atomic.Int64 // jobs claimed by the pushers so far
			wg   sync.WaitGroup
		)
		start := time.Now()
		for range b.opts.Concurrency {
			wg.Go(func() {
				batch := make([][]byte, 0, chunk)
				for ctx.Err() == nil {
					end := int(next.Add(int64(chunk)))
					size := min(chunk, n-(end-chunk))
					if size <= 0 {
						return
					}
					var err error
					if bulk {
						batch = batch[:size]
						for i := range batch {
							batch[i] = payload
						}
						_, err = b.q.(connectors.BulkPusher).PushBulk(ctx, b.opts.Queue, batch, 0)
					} else {
						_, err = b.q.Push(ctx, b.opts.Queue, payload, 0)
					}
					if err != nil {
						cancel(err)
						return
					}
					m.done.Add(int64(size))
				}
			})
		}
		wg.Wait()
		elapsed = time.Since(start)
		return context.Cause(ctx)
	})
	if err != nil {
		return nil, err
	}
	return throughput(n, elapsed), nil
}

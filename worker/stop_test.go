package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/qctl/qctl/jobs"
	"github.com/qctl/qctl/worker"
)

// TestStopDoesNotWaitOutARedisBlock: a worker idle in Redis's BLPOP, which a cancelled context
// does not interrupt (it reads until its own timeout, a slice of up to a second), returns from
// Run at once when stopped, rather than when the block ends. Every stop, --stop-when-empty and
// --max-jobs exit of an idle Redis worker paid that second.
func TestStopDoesNotWaitOutARedisBlock(t *testing.T) {
	q, f, queue := redisBundle(t)
	w := worker.New(worker.Deps{Queue: q, Handlers: jobs.NewRegistry(), Failed: f},
		worker.Options{Queues: []string{queue}, Concurrency: 2, Sleep: 3 * time.Second, BlockFor: 3 * time.Second, Timeout: time.Minute})
	done := make(chan time.Time, 1)
	go func() {
		if _, err := w.Run(context.Background()); err != nil {
			t.Error(err)
		}
		done <- time.Now()
	}()
	time.Sleep(300 * time.Millisecond) // the first pop found nothing: the worker blocks in BLPOP
	stopped := time.Now()
	w.Stop()
	select {
	case at := <-done:
		if took := at.Sub(stopped); took > 400*time.Millisecond {
			t.Errorf("Run returned %s after Stop; want at once, not when the BLPOP's slice ends", took.Round(time.Millisecond))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run had not returned 5 s after Stop")
	}
}

package worker_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/connectors/dbqueue"
	"github.com/qctl/qctl/jobs"
	"github.com/qctl/qctl/worker"
)

// staleEmpty is an SQLite queue whose pops that find nothing while a job runs answer only once
// that job has been released, as a pop does whose round trip is still under way when a running
// job goes back.
type staleEmpty struct {
	*dbqueue.Queue
	running, released chan struct{}
	emptyPop          chan struct{} // closed when a pop found nothing while the job ran
	once              *sync.Once
}

func (q staleEmpty) PopN(ctx context.Context, queue string, n int) ([]*connectors.Reserved, error) {
	rs, err := q.Queue.PopN(ctx, queue, n)
	if len(rs) == 0 && err == nil {
		q.late()
	}
	return rs, err
}

func (q staleEmpty) Pop(ctx context.Context, queue string) (*connectors.Reserved, error) {
	r, err := q.Queue.Pop(ctx, queue)
	if r == nil && err == nil {
		q.late()
	}
	return r, err
}

func (q staleEmpty) late() {
	select {
	case <-q.running:
	default:
		return // no job runs yet: the pop is not stale
	}
	q.once.Do(func() { close(q.emptyPop) })
	select {
	case <-q.released:
		time.Sleep(20 * time.Millisecond) // and after the loop took the job's result back
	case <-time.After(5 * time.Second):
	}
}

// TestStopWhenEmptyPopsAgainAfterARelease: --stop-when-empty stops on a pop that found nothing
// only if it began after the last job ended. A pop that found nothing while a job ran says
// nothing of the job, which may be back on the queue (released for another try) by the time
// the pop answers; the worker stopped there with the job's second try left undone.
func TestStopWhenEmptyPopsAgainAfterARelease(t *testing.T) {
	b := setup(t)
	q := staleEmpty{Queue: b.queue, running: make(chan struct{}), released: make(chan struct{}),
		emptyPop: make(chan struct{}), once: new(sync.Once)}
	var once, started sync.Once
	report := func(e worker.Event) {
		b.events.add(e)
		if e.Type == worker.EventReleased {
			once.Do(func() { close(q.released) })
		}
	}
	var tries atomic.Int32
	b.handlers.Register("Flaky", func(context.Context, *jobs.Job) error {
		started.Do(func() { close(q.running) })
		if tries.Add(1) == 1 {
			select { // fail while a pop that found nothing is under way
			case <-q.emptyPop:
			case <-time.After(5 * time.Second):
			}
			return errors.New("first try fails")
		}
		return nil
	})
	b.push("default", "Flaky", nil)
	w := worker.New(worker.Deps{Queue: q, Handlers: b.handlers, Failed: b.failed, Report: report, Now: b.clock.Now},
		worker.Options{Connection: "database", Queues: []string{"default"}, Concurrency: 4, Tries: 2,
			StopWhenEmpty: true, Sleep: time.Millisecond})
	if reason := b.run(w); reason != worker.StopEmpty {
		t.Fatalf("stopped: %s, want empty", reason)
	}
	if n := tries.Load(); n != 2 {
		t.Fatalf("the job ran %d times, want 2: the worker stopped on a pop that began before the job was released", n)
	}
	if n := b.events.count(worker.EventProcessed); n != 1 {
		t.Fatalf("%d jobs processed, want the second try's", n)
	}
}

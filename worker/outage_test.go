package worker_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/connectors/dbqueue"
	"github.com/qctl/qctl/jobs"
	"github.com/qctl/qctl/worker"
)

// outageQueue is a real SQLite queue whose pops fail as a backend that cannot be reached does,
// while down is set: a way to cut the backend off at an exact point of a test.
type outageQueue struct {
	*dbqueue.Queue
	down *atomic.Bool
}

var errDown = fmt.Errorf("test backend cut off: %w", connectors.ErrUnavailable)

func (q outageQueue) Pop(ctx context.Context, queue string) (*connectors.Reserved, error) {
	if q.down.Load() {
		return nil, errDown
	}
	return q.Queue.Pop(ctx, queue)
}

func (q outageQueue) PopN(ctx context.Context, queue string, n int) ([]*connectors.Reserved, error) {
	if q.down.Load() {
		return nil, errDown
	}
	return q.Queue.PopN(ctx, queue, n)
}

// timers is a clock whose waits end only when the test fires them: After hands each wait to the
// test on asked.
type timers struct{ asked chan timer }

type timer struct {
	d    time.Duration
	fire chan time.Time // unbuffered: a send succeeds only while someone still waits on it
}

func newTimers() *timers { return &timers{asked: make(chan timer, 64)} }

func (ts *timers) After(d time.Duration) <-chan time.Time {
	t := timer{d: d, fire: make(chan time.Time)}
	ts.asked <- t
	return t.fire
}

func (ts *timers) next(t *testing.T) timer {
	t.Helper()
	select {
	case tm := <-ts.asked:
		return tm
	case <-time.After(10 * time.Second):
		t.Fatal("the worker never started a wait")
		return timer{}
	}
}

// Jobs that finish while the backend is down must not end the backoff wait: each used to, so the
// worker doubled its wait without waiting and a short outage left it idle for many seconds.
func TestBackoffWaitsWhileJobsFinish(t *testing.T) {
	b := setup(t)
	const held = 3
	release := make(chan struct{})
	started := make(chan struct{}, held)
	b.handlers.Register("Hold", func(context.Context, *jobs.Job) error {
		started <- struct{}{}
		<-release
		return nil
	})
	ran := make(chan struct{}, 1)
	b.handlers.Register("After", func(context.Context, *jobs.Job) error { ran <- struct{}{}; return nil })
	for i := range held {
		b.push("default", "Hold", i)
	}
	var down atomic.Bool
	taken := make(chan struct{}, 16) // the loop took a finished job back
	clock := newTimers()
	w := worker.New(worker.Deps{Queue: outageQueue{b.queue, &down}, Handlers: b.handlers, Failed: b.failed, Report: b.events.add,
		Now: b.clock.Now, After: clock.After, Watch: func(_ *connectors.Reserved, done bool) {
			if done {
				taken <- struct{}{}
			}
		}}, worker.Options{Concurrency: held + 1, Tries: 1, Sleep: time.Millisecond, Timeout: time.Minute})
	stopped := make(chan worker.StopReason, 1)
	go func() { stopped <- b.run(w) }()
	for range held {
		<-started
	}
	down.Store(true)
	wait := clock.next(t)
	if wait.d != time.Second {
		t.Fatalf("first backoff %s, want 1s", wait.d)
	}
	for range held {
		release <- struct{}{}
		<-taken
	}
	// The backend is back after a short outage: the one wait still running is the first step.
	down.Store(false)
	b.push("default", "After", nil)
	select {
	case wait.fire <- time.Now():
	case tm := <-clock.asked:
		t.Fatalf("the worker stopped its 1s backoff early and began another of %s", tm.d)
	case <-time.After(10 * time.Second):
		t.Fatal("the worker stopped waiting out its 1s backoff before it ended")
	}
	select {
	case <-ran:
	case tm := <-clock.asked:
		t.Fatalf("the worker waited again (%s) after the backend came back", tm.d)
	case <-time.After(10 * time.Second):
		t.Fatal("the job pushed after the outage did not run")
	}
	w.Stop()
	<-stopped
	if n := b.events.count(worker.EventError); n != 1 {
		t.Errorf("%d error events for one outage, want 1", n)
	}
	if n := b.events.count(worker.EventRecovered); n != 1 {
		t.Errorf("%d recovered events for one outage, want 1", n)
	}
}

// A worker started while its backend is down waits for it with backoff, reporting the outage
// once and its end once; errors that waiting cannot fix come back at once.
func TestWaitForBackend(t *testing.T) {
	var calls int
	clock := newTimers()
	events := &eventLog{}
	done := make(chan error, 1)
	go func() {
		done <- worker.WaitForBackend(context.Background(), worker.Deps{Report: events.add, After: clock.After}, func(context.Context) error {
			if calls++; calls <= 3 {
				return errDown
			}
			return nil
		})
	}()
	for _, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		tm := clock.next(t)
		if tm.d != want {
			t.Fatalf("wait %s, want %s", tm.d, want)
		}
		tm.fire <- time.Now()
	}
	if err := <-done; err != nil {
		t.Fatalf("WaitForBackend = %v once the backend answered", err)
	}
	if e, r := events.count(worker.EventError), events.count(worker.EventRecovered); e != 1 || r != 1 {
		t.Fatalf("%d error and %d recovered events, want one of each", e, r)
	}

	for _, bad := range []error{
		fmt.Errorf("table missing: %w", connectors.ErrNotMigrated),
		errors.New("unknown dialect"),
	} {
		err := worker.WaitForBackend(context.Background(), worker.Deps{After: clock.After}, func(context.Context) error { return bad })
		if !errors.Is(err, bad) {
			t.Errorf("WaitForBackend = %v, want %v at once", err, bad)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-clock.asked; cancel() }()
	if err := worker.WaitForBackend(ctx, worker.Deps{After: clock.After}, func(context.Context) error { return errDown }); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitForBackend = %v after its context ended, want context.Canceled", err)
	}
}

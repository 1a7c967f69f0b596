package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/connectors/beanstalkqueue"
	"github.com/qctl/qctl/connectors/connectortest"
	"github.com/qctl/qctl/connectors/dbqueue"
	"github.com/qctl/qctl/failed"
	"github.com/qctl/qctl/jobs"
	"github.com/qctl/qctl/worker"
)

// bundle is what setup returns: the worker's collaborators, on a real SQLite database.
type bundle struct {
	t        *testing.T
	queue    *dbqueue.Queue
	failed   *failed.Store
	handlers *jobs.Registry
	clock    *connectortest.Clock
	events   *eventLog
}

func setup(t *testing.T) *bundle {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	clock := connectortest.NewClock()
	q, err := dbqueue.Open(ctx, dbqueue.Options{Dialect: "sqlite", DSN: filepath.Join(dir, "q.db"), Table: "jobs", RetryAfter: 60 * time.Second, Now: clock.Now, AutoMigrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	f, err := failed.Open(ctx, failed.Options{Dialect: "sqlite", DSN: filepath.Join(dir, "failed.db"), AutoMigrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return &bundle{t: t, queue: q, failed: f, handlers: jobs.NewRegistry(), clock: clock, events: &eventLog{}}
}

func (b *bundle) worker(o worker.Options) *worker.Worker {
	if o.Sleep == 0 {
		o.Sleep = 10 * time.Millisecond
	}
	o.Connection = "database"
	return worker.New(worker.Deps{Queue: b.queue, Handlers: b.handlers, Failed: b.failed, Report: b.events.add, Now: b.clock.Now}, o)
}

func (b *bundle) push(queue, name string, data any) {
	b.t.Helper()
	raw, _ := json.Marshal(data)
	payload, err := jobs.NewPayload(name, raw).Encode()
	if err != nil {
		b.t.Fatal(err)
	}
	b.pushRaw(queue, payload)
}

func (b *bundle) pushRaw(queue string, payload []byte) {
	b.t.Helper()
	if _, err := b.queue.Push(context.Background(), queue, payload, 0); err != nil {
		b.t.Fatal(err)
	}
}

func (b *bundle) run(w *worker.Worker) worker.StopReason {
	b.t.Helper()
	reason, err := w.Run(context.Background())
	if err != nil {
		b.t.Fatalf("Run: %v", err)
	}
	return reason
}

func (b *bundle) failedRecords() []failed.Record {
	b.t.Helper()
	recs, _, err := b.failed.List(context.Background(), failed.Filter{})
	if err != nil {
		b.t.Fatal(err)
	}
	return recs
}

func (b *bundle) size(queue string) int64 {
	n, err := b.queue.Size(context.Background(), queue)
	if err != nil {
		b.t.Fatal(err)
	}
	return n
}

type eventLog struct {
	mu     sync.Mutex
	events []worker.Event
}

func (l *eventLog) add(e worker.Event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

func (l *eventLog) count(t worker.EventType) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.events {
		if e.Type == t {
			n++
		}
	}
	return n
}

func TestProcessesEveryJobAndDeletesIt(t *testing.T) {
	b := setup(t)
	var seen []int
	var mu sync.Mutex
	b.handlers.Register("Record", func(ctx context.Context, j *jobs.Job) error {
		var n int
		if err := j.Bind(&n); err != nil {
			return err
		}
		mu.Lock()
		seen = append(seen, n)
		mu.Unlock()
		return nil
	})
	for i := 0; i < 5; i++ {
		b.push("default", "Record", i)
	}
	if r := b.run(b.worker(worker.Options{StopWhenEmpty: true})); r != worker.StopEmpty {
		t.Fatalf("reason = %s, want empty", r)
	}
	if fmt.Sprint(seen) != "[0 1 2 3 4]" {
		t.Fatalf("handled %v, want [0 1 2 3 4] in order", seen)
	}
	if n := b.size("default"); n != 0 {
		t.Fatalf("%d jobs left on the queue after success", n)
	}
	if b.events.count(worker.EventProcessed) != 5 {
		t.Fatalf("%d processed events, want 5", b.events.count(worker.EventProcessed))
	}
}

func TestFailingJobRunsTriesTimesThenLandsInFailedStoreOnce(t *testing.T) {
	b := setup(t)
	var runs atomic.Int32
	b.handlers.Register("Boom", func(context.Context, *jobs.Job) error {
		runs.Add(1)
		return errors.New("smtp said no")
	})
	b.push("default", "Boom", map[string]string{"to": "a@b.c"})
	b.run(b.worker(worker.Options{Tries: 3, StopWhenEmpty: true}))
	if runs.Load() != 3 {
		t.Fatalf("handler ran %d times, want 3", runs.Load())
	}
	recs := b.failedRecords()
	if len(recs) != 1 {
		t.Fatalf("%d failed records, want 1", len(recs))
	}
	if !strings.Contains(recs[0].Exception, "smtp said no") || recs[0].Queue != "default" || recs[0].Connection != "database" {
		t.Fatalf("failed record = %+v", recs[0])
	}
	if n := b.size("default"); n != 0 {
		t.Fatalf("failed job still on the queue (%d)", n)
	}
}

func TestBadPayloadsAreFailedAndTheWorkerGoesOn(t *testing.T) {
	b := setup(t)
	var ran atomic.Int32
	b.handlers.Register("Good", func(context.Context, *jobs.Job) error { ran.Add(1); return nil })
	b.pushRaw("default", []byte("{not json"))
	b.pushRaw("default", []byte(`{"data":1}`))
	b.push("default", "Nobody", nil)
	b.push("default", "Good", nil)
	b.run(b.worker(worker.Options{StopWhenEmpty: true, Tries: 3}))
	if ran.Load() != 1 {
		t.Fatalf("the good job ran %d times, want 1", ran.Load())
	}
	recs := b.failedRecords()
	if len(recs) != 3 {
		t.Fatalf("%d failed records, want 3 (not JSON, no job name, unknown job)", len(recs))
	}
	var all []string
	for _, r := range recs {
		all = append(all, r.Exception)
	}
	text := strings.Join(all, "\n")
	for _, want := range []string{"{not json", `"Nobody"`} {
		if !strings.Contains(text, want) {
			t.Errorf("failed exceptions do not mention %s:\n%s", want, text)
		}
	}
	if !errors.Is(decodeErr([]byte("{not json")), jobs.ErrBadPayload) {
		t.Error("a non-JSON payload does not decode as ErrBadPayload")
	}
}

func decodeErr(b []byte) error { _, err := jobs.Decode(b); return err }

func TestStrictQueuePriority(t *testing.T) {
	b := setup(t)
	var order []string
	b.handlers.Register("Note", func(_ context.Context, j *jobs.Job) error {
		order = append(order, j.Queue)
		return nil
	})
	b.push("low", "Note", nil)
	b.push("low", "Note", nil)
	b.push("high", "Note", nil)
	b.push("high", "Note", nil)
	b.run(b.worker(worker.Options{Queues: []string{"high", "low"}, StopWhenEmpty: true}))
	if fmt.Sprint(order) != "[high high low low]" {
		t.Fatalf("ran %v, want high before low", order)
	}
}

func TestControlFlowErrors(t *testing.T) {
	b := setup(t)
	var releases, fails atomic.Int32
	b.handlers.Register("ReleaseOnce", func(_ context.Context, j *jobs.Job) error {
		if j.Attempts() == 1 {
			releases.Add(1)
			return jobs.ReleaseAfter(0)
		}
		return nil
	})
	b.handlers.Register("GiveUp", func(context.Context, *jobs.Job) error {
		fails.Add(1)
		return jobs.Fail(errors.New("card declined"))
	})
	b.push("default", "ReleaseOnce", nil)
	b.push("default", "GiveUp", nil)
	b.run(b.worker(worker.Options{Tries: 5, StopWhenEmpty: true}))
	if releases.Load() != 1 || b.events.count(worker.EventReleased) != 1 {
		t.Fatalf("released %d times (%d events), want 1", releases.Load(), b.events.count(worker.EventReleased))
	}
	if fails.Load() != 1 {
		t.Fatalf("GiveUp ran %d times despite Fail, want 1", fails.Load())
	}
	recs := b.failedRecords()
	if len(recs) != 1 || !strings.Contains(recs[0].Exception, "card declined") {
		t.Fatalf("failed records = %+v", recs)
	}
}

func TestPanicIsFailedWithStack(t *testing.T) {
	b := setup(t)
	b.handlers.Register("Panics", func(context.Context, *jobs.Job) error { panic("nil map somewhere") })
	b.push("default", "Panics", nil)
	b.run(b.worker(worker.Options{Tries: 1, StopWhenEmpty: true}))
	recs := b.failedRecords()
	if len(recs) != 1 || !strings.Contains(recs[0].Exception, "nil map somewhere") || !strings.Contains(recs[0].Exception, "goroutine") {
		t.Fatalf("panic not recorded with its stack: %+v", recs)
	}
}

func TestTimeoutCancelsTheHandlerContext(t *testing.T) {
	b := setup(t)
	b.handlers.Register("Slow", func(ctx context.Context, _ *jobs.Job) error {
		<-ctx.Done()
		return ctx.Err()
	})
	b.push("default", "Slow", nil)
	b.run(b.worker(worker.Options{Tries: 1, Timeout: 50 * time.Millisecond, StopWhenEmpty: true}))
	recs := b.failedRecords()
	if len(recs) != 1 || !strings.Contains(recs[0].Exception, "timed out") {
		t.Fatalf("timed-out job not failed with a timeout reason: %+v", recs)
	}
}

func TestHandlerIgnoringTimeoutIsAbandonedAndItsJobReleased(t *testing.T) {
	b := setup(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	b.handlers.Register("Stubborn", func(context.Context, *jobs.Job) error {
		<-release // ignores its context
		return nil
	})
	b.push("default", "Stubborn", nil)
	reason := b.run(b.worker(worker.Options{Tries: 3, Timeout: 20 * time.Millisecond, KillGrace: 20 * time.Millisecond}))
	if reason != worker.StopTimedOut || reason.ExitCode() == 0 {
		t.Fatalf("reason = %s (exit %d), want timed-out with a non-zero exit", reason, reason.ExitCode())
	}
	r, err := b.queue.Pop(context.Background(), "default")
	if err != nil || r == nil {
		t.Fatalf("the abandoned job is not available again: %v, %v", r, err)
	}
	if r.Attempts != 2 {
		t.Fatalf("attempts = %d, want 2", r.Attempts)
	}
}

func TestMaxJobsAndOnce(t *testing.T) {
	b := setup(t)
	var ran atomic.Int32
	b.handlers.Register("Count", func(context.Context, *jobs.Job) error { ran.Add(1); return nil })
	for i := 0; i < 5; i++ {
		b.push("default", "Count", i)
	}
	if r := b.run(b.worker(worker.Options{MaxJobs: 2, Concurrency: 4})); r != worker.StopMaxJobs || ran.Load() != 2 {
		t.Fatalf("max-jobs 2: reason %s, ran %d", r, ran.Load())
	}
	if r := b.run(b.worker(worker.Options{Once: true})); r != worker.StopMaxJobs || ran.Load() != 3 {
		t.Fatalf("once: reason %s, ran %d", r, ran.Load())
	}
	if n := b.size("default"); n != 2 {
		t.Fatalf("%d jobs left, want 2", n)
	}
}

func TestMemoryLimitStopsAfterTheJob(t *testing.T) {
	b := setup(t)
	b.handlers.Register("Fat", func(context.Context, *jobs.Job) error { return nil })
	b.push("default", "Fat", nil)
	b.push("default", "Fat", nil)
	w := worker.New(worker.Deps{Queue: b.queue, Handlers: b.handlers, Failed: b.failed, Memory: func() uint64 { return 1 << 30 }},
		worker.Options{Memory: 1 << 20, Sleep: time.Millisecond})
	reason, _ := w.Run(context.Background())
	if reason != worker.StopMemory || reason.ExitCode() != 12 {
		t.Fatalf("reason = %s exit %d, want memory / 12", reason, reason.ExitCode())
	}
	if n := b.size("default"); n != 1 {
		t.Fatalf("%d jobs left, want 1: the worker must stop after exactly one job", n)
	}
}

func TestStopLetsTheRunningJobFinish(t *testing.T) {
	b := setup(t)
	started, finish := make(chan struct{}), make(chan struct{})
	var completed atomic.Bool
	b.handlers.Register("Long", func(ctx context.Context, _ *jobs.Job) error {
		close(started)
		<-finish
		completed.Store(ctx.Err() == nil)
		return nil
	})
	b.push("default", "Long", nil)
	b.push("default", "Long", nil)
	w := b.worker(worker.Options{})
	done := make(chan worker.StopReason)
	go func() { r, _ := w.Run(context.Background()); done <- r }()
	<-started
	w.Stop()
	close(finish)
	if r := <-done; r != worker.StopInterrupted {
		t.Fatalf("reason = %s", r)
	}
	if !completed.Load() {
		t.Fatal("the running job's context was cancelled by a soft stop")
	}
	if n := b.size("default"); n != 1 {
		t.Fatalf("%d jobs left, want 1 (the finished one deleted, the other untouched)", n)
	}
}

func TestKillReleasesTheRunningJob(t *testing.T) {
	b := setup(t)
	started := make(chan struct{})
	b.handlers.Register("Long", func(ctx context.Context, _ *jobs.Job) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	})
	b.push("default", "Long", nil)
	w := b.worker(worker.Options{Tries: 1})
	done := make(chan worker.StopReason)
	go func() { r, _ := w.Run(context.Background()); done <- r }()
	<-started
	w.Kill()
	<-done
	if len(b.failedRecords()) != 0 {
		t.Fatal("a job interrupted by a hard stop was failed; it must be released")
	}
	if r, _ := b.queue.Pop(context.Background(), "default"); r == nil {
		t.Fatal("the interrupted job is not back on the queue")
	}
}

func TestPauseStopsPoppingUntilResume(t *testing.T) {
	b := setup(t)
	ran := make(chan struct{}, 10)
	b.handlers.Register("Tick", func(context.Context, *jobs.Job) error { ran <- struct{}{}; return nil })
	w := b.worker(worker.Options{})
	w.Pause()
	done := make(chan worker.StopReason)
	go func() { r, _ := w.Run(context.Background()); done <- r }()
	b.push("default", "Tick", nil)
	select {
	case <-ran:
		t.Fatal("a job ran while the worker was paused")
	case <-time.After(200 * time.Millisecond):
	}
	w.Resume()
	<-ran
	w.Stop()
	<-done
}

// waitSpy is the database queue, telling when the worker begins a Wait.
type waitSpy struct {
	*dbqueue.Queue
	waiting chan struct{}
}

func (s waitSpy) Wait(ctx context.Context, queue string, d time.Duration) (bool, error) {
	select {
	case s.waiting <- struct{}{}:
	default:
	}
	return s.Queue.Wait(ctx, queue, d)
}

// TestIdleWorkerWaitsInsteadOfSleeping: with a --sleep far longer than the test, an idle worker on
// a database queue (no block_for) waits on the queue, and a job pushed by another connection
// while it waits runs at once.
func TestIdleWorkerWaitsInsteadOfSleeping(t *testing.T) {
	b := setup(t)
	ran := make(chan struct{}, 1)
	b.handlers.Register("Tick", func(context.Context, *jobs.Job) error { ran <- struct{}{}; return nil })
	spy := waitSpy{Queue: b.queue, waiting: make(chan struct{}, 1)}
	w := worker.New(worker.Deps{Queue: spy, Handlers: b.handlers, Failed: b.failed, Now: b.clock.Now},
		worker.Options{Connection: "database", Sleep: time.Minute})
	done := make(chan worker.StopReason)
	go func() { r, _ := w.Run(context.Background()); done <- r }()
	defer func() { w.Stop(); <-done }()
	select {
	case <-spy.waiting:
	case <-time.After(20 * time.Second):
		t.Fatal("the idle worker never waited on the queue")
	}
	b.push("default", "Tick", nil)
	select {
	case <-ran:
	case <-time.After(30 * time.Second):
		t.Fatal("a job pushed while the worker waited did not run within 30s (its --sleep is a minute)")
	}
}

func TestConcurrencyRunsJobsAtOnce(t *testing.T) {
	b := setup(t)
	const n = 4
	var running atomic.Int32
	all := make(chan struct{})
	var once sync.Once
	b.handlers.Register("Together", func(ctx context.Context, _ *jobs.Job) error {
		if running.Add(1) == n {
			once.Do(func() { close(all) })
		}
		select {
		case <-all:
			return nil
		case <-ctx.Done():
			return errors.New("the other jobs never started alongside this one")
		}
	})
	for i := 0; i < n; i++ {
		b.push("default", "Together", i)
	}
	b.run(b.worker(worker.Options{Concurrency: n, StopWhenEmpty: true, Tries: 1, Timeout: 10 * time.Second}))
	if len(b.failedRecords()) != 0 || b.events.count(worker.EventProcessed) != n {
		t.Fatalf("%d jobs processed together, want %d", b.events.count(worker.EventProcessed), n)
	}
}

// Two fetches may be outstanding while jobs run (see maxFetches); together they must never start
// more than Concurrency jobs.
func TestConcurrencyIsNeverExceeded(t *testing.T) {
	b := setup(t)
	const n, jobsTotal = 3, 150
	var running, most atomic.Int32
	b.handlers.Register("Short", func(context.Context, *jobs.Job) error {
		now := running.Add(1)
		for m := most.Load(); now > m && !most.CompareAndSwap(m, now); m = most.Load() {
		}
		time.Sleep(time.Duration(rand.IntN(500)) * time.Microsecond)
		running.Add(-1)
		return nil
	})
	for i := 0; i < jobsTotal; i++ {
		b.push("default", "Short", i)
	}
	// SQLite's pops are serial, so the worker would keep one fetch outstanding: present the
	// queue as one that pops concurrently, so two fetches overlap as on Redis or beanstalkd.
	w := worker.New(worker.Deps{Queue: concurrentPops{b.queue}, Handlers: b.handlers, Failed: b.failed, Report: b.events.add, Now: b.clock.Now},
		worker.Options{Concurrency: n, StopWhenEmpty: true, Tries: 1, Timeout: 10 * time.Second, Sleep: 10 * time.Millisecond})
	b.run(w)
	if got := b.events.count(worker.EventProcessed); got != jobsTotal {
		t.Fatalf("%d jobs processed, want %d", got, jobsTotal)
	}
	if m := most.Load(); m > n || m < 2 {
		t.Fatalf("at most %d jobs ran at once with Concurrency %d; want 2..%d", m, n, n)
	}
}

// concurrentPops is a SQLite queue that says its pops may overlap.
type concurrentPops struct{ *dbqueue.Queue }

func (concurrentPops) PopsAreSerial() bool { return false }

func TestJobOverItsTriesWhenPoppedIsFailedWithoutRunning(t *testing.T) {
	b := setup(t)
	var ran atomic.Int32
	b.handlers.Register("Once", func(context.Context, *jobs.Job) error { ran.Add(1); return nil })
	b.push("default", "Once", nil)
	// A worker reserved it and died: its lease lapses and the job comes back with attempts 2.
	if r, err := b.queue.Pop(context.Background(), "default"); err != nil || r == nil {
		t.Fatal("setup pop failed", err)
	}
	b.clock.Advance(61 * time.Second)
	b.run(b.worker(worker.Options{Tries: 1, StopWhenEmpty: true}))
	if ran.Load() != 0 {
		t.Fatal("a job past its tries ran again")
	}
	recs := b.failedRecords()
	if len(recs) != 1 || !strings.Contains(recs[0].Exception, "attempted too many times") {
		t.Fatalf("failed records = %+v", recs)
	}
}

func TestRestartSignalStopsTheWorker(t *testing.T) {
	b := setup(t)
	b.handlers.Register("Tick", func(context.Context, *jobs.Job) error { return nil })
	w := b.worker(worker.Options{})
	done := make(chan worker.StopReason)
	go func() { r, _ := w.Run(context.Background()); done <- r }()
	b.push("default", "Tick", nil)
	for b.events.count(worker.EventProcessed) == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	if err := b.queue.BroadcastRestart(context.Background(), "12345"); err != nil {
		t.Fatal(err)
	}
	b.clock.Advance(2 * time.Second) // the worker reads the signal at most once a second
	select {
	case r := <-done:
		if r != worker.StopRestart {
			t.Fatalf("reason = %s, want restart", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the worker did not stop after a restart broadcast")
	}
}

// TestTwoRestartsWithinOneSecond: `qctl restart` stores Unix seconds, as PHP does, yet a second
// restart in the same second stores a later second, so a worker started between the two sees
// the second one as a change and stops too.
func TestTwoRestartsWithinOneSecond(t *testing.T) {
	b := setup(t)
	b.handlers.Register("Tick", func(context.Context, *jobs.Job) error { return nil })
	at := time.Unix(1796287684, 100_000_000) // both broadcasts happen within this second
	var values []string
	for i := range 2 {
		w := b.worker(worker.Options{})
		done := make(chan worker.StopReason)
		go func() { r, _ := w.Run(context.Background()); done <- r }()
		b.push("default", "Tick", nil)
		for b.events.count(worker.EventProcessed) <= i { // it has read the signal's value
			time.Sleep(5 * time.Millisecond)
		}
		v, err := connectors.BroadcastRestartAt(context.Background(), b.queue, at.Add(time.Duration(i)*300*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		values = append(values, v)
		b.clock.Advance(2 * time.Second) // the worker reads the signal at most once a second
		select {
		case r := <-done:
			if r != worker.StopRestart {
				t.Fatalf("worker %d stopped for %s, want restart", i+1, r)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("worker %d did not stop after restart %d (values stored: %v)", i+1, i+1, values)
		}
	}
	if want := []string{"1796287684", "1796287685"}; !slices.Equal(values, want) {
		t.Errorf("restart values = %v, want Unix seconds %v", values, want)
	}
}

func TestTextReporterLine(t *testing.T) {
	var buf bytes.Buffer
	report := worker.TextReporter(&buf)
	at := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	report(worker.Event{Time: at, Type: worker.EventProcessed, Job: "SendEmail", Duration: 12345 * time.Microsecond})
	line := strings.TrimRight(buf.String(), "\n")
	if !strings.HasPrefix(line, "2026-11-21 10:00:00 SendEmail ...") || !strings.HasSuffix(line, " 12.35ms DONE") || len(line) != 80 {
		t.Fatalf("line = %q (%d columns)", line, len(line))
	}
}

var _ connectors.Queue = (*dbqueue.Queue)(nil)

func TestBuryFailedOnBeanstalkdKeepsTheJobOnTheServer(t *testing.T) {
	connectortest.RequireService(t, "beanstalkd", "127.0.0.1:11300", "beanstalkd -l 127.0.0.1 -p 11300 &")
	b := setup(t)
	q, err := beanstalkqueue.Open(context.Background(), beanstalkqueue.Options{Addr: "127.0.0.1:11300", RetryAfter: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	tube := fmt.Sprintf("bury-%d", time.Now().UnixNano())
	defer q.Clear(context.Background(), tube)
	payload, _ := jobs.NewPayload("Boom", nil).Encode()
	if _, err := q.Push(context.Background(), tube, payload, 0); err != nil {
		t.Fatal(err)
	}
	b.handlers.Register("Boom", func(context.Context, *jobs.Job) error { return errors.New("no") })
	w := worker.New(worker.Deps{Queue: q, Handlers: b.handlers, Failed: b.failed, Report: b.events.add},
		worker.Options{Queues: []string{tube}, Tries: 1, StopWhenEmpty: true, BuryFailed: true, Sleep: time.Millisecond})
	if _, err := w.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	st, err := q.Stats(context.Background(), tube)
	if err != nil {
		t.Fatal(err)
	}
	if st.Buried != 1 {
		t.Fatalf("buried = %d, want the failed job buried on the server", st.Buried)
	}
	if len(b.failedRecords()) != 0 {
		t.Fatal("a buried job was also written to the failed store")
	}
}

// TestTextReporterColourAndID: the coloured reporter paints DONE green, FAIL red and RELEASED
// yellow; the plain one writes no escape codes; both name the job's id.
func TestTextReporterColourAndID(t *testing.T) {
	at := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	events := []worker.Event{
		{Time: at, Type: worker.EventProcessed, Job: "SendEmail", ID: "42"},
		{Time: at, Type: worker.EventFailed, Job: "SendEmail", ID: "43", Error: "boom"},
		{Time: at, Type: worker.EventReleased, Job: "SendEmail", ID: "44", Delay: time.Second},
	}
	var plain, coloured bytes.Buffer
	for _, e := range events {
		worker.TextReporter(&plain)(e)
		worker.ColourTextReporter(&coloured)(e)
	}
	if strings.Contains(plain.String(), "\x1b[") {
		t.Errorf("the plain reporter wrote escape codes: %q", plain.String())
	}
	for _, want := range []string{"SendEmail #42 ", "\x1b[32mDONE\x1b[0m", "\x1b[31mFAIL\x1b[0m\n    boom", "\x1b[33mRELEASED (retry in 1s)\x1b[0m"} {
		if !strings.Contains(coloured.String(), want) {
			t.Errorf("coloured output lacks %q:\n%q", want, coloured.String())
		}
	}
}

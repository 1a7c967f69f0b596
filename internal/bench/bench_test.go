package bench

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qctl/qctl/connectors/dbqueue"
)

// lockedBuffer is a strings.Builder the progress goroutine and the test may share.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func openSQLite(t *testing.T) *dbqueue.Queue {
	t.Helper()
	q, err := dbqueue.Open(context.Background(), dbqueue.Options{Dialect: "sqlite", DSN: filepath.Join(t.TempDir(), "q.db"), AutoMigrate: true, RetryAfter: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func TestRunAllMeasuresEveryPhaseAndCleansUp(t *testing.T) {
	q := openSQLite(t)
	ctx := context.Background()
	// A job of another queue must survive the benchmark's clean-up.
	if _, err := q.Push(ctx, "default", []byte(`{"job":"Other"}`), 0); err != nil {
		t.Fatal(err)
	}
	var progress lockedBuffer
	res, err := Run(ctx, q, Options{
		Mode: ModeAll, Jobs: 300, Concurrency: 3, PayloadBytes: 64, Rate: 400, Queue: "bench-test",
		Sleep: 10 * time.Millisecond, Lease: time.Minute, Progress: &progress, ProgressEvery: time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, tp := range map[string]*Throughput{"enqueue": res.Enqueue, "enqueue bulk": res.EnqueueBulk, "drain": res.Drain} {
		if tp == nil || tp.Jobs != 300 || tp.PerSecond <= 0 || tp.Seconds <= 0 {
			t.Errorf("%s = %+v, want 300 jobs at a positive rate", name, tp)
		}
	}
	l := res.Latency
	if l == nil || l.Jobs != 300 || l.Rate != 400 || l.AchievedRate <= 0 ||
		!(0 < l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.Max) {
		t.Fatalf("latency = %+v, want 300 jobs with 0 < p50 <= p90 <= p99 <= max", l)
	}
	if !strings.Contains(progress.String(), "bench drain: ") {
		t.Errorf("no progress line for the drain:\n%s", progress.String())
	}
	if n, err := q.Size(ctx, "bench-test"); err != nil || n != 0 {
		t.Fatalf("bench queue holds %d jobs afterwards (%v), want 0", n, err)
	}
	if n, err := q.Size(ctx, "default"); err != nil || n != 1 {
		t.Fatalf("the other queue holds %d jobs (%v), want its 1", n, err)
	}
}

func TestRunStopsWhenTheContextEndsAndStillCleansUp(t *testing.T) {
	q := openSQLite(t)
	ctx, cancel := context.WithCancel(context.Background())
	var progress lockedBuffer
	done := make(chan error, 1)
	go func() {
		// A slow rate keeps the latency phase running until the cancel below.
		_, err := Run(ctx, q, Options{Mode: ModeLatency, Jobs: 1000, Concurrency: 1, Rate: 20, Queue: "bench-cancel",
			Sleep: 10 * time.Millisecond, Progress: &progress, ProgressEvery: 10 * time.Millisecond})
		done <- err
	}()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(progress.String(), "bench latency: "); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the latency phase did not start")
		}
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run after cancel = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s of the cancel")
	}
	if n, err := q.Size(context.Background(), "bench-cancel"); err != nil || n != 0 {
		t.Fatalf("bench queue holds %d jobs after an interrupted run (%v), want 0", n, err)
	}
}

func TestRunRejectsBadOptions(t *testing.T) {
	q := openSQLite(t)
	for _, o := range []Options{
		{Mode: "fast", Jobs: 1, Concurrency: 1, Queue: "b"},
		{Mode: ModeDrain, Jobs: 0, Concurrency: 1, Queue: "b"},
		{Mode: ModeDrain, Jobs: 1, Concurrency: 0, Queue: "b"},
		{Mode: ModeLatency, Jobs: 1, Concurrency: 1, Queue: "b"},
	} {
		if _, err := Run(context.Background(), q, o); err == nil {
			t.Errorf("Run(%+v) succeeded", o)
		}
	}
}

// TestRunCarriesOnThroughARestartBroadcast: `qctl restart` is for the real workers sharing the
// backend; a benchmark's worker is replaced by a fresh one and the phase completes.
func TestRunCarriesOnThroughARestartBroadcast(t *testing.T) {
	q := openSQLite(t)
	var progress lockedBuffer
	done := make(chan error, 1)
	go func() {
		_, err := Run(context.Background(), q, Options{Mode: ModeLatency, Jobs: 150, Concurrency: 2, Rate: 50,
			Queue: "bench-restart", Sleep: 10 * time.Millisecond, Progress: &progress, ProgressEvery: 10 * time.Millisecond})
		done <- err
	}()
	// The worker reads the signal once a second: broadcast early enough for it to be seen.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(progress.String(), "bench latency: 1"); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the latency phase made no progress:\n%s", progress.String())
		}
	}
	if err := q.BroadcastRestart(context.Background(), strconv.FormatInt(time.Now().UnixNano(), 10)); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run through a restart broadcast: %v", err)
	}
}

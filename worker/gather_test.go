package worker_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/connectors/connectortest"
	"github.com/qctl/qctl/connectors/redisqueue"
	"github.com/qctl/qctl/failed"
	"github.com/qctl/qctl/jobs"
	"github.com/qctl/qctl/worker"
)

// popRecorder is a Redis queue that records how many jobs each pop asked for.
type popRecorder struct {
	*redisqueue.Queue
	mu    sync.Mutex
	asked []int
}

func (p *popRecorder) PopN(ctx context.Context, queue string, n int) ([]*connectors.Reserved, error) {
	p.mu.Lock()
	p.asked = append(p.asked, n)
	p.mu.Unlock()
	return p.Queue.PopN(ctx, queue, n)
}

func (p *popRecorder) Pop(ctx context.Context, queue string) (*connectors.Reserved, error) {
	p.mu.Lock()
	p.asked = append(p.asked, 1)
	p.mu.Unlock()
	return p.Queue.Pop(ctx, queue)
}

// redisBundle is a worker's collaborators on Redis, under a key prefix of the test's own.
func redisBundle(t *testing.T) (*popRecorder, *failed.Store, string) {
	t.Helper()
	connectortest.RequireService(t, "Redis", "127.0.0.1:6379", "redis-server --daemonize yes")
	ctx := context.Background()
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	q, err := redisqueue.Open(ctx, redisqueue.Options{Addr: "127.0.0.1:6379", Prefix: "qctl-gather-" + hex.EncodeToString(suffix) + ":",
		RetryAfter: time.Minute, BlockFor: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	queue := "gather"
	t.Cleanup(func() { q.Clear(context.Background(), queue); q.Close() })
	f, err := failed.Open(ctx, failed.Options{Dialect: "sqlite", DSN: filepath.Join(t.TempDir(), "failed.db"), AutoMigrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return &popRecorder{Queue: q}, f, queue
}

func pushN(t *testing.T, q connectors.Queue, queue, name string, n int) {
	t.Helper()
	payload, err := jobs.NewPayload(name, []byte(`{}`)).Encode()
	if err != nil {
		t.Fatal(err)
	}
	for range n {
		if _, err := q.Push(context.Background(), queue, payload, 0); err != nil {
			t.Fatal(err)
		}
	}
}

// Jobs shorter than a pop's round trip free their slots one at a time; the worker gathers them
// and pops for half its slots or more at once rather than for each slot as it frees.
func TestShortJobsArePoppedInBatches(t *testing.T) {
	q, store, queue := redisBundle(t)
	const total, concurrency = 3000, 10
	pushN(t, q, queue, "Short", total)
	reg := jobs.NewRegistry()
	var ran atomic.Int32
	reg.Register("Short", func(context.Context, *jobs.Job) error { ran.Add(1); return nil })
	w := worker.New(worker.Deps{Queue: q, Handlers: reg, Failed: store}, worker.Options{
		Queues: []string{queue}, Concurrency: concurrency, StopWhenEmpty: true, Sleep: time.Millisecond, Lease: time.Minute})
	if _, err := w.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ran.Load() != total {
		t.Fatalf("%d jobs ran, want %d", ran.Load(), total)
	}
	if n, _ := q.Size(context.Background(), queue); n != 0 {
		t.Fatalf("%d jobs left", n)
	}
	small := 0
	for _, n := range q.asked {
		if n < concurrency/2 {
			small++
		}
	}
	// Without gathering about four pops in five asked for one to four jobs here; with it, one in
	// twenty (one in four under the race detector).
	if small*2 > len(q.asked) {
		t.Fatalf("%d of %d pops asked for fewer than %d jobs; sizes asked: %v", small, len(q.asked), concurrency/2, q.asked[:min(len(q.asked), 60)])
	}
	t.Logf("%d pops for %d jobs, %d of them for fewer than %d", len(q.asked), total, small, concurrency/2)
}

// Gathering waits for short jobs only: with more than half the slots held by long jobs, the few
// free slots are still filled, one round trip later at most, not once a long job ends. A stop
// then lets the long jobs finish, and they are deleted.
func TestGatheringNeverHoldsFreeSlotsForLongJobs(t *testing.T) {
	q, store, queue := redisBundle(t)
	const concurrency, long = 10, 6
	pushN(t, q, queue, "Short", 50) // teaches the worker that jobs are short
	pushN(t, q, queue, "Long", long)
	pushN(t, q, queue, "Short", 200)
	reg := jobs.NewRegistry()
	var shorts, longs atomic.Int32
	release := make(chan struct{})
	reg.Register("Short", func(context.Context, *jobs.Job) error { shorts.Add(1); return nil })
	reg.Register("Long", func(context.Context, *jobs.Job) error { longs.Add(1); <-release; return nil })
	w := worker.New(worker.Deps{Queue: q, Handlers: reg, Failed: store}, worker.Options{
		Queues: []string{queue}, Concurrency: concurrency, StopWhenEmpty: true, Sleep: time.Millisecond, Lease: time.Minute})
	done := make(chan worker.StopReason, 1)
	go func() { r, _ := w.Run(context.Background()); done <- r }()
	deadline := time.Now().Add(20 * time.Second)
	for shorts.Load() < 250 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if s, l := shorts.Load(), longs.Load(); s != 250 || l != long {
		close(release)
		<-done
		t.Fatalf("with %d long jobs running, %d of 250 short jobs ran within 20 s", l, s)
	}
	w.Stop()
	close(release)
	if r := <-done; r != worker.StopInterrupted {
		t.Fatalf("reason = %s", r)
	}
	if n, _ := q.Size(context.Background(), queue); n != 0 {
		t.Fatalf("%d jobs left after the long jobs finished, want 0", n)
	}
}

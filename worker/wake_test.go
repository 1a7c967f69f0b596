package worker_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/connectors/connectortest"
	"github.com/qctl/qctl/connectors/dbqueue"
	"github.com/qctl/qctl/internal/sqldb"
	"github.com/qctl/qctl/jobs"
	"github.com/qctl/qctl/worker"
)

// TestFreeSlotWakesOnPushWhileAnotherJobRuns: at concurrency 2, with one slot held by a long job,
// a job pushed (by another connection, as another process would) starts within a push's wake-up,
// not after --sleep. The worker used to wait on the queue only when no job ran at all, so the free
// slot slept --sleep out.
func TestFreeSlotWakesOnPushWhileAnotherJobRuns(t *testing.T) {
	backends := []struct{ dialect, addr, how string }{
		{"sqlite", "", ""},
		{"postgres", "127.0.0.1:5432", "pg_ctlcluster 15 main start"},
	}
	for _, be := range backends {
		t.Run(be.dialect, func(t *testing.T) {
			if be.addr != "" {
				connectortest.RequireService(t, be.dialect, be.addr, be.how)
			}
			worker_, pusher := privateQueuePair(t, be.dialect)
			b := setup(t)
			held, release := make(chan struct{}), make(chan struct{})
			b.handlers.Register("Long", func(context.Context, *jobs.Job) error {
				close(held)
				<-release
				return nil
			})
			started := make(chan time.Time, 1)
			b.handlers.Register("Quick", func(context.Context, *jobs.Job) error {
				started <- time.Now()
				return nil
			})
			const sleep = 20 * time.Second
			w := worker.New(worker.Deps{Queue: worker_, Handlers: b.handlers, Failed: b.failed},
				worker.Options{Connection: "database", Queues: []string{"default"}, Concurrency: 2, Tries: 1, Sleep: sleep, Timeout: time.Minute})
			done := make(chan worker.StopReason, 1)
			go func() { r, _ := w.Run(context.Background()); done <- r }()
			defer func() { close(release); w.Stop(); <-done }()

			push := func(name string) time.Time {
				payload, err := jobs.NewPayload(name, []byte(`{}`)).Encode()
				if err != nil {
					t.Fatal(err)
				}
				at := time.Now()
				if _, err := pusher.Push(context.Background(), "default", payload, 0); err != nil {
					t.Fatal(err)
				}
				return at
			}
			push("Long")
			select {
			case <-held:
			case <-time.After(sleep / 2):
				t.Fatal("the first job never started")
			}
			// Let the worker find the queue empty for its free slot and settle into waiting.
			time.Sleep(300 * time.Millisecond)
			pushed := push("Quick")
			select {
			case at := <-started:
				// Generous: a push wakes a waiting slot in milliseconds; --sleep is 20 s.
				if wait := at.Sub(pushed); wait > 2*time.Second {
					t.Fatalf("the job pushed while another ran started %s after its push; want well under --sleep (%s)", wait, sleep)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("the job pushed while another ran had not started 5s after its push (--sleep %s): the free slot did not wait on the queue", sleep)
			}
		})
	}
}

// privateQueuePair opens two Queues (two connections, as two processes would have) on a jobs table
// of their own in dialect's database, dropped when the test ends.
func privateQueuePair(t *testing.T, dialect string) (*dbqueue.Queue, *dbqueue.Queue) {
	t.Helper()
	ctx := context.Background()
	dsn := "host=127.0.0.1 user=postgres dbname=test sslmode=disable"
	if dialect == "sqlite" {
		dsn = filepath.Join(t.TempDir(), "q.db")
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	table := "jobs_wake_" + hex.EncodeToString(suffix)
	open := func() *dbqueue.Queue {
		q, err := dbqueue.Open(ctx, dbqueue.Options{Dialect: dialect, DSN: dsn, Table: table, RetryAfter: time.Minute, AutoMigrate: true})
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	a := open()
	b := open()
	t.Cleanup(func() {
		a.Close()
		b.Close()
		if dialect == "sqlite" {
			return
		}
		if db, err := sqldb.Open(ctx, dialect, dsn); err == nil {
			db.Exec("DROP TABLE IF EXISTS " + sqldb.Quote(dialect, table))
			db.Exec("DELETE FROM qctl_migrations WHERE table_name = ?", table)
			if sqlDB, err := db.DB(); err == nil {
				sqlDB.Close()
			}
		}
	})
	return a, b
}

// TestStopWhenEmptyStopsOnceTheLastJobIsDone: on PostgreSQL, whose wait hears of every push, the
// worker does not pop for a slot a finished job frees while it waits; --stop-when-empty must still
// stop right after the last job, not after --sleep.
func TestStopWhenEmptyStopsOnceTheLastJobIsDone(t *testing.T) {
	connectortest.RequireService(t, "postgres", "127.0.0.1:5432", "pg_ctlcluster 15 main start")
	q, pusher := privateQueuePair(t, "postgres")
	b := setup(t)
	b.handlers.Register("Short", func(context.Context, *jobs.Job) error {
		time.Sleep(100 * time.Millisecond) // the worker waits on the queue meanwhile
		return nil
	})
	payload, _ := jobs.NewPayload("Short", []byte(`{}`)).Encode()
	if _, err := pusher.Push(context.Background(), "default", payload, 0); err != nil {
		t.Fatal(err)
	}
	const sleep = 20 * time.Second
	w := worker.New(worker.Deps{Queue: q, Handlers: b.handlers, Failed: b.failed, Report: b.events.add},
		worker.Options{Connection: "database", Queues: []string{"default"}, Concurrency: 3, Tries: 1, Sleep: sleep, StopWhenEmpty: true, Timeout: time.Minute})
	start := time.Now()
	done := make(chan worker.StopReason, 1)
	go func() { r, _ := w.Run(context.Background()); done <- r }()
	select {
	case r := <-done:
		if r != worker.StopEmpty || b.events.count(worker.EventProcessed) != 1 {
			t.Fatalf("stopped for %q after %d jobs, want %q after 1", r, b.events.count(worker.EventProcessed), worker.StopEmpty)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Fatalf("took %s to stop; want well under --sleep (%s)", took, sleep)
		}
	case <-time.After(10 * time.Second):
		w.Stop()
		<-done
		t.Fatalf("--stop-when-empty had not stopped 10s after its only job (--sleep %s)", sleep)
	}
}

// popCounter is a database queue that counts its pops.
type popCounter struct {
	*dbqueue.Queue
	pops *atomic.Int32
}

func (p popCounter) Pop(ctx context.Context, queue string) (*connectors.Reserved, error) {
	p.pops.Add(1)
	return p.Queue.Pop(ctx, queue)
}

func (p popCounter) PopN(ctx context.Context, queue string, n int) ([]*connectors.Reserved, error) {
	p.pops.Add(1)
	return p.Queue.PopN(ctx, queue, n)
}

// TestOnePopPerPushedJobOnPostgres: a job pushed to an idle PostgreSQL worker costs one pop. The
// pop that gets fewer jobs than it asked for found all there was, and the wait hears of every
// later push, so neither a second pop after it nor one when the job finishes is needed (there
// used to be both).
func TestOnePopPerPushedJobOnPostgres(t *testing.T) {
	connectortest.RequireService(t, "postgres", "127.0.0.1:5432", "pg_ctlcluster 15 main start")
	q, pusher := privateQueuePair(t, "postgres")
	b := setup(t)
	ran := make(chan struct{}, 1)
	b.handlers.Register("Tick", func(context.Context, *jobs.Job) error { ran <- struct{}{}; return nil })
	var pops atomic.Int32
	w := worker.New(worker.Deps{Queue: popCounter{q, &pops}, Handlers: b.handlers, Failed: b.failed, Report: b.events.add},
		worker.Options{Connection: "database", Queues: []string{"default"}, Concurrency: 3, Tries: 1, Sleep: 20 * time.Second, Timeout: time.Minute})
	done := make(chan worker.StopReason, 1)
	go func() { r, _ := w.Run(context.Background()); done <- r }()
	defer func() { w.Stop(); <-done }()
	payload, _ := jobs.NewPayload("Tick", []byte(`{}`)).Encode()
	settle := func() { time.Sleep(200 * time.Millisecond) } // the worker's pops after a job are done
	settle()
	before := pops.Load()
	const n = 5
	for range n {
		if _, err := pusher.Push(context.Background(), "default", payload, 0); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ran:
		case <-time.After(10 * time.Second):
			t.Fatal("a pushed job did not run within 10s")
		}
		settle()
	}
	// One pop per job; one more for a wake-up the listener's connecting may cause.
	if got := pops.Load() - before; got > n+1 {
		t.Fatalf("%d pops for %d jobs pushed one at a time, want at most %d", got, n, n+1)
	}
}

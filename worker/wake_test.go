package worker_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
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
			worker_, pusher, _ := privateQueuePair(t, be.dialect, false)
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
// of their own in dialect's database, dropped when the test ends; trigger asks for PostgreSQL's
// notify trigger (notify_trigger = true).
func privateQueuePair(t *testing.T, dialect string, trigger bool) (*dbqueue.Queue, *dbqueue.Queue, string) {
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
		q, err := dbqueue.Open(ctx, dbqueue.Options{Dialect: dialect, DSN: dsn, Table: table, RetryAfter: time.Minute, AutoMigrate: true, NotifyTrigger: trigger})
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
	return a, b, table
}

// TestStopWhenEmptyStopsOnceTheLastJobIsDone: on PostgreSQL, whose wait hears of every push, the
// worker does not pop for a slot a finished job frees while it waits; --stop-when-empty must still
// stop right after the last job, not after --sleep.
func TestStopWhenEmptyStopsOnceTheLastJobIsDone(t *testing.T) {
	connectortest.RequireService(t, "postgres", "127.0.0.1:5432", "pg_ctlcluster 15 main start")
	q, pusher, _ := privateQueuePair(t, "postgres", true)
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

// TestOnePopPerPushedJobOnPostgres: a job pushed to an idle PostgreSQL worker costs one pop with
// the notify trigger, two without. The pop that gets fewer jobs than it asked for found all there
// was, so no second pop follows it; and with the trigger the wait hears of every later push, so
// no pop follows the job's end either. (There used to be four.)
func TestOnePopPerPushedJobOnPostgres(t *testing.T) {
	connectortest.RequireService(t, "postgres", "127.0.0.1:5432", "pg_ctlcluster 15 main start")
	for _, trigger := range []bool{true, false} {
		t.Run(fmt.Sprintf("trigger=%v", trigger), func(t *testing.T) { onePopPerJob(t, trigger) })
	}
}

func onePopPerJob(t *testing.T, trigger bool) {
	q, pusher, _ := privateQueuePair(t, "postgres", trigger)
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
	// One pop per job (two without the trigger); one more for a wake-up the listener's
	// connecting may cause.
	perJob := int32(1)
	if !trigger {
		perJob = 2
	}
	if got := pops.Load() - before; got > perJob*n+1 {
		t.Fatalf("%d pops for %d jobs pushed one at a time, want at most %d", got, n, perJob*n+1)
	}
}

// TestBusyWorkerFindsUnnotifiedRowsWhenAJobEnds: without the notify trigger, a row PHP inserts
// (no NOTIFY) is found by the pop that follows a job's end on a busy PostgreSQL worker, as before,
// not only after --sleep.
func TestBusyWorkerFindsUnnotifiedRowsWhenAJobEnds(t *testing.T) {
	connectortest.RequireService(t, "postgres", "127.0.0.1:5432", "pg_ctlcluster 15 main start")
	q, pusher, table := privateQueuePair(t, "postgres", false)
	b := setup(t)
	held, release := make(chan struct{}), make(chan struct{})
	b.handlers.Register("Long", func(context.Context, *jobs.Job) error {
		close(held)
		<-release
		return nil
	})
	started := make(chan struct{}, 1)
	b.handlers.Register("FromPHP", func(context.Context, *jobs.Job) error { started <- struct{}{}; return nil })
	const sleep = 20 * time.Second
	w := worker.New(worker.Deps{Queue: q, Handlers: b.handlers, Failed: b.failed},
		worker.Options{Connection: "database", Queues: []string{"default"}, Concurrency: 2, Tries: 1, Sleep: sleep, Timeout: time.Minute})
	done := make(chan worker.StopReason, 1)
	go func() { r, _ := w.Run(context.Background()); done <- r }()
	defer func() { w.Stop(); <-done }()
	long, _ := jobs.NewPayload("Long", []byte(`{}`)).Encode()
	if _, err := pusher.Push(context.Background(), "default", long, 0); err != nil {
		t.Fatal(err)
	}
	<-held
	time.Sleep(300 * time.Millisecond) // the worker waits for its free slot
	php, _ := jobs.NewPayload("FromPHP", []byte(`{}`)).Encode()
	db, err := sqldb.Open(context.Background(), "postgres", "host=127.0.0.1 user=postgres dbname=test sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if sqlDB, err := db.DB(); err == nil {
			sqlDB.Close()
		}
	}()
	now := time.Now().Unix()
	// As Laravel's DatabaseQueue inserts a job: no NOTIFY, and no trigger on this table.
	if err := db.Exec("INSERT INTO "+sqldb.Quote("postgres", table)+
		" (queue, payload, attempts, reserved_at, available_at, created_at) VALUES (?, ?, 0, NULL, ?, ?)",
		"default", string(php), now, now).Error; err != nil {
		t.Fatal(err)
	}
	close(release)
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatalf("a row inserted without NOTIFY had not started 5s after the running job ended (--sleep %s)", sleep)
	}
}

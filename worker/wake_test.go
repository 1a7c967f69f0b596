package worker_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"path/filepath"
	"testing"
	"time"

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

package laravel

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/connectors/connectortest"
	"github.com/qctl/qctl/connectors/nullqueue"
	"github.com/qctl/qctl/internal/sqldb"
	"github.com/qctl/qctl/migrations"
	"github.com/qctl/qctl/worker"
)

// openTestBatches creates a job_batches table of its own in dialect's test database.
func openTestBatches(t *testing.T, dialect string) *Batches {
	t.Helper()
	ctx := context.Background()
	dsn := filepath.Join(t.TempDir(), "batches.db")
	switch dialect {
	case sqldb.Postgres:
		connectortest.RequireService(t, "PostgreSQL", "127.0.0.1:5432", "pg_ctlcluster 15 main start")
		dsn = "host=127.0.0.1 user=postgres dbname=test sslmode=disable"
	case sqldb.MySQL:
		connectortest.RequireService(t, "MariaDB", "127.0.0.1:3306", "service mariadb start")
		dsn = "root@tcp(127.0.0.1:3306)/test"
	}
	table := fmt.Sprintf("job_batches_test_%d", time.Now().UnixNano())
	gdb, err := sqldb.Open(ctx, dialect, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := migrations.Apply(ctx, gdb, dialect, migrations.Target{Kind: migrations.JobBatches, Table: table}); err != nil {
		t.Fatal(err)
	}
	raw, _ := gdb.DB()
	raw.Close()
	r, err := OpenBatches(ctx, dialect, dsn, table)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.db.Exec("DROP TABLE " + sqldb.Quote(dialect, table))
		r.Close()
	})
	return r
}

func insertBatch(t *testing.T, r *Batches, id string, total int, finishedAt sql.NullInt64) {
	t.Helper()
	_, err := r.db.Exec(r.sql("INSERT INTO {table} (id, name, total_jobs, pending_jobs, failed_jobs, failed_job_ids, options, created_at, finished_at) VALUES (?, '', ?, ?, 0, '[]', ?, ?, ?)"),
		id, total, total, `a:1:{s:13:"allowFailures";b:0;}`, time.Now().Unix(), finishedAt)
	if err != nil {
		t.Fatal(err)
	}
}

// TestBatchCountsUnderConcurrentJobs: jobs of one batch finishing at once on several workers
// each take the row lock, so none of their counts is lost and the batch finishes exactly once.
func TestBatchCountsUnderConcurrentJobs(t *testing.T) {
	for _, dialect := range []string{sqldb.Postgres, sqldb.MySQL} {
		t.Run(dialect, func(t *testing.T) {
			r := openTestBatches(t, dialect)
			ctx := context.Background()
			const n = 40
			insertBatch(t, r, "b1", n, sql.NullInt64{})
			var wg sync.WaitGroup
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					if _, _, err := r.recordSuccess(ctx, "b1", fmt.Sprint("job-", i)); err != nil {
						t.Error(err)
					}
				}(i)
			}
			wg.Wait()
			b, err := r.Find(ctx, "b1")
			if err != nil || b.PendingJobs != 0 || !b.Finished() {
				t.Fatalf("after %d concurrent successes: %+v, %v", n, b, err)
			}
		})
	}
}

// TestBatchFailureCancelsAndPrune: a first failure cancels a batch that does not allow failures,
// and prune deletes only batches that finished before the cut-off.
func TestBatchFailureCancelsAndPrune(t *testing.T) {
	r := openTestBatches(t, sqldb.SQLite)
	ctx := context.Background()
	insertBatch(t, r, "live", 2, sql.NullInt64{})
	insertBatch(t, r, "old", 1, sql.NullInt64{Int64: time.Now().Add(-48 * time.Hour).Unix(), Valid: true})
	b, _ := r.Find(ctx, "live")
	if _, err := r.recordFailure(ctx, b, "u1"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.recordFailure(ctx, b, "u1"); err != nil { // the same job again: counted, listed once
		t.Fatal(err)
	}
	b, _ = r.Find(ctx, "live")
	if !b.Cancelled() || b.FailedJobs != 2 || len(b.FailedJobIDs) != 1 || b.PendingJobs != 2 {
		t.Fatalf("after failures: %+v", b)
	}
	n, err := r.Prune(ctx, time.Now().Add(-24*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("Prune = %d, %v; want the old batch only", n, err)
	}
	if _, err := r.Find(ctx, "live"); err != nil {
		t.Errorf("the recent batch was pruned: %v", err)
	}
}

// TestBatchesTableOpensOnTheFirstBatchedJob: a worker opens the job_batches table only when a job
// of a batch comes, and then once; a job without a batchId never opens it.
func TestBatchesTableOpensOnTheFirstBatchedJob(t *testing.T) {
	r := openTestBatches(t, sqldb.SQLite)
	ctx := context.Background()
	insertBatch(t, r, "b-1", 2, sql.NullInt64{})
	opened := 0
	d := New(Options{
		Open: func(context.Context, string) (connectors.Queue, string, error) {
			return nullqueue.New(), "default", nil // keeps no unique locks
		},
		OpenBatches: func(context.Context) (*Batches, error) { opened++; return r, nil },
	})
	plain := objectJob(t, `App\Jobs\Step`, `0:{}`)
	for range 3 {
		if err := d.Before(ctx, plain); err != nil {
			t.Fatal(err)
		}
		if err := d.Succeeded(ctx, plain); err != nil {
			t.Fatal(err)
		}
	}
	if opened != 0 {
		t.Fatalf("jobs of no batch opened the batches table %d times", opened)
	}
	batched := objectJob(t, `App\Jobs\Step`, `1:{s:7:"batchId";s:3:"b-1";}`)
	for range 2 {
		if err := d.Before(ctx, batched); err != nil {
			t.Fatal(err)
		}
		if err := d.Succeeded(ctx, batched); err != nil {
			t.Fatal(err)
		}
	}
	if opened != 1 {
		t.Fatalf("two batched jobs opened the batches table %d times, want once", opened)
	}
	if b, err := r.Find(ctx, "b-1"); err != nil || b.PendingJobs != 0 {
		t.Fatalf("batch after its two jobs: %+v, %v; want 0 pending", b, err)
	}
}

// TestUnreadableBatchFailsTheAttempt: a job of a batch whose table cannot be read now fails its
// attempt (worker.ErrAttemptFailed: retried as its tries say, as in Laravel, where the batch is
// read inside the run), not the job; a job of no batch does not notice.
func TestUnreadableBatchFailsTheAttempt(t *testing.T) {
	ctx := context.Background()
	d := New(Options{
		Open: func(context.Context, string) (connectors.Queue, string, error) {
			return nullqueue.New(), "default", nil
		},
		OpenBatches: func(ctx context.Context) (*Batches, error) {
			return OpenBatches(ctx, sqldb.Postgres, "host=127.0.0.1 port=1 user=postgres dbname=test sslmode=disable connect_timeout=1", "")
		},
	})
	if err := d.Before(ctx, objectJob(t, `App\Jobs\Step`, `0:{}`)); err != nil {
		t.Fatalf("a job of no batch: %v", err)
	}
	err := d.Before(ctx, objectJob(t, `App\Jobs\Step`, `1:{s:7:"batchId";s:3:"b-1";}`))
	if !errors.Is(err, worker.ErrAttemptFailed) || !strings.Contains(err.Error(), "b-1") {
		t.Fatalf("a batched job with its table unreachable: %v, want an attempt failure naming the batch", err)
	}
}

package commands_test

import (
	"context"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/qctl/qctl/internal/sqldb"
)

// A `retry all` killed part way must leave no job both queued and still failed, so running it
// again queues each job once: where the failed table and the queue share a database, a batch's
// push and its forget are one transaction.
func TestRetryKilledPartWayQueuesEachJobOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	const n = 12000
	e := newEnv(t, sqliteConfig)
	expect(t, e.ok("failed"), 0, "No failed jobs.") // creates the tables
	e.ok("status")
	path := filepath.Join(e.dir, "qctl.db")
	insertFailed(t, path, n)
	db, err := sqldb.Open(context.Background(), "sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	sqlDB, _ := db.DB()
	defer sqlDB.Close()
	count := func(query string) (n int64) {
		if err := sqlDB.QueryRow(query).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// Each kill lands at a random point of a batch; several rounds make it likely that one lands
	// between a push and its forget, where retry used to leave jobs in both tables.
	for round := 1; round <= 4; round++ {
		before := count("SELECT COUNT(*) FROM jobs")
		r := e.start("retry", "all")
		waitFor(t, time.Minute, "a batch to be retried", func() bool { return count("SELECT COUNT(*) FROM jobs") > before })
		r.signal(syscall.SIGKILL)
		r.exitWithin(10 * time.Second)
		queued, listed := count("SELECT COUNT(*) FROM jobs"), count("SELECT COUNT(*) FROM failed_jobs")
		t.Logf("round %d: killed with %d of %d jobs retried", round, queued, n)
		if queued+listed != n {
			t.Fatalf("after kill %d: %d queued + %d still failed = %d, want %d (no job in both, none in neither)", round, queued, listed, queued+listed, n)
		}
		if listed == 0 {
			break
		}
	}

	expect(t, e.ok("retry", "all"), 0)
	if got, distinct := count("SELECT COUNT(*) FROM jobs"), count("SELECT COUNT(DISTINCT payload) FROM jobs"); got != n || distinct != n {
		t.Fatalf("after retrying again: %d jobs queued (%d distinct), want %d, each once", got, distinct, n)
	}
	if left := count("SELECT COUNT(*) FROM failed_jobs"); left != 0 {
		t.Fatalf("%d jobs still failed after retry all", left)
	}
}

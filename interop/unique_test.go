package interop

import (
	"strings"
	"testing"
)

// TestUniqueJobLockReleasedByQctl: Laravel's dispatch of a ShouldBeUnique job takes its lock
// (laravel_unique_job:Interop\UniqueReportq3), so a second dispatch is dropped; after qctl runs
// the first, as after Laravel's own worker, the lock is gone and the next dispatch is accepted.
func TestUniqueJobLockReleasedByQctl(t *testing.T) {
	t.Parallel()
	eachDutyKind(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, "")
		e.addHandlers(e.execHandler(`Interop\UniqueReport`) + "stdin = \"data\"\n")
		op := map[string]any{"unique": "q3", "queue": "reports"}
		first := e.laravelPush(op, op)
		if first[0].UUID == "" || first[1].UUID != "" {
			t.Fatalf("dispatches before a run gave %+v, want the first accepted and the second dropped", first)
		}
		e.qctlOK("work", e.b.conn, "--queue", "reports", "--stop-when-empty")
		if recs := e.execRecords(); len(recs) != 1 || recs[0].UUID != first[0].UUID {
			t.Fatalf("qctl ran %+v, want %s", recs, first[0].UUID)
		}
		if again := e.laravelPush(op)[0]; again.UUID == "" {
			t.Fatal("the dispatch after qctl ran the job was dropped: its unique lock was not released")
		}
	})
}

// TestUniqueJobLockReleasedOnFailure: a unique job that fails for good on qctl releases its lock
// too, as CallQueuedHandler::failed does.
func TestUniqueJobLockReleasedOnFailure(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kindSQLite, "")
	e.addHandlers(e.execHandler(`Interop\UniqueReport`, `INTEROP_REFUSE_UNLESS = "never"`) + "stdin = \"data\"\n")
	op := map[string]any{"unique": "q4", "queue": "reports"}
	first := e.laravelPush(op)[0]
	e.qctlOK("work", e.b.conn, "--queue", "reports", "--stop-when-empty", "--tries", "1")
	if failed := e.laravelFailed(); len(failed) != 1 || failed[0].ID != first.UUID || strings.Contains(failed[0].Exception, "unique lock") {
		t.Fatalf("failed jobs %+v, want %s failed by its handler alone", failed, first.UUID)
	}
	if again := e.laravelPush(op)[0]; again.UUID == "" {
		t.Fatal("the dispatch after the job failed on qctl was dropped: its unique lock was not released")
	}
}

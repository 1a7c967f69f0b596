package interop

import (
	"encoding/json"
	"strings"
	"testing"
)

// batchState is what Laravel's own DatabaseBatchRepository reads for a batch (batch.php).
type batchState struct {
	TotalJobs     int      `json:"totalJobs"`
	PendingJobs   int      `json:"pendingJobs"`
	FailedJobs    int      `json:"failedJobs"`
	ProcessedJobs int      `json:"processedJobs"`
	FailedJobIDs  []string `json:"failedJobIds"`
	Finished      bool     `json:"finished"`
	Cancelled     bool     `json:"cancelled"`
}

// laravelBatch dispatches Bus::batch of BatchStep jobs (one per entry; true fails) on queue.
func (e *env) laravelBatch(queue string, fails []bool) string {
	e.t.Helper()
	return e.laravelPush(map[string]any{"batch": fails, "queue": queue})[0].ID
}

// batches returns Laravel's view of the batches with ids.
func (e *env) batches(ids ...string) []batchState {
	e.t.Helper()
	r := e.php("", "batch.php", ids...)
	var out []batchState
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var b batchState
		if err := json.Unmarshal([]byte(line), &b); err != nil {
			e.t.Fatalf("batch.php printed %q: %v", line, err)
		}
		out = append(out, b)
	}
	return out
}

// TestBatchSharedBetweenQctlAndLaravel: a batch of ten where Laravel's worker runs three and
// qctl's (a Go handler) the other seven ends finished, with the counts a batch that Laravel ran
// alone ends with.
func TestBatchSharedBetweenQctlAndLaravel(t *testing.T) {
	t.Parallel()
	eachDutyKind(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, "")
		ten := make([]bool, 10)
		shared := e.laravelBatch("shared", ten)
		alone := e.laravelBatch("alone", ten)
		if r := e.artisan("queue:work", e.b.conn, "--queue=shared", "--max-jobs=3"); r.code != 0 {
			t.Fatalf("Laravel's worker: %s", r)
		}
		if r := e.artisan("queue:work", e.b.conn, "--queue=alone", "--stop-when-empty"); r.code != 0 {
			t.Fatalf("Laravel's worker: %s", r)
		}
		if b := e.batches(shared)[0]; b.PendingJobs != 7 || b.Finished {
			t.Fatalf("after Laravel ran three: %+v", b)
		}
		if r := e.embedded([]string{`Interop\BatchStep`}, "work", e.b.conn, "--queue", "shared", "--stop-when-empty"); r.code != 0 {
			t.Fatalf("qctl work: %s", r)
		}
		if php, gos := len(e.phpRecords()), len(e.goRecords()); php != 13 || gos != 7 {
			t.Fatalf("Laravel ran %d jobs and qctl %d, want 3+10 and 7", php, gos)
		}
		got := e.batches(shared, alone)
		want := batchState{TotalJobs: 10, ProcessedJobs: 10, FailedJobIDs: []string{}, Finished: true}
		if !sameState(got[0], want) || !sameState(got[1], want) {
			t.Fatalf("batches shared %+v and Laravel's alone %+v, want %+v", got[0], got[1], want)
		}
		e.b.expectEmpty(t, "shared")
	})
}

// TestBatchFailedJobOnQctl: a batched job that fails for good on qctl is counted in failed_jobs
// and failed_job_ids and cancels the batch, whose last job is then skipped, as the same batch run
// by Laravel alone ends.
func TestBatchFailedJobOnQctl(t *testing.T) {
	t.Parallel()
	eachDutyKind(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, "")
		fails := []bool{false, true, false}
		onQctl := e.laravelBatch("qctl", fails)
		alone := e.laravelBatch("alone", fails)
		if r := e.artisan("queue:work", e.b.conn, "--queue=alone", "--stop-when-empty", "--tries=1"); r.code != 0 {
			t.Fatalf("Laravel's worker: %s", r)
		}
		if r := e.embedded([]string{`Interop\BatchStep`}, "work", e.b.conn, "--queue", "qctl", "--stop-when-empty", "--tries", "1"); r.code != 0 {
			t.Fatalf("qctl work: %s", r)
		}
		got := e.batches(onQctl, alone)
		want := batchState{TotalJobs: 3, PendingJobs: 1, FailedJobs: 1, ProcessedJobs: 2, Finished: true, Cancelled: true}
		for i, b := range got {
			if len(b.FailedJobIDs) != 1 {
				t.Fatalf("batch %d: failed_job_ids %v, want one", i, b.FailedJobIDs)
			}
			if b.FailedJobIDs = nil; !sameState(b, want) {
				t.Errorf("batch %d ended %+v, want %+v", i, b, want)
			}
		}
		if gos := e.goRecords(); len(gos) != 2 {
			t.Errorf("qctl ran %d jobs, want 2 (the third's batch was cancelled)", len(gos))
		}
		var onQctlFailed []string
		for _, f := range e.laravelFailed() {
			if f.Queue == "qctl" {
				onQctlFailed = append(onQctlFailed, f.ID)
			}
		}
		if ids := e.batches(onQctl)[0].FailedJobIDs; len(onQctlFailed) != 1 || ids[0] != onQctlFailed[0] {
			t.Errorf("failed_job_ids %v, failed jobs on qctl %v", ids, onQctlFailed)
		}
		e.b.expectEmpty(t, "qctl")

		// `qctl batches ID` shows the row; `qctl retry-batch ID` retries its failed job, which the
		// cancelled batch then skips and counts as done, as Laravel's queue:retry-batch would.
		if r := e.qctlOK("batches", onQctl, "--json"); !strings.Contains(r.stdout, `"failed_jobs":1`) || !strings.Contains(r.stdout, `"state":"cancelled"`) {
			t.Errorf("qctl batches %s printed %s", onQctl, r.stdout)
		}
		if r := e.qctlOK("batches"); !strings.Contains(r.stdout, onQctl) || !strings.Contains(r.stdout, alone) {
			t.Errorf("qctl batches does not list both batches:\n%s", r.stdout)
		}
		e.qctlOK("retry-batch", onQctl)
		if r := e.embedded([]string{`Interop\BatchStep`}, "work", e.b.conn, "--queue", "qctl", "--stop-when-empty"); r.code != 0 {
			t.Fatalf("qctl work: %s", r)
		}
		if b := e.batches(onQctl)[0]; b.PendingJobs != 0 || b.FailedJobs != 1 || len(b.FailedJobIDs) != 0 {
			t.Errorf("after retry-batch: %+v, want nothing pending and no failed job ids", b)
		}
		if r := e.qctl("retry-batch", onQctl); r.code != 1 || !strings.Contains(r.stderr, "does not contain any failed jobs") {
			t.Errorf("a second retry-batch: %s", r)
		}
	})
}

func sameState(a, b batchState) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

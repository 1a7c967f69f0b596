package interop

import (
	"strings"
	"testing"
	"time"
)

// TestQctlPushesLaravelRuns: jobs pushed by `qctl push` (now and delayed) are run by Laravel's own
// worker (`php artisan queue:work`) with a PHP handler class, which gets the data intact, the job
// id qctl printed and attempt 1; the delayed job does not run before its time, and nothing is
// left of the queue afterwards.
func TestQctlPushesLaravelRuns(t *testing.T) {
	t.Parallel()
	eachKind(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, "")
		queue := "from-qctl"
		now := strings.TrimSpace(e.qctlOK("push", "--connection", e.b.conn, "--queue", queue, "--tries", "3",
			`Interop\RecordJob@handle`, richData).stdout)
		delay := int64(1)
		notBefore := time.Now().Unix() + delay
		later := strings.TrimSpace(e.qctlOK("push", "--connection", e.b.conn, "--queue", queue, "--delay", "1",
			`Interop\RecordJob@handle`, `{"n":2,"text":"später"}`).stdout)

		r := e.artisan("queue:work", e.b.conn, "--queue="+queue, "--max-jobs=2", "--sleep=0.1", "--max-time=30")
		if r.code != 0 || strings.Count(r.stdout, "Processed:") != 2 {
			t.Fatalf("Laravel's worker did not process both jobs: %s", r)
		}
		recs := e.phpRecords()
		if len(recs) != 2 {
			t.Fatalf("the PHP handler ran %d times, want 2: %+v", len(recs), recs)
		}
		for i, want := range []struct {
			id, data string
			maxTries *int
		}{{now, richData, ptr(3)}, {later, `{"n":2,"text":"später"}`, nil}} {
			got := recs[i]
			if got.ID != want.id || got.Job != `Interop\RecordJob@handle` || got.Display != `Interop\RecordJob` ||
				got.Queue != queue || got.Attempts != 1 || len(got.UUID) != 36 {
				t.Errorf("Laravel ran job %d as %+v; want id %s, job Interop\\RecordJob@handle on %s, attempt 1, a uuid", i, got, want.id, queue)
			}
			if !sameJSON(t, got.Data, []byte(want.data)) {
				t.Errorf("Laravel's handler got data\n%s\nwant\n%s", got.Data, want.data)
			}
			if (got.MaxTries == nil) != (want.maxTries == nil) || (got.MaxTries != nil && *got.MaxTries != *want.maxTries) {
				t.Errorf("Laravel read maxTries %v, want %v", deref(got.MaxTries), deref(want.maxTries))
			}
		}
		if recs[0].UUID == recs[1].UUID {
			t.Errorf("both jobs have uuid %s", recs[0].UUID)
		}
		if recs[1].At < notBefore {
			t.Errorf("the job pushed with --delay %d ran at %d, before %d", delay, recs[1].At, notBefore)
		}
		e.b.expectEmpty(t, queue)
	})
}

func ptr[T any](v T) *T { return &v }

func deref(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

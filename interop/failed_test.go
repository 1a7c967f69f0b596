package interop

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// qctlFailed is one line of `qctl failed --json`.
type qctlFailed struct {
	ID         string          `json:"id"`
	Connection string          `json:"connection"`
	Queue      string          `json:"queue"`
	Job        string          `json:"job"`
	FailedAt   time.Time       `json:"failed_at"`
	Exception  string          `json:"exception"`
	Payload    json.RawMessage `json:"payload"`
}

// qctlFailedJobs runs `qctl failed --json` with args and decodes its lines.
func (e *env) qctlFailedJobs(args ...string) []qctlFailed {
	e.t.Helper()
	r := e.qctlOK(append([]string{"failed", "--json"}, args...)...)
	var out []qctlFailed
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if line == "" {
			continue
		}
		var f qctlFailed
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			e.t.Fatalf("qctl failed --json printed %q: %v", line, err)
		}
		out = append(out, f)
	}
	return out
}

// expectNoFailedJobs fails the test unless both qctl and Laravel's provider list no failed job.
func (e *env) expectNoFailedJobs() {
	e.t.Helper()
	if got := e.qctlFailedJobs(); len(got) != 0 {
		e.t.Errorf("qctl failed still lists %+v", got)
	}
	if got := e.laravelFailed(); len(got) != 0 {
		e.t.Errorf("Laravel's failed-job provider still lists %+v", got)
	}
}

// TestQctlFailsLaravelRetries: a job Laravel pushed that fails under qctl is in Laravel's
// failed-job provider under its own uuid, with qctl's connection, queue, payload and exception;
// `php artisan queue:failed` lists it and `php artisan queue:retry <uuid>` puts it back, after
// which it runs under qctl and neither side lists it any more.
func TestQctlFailsLaravelRetries(t *testing.T) {
	t.Parallel()
	eachKind(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, "")
		fixed := filepath.Join(e.dir, "fixed")
		e.addHandlers(e.execHandler(`Interop\Flaky`, "INTEROP_REFUSE_UNLESS = \""+fixed+"\""))
		queue := "shared-failures"
		data := `{"order":42,"note":"ünïcode ✓","lines":[{"sku":"A-1","qty":2}]}`
		uuid := e.laravelPush(map[string]any{"push": `Interop\Flaky@handle`, "data": json.RawMessage(data), "queue": queue})[0].UUID

		r := e.qctlOK("work", e.b.conn, "--queue", queue, "--tries", "1", "--stop-when-empty")
		if !strings.Contains(r.stdout, "FAIL") {
			t.Fatalf("qctl work did not fail the job: %s", r)
		}

		found := e.laravelFailed(uuid)
		if len(found) != 1 {
			t.Fatalf("Laravel's provider cannot find(%q) the job qctl failed; all() = %+v", uuid, e.laravelFailed())
		}
		f := found[0]
		var payload map[string]any
		if err := decodeJSON([]byte(f.Payload), &payload); err != nil {
			t.Fatalf("failed payload is not JSON: %v\n%s", err, f.Payload)
		}
		gotData, _ := json.Marshal(payload["data"])
		if f.ID != uuid || f.Connection != e.b.conn || f.Queue != queue || payload["uuid"] != uuid ||
			payload["job"] != `Interop\Flaky@handle` || !sameJSON(t, gotData, []byte(data)) {
			t.Errorf("Laravel sees the failed job as %+v, want uuid %s on %s/%s with its payload", f, uuid, e.b.conn, queue)
		}
		if !strings.Contains(f.Exception, "record.sh refused job "+uuid+" on purpose") {
			t.Errorf("failed job's exception does not carry the handler's reason:\n%s", f.Exception)
		}
		if _, err := time.Parse(time.DateTime, f.FailedAt); err != nil {
			t.Errorf("failed_at %q is not Laravel's Y-m-d H:i:s: %v", f.FailedAt, err)
		}
		if all := e.laravelFailed(); len(all) != 1 {
			t.Errorf("Laravel's provider lists %d failed jobs, want 1: %+v", len(all), all)
		}
		if r := e.artisan("queue:failed"); r.code != 0 || !strings.Contains(r.stdout, uuid) || !strings.Contains(r.stdout, `Interop\Flaky`) {
			t.Errorf("php artisan queue:failed does not list %s: %s", uuid, r)
		}

		if err := os.WriteFile(fixed, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if r := e.artisan("queue:retry", uuid); r.code != 0 || !strings.Contains(r.stdout, "pushed back onto the queue") {
			t.Fatalf("php artisan queue:retry %s: %s", uuid, r)
		}
		e.qctlOK("work", e.b.conn, "--queue", queue, "--tries", "1", "--stop-when-empty")
		recs := e.execRecords()
		if len(recs) != 1 || recs[0].UUID != uuid || recs[0].Attempts != "1" || recs[0].Queue != queue {
			t.Fatalf("after Laravel's retry qctl ran %+v, want job %s once, attempt 1, on %s", recs, uuid, queue)
		}
		if got, _ := json.Marshal(recs[0].Payload["data"]); !sameJSON(t, got, []byte(data)) {
			t.Errorf("retried job's data is %s, want %s", got, data)
		}
		e.expectNoFailedJobs()
		e.b.expectEmpty(t, queue)
	})
}

// TestLaravelFailsQctlRetries: a job that Laravel's worker failed (its handler threw, tries 1) is
// listed by `qctl failed` under its uuid with Laravel's exception, `qctl retry <uuid>` puts it
// back on its connection and queue, and it then runs under qctl with its data intact.
func TestLaravelFailsQctlRetries(t *testing.T) {
	t.Parallel()
	eachKind(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, "")
		e.addHandlers(e.execHandler(`Interop\FailJob`))
		queue := "laravel-failures"
		data := `{"invoice":"INV-7","amount":19.99,"to":["a@example.com","b@example.com"]}`
		uuid := e.laravelPush(map[string]any{"push": `Interop\FailJob@handle`, "data": json.RawMessage(data), "queue": queue})[0].UUID

		r := e.artisan("queue:work", e.b.conn, "--queue="+queue, "--once", "--tries=1")
		if r.code != 0 || !strings.Contains(r.stdout, "Failed:") {
			t.Fatalf("Laravel's worker did not fail the job: %s", r)
		}
		if recs := e.phpRecords(); len(recs) != 1 || !recs[0].Failed || recs[0].UUID != uuid {
			t.Fatalf("Laravel's handler ran %+v, want job %s once", recs, uuid)
		}

		listed := e.qctlFailedJobs()
		if len(listed) != 1 {
			t.Fatalf("qctl failed lists %d jobs, want the 1 Laravel failed: %+v", len(listed), listed)
		}
		f := listed[0]
		if f.ID != uuid || f.Connection != e.b.conn || f.Queue != queue || !strings.Contains(f.Job, `Interop\FailJob`) {
			t.Errorf("qctl lists Laravel's failed job as %+v, want uuid %s on %s/%s", f, uuid, e.b.conn, queue)
		}
		if !strings.Contains(f.Exception, "Laravel handler refused") {
			t.Errorf("qctl shows the exception as %q, want Laravel's", f.Exception)
		}
		if f.FailedAt.IsZero() || time.Since(f.FailedAt) > time.Hour || time.Until(f.FailedAt) > time.Hour {
			t.Errorf("qctl read failed_at %v, not around now", f.FailedAt)
		}
		if r := e.qctlOK("failed"); !strings.Contains(r.stdout, uuid) {
			t.Errorf("qctl failed's table does not show %s:\n%s", uuid, r.stdout)
		}

		e.qctlOK("retry", uuid)
		e.qctlOK("work", e.b.conn, "--queue", queue, "--tries", "1", "--stop-when-empty")
		recs := e.execRecords()
		if len(recs) != 1 || recs[0].UUID != uuid || recs[0].Attempts != "1" || recs[0].Queue != queue || recs[0].Job != `Interop\FailJob@handle` {
			t.Fatalf("after qctl retry, qctl ran %+v, want job %s once, attempt 1, on %s", recs, uuid, queue)
		}
		if got, _ := json.Marshal(recs[0].Payload["data"]); !sameJSON(t, got, []byte(data)) {
			t.Errorf("retried job's data is %s, want %s", got, data)
		}
		e.expectNoFailedJobs()
		e.b.expectEmpty(t, queue)
	})
}

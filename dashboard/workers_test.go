package dashboard_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/qctl/qctl/worker"
)

// The Workers page lists the registry's live workers with what they run now, and terminates one
// through the backend.
func TestWorkersPageListsAndTerminates(t *testing.T) {
	b := setup(t, setupOptions{})
	registerWorker(t, b)
	status, body := b.get("/workers")
	if status != http.StatusOK {
		t.Fatalf("GET /workers: %d\n%s", status, body)
	}
	mustContain(t, "/workers", body, "mailer", "web-7 / 4242", `App\Jobs\SendEmail`, "low (paused)", "30.0 MB", "Terminate")

	if status, loc := b.post("/workers/terminate", url.Values{"connection": {"database"}, "worker": {"w-1"}}); status != http.StatusSeeOther || !strings.HasSuffix(loc, "/workers") {
		t.Fatalf("terminate: %d to %q", status, loc)
	}
	b.post("/workers/terminate", url.Values{"connection": {"database"}, "worker": {"w-gone"}})
	log := b.log.String()
	if !strings.Contains(log, "terminate worker w-1 on database: 0 jobs") {
		t.Errorf("the terminate was not logged as done:\n%s", log)
	}
	if !strings.Contains(log, "terminate worker w-gone on database FAILED") {
		t.Errorf("terminating an unknown worker did not fail:\n%s", log)
	}
}

// registerWorker puts a live worker into the database connection's registry, as a running
// `qctl work` does at each heartbeat.
func registerWorker(t *testing.T, b *bundle) {
	t.Helper()
	ctx := context.Background()
	if _, err := b.m.Migrate(ctx, "database"); err != nil {
		t.Fatal(err)
	}
	fleet, err := b.conn("database").Fleet(ctx)
	if err != nil {
		t.Fatal(err)
	}
	info := worker.Info{ID: "w-1", Host: "web-7", PID: 4242, Name: "mailer", Connection: "database",
		Queues: []string{"emails", "low"}, PausedQueues: []string{"low"}, State: "running", Processed: 17,
		MemoryBytes: 30 << 20, StartedAt: time.Now().Add(-time.Minute), BeatAt: time.Now(), HeartbeatS: 2,
		Running: []worker.RunningJob{{ID: "9", Name: `App\Jobs\SendEmail`, Queue: "emails", StartedAt: time.Now()}}}
	entry, _ := json.Marshal(info)
	if err := fleet.PutWorker(ctx, info.ID, entry, time.Minute); err != nil {
		t.Fatal(err)
	}
}

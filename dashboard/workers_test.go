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
	mustContain(t, "/workers", body, "mailer", "web-7 / 4242", `App\Jobs\SendEmail`, "low (paused)", "30.0 MB", "Terminate",
		"master <span class=\"tag\">web-7:4000:m1</span>", "supervisor emails", "standalone", "2 workers", "Pause")
	if m, s := strings.Index(body, "web-7:4000:m1"), strings.Index(body, "standalone"); m > s || strings.Index(body, "emails-1") > s {
		t.Errorf("the master and its child are not listed before the standalone workers")
	}

	for _, step := range []struct{ path, state string }{{"/workers/pause", "paused"}, {"/workers/continue", "running"}} {
		if status, loc := b.post(step.path, url.Values{"connection": {"database"}, "worker": {"w-2"}}); status != http.StatusSeeOther || !strings.HasSuffix(loc, "/workers") {
			t.Fatalf("%s: %d to %q", step.path, status, loc)
		}
		fleet, _ := b.conn("database").Fleet(context.Background())
		v, _ := fleet.Flags(context.Background(), []string{"qctl:pause:worker:w-2"})
		if paused := worker.PHPTruthy(v[0]); paused != (step.state == "paused") {
			t.Errorf("after %s the worker's pause flag is %q", step.path, v[0])
		}
	}
	if status, _ := b.post("/workers/pause", url.Values{"connection": {"database"}, "worker": {"web-7:4000:m1"}}); status != http.StatusSeeOther {
		t.Fatalf("pausing a master: %d", status)
	}
	fleet, _ := b.conn("database").Fleet(context.Background())
	if v, _ := fleet.Flags(context.Background(), []string{"qctl:pause:master:web-7:4000:m1"}); !worker.PHPTruthy(v[0]) {
		t.Errorf("pausing the master did not set its children's pause flag")
	}

	if status, loc := b.post("/workers/terminate", url.Values{"connection": {"database"}, "worker": {"w-1"}}); status != http.StatusSeeOther || !strings.HasSuffix(loc, "/workers") {
		t.Fatalf("terminate: %d to %q", status, loc)
	}
	b.post("/workers/terminate", url.Values{"connection": {"database"}, "worker": {"w-gone"}})
	log := b.log.String()
	if !strings.Contains(log, "terminate worker w-1 on database: 0 jobs") {
		t.Errorf("the terminate was not logged as done:\n%s", log)
	}
	if !strings.Contains(log, "pause worker w-2 on database: 0 jobs") || !strings.Contains(log, "continue worker w-2 on database: 0 jobs") {
		t.Errorf("pause and continue were not logged as done:\n%s", log)
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
	master := worker.Info{ID: "web-7:4000:m1", Kind: worker.KindMaster, Master: "web-7:4000:m1", Host: "web-7", PID: 4000,
		Name: "supervise", Connection: "database", Supervisors: []string{"emails"}, Children: 2, State: "running",
		Claims: map[string]int{"emails": 2}, MemoryBytes: 22 << 20, StartedAt: time.Now().Add(-time.Hour), BeatAt: time.Now(), HeartbeatS: 2}
	child := func(id, name string, pid int) worker.Info {
		return worker.Info{ID: id, Master: master.ID, Supervisor: "emails", Host: "web-7", PID: pid, Name: name, Connection: "database",
			Queues: []string{"emails"}, State: "running", Concurrency: 1, Processed: 240, MemoryBytes: 24 << 20,
			StartedAt: time.Now().Add(-50 * time.Minute), BeatAt: time.Now(), HeartbeatS: 2, Running: []worker.RunningJob{}}
	}
	for _, in := range []worker.Info{info, master, child("w-2", "emails-1", 4001), child("w-3", "emails-2", 4002)} {
		entry, _ := json.Marshal(in)
		if err := fleet.PutWorker(ctx, in.ID, entry, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
}

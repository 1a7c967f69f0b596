package interop

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestQctlRestartStopsLaravelWorker: `qctl restart` writes the cache key Laravel's worker watches
// (illuminate:queue:restart under the cache prefix: in Redis's cache database, or in Laravel's
// database cache table), so a running `php artisan queue:work` finishes and exits 0.
func TestQctlRestartStopsLaravelWorker(t *testing.T) {
	t.Parallel()
	eachKind(t, qctlRestartStopsLaravelWorker)
}

func qctlRestartStopsLaravelWorker(t *testing.T, kind string) {
	e := newEnv(t, kind, "")
	queue := "restart-laravel"
	worker := e.startArtisan("queue:work", e.b.conn, "--queue="+queue, "--sleep=0.1", "--max-time=60")
	// Once it has run a job, the worker has read the restart key's value it compares against.
	e.laravelPush(map[string]any{"push": `Interop\RecordJob@handle`, "data": map[string]any{"ready": true}, "queue": queue})
	waitFor(t, 20*time.Second, "Laravel's worker to run its first job", func() bool { return countLines(t, e.phpRec) == 1 })
	select {
	case <-worker.done:
		t.Fatalf("Laravel's worker stopped before the restart: %s", worker.res)
	default:
	}

	if r := e.qctlOK("restart", e.b.conn); !strings.Contains(r.stdout, "Broadcasting queue restart signal.") {
		t.Errorf("qctl restart printed %s", r)
	}
	if r := worker.wait(t, 15*time.Second); r.code != 0 {
		t.Fatalf("Laravel's worker exited %d after qctl restart, want 0: %s", r.code, r)
	}
	if kind == kindRedis {
		key := e.b.prefix + e.b.cachePrefix + ":illuminate:queue:restart"
		v, err := e.b.cacheRDB.Get(context.Background(), key).Result()
		if _, perr := strconv.ParseInt(v, 10, 64); err != nil || perr != nil {
			t.Errorf("restart key %s holds %q (%v), want a number as Laravel's cache stores one", key, v, err)
		}
		return
	}
	// DatabaseStore: the prefix then the key, the value PHP-serialized.
	var v string
	err := e.b.db.QueryRow(`SELECT value FROM ` + e.b.quote(e.b.cacheTable) + ` WHERE ` + e.b.quote("key") + ` = '` + e.b.cachePrefix + `illuminate:queue:restart'`).Scan(&v)
	if err != nil || !strings.HasPrefix(v, "i:") || !strings.HasSuffix(v, ";") {
		t.Errorf("cache row holds %q (%v), want i:<number>; as Cache::forever stores one", v, err)
	}
}

// TestLaravelRestartStopsQctlWorker: Laravel's `php artisan queue:restart` (Cache::forever of the
// current time under illuminate:queue:restart) makes a running `qctl work` exit 0.
func TestLaravelRestartStopsQctlWorker(t *testing.T) {
	t.Parallel()
	eachKind(t, laravelRestartStopsQctlWorker)
}

func laravelRestartStopsQctlWorker(t *testing.T, kind string) {
	e := newEnv(t, kind, "")
	e.addHandlers(e.execHandler(`Interop\RecordJob`))
	queue := "restart-qctl"
	worker := e.startQctl("work", e.b.conn, "--queue", queue, "--max-time", "60")
	e.laravelPush(map[string]any{"push": `Interop\RecordJob@handle`, "data": map[string]any{"ready": true}, "queue": queue})
	waitFor(t, 20*time.Second, "qctl work to run its first job", func() bool { return countLines(t, e.record) == 1 })
	select {
	case <-worker.done:
		t.Fatalf("qctl work stopped before the restart: %s", worker.res)
	default:
	}

	if r := e.artisan("queue:restart"); r.code != 0 || !strings.Contains(r.stdout, "Broadcasting queue restart signal.") {
		t.Fatalf("php artisan queue:restart: %s", r)
	}
	if r := worker.wait(t, 15*time.Second); r.code != 0 {
		t.Fatalf("qctl work exited %d after php artisan queue:restart, want 0: %s", r.code, r)
	}
}

package interop

import (
	"encoding/json"
	"slices"
	"testing"
	"time"
)

// TestLaravelPauseStopsQctlWorker: a queue paused as Laravel 11+ pauses it (its cache key
// illuminate:queue:paused:{connection}:{queue} holding true, written by Laravel's own cache store:
// RedisStore in the cache database, DatabaseStore in the cache table) is not popped by a running
// `qctl work` until Laravel forgets the key.
func TestLaravelPauseStopsQctlWorker(t *testing.T) {
	t.Parallel()
	eachKind(t, laravelPauseStopsQctlWorker)
}

func laravelPauseStopsQctlWorker(t *testing.T, kind string) {
	e := newEnv(t, kind, "")
	e.addHandlers(e.execHandler(`Interop\RecordJob`))
	queue := "pause-qctl"
	e.php("", "pause.php", "pause", e.b.conn, queue)
	e.startQctl("work", e.b.conn, "--queue", queue, "--max-time", "60", "--heartbeat", "0.2", "--sleep", "0.1")
	paused := func() bool {
		var out struct {
			Workers []struct {
				PausedQueues []string `json:"paused_queues"`
				Processed    int64
			}
		}
		r := e.qctl("workers", e.b.conn, "--json")
		return r.code == 0 && json.Unmarshal([]byte(r.stdout), &out) == nil && len(out.Workers) == 1 &&
			slices.Equal(out.Workers[0].PausedQueues, []string{queue})
	}
	waitFor(t, 20*time.Second, "qctl work to report the queue paused", paused)
	e.laravelPush(map[string]any{"push": `Interop\RecordJob@handle`, "data": map[string]any{"ready": true}, "queue": queue})
	// A second worker's status read after the push, a few heartbeats on, still finds it paused
	// and the job not run.
	start := time.Now()
	waitFor(t, 10*time.Second, "a few heartbeats", func() bool { return time.Since(start) > time.Second })
	if !paused() || countLines(t, e.record) != 0 {
		t.Fatalf("qctl work popped a queue Laravel paused (%d jobs ran)", countLines(t, e.record))
	}
	e.php("", "pause.php", "resume", e.b.conn, queue)
	waitFor(t, 20*time.Second, "qctl work to run the job once Laravel resumed the queue", func() bool { return countLines(t, e.record) == 1 })
}

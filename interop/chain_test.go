package interop

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// dutyKinds are the backends the after-run duty tests (chains, unique locks, batches) run on:
// Redis and one SQL database, as each duty reads the same job object on both.
var dutyKinds = []string{kindRedis, kindSQLite}

// eachDutyKind runs fn as a parallel subtest on each of dutyKinds.
func eachDutyKind(t *testing.T, fn func(t *testing.T, kind string)) {
	for _, kind := range dutyKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			fn(t, kind)
		})
	}
}

// chainStep is what a ChainStep records: its step and how many jobs were still chained after it.
type chainStep struct {
	Step    string `json:"step"`
	Chained int    `json:"chained"`
}

// TestChainTakesTurnsBetweenQctlAndLaravel: Bus::chain([one, two, three]) with one and three on
// a queue qctl works and two on one Laravel's worker works. qctl runs one and dispatches two as
// Laravel's dispatchNextJobInChain would; Laravel runs two and dispatches three; qctl runs three.
func TestChainTakesTurnsBetweenQctlAndLaravel(t *testing.T) {
	t.Parallel()
	eachDutyKind(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, "")
		e.addHandlers(e.execHandler(`Interop\ChainStep`) + "stdin = \"data\"\n")
		e.laravelPush(map[string]any{"chain": [][]any{{"one", "go"}, {"two", "php"}, {"three", "go"}}, "catch": 2})

		e.qctlOK("work", e.b.conn, "--queue", "go", "--stop-when-empty")
		if r := e.artisan("queue:work", e.b.conn, "--queue=php", "--stop-when-empty"); r.code != 0 {
			t.Fatalf("Laravel's worker: %s", r)
		}
		e.qctlOK("work", e.b.conn, "--queue", "go", "--stop-when-empty")

		var order []string
		for _, r := range e.execRecords() {
			p := r.Payload
			left, _ := p["chained"].([]any)
			order = append(order, "qctl:"+p["step"].(string))
			if p["step"] == "one" && len(left) != 2 || p["step"] == "three" && len(left) != 0 {
				t.Errorf("qctl's step %s still had %d chained jobs", p["step"], len(left))
			}
		}
		for _, r := range e.phpRecords() {
			var s chainStep
			if err := json.Unmarshal(r.Data, &s); err != nil {
				t.Fatal(err)
			}
			order = append(order, "laravel:"+s.Step)
			if s.Step != "two" || s.Chained != 1 || r.Queue != "php" {
				t.Errorf("Laravel ran %+v on queue %s, want step two with one job left, on php", s, r.Queue)
			}
		}
		if got := strings.Join(order, " "); got != "qctl:one qctl:three laravel:two" {
			t.Fatalf("ran %s, want qctl one and three, Laravel two", got)
		}
		if recs := e.execRecords(); recs[1].Queue != "go" {
			t.Errorf("step three ran on %s, want go", recs[1].Queue)
		}
		if failed := e.laravelFailed(); len(failed) != 0 {
			t.Errorf("failed jobs: %+v", failed)
		}
		e.b.expectEmpty(t, "go")
		e.b.expectEmpty(t, "php")
	})
}

// TestChainStopsAtAFailedJob: when qctl's job of a chain fails for good, the rest of the chain
// is not dispatched, as in Laravel, and the failed record says the catch callbacks (PHP
// closures) were not run.
func TestChainStopsAtAFailedJob(t *testing.T) {
	t.Parallel()
	e := newEnv(t, kindRedis, "")
	e.addHandlers(e.execHandler(`Interop\ChainStep`, `INTEROP_REFUSE_UNLESS = "never"`) + "stdin = \"data\"\n")
	pushed := e.laravelPush(map[string]any{"chain": [][]any{{"one", "go"}, {"two", "php"}}, "catch": 1})[0]
	e.qctlOK("work", e.b.conn, "--queue", "go", "--stop-when-empty", "--tries", "1")
	failed := e.laravelFailed()
	if len(failed) != 1 || failed[0].ID != pushed.UUID || !strings.Contains(failed[0].Exception, "1 catch callback(s) are PHP closures and were not run") {
		t.Fatalf("failed jobs %+v, want %s with a note on the catch callbacks", failed, pushed.UUID)
	}
	e.b.expectEmpty(t, "php")
}

// TestEncryptedChainStaysEncrypted: in a chain of ShouldBeEncrypted jobs, the next job qctl
// dispatches is sealed again with the cipher the first came with, and Laravel's worker opens and
// runs it.
func TestEncryptedChainStaysEncrypted(t *testing.T) {
	t.Parallel()
	for _, cipher := range []string{"AES-256-CBC", "AES-256-GCM"} {
		t.Run(cipher, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, kindRedis, "")
			key := newAppKey(t)
			e.useAppKey(key, cipher, key)
			e.addHandlers(e.execHandler(`Interop\SecretChainStep`) + "stdin = \"data\"\n")
			e.laravelPush(map[string]any{"chain": [][]any{{"one", "go"}, {"two", "php"}}, "sealed": true})
			e.qctlOK("work", e.b.conn, "--queue", "go", "--stop-when-empty")
			next := e.b.rdb.LRange(context.Background(), e.b.prefix+"queues:php", 0, -1).Val()
			if len(next) != 1 || !strings.Contains(next[0], `"command":"eyJ`) || strings.Contains(next[0], `step`) {
				t.Errorf("the next job is not sealed on the queue: %q", next)
			}
			if r := e.artisan("queue:work", e.b.conn, "--queue=php", "--stop-when-empty"); r.code != 0 || strings.Contains(r.stdout, "Failed") {
				t.Fatalf("Laravel's worker: %s", r)
			}
			if php := e.phpRecords(); len(php) != 1 || !strings.Contains(string(php[0].Data), `"two"`) {
				t.Fatalf("Laravel ran %+v, want step two", php)
			}
		})
	}
}

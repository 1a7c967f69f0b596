package worker_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/qctl/qctl/connectors/dbqueue"
	"github.com/qctl/qctl/jobs"
	"github.com/qctl/qctl/worker"
)

// TestHeartbeatEntryAndPauseAll: a worker's entry lists the job it runs now by name, with its
// counts, and Laravel 13's pause-all flag pauses every queue it pops.
func TestHeartbeatEntryAndPauseAll(t *testing.T) {
	ctx := context.Background()
	q, err := dbqueue.Open(ctx, dbqueue.Options{Dialect: "sqlite", DSN: filepath.Join(t.TempDir(), "q.db"), RetryAfter: time.Minute, AutoMigrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	started, release := make(chan struct{}), make(chan struct{})
	reg := jobs.NewRegistry()
	reg.Register("Block", func(context.Context, *jobs.Job) error { close(started); <-release; return nil })
	payload, _ := jobs.NewPayload("Block", []byte(`{}`)).Encode()
	if _, err := q.Push(ctx, "a", payload, 0); err != nil {
		t.Fatal(err)
	}
	hb := &worker.Heartbeat{Store: q, ID: "w1", Host: "h", Interval: 20 * time.Millisecond, PauseAllKey: "all-paused",
		PauseKey: func(queue string) string { return "paused:" + queue }, TerminateKey: "stop:w1"}
	w := worker.New(worker.Deps{Queue: q, Handlers: reg, Heartbeat: hb}, worker.Options{Queues: []string{"a", "b"}, Sleep: 5 * time.Millisecond})
	done := make(chan worker.StopReason, 1)
	go func() { r, _ := w.Run(ctx); done <- r }()
	<-started
	entry := func() worker.Info {
		t.Helper()
		all, err := q.Workers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var in worker.Info
		_ = json.Unmarshal(all["w1"], &in)
		return in
	}
	waitUntil(t, "the running job in the entry", func() bool {
		in := entry()
		return len(in.Running) == 1 && in.Running[0].Name == "Block" && in.Running[0].Queue == "a"
	})
	close(release)
	waitUntil(t, "the processed count in the entry", func() bool { in := entry(); return in.Processed == 1 && len(in.Running) == 0 })
	if err := q.SetFlag(ctx, "all-paused", "b:1;", 0); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "every queue paused", func() bool { in := entry(); return in.State == worker.StatePaused && len(in.PausedQueues) == 2 })
	if err := q.SetFlag(ctx, "stop:w1", "b:1;", time.Minute); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r != worker.StopInterrupted {
			t.Errorf("stopped for %s, want interrupted", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the worker did not stop on its terminate flag")
	}
	if all, _ := q.Workers(ctx); len(all) != 0 {
		t.Errorf("entries left after a clean exit: %v", all)
	}
}

// waitUntil polls cond: the registry is read as another process would, with nothing to wait on.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPHPTruthy(t *testing.T) {
	for v, want := range map[string]bool{"": false, "b:0;": false, "N;": false, "i:0;": false, `s:0:"";`: false, "0": false,
		"b:1;": true, "1": true, "i:1;": true, `s:3:"yes";`: true} {
		if got := worker.PHPTruthy(v); got != want {
			t.Errorf("PHPTruthy(%q) = %v, want %v", v, got, want)
		}
	}
}

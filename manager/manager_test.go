package manager_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"

	"github.com/qctl/qctl/config"
	"github.com/qctl/qctl/failed"
	"github.com/qctl/qctl/jobs"
	"github.com/qctl/qctl/manager"
)

// setup returns a manager over a SQLite file of the test's own, needing no server.
func setup(t *testing.T, extra string) (*manager.Manager, context.Context) {
	t.Helper()
	db := filepath.Join(t.TempDir(), "q.db")
	cfg, err := config.Load([]byte(`
[connections.database]
driver = "database"
dsn = "` + db + `"

[connections.now]
driver = "sync"
` + extra))
	if err != nil {
		t.Fatal(err)
	}
	return manager.New(cfg, manager.Options{}), context.Background()
}

func TestPushRetryAndSnapshotThroughTheManager(t *testing.T) {
	m, ctx := setup(t, "")
	conn, err := m.Open(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var chunks int
	ids, err := conn.Push(ctx, "SendEmail", []json.RawMessage{[]byte(`{"to":"a"}`), []byte(`{"to":"b"}`)},
		manager.PushOptions{Queue: "mail", Tries: 3, Pushed: func([]string) { chunks++ }})
	if err != nil || len(ids) != 2 || chunks != 1 {
		t.Fatalf("Push = %v, %v after %d chunks; want 2 ids in 1 chunk", ids, err, chunks)
	}
	snap, err := conn.Snapshot(ctx, nil, []string{"mail"})
	if err != nil || len(snap.Queues) != 1 || snap.Queues[0].Ready != 2 {
		t.Fatalf("Snapshot = %+v, %v; want mail with 2 ready", snap, err)
	}
	r, err := conn.Backend.Pop(ctx, "mail")
	if err != nil || r == nil {
		t.Fatalf("Pop = %v, %v", r, err)
	}
	p, err := jobs.Decode(r.Payload)
	if err != nil || p.MaxTries == nil || *p.MaxTries != 3 {
		t.Fatalf("pushed payload %s: maxTries not 3 (%v)", r.Payload, err)
	}

	// A failed job goes back onto its connection and queue, and leaves the store.
	store, err := m.OpenFailed(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	id, err := store.Log(ctx, "database", "mail", r.Payload, "boom")
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.Backend.Delete(ctx, r); err != nil {
		t.Fatal(err)
	}
	var pushed int
	res, err := m.Retry(ctx, store, manager.RetrySelection{IDs: []string{id, "nope"}},
		manager.RetryProgress{Batch: func(ok []failed.Record, _ []manager.Refusal) { pushed += len(ok) }})
	if err != nil || res != (manager.RetryResult{Retried: 1, NotFound: 1}) || pushed != 1 {
		t.Fatalf("Retry = %+v, %v (batch saw %d); want 1 retried, 1 not found", res, err, pushed)
	}
	if n, _ := conn.Backend.Size(ctx, "mail"); n != 2 {
		t.Fatalf("mail holds %d jobs after the retry, want 2", n)
	}
	if _, err := store.Find(ctx, id); !errors.Is(err, failed.ErrNotFound) {
		t.Fatalf("the retried job is still listed: %v", err)
	}
}

func TestRetryRefusesAConnectionThatKeepsNoJobs(t *testing.T) {
	m, ctx := setup(t, "")
	store, err := m.OpenFailed(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	payload, _ := jobs.NewPayload("SendEmail", []byte(`{}`)).Encode()
	if _, err := store.Log(ctx, "now", "default", payload, "boom"); err != nil {
		t.Fatal(err)
	}
	var refused []manager.Refusal
	res, err := m.Retry(ctx, store, manager.RetrySelection{All: true},
		manager.RetryProgress{Batch: func(_ []failed.Record, no []manager.Refusal) { refused = append(refused, no...) }})
	if err != nil || res.NotRetried != 1 || len(refused) != 1 {
		t.Fatalf("Retry = %+v, %v; want the sync connection's job refused", res, err)
	}
}

func TestUsageMistakesAreSentinels(t *testing.T) {
	m, ctx := setup(t, "\n[failed]\ndriver = \"null\"\n")
	if _, err := m.Open(ctx, "nope"); !errors.Is(err, config.ErrUnknownConnection) {
		t.Errorf("Open(nope) = %v, want ErrUnknownConnection", err)
	}
	if _, err := m.OpenFailed(ctx); !errors.Is(err, manager.ErrFailedDisabled) {
		t.Errorf("OpenFailed with the null failer = %v, want ErrFailedDisabled", err)
	}
	conn, err := m.Open(ctx, "now")
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.Restart(ctx); !errors.Is(err, manager.ErrNotSupported) {
		t.Errorf("Restart on sync = %v, want ErrNotSupported", err)
	}
	prio := uint32(1)
	if _, err := conn.Push(ctx, "X", []json.RawMessage{[]byte("{}")}, manager.PushOptions{Priority: &prio}); !errors.Is(err, manager.ErrNotSupported) {
		t.Errorf("Push with a priority on sync = %v, want ErrNotSupported", err)
	}
}

// A database connection stores a whole push in one transaction (all or nothing), however many
// jobs; other backends report each chunk of PushChunk as it is stored.
func TestPushOnADatabaseIsOneTransaction(t *testing.T) {
	m, ctx := setup(t, "")
	conn, err := m.Open(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	datas := make([]json.RawMessage, manager.PushChunk*2+1)
	for i := range datas {
		datas[i] = []byte(`{}`)
	}
	var chunks []int
	ids, err := conn.Push(ctx, "X", datas, manager.PushOptions{Pushed: func(ids []string) { chunks = append(chunks, len(ids)) }})
	if err != nil || len(ids) != len(datas) || len(chunks) != 1 {
		t.Fatalf("Push of %d = %d ids, %v, in chunks %v; want one chunk", len(datas), len(ids), err, chunks)
	}
}

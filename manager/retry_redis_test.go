package manager_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"path/filepath"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/qctl/qctl/config"
	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/connectors/connectortest"
	"github.com/qctl/qctl/failed"
	"github.com/qctl/qctl/jobs"
	"github.com/qctl/qctl/manager"
)

// On Redis no transaction covers the queue and the failed store, so a retry that died after
// pushing but before forgetting must not push again when repeated: each failure is pushed once.
func TestRetryRepeatedAfterACrashQueuesEachFailureOnceOnRedis(t *testing.T) {
	connectortest.RequireService(t, "Redis", "127.0.0.1:6379", "redis-server --daemonize yes")
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	prefix := "qctl-test-" + hex.EncodeToString(b) + ":"
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer rdb.Close()
	ctx := context.Background()
	t.Cleanup(func() {
		keys, _ := rdb.Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
	})
	cfg, err := config.Load([]byte(`
default = "redis"

[connections.redis]
driver = "redis"
prefix = "` + prefix + `"

[failed]
dsn = "` + filepath.Join(t.TempDir(), "failed.db") + `"
`))
	if err != nil {
		t.Fatal(err)
	}
	m := manager.New(cfg, manager.Options{})
	store, err := m.OpenFailed(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	payload, _ := jobs.NewPayload("SendEmail", []byte(`{}`)).Encode()
	id, err := store.Log(ctx, "redis", "default", payload, "boom")
	if err != nil {
		t.Fatal(err)
	}
	rec, err := store.Find(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := m.Open(ctx, "redis")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	retry := func() manager.RetryResult {
		t.Helper()
		res, err := m.Retry(ctx, store, manager.RetrySelection{All: true}, manager.RetryProgress{})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	// A first retry pushes the job and dies before it forgets the record: simulated by pushing
	// through the same path, then putting the record back as it was.
	if res := retry(); res.Retried != 1 {
		t.Fatalf("first retry: %+v", res)
	}
	if _, err := store.Log(ctx, rec.Connection, rec.Queue, rec.Payload, rec.Exception); err != nil {
		t.Fatal(err)
	}
	// The re-logged record is a new failure row, which must be pushed again: a job that failed
	// after its retry is retried again.
	if res := retry(); res.Retried != 1 {
		t.Fatalf("retry of a new failure: %+v", res)
	}
	if n, _ := conn.Backend.Size(ctx, "default"); n != 2 {
		t.Fatalf("queue holds %d jobs, want 2 (one per failure)", n)
	}

	// The crash itself: the push of this failure happened, the forget did not.
	id3, err := store.Log(ctx, "redis", "default", payload, "boom again")
	if err != nil {
		t.Fatal(err)
	}
	rec3, err := store.Find(ctx, id3)
	if err != nil {
		t.Fatal(err)
	}
	once := conn.Backend.(connectors.OncePusher)
	if _, err := once.PushOnce(ctx, "default", [][]byte{jobs.ForRetry(rec3.Payload, rec3.FailedAt)}, []string{manager.RetryToken(*rec3)}); err != nil {
		t.Fatal(err)
	}
	if res := retry(); res.Retried != 1 {
		t.Fatalf("retry repeated after the crash: %+v", res)
	}
	if n, _ := conn.Backend.Size(ctx, "default"); n != 3 {
		t.Fatalf("queue holds %d jobs after the repeated retry, want 3: the crashed retry's job was pushed twice", n)
	}
	if n, _ := store.Count(ctx, failed.Filter{}); n != 0 {
		t.Fatalf("%d failed records left, want 0", n)
	}
}

package laravel

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/connectors/connectortest"
	"github.com/qctl/qctl/connectors/redisqueue"
	"github.com/qctl/qctl/jobs"
)

// uniqueJob is a Laravel object job of class with uniqueId 42, as the worker hands it to duties.
func uniqueJob(t *testing.T, class string) *jobs.Job {
	t.Helper()
	return objectJob(t, class, `1:{s:8:"uniqueId";s:2:"42";}`)
}

// objectJob is a Laravel object job of class whose serialized properties are props (say
// `1:{s:7:"batchId";s:3:"b-1";}`), as the worker hands it to the duties.
func objectJob(t *testing.T, class, props string) *jobs.Job {
	t.Helper()
	raw, err := jobs.NewObjectPayload(class, fmt.Sprintf(`O:%d:"%s":%s`, len(class), class, props)).Encode()
	if err != nil {
		t.Fatal(err)
	}
	p, err := jobs.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	return &jobs.Job{Connection: "redis", Payload: p, Raw: raw}
}

// TestUniqueLockReleasedWhereLaravelReleasesIt: a ShouldBeUnique job's lock goes after its run
// (Succeeded), a ShouldBeUniqueUntilProcessing one's before it (Before), in the Redis cache
// store under prefix + cache_prefix + ":" + laravel_unique_job:{class}{uniqueId}.
func TestUniqueLockReleasedWhereLaravelReleasesIt(t *testing.T) {
	connectortest.RequireService(t, "Redis", "127.0.0.1:6379", "redis-server --daemonize yes")
	ctx := context.Background()
	prefix := fmt.Sprintf("unique_test_%d_", time.Now().UnixNano())
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer rdb.Close()
	d := New(Options{
		Open: func(ctx context.Context, name string) (connectors.Queue, string, error) {
			q, err := redisqueue.Open(ctx, redisqueue.Options{Addr: "127.0.0.1:6379", Prefix: prefix, CachePrefix: "app_cache"})
			return q, "default", err
		},
		UntilProcessing: map[string]bool{`App\Jobs\Early`: true},
	})
	defer d.Close()
	lock := func(class string) string { return prefix + "app_cache:laravel_unique_job:" + class + "42" }
	for _, class := range []string{`App\Jobs\Late`, `App\Jobs\Early`} {
		rdb.Set(ctx, lock(class), "owner", time.Minute)
		defer rdb.Del(ctx, lock(class))
	}

	late, early := uniqueJob(t, `App\Jobs\Late`), uniqueJob(t, `App\Jobs\Early`)
	for _, j := range []*jobs.Job{late, early} {
		if err := d.Before(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	if rdb.Exists(ctx, lock(`App\Jobs\Late`)).Val() != 1 || rdb.Exists(ctx, lock(`App\Jobs\Early`)).Val() != 0 {
		t.Fatal("before the run: want only the until-processing lock released")
	}
	rdb.Set(ctx, lock(`App\Jobs\Early`), "a second dispatch", time.Minute) // taken again while it runs
	for _, j := range []*jobs.Job{late, early} {
		if err := d.Succeeded(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	if rdb.Exists(ctx, lock(`App\Jobs\Late`)).Val() != 0 || rdb.Exists(ctx, lock(`App\Jobs\Early`)).Val() != 1 {
		t.Fatal("after the run: want the unique lock released and the second dispatch's lock kept")
	}
}

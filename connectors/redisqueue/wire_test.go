package redisqueue

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/connectors/connectortest"
)

// Wire tests check the bytes on Redis against wire-formats.md: key names, list elements, sorted
// set members and scores, and attempts at each step.

// wire is one wire test's setup: a queue on the shared Redis under a unique Laravel-style client
// prefix, a fake clock, and a raw client to look at the keys.
type wire struct {
	t      *testing.T
	ctx    context.Context
	raw    *redis.Client
	clock  *connectortest.Clock
	prefix string
	q      *Queue
}

func setupWire(t *testing.T, o Options) *wire {
	t.Helper()
	raw := sharedClient(t)
	w := &wire{t: t, ctx: context.Background(), raw: raw, clock: connectortest.NewClock()}
	w.prefix = testPrefix(t, raw) + "laravel_database_"
	o.Addr, o.Prefix, o.Now = sharedAddr, w.prefix, w.clock.Now
	if o.RetryAfter == 0 {
		o.RetryAfter = 90 * time.Second
	}
	q, err := Open(w.ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	w.q = q
	return w
}

func (w *wire) list(key string) []string {
	w.t.Helper()
	v, err := w.raw.LRange(w.ctx, key, 0, -1).Result()
	if err != nil {
		w.t.Fatalf("LRANGE %s: %v", key, err)
	}
	return v
}

func (w *wire) zset(key string) []redis.Z {
	w.t.Helper()
	v, err := w.raw.ZRangeWithScores(w.ctx, key, 0, -1).Result()
	if err != nil {
		w.t.Fatalf("ZRANGE %s: %v", key, err)
	}
	return v
}

func (w *wire) unix(d time.Duration) float64 { return float64(w.clock.Now().Add(d).Unix()) }

// laravelJob is a Laravel 11 string-job payload as PHP writes it, with the traps cjson would
// mangle: an empty array, an escaped slash, a unicode escape, a big integer, a nested "attempts".
const laravelJob = `{"uuid":"0f9f1c9e-5c1a-4c39-9d57-0d3c4f7a2b11","displayName":"SendEmail","job":"SendEmail@handle",` +
	`"maxTries":null,"maxExceptions":null,"failOnTimeout":false,"backoff":"1,5,10","timeout":null,` +
	`"data":{"to":"a@b.c","tags":[],"url":"https:\/\/example.com\/x","name":"\u00e9","big":12345678901234567890,"attempts":7}}`

var idAttempts = regexp.MustCompile(`^,"id":"([0-9A-Za-z]{32})","attempts":0\}$`)

func TestWireLaravelLifecycle(t *testing.T) {
	w := setupWire(t, Options{})
	base := w.prefix + "queues:emails"

	id, err := w.q.Push(w.ctx, "emails", []byte(laravelJob), 0)
	if err != nil {
		t.Fatal(err)
	}
	// Push: the list holds the payload byte for byte with id and attempts 0 appended; one token.
	ready := w.list(base)
	if len(ready) != 1 || !strings.HasPrefix(ready[0], laravelJob[:len(laravelJob)-1]) {
		t.Fatalf("%s = %q, want the pushed payload first", base, ready)
	}
	m := idAttempts.FindStringSubmatch(ready[0][len(laravelJob)-1:])
	if m == nil || m[1] != id {
		t.Fatalf("pushed element ends %q, want ,\"id\":%q,\"attempts\":0}", ready[0][len(laravelJob)-1:], id)
	}
	if got := w.list(base + ":notify"); len(got) != 1 || got[0] != "1" {
		t.Fatalf("notify = %q, want [1]", got)
	}

	// Pop: reserved member = element with attempts 1, score now+retry_after; notify consumed.
	r, err := w.q.Pop(w.ctx, "emails")
	if err != nil || r == nil {
		t.Fatalf("Pop = %v, %v", r, err)
	}
	wantReserved := strings.Replace(ready[0], `"attempts":0}`, `"attempts":1}`, 1)
	if string(r.Payload) != ready[0] || r.Receipt != wantReserved || r.ID != id || r.Attempts != 1 {
		t.Fatalf("Reserved = %+v\nwant Payload %s\nReceipt %s", r, ready[0], wantReserved)
	}
	if z := w.zset(base + ":reserved"); len(z) != 1 || z[0].Member != wantReserved || z[0].Score != w.unix(90*time.Second) {
		t.Fatalf("reserved = %v, want %s at %v", z, wantReserved, w.unix(90*time.Second))
	}
	if n := w.raw.Exists(w.ctx, base, base+":notify").Val(); n != 0 {
		t.Fatalf("%d of list and notify still exist after popping the only job", n)
	}

	// Release: the delayed set holds the reserved string (attempts 1) at now+delay.
	if err := w.q.Release(w.ctx, r, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if z := w.zset(base + ":delayed"); len(z) != 1 || z[0].Member != wantReserved || z[0].Score != w.unix(10*time.Second) {
		t.Fatalf("delayed = %v, want %s at %v", z, wantReserved, w.unix(10*time.Second))
	}
	if z := w.zset(base + ":reserved"); len(z) != 0 {
		t.Fatalf("reserved = %v after release, want empty", z)
	}

	// Due: the next pop migrates it and counts attempt 2.
	w.clock.Advance(10 * time.Second)
	again, err := w.q.Pop(w.ctx, "emails")
	if err != nil || again == nil {
		t.Fatalf("Pop after release = %v, %v", again, err)
	}
	wantReserved2 := strings.Replace(ready[0], `"attempts":0}`, `"attempts":2}`, 1)
	if again.Attempts != 2 || string(again.Payload) != wantReserved || again.Receipt != wantReserved2 {
		t.Fatalf("second reservation = %+v, want attempts 2, receipt %s", again, wantReserved2)
	}

	// Delete: nothing is left.
	if err := w.q.Delete(w.ctx, again); err != nil {
		t.Fatal(err)
	}
	if n := w.raw.Exists(w.ctx, base, base+":delayed", base+":reserved", base+":notify").Val(); n != 0 {
		t.Fatalf("%d keys of the queue still exist after delete", n)
	}
	if err := w.q.Delete(w.ctx, again); !errors.Is(err, connectors.ErrLeaseLost) {
		t.Fatalf("second Delete = %v, want ErrLeaseLost", err)
	}
	if err := w.q.Release(w.ctx, again, 0); !errors.Is(err, connectors.ErrLeaseLost) {
		t.Fatalf("Release after Delete = %v, want ErrLeaseLost", err)
	}
	if z := w.zset(base + ":delayed"); len(z) != 0 {
		t.Fatalf("a release of a lost reservation re-added the job: %v", z)
	}
}

func TestWireDelayedScore(t *testing.T) {
	w := setupWire(t, Options{})
	if _, err := w.q.Push(w.ctx, "default", []byte(laravelJob), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	z := w.zset(w.prefix + "queues:default:delayed")
	if len(z) != 1 || z[0].Score != w.unix(30*time.Second) || !strings.HasSuffix(z[0].Member.(string), `,"attempts":0}`) {
		t.Fatalf("delayed = %v, want the payload at now+30", z)
	}
	if n := w.raw.Exists(w.ctx, w.prefix+"queues:default", w.prefix+"queues:default:notify").Val(); n != 0 {
		t.Fatal("a delayed push touched the ready list or notify list")
	}
	// A sub-second delay rounds up: the job is never due early.
	if _, err := w.q.Push(w.ctx, "default", []byte(laravelJob), 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if z := w.zset(w.prefix + "queues:default:delayed"); z[0].Score != w.unix(2*time.Second) {
		t.Fatalf("1.5s delay scored %v, want now+2", z[0].Score)
	}
}

func TestWireNotifyTracksReadyJobs(t *testing.T) {
	w := setupWire(t, Options{})
	notify := w.prefix + "queues:default:notify"
	for range 3 {
		if _, err := w.q.Push(w.ctx, "default", []byte(laravelJob), 0); err != nil {
			t.Fatal(err)
		}
	}
	if n := w.raw.LLen(w.ctx, notify).Val(); n != 3 {
		t.Fatalf("notify holds %d tokens after 3 pushes", n)
	}
	if _, err := w.q.Pop(w.ctx, "default"); err != nil {
		t.Fatal(err)
	}
	if n := w.raw.LLen(w.ctx, notify).Val(); n != 2 {
		t.Fatalf("notify holds %d tokens with 2 jobs ready", n)
	}
	// Stale tokens (for example from a job removed behind our back) are dropped by the next pop.
	w.raw.RPush(w.ctx, notify, "1", "1", "1")
	if _, err := w.q.PopN(w.ctx, "default", 2); err != nil {
		t.Fatal(err)
	}
	if n := w.raw.Exists(w.ctx, notify).Val(); n != 0 {
		t.Fatal("stale notify tokens survived a pop that emptied the queue")
	}
}

func TestWireLeaseExpiryMigrates(t *testing.T) {
	w := setupWire(t, Options{})
	base := w.prefix + "queues:default"
	if _, err := w.q.Push(w.ctx, "default", []byte(laravelJob), 0); err != nil {
		t.Fatal(err)
	}
	first, _ := w.q.Pop(w.ctx, "default")
	w.clock.Advance(91 * time.Second)
	// A worker blocking in Wait learns within a slice that the expired job is available.
	if ok, err := w.q.Wait(w.ctx, "default", 1500*time.Millisecond); !ok || err != nil {
		t.Fatalf("Wait with an expired lease = %v, %v; want true", ok, err)
	}
	second, err := w.q.Pop(w.ctx, "default")
	if err != nil || second == nil || second.Attempts != 2 || string(second.Payload) != first.Receipt {
		t.Fatalf("after lease expiry Pop = %+v, %v; want the reserved string back with attempts 2", second, err)
	}
	if z := w.zset(base + ":reserved"); len(z) != 1 || z[0].Member != second.Receipt {
		t.Fatalf("reserved = %v, want only the new reservation", z)
	}
	if err := w.q.Extend(w.ctx, first, time.Minute); !errors.Is(err, connectors.ErrLeaseLost) {
		t.Fatalf("Extend of the lost reservation = %v", err)
	}
	if err := w.q.Extend(w.ctx, second, 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	if z := w.zset(base + ":reserved"); z[0].Score != w.unix(5*time.Minute) {
		t.Fatalf("extended lease ends %v, want now+300", z[0].Score)
	}
	if err := w.q.Extend(w.ctx, second, 5*time.Minute); err != nil {
		t.Fatalf("Extend to the same lease end = %v, want nil", err)
	}
}

func TestWireRetryAfterUnsetNeverMigrates(t *testing.T) {
	w := setupWire(t, Options{})
	q, err := Open(w.ctx, Options{Addr: sharedAddr, Prefix: w.prefix, Now: w.clock.Now}) // retry_after 0
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if _, err := q.Push(w.ctx, "default", []byte(laravelJob), 0); err != nil {
		t.Fatal(err)
	}
	r, _ := q.Pop(w.ctx, "default")
	if z := w.zset(w.prefix + "queues:default:reserved"); len(z) != 1 || z[0].Score != w.unix(0) || z[0].Member != r.Receipt {
		t.Fatalf("reserved = %v, want the job scored now", z)
	}
	w.clock.Advance(24 * time.Hour)
	if again, err := q.Pop(w.ctx, "default"); again != nil || err != nil {
		t.Fatalf("with retry_after unset a reservation came back: %+v, %v", again, err)
	}
	if _, err := Open(w.ctx, Options{Addr: sharedAddr, RetryAfter: -time.Second}); err == nil {
		t.Fatal("Open accepted a negative retry_after")
	}
}

// TestWirePayloadsOfOthers checks pops of payloads qctl did not write: a reservation a Laravel
// worker re-encoded with cjson (attempts not last), an object without attempts, non-JSON, and a
// non-numeric attempts. None is dropped and none fails the pop.
func TestWirePayloadsOfOthers(t *testing.T) {
	w := setupWire(t, Options{})
	base := w.prefix + "queues:others"
	raw := []string{
		`{"attempts":3,"id":"abc","job":"X","data":{}}`,
		`{"job":"X","data":{"n":1}}`,
		`{}`,
		`this is not json`,
		`{"job":"X","attempts":"two"}`,
		`[1,2]`,
	}
	for _, p := range raw {
		w.raw.RPush(w.ctx, base, p)
	}
	jobs, err := w.q.PopN(w.ctx, "others", 10)
	if err != nil || len(jobs) != len(raw) {
		t.Fatalf("PopN = %d jobs, %v", len(jobs), err)
	}
	var decoded map[string]any
	if err := json.Unmarshal([]byte(jobs[0].Receipt), &decoded); err != nil || decoded["attempts"] != 4.0 || decoded["id"] != "abc" || jobs[0].Attempts != 4 || jobs[0].ID != "abc" {
		t.Errorf("cjson-encoded job: %+v", jobs[0])
	}
	if jobs[1].Receipt != `{"job":"X","data":{"n":1},"attempts":1}` || jobs[1].Attempts != 1 {
		t.Errorf("job without attempts: %+v", jobs[1])
	}
	if jobs[2].Receipt != `{"attempts":1}` {
		t.Errorf("empty object: %+v", jobs[2])
	}
	for i, j := range jobs[3:] {
		if j.Receipt != raw[3+i] || string(j.Payload) != raw[3+i] || j.Attempts != 1 {
			t.Errorf("bad payload %q reserved as %+v", raw[3+i], j)
		}
	}
	if n := w.raw.ZCard(w.ctx, base+":reserved").Val(); n != int64(len(raw)) {
		t.Errorf("%d reservations, want %d", n, len(raw))
	}
	if err := w.q.DeleteN(w.ctx, jobs); err != nil {
		t.Fatal(err)
	}
	if n, _ := w.q.Size(w.ctx, "others"); n != 0 {
		t.Fatalf("Size = %d after deleting all", n)
	}
}

func TestWireLuaErrorNamesKey(t *testing.T) {
	w := setupWire(t, Options{})
	key := w.prefix + "queues:broken"
	w.raw.Set(w.ctx, key, "not a list", 0)
	_, err := w.q.Pop(w.ctx, "broken")
	if err == nil || !strings.Contains(err.Error(), key) || errors.Is(err, connectors.ErrUnavailable) {
		t.Fatalf("Pop of a wrong-type key = %v, want an error naming %s, not ErrUnavailable", err, key)
	}
}

func TestWireThinkFormat(t *testing.T) {
	w := setupWire(t, Options{Format: FormatThink})
	// think-queue has no prefix option: setupWire's prefix stands in for test isolation.
	base := w.prefix + "{queues:default}"
	job := `{"job":"app\\job\\Hello","maxTries":null,"timeout":null,"data":{"a":1}}`
	id, err := w.q.Push(w.ctx, "default", []byte(job), 0)
	if err != nil {
		t.Fatal(err)
	}
	ready := w.list(base)
	if len(ready) != 1 || ready[0] != job[:len(job)-1]+`,"id":"`+id+`","attempts":0}` {
		t.Fatalf("%s = %q", base, ready)
	}
	if n := w.raw.Exists(w.ctx, base+":notify", w.prefix+"queues:default:notify").Val(); n != 0 {
		t.Fatal("think format wrote a notify list")
	}
	r, err := w.q.Pop(w.ctx, "default")
	if err != nil || r == nil || r.Attempts != 1 {
		t.Fatalf("Pop = %+v, %v", r, err)
	}
	if z := w.zset(base + ":reserved"); len(z) != 1 || z[0].Member != strings.Replace(ready[0], `"attempts":0}`, `"attempts":1}`, 1) {
		t.Fatalf("reserved = %v", z)
	}
	if err := w.q.Release(w.ctx, r, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if z := w.zset(base + ":delayed"); len(z) != 1 || z[0].Score != w.unix(5*time.Second) {
		t.Fatalf("delayed = %v", z)
	}
}

func TestWireRestartKey(t *testing.T) {
	for _, tc := range []struct {
		format, cachePrefix, key string
	}{
		{FormatLaravel, "", "illuminate:queue:restart"},
		{FormatLaravel, "laravel_cache_", "laravel_cache_:illuminate:queue:restart"},
		{FormatThink, "", "think:queue:restart"},
	} {
		w := setupWire(t, Options{Format: tc.format, CachePrefix: tc.cachePrefix})
		if v, err := w.q.RestartSignal(w.ctx); v != "" || err != nil {
			t.Fatalf("RestartSignal before any broadcast = %q, %v", v, err)
		}
		if err := w.q.BroadcastRestart(w.ctx, "1700000000"); err != nil {
			t.Fatal(err)
		}
		key := w.prefix + tc.key
		if v := w.raw.Get(w.ctx, key).Val(); v != "1700000000" {
			t.Fatalf("%s = %q, want 1700000000", key, v)
		}
		if ttl := w.raw.TTL(w.ctx, key).Val(); ttl != -1 {
			t.Fatalf("%s has TTL %v, want none", key, ttl)
		}
		if v, err := w.q.RestartSignal(w.ctx); v != "1700000000" || err != nil {
			t.Fatalf("RestartSignal = %q, %v", v, err)
		}
	}
}

// A Laravel app's default cache connection is Redis database 1 (REDIS_CACHE_DB), apart from the
// queue's database 0: with CacheDB the restart key lives there, and only there.
func TestWireRestartKeyInTheCacheDatabase(t *testing.T) {
	cacheDB := 1
	w := setupWire(t, Options{CachePrefix: "laravel_cache", CacheDB: &cacheDB})
	cache := redis.NewClient(&redis.Options{Addr: sharedAddr, DB: cacheDB})
	t.Cleanup(func() { cache.Close() })
	key := w.prefix + "laravel_cache:illuminate:queue:restart"
	t.Cleanup(func() { cache.Del(context.Background(), key) })

	if err := w.q.BroadcastRestart(w.ctx, "1700000001"); err != nil {
		t.Fatal(err)
	}
	if v := cache.Get(w.ctx, key).Val(); v != "1700000001" {
		t.Fatalf("%s in database %d = %q, want 1700000001", key, cacheDB, v)
	}
	if n := w.raw.Exists(w.ctx, key).Val(); n != 0 {
		t.Fatalf("%s was also written to the queue's database", key)
	}
	// What `php artisan queue:restart` writes there is what the worker reads.
	cache.Set(w.ctx, key, "1700000002", 0)
	if v, err := w.q.RestartSignal(w.ctx); v != "1700000002" || err != nil {
		t.Fatalf("RestartSignal = %q, %v; want the cache database's value", v, err)
	}
}

func TestWireWaitTimesOutAndCapsAtBlockFor(t *testing.T) {
	w := setupWire(t, Options{BlockFor: 200 * time.Millisecond})
	start := time.Now()
	ok, err := w.q.Wait(w.ctx, "idle", time.Minute)
	if ok || err != nil {
		t.Fatalf("Wait on an idle queue = %v, %v", ok, err)
	}
	if el := time.Since(start); el < 150*time.Millisecond || el > 3*time.Second {
		t.Fatalf("Wait returned after %v, want about BlockFor (200ms)", el)
	}
}

func TestWireWaitWakesWhenDelayedJobFallsDue(t *testing.T) {
	w := setupWire(t, Options{})
	if _, err := w.q.Push(w.ctx, "later", []byte(laravelJob), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(10 * time.Second)
	start := time.Now()
	if ok, err := w.q.Wait(w.ctx, "later", 5*time.Second); !ok || err != nil {
		t.Fatalf("Wait with a due delayed job = %v, %v; want true", ok, err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("a due delayed job was held back %v, want about a second at most", el)
	}
	if r, err := w.q.Pop(w.ctx, "later"); r == nil || err != nil {
		t.Fatalf("Pop after Wait = %v, %v", r, err)
	}
}

// TestWireEveryPushWakesAWaiter checks that taking the notify token in Wait loses no wakeup: two
// idle workers and two pushes wake both through their tokens, well before a one-second slice.
func TestWireEveryPushWakesAWaiter(t *testing.T) {
	w := setupWire(t, Options{})
	start := time.Now()
	woke := make(chan time.Duration, 2)
	var wg sync.WaitGroup
	defer wg.Wait()
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ok, err := w.q.Wait(w.ctx, "pair", 10*time.Second); !ok || err != nil {
				t.Errorf("Wait = %v, %v", ok, err)
			}
			woke <- time.Since(start)
		}()
	}
	for range 2 {
		if _, err := w.q.Push(w.ctx, "pair", []byte(laravelJob), 0); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if d := <-woke; d > 900*time.Millisecond {
			t.Errorf("a waiter woke after %v: its push's token went missing", d)
		}
	}
}

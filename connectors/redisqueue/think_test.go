package redisqueue

import (
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// thinkRedisJob is a think-queue 3 payload as its Redis connector stores it: PHP's json_encode
// of job, maxTries, timeout, data (escaped slashes, \u escapes), then id (32 alphanumerics) and
// attempts 0.
const thinkRedisJob = `{"job":"app\\job\\Hello","maxTries":null,"timeout":null,"data":{"url":"https:\/\/x.test","name":"\u00e9","tags":[]},` +
	`"id":"aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW","attempts":0}`

// TestWireThinkQueuePayloads puts think-queue 3's payloads on the {queues:N} keys the way its
// push and later do (RPUSH, ZADD delayed) and checks what qctl's pops, releases, lapsed leases and
// deletes leave there, byte for byte, for think-queue workers sharing the queue.
func TestWireThinkQueuePayloads(t *testing.T) {
	w := setupWire(t, Options{Format: FormatThink})
	base := w.prefix + "{queues:default}"
	const laterJob = `{"job":"Later","maxTries":3,"timeout":null,"data":"","id":"Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2Rr1Qq0Pp","attempts":0}`
	w.raw.RPush(w.ctx, base, thinkRedisJob)
	w.raw.ZAdd(w.ctx, base+":delayed", redis.Z{Score: w.unix(30 * time.Second), Member: laterJob})

	r, err := w.q.Pop(w.ctx, "default")
	if err != nil || r == nil || string(r.Payload) != thinkRedisJob || r.Attempts != 1 || r.ID != "aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW" {
		t.Fatalf("Pop = %+v, %v; want think-queue's payload as pushed, attempt 1, its id", r, err)
	}
	reserved := strings.Replace(thinkRedisJob, `"attempts":0}`, `"attempts":1}`, 1)
	if z := w.zset(base + ":reserved"); len(z) != 1 || z[0].Member != reserved || z[0].Score != w.unix(90*time.Second) || r.Receipt != reserved {
		t.Fatalf("%s:reserved = %v (receipt %s); want the payload with attempts 1, due back in 90s", base, z, r.Receipt)
	}
	if again, err := w.q.Pop(w.ctx, "default"); err != nil || again != nil {
		t.Fatalf("Pop with only a delayed job left = %+v, %v", again, err)
	}

	// Released: the reserved string moves to the delayed set, as think-queue's release does.
	if err := w.q.Release(w.ctx, r, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if z := w.zset(base + ":delayed"); len(z) != 2 || z[0].Member != reserved || z[0].Score != w.unix(10*time.Second) {
		t.Fatalf("%s:delayed = %v; want the reserved string due in 10s before the later job", base, z)
	}
	if n := w.raw.ZCard(w.ctx, base+":reserved").Val(); n != 0 {
		t.Fatalf("%d reservations left after release", n)
	}

	// Both fall due; the lease of the second pop lapses and the job comes back with attempts 3.
	w.clock.Advance(30 * time.Second)
	first, err := w.q.Pop(w.ctx, "default")
	if err != nil || first == nil || first.Attempts != 2 || string(first.Payload) != reserved {
		t.Fatalf("Pop after release = %+v, %v; want attempt 2 of the released job", first, err)
	}
	later, err := w.q.Pop(w.ctx, "default")
	if err != nil || later == nil || later.Attempts != 1 || string(later.Payload) != laterJob {
		t.Fatalf("Pop of the later job = %+v, %v", later, err)
	}
	if err := w.q.Delete(w.ctx, later); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(91 * time.Second)
	lapsed, err := w.q.Pop(w.ctx, "default")
	if err != nil || lapsed == nil || lapsed.Attempts != 3 || lapsed.ID != r.ID {
		t.Fatalf("Pop after the lease lapsed = %+v, %v; want attempt 3 of %s", lapsed, err, r.ID)
	}
	if err := w.q.Delete(w.ctx, lapsed); err != nil {
		t.Fatal(err)
	}
	if keys := w.raw.Keys(w.ctx, w.prefix+"*").Val(); len(keys) != 0 {
		t.Fatalf("keys left after every job was deleted: %q", keys)
	}
}

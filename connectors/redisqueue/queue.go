// Package redisqueue is the Redis connector: Laravel's RedisQueue layout and algorithms byte for
// byte (keys queues:N, :delayed, :reserved, :notify; payloads carrying id and attempts), or
// think-queue 3.0.5+'s ({queues:N} keys, no notify list), on a single server, Sentinel or Cluster.
//
// A job's life on Redis: Push RPUSHes it onto the ready list (or ZADDs it to the delayed set);
// Pop LPOPs it and ZADDs its reserved string (the payload with attempts+1) to the reserved set
// with the lease end as score; Delete ZREMs that exact string; Release moves it to the delayed set;
// a reservation whose lease ends is moved back to the ready list by the next pop. Every atomic
// step is one Lua script in scripts.go; every key name comes from keys.go.
package redisqueue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/qctl/qctl/connectors"
)

// Options configure a connection. The zero value reaches a single server at 127.0.0.1:6379 with
// Laravel's layout and no prefix.
type Options struct {
	Addr       string   // single server address ("host:port")
	Addrs      []string // cluster seeds or sentinel addresses
	Mode       string   // ModeAuto (""), ModeSingle, ModeSentinel or ModeCluster
	MasterName string   // Sentinel master name
	Username   string
	Password   string
	DB         int
	TLS        bool

	// Prefix is Laravel's client prefix, put in front of every key (Laravel's default is
	// "laravel_database_"). think-queue has none; there it is a qctl extension and must be "" to
	// share queues with ThinkPHP.
	Prefix string
	// CachePrefix is the cache store's prefix of the restart key: Laravel's cache.prefix (a colon
	// is added after it, as Laravel's RedisStore does) or ThinkPHP's cache prefix (used as is).
	CachePrefix string
	// CacheDB is the database of the cache store that holds the restart key; nil means DB.
	// Laravel's default app keeps its Redis cache in database 1 (REDIS_CACHE_DB), apart from
	// the queue's.
	CacheDB *int
	// Format is FormatLaravel (default) or FormatThink.
	Format string
	// RetryAfter is the lease of a popped job. 0 means leases never end (Laravel's retry_after
	// null): reservations are then never moved back.
	RetryAfter time.Duration
	// BlockFor caps how long one Wait blocks; 0 means the caller's duration alone decides.
	BlockFor time.Duration
	// Now is the clock; nil means time.Now. Every "now" the scripts see comes from it.
	Now func() time.Time
	// Log receives one line when a server stops answering and one when it answers again; nil
	// discards them. go-redis's own log lines (several per failed call) are always discarded.
	Log func(msg string)

	outage *outageLog // shared by the queue's clients, so an outage is reported once
}

// migrateLimit caps how many due jobs one pop moves from each sorted set, so a backlog of
// millions falling due at once never blocks Redis in one script; the next pops move the rest.
const migrateLimit = 1000

// Queue is a Redis-backed connectors.Queue. It is safe for concurrent use; its fields never change
// after Open except the key cache, which is a sync.Map.
type Queue struct {
	rdb         redis.UniversalClient
	cache       redis.UniversalClient // holds the restart key: rdb, or a client of Options.CacheDB
	addr        string                // for error messages
	think       bool
	cluster     bool
	prefix      string
	retryAfter  time.Duration
	blockFor    time.Duration
	now         func() time.Time
	restartKey  string
	cachePrefix string // Laravel's cache.prefix, for the locks of unique jobs
	flagPrefix  string // what the cache store puts in front of a flag's key

	keyCache sync.Map // queue name -> keysOrErr

	closeOnce sync.Once
	closeErr  error
}

type keysOrErr struct {
	k   keys
	err error
}

var (
	_ connectors.Queue         = (*Queue)(nil)
	_ connectors.BatchPopper   = (*Queue)(nil)
	_ connectors.OncePusher    = (*Queue)(nil)
	_ connectors.BatchDeleter  = (*Queue)(nil)
	_ connectors.BulkPusher    = (*Queue)(nil)
	_ connectors.Waiter        = (*Queue)(nil)
	_ connectors.LeaseExtender = (*Queue)(nil)
	_ connectors.Restarter     = (*Queue)(nil)
	_ connectors.LockReleaser  = (*Queue)(nil)
	_ connectors.Fleet         = (*Queue)(nil)
)

// Open connects to Redis and checks it answers. An unreachable server gives an error wrapping
// connectors.ErrUnavailable that names the address.
func Open(ctx context.Context, o Options) (*Queue, error) {
	switch o.Format {
	case "":
		o.Format = FormatLaravel
	case FormatLaravel, FormatThink:
	default:
		return nil, fmt.Errorf("redisqueue: unknown format %q (want %q or %q)", o.Format, FormatLaravel, FormatThink)
	}
	if o.RetryAfter < 0 || o.BlockFor < 0 {
		return nil, fmt.Errorf("redisqueue: retry_after and block_for must not be negative")
	}
	o.outage = newOutageLog(o.Log)
	rdb, cluster, err := connect(ctx, &o)
	if err != nil {
		return nil, err
	}
	q := &Queue{
		rdb: rdb, addr: strings.Join(o.addrs(), ","), think: o.Format == FormatThink, cluster: cluster,
		prefix: o.Prefix, retryAfter: o.RetryAfter, blockFor: o.BlockFor, now: o.Now,
		restartKey: restartKey(o.Format, o.Prefix, o.CachePrefix), cachePrefix: o.CachePrefix,
		flagPrefix: cacheKeyPrefix(o.Format, o.Prefix, o.CachePrefix),
	}
	if q.now == nil {
		q.now = time.Now
	}
	q.cache = rdb
	if o.CacheDB != nil && *o.CacheDB != o.DB {
		if cluster {
			rdb.Close()
			return nil, fmt.Errorf("redisqueue: Redis Cluster has only database 0, got cache_db %d", *o.CacheDB)
		}
		cacheOpts := o
		cacheOpts.DB = *o.CacheDB
		if q.cache, err = newClient(&cacheOpts, o.mode()); err != nil {
			rdb.Close()
			return nil, err
		}
	}
	if cluster { // a prefix that breaks every queue's hash tag is refused now, not at first use
		if _, err := q.keysFor("default"); err != nil {
			rdb.Close()
			return nil, err
		}
	}
	return q, nil
}

// keysFor returns the keys of queue name, built once. On a cluster it refuses names whose keys
// would span slots.
func (q *Queue) keysFor(name string) (*keys, error) {
	if v, ok := q.keyCache.Load(name); ok {
		ke := v.(*keysOrErr)
		return &ke.k, ke.err
	}
	ke := &keysOrErr{}
	if q.think {
		ke.k = thinkKeys(q.prefix, name)
	} else {
		ke.k = laravelKeys(q.prefix, name, q.cluster)
	}
	if q.cluster {
		ke.err = checkSlots(name, ke.k)
	}
	v, _ := q.keyCache.LoadOrStore(name, ke)
	ke = v.(*keysOrErr)
	return &ke.k, ke.err
}

// unixNow is the clock's current unix second; times on the wire are whole seconds.
func (q *Queue) unixNow() int64 { return q.now().Unix() }

// seconds rounds d up to whole seconds, so a delay or lease is never shorter than asked.
func seconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// Push stores payload on queue, adding "id" and "attempts":0 when the JSON object lacks them, and
// returns the id ("" for a payload that is not a JSON object, which is pushed as is).
func (q *Queue) Push(ctx context.Context, queue string, payload []byte, delay time.Duration) (string, error) {
	k, err := q.keysFor(queue)
	if err != nil {
		return "", err
	}
	body, id := withIDAndAttempts(payload)
	switch {
	case delay > 0:
		err = q.rdb.ZAdd(ctx, k.delayed, redis.Z{Score: float64(q.unixNow() + seconds(delay)), Member: body}).Err()
		return id, q.wrap("push (later) to", k.delayed, err)
	case q.think:
		err = q.rdb.RPush(ctx, k.queue, body).Err()
	default:
		err = pushScript.Run(ctx, q.rdb, []string{k.queue, k.notify}, body).Err()
	}
	return id, q.wrap("push to", k.queue, err)
}

// Pop reserves the next available job of queue, or returns nil, nil.
func (q *Queue) Pop(ctx context.Context, queue string) (*connectors.Reserved, error) {
	jobs, err := q.PopN(ctx, queue, 1)
	if err != nil || len(jobs) == 0 {
		return nil, err
	}
	return jobs[0], nil
}

// PopN reserves up to n available jobs of queue in one script call, oldest first. Reserved.Payload
// is the job as it was in the list (Laravel's raw body, which the failed store keeps);
// Reserved.Receipt is the reserved string; Attempts counts this reservation.
func (q *Queue) PopN(ctx context.Context, queue string, n int) ([]*connectors.Reserved, error) {
	if n <= 0 {
		return nil, nil
	}
	k, err := q.keysFor(queue)
	if err != nil {
		return nil, err
	}
	now := q.unixNow()
	migrateReserved := "0"
	if q.retryAfter > 0 {
		migrateReserved = "1"
	}
	res, err := popScript.Run(ctx, q.rdb, k.list(),
		now, now+seconds(q.retryAfter), n, migrateReserved, migrateLimit).Slice()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, q.wrap("pop from", k.queue, err)
	}
	jobs := make([]*connectors.Reserved, 0, len(res)/3)
	for i := 0; i+2 < len(res); i += 3 {
		original, ok1 := res[i].(string)
		reserved, ok2 := res[i+1].(string)
		attempts, ok3 := res[i+2].(int64)
		if !ok1 || !ok2 || !ok3 {
			return jobs, fmt.Errorf("redisqueue: pop from %s: unexpected script reply %T %T %T", k.queue, res[i], res[i+1], res[i+2])
		}
		if attempts < 1 {
			attempts = 1 // not a JSON object or no numeric attempts: the worker fails it as a bad job
		}
		payload := []byte(original)
		jobs = append(jobs, &connectors.Reserved{
			Queue: queue, ID: jobID(payload), Attempts: int(attempts), Payload: payload, Receipt: reserved,
		})
	}
	return jobs, nil
}

// Delete ends job's reservation for good (ZREM of its exact reserved string).
func (q *Queue) Delete(ctx context.Context, job *connectors.Reserved) error {
	k, err := q.keysFor(job.Queue)
	if err != nil {
		return err
	}
	n, err := q.rdb.ZRem(ctx, k.reserved, job.Receipt).Result()
	if err != nil {
		return q.wrap("delete from", k.reserved, err)
	}
	if n == 0 {
		return fmt.Errorf("redisqueue: delete job %s from %s: %w", job.ID, k.reserved, connectors.ErrLeaseLost)
	}
	return nil
}

// Release ends job's reservation and makes it due again after delay, with the attempts it has.
// It returns an error wrapping ErrLeaseLost (and changes nothing) when the reservation is gone.
func (q *Queue) Release(ctx context.Context, job *connectors.Reserved, delay time.Duration) error {
	k, err := q.keysFor(job.Queue)
	if err != nil {
		return err
	}
	n, err := releaseScript.Run(ctx, q.rdb, []string{k.reserved, k.delayed},
		job.Receipt, q.unixNow()+seconds(delay)).Int64()
	if err != nil {
		return q.wrap("release to", k.delayed, err)
	}
	if n == 0 {
		return fmt.Errorf("redisqueue: release job %s from %s: %w", job.ID, k.reserved, connectors.ErrLeaseLost)
	}
	return nil
}

// Size counts queue's ready, delayed and reserved jobs.
func (q *Queue) Size(ctx context.Context, queue string) (int64, error) {
	k, err := q.keysFor(queue)
	if err != nil {
		return 0, err
	}
	n, err := sizeScript.Run(ctx, q.rdb, k.list()[:3]).Int64()
	return n, q.wrap("size of", k.queue, err)
}

// Clear deletes queue's keys and returns how many jobs they held.
func (q *Queue) Clear(ctx context.Context, queue string) (int64, error) {
	k, err := q.keysFor(queue)
	if err != nil {
		return 0, err
	}
	n, err := clearScript.Run(ctx, q.rdb, k.list()).Int64()
	return n, q.wrap("clear", k.queue, err)
}

// Close closes the connection pool. It is safe to call twice.
func (q *Queue) Close() error {
	q.closeOnce.Do(func() {
		q.closeErr = q.rdb.Close()
		if q.cache != q.rdb {
			q.closeErr = errors.Join(q.closeErr, q.cache.Close())
		}
	})
	return q.closeErr
}

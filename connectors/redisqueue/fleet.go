package redisqueue

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// This file is the connectors.Fleet ability: the worker registry in the queue's Redis database,
// and flags (a queue's pause, a worker's terminate request) in the cache store beside the restart
// key, where Laravel's `queue:pause` writes its own.

// expireWorkersScript drops expired entries and returns the rest.
//
//	KEYS[1] entries HASH (worker id -> entry)
//	KEYS[2] expiries ZSET (worker id, score = unix millisecond the entry expires)
//	ARGV[1] now, unix milliseconds
//
// Returns HGETALL of the entries left: id, entry, id, entry, ...
var expireWorkersScript = redis.NewScript(`
local gone = redis.call('zrangebyscore', KEYS[2], '-inf', ARGV[1])
for i = 1, #gone, 100 do
  redis.call('hdel', KEYS[1], unpack(gone, i, math.min(i + 99, #gone)))
end
redis.call('zremrangebyscore', KEYS[2], '-inf', ARGV[1])
return redis.call('hgetall', KEYS[1])
`)

// PutWorker stores id's entry and its expiry in one MULTI, so a reader never sees one without the
// other.
func (q *Queue) PutWorker(ctx context.Context, id string, entry []byte, ttl time.Duration) error {
	k := workersKeys(q.prefix)
	_, err := q.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, k[0], id, entry)
		p.ZAdd(ctx, k[1], redis.Z{Score: float64(q.now().Add(ttl).UnixMilli()), Member: id})
		return nil
	})
	return q.wrap("register worker in", k[0], err)
}

// RemoveWorker deletes id's entry and expiry.
func (q *Queue) RemoveWorker(ctx context.Context, id string) error {
	k := workersKeys(q.prefix)
	_, err := q.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HDel(ctx, k[0], id)
		p.ZRem(ctx, k[1], id)
		return nil
	})
	return q.wrap("unregister worker from", k[0], err)
}

// Workers drops expired entries and returns the live ones.
func (q *Queue) Workers(ctx context.Context) (map[string][]byte, error) {
	k := workersKeys(q.prefix)
	flat, err := expireWorkersScript.Run(ctx, q.rdb, k, q.now().UnixMilli()).StringSlice()
	if err != nil {
		return nil, q.wrap("list workers in", k[0], err)
	}
	out := make(map[string][]byte, len(flat)/2)
	for i := 0; i+1 < len(flat); i += 2 {
		out[flat[i]] = []byte(flat[i+1])
	}
	return out, nil
}

// SetFlag stores value under the cache key, as Laravel's RedisStore put (SETEX) or forever (SET)
// does.
func (q *Queue) SetFlag(ctx context.Context, key, value string, ttl time.Duration) error {
	full := q.flagPrefix + key
	return q.wrap("store flag", full, q.cache.Set(ctx, full, value, ttl).Err())
}

// Flags reads the keys with one pipelined GET each: on a cluster they may sit in several slots,
// which one MGET could not span.
func (q *Queue) Flags(ctx context.Context, keys []string) ([]string, error) {
	out := make([]string, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	cmds := make([]*redis.StringCmd, len(keys))
	_, err := q.cache.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, key := range keys {
			cmds[i] = p.Get(ctx, q.flagPrefix+key)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, q.wrap("read flags", q.flagPrefix+keys[0], err)
	}
	for i, c := range cmds {
		out[i] = c.Val()
	}
	return out, nil
}

// DeleteFlag removes the cache key, as Laravel's forget does.
func (q *Queue) DeleteFlag(ctx context.Context, key string) error {
	full := q.flagPrefix + key
	return q.wrap("delete flag", full, q.cache.Del(ctx, full).Err())
}

package redisqueue

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"
)

// RestartSignal returns the value under the restart key (Laravel's cache key
// "illuminate:queue:restart", think-queue's "think:queue:restart"), or "" when none was stored.
func (q *Queue) RestartSignal(ctx context.Context) (string, error) {
	v, err := q.cache.Get(ctx, q.restartKey).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return v, q.wrap("read restart signal", q.restartKey, err)
}

// BroadcastRestart stores value under the restart key as a plain string without expiry, as
// Laravel's Cache::forever stores a numeric value, so `php artisan queue:restart` and
// `qctl restart` stop each other's workers.
func (q *Queue) BroadcastRestart(ctx context.Context, value string) error {
	return q.wrap("store restart signal", q.restartKey, q.cache.Set(ctx, q.restartKey, value, 0).Err())
}

// ForceReleaseLock deletes a lock of Laravel's RedisStore, as RedisLock::forceRelease does, on
// the cache's connection (cache_db) under the cache prefix.
func (q *Queue) ForceReleaseLock(ctx context.Context, name string) error {
	key := cacheKey(q.prefix, q.cachePrefix, name)
	return q.wrap("release lock", key, q.cache.Del(ctx, key).Err())
}

package redisqueue

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Waiting. An idle Laravel-format worker blocks in BLPOP on the queue's notify list, so a push
// wakes it within a round trip. The BLPOP takes the token it woke on; that loses no wakeup
// because the pop script trims the notify list to the ready list's length instead of LPOPping one
// token per job, so every ready job still has a token for another waiter, and only one waiter
// wakes per token (no thundering herd, which a token put back would cause). Tokens can still go
// missing (PHP workers' BLPOPs, a Redis restart without persistence), and delayed jobs fall due
// without any push, so the block is cut into slices of at most waitSlice with an availability
// check between them: a due or orphaned job waits at most about a second.
//
// think-queue has no notify list, so in think format Wait polls the availability check every
// thinkPoll instead: pickup takes up to thinkPoll, at one cheap script call per poll.
const (
	waitSlice = time.Second
	thinkPoll = 100 * time.Millisecond
)

// Wait blocks until a job may be available on queue, or until d passes (capped by BlockFor when
// that is set). It returns true when a push woke it or a job became due, false when the time
// passed. Callers pop after it either way; a true may be spurious (another worker won the job).
func (q *Queue) Wait(ctx context.Context, queue string, d time.Duration) (bool, error) {
	k, err := q.keysFor(queue)
	if err != nil {
		return false, err
	}
	if q.blockFor > 0 && q.blockFor < d {
		d = q.blockFor
	}
	deadline := time.Now().Add(d)
	if dl, ok := ctx.Deadline(); ok && dl.Add(-50*time.Millisecond).Before(deadline) {
		deadline = dl.Add(-50 * time.Millisecond) // end before the caller's deadline cuts a socket read
	}
	for {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		left := time.Until(deadline)
		if q.think {
			if ok, err := q.available(ctx, k); ok || err != nil {
				return ok, err
			}
			if left <= 0 {
				return false, nil
			}
			select {
			case <-ctx.Done():
				return false, ctx.Err()
			case <-time.After(min(left, thinkPoll)):
			}
			continue
		}
		if left <= 0 {
			return false, nil
		}
		woke, err := q.block(ctx, k.notify, min(left, waitSlice))
		if woke || err != nil {
			return woke, err
		}
		if ok, err := q.available(ctx, k); ok || err != nil {
			return ok, err
		}
	}
}

// block waits up to d for a notify token (BLPOP, with a fractional timeout: Redis 6.0+).
func (q *Queue) block(ctx context.Context, notify string, d time.Duration) (bool, error) {
	timeout := strconv.FormatFloat(max(d.Seconds(), 0.001), 'f', 3, 64)
	err := q.rdb.Do(ctx, "blpop", notify, timeout).Err()
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, redis.Nil):
		return false, nil
	case ctx.Err() != nil:
		return false, ctx.Err()
	}
	return false, q.wrap("wait on", notify, err)
}

// available reports whether a pop could find a job now (ready, due, or with an ended lease).
func (q *Queue) available(ctx context.Context, k *keys) (bool, error) {
	checkReserved := "0"
	if q.retryAfter > 0 {
		checkReserved = "1"
	}
	n, err := availableScript.Run(ctx, q.rdb, k.list()[:3], q.unixNow(), checkReserved).Int64()
	if err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		return false, q.wrap("check for jobs on", k.queue, err)
	}
	return n == 1, nil
}

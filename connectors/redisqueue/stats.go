package redisqueue

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/qctl/qctl/connectors"
)

var _ connectors.Inspector = (*Queue)(nil)

// QueueStats counts queue's jobs in one MULTI/EXEC, so the counts are one moment's. Jobs in the
// delayed set that are due, and (with retry_after) reservations whose lease ended, count as ready:
// the next pop moves them to the ready list. The oldest ready job became ready at the earliest of
// the ready list head's push time (its createdAt, or Horizon's pushedAt), the lowest due delayed
// score and the lowest ended lease.
func (q *Queue) QueueStats(ctx context.Context, queue string) (connectors.QueueStats, error) {
	k, err := q.keysFor(queue)
	if err != nil {
		return connectors.QueueStats{}, err
	}
	now := q.unixNow()
	nowScore := strconv.FormatInt(now, 10)
	var (
		ready                   *redis.IntCmd
		head                    *redis.StringCmd
		delayedAll, delayedDue  *redis.IntCmd
		firstDelayed            *redis.ZSliceCmd
		reservedAll, reservedUp *redis.IntCmd
		firstReserved           *redis.ZSliceCmd
	)
	_, err = q.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		ready = p.LLen(ctx, k.queue)
		head = p.LIndex(ctx, k.queue, 0)
		delayedAll = p.ZCard(ctx, k.delayed)
		delayedDue = p.ZCount(ctx, k.delayed, "-inf", nowScore)
		firstDelayed = p.ZRangeWithScores(ctx, k.delayed, 0, 0)
		reservedAll = p.ZCard(ctx, k.reserved)
		reservedUp = p.ZCount(ctx, k.reserved, "-inf", nowScore)
		firstReserved = p.ZRangeWithScores(ctx, k.reserved, 0, 0)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) { // LINDEX of an empty list answers nil
		return connectors.QueueStats{}, q.wrap("stats of", k.queue, err)
	}
	st := connectors.QueueStats{
		Ready:    ready.Val() + delayedDue.Val(),
		Delayed:  delayedAll.Val() - delayedDue.Val(),
		Reserved: reservedAll.Val(),
	}
	since := int64(math.MaxInt64)
	// A time qctl or Laravel could not have written (a hand-pushed payload's "createdAt": 1, a
	// score of 0) is ignored rather than shown as a job waiting for 56 years.
	seen := func(unix int64) {
		if unix >= plausibleSince && unix <= now+86400 {
			since = min(since, unix)
		}
	}
	if h, err := head.Result(); err == nil {
		if pushed, ok := pushTime(h); ok {
			seen(pushed)
		}
	}
	if delayedDue.Val() > 0 && len(firstDelayed.Val()) == 1 {
		seen(int64(firstDelayed.Val()[0].Score))
	}
	if q.retryAfter > 0 && reservedUp.Val() > 0 {
		st.Ready += reservedUp.Val()
		st.Reserved -= reservedUp.Val()
		if len(firstReserved.Val()) == 1 {
			seen(int64(firstReserved.Val()[0].Score))
		}
	}
	if st.Ready > 0 && since != math.MaxInt64 {
		st.OldestReady = time.Unix(since, 0)
	}
	return st, nil
}

// plausibleSince is 2000-01-01 UTC: no queued job's time is older.
const plausibleSince = 946684800

// pushTime reads when a payload was pushed: Laravel 12's "createdAt" (unix seconds) or Horizon's
// "pushedAt" (unix seconds with a fraction, as a string). ok is false when it has neither.
func pushTime(payload string) (unix int64, ok bool) {
	var p struct {
		CreatedAt json.Number `json:"createdAt"`
		PushedAt  json.Number `json:"pushedAt"`
	}
	if json.Unmarshal([]byte(payload), &p) != nil {
		return 0, false
	}
	for _, n := range []json.Number{p.CreatedAt, p.PushedAt} {
		if f, err := n.Float64(); err == nil && f > 0 {
			return int64(f), true
		}
	}
	return 0, false
}

// Queues lists the queues under this connection's prefix that hold jobs: every key named like a
// queue's ready list, delayed or reserved set (SCAN, on every master of a cluster), by queue name.
func (q *Queue) Queues(ctx context.Context) ([]string, error) {
	pattern := q.prefix + "queues:*"
	if q.think {
		pattern = q.prefix + "{queues:*"
	}
	var (
		mu    sync.Mutex
		found = map[string]bool{}
	)
	scan := func(ctx context.Context, c redis.Cmdable) error {
		iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			if name, ok := q.queueOfKey(iter.Val()); ok {
				mu.Lock()
				found[name] = true
				mu.Unlock()
			}
		}
		return iter.Err()
	}
	var err error
	if c, ok := q.rdb.(*redis.ClusterClient); ok {
		err = c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error { return scan(ctx, m) })
	} else {
		err = scan(ctx, q.rdb)
	}
	if err != nil {
		return nil, q.wrap("list queues", pattern, err)
	}
	names := make([]string, 0, len(found))
	for n := range found {
		names = append(names, n)
	}
	slices.Sort(names)
	return names, nil
}

// queueOfKey returns the queue name a key belongs to, undoing keys.go's layouts: Laravel's
// "queues:NAME" (hash-tagged "queues:{NAME}" on a cluster) and think-queue's "{queues:NAME}", each
// optionally followed by ":delayed", ":reserved" or ":notify", after the prefix.
func (q *Queue) queueOfKey(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, q.prefix)
	if !ok {
		return "", false
	}
	for _, suffix := range []string{":delayed", ":reserved", ":notify"} {
		if base, ok := strings.CutSuffix(rest, suffix); ok {
			rest = base
			break
		}
	}
	if q.think {
		name, ok := strings.CutPrefix(rest, "{queues:")
		if name, ok2 := strings.CutSuffix(name, "}"); ok && ok2 && name != "" {
			return name, true
		}
		return "", false
	}
	name, ok := strings.CutPrefix(rest, "queues:")
	if !ok || name == "" {
		return "", false
	}
	if len(name) > 2 && name[0] == '{' && name[len(name)-1] == '}' && q.cluster {
		name = name[1 : len(name)-1]
	}
	return name, true
}

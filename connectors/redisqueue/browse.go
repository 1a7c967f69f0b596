package redisqueue

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/qctl/qctl/connectors"
)

var _ connectors.Browser = (*Queue)(nil)

// Browse lists a page of queue's jobs in state: the ready list from its head (the pop order),
// the delayed set by due time, the reserved set by lease end. The cursor is the index of the
// page's first job; LRANGE and ZRANGE cost about the page itself near the head of a queue.
// Delayed jobs already due and lapsed reservations stay where they are until the next pop moves
// them, so they are listed as delayed or reserved here while QueueStats counts them ready.
func (q *Queue) Browse(ctx context.Context, queue string, state connectors.JobState, cursor string, n int) ([]connectors.BrowsedJob, string, error) {
	k, err := q.keysFor(queue)
	if err != nil {
		return nil, "", err
	}
	start := int64(0)
	if cursor != "" {
		if start, err = strconv.ParseInt(cursor, 10, 64); err != nil || start < 0 {
			return nil, "", fmt.Errorf("redisqueue: cursor %q is not an index", cursor)
		}
	}
	stop := start + int64(n) - 1
	var list []connectors.BrowsedJob
	switch state {
	case connectors.StateReady:
		members, err := q.rdb.LRange(ctx, k.queue, start, stop).Result()
		if err != nil {
			return nil, "", q.wrap("browse", k.queue, err)
		}
		for i, m := range members {
			j := browsed(m)
			j.Ref = strconv.FormatInt(start+int64(i), 10) + ":" + j.ID
			if at, ok := pushTime(m); ok {
				j.Available = time.Unix(at, 0)
			}
			list = append(list, j)
		}
	case connectors.StateDelayed, connectors.StateReserved:
		key := k.delayed
		if state == connectors.StateReserved {
			key = k.reserved
		}
		members, err := q.rdb.ZRangeWithScores(ctx, key, start, stop).Result()
		if err != nil {
			return nil, "", q.wrap("browse", key, err)
		}
		for _, z := range members {
			j := browsed(z.Member.(string))
			j.Ref = strconv.FormatInt(int64(z.Score), 10) + ":" + j.ID
			j.Available = time.Unix(int64(z.Score), 0)
			list = append(list, j)
		}
	default:
		return nil, "", fmt.Errorf("redisqueue: unknown job state %q", state)
	}
	next := ""
	if len(list) == n {
		next = strconv.FormatInt(stop+1, 10)
	}
	return list, next, nil
}

// browsed reads a listed member's id and attempts.
func browsed(member string) connectors.BrowsedJob {
	j := connectors.BrowsedJob{ID: payloadID([]byte(member)), Payload: []byte(member)}
	var p struct {
		Attempts json.Number `json:"attempts"`
	}
	if json.Unmarshal([]byte(member), &p) == nil {
		if n, err := p.Attempts.Int64(); err == nil {
			j.Attempts = int(n)
		}
	}
	return j
}

// deleteReadyScript removes the ready job whose id is ARGV[1], searching the list from its head
// to ARGV[2], the index it was listed at: pops only shorten the head and pushes add at the tail,
// so the job is at that index or before it. It reads at most 1,000 members at a time.
//
//	KEYS[1] queue list
//	ARGV[1] id, ARGV[2] the index Browse listed it at
//
// Returns 1 when removed, 0 when not found.
var deleteReadyScript = redis.NewScript(`
local last = tonumber(ARGV[2])
for from = 0, last, 1000 do
  local items = redis.call('lrange', KEYS[1], from, math.min(from + 999, last))
  for _, item in ipairs(items) do
    local ok, job = pcall(cjson.decode, item)
    if ok and type(job) == 'table' and job.id ~= nil and tostring(job.id) == ARGV[1] then
      redis.call('lrem', KEYS[1], 1, item)
      return 1
    end
  end
  if #items < 1000 then return 0 end
end
return 0
`)

// delayedScript deletes the delayed job whose id is ARGV[1] and due time ARGV[2], or, with
// ARGV[3] = "ready", moves it to the ready list as a pop moves a job that has fallen due.
//
//	KEYS[1] delayed zset
//	KEYS[2] queue list
//	KEYS[3] notify list (absent in think format)
//	ARGV[1] id, ARGV[2] score, ARGV[3] "ready" or "delete"
//
// Returns 1 when done, 0 when not found.
var delayedScript = redis.NewScript(`
local items = redis.call('zrangebyscore', KEYS[1], ARGV[2], ARGV[2])
for _, item in ipairs(items) do
  local ok, job = pcall(cjson.decode, item)
  if ok and type(job) == 'table' and job.id ~= nil and tostring(job.id) == ARGV[1] then
    redis.call('zrem', KEYS[1], item)
    if ARGV[3] == 'ready' then
      redis.call('rpush', KEYS[2], item)
      if KEYS[3] then redis.call('rpush', KEYS[3], 1) end
    end
    return 1
  end
end
return 0
`)

// DeleteJob deletes a ready or delayed job that Browse listed.
func (q *Queue) DeleteJob(ctx context.Context, queue string, state connectors.JobState, ref string) error {
	switch state {
	case connectors.StateReady:
		return q.changeOne(ctx, queue, ref, func(k *keys, pos, id string) *redis.Cmd {
			return deleteReadyScript.Run(ctx, q.rdb, []string{k.queue}, id, pos)
		})
	case connectors.StateDelayed:
		return q.changeDelayed(ctx, queue, ref, "delete")
	}
	return fmt.Errorf("redisqueue: a %s job cannot be deleted here: %w", state, connectors.ErrJobNotFound)
}

// ReadyNow moves a delayed job that Browse listed to the ready list's tail.
func (q *Queue) ReadyNow(ctx context.Context, queue, ref string) error {
	return q.changeDelayed(ctx, queue, ref, "ready")
}

func (q *Queue) changeDelayed(ctx context.Context, queue, ref, op string) error {
	return q.changeOne(ctx, queue, ref, func(k *keys, score, id string) *redis.Cmd {
		ks := []string{k.delayed, k.queue}
		if k.notify != "" {
			ks = append(ks, k.notify)
		}
		return delayedScript.Run(ctx, q.rdb, ks, id, score, op)
	})
}

// changeOne runs a script on the job ref names ("position:id") and reports ErrJobNotFound when
// it found none.
func (q *Queue) changeOne(ctx context.Context, queue, ref string, run func(k *keys, pos, id string) *redis.Cmd) error {
	k, err := q.keysFor(queue)
	if err != nil {
		return err
	}
	pos, id, ok := strings.Cut(ref, ":")
	if _, err := strconv.ParseInt(pos, 10, 64); !ok || err != nil || id == "" {
		return fmt.Errorf("redisqueue: job ref %q: %w", ref, connectors.ErrJobNotFound)
	}
	n, err := run(k, pos, id).Int()
	if err != nil {
		return q.wrap("change job of", k.queue, err)
	}
	if n == 0 {
		return fmt.Errorf("redisqueue: job %s: %w", id, connectors.ErrJobNotFound)
	}
	return nil
}

package redisqueue

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/qctl/qctl/connectors"
)

// bulkChunk is how many payloads one script call or ZADD of PushBulk carries.
const bulkChunk = 1000

// PushBulk pushes payloads onto queue in order, ready now or after delay, with one round trip per
// bulkChunk payloads, and returns their ids. Each chunk is atomic; on an error the chunks before
// it stay pushed.
func (q *Queue) PushBulk(ctx context.Context, queue string, payloads [][]byte, delay time.Duration) ([]string, error) {
	k, err := q.keysFor(queue)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(payloads))
	due := float64(q.unixNow() + seconds(delay))
	for start := 0; start < len(payloads); start += bulkChunk {
		chunk := payloads[start:min(start+bulkChunk, len(payloads))]
		args := make([]any, len(chunk))
		members := make([]redis.Z, 0, len(chunk))
		for i, p := range chunk {
			body, id := withIDAndAttempts(p)
			ids = append(ids, id)
			args[i] = body
			members = append(members, redis.Z{Score: due, Member: body})
		}
		switch {
		case delay > 0:
			err = q.rdb.ZAdd(ctx, k.delayed, members...).Err()
		case q.think:
			err = q.rdb.RPush(ctx, k.queue, args...).Err()
		default:
			err = pushScript.Run(ctx, q.rdb, []string{k.queue, k.notify}, args...).Err()
		}
		if err != nil {
			return ids[:start], q.wrap("bulk push to", k.queue, err)
		}
	}
	return ids, nil
}

// DeleteN deletes every job in jobs with one ZREM per queue, all in one pipelined round trip. A job
// whose reservation is already gone is skipped.
func (q *Queue) DeleteN(ctx context.Context, jobs []*connectors.Reserved) error {
	byKey := map[string][]any{}
	var order []string
	for _, job := range jobs {
		k, err := q.keysFor(job.Queue)
		if err != nil {
			return err
		}
		if _, seen := byKey[k.reserved]; !seen {
			order = append(order, k.reserved)
		}
		byKey[k.reserved] = append(byKey[k.reserved], job.Receipt)
	}
	switch len(order) {
	case 0:
		return nil
	case 1:
		return q.wrap("delete from", order[0], q.rdb.ZRem(ctx, order[0], byKey[order[0]]...).Err())
	}
	_, err := q.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, key := range order {
			p.ZRem(ctx, key, byKey[key]...)
		}
		return nil
	})
	return q.wrap("delete from", order[0], err)
}

// onceKeep is how long PushOnce remembers a token: far longer than any retry takes to repeat.
const onceKeep = 7 * 24 * time.Hour

// PushOnce pushes each payload whose token it has not pushed within the last week, in chunks of
// one script call each, and returns their ids ("" for a payload skipped as already pushed).
func (q *Queue) PushOnce(ctx context.Context, queue string, payloads [][]byte, tokens []string) ([]string, error) {
	k, err := q.keysFor(queue)
	if err != nil {
		return nil, err
	}
	keys := []string{k.queue, k.retried}
	if k.notify != "" {
		keys = append(keys, k.notify)
	}
	ids := make([]string, 0, len(payloads))
	for start := 0; start < len(payloads); start += bulkChunk {
		end := min(start+bulkChunk, len(payloads))
		args := []any{q.unixNow(), int64(onceKeep / time.Second)}
		chunkIDs := make([]string, 0, end-start)
		for i := start; i < end; i++ {
			body, id := withIDAndAttempts(payloads[i])
			args = append(args, tokens[i], body)
			chunkIDs = append(chunkIDs, id)
		}
		flags, err := pushOnceScript.Run(ctx, q.rdb, keys, args...).Int64Slice()
		if err != nil {
			return ids, q.wrap("push once to", k.queue, err)
		}
		for i, pushed := range flags {
			if pushed == 0 {
				chunkIDs[i] = ""
			}
		}
		ids = append(ids, chunkIDs...)
	}
	return ids, nil
}

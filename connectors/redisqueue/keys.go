package redisqueue

import (
	"errors"
	"fmt"
	"strings"
)

// ErrCrossSlot means a queue's keys would hash to different Redis Cluster slots, so the scripts
// that touch them together would fail with CROSSSLOT. The fix is a different prefix or queue name.
var ErrCrossSlot = errors.New("queue keys would span Redis Cluster hash slots (CROSSSLOT)")

// Formats name the two key and payload layouts the connector speaks.
const (
	FormatLaravel = "laravel" // Laravel's RedisQueue: {prefix}queues:N, :delayed, :reserved, :notify
	FormatThink   = "think"   // think-queue 3.0.5+: {queues:N}, :delayed, :reserved, no notify list
)

// keys are the Redis keys of one queue. Every script receives them in this order, so the KEYS[n]
// comments in scripts.go hold for every format.
type keys struct {
	queue    string // LIST of ready jobs (RPUSH / LPOP)
	delayed  string // ZSET, score = unix second the job is due
	reserved string // ZSET, score = unix second the lease ends, member = reserved string
	notify   string // LIST with one "1" per ready job, for blocking waits; "" in think format
	retried  string // ZSET of PushOnce tokens, score = unix second pushed: qctl's own key, outside
	// queues:* so Laravel sees nothing new, in the queue's cluster slot
}

// list returns the keys in script order: queue, delayed, reserved and, when the format has one,
// notify.
func (k *keys) list() []string {
	if k.notify == "" {
		return []string{k.queue, k.delayed, k.reserved}
	}
	return []string{k.queue, k.delayed, k.reserved, k.notify}
}

// laravelKeys builds Laravel's keys for queue name. prefix is Laravel's client prefix (for example
// "laravel_database_"). On a cluster the queue name is hash-tagged ("queues:{default}") unless
// the keys already share a tag, which is exactly what a Laravel app on a cluster names its queues.
func laravelKeys(prefix, name string, cluster bool) keys {
	build := func(n string) keys {
		base := prefix + "queues:" + n
		return keys{queue: base, delayed: base + ":delayed", reserved: base + ":reserved", notify: base + ":notify", retried: prefix + "qctl:retried:" + n}
	}
	k := build(name)
	if cluster && !sameSlot(k.list()) {
		k = build("{" + name + "}")
	}
	return k
}

// thinkKeys builds think-queue 3.0.5+'s keys for queue name. think-queue has no prefix option;
// prefix is a qctl extension (for isolating tests) and must stay "" to share queues with PHP.
func thinkKeys(prefix, name string) keys {
	base := prefix + "{queues:" + name + "}"
	return keys{queue: base, delayed: base + ":delayed", reserved: base + ":reserved", retried: prefix + "qctl:retried:{queues:" + name + "}"}
}

// restartKey is the cache key `queue:restart` writes. Laravel's RedisStore puts its cache prefix
// and a colon in front of "illuminate:queue:restart" (and the client prefix in front of that);
// ThinkPHP's cache prepends its prefix as is to "think:queue:restart".
func restartKey(format, prefix, cachePrefix string) string {
	if format == FormatThink {
		return cacheKeyPrefix(format, prefix, cachePrefix) + "think:queue:restart"
	}
	return cacheKey(prefix, cachePrefix, "illuminate:queue:restart")
}

// cacheKey is where Laravel's RedisStore keeps the cache item or lock called name.
func cacheKey(prefix, cachePrefix, name string) string {
	return cacheKeyPrefix(FormatLaravel, prefix, cachePrefix) + name
}

// cacheKeyPrefix is what the cache store puts in front of a cache key: the client prefix, then
// Laravel's cache prefix and a colon (RedisStore), or ThinkPHP's cache prefix as is.
func cacheKeyPrefix(format, prefix, cachePrefix string) string {
	if format != FormatThink && cachePrefix != "" {
		cachePrefix += ":"
	}
	return prefix + cachePrefix
}

// workersKeys are the worker registry's keys: a HASH of entries by worker id and a ZSET of the
// same ids scored by the unix millisecond each entry expires. They sit beside the queues' keys,
// under the client prefix, and share the hash tag {workers} so one script touches both on a
// cluster.
func workersKeys(prefix string) []string {
	return []string{prefix + "qctl:{workers}", prefix + "qctl:{workers}:expires"}
}

// checkSlots returns an error wrapping ErrCrossSlot when the keys of queue name do not all hash to
// one cluster slot.
func checkSlots(name string, k keys) error {
	if sameSlot(k.list()) {
		return nil
	}
	return fmt.Errorf("redisqueue: queue %q: keys %s: %w; use a prefix without '{}' and a non-empty queue name",
		name, strings.Join(k.list(), ", "), ErrCrossSlot)
}

// sameSlot reports whether every key hashes by the same string, which puts them in one slot.
// (Different strings could still collide in CRC16; refusing those too is deliberate.)
func sameSlot(ks []string) bool {
	for _, k := range ks[1:] {
		if slotString(k) != slotString(ks[0]) {
			return false
		}
	}
	return true
}

// slotString is the part of key Redis Cluster hashes: the text between the first '{' and the
// first '}' after it when that is non-empty, else the whole key.
func slotString(key string) string {
	open := strings.IndexByte(key, '{')
	if open < 0 {
		return key
	}
	end := strings.IndexByte(key[open+1:], '}')
	if end <= 0 {
		return key
	}
	return key[open+1 : open+1+end]
}

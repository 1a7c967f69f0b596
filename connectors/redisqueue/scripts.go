package redisqueue

import "github.com/redis/go-redis/v9"

// The Lua scripts below are each one atomic step of wire-formats.md's Redis layout. They take
// every "now" from ARGV (the caller's clock, as Laravel does), so tests control time. KEYS are
// always a queue's keys in keys.list() order; in think format there is no notify key, and the
// scripts test KEYS[4] (or KEYS[2] for push) before touching it.

// pushScript appends payloads to the ready list and one notify token per payload.
//
//	KEYS[1] queue list
//	KEYS[2] notify list (absent in think format)
//	ARGV[1..n] payloads, in order
//
// Returns n.
var pushScript = redis.NewScript(`
local ones = {}
for i = 1, #ARGV, 100 do
  local last = math.min(i + 99, #ARGV)
  redis.call('rpush', KEYS[1], unpack(ARGV, i, last))
  if KEYS[2] then
    for j = #ones + 1, last - i + 1 do ones[j] = '1' end
    redis.call('rpush', KEYS[2], unpack(ones, 1, last - i + 1))
  end
end
return #ARGV
`)

// pushOnceScript pushes each payload whose token is not yet in the retried set, adding the
// token, so pushing the same tokens again (a retry repeated after a crash) queues nothing twice.
// Tokens older than ARGV[2] seconds are forgotten first.
//
//	KEYS[1] queue list
//	KEYS[2] retried zset
//	KEYS[3] notify list (absent in think format)
//	ARGV[1] now (unix seconds), ARGV[2] how long tokens are kept (seconds)
//	ARGV[3], ARGV[4], ... token, payload pairs, in order
//
// Returns one integer per pair: 1 when pushed, 0 when its token was already there.
var pushOnceScript = redis.NewScript(`
local now = tonumber(ARGV[1])
redis.call('zremrangebyscore', KEYS[2], '-inf', now - tonumber(ARGV[2]))
local out = {}
for i = 3, #ARGV, 2 do
  if redis.call('zadd', KEYS[2], 'NX', now, ARGV[i]) == 1 then
    redis.call('rpush', KEYS[1], ARGV[i + 1])
    if KEYS[3] then redis.call('rpush', KEYS[3], '1') end
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
`)

// popScript makes due jobs ready and reserves up to ARGV[3] of them. It folds Laravel's two
// migrate scripts into the pop, so a job costs one round trip to reserve.
//
// Migration: up to ARGV[5] delayed jobs whose score <= now (and, when ARGV[4] is "1", reserved jobs
// whose lease ended) move, oldest first, to the end of the ready list with one notify token each.
//
// Reservation, per job: LPOP; the reserved string is the payload with its top-level "attempts"
// incremented. The fast path edits the digits in place when "attempts" is the last key (as every
// Laravel and qctl producer writes it), so keys, escapes and big numbers stay byte for byte; else
// the payload is decoded and re-encoded with cjson, exactly as Laravel does; an object without
// "attempts" gets `"attempts":1` appended; a payload that is not a JSON object or whose attempts
// is not a number is reserved as is (attempts reported 0) so the worker can fail it: nothing is
// dropped and the script never errors on a payload. ZADD reserved (lease end) reserved string.
//
// Notify: after popping, the notify list is trimmed to the ready list's length (deleted when the
// list is empty), which removes the tokens of popped jobs and any stale ones.
//
//	KEYS[1] queue list
//	KEYS[2] delayed zset
//	KEYS[3] reserved zset
//	KEYS[4] notify list (absent in think format)
//	ARGV[1] now, unix seconds
//	ARGV[2] lease end (now + retry_after), unix seconds
//	ARGV[3] the most jobs to reserve
//	ARGV[4] "1" to migrate reserved jobs whose lease ended, "0" not to (retry_after unset)
//	ARGV[5] the most jobs to migrate from each zset in this call
//
// Returns a flat array with three entries per reserved job: original payload, reserved string,
// attempts including this one (0 when the payload has no numeric attempts).
var popScript = redis.NewScript(`
local now, leaseEnd, want, limit = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[5])
local ones = {}

local function migrate(from)
  local due = redis.call('zrangebyscore', from, '-inf', now, 'LIMIT', 0, limit)
  if #due == 0 then return end
  redis.call('zremrangebyrank', from, 0, #due - 1)
  for i = 1, #due, 100 do
    local last = math.min(i + 99, #due)
    redis.call('rpush', KEYS[1], unpack(due, i, last))
    if KEYS[4] then
      for j = #ones + 1, last - i + 1 do ones[j] = '1' end
      redis.call('rpush', KEYS[4], unpack(ones, 1, last - i + 1))
    end
  end
end

local function reserve(job)
  local _, _, from, n, to = string.find(job, '[,{]%s*"attempts"%s*:%s*()(%d+)()%s*}%s*$', #job - 63)
  if n then
    local attempts = tonumber(n) + 1
    return string.sub(job, 1, from - 1) .. string.format('%d', attempts) .. string.sub(job, to), attempts
  end
  if not string.find(job, '^%s*{') then return job, 0 end
  local ok, decoded = pcall(cjson.decode, job)
  if not ok or type(decoded) ~= 'table' then return job, 0 end
  if decoded.attempts == nil then
    local body, close = string.match(job, '^(.-)(%s*}%s*)$')
    if not body then return job, 0 end
    local sep = ','
    if string.find(body, '^%s*{%s*$') then sep = '' end
    return body .. sep .. '"attempts":1' .. close, 1
  end
  if type(decoded.attempts) ~= 'number' then return job, 0 end
  decoded.attempts = decoded.attempts + 1
  return cjson.encode(decoded), decoded.attempts
end

migrate(KEYS[2])
if ARGV[4] == '1' then migrate(KEYS[3]) end

local out = {}
for _ = 1, want do
  local job = redis.call('lpop', KEYS[1])
  if not job then break end
  local reserved, attempts = reserve(job)
  redis.call('zadd', KEYS[3], leaseEnd, reserved)
  out[#out + 1] = job
  out[#out + 1] = reserved
  out[#out + 1] = attempts
end

if KEYS[4] then
  local ready = redis.call('llen', KEYS[1])
  if ready == 0 then
    redis.call('del', KEYS[4])
  else
    redis.call('ltrim', KEYS[4], 0, ready - 1)
  end
end
return out
`)

// releaseScript ends a reservation and schedules the job again, keeping its reserved string (and
// so its attempts) as Laravel does. A reservation that is gone (its lease ended and another
// worker took the job) is left alone, so the job is never duplicated.
//
//	KEYS[1] reserved zset
//	KEYS[2] delayed zset
//	ARGV[1] reserved string, byte for byte as the pop returned it
//	ARGV[2] due time (now + delay), unix seconds
//
// Returns 1 when released, 0 when the reservation was gone.
var releaseScript = redis.NewScript(`
if redis.call('zrem', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('zadd', KEYS[2], ARGV[2], ARGV[1])
return 1
`)

// extendScript moves a live reservation's lease end. (ZADD XX reports 0 changes when the score
// does not move, so the reservation's existence is checked with ZSCORE instead.)
//
//	KEYS[1] reserved zset
//	ARGV[1] reserved string
//	ARGV[2] new lease end, unix seconds
//
// Returns 1 when extended, 0 when the reservation was gone.
var extendScript = redis.NewScript(`
if not redis.call('zscore', KEYS[1], ARGV[1]) then return 0 end
redis.call('zadd', KEYS[1], ARGV[2], ARGV[1])
return 1
`)

// sizeScript counts a queue's jobs in every state.
//
//	KEYS[1] queue list
//	KEYS[2] delayed zset
//	KEYS[3] reserved zset
//
// Returns LLEN + ZCARD delayed + ZCARD reserved.
var sizeScript = redis.NewScript(`
return redis.call('llen', KEYS[1]) + redis.call('zcard', KEYS[2]) + redis.call('zcard', KEYS[3])
`)

// clearScript deletes a queue's keys.
//
//	KEYS[1] queue list
//	KEYS[2] delayed zset
//	KEYS[3] reserved zset
//	KEYS[4] notify list (absent in think format)
//
// Returns the number of jobs deleted (LLEN + ZCARD delayed + ZCARD reserved before the delete).
var clearScript = redis.NewScript(`
local n = redis.call('llen', KEYS[1]) + redis.call('zcard', KEYS[2]) + redis.call('zcard', KEYS[3])
redis.call('del', unpack(KEYS))
return n
`)

// availableScript tells a waiting worker whether a pop could find a job now: a ready job, a due
// delayed job, or (when ARGV[2] is "1") a reservation whose lease ended.
//
//	KEYS[1] queue list
//	KEYS[2] delayed zset
//	KEYS[3] reserved zset
//	ARGV[1] now, unix seconds
//	ARGV[2] "1" to count reservations whose lease ended
//
// Returns 1 or 0.
var availableScript = redis.NewScript(`
if redis.call('llen', KEYS[1]) > 0 then return 1 end
if redis.call('zcount', KEYS[2], '-inf', ARGV[1]) > 0 then return 1 end
if ARGV[2] == '1' and redis.call('zcount', KEYS[3], '-inf', ARGV[1]) > 0 then return 1 end
return 0
`)

-- An index on (queue, reserved_at, available_at) for reading a queue by state: counting its
-- delayed and reserved jobs, listing them a page at a time, and finding its oldest ready job
-- each read a range of this index instead of every row of the queue. Entries end with the rowid,
-- so a state's range is also in due-time, then id, order. Laravel's pop (queue = ? AND … ORDER
-- BY id) keeps using the queue index; an added index is invisible to Laravel's code.
CREATE INDEX IF NOT EXISTS "{{table}}_queue_state_index" ON "{{table}}" ("queue", "reserved_at", "available_at");

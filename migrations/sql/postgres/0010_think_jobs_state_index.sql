-- think-queue's jobs table (0005_think_jobs), as 0010_jobs_state_index does for Laravel's.
-- An index on (queue, reserve_time, available_time) for reading a queue by state: counting its
-- delayed and reserved jobs, listing them a page at a time, and finding its oldest ready job
-- each read a range of this index instead of every row of the queue. The id is its last column,
-- so a state's range is also in due-time, then id, order. think-queue's pop (queue = ? AND … ORDER
-- BY id) keeps using the queue index; an added index is invisible to think-queue's code.
CREATE INDEX IF NOT EXISTS "{{table}}_queue_state_index" ON "{{table}}" ("queue", "reserve_time", "available_time", "id");

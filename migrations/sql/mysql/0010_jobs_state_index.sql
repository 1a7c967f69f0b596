-- An index on (queue, reserved_at, available_at) for reading a queue by state: counting its
-- delayed and reserved jobs, listing them a page at a time, and finding its oldest ready job
-- each read a range of this index instead of every row of the queue. InnoDB entries end with the
-- primary key, so a state's range is also in due-time, then id, order. Laravel's pop (queue = ?
-- AND … ORDER BY id) keeps using the queue index; an added index is invisible to Laravel's code.
-- MySQL has no CREATE INDEX IF NOT EXISTS: Apply treats "duplicate key name" (1061) as done.
CREATE INDEX `{{table}}_queue_state_index` ON `{{table}}` (`queue`, `reserved_at`, `available_at`);

-- think-queue 3's jobs table (its `queue:table` migration): Laravel's shape with the time columns
-- named reserve_time, available_time and create_time. Used by format = "think" connections.
-- AUTOINCREMENT keeps ids from being reused after a delete, as workers delete and release by id.
CREATE TABLE IF NOT EXISTS "{{table}}" (
    "id" integer PRIMARY KEY AUTOINCREMENT NOT NULL,
    "queue" varchar NOT NULL,
    "payload" text NOT NULL,
    "attempts" integer NOT NULL,
    "reserve_time" integer,
    "available_time" integer NOT NULL,
    "create_time" integer NOT NULL
);
-- Entries of an index on queue are ordered by (queue, rowid), which is the pop order.
CREATE INDEX IF NOT EXISTS "{{table}}_queue_index" ON "{{table}}" ("queue");

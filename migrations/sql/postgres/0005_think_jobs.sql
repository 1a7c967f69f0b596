-- think-queue 3's jobs table (its `queue:table` migration): Laravel's shape with the time columns
-- named reserve_time, available_time and create_time. Used by format = "think" connections.
-- As in 0001_jobs, the times are bigint (readers see the same values) and the queue index also
-- covers id, the pop order.
CREATE TABLE IF NOT EXISTS "{{table}}" (
    "id" bigserial PRIMARY KEY,
    "queue" varchar(255) NOT NULL,
    "payload" text NOT NULL,
    "attempts" smallint NOT NULL,
    "reserve_time" bigint NULL,
    "available_time" bigint NOT NULL,
    "create_time" bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS "{{table}}_queue_index" ON "{{table}}" ("queue", "id");

-- think-queue 3's failed table (its `queue:failed-table` stub): integer ids users see and type,
-- fail_time instead of failed_at, no uuid. Used when [failed] uuids = false.
CREATE TABLE IF NOT EXISTS "{{table}}" (
    "id" serial PRIMARY KEY,
    "connection" text NOT NULL,
    "queue" text NOT NULL,
    "payload" text NOT NULL,
    "exception" text NOT NULL,
    "fail_time" timestamp(0) without time zone NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX IF NOT EXISTS "{{table}}_fail_time_index" ON "{{table}}" ("fail_time");

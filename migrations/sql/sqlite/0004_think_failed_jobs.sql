-- think-queue 3's failed table (its `queue:failed-table` stub): integer ids users see and type,
-- fail_time instead of failed_at, no uuid. Used when [failed] uuids = false.
CREATE TABLE IF NOT EXISTS "{{table}}" (
    "id" integer PRIMARY KEY AUTOINCREMENT NOT NULL,
    "connection" text NOT NULL,
    "queue" text NOT NULL,
    "payload" text NOT NULL,
    "exception" text NOT NULL,
    "fail_time" datetime NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX IF NOT EXISTS "{{table}}_fail_time_index" ON "{{table}}" ("fail_time");

-- Laravel's jobs table. The time columns are bigint rather than Laravel's integer (no year-2038
-- overflow; readers see the same values). The queue index also covers id: PostgreSQL's index
-- entries for one queue are not in id order, so an index on queue alone makes every pop sort all
-- of that queue's rows.
CREATE TABLE IF NOT EXISTS "{{table}}" (
    "id" bigserial PRIMARY KEY,
    "queue" varchar(255) NOT NULL,
    "payload" text NOT NULL,
    "attempts" smallint NOT NULL,
    "reserved_at" bigint NULL,
    "available_at" bigint NOT NULL,
    "created_at" bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS "{{table}}_queue_index" ON "{{table}}" ("queue", "id");

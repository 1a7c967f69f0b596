-- Laravel's jobs table as its SQLite schema grammar creates it. AUTOINCREMENT keeps ids from
-- being reused after a delete, as a worker deletes and releases by id.
CREATE TABLE IF NOT EXISTS "{{table}}" (
    "id" integer PRIMARY KEY AUTOINCREMENT NOT NULL,
    "queue" varchar NOT NULL,
    "payload" text NOT NULL,
    "attempts" integer NOT NULL,
    "reserved_at" integer,
    "available_at" integer NOT NULL,
    "created_at" integer NOT NULL
);
-- Entries of an index on queue are ordered by (queue, rowid), which is the pop order.
CREATE INDEX IF NOT EXISTS "{{table}}_queue_index" ON "{{table}}" ("queue");

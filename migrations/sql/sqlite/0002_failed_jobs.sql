-- Laravel's failed_jobs table; failed_at is indexed for listing the newest first.
CREATE TABLE IF NOT EXISTS "{{table}}" (
    "id" integer PRIMARY KEY AUTOINCREMENT NOT NULL,
    "uuid" varchar NOT NULL,
    "connection" text NOT NULL,
    "queue" text NOT NULL,
    "payload" text NOT NULL,
    "exception" text NOT NULL,
    "failed_at" datetime NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE UNIQUE INDEX IF NOT EXISTS "{{table}}_uuid_unique" ON "{{table}}" ("uuid");
CREATE INDEX IF NOT EXISTS "{{table}}_failed_at_index" ON "{{table}}" ("failed_at");

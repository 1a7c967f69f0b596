-- Laravel's failed_jobs table; failed_at is indexed for listing the newest first.
CREATE TABLE IF NOT EXISTS "{{table}}" (
    "id" bigserial PRIMARY KEY,
    "uuid" varchar(255) NOT NULL,
    "connection" text NOT NULL,
    "queue" text NOT NULL,
    "payload" text NOT NULL,
    "exception" text NOT NULL,
    "failed_at" timestamp(0) without time zone NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "{{table}}_uuid_unique" UNIQUE ("uuid")
);
CREATE INDEX IF NOT EXISTS "{{table}}_failed_at_index" ON "{{table}}" ("failed_at");

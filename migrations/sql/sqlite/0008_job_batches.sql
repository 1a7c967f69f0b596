-- Laravel's job_batches table (`php artisan queue:batches-table`): one row per Bus::batch.
CREATE TABLE IF NOT EXISTS "{{table}}" (
    "id" varchar NOT NULL PRIMARY KEY,
    "name" varchar NOT NULL,
    "total_jobs" integer NOT NULL,
    "pending_jobs" integer NOT NULL,
    "failed_jobs" integer NOT NULL,
    "failed_job_ids" text NOT NULL,
    "options" text NULL,
    "cancelled_at" integer NULL,
    "created_at" integer NOT NULL,
    "finished_at" integer NULL
);

-- qctl's fleet state: live workers' entries (key "qctl:worker:{id}") and flags such as a queue's
-- pause, shaped like Laravel's cache table (expiration: the unix second the row stops counting).
CREATE TABLE IF NOT EXISTS "{{table}}" (
    "key" varchar(255) PRIMARY KEY,
    "value" text NOT NULL,
    "expiration" bigint NOT NULL
);

-- qctl's broadcast signals (name "restart" holds the unix time of the last `qctl restart`).
CREATE TABLE IF NOT EXISTS "{{table}}" (
    "name" varchar(64) PRIMARY KEY NOT NULL,
    "value" varchar(255) NOT NULL,
    "updated_at" integer NOT NULL
);

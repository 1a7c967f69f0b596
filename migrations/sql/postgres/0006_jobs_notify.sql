-- Optional (notify_trigger = true): a trigger that NOTIFYs every row inserted into the jobs table,
-- so a job pushed by PHP wakes qctl's waiting workers at once instead of at their next poll. The
-- payload is "<available_at> <queue>", the one qctl's own pushes send: PostgreSQL delivers
-- identical notifications of one transaction once, so a qctl push still wakes workers once. A
-- delayed row tells workers when it comes due. The function body is kept on one line, since the
-- file is split into statements at semicolons that end a line.
CREATE OR REPLACE FUNCTION "{{table}}_qctl_notify"() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_notify('{{channel}}', NEW."available_at" || ' ' || NEW."queue"); RETURN NULL; END $$;
DROP TRIGGER IF EXISTS "{{table}}_qctl_notify" ON "{{table}}";
CREATE TRIGGER "{{table}}_qctl_notify" AFTER INSERT ON "{{table}}" FOR EACH ROW EXECUTE FUNCTION "{{table}}_qctl_notify"();

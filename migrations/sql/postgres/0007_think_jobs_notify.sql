-- think-queue 3's jobs table (format = "think") with notify_trigger = true: the trigger of
-- 0006_jobs_notify, reading the row's available_time.
CREATE OR REPLACE FUNCTION "{{table}}_qctl_notify"() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_notify('{{channel}}', NEW."available_time" || ' ' || NEW."queue"); RETURN NULL; END $$;
DROP TRIGGER IF EXISTS "{{table}}_qctl_notify" ON "{{table}}";
CREATE TRIGGER "{{table}}_qctl_notify" AFTER INSERT ON "{{table}}" FOR EACH ROW EXECUTE FUNCTION "{{table}}_qctl_notify"();

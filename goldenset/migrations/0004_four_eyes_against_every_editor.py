"""Four eyes against every editor, in the database: an approval is refused to anyone who wrote or
edited the item's text since its last approval (read from the item's own event history).

The service (goldenset.services.items._approve_one) checks the same rule first and answers with a clear
message; this trigger holds when something bypasses the service (QuerySet.update(), raw SQL, the shell).
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION goldenset_four_eyes_every_editor() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'approved' AND NEW.approver_id IS NOT NULL
       AND (OLD.status IS DISTINCT FROM 'approved' OR OLD.approver_id IS DISTINCT FROM NEW.approver_id) THEN
        IF EXISTS (
            SELECT 1 FROM goldenset_goldenitemevent e
             WHERE e.item_id = NEW.id AND e.user_id = NEW.approver_id AND e.action IN ('created', 'updated')
               AND e.id > COALESCE((SELECT max(a.id) FROM goldenset_goldenitemevent a
                                     WHERE a.item_id = NEW.id AND a.action = 'approved'), 0)
        ) THEN
            RAISE EXCEPTION 'four eyes: user % wrote or edited golden item % since its last approval',
                NEW.approver_id, NEW.id USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER goldenset_four_eyes_every_editor
    BEFORE UPDATE OF status, approver_id ON goldenset_goldenitem
    FOR EACH ROW EXECUTE FUNCTION goldenset_four_eyes_every_editor();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS goldenset_four_eyes_every_editor ON goldenset_goldenitem;
DROP FUNCTION IF EXISTS goldenset_four_eyes_every_editor();
"""


class Migration(migrations.Migration):
    dependencies = [("goldenset", "0003_eval_run_answers_produced_at")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]

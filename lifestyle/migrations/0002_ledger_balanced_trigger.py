"""PostgreSQL backstop: every ledger entry's legs sum to zero, checked at commit by a deferred constraint
trigger. SQLite has no deferred triggers; there the services check the sum before writing."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION lifestyle_ledger_entry_balanced() RETURNS trigger AS $$
DECLARE
    target_entry bigint;
    total numeric;
BEGIN
    IF TG_OP = 'DELETE' THEN
        target_entry := OLD.entry_id;
    ELSE
        target_entry := NEW.entry_id;
    END IF;
    SELECT COALESCE(SUM(points), 0) INTO total FROM lifestyle_ledgerleg WHERE entry_id = target_entry;
    IF total <> 0 THEN
        RAISE EXCEPTION 'ledger entry % is unbalanced: legs sum to %', target_entry, total
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS lifestyle_ledger_entry_balanced ON lifestyle_ledgerleg;
CREATE CONSTRAINT TRIGGER lifestyle_ledger_entry_balanced
    AFTER INSERT OR UPDATE OR DELETE ON lifestyle_ledgerleg
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION lifestyle_ledger_entry_balanced();
"""

DROP = """
DROP TRIGGER IF EXISTS lifestyle_ledger_entry_balanced ON lifestyle_ledgerleg;
DROP FUNCTION IF EXISTS lifestyle_ledger_entry_balanced();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("lifestyle", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]

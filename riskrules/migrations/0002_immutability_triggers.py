"""Database backstops for immutability (PostgreSQL): published/submitted rule versions keep their content,
their test cases cannot change, and decision records are append-only. Other databases rely on the
service and model guards."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION riskrules_version_immutable() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status <> 'draft' THEN
            RAISE EXCEPTION 'riskrules: only draft rule versions can be deleted (version %)', OLD.id;
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.status <> 'draft' AND (
        NEW.content::text IS DISTINCT FROM OLD.content::text
        OR NEW.content_hash IS DISTINCT FROM OLD.content_hash
        OR NEW.rule_set_id IS DISTINCT FROM OLD.rule_set_id
        OR NEW.number IS DISTINCT FROM OLD.number
        OR NEW.input_variables::text IS DISTINCT FROM OLD.input_variables::text
        OR NEW.author_id IS DISTINCT FROM OLD.author_id
    ) THEN
        RAISE EXCEPTION 'riskrules: rule version % is % and immutable', OLD.id, OLD.status;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER riskrules_version_immutable
BEFORE UPDATE OR DELETE ON riskrules_ruleversion
FOR EACH ROW EXECUTE FUNCTION riskrules_version_immutable();

CREATE OR REPLACE FUNCTION riskrules_testcase_immutable() RETURNS trigger AS $$
DECLARE
    version_status text;
BEGIN
    SELECT status INTO version_status FROM riskrules_ruleversion
     WHERE id = COALESCE(NEW.version_id, OLD.version_id);
    IF version_status IS NOT NULL AND version_status <> 'draft' THEN
        RAISE EXCEPTION 'riskrules: test cases of a % rule version are immutable', version_status;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER riskrules_testcase_immutable
BEFORE INSERT OR UPDATE OR DELETE ON riskrules_ruletestcase
FOR EACH ROW EXECUTE FUNCTION riskrules_testcase_immutable();

CREATE OR REPLACE FUNCTION riskrules_decision_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'riskrules: decision records are append-only';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER riskrules_decision_append_only
BEFORE UPDATE OR DELETE ON riskrules_decisionrecord
FOR EACH ROW EXECUTE FUNCTION riskrules_decision_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS riskrules_decision_append_only ON riskrules_decisionrecord;
DROP FUNCTION IF EXISTS riskrules_decision_append_only();
DROP TRIGGER IF EXISTS riskrules_testcase_immutable ON riskrules_ruletestcase;
DROP FUNCTION IF EXISTS riskrules_testcase_immutable();
DROP TRIGGER IF EXISTS riskrules_version_immutable ON riskrules_ruleversion;
DROP FUNCTION IF EXISTS riskrules_version_immutable();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("riskrules", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]

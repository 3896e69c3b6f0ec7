"""PostgreSQL: the shares of an attribution claim must sum to 100 % at commit (deferred constraint trigger).

SQLite has no deferred constraint triggers; there the service check (performance.formulas.validate_shares)
is the only guard.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION perf_check_claim_shares() RETURNS trigger AS $$
DECLARE
    claim bigint;
    total numeric;
BEGIN
    IF TG_OP = 'DELETE' THEN
        claim := OLD.claim_id;
    ELSE
        claim := NEW.claim_id;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM performance_attributionclaim WHERE id = claim) THEN
        RETURN NULL;
    END IF;
    SELECT COALESCE(SUM(percent), 0) INTO total FROM performance_claimshare WHERE claim_id = claim;
    IF total <> 100 THEN
        RAISE EXCEPTION 'attribution claim % shares sum to % (must be 100)', claim, total
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS perf_claim_shares_sum ON performance_claimshare;
CREATE CONSTRAINT TRIGGER perf_claim_shares_sum
    AFTER INSERT OR UPDATE OR DELETE ON performance_claimshare
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION perf_check_claim_shares();
"""

DROP = """
DROP TRIGGER IF EXISTS perf_claim_shares_sum ON performance_claimshare;
DROP FUNCTION IF EXISTS perf_check_claim_shares();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("performance", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]

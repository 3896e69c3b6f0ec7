"""Database guards for the ledger and the loan table's fillfactor (PostgreSQL), and the two DPD floor
tables from DOMAIN.md (the 2023 one is the newest effective, so it applies)."""

import datetime as dt

from django.db import migrations

PG_FORWARD = r"""
CREATE OR REPLACE FUNCTION lending_ledger_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger rows are immutable: correct by a reversing posting (%)', TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
END $$;

CREATE TRIGGER lending_posting_immutable BEFORE UPDATE OR DELETE ON lending_posting
    FOR EACH ROW EXECUTE FUNCTION lending_ledger_immutable();
CREATE TRIGGER lending_postingleg_immutable BEFORE UPDATE OR DELETE ON lending_postingleg
    FOR EACH ROW EXECUTE FUNCTION lending_ledger_immutable();

-- every statement that inserts legs must leave each posting it touches balanced
CREATE OR REPLACE FUNCTION lending_legs_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE bad bigint;
BEGIN
    SELECT l.posting_id INTO bad
      FROM lending_postingleg l
     WHERE l.posting_id IN (SELECT DISTINCT posting_id FROM new_legs)
     GROUP BY l.posting_id
    HAVING SUM(l.amount) <> 0 OR COUNT(*) < 2
     LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'posting % does not balance (legs must sum to zero)', bad
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER lending_postingleg_balanced AFTER INSERT ON lending_postingleg
    REFERENCING NEW TABLE AS new_legs
    FOR EACH STATEMENT EXECUTE FUNCTION lending_legs_balanced();

-- a posting without (balanced) legs cannot commit
CREATE OR REPLACE FUNCTION lending_posting_has_balanced_legs() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE total numeric; n bigint;
BEGIN
    SELECT COALESCE(SUM(amount), 0), COUNT(*) INTO total, n FROM lending_postingleg WHERE posting_id = NEW.id;
    IF n < 2 OR total <> 0 THEN
        RAISE EXCEPTION 'posting % has % legs summing to % (must be >= 2 legs summing to zero)', NEW.id, n, total
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER lending_posting_balanced AFTER INSERT ON lending_posting
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION lending_posting_has_balanced_legs();
"""

PG_BACKWARD = r"""
DROP TRIGGER IF EXISTS lending_posting_balanced ON lending_posting;
DROP TRIGGER IF EXISTS lending_postingleg_balanced ON lending_postingleg;
DROP TRIGGER IF EXISTS lending_postingleg_immutable ON lending_postingleg;
DROP TRIGGER IF EXISTS lending_posting_immutable ON lending_posting;
DROP FUNCTION IF EXISTS lending_posting_has_balanced_legs();
DROP FUNCTION IF EXISTS lending_legs_balanced();
DROP FUNCTION IF EXISTS lending_ledger_immutable();
"""


def triggers_forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_FORWARD.replace("%", "%%"), params=[])
        # every open loan row is rewritten each night: leave room on each page for a new version of
        # each row so the update is a HOT update (no index writes; old versions are pruned in place)
        schema_editor.execute("ALTER TABLE lending_loan SET (fillfactor = 50)", params=[])


def triggers_backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_BACKWARD, params=[])
        schema_editor.execute("ALTER TABLE lending_loan RESET (fillfactor)", params=[])


TABLES = [
    (
        "2023 年《商业银行金融资产风险分类办法》",
        dt.date(2023, 7, 1),
        "现行：逾期 1–90 天关注，91–270 天次级，271–360 天可疑，360 天以上损失",
        [(0, 0, "normal"), (1, 90, "special_mention"), (91, 270, "substandard"), (271, 360, "doubtful"), (361, None, "loss")],
    ),
    (
        "农村合作金融机构旧口径",
        dt.date(2007, 1, 1),
        "旧表：逾期 1–90 天关注，91–180 天次级，181–360 天可疑，360 天以上损失",
        [(0, 0, "normal"), (1, 90, "special_mention"), (91, 180, "substandard"), (181, 360, "doubtful"), (361, None, "loss")],
    ),
]


def seed_tables(apps, schema_editor):
    Table = apps.get_model("lending", "ClassificationTable")
    Band = apps.get_model("lending", "ClassificationBand")
    for name, effective_from, note, bands in TABLES:
        table, created = Table.objects.get_or_create(effective_from=effective_from, defaults={"name": name, "note": note})
        if created:
            Band.objects.bulk_create(
                [Band(table=table, min_dpd=low, max_dpd=high, loan_class=loan_class) for low, high, loan_class in bands]
            )


class Migration(migrations.Migration):
    dependencies = [("lending", "0001_initial")]

    operations = [
        migrations.RunPython(triggers_forward, triggers_backward),
        migrations.RunPython(seed_tables, migrations.RunPython.noop),
    ]

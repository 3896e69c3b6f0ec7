"""jikuai.core.fastsql: statements built once must write and read exactly what the ORM writes and reads."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from jikuai.core import fastsql
from jikuai.core.models import OutboxEvent
from jikuai.customers.models import Customer, Region
from jikuai.org.models import Institution
from riskrules.features import customer_for_decision
from tests.factories import InstitutionFactory, make_customer, make_staff

pytestmark = pytest.mark.django_db

VOLATILE = {"id", "code", "created_at", "history_id", "history_date"}


def _row(model, pk, exclude=VOLATILE):
    return {k: v for k, v in model.objects.filter(pk=pk).values().get().items() if k not in exclude}


def test_insert_with_history_writes_what_save_writes():
    by_orm = Institution.objects.create(code="ORM01", name="农商行", short_name="农商", region_code="220182")
    fast = Institution(code="FAST01", name="农商行", short_name="农商", region_code="220182")
    with CaptureQueriesContext(connection) as queries:
        fastsql.insert_with_history([fast])
    assert len(queries) == (1 if connection.vendor == "postgresql" else 2)  # the row and its history row
    assert fast.pk and not fast._state.adding and fast._state.db == "default"
    assert fast.created_at is not None  # auto_now_add filled in as save() does
    assert _row(Institution, fast.pk) == _row(Institution, by_orm.pk)
    history = Institution.history.model
    fast_history = history.objects.get(id=fast.pk)
    orm_history = history.objects.get(id=by_orm.pk)
    assert _row(history, fast_history.pk) == _row(history, orm_history.pk)
    assert fast_history.history_type == "+" and fast_history.history_user_id is None
    assert fast_history.code == "FAST01" and fast_history.created_at == fast.created_at


def test_history_row_takes_the_user_and_change_reason_like_simple_history():
    staff = make_staff(role=None)
    fast = Institution(code="FAST02", name="农商行")
    fast._history_user = staff.user
    fast._change_reason = "开户"
    fastsql.insert_with_history([fast])
    row = Institution.history.model.objects.get(id=fast.pk)
    assert row.history_user_id == staff.user_id and row.history_change_reason == "开户"


def test_insert_sets_primary_keys_in_order_and_a_later_save_updates():
    events = [OutboxEvent(topic="test.fast", payload={"n": n, "amount": "12.30"}) for n in range(5)]
    fastsql.insert(events, batch_size=2)  # three statements: 2 + 2 + 1 rows
    assert [e.pk for e in events] == sorted(e.pk for e in events)
    assert [OutboxEvent.objects.get(pk=e.pk).payload["n"] for e in events] == [0, 1, 2, 3, 4]
    events[0].topic = "test.changed"
    events[0].save()
    assert OutboxEvent.objects.count() == 5 and OutboxEvent.objects.get(pk=events[0].pk).topic == "test.changed"


def test_rows_with_given_primary_keys_and_json_money_and_dates_round_trip():
    event = OutboxEvent(pk=987654, topic="test.fast", payload={"amount": "0.01", "day": "2026-06-15"})
    fastsql.insert([event])
    stored = OutboxEvent.objects.get(pk=987654)
    assert stored.payload == {"amount": "0.01", "day": "2026-06-15"} and stored.status == "pending"


def test_mixed_rows_are_refused_and_database_errors_are_djangos():
    with pytest.raises(TypeError):
        fastsql.insert([OutboxEvent(topic="a"), OutboxEvent(pk=5, topic="b")])
    with pytest.raises(TypeError):
        fastsql.insert([OutboxEvent(topic="a"), Institution(code="X", name="x")])
    Institution.objects.create(code="DUP01", name="甲")
    with pytest.raises(IntegrityError), transaction.atomic():
        fastsql.insert([Institution(code="DUP01", name="乙")])
    assert Institution.objects.filter(code="DUP01").count() == 1


def test_instances_decrypt_and_defer_like_only():
    customer = make_customer(monthly_income="8000", name="李四")
    attnames = ("id", "id_number", "monthly_income", "institution")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {fastsql.columns(Customer, attnames)} FROM customers_customer WHERE id = %s", [customer.pk])
        (loaded,) = fastsql.instances(Customer, attnames, cursor.fetchall())
    assert loaded.id_number == customer.id_number  # decrypted by the field
    assert loaded.monthly_income == Decimal("8000.00") and loaded.institution_id == customer.institution_id
    assert {"mobile", "name"} <= loaded.get_deferred_fields()
    with CaptureQueriesContext(connection) as queries:
        assert loaded.mobile == customer.mobile  # a deferred column loads on first access
    assert len(queries) == 1


def test_customer_for_decision_is_scoped_and_carries_its_region():
    region = Region.objects.create(code="220182101", name="某镇", level=Region.Level.TOWN)
    customer = make_customer(region=region, occupation="teacher", monthly_income="6000")
    other = InstitutionFactory()
    assert customer_for_decision(customer.pk, other.pk) is None
    with CaptureQueriesContext(connection) as queries:
        loaded = customer_for_decision(customer.pk, customer.institution_id)
        assert loaded.region.code == "220182101"  # no second query
        assert (loaded.id_number, loaded.occupation, loaded.kyc_status) == (customer.id_number, "teacher", customer.kyc_status)
        assert loaded.created_at.date() <= dt.date.today() + dt.timedelta(days=1)
        assert loaded.mobile_index == customer.mobile_index and loaded.id_number_index == customer.id_number_index
    assert len(queries) == 1
    without_region = make_customer(institution=customer.institution)
    assert customer_for_decision(without_region.pk, customer.institution_id).region is None


def test_children_are_written_with_the_new_key_in_the_same_statement_and_not_again():
    from django.contrib.contenttypes.models import ContentType
    from django_fsm_log.models import StateLog

    from jikuai.core.fsmlog import deferred_state_logs

    kind = ContentType.objects.get_for_model(Institution)
    fast = Institution(code="FAST03", name="农商行")
    with deferred_state_logs(fast) as logs:
        logs += [
            StateLog(content_type=kind, object_id=0, source_state=a, state=b, transition=f"{a}-{b}", description="测试")
            for a, b in (("draft", "submitted"), ("submitted", "deciding"))
        ]
        with CaptureQueriesContext(connection) as queries:
            fastsql.insert_with_history([fast], children=((logs, "object_id"),))
    assert len(queries) == (1 if connection.vendor == "postgresql" else 3)
    rows = StateLog.objects.filter(content_type=kind).order_by("id")
    assert [(r.object_id, r.transition, r.description) for r in rows] == [
        (fast.pk, "draft-submitted", "测试"),
        (fast.pk, "submitted-deciding", "测试"),
    ]  # in order, once: the block's end wrote nothing more
    history = Institution.history.model.objects.get(id=fast.pk)
    assert history.created_at == Institution.objects.get(pk=fast.pk).created_at and history.history_type == "+"


def test_long_statements_are_parsed_once_per_process():
    """psycopg re-parses statements over 50 parameters on every execution; fastsql's are few and kept."""
    if connection.vendor != "postgresql":
        pytest.fail("this test needs PostgreSQL (DATABASE_URL): the server-side binding cursor is PostgreSQL's")
    from psycopg import _queries

    sql = "SELECT " + ", ".join(["%s::int"] * 60)
    with fastsql.cursor() as cursor:
        cursor.execute(sql, list(range(60)))
        assert cursor.fetchone() == tuple(range(60))
        before = _queries._query2pg.cache_info().hits
        cursor.execute(sql, list(range(1, 61)))
        assert cursor.fetchone() == tuple(range(1, 61))
    assert _queries._query2pg.cache_info().hits == before + 1


@pytest.mark.parametrize("prepared", [True, False])
def test_statements_are_prepared_per_connection_unless_switched_off(prepared, settings):
    if connection.vendor != "postgresql":
        pytest.fail("this test needs PostgreSQL (DATABASE_URL): prepared statements are PostgreSQL's")
    settings.DB_PREPARED_STATEMENTS = prepared
    marker = f"fastsql-prepare-{prepared}"
    with CaptureQueriesContext(connection) as queries, fastsql.cursor() as cursor:
        for _ in range(2):
            cursor.execute("SELECT %s::text AS marker", [marker])
            assert cursor.fetchone() == (marker,)
    assert [q["sql"] for q in queries.captured_queries] == ["SELECT $1::text AS marker"] * 2  # still logged
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s", ["%AS marker%"])
        assert cursor.fetchone()[0] == (1 if prepared else 0)


def test_one_off_statements_over_a_thousand_parameters_are_not_prepared():
    if connection.vendor != "postgresql":
        pytest.fail("this test needs PostgreSQL (DATABASE_URL): prepared statements are PostgreSQL's")
    sql = "SELECT " + ", ".join(["%s::int"] * 1001) + " AS big_marker"
    with fastsql.cursor() as cursor:
        cursor.execute(sql, list(range(1001)))
        assert cursor.fetchone()[1000] == 1000
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s", ["%AS big_marker%"])
        assert cursor.fetchone()[0] == 0

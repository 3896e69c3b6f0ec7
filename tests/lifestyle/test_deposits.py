"""Deposit feed (signed API, idempotent by date and account, per-row errors) and the month-end growth job."""

import datetime as dt

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from jikuai.core.models import JobRun, OutboxEvent
from lifestyle.models import DepositDailyBalance, DepositMonthClose, DepositMonthlyBalance, LedgerEntry, PointsAccount, PointsLot
from lifestyle.services import deposits, earning, ledger
from tests.factories import SignedApi, make_client, make_customer, make_staff
from tests.lifestyle.factories import assert_ledger_ok, make_rule

pytestmark = pytest.mark.django_db
URL = "/api/v1/deposits/daily-balances"


def _rows(customer, account_no, month: str, balance: str, days=None):
    year, mon = map(int, month.split("-"))
    days = days or deposits.days_in(month)
    return [
        {"date": dt.date(year, mon, d).isoformat(), "account_no": account_no, "customer_id": customer.pk, "balance": balance}
        for d in range(1, days + 1)
    ]


def _signed_rule(institution, **fields):
    rule = make_rule(
        topic="lifestyle.deposit_growth",
        code=fields.pop("code", "deposit-growth"),
        institution=institution,
        deposit_unit_fen=fields.pop("deposit_unit_fen", 1_000_000),  # every 10,000 yuan of growth
        deposit_points_per_unit=fields.pop("deposit_points_per_unit", 100),
        hold_days=fields.pop("hold_days", 30),
        funding_source="deposit_marketing",
        **fields,
    )
    checker = make_staff(role=None, institution=institution).user
    checker.user_permissions.add(Permission.objects.get(codename="sign_off_rule"))
    earning.rule_sign_off(rule_id=rule.pk, user=type(checker).objects.get(pk=checker.pk))
    return rule


def test_feed_is_idempotent_by_date_and_account(client, institution, customer):
    api = SignedApi(client, make_client(institution=institution, scopes=["deposits:write"]))
    rows = _rows(customer, "6228480012345678", "2026-03", "1000.00", days=3)
    first = api.post(URL, {"rows": rows}, key="d-1")
    assert first.status_code == 200, first.json()
    assert first.json() == {"accepted": 3, "duplicates": 0, "rejected": 0, "errors": []}
    again = api.post(URL, {"rows": rows}, key="d-2")  # a new request repeating the same rows
    assert again.json() == {"accepted": 0, "duplicates": 3, "rejected": 0, "errors": []}
    monthly = DepositMonthlyBalance.objects.get(customer=customer, month="2026-03")
    assert (monthly.balance_sum_fen, monthly.row_count) == (300_000, 3)
    stored = DepositDailyBalance.objects.first()
    assert stored.account_last4 == "5678"
    assert "6228480012345678" not in stored.account_index


def test_negative_and_bad_rows_refused_per_row_and_nothing_written_for_them(client, institution, customer):
    api = SignedApi(client, make_client(institution=institution, scopes=["deposits:write"]))
    other_institution_customer = make_customer(name="赵六")
    rows = [
        {"date": "2026-03-01", "account_no": "6228480012345678", "customer_id": customer.pk, "balance": "100.00"},
        {"date": "2026-03-02", "account_no": "6228480012345678", "customer_id": customer.pk, "balance": "-5.00"},
        {"date": "2026-03-03", "account_no": "12", "customer_id": customer.pk, "balance": "5.00"},
        {"date": "2026-13-01", "account_no": "6228480012345678", "customer_id": customer.pk, "balance": "5.00"},
        {"date": "2026-03-04", "account_no": "6228480012345678", "customer_id": other_institution_customer.pk, "balance": "5"},
        {"date": "2026-03-05", "account_no": "6228480012345678", "customer_id": customer.pk, "balance": 5.5},
        {"date": "2026-03-06", "account_no": "6228480012345678", "customer_id": customer.pk, "balance": "1.234"},
        {"date": "2026-03-01", "account_no": "6228480012345678", "customer_id": customer.pk, "balance": "100.00"},
    ]
    response = api.post(URL, {"rows": rows}, key="bad-1")
    body = response.json()
    assert response.status_code == 200
    assert body["accepted"] == 1
    assert [(e["index"], e["code"]) for e in body["errors"]] == [
        (1, "negative_balance"),
        (2, "invalid_account"),
        (3, "invalid_date"),
        (4, "unknown_customer"),
        (5, "invalid_balance"),
        (6, "invalid_balance"),
        (7, "duplicate_in_batch"),
    ]
    assert "余额不能为负数" in body["errors"][0]["detail"]
    assert DepositDailyBalance.objects.count() == 1
    assert DepositMonthlyBalance.objects.get().balance_sum_fen == 10_000


def test_all_rows_refused_is_422_and_writes_nothing(client, institution, customer):
    api = SignedApi(client, make_client(institution=institution, scopes=["deposits:write"]))
    rows = [{"date": "2026-03-02", "account_no": "6228480012345678", "customer_id": customer.pk, "balance": "-1"}]
    response = api.post(URL, {"rows": rows}, key="neg")
    assert response.status_code == 422
    assert response.json()["rejected"] == 1
    assert not DepositDailyBalance.objects.exists() and not DepositMonthlyBalance.objects.exists()


def test_conflicting_repeat_is_refused(client, institution, customer):
    api = SignedApi(client, make_client(institution=institution, scopes=["deposits:write"]))
    row = {"date": "2026-03-02", "account_no": "6228480012345678", "customer_id": customer.pk, "balance": "10.00"}
    api.post(URL, {"rows": [row]}, key="a")
    changed = {**row, "balance": "11.00"}
    body = api.post(URL, {"rows": [changed]}, key="b").json()
    assert body["errors"][0]["code"] == "conflicting_balance"
    assert DepositMonthlyBalance.objects.get().balance_sum_fen == 1000


def test_feed_needs_scope_and_signature(client, institution, customer):
    api = SignedApi(client, make_client(institution=institution, scopes=["points:read"]))
    rows = _rows(customer, "6228480012345678", "2026-03", "1.00", days=1)
    assert api.post(URL, {"rows": rows}, key="s").status_code == 403
    assert client.post(URL, {"rows": rows}, content_type="application/json").status_code == 401
    assert not DepositDailyBalance.objects.exists()


def test_month_end_growth_pending_capped_and_rerun_creates_nothing(institution, branch):
    grower = make_customer(institution=institution, branch=branch, name="增长")
    flat = make_customer(institution=institution, branch=branch, name="持平")
    big = make_customer(institution=institution, branch=branch, name="大户")
    newcomer = make_customer(institution=institution, branch=branch, name="新客")
    feed = []
    for who, feb, mar in ((grower, "10000.00", "40000.00"), (flat, "5000.00", "5000.00"), (big, "0.00", "9000000.00")):
        feed += _rows(who, f"62284800{who.pk:08d}", "2026-02", feb)
        feed += _rows(who, f"62284800{who.pk:08d}", "2026-03", mar)
    feed += _rows(newcomer, f"62284800{newcomer.pk:08d}", "2026-03", "25000.00")
    for start in range(0, len(feed), 500):
        deposits.deposit_balances_ingest(institution=institution, rows=feed[start : start + 500], today=dt.date(2026, 4, 2))
    _signed_rule(institution, cap_per_month=500)
    make_rule(
        topic="lifestyle.deposit_growth",
        code="unsigned-deposit",
        institution=institution,
        deposit_unit_fen=100,
        deposit_points_per_unit=1,
        hold_days=1,
    )
    now = timezone.make_aware(dt.datetime(2026, 4, 3, 2, 0))
    result = deposits.deposit_growth_close(institution=institution, month="2026-03", chunk_size=2, now=now)
    lots = {lot.account.customer_id: lot for lot in PointsLot.objects.select_related("account")}
    # growth 30,000 → 300 points; 9,000,000 → capped at 500; newcomer 25,000 → 200 (floor of 2.5 units); flat → none
    assert {cid: lot.amount for cid, lot in lots.items()} == {grower.pk: 300, big.pk: 500, newcomer.pk: 200}
    assert all(lot.status == PointsLot.Status.PENDING for lot in lots.values())
    assert all(lot.rule_key == "deposit-growth" for lot in lots.values())  # the unsigned rule awarded nothing
    assert (result.lots_created, result.points_awarded) == (3, 1000)
    assert PointsAccount.objects.get(customer=grower).balance == 0
    assert result.events_published == 4
    event = OutboxEvent.objects.filter(topic="lifestyle.deposit_month_closed", payload__customer_id=grower.pk).get()
    assert event.payload["daily_average"] == "40000.00" and event.payload["previous_daily_average_fen"] == 1_000_000
    assert JobRun.objects.get(job="lifestyle.deposit_growth").status == "succeeded"
    assert_ledger_ok()
    entries = LedgerEntry.objects.count()
    # rerun: nothing; forced rerun (new job run): still nothing
    assert deposits.deposit_growth_close(institution=institution, month="2026-03", now=now).status == "already_closed"
    forced = deposits.deposit_growth_close(institution=institution, month="2026-03", force=True, now=now + dt.timedelta(hours=1))
    assert (forced.lots_created, forced.points_awarded, forced.events_published) == (0, 0, 0)
    assert PointsLot.objects.count() == 3 and LedgerEntry.objects.count() == entries
    assert OutboxEvent.objects.filter(topic="lifestyle.deposit_month_closed").count() == 4
    # the hold period ends: points become spendable
    assert ledger.lots_activate_due(now=now + dt.timedelta(days=30, minutes=1)) == 3
    assert PointsAccount.objects.get(customer=big).balance == 500
    assert_ledger_ok()
    # a closed month refuses late feed rows
    late = deposits.deposit_balances_ingest(
        institution=institution, rows=_rows(flat, "6228480099999999", "2026-03", "1.00", days=1)
    )
    assert late.errors[0]["code"] == "month_closed"
    assert DepositMonthClose.objects.get().status == "closed"


def test_month_not_ended_is_refused(institution):
    today = timezone.localdate()
    with pytest.raises(deposits.Conflict):
        deposits.deposit_growth_close(institution=institution, month=deposits.month_of(today))
    assert not DepositMonthClose.objects.exists()


def test_lifetime_cap_across_months(institution, branch):
    saver = make_customer(institution=institution, branch=branch, name="储户")
    feed = _rows(saver, "6228480011112222", "2026-01", "0.00")
    feed += _rows(saver, "6228480011112222", "2026-02", "50000.00")
    feed += _rows(saver, "6228480011112222", "2026-03", "100000.00")
    for start in range(0, len(feed), 500):
        deposits.deposit_balances_ingest(institution=institution, rows=feed[start : start + 500], today=dt.date(2026, 4, 2))
    _signed_rule(institution, code="capped-deposit", cap_per_month=400, cap_per_customer=600)
    feb = deposits.deposit_growth_close(
        institution=institution, month="2026-02", now=timezone.make_aware(dt.datetime(2026, 3, 3))
    )
    mar = deposits.deposit_growth_close(
        institution=institution, month="2026-03", now=timezone.make_aware(dt.datetime(2026, 4, 3))
    )
    assert (feb.points_awarded, mar.points_awarded) == (400, 200)  # 500 → 400 (month cap), then 500 → 200 (lifetime 600)
    assert sorted(PointsLot.objects.values_list("period", "amount")) == [("2026-02", 400), ("2026-03", 200)]
    assert_ledger_ok()

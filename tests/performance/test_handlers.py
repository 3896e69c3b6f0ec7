"""Bus events → attributed facts: automatic attribution, redelivery creates nothing, claims split credit."""

import datetime as dt
from decimal import Decimal

import pytest

from jikuai.core import bus
from jikuai.core.models import EventDelivery
from performance.models import Fact
from performance.services import attribution
from tests.performance.factories import disbursed, make_bank, make_customer, publish_event

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 9, 10)


@pytest.fixture
def bank():
    return make_bank()


def facts(code, **filters):
    return Fact.objects.filter(indicator__code=code, **filters)


def test_loan_disbursed_credits_the_events_account_manager(bank, django_capture_on_commit_callbacks):
    customer = make_customer(institution=bank.institution, branch=bank.branch_a, account_manager=bank.am2)
    with django_capture_on_commit_callbacks(execute=True):
        bus.publish(
            "lending.loan_disbursed", disbursed(bank, loan_id=11, customer=customer, amount="50000.00", day=DAY, manager=bank.am1)
        )
    amount = facts("loan_disbursed_amount").get()
    assert (amount.staff_id, amount.value, amount.share, amount.attribution) == (
        bank.am1.pk,
        Decimal("50000"),
        Decimal(100),
        "account_manager",
    )
    assert (amount.customer_id, amount.subject_kind, amount.subject_id, amount.fact_date) == (customer.pk, "loan", 11, DAY)
    assert amount.branch_id == bank.branch_a.pk
    assert facts("loan_disbursed_count").get().value == 1
    assert facts("new_credit_customers").get().value == 1
    assert facts("loan_balance").get().value == Decimal("50000")


def test_redelivery_creates_nothing(bank):
    customer = make_customer(institution=bank.institution, branch=bank.branch_a, account_manager=bank.am1)
    event = publish_event("lending.loan_disbursed", disbursed(bank, loan_id=12, customer=customer, amount="1000.00", day=DAY))
    count = Fact.objects.count()
    assert count == 4
    # a second delivery of the same event (the bus has recorded the handler, and even a forced rerun of the
    # handler hits the unique (event, indicator, staff) key)
    bus.dispatch(event.pk)
    EventDelivery.objects.filter(event_id=event.pk).delete()
    bus.event_retry(event_id=event.pk)
    attribution.facts_from_event(bus.BusEvent(id=event.pk, topic=event.topic, payload=event.payload, created_at=event.created_at))
    assert Fact.objects.count() == count


def test_without_event_manager_the_customers_manager_is_credited_and_first_drawdown_false_is_not_new(bank):
    customer = make_customer(institution=bank.institution, branch=bank.branch_b, account_manager=bank.am3)
    payload = disbursed(bank, loan_id=13, customer=customer, amount="2000.00", day=DAY, first=False)
    payload["account_manager_id"] = None
    publish_event("lending.loan_disbursed", payload)
    fact = facts("loan_disbursed_amount").get()
    assert (fact.staff_id, fact.attribution) == (bank.am3.pk, "customer_manager")
    assert not facts("new_credit_customers").exists()


def test_unknown_or_foreign_staff_leaves_the_fact_unattributed(bank):
    other = make_bank("OTHR")
    payload = {
        "institution_id": bank.institution.pk,
        "account_manager_id": other.am1.pk,
        "loan_id": 14,
        "customer_id": None,
        "amount": "300.00",
        "amount_fen": 30000,
        "business_date": DAY.isoformat(),
        "first_drawdown": False,
    }
    publish_event("lending.loan_disbursed", payload)
    fact = facts("loan_disbursed_amount").get()
    assert fact.staff_id is None and fact.attribution == "unattributed"


def test_event_without_institution_is_ignored(bank):
    publish_event("lending.loan_disbursed", {"loan_id": 1, "amount": "1.00", "business_date": DAY.isoformat()})
    assert not Fact.objects.exists()


def test_approved_claim_splits_credit_by_shares(bank):
    """A claim 60/40 between am1 and am2: a 1,000.00 loan credits 600.00 and 400.00; the count 0.6 and 0.4."""
    customer = make_customer(institution=bank.institution, branch=bank.branch_a, account_manager=bank.am1)
    claim = attribution.claim_submit(
        customer=customer, shares=[(bank.am1, "60"), (bank.am2, "40")], actor=bank.am1, requested_on=dt.date(2026, 9, 2)
    )
    attribution.claim_approve(claim_id=claim.pk, actor=bank.manager_a)
    publish_event(
        "lending.loan_disbursed", disbursed(bank, loan_id=15, customer=customer, amount="1000.00", day=DAY, manager=bank.am1)
    )
    rows = dict(facts("loan_disbursed_amount").values_list("staff_id", "value"))
    assert rows == {bank.am1.pk: Decimal("600"), bank.am2.pk: Decimal("400")}
    assert dict(facts("loan_disbursed_count").values_list("staff_id", "value")) == {
        bank.am1.pk: Decimal("0.6"),
        bank.am2.pk: Decimal("0.4"),
    }
    assert set(facts("loan_disbursed_amount").values_list("attribution", "claim_id")) == {("claim", claim.pk)}


def test_referral_by_staff_code_and_merchant_signer(bank):
    customer = make_customer(institution=bank.institution, branch=bank.branch_a, account_manager=bank.am1)
    publish_event(
        "lifestyle.referral_qualified",
        {
            "institution_id": bank.institution.pk,
            "customer_id": customer.pk,
            "referrer_staff_id": bank.am2.pk,
            "business_date": DAY.isoformat(),
        },
    )
    publish_event(
        "lifestyle.merchant_signed",
        {"institution_id": bank.institution.pk, "merchant_id": 77, "staff_id": bank.am3.pk, "business_date": DAY.isoformat()},
    )
    referral = facts("referrals_qualified").get()
    assert (referral.staff_id, referral.attribution) == (bank.am2.pk, "referrer")
    merchant = facts("merchants_signed").get()
    assert (merchant.staff_id, merchant.attribution, merchant.subject_kind, merchant.subject_id) == (
        bank.am3.pk,
        "signer",
        "merchant",
        77,
    )
    assert merchant.branch_id == bank.branch_b.pk


def test_deposit_month_is_stored_as_balance_days_with_base(bank):
    """September has 30 days: daily average 12,000.00 → 积数 360,000; previous 10,000.00 → base 300,000."""
    customer = make_customer(institution=bank.institution, branch=bank.branch_a, account_manager=bank.am1)
    publish_event(
        "lifestyle.deposit_month_closed",
        {
            "institution_id": bank.institution.pk,
            "customer_id": customer.pk,
            "account_manager_id": bank.am1.pk,
            "month": "2026-09",
            "daily_average": "12000.00",
            "daily_average_fen": 1200000,
            "previous_daily_average": "10000.00",
            "previous_daily_average_fen": 1000000,
        },
    )
    fact = facts("deposit_daily_avg").get()
    assert (fact.value, fact.base_value, fact.fact_date) == (Decimal(360000), Decimal(300000), dt.date(2026, 9, 30))
    assert facts("deposit_daily_avg_growth").count() == 1


def test_points_participation_counts_once_per_customer_and_month(bank):
    customer = make_customer(institution=bank.institution, branch=bank.branch_a, account_manager=bank.am1)
    for lot in (1, 2, 3):
        publish_event(
            "lifestyle.points_earned",
            {
                "institution_id": bank.institution.pk,
                "customer_id": customer.pk,
                "points": 10,
                "rule_code": "R",
                "lot_id": lot,
                "business_date": DAY.isoformat(),
            },
        )
    assert facts("points_participation").count() == 1


def test_classification_feeds_npl_snapshots(bank):
    customer = make_customer(institution=bank.institution, branch=bank.branch_a, account_manager=bank.am1)
    payload = {
        "institution_id": bank.institution.pk,
        "customer_id": customer.pk,
        "account_manager_id": bank.am1.pk,
        "loan_id": 21,
        "dpd": 95,
        "business_date": DAY.isoformat(),
        "principal_outstanding": "8000.00",
        "principal_outstanding_fen": 800000,
    }
    publish_event("lending.loan_classified", {**payload, "old_class": "special_mention", "new_class": "substandard"})
    assert facts("npl_balance").get().value == Decimal(8000)
    assert facts("loan_balance").get().value == Decimal(8000)
    publish_event(
        "lending.loan_settled",
        {"institution_id": bank.institution.pk, "customer_id": customer.pk, "loan_id": 21, "business_date": "2026-09-20"},
    )
    assert sorted(facts("npl_balance").values_list("value", flat=True)) == [Decimal(0), Decimal(8000)]


def test_book_balances_through_the_lending_facade_when_it_exists(bank, monkeypatch):
    """Book figures per account manager: am1 balance 100,000.00, NPL 3,000.00 → NPL ratio (book) 3 %. A later
    snapshot replaces the earlier one (period-end); a rerun of the same day writes nothing. Without the facade: nothing."""
    from types import SimpleNamespace

    from performance import engine
    from performance.models import Indicator
    from performance.services import facade_feed

    books = {bank.am1.pk: ("100000.00", "3000.00"), bank.am2.pk: ("50000.00", "0")}

    def portfolio_figures(*, institution_id=None, branch_id=None, staff_id=None, since=None, until=None):
        balance, npl = books.get(staff_id, ("0", "0")) if staff_id else ("150000.00", "3000.00")
        return SimpleNamespace(
            loans=1 if Decimal(balance) else 0, balance=Decimal(balance), overdue_balance=Decimal(npl), npl_balance=Decimal(npl)
        )

    monkeypatch.setattr(facade_feed, "lending_facade", lambda: None)
    assert facade_feed.portfolio_snapshot(institution_id=bank.institution.pk, day=DAY) == 0
    monkeypatch.setattr(facade_feed, "lending_facade", lambda: SimpleNamespace(portfolio_figures=portfolio_figures))
    first = facade_feed.portfolio_snapshot(institution_id=bank.institution.pk, day=DAY)
    assert first == 3 * 4  # two staff + two branches, three book indicators each
    assert facade_feed.portfolio_snapshot(institution_id=bank.institution.pk, day=DAY) == 0
    books[bank.am1.pk] = ("120000.00", "2400.00")
    facade_feed.portfolio_snapshot(institution_id=bank.institution.pk, day=DAY + dt.timedelta(days=5))
    ratio = Indicator.objects.get(code="npl_ratio_book")
    indicators = engine.base_indicators({ratio.pk: ratio})
    aggregates = engine.aggregate_facts(
        institution_id=bank.institution.pk,
        indicators=indicators,
        start=dt.date(2026, 9, 1),
        end=dt.date(2026, 9, 30),
        group="staff_id",
        watermark=None,
        previous_watermark=None,
    )
    assert engine.actual_of(ratio, bank.am1.pk, aggregates).value == Decimal(2)  # 2,400 / 120,000 × 100
    assert engine.actual_of(ratio, bank.am2.pk, aggregates).value == Decimal(0)
    by_branch = engine.aggregate_facts(
        institution_id=bank.institution.pk,
        indicators=indicators,
        start=dt.date(2026, 9, 1),
        end=dt.date(2026, 9, 30),
        group="branch_id",
        watermark=None,
        previous_watermark=None,
    )
    assert engine.actual_of(ratio, bank.branch_a.pk, by_branch).value == Decimal(2)  # branch rows only: 3,000 / 150,000

"""Property test: any sequence of earning (active or held), spending, expiry, activation, reversal and redemption
keeps every ledger invariant after every operation, and a refused spend changes nothing."""

import datetime as dt

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifestyle.models import PointsAccount, PointsLot
from lifestyle.services import earning, ledger, reconciliation
from tests.factories import InstitutionFactory, make_customer
from tests.lifestyle.factories import make_rule

pytestmark = pytest.mark.django_db

operation = st.one_of(
    st.tuples(st.just("earn"), st.integers(1, 300), st.integers(1, 60), st.booleans()),
    st.tuples(st.just("spend"), st.integers(1, 400)),
    st.tuples(st.just("reverse"), st.integers(0, 20)),
    st.tuples(st.just("tick"), st.integers(1, 40)),
)


class _Rollback(Exception):
    pass


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=st.lists(operation, min_size=1, max_size=14))
def test_invariants_hold_after_every_operation(db, ops):
    try:
        with transaction.atomic():
            _play(ops)
            raise _Rollback
    except _Rollback:
        pass


def _check():
    result = reconciliation.points_check(account_ids=list(PointsAccount.objects.values_list("pk", flat=True)))
    assert result.ok, result.mismatches


def _play(ops):
    customer = make_customer(institution=InstitutionFactory())
    held = make_rule(topic="customers.kyc_verified", code="held", points_fixed=1, hold_days=5)
    active = make_rule(topic="lifestyle.checkin", code="active", points_fixed=1)
    clock = timezone.now()
    for n, op in enumerate(ops):
        if op[0] == "earn":
            _, points, validity, hold = op
            rule = held if hold else active
            rule.points_fixed, rule.validity_days = points, validity
            source = earning.EarningSource(customer_id=customer.pk, source_ref=f"op{n}", reason="property")
            assert earning.points_award(rule=rule, customer=customer, source=source, now=clock).status == "awarded"
        elif op[0] == "spend":
            account = PointsAccount.objects.filter(customer=customer).first()
            if account is None:
                continue
            before = account.balance
            try:
                with transaction.atomic():
                    ledger.points_spend(account_id=account.pk, points=op[1], reason="property")
                    # the spent points go to the vouchers book; close it like a merchant verification would
                    ledger.post_entry(kind="redeem", legs=[ledger.Leg("vouchers", op[1]), ledger.Leg("breakage", -op[1])])
            except ledger.InsufficientPoints:
                account.refresh_from_db()
                assert account.balance == before and before < op[1]
        elif op[0] == "reverse":
            lots = list(PointsLot.objects.filter(account__customer=customer).order_by("id").values_list("pk", flat=True))
            if lots:
                ledger.lot_reverse(lot_id=lots[op[1] % len(lots)], reason="property")
        else:
            clock += dt.timedelta(days=op[1])
            ledger.lots_activate_due(now=clock)
            ledger.lots_expire_due(today=timezone.localdate(clock))
        _check()
        account = PointsAccount.objects.filter(customer=customer).first()
        if account:
            assert account.balance >= 0 and account.debt >= 0

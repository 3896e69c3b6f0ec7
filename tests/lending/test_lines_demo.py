"""Demo credit lines: seeded with lending's demo (one drawn down, one frozen), idempotent, balanced."""

import datetime as dt

import pytest

from jikuai.core.demo import seed_kernel
from jikuai.core.workdays import business_date_set
from lending.demo import seed_demo_lending
from lending.demo_lines import seed_demo_lines
from lending.models import CreditLine, CreditLineChange, Drawdown
from lending.services.reconcile import reconcile_ledger
from tests.lending.lines_factories import assert_balanced

pytestmark = pytest.mark.django_db


def test_seed_demo_lines_is_idempotent():
    from riskrules.policy.seed import seed_policy

    business_date_set(day=dt.date(2026, 11, 20))
    seed_kernel(customers_per_bank=6, today=dt.date(2026, 11, 20))
    seed_policy(product_codes=["jnkd"])  # the drawdown re-checks the product's admission rules (as seed_demo does)
    seed_demo_lending(per_institution=6)
    assert CreditLine.objects.count() >= 4
    assert Drawdown.objects.filter(state="disbursed").exists()
    assert CreditLine.objects.filter(state="frozen").exists()
    assert CreditLine.objects.filter(customer__web_enabled=True).exists()  # the demo logins see a line
    before = (CreditLine.objects.count(), CreditLineChange.objects.count(), Drawdown.objects.count())
    seed_demo_lines()
    assert before == (CreditLine.objects.count(), CreditLineChange.objects.count(), Drawdown.objects.count())
    for line in CreditLine.objects.all():
        assert_balanced(line)
    assert reconcile_ledger().ok

# ruff: noqa: F811 - pytest fixtures imported from tests.lending.origination_helpers
"""Demo data of origination: the seven products reconciled with the loan-engine demo (no duplicates,
same codes), applications in every reachable state, idempotent."""

import datetime as dt

import pytest

from jikuai.core.demo import seed_kernel
from jikuai.core.workdays import business_date_set
from lending.demo import seed_demo_lending
from lending.models import LoanApplication, Product
from tests.lending.origination_helpers import seeded_policy  # noqa: F401

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 11, 20)


def test_seed_demo_origination_reaches_every_state_and_is_idempotent(seeded_policy):
    business_date_set(day=TODAY)
    seed_kernel(customers_per_bank=16, today=TODAY)
    result = seed_demo_lending(per_institution=4)
    assert result["ledger_reconciled"] and result["origination"]["products"] == 7
    products = Product.objects.filter(code__in=["jnkd", "tsd", "gxd", "jld", "xyd", "ydd", "jwkd"])
    assert products.count() == 7 == Product.objects.count()
    jnkd = products.get(code="jnkd")
    assert jnkd.kind == "line" and jnkd.revolving and jnkd.admission_ruleset == "jnkd_admission"
    assert jnkd.pricing_ruleset == "jnkd_pricing" and jnkd.status == "active" and jnkd.is_active
    assert products.get(code="gxd").kind == "loan" and products.get(code="xyd").max_amount == 1_000_000
    states = set(LoanApplication.objects.values_list("state", flat=True))
    assert {"draft", "approved", "rejected", "referred", "cancelled", "expired"} <= states, states
    assert LoanApplication.objects.filter(customer__web_enabled=True).exists()
    versions = dict(products.values_list("code", "version"))
    count = LoanApplication.objects.count()
    again = seed_demo_lending(per_institution=4)
    assert LoanApplication.objects.count() == count and again["ledger_reconciled"]
    assert dict(products.values_list("code", "version")) == versions

"""Factories for the contract tests: approved applications (created directly in state "approved", as the
origination services would leave them), and a private-storage folder per test."""

import datetime as dt
import itertools
from decimal import Decimal

import pytest

from jikuai.core.workdays import business_date_set
from lending.models import LoanApplication
from tests.factories import BranchFactory
from tests.lending.factories import ProductFactory
from tests.web.factories import make_web_customer

_numbers = itertools.count(1)
BUSINESS_DAY = dt.date(2026, 3, 16)


def make_approved_application(
    *,
    customer=None,
    branch=None,
    product=None,
    kind: str = "loan",
    amount: str = "100000",
    annual_rate: str = "0.0435",
    term_months: int = 12,
    method: str = "equal_installment",
    name: str = "张三",
    **customer_fields,
) -> LoanApplication:
    business_date_set(day=BUSINESS_DAY)
    if customer is None:
        branch = branch or BranchFactory()
        customer = make_web_customer(institution=branch.institution, branch=branch, name=name, **customer_fields)
    product = product or ProductFactory(kind=kind, revolving=kind == "line", penalty_markup=Decimal("0.5"), grace_days=3)
    return LoanApplication.objects.create(
        application_no=f"AP{BUSINESS_DAY:%Y%m%d}{next(_numbers):06d}{customer.pk}",
        institution=customer.institution,
        branch=customer.branch,
        customer=customer,
        product=product,
        kind=kind,
        amount_requested=Decimal(amount),
        term_months=term_months,
        repayment_method=method,
        purpose="购买化肥和种子",
        state="approved",
        approved_amount=Decimal(amount),
        annual_rate=Decimal(annual_rate),
        apr=Decimal("4.35"),
    )


@pytest.fixture
def private_media(settings, tmp_path):
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    return settings.PRIVATE_MEDIA_ROOT

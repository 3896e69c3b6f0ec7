"""Lending test factories: products and disbursed loans built through the real services."""

import datetime as dt
from decimal import Decimal

import factory

from jikuai.core.workdays import business_date_set
from lending.models import Product
from lending.services import loan_create_and_disburse
from tests.factories import BranchFactory, InstitutionFactory, make_customer


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"P{n:04d}")
    name = factory.Sequence(lambda n: f"测试贷{n}")
    min_amount = Decimal("1000.00")
    max_amount = Decimal("500000.00")
    term_options = [1, 3, 6, 12, 24, 36]
    min_rate = Decimal("0.03")
    max_rate = Decimal("0.18")


def make_loan(
    *,
    principal="100000",
    annual_rate="0.06",
    months=12,
    method="equal_installment",
    value_date=dt.date(2026, 1, 15),
    product=None,
    customer=None,
    institution=None,
    branch=None,
    auto_debit=False,
    **product_fields,
):
    """A disbursed loan valued on ``value_date`` (the business date is set to it)."""
    business_date_set(day=value_date)
    if customer is None:
        if branch is None:
            branch = BranchFactory(institution=institution or InstitutionFactory())
        customer = make_customer(institution=branch.institution, branch=branch)
    product = product or ProductFactory(**product_fields)
    return loan_create_and_disburse(
        customer=customer,
        product=product,
        principal=principal,
        annual_rate=Decimal(annual_rate),
        term_months=months,
        method=method,
        auto_debit=auto_debit,
    )

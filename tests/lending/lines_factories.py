"""Factories for credit-line tests: a line product, a signed line application and an opened line."""

import datetime as dt
import secrets
from decimal import Decimal

from jikuai.core.workdays import business_date_set
from lending import corebanking
from lending.models import LoanApplication
from lending.services.lines import credit_line_open_for_application
from tests.factories import BranchFactory, make_customer
from tests.lending.factories import ProductFactory


def line_product(**fields):
    values = {
        "kind": "line",
        "revolving": True,
        "line_validity_months": 12,
        "term_options": [3, 6, 12],
        "allowed_methods": ["equal_installment", "equal_principal", "interest_only"],
    }
    values.update(fields)
    return ProductFactory(**values)


def signed_application(*, customer=None, product=None, amount="50000", rate="0.06", **product_fields):
    if customer is None:
        branch = BranchFactory()
        customer = make_customer(institution=branch.institution, branch=branch)
    product = product or line_product(**product_fields)
    return LoanApplication.objects.create(
        application_no=f"AP{secrets.token_hex(6).upper()}",
        institution_id=customer.institution_id,
        branch_id=customer.branch_id,
        customer=customer,
        product=product,
        kind="line",
        amount_requested=Decimal(amount),
        term_months=12,
        repayment_method="equal_installment",
        state="signed",
        approved_amount=Decimal(amount),
        annual_rate=Decimal(rate),
    )


def open_line(*, day=dt.date(2026, 3, 16), **kwargs):
    business_date_set(day=day)
    app = signed_application(**kwargs)
    return credit_line_open_for_application(application_id=app.pk)


def assert_balanced(line):
    line.refresh_from_db()
    assert line.limit == line.used + line.available
    assert line.used >= 0 and line.available >= 0
    return line


# core-banking adapters for failure paths (settings.JIKUAI_CORE_BANKING_ADAPTER = 'tests.lending.lines_factories.X')
class FailingAdapter(corebanking.LocalAdapter):
    def disburse(self, transfer):
        return corebanking.TransferResult(transfer.request_id, corebanking.FAILED, Decimal("0"), message="账户状态异常")


class PendingAdapter(corebanking.LocalAdapter):
    def disburse(self, transfer):
        return corebanking.TransferResult(transfer.request_id, corebanking.PENDING, Decimal("0"))


class UnreachableAdapter(corebanking.LocalAdapter):
    def disburse(self, transfer):
        raise corebanking.CoreBankingError("timeout")

"""Demo seed (idempotent, reconciled) and the facade other apps read."""

import datetime as dt
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from jikuai.core.demo import seed_kernel
from jikuai.core.workdays import business_date_set
from lending import facade
from lending.models import Loan, Product
from lending.services import run_cob
from tests.factories import BranchFactory, make_customer, make_staff
from tests.lending.factories import ProductFactory, make_loan

pytestmark = pytest.mark.django_db


def test_seed_demo_lending_is_idempotent_and_reconciled():
    business_date_set(day=dt.date(2026, 11, 20))
    seed_kernel(customers_per_bank=4, today=dt.date(2026, 11, 20))
    out = StringIO()
    call_command("seed_demo_lending", "--per-institution", "4", stdout=out)
    assert "ledger_reconciled: True" in out.getvalue()
    loans = Loan.objects.filter(contract_no__startswith="DEMO")
    assert Product.objects.filter(code__in=["jnkd", "gxd", "ydd", "tsd", "jld", "xyd", "jwkd"]).count() == 7
    assert loans.count() == 20
    assert {"active", "overdue", "settled"} <= set(loans.values_list("state", flat=True))
    assert loans.filter(customer__web_enabled=True).exists()  # the demo logins have loans to look at
    assert (
        loans.exclude(state="settled").filter(last_closed_business_date=dt.date(2026, 11, 19)).count()
        == loans.exclude(state="settled").count()
    )
    before = Loan.objects.count()
    call_command("seed_demo_lending", "--per-institution", "4", stdout=StringIO())
    assert Loan.objects.count() == before
    out = StringIO()
    call_command("reconcile_ledger", stdout=out)
    assert "ledger reconciles" in out.getvalue()


def test_portfolio_figures_and_loan_summaries():
    branch = BranchFactory()
    manager = make_staff(role=None, institution=branch.institution, branch=branch)
    customer = make_customer(branch=branch, account_manager=manager)
    product = ProductFactory(code="FAC1")
    good = make_loan(customer=customer, product=product, value_date=dt.date(2026, 1, 15), principal="60000")
    make_loan(
        customer=make_customer(branch=branch),
        product=product,
        value_date=dt.date(2026, 1, 15),
        principal="40000",
        method="equal_principal",
    )
    run_cob(until=dt.date(2026, 5, 20))  # both unpaid: overdue, the older installments beyond 90 days → 次级
    figures = facade.portfolio_figures(institution_id=branch.institution_id)
    assert figures.loans == 2 and figures.balance == Decimal("100000.00")
    assert figures.overdue_balance == Decimal("100000.00") and figures.overdue_rate == Decimal("1.0000")
    assert figures.npl_balance == Decimal("100000.00") and figures.npl_ratio == Decimal("1.0000")
    assert figures.disbursed_amount == Decimal("100000.00")
    mine = facade.portfolio_figures(staff_id=manager.pk)
    assert mine.loans == 1 and mine.balance == Decimal("60000.00")
    assert facade.portfolio_figures(branch_id=branch.pk, since=dt.date(2026, 2, 1)).disbursed_amount == 0
    [summary] = facade.loan_summaries_for_customer(customer.pk)
    assert summary.loan_id == good.pk and summary.product_code == "FAC1" and summary.state == "overdue"
    assert summary.loan_class == "substandard" and summary.dpd > 90
    with pytest.raises(AttributeError):
        summary.state = "active"  # frozen
    empty = facade.portfolio_figures(institution_id=999999)
    assert empty.loans == 0 and empty.overdue_rate == 0

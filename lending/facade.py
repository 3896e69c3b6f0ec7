"""lending facade: what other apps may read about loans (frozen dataclasses, never models).

``performance`` uses the portfolio figures (balances, overdue rate, NPL ratio per institution,
branch or staff member); customer-facing apps use the loan summaries.
"""

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, Q, Sum

from lending.models import NON_PERFORMING, Loan, LoanState

ZERO = Decimal("0.00")
OPEN_STATES = (LoanState.ACTIVE, LoanState.OVERDUE)


@dataclass(frozen=True)
class LoanSummary:
    loan_id: int
    contract_no: str
    product_code: str
    product_name: str
    principal: Decimal
    principal_outstanding: Decimal
    annual_rate: Decimal
    apr: Decimal
    method: str
    term_months: int
    value_date: dt.date | None
    maturity_date: dt.date | None
    state: str
    dpd: int
    loan_class: str
    branch_id: int | None
    account_manager_id: int | None


@dataclass(frozen=True)
class PortfolioFigures:
    loans: int
    balance: Decimal
    overdue_balance: Decimal
    npl_balance: Decimal
    overdue_rate: Decimal  # overdue balance / balance, 4 decimals (0.0123 = 1.23 %)
    npl_ratio: Decimal
    disbursed_amount: Decimal  # principal disbursed in [since, until] when given


def loan_summaries_for_customer(customer_id: int) -> list[LoanSummary]:
    rows = Loan.objects.filter(customer_id=customer_id).exclude(state=LoanState.PENDING).select_related("product").order_by("-id")
    return [
        LoanSummary(
            loan_id=loan.pk,
            contract_no=loan.contract_no,
            product_code=loan.product.code,
            product_name=loan.product.name,
            principal=loan.principal,
            principal_outstanding=loan.principal_outstanding,
            annual_rate=loan.annual_rate,
            apr=loan.apr,
            method=loan.method,
            term_months=loan.term_months,
            value_date=loan.value_date,
            maturity_date=loan.maturity_date,
            state=loan.state,
            dpd=loan.dpd,
            loan_class=loan.loan_class,
            branch_id=loan.branch_id,
            account_manager_id=loan.account_manager_id,
        )
        for loan in rows
    ]


def _ratio(part: Decimal, whole: Decimal) -> Decimal:
    if not whole:
        return Decimal("0.0000")
    return (part / whole).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def portfolio_figures(
    *,
    institution_id: int | None = None,
    branch_id: int | None = None,
    staff_id: int | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> PortfolioFigures:
    """Current balances of open loans (and loans disbursed between ``since`` and ``until``) for an
    institution, a branch or an account manager (attribution as recorded on the loan)."""
    loans = Loan.objects.all()
    if institution_id is not None:
        loans = loans.filter(institution_id=institution_id)
    if branch_id is not None:
        loans = loans.filter(branch_id=branch_id)
    if staff_id is not None:
        loans = loans.filter(account_manager_id=staff_id)
    figures = loans.filter(state__in=OPEN_STATES).aggregate(
        loans=Count("id"),
        balance=Sum("principal_outstanding"),
        overdue=Sum("principal_outstanding", filter=Q(state=LoanState.OVERDUE)),
        npl=Sum("principal_outstanding", filter=Q(loan_class__in=list(NON_PERFORMING))),
    )
    disbursed = loans.filter(disbursed_on__isnull=False)
    if since:
        disbursed = disbursed.filter(disbursed_on__gte=since)
    if until:
        disbursed = disbursed.filter(disbursed_on__lte=until)
    disbursed_amount = disbursed.aggregate(total=Sum("principal"))["total"] or ZERO
    balance = figures["balance"] or ZERO
    overdue = figures["overdue"] or ZERO
    npl = figures["npl"] or ZERO
    return PortfolioFigures(
        loans=figures["loans"] or 0,
        balance=balance,
        overdue_balance=overdue,
        npl_balance=npl,
        overdue_rate=_ratio(overdue, balance),
        npl_ratio=_ratio(npl, balance),
        disbursed_amount=disbursed_amount,
    )

"""Reads of the loan engine, scoped to the actor (customer, staff user or integrator institution)."""

from decimal import Decimal

from django.db.models import Count, Q, QuerySet, Sum

from jikuai.org.scoping import scope_queryset
from lending.models import NON_PERFORMING, Installment, Loan, LoanState, Repayment

ZERO = Decimal("0.00")
OPEN_STATES = (LoanState.ACTIVE, LoanState.OVERDUE)


def loan_list_for_customer(customer) -> QuerySet:
    return Loan.objects.filter(customer=customer).exclude(state=LoanState.PENDING).select_related("product").order_by("-id")


def loan_get_for_customer(customer, loan_id: int) -> Loan | None:
    return Loan.objects.filter(customer=customer, pk=loan_id).select_related("product").first()


def loan_list_for_institution(institution_id: int) -> QuerySet:
    return Loan.objects.filter(institution_id=institution_id).select_related("product")


def loan_list_for_staff(user) -> QuerySet:
    return scope_queryset(Loan.objects.all(), user).select_related("product", "customer", "branch", "institution")


def schedule_for(loan: Loan) -> QuerySet:
    return Installment.objects.filter(loan=loan, is_current=True).order_by("number")


def schedule_with_balances(loan: Loan) -> list[tuple[Installment, Decimal]]:
    """The current schedule with the principal left after each installment (the loan page, the receipt)."""
    balance = loan.principal
    rows = []
    for installment in schedule_for(loan):
        balance -= installment.principal
        rows.append((installment, balance))
    return rows


def repayments_for(loan: Loan) -> QuerySet:
    return Repayment.objects.filter(loan=loan).order_by("-value_date", "-id")


def portfolio_rows(queryset: QuerySet, *, by: tuple[str, ...]) -> list[dict]:
    """Balances of open loans grouped by ``by`` (e.g. ("loan_class",), ("product__name",))."""
    return list(
        queryset.filter(state__in=OPEN_STATES)
        .values(*by)
        .annotate(
            loans=Count("id"),
            balance=Sum("principal_outstanding"),
            overdue_loans=Count("id", filter=Q(state=LoanState.OVERDUE)),
            overdue_balance=Sum("principal_outstanding", filter=Q(state=LoanState.OVERDUE)),
            npl_balance=Sum("principal_outstanding", filter=Q(loan_class__in=list(NON_PERFORMING))),
        )
        .order_by(*by)
    )

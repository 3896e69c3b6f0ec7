"""Reads of credit lines and drawdowns, scoped to the actor (customer, staff user, integrator institution)."""

from django.db.models import QuerySet

from jikuai.org.scoping import scope_queryset
from lending.models import CreditLine, CreditLineChange, Drawdown


def credit_line_list_for_customer(customer) -> QuerySet:
    return CreditLine.objects.filter(customer=customer).select_related("product").order_by("-id")


def credit_line_get_for_customer(customer, line_id: int) -> CreditLine | None:
    return CreditLine.objects.filter(customer=customer, pk=line_id).select_related("product").first()


def credit_line_list_for_institution(institution_id: int) -> QuerySet:
    return CreditLine.objects.filter(institution_id=institution_id).select_related("product")


def credit_line_list_for_staff(user) -> QuerySet:
    return scope_queryset(CreditLine.objects.all(), user).select_related("product", "customer", "branch", "institution")


def drawdown_list_for_customer(customer) -> QuerySet:
    return Drawdown.objects.filter(customer=customer).select_related("line", "line__product", "loan").order_by("-id")


def drawdown_get_for_customer(customer, drawdown_id: int) -> Drawdown | None:
    return drawdown_list_for_customer(customer).filter(pk=drawdown_id).first()


def drawdown_list_for_institution(institution_id: int) -> QuerySet:
    return Drawdown.objects.filter(line__institution_id=institution_id).select_related("line", "loan")


def credit_line_changes(line: CreditLine, *, limit: int = 50) -> list[CreditLineChange]:
    return list(CreditLineChange.objects.filter(line=line).order_by("-id")[:limit])

"""Reads of origination (scoped): products on offer, applications of a customer, a staff member's or an
integrator's institution."""

from django.db.models import Q, QuerySet

from jikuai.core import refmemo
from jikuai.org.scoping import scope_queryset
from lending.models import LoanApplication, Product, ProductStatus


def product_list_for_customer(customer, *, channel: str = "web") -> list[Product]:
    """Products on sale to the customer's institution on ``channel`` (province-wide or the institution's)."""
    rows = Product.objects.filter(
        Q(institution__isnull=True) | Q(institution_id=customer.institution_id), status=ProductStatus.ACTIVE, is_active=True
    ).order_by("code")
    return [p for p in rows if channel in (p.channels or [])]


def product_list_for_institution(institution_id: int, *, channel: str | None = None) -> list[Product]:
    rows = Product.objects.filter(
        Q(institution__isnull=True) | Q(institution_id=institution_id), status=ProductStatus.ACTIVE, is_active=True
    ).order_by("code")
    return [p for p in rows if channel is None or channel in (p.channels or [])]


def product_on_sale(institution_id: int, code: str) -> Product | None:
    """The product with ``code`` (unique) on sale to the institution: its own or the union's shared one.
    Remembered per process under the reference generation (``jikuai.core.refmemo``; products are watched):
    the instance is shared, callers do not change it."""

    def load():
        return Product.objects.filter(
            Q(institution__isnull=True) | Q(institution_id=institution_id),
            code=code,
            status=ProductStatus.ACTIVE,
            is_active=True,
        ).first()

    return refmemo.memoized("product-on-sale", (institution_id, code), load, keep_none=False)


def product_get_for_customer(customer, code: str, *, channel: str = "web") -> Product | None:
    return next((p for p in product_list_for_customer(customer, channel=channel) if p.code == code), None)


def application_list_for_customer(customer) -> QuerySet:
    return LoanApplication.objects.filter(customer_id=customer.pk).select_related("product").order_by("-created_at", "-id")


def application_get_for_customer(customer, application_id: int) -> LoanApplication | None:
    return application_list_for_customer(customer).filter(pk=application_id).first()


def application_list_for_staff(user) -> QuerySet:
    """Applications the staff member may see (institution / branch / assigned account manager)."""
    return scope_queryset(LoanApplication.objects.all(), user).select_related("product", "customer", "branch")


def application_get_for_staff(user, application_id: int) -> LoanApplication | None:
    return application_list_for_staff(user).filter(pk=application_id).first()


def application_list_for_institution(institution_id: int) -> QuerySet:
    return LoanApplication.objects.filter(institution_id=institution_id).select_related("product")

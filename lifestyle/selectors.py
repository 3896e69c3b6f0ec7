"""lifestyle reads, each scoped to the actor who may see them."""

import datetime as dt

from django.db.models import CharField, DateField, F, IntegerField, Q, Sum, Value
from django.db.models.functions import Cast
from django.utils import timezone

from lifestyle.models import Benefit, Merchant, PointsAccount, PointsDebit, PointsLot, Voucher


def account_for(customer) -> PointsAccount | None:
    return PointsAccount.objects.filter(customer_id=customer.pk).first()


def points_summary(customer) -> dict:
    """Balance, pending, debt and the amounts expiring per date (active lots only)."""
    account = account_for(customer)
    if account is None:
        return {"balance": 0, "pending": 0, "debt": 0, "expiring": [], "account": None}
    pending = (
        PointsLot.objects.filter(account=account, status=PointsLot.Status.PENDING).aggregate(total=Sum("remaining"))["total"] or 0
    )
    expiring = list(
        PointsLot.objects.filter(account=account, status=PointsLot.Status.ACTIVE, remaining__gt=0)
        .values("expires_on")
        .annotate(points=Sum("remaining"))
        .order_by("expires_on")
    )
    return {
        "balance": account.balance,
        "pending": pending,
        "debt": account.debt,
        "expiring": [{"date": row["expires_on"], "points": row["points"]} for row in expiring],
        "account": account,
    }


def points_history(account: PointsAccount):
    """Every movement of one account, newest first: earnings (lots) and debits (spend, expiry, reversal, debt)."""
    credits = PointsLot.objects.filter(account=account).values_list(
        "earned_at",
        Cast("amount", IntegerField()),
        Value("earn", output_field=CharField()),
        "reason",
        "status",
        "expires_on",
        "rule_key",
        "id",
    )
    debits = PointsDebit.objects.filter(account=account).values_list(
        "created_at",
        Cast(-F("points"), IntegerField()),
        "kind",
        "reason",
        Value("", output_field=CharField()),
        Value(None, output_field=DateField()),
        Value("", output_field=CharField()),
        "id",
    )
    return credits.union(debits, all=True).order_by("-earned_at", "-id")


def history_rows(rows) -> list[dict]:
    kinds = dict(PointsDebit.Kind.choices) | {"earn": "获得 earn"}
    statuses = dict(PointsLot.Status.choices)
    out = []
    for at, points, kind, reason, status, expires_on, rule_key, row_id in rows:
        out.append(
            {
                "at": at,
                "points": points,
                "kind": kind,
                "kind_label": kinds.get(kind, kind).split(" ")[0],
                "reason": reason,
                "status": status,
                "status_label": statuses.get(status, "").split(" ")[0] if status else "",
                "expires_on": expires_on,
                "rule_code": rule_key,
                "id": row_id,
            }
        )
    return out


def benefits_for_customer(customer, *, now: dt.datetime | None = None):
    now = now or timezone.now()
    return (
        Benefit.objects.filter(institution_id=customer.institution_id, is_active=True, available_from__lte=now)
        .filter(Q(available_to__isnull=True) | Q(available_to__gt=now))
        .prefetch_related("merchants")
        .order_by("points_price", "id")
    )


def vouchers_for_customer(customer):
    return Voucher.objects.filter(customer=customer).select_related("benefit", "redeemed_merchant").order_by("-issued_at")


def merchants_directory(*, institution_id: int, region_code: str = "", category: str = ""):
    """Active merchants of the institution by region (prefix of the region code) and category (map-free)."""
    queryset = Merchant.objects.filter(institution_id=institution_id, state=Merchant.State.ACTIVE).select_related("region")
    if region_code:
        queryset = queryset.filter(region__code__startswith=region_code)
    if category:
        queryset = queryset.filter(category=category)
    return queryset.order_by("region__code", "category", "name")

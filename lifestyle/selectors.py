"""lifestyle reads, each scoped to the actor who may see them."""

import datetime as dt

from django.db.models import CharField, DateField, F, IntegerField, Q, Sum, Value
from django.db.models.functions import Cast
from django.utils import timezone

from jikuai.core.labels import pick
from lifestyle import reasons
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


_HISTORY_COLUMNS = [
    "h_at",
    "h_points",
    "h_kind",
    "h_reason",
    "h_status",
    "h_expires_on",
    "h_rule",
    "h_voucher",
    "h_id",
    "h_reference",
    # the lot itself for an earning; for a debit, the lot a reversal or debt settlement belongs to (else NULL)
    "h_lot_reason",
    "h_lot_source",
    "h_lot_source_ref",
    "h_lot_period",
    "h_lot_reference",
]


def points_history(account: PointsAccount):
    """Every movement of one account, newest first: earnings (lots) and debits (spend, expiry, reversal, debt).
    Both sides annotate the same columns in the same order, so the UNION lines up. The structured columns
    (reference, the lot's source, source reference and period) let ``history_rows`` word the reason in the
    reader's language (``lifestyle.reasons``)."""
    credits = (
        PointsLot.objects.filter(account=account)
        .annotate(
            h_at=F("earned_at"),
            h_points=Cast("amount", IntegerField()),
            h_kind=Value("earn", output_field=CharField()),
            h_reason=F("reason"),
            h_status=F("status"),
            h_expires_on=F("expires_on"),
            h_rule=F("rule_key"),
            h_voucher=Value(None, output_field=IntegerField()),
            h_id=F("id"),
            h_reference=F("reference"),
            h_lot_reason=F("reason"),
            h_lot_source=F("source"),
            h_lot_source_ref=F("source_ref"),
            h_lot_period=F("period"),
            h_lot_reference=F("reference"),
        )
        .values_list(*_HISTORY_COLUMNS)
    )
    debits = (
        PointsDebit.objects.filter(account=account)
        .annotate(
            h_at=F("created_at"),
            h_points=Cast(-F("points"), IntegerField()),
            h_kind=F("kind"),
            h_reason=F("reason"),
            h_status=Value("", output_field=CharField()),
            h_expires_on=Value(None, output_field=DateField()),
            h_rule=Value("", output_field=CharField()),
            h_voucher=F("voucher_id"),
            h_id=F("id"),
            h_reference=F("reference"),
            h_lot_reason=F("lot__reason"),
            h_lot_source=F("lot__source"),
            h_lot_source_ref=F("lot__source_ref"),
            h_lot_period=F("lot__period"),
            h_lot_reference=F("lot__reference"),
        )
        .values_list(*_HISTORY_COLUMNS)
    )
    return credits.union(debits, all=True).order_by("-h_at", "-h_id")


def history_rows(rows) -> list[dict]:
    """Rows of ``points_history`` as dicts, with the merchant where a spent voucher was used (one query).
    ``reason`` is worded in the current language; ``reason_recorded`` is the stored Chinese text (the record)."""
    kinds = dict(PointsDebit.Kind.choices) | {"earn": "获得 earn"}
    statuses = dict(PointsLot.Status.choices)
    rows = list(rows)
    voucher_ids = [row[7] for row in rows if row[7]]
    merchants = dict(
        Voucher.objects.filter(pk__in=voucher_ids, redeemed_merchant__isnull=False).values_list("pk", "redeemed_merchant__name")
    )
    out = []
    for at, points, kind, reason, status, expires_on, rule_key, voucher_id, row_id, reference, *lot_columns in rows:
        lot_reason, lot_source, lot_source_ref, lot_period, lot_reference = lot_columns
        lot = None
        if lot_reason is not None:
            lot = {
                "reason": lot_reason,
                "source": lot_source,
                "source_ref": lot_source_ref,
                "period": lot_period,
                "reference": lot_reference,
            }
        if kind == "earn":
            shown = reasons.lot_reason(**lot)
        else:
            shown = reasons.debit_reason(reason=reason, kind=kind, reference=reference, lot=lot)
        out.append(
            {
                "at": at,
                "points": points,
                "kind": kind,
                "kind_label": pick(kinds.get(kind, kind)),
                "reason": shown,
                "reason_recorded": reason,
                "status": status,
                "status_label": pick(statuses.get(status, "")) if status else "",
                "expires_on": expires_on,
                "rule_code": rule_key,
                "merchant": merchants.get(voucher_id, ""),
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

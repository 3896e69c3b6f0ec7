"""Ledger reconciliation (积分对账) and the daily settlement check, set-based SQL on both databases."""

import datetime as dt
import logging
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import Count, Sum
from django.utils import timezone

from lifestyle.models import (
    LedgerLeg,
    PayableLine,
    PointsAccount,
    PointsLot,
    ReconciliationReport,
    SettlementBatch,
    Voucher,
)

logger = logging.getLogger(__name__)
MAX_DETAILS = 200


@dataclass
class PointsCheck:
    ok: bool = True
    accounts_checked: int = 0
    mismatches: list[dict] = field(default_factory=list)
    totals: dict = field(default_factory=dict)


def _fetch(sql: str, params: list | None = None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchall()


def points_check(*, account_ids: list[int] | None = None) -> PointsCheck:
    """Σ active lots remaining = balance = −Σ liability legs, and debt = Σ receivable legs, per account; every
    entry sums to zero; the pending, voucher and payable control books agree with their sub-ledgers."""
    accounts = PointsAccount._meta.db_table
    lots = PointsLot._meta.db_table
    legs = LedgerLeg._meta.db_table
    result = PointsCheck()
    where = ""
    params: list = []
    if account_ids is not None:
        if not account_ids:
            account_ids = [-1]
        where = " WHERE a.id IN (" + ",".join(["%s"] * len(account_ids)) + ")"
        params = list(account_ids)
    rows = _fetch(
        f"SELECT a.id, a.balance, a.debt, COALESCE(l.total, 0), COALESCE(g.liability, 0), COALESCE(g.receivable, 0) "  # noqa: S608
        f"FROM {accounts} a "
        f"LEFT JOIN (SELECT account_id, SUM(remaining) AS total FROM {lots} WHERE status = 'active' GROUP BY account_id) l "
        "ON l.account_id = a.id "
        f"LEFT JOIN (SELECT account_id, -SUM(CASE WHEN book = 'liability' THEN points ELSE 0 END) AS liability, "
        f"SUM(CASE WHEN book = 'receivable' THEN points ELSE 0 END) AS receivable FROM {legs} "
        "WHERE account_id IS NOT NULL GROUP BY account_id) g ON g.account_id = a.id"
        f"{where}",
        params,
    )
    result.accounts_checked = len(rows)
    balance_total = debt_total = 0
    for account_id, balance, debt, lot_total, liability, receivable in rows:
        balance_total += balance
        debt_total += debt
        if not (balance == lot_total == liability and debt == receivable):
            result.mismatches.append(
                {
                    "account_id": account_id,
                    "balance": balance,
                    "lots_remaining": int(lot_total),
                    "liability_legs": int(liability),
                    "debt": debt,
                    "receivable_legs": int(receivable),
                }
            )
    if account_ids is None:
        unbalanced = _fetch(f"SELECT entry_id, SUM(points) FROM {legs} GROUP BY entry_id HAVING SUM(points) <> 0")  # noqa: S608
        for entry_id, total in unbalanced[:MAX_DETAILS]:
            result.mismatches.append({"entry_id": entry_id, "legs_sum": int(total)})
        books = dict(LedgerLeg.objects.values_list("book").annotate(total=Sum("points")).values_list("book", "total"))
        pending_lots = PointsLot.objects.filter(status=PointsLot.Status.PENDING).aggregate(total=Sum("remaining"))["total"] or 0
        issued = Voucher.objects.filter(status=Voucher.Status.ISSUED).aggregate(total=Sum("points"))["total"] or 0
        unpaid_lines = (
            PayableLine.objects.exclude(batch__state=SettlementBatch.State.PAID).aggregate(total=Sum("points"))["total"] or 0
        )
        controls = {
            "pending": (pending_lots, -(books.get("pending") or 0)),
            "vouchers": (issued, -(books.get("vouchers") or 0)),
            "payable": (unpaid_lines, -(books.get("payable") or 0)),
        }
        for name, (sub_ledger, book) in controls.items():
            if sub_ledger != book:
                result.mismatches.append({"control": name, "sub_ledger": int(sub_ledger), "book": int(book)})
        result.totals = {
            "balance": int(balance_total),
            "debt": int(debt_total),
            "pending": int(pending_lots),
            "vouchers_outstanding": int(issued),
            "payable_unpaid": int(unpaid_lines),
            "books": {k: int(v or 0) for k, v in books.items()},
            "all_legs_sum": int(sum(v or 0 for v in books.values())),
        }
        if result.totals["all_legs_sum"] != 0:
            result.mismatches.append({"all_legs_sum": result.totals["all_legs_sum"]})
    result.ok = not result.mismatches
    return result


def reconcile_points(*, run_date: dt.date | None = None) -> ReconciliationReport:
    check = points_check()
    report = ReconciliationReport.objects.create(
        kind=ReconciliationReport.Kind.POINTS,
        run_date=run_date or timezone.localdate(),
        ok=check.ok,
        accounts_checked=check.accounts_checked,
        mismatches=len(check.mismatches),
        totals=check.totals,
        details=check.mismatches[:MAX_DETAILS],
    )
    if not check.ok:
        logger.error("points reconciliation: %s mismatches", len(check.mismatches))
    return report


def settlement_check(*, run_date: dt.date | None = None) -> ReconciliationReport:
    """Daily check: Σ redeemed vouchers = Σ redemption payable lines (count and points), and every reversed
    redemption has its negative line — overall and per merchant."""
    run_date = run_date or timezone.localdate()
    redeemed_states = [Voucher.Status.REDEEMED, Voucher.Status.REVERSED]
    vouchers = {
        row["redeemed_merchant"]: (row["n"], row["points"] or 0)
        for row in Voucher.objects.filter(status__in=redeemed_states)
        .values("redeemed_merchant")
        .annotate(n=Count("id"), points=Sum("points"))
    }
    lines = {
        row["merchant"]: (row["n"], row["points"] or 0)
        for row in PayableLine.objects.filter(kind=PayableLine.Kind.REDEMPTION)
        .values("merchant")
        .annotate(n=Count("id"), points=Sum("points"))
    }
    reversed_vouchers = Voucher.objects.filter(status=Voucher.Status.REVERSED).count()
    reversal_lines = PayableLine.objects.filter(kind=PayableLine.Kind.REVERSAL).count()
    details = []
    for merchant_id in sorted(set(vouchers) | set(lines), key=lambda x: x or 0):
        if vouchers.get(merchant_id, (0, 0)) != lines.get(merchant_id, (0, 0)):
            details.append(
                {
                    "merchant_id": merchant_id,
                    "vouchers": vouchers.get(merchant_id, (0, 0)),
                    "lines": lines.get(merchant_id, (0, 0)),
                }
            )
    if reversed_vouchers != reversal_lines:
        details.append({"reversed_vouchers": reversed_vouchers, "reversal_lines": reversal_lines})
    totals = {
        "redeemed_vouchers": sum(v[0] for v in vouchers.values()),
        "redeemed_points": int(sum(v[1] for v in vouchers.values())),
        "payable_lines": sum(v[0] for v in lines.values()),
        "payable_points": int(sum(v[1] for v in lines.values())),
        "payable_amount": str(PayableLine.objects.aggregate(total=Sum("amount"))["total"] or 0),
        "reversals": reversal_lines,
    }
    return ReconciliationReport.objects.create(
        kind=ReconciliationReport.Kind.SETTLEMENT,
        run_date=run_date,
        ok=not details,
        accounts_checked=len(set(vouchers) | set(lines)),
        mismatches=len(details),
        totals=totals,
        details=details[:MAX_DETAILS],
    )

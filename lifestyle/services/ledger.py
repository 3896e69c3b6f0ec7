"""Points ledger writes: lots, debits allocated to lots, balanced postings, expiry, activation, reversal.

Locking rule: every change to an account's lots first updates (and so row-locks) the account row; the account
row is the mutex for its lots. Lock order: account → campaign/benefit. Every function here runs inside the
caller's transaction or opens its own short one.
"""

import datetime as dt
import json
import logging
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Case, F, Sum, When
from django.utils import timezone

from jikuai.core.exceptions import ApplicationError, Conflict
from lifestyle import reasons
from lifestyle.models import (
    LedgerEntry,
    LedgerLeg,
    PointsAccount,
    PointsAllocation,
    PointsDebit,
    PointsLot,
)

logger = logging.getLogger(__name__)

Book = LedgerLeg.Book


class InsufficientPoints(ApplicationError):
    code = "insufficient_points"
    status = 409


class LedgerUnbalanced(Exception):
    """A posting whose legs do not sum to zero: a programming error, never shown to users."""


@dataclass(frozen=True)
class Leg:
    book: str
    points: int
    account_id: int | None = None
    merchant_id: int | None = None
    funding_source: str = ""


def post_entry(*, kind: str, legs: list[Leg], memo: str = "", business_key: str | None = None) -> int | None:
    """Write one balanced entry; returns its id. Zero legs are dropped; an entry with nothing left is not written.

    The sum check here is what protects SQLite; on PostgreSQL a deferred constraint trigger checks again at
    commit. On PostgreSQL the entry and its legs go in one statement (a data-modifying CTE)."""
    legs = [leg for leg in legs if leg.points]
    if not legs:
        return None
    total = sum(leg.points for leg in legs)
    if total != 0:
        raise LedgerUnbalanced(f"entry {kind} legs sum to {total}: {legs}")
    memo = memo[:200]
    if connection.vendor == "postgresql":
        values = ",".join(["(%s, %s::bigint, %s::bigint, %s, %s::bigint)"] * len(legs))
        params: list = [kind, memo, business_key, timezone.now()]
        for leg in legs:
            params += [leg.book, leg.account_id, leg.merchant_id, leg.funding_source, leg.points]
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH entry AS (INSERT INTO {LedgerEntry._meta.db_table} (kind, memo, business_key, created_at) "  # noqa: S608
                "VALUES (%s, %s, %s, %s) RETURNING id), "
                f"legs AS (INSERT INTO {LedgerLeg._meta.db_table} (entry_id, book, account_id, merchant_id, funding_source, points) "
                f"SELECT entry.id, v.book, v.account_id, v.merchant_id, v.funding_source, v.points FROM entry, (VALUES {values}) "
                "AS v(book, account_id, merchant_id, funding_source, points)) SELECT id FROM entry",
                params,
            )
            return cursor.fetchone()[0]
    entry = LedgerEntry.objects.create(kind=kind, memo=memo, business_key=business_key)
    LedgerLeg.objects.bulk_create(
        [
            LedgerLeg(
                entry=entry,
                book=leg.book,
                points=leg.points,
                account_id=leg.account_id,
                merchant_id=leg.merchant_id,
                funding_source=leg.funding_source,
            )
            for leg in legs
        ]
    )
    return entry.pk


def db_datetime(value):
    """A datetime as the backend stores it, for raw SQL parameters (SQLite keeps naive UTC text)."""
    return connection.ops.adapt_datetimefield_value(value)


def db_date(value):
    return connection.ops.adapt_datefield_value(value)


def account_get_or_create(*, customer) -> PointsAccount:
    account = PointsAccount.objects.filter(customer_id=customer.pk).first()
    if account is not None:
        return account
    with transaction.atomic():
        account, _ = PointsAccount.objects.get_or_create(
            customer_id=customer.pk, defaults={"institution_id": customer.institution_id, "branch_id": customer.branch_id}
        )
    return account


def account_lock(account_id: int) -> PointsAccount:
    return PointsAccount.objects.select_for_update(no_key=True).get(pk=account_id)


def _guarded_debit_balance(account_id: int, points: int) -> bool:
    """``UPDATE … SET balance = balance - x WHERE balance >= x``: the one guard against overspending.

    It also row-locks the account until commit, which serialises everything else done to its lots."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {PointsAccount._meta.db_table} SET balance = balance - %s, updated_at = %s WHERE id = %s AND balance >= %s",  # noqa: S608
            [points, db_datetime(timezone.now()), account_id, points],
        )
        return cursor.rowcount == 1


def _allocate(account_id: int, points: int, *, statuses=(PointsLot.Status.ACTIVE,)) -> list[tuple[int, int]]:
    """Pick lots by earliest expiry then id until ``points`` are covered; returns [(lot_id, take)]."""
    taken: list[tuple[int, int]] = []
    need = points
    batch = 8
    offset = 0
    while need > 0:
        rows = list(
            PointsLot.objects.filter(account_id=account_id, status__in=statuses, remaining__gt=0)
            .order_by("expires_on", "id")
            .values_list("id", "remaining")[offset : offset + batch]
        )
        if not rows:
            break
        for lot_id, remaining in rows:
            take = min(remaining, need)
            taken.append((lot_id, take))
            need -= take
            if need == 0:
                break
        offset += batch
        batch *= 4
    if need > 0:
        # the guarded balance update succeeded, so the lots must cover it: the invariant is broken
        raise Conflict("积分批次与余额不符，请联系管理员。", "lots do not cover the balance", code="ledger_inconsistent")
    return taken


def _reduce_lots(taken: list[tuple[int, int]]) -> None:
    if len(taken) == 1:
        lot_id, take = taken[0]
        PointsLot.objects.filter(pk=lot_id).update(remaining=F("remaining") - take)
        return
    PointsLot.objects.filter(pk__in=[lot_id for lot_id, _ in taken]).update(
        remaining=Case(*[When(pk=lot_id, then=F("remaining") - take) for lot_id, take in taken])
    )


def _write_debit(*, account_id: int, kind: str, taken: list[tuple[int, int]], reason: str, **extra) -> PointsDebit:
    debit = PointsDebit.objects.create(
        account_id=account_id, kind=kind, points=sum(t for _, t in taken), reason=reason[:200], **extra
    )
    PointsAllocation.objects.bulk_create([PointsAllocation(debit=debit, lot_id=lot_id, points=take) for lot_id, take in taken])
    return debit


# PostgreSQL: allocation by earliest expiry then id, the lot updates, the debit and its allocation rows in one
# statement. It runs right after the guarded balance UPDATE, i.e. while this transaction holds the account row,
# and every change to an account's lots takes that row first, so the statement's snapshot sees current lots.
_ALLOCATE_SQL = """
WITH ordered AS (
    SELECT id, remaining, SUM(remaining) OVER (ORDER BY expires_on, id) - remaining AS before
    FROM {lots} WHERE account_id = %(account)s AND status = 'active' AND remaining > 0
), take AS (
    SELECT id, LEAST(remaining, %(points)s - before) AS take FROM ordered WHERE before < %(points)s
), reduced AS (
    UPDATE {lots} AS lot SET remaining = lot.remaining - take.take FROM take WHERE lot.id = take.id
    RETURNING lot.id, take.take
), debit AS (
    INSERT INTO {debits} (account_id, kind, points, reason, voucher_id, lot_id, reference, created_at)
    VALUES (%(account)s, %(kind)s, %(points)s, %(reason)s, %(voucher)s, NULL, %(reference)s, %(now)s) RETURNING id
), allocated AS (
    INSERT INTO {allocations} (debit_id, lot_id, points) SELECT debit.id, reduced.id, reduced.take FROM debit, reduced
    RETURNING points
)
SELECT (SELECT id FROM debit), (SELECT COALESCE(SUM(points), 0) FROM allocated)
"""


def points_spend(*, account_id: int, points: int, reason: str, voucher=None, reference: dict | None = None) -> int:
    """Spend ``points`` from the account into the vouchers-outstanding book (inside the caller's transaction);
    returns the debit id. Refused, with nothing written, when the balance is short — also when two devices
    spend concurrently (the guarded UPDATE is the only check; the CHECK constraint is the backstop)."""
    if points <= 0:
        raise ApplicationError("积分数量必须大于0。", "points must be positive", code="invalid_points")
    # the posting needs no lock, so it goes first and the account row is held as briefly as possible
    post_entry(
        kind=LedgerEntry.Kind.VOUCHER_ISSUE,
        legs=[Leg(Book.LIABILITY, points, account_id=account_id), Leg(Book.VOUCHERS, -points)],
        memo=reason,
    )
    if not _guarded_debit_balance(account_id, points):
        balance = PointsAccount.objects.filter(pk=account_id).values_list("balance", flat=True).first() or 0
        raise InsufficientPoints(
            f"积分不足：需要 {points} 分，可用 {balance} 分。",
            f"not enough points: need {points}, available {balance}",
            extra={"needed": points, "available": balance},
        )
    if connection.vendor == "postgresql":
        sql = _ALLOCATE_SQL.format(
            lots=PointsLot._meta.db_table, debits=PointsDebit._meta.db_table, allocations=PointsAllocation._meta.db_table
        )
        with connection.cursor() as cursor:
            cursor.execute(
                sql,
                {
                    "account": account_id,
                    "points": points,
                    "kind": PointsDebit.Kind.SPEND.value,
                    "reason": reason[:200],
                    "voucher": getattr(voucher, "pk", None),
                    "reference": json.dumps(reference or {}),
                    "now": timezone.now(),
                },
            )
            debit_id, allocated = cursor.fetchone()
        if allocated != points:
            raise Conflict("积分批次与余额不符，请联系管理员。", "lots do not cover the balance", code="ledger_inconsistent")
        return debit_id
    taken = _allocate(account_id, points)
    _reduce_lots(taken)
    debit = _write_debit(
        account_id=account_id, kind=PointsDebit.Kind.SPEND, taken=taken, reason=reason, voucher=voucher, reference=reference or {}
    )
    return debit.pk


def _settle_debt_from_lot(account: PointsAccount, lot: PointsLot) -> int:
    """Use a newly active lot to repay the account's debt first; returns the points used."""
    if account.debt <= 0 or lot.remaining <= 0:
        return 0
    settle = min(account.debt, lot.remaining)
    PointsLot.objects.filter(pk=lot.pk).update(remaining=F("remaining") - settle)
    lot.remaining -= settle
    PointsAccount.objects.filter(pk=account.pk).update(debt=F("debt") - settle)
    account.debt -= settle
    _write_debit(
        account_id=account.pk,
        kind=PointsDebit.Kind.DEBT_SETTLEMENT,
        taken=[(lot.pk, settle)],
        reason=reasons.chinese("debt_settled", earning=lot.reason),
        lot=lot,
    )
    post_entry(
        kind=LedgerEntry.Kind.DEBT_SETTLE,
        legs=[Leg(Book.LIABILITY, settle, account_id=account.pk), Leg(Book.RECEIVABLE, -settle, account_id=account.pk)],
        memo=f"lot {lot.pk} settles debt",
    )
    return settle


def lot_credit_active(*, account: PointsAccount, lot: PointsLot) -> None:
    """A lot that has just become spendable (created active or activated): settle debt, then add the rest
    to the balance. The account must be locked by the caller."""
    _settle_debt_from_lot(account, lot)
    if lot.remaining:
        PointsAccount.objects.filter(pk=account.pk).update(balance=F("balance") + lot.remaining, updated_at=timezone.now())
        account.balance += lot.remaining


def earn_legs(*, lot: PointsLot) -> list[Leg]:
    target = Leg(Book.PENDING, -lot.amount) if lot.status == PointsLot.Status.PENDING else None
    legs = [
        Leg(Book.EXPENSE, lot.base_points, funding_source=lot.funding_source),
        Leg(Book.EXPENSE, lot.campaign_points, funding_source=lot.campaign_funding_source),
    ]
    legs.append(target or Leg(Book.LIABILITY, -lot.amount, account_id=lot.account_id))
    return legs


def lots_activate_due(*, now: dt.datetime | None = None, chunk: int = 1000) -> int:
    """Pending lots whose hold period has ended become active (待生效 → 生效), chunk by chunk: the chunk's
    accounts are locked in id order, lots flipped with one UPDATE, balances raised with one UPDATE, one posting
    per chunk (pending → each account's liability). Accounts with debt settle it first, one by one."""
    now = now or timezone.now()
    activated = 0
    while True:
        with transaction.atomic():
            due = list(
                PointsLot.objects.filter(status=PointsLot.Status.PENDING, activates_at__lte=now)
                .order_by("id")
                .values_list("id", "account_id")[:chunk]
            )
            if not due:
                return activated
            account_ids = sorted({account_id for _, account_id in due})
            accounts = {
                a.pk: a for a in PointsAccount.objects.select_for_update(no_key=True).filter(pk__in=account_ids).order_by("pk")
            }
            lot_ids = [lot_id for lot_id, _ in due]
            # re-read under the locks: a concurrent reversal may have cancelled some
            lots = list(PointsLot.objects.filter(pk__in=lot_ids, status=PointsLot.Status.PENDING).order_by("id"))
            PointsLot.objects.filter(pk__in=[lot.pk for lot in lots]).update(status=PointsLot.Status.ACTIVE)
            plain: dict[int, int] = {}
            legs = []
            for lot in lots:
                lot.status = PointsLot.Status.ACTIVE
                legs.append(Leg(Book.LIABILITY, -lot.remaining, account_id=lot.account_id))
                account = accounts[lot.account_id]
                if account.debt > 0:
                    lot_credit_active(account=account, lot=lot)
                else:
                    plain[lot.account_id] = plain.get(lot.account_id, 0) + lot.remaining
            total = -sum(leg.points for leg in legs)
            post_entry(
                kind=LedgerEntry.Kind.ACTIVATE,
                legs=[Leg(Book.PENDING, total), *legs],
                memo=f"{len(lots)} lots active",
            )
            if plain:
                PointsAccount.objects.filter(pk__in=list(plain)).update(
                    balance=Case(*[When(pk=pk, then=F("balance") + amount) for pk, amount in plain.items()]),
                    updated_at=now,
                )
            activated += len(lots)


def lots_expire_due(*, today: dt.date | None = None, chunk: int = 1000) -> dict:
    """Expire what is left of active lots whose validity ended (explicit debits to breakage), account by
    account, one short transaction per chunk of accounts."""
    today = today or timezone.localdate()
    totals = {"accounts": 0, "lots": 0, "points": 0}
    while True:
        account_ids = list(
            PointsLot.objects.filter(status=PointsLot.Status.ACTIVE, remaining__gt=0, expires_on__lt=today)
            .order_by("account_id")
            .values_list("account_id", flat=True)
            .distinct()[:chunk]
        )
        if not account_ids:
            return totals
        with transaction.atomic():
            for account_id in account_ids:
                lots_points = _expire_account(account_id, today)
                totals["accounts"] += 1
                totals["lots"] += lots_points[0]
                totals["points"] += lots_points[1]


def _expire_account(account_id: int, today: dt.date) -> tuple[int, int]:
    account = account_lock(account_id)
    rows = list(
        PointsLot.objects.filter(account_id=account_id, status=PointsLot.Status.ACTIVE, remaining__gt=0, expires_on__lt=today)
        .order_by("expires_on", "id")
        .values_list("id", "remaining")
    )
    expired_empty = PointsLot.objects.filter(
        account_id=account_id, status=PointsLot.Status.ACTIVE, remaining=0, expires_on__lt=today
    ).update(status=PointsLot.Status.EXPIRED)
    if not rows:
        return expired_empty, 0
    total = sum(r for _, r in rows)
    if not _guarded_debit_balance(account_id, total):
        raise Conflict("过期积分超过余额，账本不一致。", "expiring points exceed balance", code="ledger_inconsistent")
    PointsLot.objects.filter(pk__in=[lot_id for lot_id, _ in rows]).update(remaining=0, status=PointsLot.Status.EXPIRED)
    _write_debit(account_id=account_id, kind=PointsDebit.Kind.EXPIRE, taken=rows, reason=reasons.chinese("expired"))
    post_entry(
        kind=LedgerEntry.Kind.EXPIRE,
        legs=[Leg(Book.LIABILITY, total, account_id=account.pk), Leg(Book.BREAKAGE, -total)],
        memo=f"{len(rows)} lots expired {today}",
    )
    return len(rows) + expired_empty, total


def lot_reverse(*, lot_id: int, reason: str, actor=None) -> PointsLot:
    """Reverse an earning (撤销奖励): claw back what remains; what the customer already used (spent or used to
    repay debt) becomes debt repaid first by later earnings; the campaign budget comes back. Idempotent."""
    from lifestyle.models import Campaign

    with transaction.atomic():
        account_id = PointsLot.objects.values_list("account_id", flat=True).get(pk=lot_id)
        account = account_lock(account_id)
        lot = PointsLot.objects.get(pk=lot_id)
        if lot.status == PointsLot.Status.CANCELLED:
            return lot
        used_by_kind = dict(
            PointsAllocation.objects.filter(lot_id=lot.pk)
            .values_list("debit__kind")
            .annotate(total=Sum("points"))
            .values_list("debit__kind", "total")
        )
        used = used_by_kind.get(PointsDebit.Kind.SPEND, 0) + used_by_kind.get(PointsDebit.Kind.DEBT_SETTLEMENT, 0)
        expired = used_by_kind.get(PointsDebit.Kind.EXPIRE, 0)
        remaining = lot.remaining
        was_pending = lot.status == PointsLot.Status.PENDING
        if remaining:
            if not was_pending and not _guarded_debit_balance(account.pk, remaining):
                raise Conflict("撤销积分超过余额，账本不一致。", "reversal exceeds balance", code="ledger_inconsistent")
            PointsLot.objects.filter(pk=lot.pk).update(remaining=0)
            if actor is not None:
                text, why = reasons.record("reward_reversed_by", note=reason, staff=actor.get_username())
            else:
                text, why = reasons.record("reward_reversed", note=reason)
            _write_debit(
                account_id=account.pk,
                kind=PointsDebit.Kind.REVERSAL,
                taken=[(lot.pk, remaining)],
                reason=text,
                lot=lot,
                reference={"actor_id": getattr(actor, "pk", None), **why},
            )
        if used:
            PointsAccount.objects.filter(pk=account.pk).update(debt=F("debt") + used, updated_at=timezone.now())
        PointsLot.objects.filter(pk=lot.pk).update(status=PointsLot.Status.CANCELLED)
        legs = [
            Leg(Book.EXPENSE, -lot.base_points, funding_source=lot.funding_source),
            Leg(Book.EXPENSE, -lot.campaign_points, funding_source=lot.campaign_funding_source),
            Leg(Book.RECEIVABLE, used, account_id=account.pk),
            Leg(Book.BREAKAGE, expired),
        ]
        legs.append(Leg(Book.PENDING, remaining) if was_pending else Leg(Book.LIABILITY, remaining, account_id=account.pk))
        post_entry(kind=LedgerEntry.Kind.REVERSE, legs=legs, memo=f"reverse lot {lot.pk}: {reason}")
        if lot.campaign_id and lot.campaign_points:
            Campaign.objects.filter(pk=lot.campaign_id).update(budget_used=F("budget_used") - lot.campaign_points)
        lot.refresh_from_db()
        logger.info("points lot %s reversed: remaining %s clawed back, %s to debt", lot.pk, remaining, used)
        return lot


def vendor_is_postgresql() -> bool:
    return connection.vendor == "postgresql"

"""Merchant settlement (商户结算): batches per merchant and period, statements, confirm / dispute, payout."""

import datetime as dt
import hashlib
import logging
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone
from django_fsm import can_proceed

from jikuai.core.exceptions import ApplicationError, Conflict, NotFound
from jikuai.core.money import round_fen
from jikuai.core.workdays import get_business_date
from jikuai.org import roles
from lifestyle import payouts
from lifestyle.models import LedgerEntry, Merchant, PayableLine, ReviewTask, SettlementBatch
from lifestyle.pdf import statement_pdf
from lifestyle.services.ledger import Book, Leg, post_entry
from lifestyle.services.merchants import _due_at
from lifestyle.services.uploads import private_store

logger = logging.getLogger(__name__)
AUTO_CONFIRM_DAYS = 3


def period_due(cycle: str, business_date: dt.date) -> tuple[dt.date, dt.date] | None:
    """The period a merchant on ``cycle`` settles on ``business_date`` (None when nothing is due today).
    T+1: yesterday; weekly (on Mondays): last Monday–Sunday; monthly (on the 1st): last month."""
    yesterday = business_date - dt.timedelta(days=1)
    if cycle == Merchant.Cycle.T1:
        return yesterday, yesterday
    if cycle == Merchant.Cycle.WEEKLY:
        if business_date.weekday() != 0:
            return None
        return yesterday - dt.timedelta(days=6), yesterday
    if cycle == Merchant.Cycle.MONTHLY:
        if business_date.day != 1:
            return None
        return yesterday.replace(day=1), yesterday
    raise ValueError(cycle)


def settlement_batch_create(*, merchant_id: int, period_start: dt.date, period_end: dt.date) -> SettlementBatch | None:
    """Collect the merchant's unbatched lines up to ``period_end`` (older carried-over lines and negative reversal
    lines included) into one batch with its statement. Nothing is created when there are no lines or the total
    is negative (it carries into the next period). Creating the same period twice returns the first batch."""
    with transaction.atomic():
        merchant = Merchant.objects.select_for_update(no_key=True).get(pk=merchant_id)
        existing = (
            SettlementBatch.objects.filter(merchant=merchant, period_end=period_end)
            .exclude(state=SettlementBatch.State.VOIDED)
            .first()
        )
        if existing is not None:
            return existing
        lines = list(
            PayableLine.objects.select_for_update()
            .filter(merchant=merchant, batch__isnull=True, business_date__lte=period_end)
            .order_by("business_date", "id")
        )
        if not lines:
            return None
        gross = sum((line.amount for line in lines), Decimal("0.00"))
        if gross < 0:
            logger.info("merchant %s: negative total %s carried into the next period", merchant.pk, gross)
            return None
        fee = min(round_fen(gross * merchant.fee_rate), gross)
        batch = SettlementBatch.objects.create(
            merchant=merchant,
            cycle=merchant.settlement_cycle,
            period_start=min(period_start, lines[0].business_date),
            period_end=period_end,
            line_count=len(lines),
            points=sum(line.points for line in lines),
            gross_amount=gross,
            fee_amount=fee,
            net_amount=gross - fee,
            payout_reference=f"JKLS-{merchant.pk}-{period_start:%Y%m%d}-{period_end:%Y%m%d}",
        )
        PayableLine.objects.filter(pk__in=[line.pk for line in lines]).update(batch=batch)
        for line in lines:
            line.batch = batch
        lines_for_pdf = PayableLine.objects.filter(batch=batch).select_related("voucher__benefit").order_by("business_date", "id")
        pdf = statement_pdf(batch, list(lines_for_pdf))
        batch.statement_file = private_store(folder="statements", data=pdf, suffix=".pdf")
        batch.statement_sha256 = hashlib.sha256(pdf).hexdigest()
        batch.save(update_fields=["statement_file", "statement_sha256"])
    logger.info("settlement batch %s for merchant %s: %s lines, net %s", batch.pk, merchant.pk, len(lines), batch.net_amount)
    return batch


def settlement_batches_create_due(*, business_date: dt.date | None = None) -> list[SettlementBatch]:
    """Daily job: every merchant whose cycle ends today gets its batch."""
    business_date = business_date or get_business_date()
    created = []
    merchant_ids = PayableLine.objects.filter(batch__isnull=True).values_list("merchant_id", flat=True).distinct()
    for merchant in Merchant.objects.filter(pk__in=merchant_ids).order_by("pk"):
        period = period_due(merchant.settlement_cycle, business_date)
        if period is None:
            continue
        batch = settlement_batch_create(merchant_id=merchant.pk, period_start=period[0], period_end=period[1])
        if batch is not None:
            created.append(batch)
    return created


def _transition(batch_id: int, action: str, *, user, comment: str = "", merchant_id: int | None = None) -> SettlementBatch:
    with transaction.atomic():
        queryset = SettlementBatch.objects.select_for_update(no_key=True).filter(pk=batch_id)
        if merchant_id is not None:
            queryset = queryset.filter(merchant_id=merchant_id)
        batch = queryset.first()
        if batch is None:
            raise NotFound("结算单不存在。", "settlement batch not found")
        method = getattr(batch, action)
        if not can_proceed(method):
            raise Conflict(
                f"结算单当前状态「{batch.get_state_display()}」不能执行该操作。",
                f"cannot {action} a batch in state {batch.state}",
                code="invalid_transition",
            )
        method(by=user, description=comment)
        batch.save()
        return batch


def settlement_confirm(*, batch_id: int, merchant_id: int, user) -> SettlementBatch:
    """The merchant confirms its statement in the portal."""
    batch = SettlementBatch.objects.filter(pk=batch_id, merchant_id=merchant_id).first()
    if batch is not None and batch.state in (
        SettlementBatch.State.CONFIRMED,
        SettlementBatch.State.PAYING,
        SettlementBatch.State.PAID,
    ):
        return batch
    return _transition(batch_id, "confirm", user=user, comment="商户确认", merchant_id=merchant_id)


def settlement_dispute(*, batch_id: int, merchant_id: int, user, reason: str) -> SettlementBatch:
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError("请填写异议原因。", "a reason is required", code="reason_required")
    batch = _transition(batch_id, "dispute", user=user, comment=reason, merchant_id=merchant_id)
    ReviewTask.objects.create(
        kind=ReviewTask.Kind.SETTLEMENT_DISPUTE,
        institution_id=batch.merchant.institution_id,
        branch_id=batch.merchant.branch_id,
        queue_role=roles.MERCHANT_OPS,
        merchant_id=batch.merchant_id,
        settlement=batch,
        due_at=_due_at(timezone.now()),
        comment=reason[:500],
    )
    return batch


def settlement_resolve(*, batch_id: int, user, uphold: bool, comment: str) -> SettlementBatch:
    """Staff decide a dispute: uphold the statement (→ confirmed) or void it (its lines go to the next batch)."""
    if not (comment or "").strip():
        raise ApplicationError("请填写处理意见。", "a comment is required", code="reason_required")
    with transaction.atomic():
        batch = _transition(batch_id, "uphold" if uphold else "void", user=user, comment=comment)
        if not uphold:
            PayableLine.objects.filter(batch=batch).update(batch=None)
        ReviewTask.objects.filter(settlement=batch, status__in=[ReviewTask.Status.OPEN, ReviewTask.Status.CLAIMED]).update(
            status=ReviewTask.Status.DONE,
            outcome="uphold" if uphold else "void",
            assignee=user,
            comment=comment[:500],
            completed_at=timezone.now(),
        )
    return batch


def settlements_auto_confirm(*, now: dt.datetime | None = None) -> int:
    """Statements not answered within AUTO_CONFIRM_DAYS are taken as confirmed (printed on the statement)."""
    now = now or timezone.now()
    ids = SettlementBatch.objects.filter(
        state=SettlementBatch.State.ISSUED, created_at__lte=now - dt.timedelta(days=AUTO_CONFIRM_DAYS)
    ).values_list("pk", flat=True)
    count = 0
    for batch_id in list(ids):
        _transition(batch_id, "confirm", user=None, comment="逾期自动确认")
        count += 1
    return count


def settlement_pay(*, batch_id: int, user=None, adapter: payouts.PayoutAdapter | None = None) -> SettlementBatch:
    """Pay a confirmed batch through the payout adapter. The adapter call happens outside any transaction, with
    the batch's fixed reference, so a retry after a crash or timeout cannot pay twice."""
    adapter = adapter or payouts.get_payout_adapter()
    with transaction.atomic():
        batch = SettlementBatch.objects.select_for_update(no_key=True).select_related("merchant").filter(pk=batch_id).first()
        if batch is None:
            raise NotFound("结算单不存在。", "settlement batch not found")
        if batch.state == SettlementBatch.State.PAID:
            return batch
        if batch.state == SettlementBatch.State.CONFIRMED:
            batch.start_payout(by=user, description="发起付款")
            batch.save()
        elif batch.state != SettlementBatch.State.PAYING:
            raise Conflict(
                f"结算单状态「{batch.get_state_display()}」不能付款，需商户确认。",
                "batch must be confirmed first",
                code="not_confirmed",
            )
    merchant = batch.merchant
    if batch.net_amount > 0:
        result = adapter.pay(
            payouts.PayoutRequest(
                reference=batch.payout_reference,
                amount=batch.net_amount,
                account_no=merchant.settlement_account,
                account_name=merchant.settlement_account_name,
                merchant_code=merchant.code,
                memo=f"吉快漫生活结算 {batch.period_start}~{batch.period_end}",
            )
        )
    else:
        result = payouts.PayoutResult(ok=True, bank_reference="ZERO-AMOUNT")
    with transaction.atomic():
        batch = SettlementBatch.objects.select_for_update(no_key=True).get(pk=batch_id)
        if batch.state != SettlementBatch.State.PAYING:
            return batch
        if result.ok:
            batch.mark_paid(by=user, description=result.bank_reference)
            batch.payout_bank_reference = result.bank_reference
            batch.payout_error = ""
            batch.save()
            post_entry(
                kind=LedgerEntry.Kind.SETTLE,
                legs=[
                    Leg(Book.PAYABLE, batch.points, merchant_id=batch.merchant_id),
                    Leg(Book.SETTLED, -batch.points, merchant_id=batch.merchant_id),
                ],
                memo=f"settlement {batch.payout_reference}",
                business_key=f"settle:{batch.pk}",
            )
        else:
            batch.payout_failed(by=user, description=result.error)
            batch.save()
            logger.warning("payout of batch %s failed: %s", batch.pk, result.error)
    return batch


def settlement_pay_confirmed(*, adapter=None) -> dict:
    """Daily job: pay every confirmed batch and retry batches left in ``paying``."""
    counts = {"paid": 0, "failed": 0}
    states = [SettlementBatch.State.CONFIRMED, SettlementBatch.State.PAYING]
    for batch_id in list(SettlementBatch.objects.filter(state__in=states).order_by("pk").values_list("pk", flat=True)):
        batch = settlement_pay(batch_id=batch_id, adapter=adapter)
        counts["paid" if batch.state == SettlementBatch.State.PAID else "failed"] += 1
    return counts


def merchant_statement_summary(merchant: Merchant) -> dict:
    unbatched = PayableLine.objects.filter(merchant=merchant, batch__isnull=True).aggregate(n=Count("id"), amount=Sum("amount"))
    return {"unbatched_count": unbatched["n"], "unbatched_amount": unbatched["amount"] or Decimal("0.00")}

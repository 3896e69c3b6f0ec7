"""Repayments (还款): record, prepay, quote, reverse; staff repayments and reversals (冲正) with maker-checker.

A repayment locks its loan (``SELECT … FOR NO KEY UPDATE``), so concurrent repayments and the nightly
close never allocate the same amount twice. Its value date is the business date; a loan the running
close has already closed for today takes the next business date; a loan behind is first brought up
to date (inline close). A repayment dated before the last close (back-dated) replays the loan.
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from jikuai.core.bus import publish
from jikuai.core.exceptions import Conflict, NotFound, PermissionDeniedError
from jikuai.core.workdays import get_business_date
from lending import engine
from lending import events as lending_events
from lending import schedule as sched
from lending import state as loan_state
from lending.models import Loan, LoanState, Repayment, RepaymentRequest, RepaymentReversalRequest
from lending.services.common import (
    LendingError,
    from_engine_error,
    maker_checker_threshold,
    parse_amount,
    parse_date,
    post_effects,
    save_book,
)
from lending.services.common import (
    publish as publish_book,
)
from lending.services.replay import loan_replay

ONE_DAY = dt.timedelta(days=1)


def _lock_loan(loan_id: int) -> Loan:
    loan = Loan.objects.select_for_update(no_key=True).select_related("product").filter(pk=loan_id).first()
    if loan is None:
        raise NotFound("贷款不存在。", "loan not found", code="loan_not_found")
    return loan


def bring_up_to_date(loan: Loan, book: engine.LoanBook, through: dt.date, *, business_date: dt.date) -> None:
    """Inline close (补日终): a loan behind the business date closes its missed days first."""
    start = len(book.effects)
    day = (book.last_closed or (loan.value_date - ONE_DAY)) + ONE_DAY
    while day <= through and book.is_open:
        book.close_day(day)
        day += ONE_DAY
    if len(book.effects) > start:
        post_effects(
            loan, book.effects[start:], business_date=business_date, description="补日终 inline close", kind_override="catch_up"
        )
        del book.effects[start:]


def _value_date_for(loan: Loan, business_date: dt.date, requested: dt.date | None) -> dt.date:
    if requested is not None:
        if requested > business_date:
            raise LendingError(
                "起息日不能晚于营业日期。",
                "value date cannot be after the business date",
                code="future_value_date",
                extra={"field": "value_date"},
            )
        if requested < loan.value_date:
            raise LendingError(
                "起息日不能早于贷款起息日。",
                "value date is before the loan's value date",
                code="invalid_value_date",
                extra={"field": "value_date"},
            )
        return requested
    last = loan.last_closed_business_date
    if last is not None and last >= business_date:
        return last + ONE_DAY  # the running close already closed this loan for today
    return business_date


def repayment_record(
    *,
    loan_id: int,
    amount,
    channel: str,
    kind: str = Repayment.Kind.REGULAR,
    prepayment_option: str = "",
    external_id: str = "",
    value_date=None,
    actor=None,
    approved_by=None,
    institution_id: int | None = None,
) -> Repayment:
    """Record and allocate a repayment. Idempotent by ``external_id`` (per institution): the same id
    with the same amount returns the first repayment; with another amount it is refused (409)."""
    amount = parse_amount(amount)
    if kind not in Repayment.Kind.values:
        raise LendingError("还款类型不正确。", "kind must be regular or prepayment", code="invalid_kind", extra={"field": "kind"})
    if kind == Repayment.Kind.PREPAYMENT and prepayment_option not in sched.PrepaymentOption.ALL:
        raise LendingError(
            "请选择缩期或减额。",
            "prepayment_option must be shorten_term or reduce_payment",
            code="invalid_option",
            extra={"field": "prepayment_option"},
        )
    requested_date = parse_date(value_date, field="value_date") if value_date else None
    external_id = (external_id or "").strip()
    if len(external_id) > 64:
        raise LendingError("外部流水号过长。", "external_id too long", code="invalid_external_id", extra={"field": "external_id"})
    try:
        return _record(
            loan_id=loan_id,
            amount=amount,
            channel=channel,
            kind=kind,
            option=prepayment_option if kind == Repayment.Kind.PREPAYMENT else "",
            external_id=external_id,
            requested_date=requested_date,
            actor=actor,
            approved_by=approved_by,
            institution_id=institution_id,
        )
    except IntegrityError:
        # the same external id committed concurrently on another loan of the institution
        if external_id:
            existing = Repayment.objects.filter(external_id=external_id, loan__pk=loan_id).first()
            if existing is not None and existing.amount == amount:
                return existing
            raise Conflict("外部流水号已使用。", "external_id already used", code="duplicate_external_id")
        raise


@transaction.atomic
def _record(
    *, loan_id, amount, channel, kind, option, external_id, requested_date, actor, approved_by, institution_id
) -> Repayment:
    loan = _lock_loan(loan_id)
    if institution_id is not None and loan.institution_id != institution_id:
        raise NotFound("贷款不存在。", "loan not found", code="loan_not_found")
    if external_id:
        existing = Repayment.objects.filter(institution_id=loan.institution_id, external_id=external_id).first()
        if existing is not None:
            if existing.loan_id == loan.pk and existing.amount == amount:
                return existing
            raise Conflict(
                f"外部流水号 {external_id} 已用于金额 {existing.amount} 元的另一笔还款。",
                f"external_id {external_id} was already used with amount {existing.amount}",
                code="duplicate_external_id",
            )
    if loan.state not in (LoanState.ACTIVE, LoanState.OVERDUE):
        raise Conflict("贷款已结清、核销或尚未放款，不能还款。", "the loan is not open for repayment", code="loan_not_open")
    business_date = get_business_date()
    value_date = _value_date_for(loan, business_date, requested_date)
    repayment = Repayment(
        loan=loan,
        institution_id=loan.institution_id,
        kind=kind,
        prepayment_option=option,
        channel=channel,
        amount=amount,
        value_date=value_date,
        entry_date=business_date,
        external_id=external_id,
        recorded_by=actor,
        approved_by=approved_by,
    )
    last = loan.last_closed_business_date
    if last is not None and value_date <= last:
        return _record_back_dated(loan, repayment, actor=actor, business_date=business_date)
    book = loan_state.book_for(loan)
    bring_up_to_date(loan, book, value_date - ONE_DAY, business_date=business_date)
    if not book.is_open:
        raise Conflict("贷款已结清，不能还款。", "the loan is settled", code="loan_not_open")
    try:
        allocation = book.apply_repayment(value_date, amount, kind=kind, option=option, strict=True)
    except engine.EngineError as exc:
        raise from_engine_error(exc)
    repayment.allocation = allocation.as_json()
    repayment.save()
    post_effects(
        loan, book.effects, business_date=business_date, repayment_id=repayment.pk, description=f"还款 #{repayment.pk} {channel}"
    )
    book.effects.clear()
    save_book(loan, book, by=actor, description=f"还款 #{repayment.pk}", effective_date=value_date)
    publish_book(loan, book)
    _publish_received(loan, repayment, business_date)
    return repayment


def _record_back_dated(loan: Loan, repayment: Repayment, *, actor, business_date: dt.date) -> Repayment:
    repayment.save()
    loan_replay(
        loan=loan,
        reason=f"倒起息还款 #{repayment.pk} 起息日 {repayment.value_date}",
        actor=actor,
        business_date=business_date,
        new_repayment=repayment,
    )
    repayment.refresh_from_db()
    _publish_received(loan, repayment, business_date)
    return repayment


def _publish_received(loan: Loan, repayment: Repayment, business_date: dt.date) -> None:
    publish(
        "lending.repayment_received",
        lending_events.payload_for(
            lending_events.loan_row(loan),
            {"repayment_id": repayment.pk, "amount": repayment.amount, "business_date": business_date},
        ),
    )


@transaction.atomic
def repayment_reverse(
    *, repayment_id: int | None = None, external_id: str = "", institution_id: int | None = None, reason: str, actor=None
) -> Repayment:
    """Reverse a repayment (e.g. a bounced core transfer): replay the loan as if it never happened."""
    if not (reason or "").strip():
        raise LendingError("冲正必须填写原因。", "a reason is required", code="reason_required", extra={"field": "reason"})
    query = Repayment.objects.all()
    if institution_id is not None:
        query = query.filter(institution_id=institution_id)
    if repayment_id is not None:
        query = query.filter(pk=repayment_id)
    elif external_id:
        query = query.filter(external_id=external_id)
    else:
        raise LendingError("请指定要冲正的还款。", "repayment_id or external_id is required", code="repayment_required")
    target = query.first()
    if target is None:
        raise NotFound("要冲正的还款不存在。", "repayment to reverse not found", code="repayment_not_found")
    loan = _lock_loan(target.loan_id)
    repayment = Repayment.objects.select_for_update().get(pk=target.pk)
    if repayment.status == Repayment.Status.REVERSED:
        return repayment
    if loan.state == LoanState.WRITTEN_OFF:
        raise Conflict("已核销贷款的还款不能冲正。", "cannot reverse a repayment of a written-off loan", code="loan_written_off")
    business_date = get_business_date()
    repayment.status = Repayment.Status.REVERSED
    repayment.reversed_on = business_date
    repayment.reversal_reason = reason.strip()[:200]
    repayment.save(update_fields=["status", "reversed_on", "reversal_reason"])
    loan_replay(
        loan=loan,
        reason=f"冲正还款 #{repayment.pk}：{reason}",
        actor=actor,
        business_date=business_date,
        reversed_repayment=repayment,
    )
    publish(
        "lending.repayment_reversed",
        lending_events.payload_for(
            lending_events.loan_row(loan),
            {"repayment_id": repayment.pk, "amount": repayment.amount, "business_date": business_date},
        ),
    )
    return repayment


@dataclass(frozen=True)
class PrepaymentQuote:
    """提前还款试算."""

    business_date: dt.date
    amount_due: Decimal
    interest_to_date: Decimal
    principal_not_due: Decimal
    payoff: Decimal
    amount: Decimal | None = None
    option: str = ""
    new_installments: list | None = None


def prepayment_quote(*, loan_id: int, amount=None, option: str = sched.PrepaymentOption.REDUCE_PAYMENT) -> PrepaymentQuote:
    """What settling (or prepaying ``amount``) would cost today and the schedule it would leave."""
    loan = Loan.objects.select_related("product").filter(pk=loan_id).first()
    if loan is None:
        raise NotFound("贷款不存在。", "loan not found")
    if not loan.is_open:
        raise Conflict("贷款已结清或核销。", "the loan is not open", code="loan_not_open")
    business_date = get_business_date()
    value_date = _value_date_for(loan, business_date, None)
    book = loan_state.book_for(loan)
    day = (book.last_closed or (loan.value_date - ONE_DAY)) + ONE_DAY
    while day < value_date and book.is_open:
        book.close_day(day)
        day += ONE_DAY
    itd, _accrued = book.interest_to_date(value_date)
    _running, _future, balance = book.running_period(value_date)
    due = book.amount_due(value_date)
    result = PrepaymentQuote(value_date, due, itd, balance, due + itd + balance)
    if amount is None:
        return result
    amount = parse_amount(amount)
    try:
        book.apply_repayment(value_date, amount, kind="prepayment", option=option, strict=True)
    except engine.EngineError as exc:
        raise from_engine_error(exc)
    return PrepaymentQuote(
        value_date,
        due,
        itd,
        balance,
        due + itd + balance,
        amount,
        option,
        [inst for inst in book.installments if inst.due_date > value_date],
    )


# --- staff repayments with maker-checker ------------------------------------------------------


def staff_repayment_submit(
    *, loan_id: int, amount, maker, kind: str = Repayment.Kind.REGULAR, prepayment_option: str = "", note: str = ""
) -> Repayment | RepaymentRequest:
    """柜面还款: below the threshold it is recorded at once; above it waits for a different checker."""
    amount = parse_amount(amount)
    loan = Loan.objects.select_related("product").filter(pk=loan_id).first()
    if loan is None:
        raise NotFound("贷款不存在。", "loan not found")
    if amount <= maker_checker_threshold(loan):
        return repayment_record(
            loan_id=loan_id,
            amount=amount,
            channel=Repayment.Channel.STAFF,
            kind=kind,
            prepayment_option=prepayment_option,
            actor=maker,
        )
    if not loan.is_open:
        raise Conflict("贷款已结清、核销或尚未放款，不能还款。", "the loan is not open for repayment", code="loan_not_open")
    if kind == Repayment.Kind.PREPAYMENT and prepayment_option not in sched.PrepaymentOption.ALL:
        raise LendingError(
            "请选择缩期或减额。", "prepayment_option must be shorten_term or reduce_payment", code="invalid_option"
        )
    return RepaymentRequest.objects.create(
        loan=loan, amount=amount, kind=kind, prepayment_option=prepayment_option, note=note[:200], maker=maker
    )


@transaction.atomic
def staff_repayment_approve(*, request_id: int, checker, comment: str = "") -> RepaymentRequest:
    request = RepaymentRequest.objects.select_for_update().filter(pk=request_id).first()
    if request is None:
        raise NotFound("还款复核申请不存在。", "repayment request not found")
    if request.state == RepaymentRequest.State.APPROVED:
        return request
    if request.state != RepaymentRequest.State.PENDING:
        raise Conflict("该申请已处理。", "request already decided", code="already_decided")
    if request.maker_id == checker.pk:
        raise PermissionDeniedError(
            "录入人不能复核自己的还款。", "the maker cannot approve their own repayment", code="maker_is_checker"
        )
    repayment = repayment_record(
        loan_id=request.loan_id,
        amount=request.amount,
        channel=Repayment.Channel.STAFF,
        kind=request.kind,
        prepayment_option=request.prepayment_option,
        actor=request.maker,
        approved_by=checker,
    )
    request.approve(by=checker, description=comment or None)
    request.checker = checker
    request.repayment = repayment
    request.decided_at = timezone.now()
    request.save()
    return request


@transaction.atomic
def staff_repayment_reject(*, request_id: int, checker, comment: str = "") -> RepaymentRequest:
    request = RepaymentRequest.objects.select_for_update().filter(pk=request_id).first()
    if request is None:
        raise NotFound("还款复核申请不存在。", "repayment request not found")
    if request.state != RepaymentRequest.State.PENDING:
        raise Conflict("该申请已处理。", "request already decided", code="already_decided")
    if request.maker_id == checker.pk:
        raise PermissionDeniedError(
            "录入人不能复核自己的还款。", "the maker cannot decide their own repayment", code="maker_is_checker"
        )
    request.reject(by=checker, description=comment or None)
    request.checker = checker
    request.decided_at = timezone.now()
    request.save()
    return request


# --- staff reversals with maker-checker (柜面冲正) ------------------------------------------------------


def _reversal_refusals(repayment: Repayment, loan: Loan) -> None:
    """What makes a repayment not reversible by staff; checked at request and again at approval."""
    if repayment.status == Repayment.Status.REVERSED:
        raise Conflict("该笔还款已冲正。", "the repayment is already reversed", code="already_reversed")
    if loan.state == LoanState.WRITTEN_OFF:
        raise Conflict("已核销贷款的还款不能冲正。", "cannot reverse a repayment of a written-off loan", code="loan_written_off")


def repayment_reversal_request_create(*, repayment_id: int, maker, reason: str) -> RepaymentReversalRequest:
    """A maker (``lending.request_reversal``, the loan in their scope) asks to reverse one posted repayment.

    Refused, with nothing written: no reason; a repayment outside the maker's scope (another institution
    looks like a missing one); a repayment already reversed; a written-off loan; a request already
    pending for the same repayment (also a partial unique constraint)."""
    reason = (reason or "").strip()
    if not reason:
        raise LendingError("冲正必须填写原因。", "a reason is required", code="reason_required", extra={"field": "reason"})
    if len(reason) > 200:
        raise LendingError(
            "冲正原因不能超过 200 字。", "the reason is too long", code="reason_too_long", extra={"field": "reason"}
        )
    if not maker.has_perm("lending.request_reversal"):
        raise PermissionDeniedError("无权申请冲正。", "not allowed to request a reversal", code="not_allowed")
    target = Repayment.objects.visible_to(maker).filter(pk=repayment_id).first()
    if target is None:
        raise NotFound("还款不存在。", "repayment not found", code="repayment_not_found")
    try:
        with transaction.atomic():
            loan = _lock_loan(target.loan_id)  # parents before children
            repayment = Repayment.objects.select_for_update(no_key=True).get(pk=target.pk)
            _reversal_refusals(repayment, loan)
            if RepaymentReversalRequest.objects.filter(
                repayment=repayment, state=RepaymentReversalRequest.State.PENDING
            ).exists():
                raise Conflict(
                    "该笔还款已有待复核的冲正申请。", "a reversal of this repayment is already pending", code="pending_exists"
                )
            return RepaymentReversalRequest.objects.create(
                repayment=repayment, loan=loan, reason=reason, maker=maker, requested_on=get_business_date()
            )
    except IntegrityError:  # a concurrent request for the same repayment won (reversal_one_pending_per_repayment)
        raise Conflict("该笔还款已有待复核的冲正申请。", "a reversal of this repayment is already pending", code="pending_exists")


def _lock_reversal_request(request_id: int, checker) -> tuple[RepaymentReversalRequest, Loan]:
    """Lock loan then request (parents before children); the checker must be allowed and in scope."""
    if not checker.has_perm("lending.approve_reversal"):
        raise PermissionDeniedError("无权复核冲正。", "not allowed to decide reversals", code="not_allowed")
    found = RepaymentReversalRequest.objects.visible_to(checker).filter(pk=request_id).values_list("loan_id", flat=True).first()
    if found is None:
        raise NotFound("冲正申请不存在。", "reversal request not found", code="request_not_found")
    loan = _lock_loan(found)
    request = RepaymentReversalRequest.objects.select_for_update(no_key=True).get(pk=request_id)
    if request.state != RepaymentReversalRequest.State.PENDING:
        raise Conflict("该冲正申请已处理。", "the reversal request was already decided", code="already_decided")
    if request.maker_id == checker.pk:
        raise PermissionDeniedError(
            "申请人不能复核自己的冲正申请，请由另一名员工复核。",
            "the maker cannot decide their own reversal request",
            code="maker_is_checker",
        )
    return request, loan


@transaction.atomic
def repayment_reversal_request_approve(*, request_id: int, checker, comment: str = "") -> RepaymentReversalRequest:
    """A different checker (``lending.approve_reversal``, in scope) approves: in the same transaction the
    repayment is reversed with ``repayment_reverse`` (the loan is replayed as if it never happened)."""
    request, loan = _lock_reversal_request(request_id, checker)
    repayment = Repayment.objects.select_for_update(no_key=True).get(pk=request.repayment_id)
    _reversal_refusals(repayment, loan)  # core banking may have reversed it, or the loan been written off, meanwhile
    repayment_reverse(repayment_id=repayment.pk, reason=request.reason, actor=checker)
    request.approve(by=checker, description=comment or None)
    request.checker = checker
    request.decision_comment = (comment or "")[:200]
    request.decided_at = timezone.now()
    request.save()
    return request


@transaction.atomic
def repayment_reversal_request_reject(*, request_id: int, checker, comment: str) -> RepaymentReversalRequest:
    """A different checker rejects with a reason; the repayment stays posted."""
    comment = (comment or "").strip()
    if not comment:
        raise LendingError(
            "驳回必须填写原因。", "a reason is required to reject", code="reason_required", extra={"field": "comment"}
        )
    request, _loan = _lock_reversal_request(request_id, checker)
    request.reject(by=checker, description=comment)
    request.checker = checker
    request.decision_comment = comment[:200]
    request.decided_at = timezone.now()
    request.save()
    return request

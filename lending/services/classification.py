"""Manual classification changes (人工调整五级分类) with maker and a different checker, and restructuring."""

from django.db import transaction
from django.utils import timezone
from django_fsm import can_proceed

from jikuai.core.exceptions import Conflict, NotFound, PermissionDeniedError
from jikuai.core.workdays import get_business_date
from lending import state as loan_state
from lending.models import ClassificationRequest, Loan, LoanClass
from lending.services.common import LendingError, post_effects, save_book
from lending.services.common import publish as publish_book
from lending.services.replay import loan_replay


def classification_request_create(*, loan_id: int, requested_class: str, reason: str, maker) -> ClassificationRequest:
    """Propose a manual class (empty = remove the manual class). Needs a reason; one pending per loan."""
    if requested_class and requested_class not in LoanClass.values:
        raise LendingError("分类不正确。", "unknown class", code="invalid_class", extra={"field": "requested_class"})
    if not (reason or "").strip():
        raise LendingError("调整分类必须填写理由。", "a reason is required", code="reason_required", extra={"field": "reason"})
    with transaction.atomic():
        loan = Loan.objects.select_for_update(no_key=True).filter(pk=loan_id).first()
        if loan is None:
            raise NotFound("贷款不存在。", "loan not found")
        if not loan.is_open:
            raise Conflict("只能调整未结清贷款的分类。", "only open loans can be reclassified", code="loan_not_open")
        if (requested_class or "") == loan.manual_class:
            raise LendingError("与当前人工分类相同。", "same as the current manual class", code="no_change")
        if ClassificationRequest.objects.filter(loan=loan, state=ClassificationRequest.State.PENDING).exists():
            raise Conflict("该贷款已有待复核的分类调整。", "a change is already waiting for approval", code="pending_exists")
        return ClassificationRequest.objects.create(
            loan=loan,
            requested_class=requested_class or "",
            reason=reason.strip(),
            maker=maker,
            class_before=loan.loan_class,
            requested_on=get_business_date(),
        )


@transaction.atomic
def classification_request_approve(*, request_id: int, checker, comment: str = "") -> ClassificationRequest:
    """A different checker approves: the manual class takes effect today; class = worse of DPD floor and manual."""
    request = ClassificationRequest.objects.select_for_update().filter(pk=request_id).first()
    if request is None:
        raise NotFound("分类调整申请不存在。", "classification request not found")
    if request.state == ClassificationRequest.State.APPROVED:
        return request
    if not can_proceed(request.approve):
        raise Conflict("该申请已处理。", "request already decided", code="already_decided")
    if request.maker_id == checker.pk:
        raise PermissionDeniedError(
            "发起人不能复核自己的分类调整。", "the maker cannot approve their own change", code="maker_is_checker"
        )
    loan = Loan.objects.select_for_update(no_key=True).select_related("product").get(pk=request.loan_id)
    if not loan.is_open:
        raise Conflict("贷款已结清或核销。", "the loan is not open", code="loan_not_open")
    from lending.services.repayments import _value_date_for, bring_up_to_date

    business_date = get_business_date()
    # the change joins the loan's timeline like a repayment would (a replay applies it the same way)
    effective = _value_date_for(loan, business_date, None)
    book = loan_state.book_for(loan)
    bring_up_to_date(loan, book, effective - loan_state.engine.ONE_DAY, business_date=business_date)
    book.apply_manual_class(effective, request.requested_class)
    post_effects(loan, book.effects, business_date=business_date, description=f"人工分类调整 #{request.pk}")
    book.effects.clear()
    save_book(loan, book, by=checker, description=f"人工分类 #{request.pk}")
    publish_book(loan, book)
    request.approve(by=checker, description=comment or None)
    request.checker = checker
    request.effective_date = effective
    request.decision_comment = comment[:200]
    request.decided_at = timezone.now()
    request.save()
    return request


@transaction.atomic
def classification_request_reject(*, request_id: int, checker, comment: str = "") -> ClassificationRequest:
    request = ClassificationRequest.objects.select_for_update().filter(pk=request_id).first()
    if request is None:
        raise NotFound("分类调整申请不存在。", "classification request not found")
    if not can_proceed(request.reject):
        raise Conflict("该申请已处理。", "request already decided", code="already_decided")
    if request.maker_id == checker.pk:
        raise PermissionDeniedError(
            "发起人不能复核自己的分类调整。", "the maker cannot decide their own change", code="maker_is_checker"
        )
    request.reject(by=checker, description=comment or None)
    request.checker = checker
    request.decision_comment = comment[:200]
    request.decided_at = timezone.now()
    request.save()
    return request


@transaction.atomic
def loan_mark_restructured(*, loan_id: int, actor=None, reason: str) -> Loan:
    """Record a restructuring (重组) today: the loan is at least 次级 for the observation period
    (≥ 12 months). Applied through a replay, so live and replayed states agree by construction."""
    if not (reason or "").strip():
        raise LendingError("重组必须填写理由。", "a reason is required", code="reason_required")
    loan = Loan.objects.select_for_update(no_key=True).select_related("product").filter(pk=loan_id).first()
    if loan is None:
        raise NotFound("贷款不存在。", "loan not found")
    if not loan.is_open:
        raise Conflict("只有未结清贷款可以重组。", "only open loans can be restructured", code="loan_not_open")
    loan.restructured_on = get_business_date()
    loan.save(update_fields=["restructured_on", "updated_at"])
    loan_replay(loan=loan, reason=f"重组 {reason}", actor=actor)
    return loan

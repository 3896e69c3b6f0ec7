"""Manual review of referred applications (人工审核): review tasks in queues, claim, decision with tiered
authority (分级审批) and maker ≠ checker (双人复核), two-level approval, escalation of overdue tasks.

Queues: a task waits in the queue of a role (``queue_role``, a role group of ``jikuai.org.roles``) for
the application's institution and branch. The role comes from the product's approval tiers
(``Product.approval_tiers``, copied into ``LoanApplication.product_snapshot`` when the application is
made) for the amount that would be approved (the automated decision's limit, never above the request).

Who works a queue: a staff member holding the queue's role, within that role's scope (审批员: the whole
institution; 支行行长: their own branch); the province admin and superusers see every queue.

Credit line changes (额度变更复核): a freeze / unfreeze / adjust / close request made by one staff member
(``lending.services.lines.credit_line_request_submit``) opens a task of kind ``line_change`` in the
queue of ``LINE_CHANGE_QUEUE_ROLE`` (风险管理员) for the line's institution and branch; approving or
rejecting the request closes it, with the checker as assignee. Its maker never gets it (claim) and
cannot decide it. Overdue, it moves to 支行行长 of the line's branch (when the line has one).

Due times are in working hours (工作时间) of the kernel calendar: holidays skipped, make-up workdays
(调休) counted. Settings (all optional):

* ``JIKUAI_REVIEW_SLA_WORKING_HOURS`` (4): a new task is due this many working hours after it opens;
* ``JIKUAI_REVIEW_ESCALATION_SLA_WORKING_HOURS`` (2): an escalated task is due again after this many;
* ``JIKUAI_REVIEW_WORKDAY`` (("08:30", "17:30")): opening and closing time of a working day;
* ``JIKUAI_REVIEW_ESCALATION_BATCH`` (500): tasks escalated per transaction by the beat job.
"""

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django_fsm_log.models import StateLog

from jikuai.core import bus
from jikuai.core.exceptions import ApplicationError, Conflict, NotFound, PermissionDeniedError
from jikuai.core.money import yuan_to_fen
from jikuai.core.workdays import add_working_minutes, get_business_date
from jikuai.org import roles
from jikuai.org.models import Staff
from lending.models import ApplicationState, CreditLineRequest, LoanApplication, ReviewTask, ReviewTaskStatus
from lending.services.common import parse_amount
from lending.services.loans import validate_offer

logger = logging.getLogger(__name__)

ACTIVE_STATUSES = (ReviewTaskStatus.OPEN, ReviewTaskStatus.CLAIMED)
OUTCOME_APPROVED = "approved"
OUTCOME_REJECTED = "rejected"
OUTCOME_PASSED_UP = "passed_up"
DECIDED_TOPIC = "lending.application_decided"
ESCALATED_TOPIC = "lending.review_tasks_escalated"

# 额度变更复核: the queue of line change requests. Of the roles that may approve them
# (``lending.roles_lines``: change_creditlinerequest for 运营, 风险管理员 and 支行行长), the risk officer
# is the institution-wide one whose job is credit risk (lists, classification changes, maker-checker);
# overdue tasks go to the branch manager, the other holder of that permission.
LINE_CHANGE_QUEUE_ROLE = roles.RISK_OFFICER

# Escalation of tasks that have no approval tiers (no application): queue → next queue.
ESCALATION_WITHOUT_TIERS = {roles.CREDIT_REVIEWER: roles.BRANCH_MANAGER, roles.RISK_OFFICER: roles.BRANCH_MANAGER}

# Products saved before the tiers used role names (early drafts of the product factory) keep working.
LEGACY_ROLE_NAMES = {"reviewer": roles.CREDIT_REVIEWER, "manager": roles.BRANCH_MANAGER}


class ReviewError(ApplicationError):
    code = "review_error"
    status = 422


# --- configuration ---------------------------------------------------------------------------------


def _setting(name: str, default):
    return getattr(settings, name, default)


def sla_minutes(*, escalated: bool = False) -> int:
    name = "JIKUAI_REVIEW_ESCALATION_SLA_WORKING_HOURS" if escalated else "JIKUAI_REVIEW_SLA_WORKING_HOURS"
    hours = Decimal(str(_setting(name, 2 if escalated else 4)))
    minutes = int((hours * 60).to_integral_value())
    if minutes <= 0:
        raise ValueError(f"{name} must be positive")
    return minutes


def _workday() -> tuple[dt.time, dt.time]:
    opens, closes = _setting("JIKUAI_REVIEW_WORKDAY", ("08:30", "17:30"))
    return dt.time.fromisoformat(opens), dt.time.fromisoformat(closes)


def due_after(start: dt.datetime, *, escalated: bool = False) -> dt.datetime:
    """The due time of a task opened (or escalated) at ``start``, in working hours."""
    day_start, day_end = _workday()
    return add_working_minutes(start, sla_minutes(escalated=escalated), day_start=day_start, day_end=day_end)


# --- tiers (分级审批) --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tier:
    role: str
    up_to: Decimal | None  # None: no upper bound


def approval_tiers(application: LoanApplication) -> list[Tier]:
    """The application's approval tiers, lowest first (snapshot taken at application time, else the product's)."""
    raw = (application.product_snapshot or {}).get("approval_tiers") or application.product.approval_tiers or []
    tiers = []
    for item in raw:
        role = LEGACY_ROLE_NAMES.get(item.get("role"), item.get("role"))
        if role not in roles.ALL_ROLES:
            raise ReviewError(
                f"产品“{application.product.name}”的分级审批配置有误：未知角色 {role}。",
                f"approval tiers of product {application.product.code} name an unknown role {role!r}",
                code="tiers_misconfigured",
            )
        up_to = item.get("up_to")
        tiers.append(Tier(role=role, up_to=None if up_to in (None, "") else Decimal(str(up_to))))
    if not tiers:
        raise ReviewError(
            f"产品“{application.product.name}”未配置分级审批。",
            f"product {application.product.code} has no approval tiers",
            code="tiers_misconfigured",
        )
    return sorted(tiers, key=lambda tier: (tier.up_to is None, tier.up_to or 0))


def tier_role_for(tiers: list[Tier], amount: Decimal) -> str:
    """The lowest role whose tier covers ``amount`` (the top tier when none does)."""
    for tier in tiers:
        if tier.up_to is None or amount <= tier.up_to:
            return tier.role
    return tiers[-1].role


def authority_of(tiers: list[Tier], role_names: set[str]) -> tuple[bool, Decimal | None]:
    """(has any tier, highest amount the holder of ``role_names`` may approve; None = no upper bound)."""
    held = [tier for tier in tiers if tier.role in role_names]
    if not held:
        return False, Decimal(0)
    if any(tier.up_to is None for tier in held):
        return True, None
    return True, max(tier.up_to for tier in held)


def next_role(tiers: list[Tier], role: str) -> str | None:
    """The queue above ``role`` in the tiers (None at the top)."""
    names = [tier.role for tier in tiers]
    if role not in names:
        return names[-1] if names[-1] != role else None
    index = names.index(role)
    return names[index + 1] if index + 1 < len(names) else None


def amount_limit(application: LoanApplication) -> Decimal:
    """The most a reviewer may approve: the automated decision's limit, never above the request."""
    if application.approved_amount is not None:
        return min(application.approved_amount, application.amount_requested)
    return application.amount_requested


# --- who is who ------------------------------------------------------------------------------------


def role_names_of(staff: Staff) -> set[str]:
    user = staff.user
    if user.is_superuser:
        return set(roles.ALL_ROLES)
    return set(user.groups.values_list("name", flat=True))


def queue_condition(staff: Staff) -> Q:
    """The tasks whose queue ``staff`` may work: their roles, each within that role's scope."""
    user = staff.user
    if not (staff.is_active and user.is_active):
        return Q(pk__in=[])
    names = role_names_of(staff)
    if user.is_superuser or roles.PROVINCE_ADMIN in names:
        return Q(pk__isnull=False)  # every queue (not an empty Q: ``Q(x) | Q()`` would drop it)
    if staff.institution_id is None:
        return Q(pk__in=[])
    condition = Q(pk__in=[])
    for role in sorted(names):
        level = roles.ROLE_SCOPE.get(role)
        if level == roles.INSTITUTION:
            condition |= Q(queue_role=role, institution_id=staff.institution_id)
        elif level in (roles.BRANCH, roles.ASSIGNED) and staff.branch_id:
            condition |= Q(queue_role=role, institution_id=staff.institution_id, branch_id=staff.branch_id)
    return condition


def _made_by(application: LoanApplication, staff: Staff) -> bool:
    """双人复核: the staff member took part in making the application (field maker, account manager, or
    any transition of the application before review was done with their login)."""
    if staff.pk in (application.created_by_staff_id, application.account_manager_id):
        return True
    content_type = ContentType.objects.get_for_model(LoanApplication)
    return StateLog.objects.filter(content_type=content_type, object_id=application.pk, by_id=staff.user_id).exists()


def _gave_opinion(application: LoanApplication, staff: Staff) -> bool:
    return ReviewTask.objects.filter(application=application, assignee=staff, outcome=OUTCOME_PASSED_UP).exists()


def _assert_may_review(application: LoanApplication, staff: Staff) -> None:
    if _made_by(application, staff):
        raise PermissionDeniedError(
            "您是该申请的经办人（客户经理或代办员工），不能审批自己经办的申请。",
            "the maker of an application cannot review it (maker ≠ checker)",
            code="maker_is_checker",
        )
    if _gave_opinion(application, staff):
        raise PermissionDeniedError(
            "您已提出初审意见，两级审批须由另一位审批人完成。",
            "two-level approval needs a second reviewer: you already gave the first opinion",
            code="same_reviewer",
        )


def _assert_may_check_line_request(line_request: CreditLineRequest, staff: Staff) -> None:
    if line_request.maker_id == staff.pk:
        raise PermissionDeniedError(
            "经办人不能复核自己发起的申请（双人复核）。", "the maker cannot check their own request", code="maker_is_checker"
        )


def exclude_own(queryset, staff: Staff):
    """Leave out tasks whose application or line change request ``staff`` made, or whose application they
    already gave the first opinion on (tasks without an application or request are not affected)."""
    return (
        queryset.exclude(application__created_by_staff=staff)
        .exclude(application__account_manager=staff)
        .exclude(line_request__maker=staff)
        .exclude(
            application_id__in=ReviewTask.objects.filter(
                assignee=staff, outcome=OUTCOME_PASSED_UP, application__isnull=False
            ).values("application_id")
        )
    )


# --- opening a task -----------------------------------------------------------------------------


def review_task_open(*, application: LoanApplication, now: dt.datetime | None = None) -> ReviewTask:
    """Put a referred application in the review queue of the role its amount needs (idempotent: the
    application's open task is returned when there is one). Call it in the transaction that refers."""
    if application.state != ApplicationState.REFERRED:
        raise Conflict(
            "只有转人工审核的申请才能生成审核任务。", "only referred applications get a review task", code="not_referred"
        )
    now = now or timezone.now()
    tiers = approval_tiers(application)
    branch_id = application.branch_id or application.customer.branch_id
    return _open_task(
        {"application": application},
        kind=ReviewTask.Kind.APPLICATION_REVIEW,
        institution_id=application.institution_id,
        branch_id=branch_id,
        queue_role=tier_role_for(tiers, amount_limit(application)),
        due_at=due_after(now),
        created_at=now,
    )


def _open_task(subject: dict, **fields) -> ReviewTask:
    """Create the subject's task, or return its open one (one open task per subject: partial unique
    constraints on the application and on the line request)."""
    try:
        with transaction.atomic():
            return ReviewTask.objects.create(**subject, **fields)
    except IntegrityError:
        existing = ReviewTask.objects.filter(**subject, status__in=ACTIVE_STATUSES).first()
        if existing is None:
            raise
        return existing


def review_task_open_for_line_request(*, line_request: CreditLineRequest, now: dt.datetime | None = None) -> ReviewTask:
    """额度变更复核: put a pending line change request in the queue of ``LINE_CHANGE_QUEUE_ROLE`` for its
    line's institution and branch (idempotent: the request's open task is returned when there is one).
    Call it in the transaction that makes the request."""
    if line_request.status != CreditLineRequest.Status.PENDING:
        raise Conflict("只有待复核的额度操作申请才能生成复核任务。", "only a pending request gets a task", code="request_decided")
    now = now or timezone.now()
    line = line_request.line
    return _open_task(
        {"line_request": line_request},
        kind=ReviewTask.Kind.LINE_CHANGE,
        institution_id=line.institution_id,
        branch_id=line.branch_id,
        queue_role=LINE_CHANGE_QUEUE_ROLE,
        due_at=due_after(now),
        created_at=now,
    )


def review_task_close_for_line_request(
    *, line_request: CreditLineRequest, checker: Staff, approved: bool, comment: str = "", now: dt.datetime | None = None
) -> ReviewTask | None:
    """Close the open task of a line change request that ``checker`` approved or rejected (done, outcome,
    comment, completed_at, assignee = checker). Call it in the deciding transaction, after the line and
    the request are locked (parents first). A task held by another staff member refuses the decision;
    a request made before tasks existed has none (returns None)."""
    task = (
        ReviewTask.objects.select_for_update(no_key=True)
        .filter(line_request=line_request, status__in=ACTIVE_STATUSES)
        .order_by("id")
        .first()
    )
    if task is None:
        return None
    if task.status == ReviewTaskStatus.CLAIMED and task.assignee_id != checker.pk:
        raise Conflict(
            "该复核任务已被其他员工领取，请由领取人处理或待其退回。",
            "the review task is held by another staff member",
            code="task_claimed",
        )
    task.status = ReviewTaskStatus.DONE
    task.outcome = OUTCOME_APPROVED if approved else OUTCOME_REJECTED
    task.comment = (comment or "")[:500]
    task.assignee = checker
    task.completed_at = now or timezone.now()
    task.save(update_fields=["status", "outcome", "comment", "assignee", "completed_at"])
    logger.info("line request %s %s by staff %s (task %s)", line_request.pk, task.outcome, checker.pk, task.pk)
    return task


# --- claim / release -------------------------------------------------------------------------------


def review_claim_next(*, staff: Staff, kind: str = ReviewTask.Kind.APPLICATION_REVIEW) -> ReviewTask | None:
    """Claim the open task (of ``kind``) due first among the queues ``staff`` works (never one they made).
    Concurrent reviewers never get the same task: rows locked by another claim are skipped (SKIP LOCKED)."""
    with transaction.atomic():
        queryset = ReviewTask.objects.select_for_update(skip_locked=True, of=("self",)).filter(
            queue_condition(staff), status=ReviewTaskStatus.OPEN, kind=kind
        )
        task = exclude_own(queryset, staff).order_by("due_at", "id").first()
        if task is None:
            return None
        _mark_claimed(task, staff)
        return task


def _mark_claimed(task: ReviewTask, staff: Staff) -> None:
    task.status = ReviewTaskStatus.CLAIMED
    task.assignee = staff
    task.claimed_at = timezone.now()
    task.save(update_fields=["status", "assignee", "claimed_at"])
    logger.info("review task %s claimed by staff %s", task.pk, staff.pk)


def _task_for(staff: Staff, task_id: int) -> ReviewTask:
    """The task locked, if it is in a queue ``staff`` works or held by them; else 404 (never a hint)."""
    task = (
        ReviewTask.objects.select_for_update(of=("self",))
        .filter(Q(assignee=staff) | queue_condition(staff), pk=task_id)
        .select_related("application", "line_request")
        .first()
    )
    if task is None:
        raise NotFound("审核任务不存在。", "review task not found")
    return task


@transaction.atomic
def review_claim(*, task_id: int, staff: Staff) -> ReviewTask:
    """Claim one task. A task held by someone else is refused; claiming one's own task again is a no-op."""
    task = _task_for(staff, task_id)
    if task.status == ReviewTaskStatus.CLAIMED and task.assignee_id == staff.pk:
        return task
    if task.status == ReviewTaskStatus.CLAIMED:
        raise Conflict("该任务已被其他审批人领取。", "the task is held by another reviewer", code="task_claimed")
    if task.status != ReviewTaskStatus.OPEN:
        raise Conflict("该任务已处理完毕。", "the task is already done", code="task_closed")
    if task.application_id:
        _assert_may_review(task.application, staff)
    if task.line_request_id:
        _assert_may_check_line_request(task.line_request, staff)
    _mark_claimed(task, staff)
    return task


@transaction.atomic
def review_release(*, task_id: int, staff: Staff) -> ReviewTask:
    """Give a claimed task back to its queue (only its holder can)."""
    task = _task_for(staff, task_id)
    if task.status != ReviewTaskStatus.CLAIMED or task.assignee_id != staff.pk:
        raise Conflict("只能退回自己领取中的任务。", "only the holder of a claimed task can release it", code="not_assignee")
    task.status = ReviewTaskStatus.OPEN
    task.assignee = None
    task.claimed_at = None
    task.save(update_fields=["status", "assignee", "claimed_at"])
    return task


# --- deciding ----------------------------------------------------------------------------------------


def _lock_for_decision(task_id: int, staff: Staff) -> tuple[ReviewTask, LoanApplication]:
    """Lock the application (parent) and then its task; check that ``staff`` holds the task."""
    application_id = (
        ReviewTask.objects.filter(Q(assignee=staff) | queue_condition(staff), pk=task_id, application__isnull=False)
        .values_list("application_id", flat=True)
        .first()
    )
    if application_id is None:
        raise NotFound("审核任务不存在。", "review task not found")
    application = (
        LoanApplication.objects.select_for_update(no_key=True, of=("self",))
        .select_related("product", "customer")
        .get(pk=application_id)
    )
    task = ReviewTask.objects.select_for_update().get(pk=task_id)
    if task.status in (ReviewTaskStatus.DONE, ReviewTaskStatus.CANCELLED):
        raise Conflict("该任务已处理，不能重复审批。", "the task is already decided", code="already_decided")
    if task.status != ReviewTaskStatus.CLAIMED or task.assignee_id != staff.pk:
        raise PermissionDeniedError(
            "请先领取该任务：只有领取人可以审批。", "only the reviewer who claimed the task can decide it", code="not_assignee"
        )
    if application.state != ApplicationState.REFERRED:
        raise Conflict(
            f"申请当前状态为“{application.get_state_display()}”，不能审批。",
            f"the application is {application.state}, not referred",
            code="not_referred",
        )
    _assert_may_review(application, staff)
    return task, application


def _offer(application: LoanApplication, approved_amount, annual_rate) -> tuple[Decimal, Decimal, Decimal]:
    """Validate the amount and rate to approve: (amount, rate, APR %)."""
    limit = amount_limit(application)
    amount = limit if approved_amount in (None, "") else parse_amount(approved_amount, field="approved_amount")
    if amount > limit:
        raise ReviewError(
            f"批准金额不能超过申请金额或自动决策额度 {limit:,.2f} 元。",
            f"approved amount above the requested / decided limit of {limit}",
            code="amount_above_limit",
            extra={"field": "approved_amount"},
        )
    rate = application.annual_rate if annual_rate in (None, "") else annual_rate
    if rate is None:
        raise ReviewError("请填写执行年利率。", "annual_rate is required", code="rate_required", extra={"field": "annual_rate"})
    amount, rate, _periods, _fee, apr, _quarterly = validate_offer(
        product=application.product,
        principal=amount,
        annual_rate=rate,
        term_months=application.term_months,
        method=application.repayment_method,
        value_date=get_business_date(),
    )
    return amount, rate, apr


def _assert_within_tier(application: LoanApplication, staff: Staff, amount: Decimal) -> None:
    tiers = approval_tiers(application)
    holds_tier, authority = authority_of(tiers, role_names_of(staff))
    if authority is None or amount <= authority:
        return
    needed = tier_role_for(tiers, amount)
    if not holds_tier:
        raise PermissionDeniedError(
            f"您没有该产品的审批权限，{amount:,.2f} 元须由{needed}审批。",
            f"you hold no approval tier of this product; {amount} needs {needed}",
            code="above_tier",
        )
    raise PermissionDeniedError(
        f"超出您的审批权限（上限 {authority:,.2f} 元）：{amount:,.2f} 元须由{needed}审批，请提交上级审批或调低金额。",
        f"above your approval authority of {authority}: {amount} needs {needed}; pass it up or lower the amount",
        code="above_tier",
    )


def _decided_payload(application: LoanApplication, staff: Staff, business_date: dt.date) -> dict:
    approved = application.state == ApplicationState.APPROVED
    return {
        "application_id": application.pk,
        "application_no": application.application_no,
        "customer_id": application.customer_id,
        "product_code": application.product.code,
        "kind": application.kind,
        "outcome": OUTCOME_APPROVED if approved else OUTCOME_REJECTED,
        "state": application.state,
        "source": "manual",
        "reviewer_staff_id": staff.pk,
        "approved_amount": f"{application.approved_amount:.2f}" if approved else None,
        "approved_amount_fen": yuan_to_fen(application.approved_amount) if approved else None,
        "annual_rate": str(application.annual_rate) if approved else None,
        "expires_on": application.expires_on.isoformat() if application.expires_on else None,
        "business_date": business_date.isoformat(),
        "institution_id": application.institution_id,
        "branch_id": application.branch_id,
        "account_manager_id": application.account_manager_id,
    }


@transaction.atomic
def review_decide(
    *,
    task_id: int,
    staff: Staff,
    approve: bool,
    comment: str,
    approved_amount=None,
    annual_rate=None,
) -> LoanApplication:
    """Approve or reject a referred application (REFERRED → APPROVED / REJECTED).

    Only the reviewer who claimed the task; never its maker; approval within the reviewer's tier, at an
    amount not above the requested / decided limit and a rate within the product's range and APR
    ceiling. Publishes ``lending.application_decided`` in the same transaction (outbox).
    """
    comment = (comment or "").strip()
    task, application = _lock_for_decision(task_id, staff)
    now = timezone.now()
    business_date = get_business_date()
    if approve:
        amount, rate, apr = _offer(application, approved_amount, annual_rate)
        _assert_within_tier(application, staff, amount)
        application.approve(by=staff.user, description=comment or "人工审核通过")
        application.approved_amount = amount
        application.annual_rate = rate
        application.apr = (apr / 100).quantize(Decimal("0.000001"))
        application.approved_by = staff
        application.expires_on = business_date + dt.timedelta(days=application.product.application_validity_days)
    else:
        if not comment:
            raise ReviewError("拒绝时请填写拒绝原因。", "a comment is required to reject", code="comment_required")
        application.reject(by=staff.user, description=comment)
        application.closed_reason = comment[:200]
    application.decided_at = now
    application.save()
    task.status = ReviewTaskStatus.DONE
    task.outcome = OUTCOME_APPROVED if approve else OUTCOME_REJECTED
    task.comment = comment[:500]
    task.completed_at = now
    task.save(update_fields=["status", "outcome", "comment", "completed_at"])
    bus.publish(DECIDED_TOPIC, _decided_payload(application, staff, business_date))
    logger.info("application %s %s by staff %s (task %s)", application.pk, task.outcome, staff.pk, task.pk)
    return application


@transaction.atomic
def review_pass_up(
    *, task_id: int, staff: Staff, comment: str, approved_amount=None, annual_rate=None, now: dt.datetime | None = None
) -> ReviewTask:
    """两级审批: the holder of a task whose amount is above their tier records their opinion (the
    recommended amount and rate) and the application goes to the queue of the role its amount needs.
    Returns the new task. The second reviewer must be someone else."""
    comment = (comment or "").strip()
    if not comment:
        raise ReviewError("提交上级审批时请填写初审意见。", "a comment (first opinion) is required", code="comment_required")
    task, application = _lock_for_decision(task_id, staff)
    amount, rate, _apr = _offer(application, approved_amount, annual_rate)
    tiers = approval_tiers(application)
    _holds, authority = authority_of(tiers, role_names_of(staff))
    if authority is None or amount <= authority:
        raise ReviewError(
            "该金额在您的审批权限内，请直接审批。", "the amount is within your authority: decide it yourself", code="within_tier"
        )
    target = tier_role_for(tiers, amount)
    if target == task.queue_role:
        target = next_role(tiers, task.queue_role) or target
    now = now or timezone.now()
    opinion = f"初审意见：建议批准 {amount:,.2f} 元，年利率 {rate * 100:.4f}%。{comment}"
    task.status = ReviewTaskStatus.DONE
    task.outcome = OUTCOME_PASSED_UP
    task.comment = opinion[:500]
    task.completed_at = now
    task.save(update_fields=["status", "outcome", "comment", "completed_at"])
    new_task = ReviewTask.objects.create(
        kind=task.kind,
        institution_id=task.institution_id,
        branch_id=task.branch_id,
        queue_role=target,
        application=application,
        due_at=due_after(now),
        created_at=now,
    )
    logger.info("review task %s passed up by staff %s to %s (task %s)", task.pk, staff.pk, target, new_task.pk)
    return new_task


# --- escalation (beat job) ------------------------------------------------------------------------


def review_escalate_overdue(*, now: dt.datetime | None = None) -> int:
    """超时升级: every open or claimed task past its due time moves to the next queue of its tiers
    (审批员 → 支行行长; at the top it stays; a task without an application, e.g. a line change, by
    ``ESCALATION_WITHOUT_TIERS`` when it has a branch), is released if it was claimed and the queue changed, gets
    escalation_level + 1 and a new due time. Rows locked by a reviewer at that moment are skipped (the next
    run takes them). Idempotent: a second run at the same time finds nothing overdue. Each batch publishes
    ``lending.review_tasks_escalated`` in its transaction (the staff of the new queues get an SMS, see
    ``lending.handlers``). Returns the count."""
    now = now or timezone.now()
    batch = int(_setting("JIKUAI_REVIEW_ESCALATION_BATCH", 500))
    new_due = due_after(now, escalated=True)
    escalated = 0
    last_id = 0
    while True:
        with transaction.atomic():
            tasks = list(
                ReviewTask.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(status__in=ACTIVE_STATUSES, due_at__lt=now, pk__gt=last_id)
                .select_related("application__product")
                .order_by("id")[:batch]
            )
            if not tasks:
                return escalated
            for task in tasks:
                target = task.queue_role
                if task.application_id:
                    try:
                        target = next_role(approval_tiers(task.application), task.queue_role) or task.queue_role
                    except ReviewError:
                        logger.warning("review task %s: approval tiers misconfigured, not moved", task.pk)
                else:
                    target = ESCALATION_WITHOUT_TIERS.get(task.queue_role, task.queue_role)
                    if roles.ROLE_SCOPE.get(target) == roles.BRANCH and task.branch_id is None:
                        target = task.queue_role  # no branch: no branch manager could ever work it
                if target != task.queue_role:
                    task.queue_role = target
                    task.status = ReviewTaskStatus.OPEN
                    task.assignee = None
                    task.claimed_at = None
                task.escalation_level += 1
                task.escalated_at = now
                task.due_at = new_due
            ReviewTask.objects.bulk_update(
                tasks, ["queue_role", "status", "assignee", "claimed_at", "escalation_level", "escalated_at", "due_at"]
            )
            bus.publish(ESCALATED_TOPIC, _escalated_payload(tasks, now))
            escalated += len(tasks)
            last_id = tasks[-1].pk
            logger.info("review escalation: %s tasks escalated", len(tasks))


def _escalated_payload(tasks: list[ReviewTask], now: dt.datetime) -> dict:
    """One event per escalated batch: the queues that must now be told (no customer data)."""
    return {
        "task_ids": [task.pk for task in tasks],
        "tasks": [
            {
                "task_id": task.pk,
                "kind": task.kind,
                "institution_id": task.institution_id,
                "branch_id": task.branch_id,
                "queue_role": task.queue_role,
                "escalation_level": task.escalation_level,
            }
            for task in tasks
        ],
        "escalated_at": now.isoformat(),
    }


__all__ = [
    "ESCALATED_TOPIC",
    "ESCALATION_WITHOUT_TIERS",
    "LINE_CHANGE_QUEUE_ROLE",
    "ReviewError",
    "Tier",
    "amount_limit",
    "approval_tiers",
    "authority_of",
    "due_after",
    "exclude_own",
    "next_role",
    "queue_condition",
    "review_claim",
    "review_claim_next",
    "review_decide",
    "review_escalate_overdue",
    "review_pass_up",
    "review_release",
    "review_task_close_for_line_request",
    "review_task_open",
    "review_task_open_for_line_request",
    "role_names_of",
    "tier_role_for",
]

"""Merchant onboarding (商户入驻) state machine, review tasks and merchant staff grants."""

import datetime as dt
import logging
import re
import secrets
from decimal import Decimal, InvalidOperation

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone
from django_fsm import can_proceed
from guardian.shortcuts import assign_perm, get_objects_for_user, get_users_with_perms

from jikuai.core import bus
from jikuai.core.exceptions import ApplicationError, Conflict, NotFound, PermissionDeniedError
from jikuai.core.idnumber import parse_mobile
from jikuai.core.workdays import add_working_days, get_business_date
from jikuai.org import roles
from jikuai.org.models import User
from lifestyle.models import Merchant, ReviewTask
from lifestyle.services.uploads import image_validate_and_reencode, private_store

logger = logging.getLogger(__name__)

OPERATE = "lifestyle.operate_merchant"
ACCOUNT_RE = re.compile(r"^[0-9]{12,32}$")


class MerchantError(ApplicationError):
    code = "invalid_merchant"


def _due_at(now: dt.datetime, working_days: int = 2) -> dt.datetime:
    local = timezone.localtime(now)
    day = add_working_days(local.date(), working_days)
    return local.replace(year=day.year, month=day.month, day=day.day, hour=17, minute=0, second=0, microsecond=0)


def _new_code() -> str:
    return "SH" + "".join(secrets.choice("0123456789") for _ in range(8))


def merchant_apply(
    *,
    institution,
    name: str,
    category: str,
    region,
    settlement_account: str,
    settlement_account_name: str,
    licence_image: bytes,
    branch=None,
    address: str = "",
    contact_name: str = "",
    contact_mobile: str = "",
    licence_no: str = "",
    settlement_cycle: str = Merchant.Cycle.T1,
    fee_rate="0",
    signed_by=None,
    is_demo: bool = False,
) -> Merchant:
    """A merchant applies (usually entered by the signing staff member in the field). Creates the merchant in
    ``applied`` with its licence stored privately, and a review task for merchant operations."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise MerchantError("请填写商户名称（不超过100字）。", "merchant name required", extra={"field": "name"})
    if category not in Merchant.Category.values:
        raise MerchantError("商户类别无效。", "unknown category", extra={"field": "category"})
    if settlement_cycle not in Merchant.Cycle.values:
        raise MerchantError("结算周期无效。", "unknown settlement cycle", extra={"field": "settlement_cycle"})
    if region is None:
        raise MerchantError("请选择所在村/乡镇。", "region required", extra={"field": "region"})
    account = (settlement_account or "").replace(" ", "")
    if not ACCOUNT_RE.match(account):
        raise MerchantError(
            "结算账号应为12至32位数字。", "settlement account must be 12-32 digits", extra={"field": "settlement_account"}
        )
    if not (settlement_account_name or "").strip():
        raise MerchantError("请填写结算户名。", "settlement account name required", extra={"field": "settlement_account_name"})
    try:
        fee = Decimal(str(fee_rate))
    except InvalidOperation:
        fee = Decimal(-1)
    if not (Decimal(0) <= fee < Decimal("0.1")):
        raise MerchantError("服务费率应在0到10%之间。", "fee rate must be between 0 and 0.1", extra={"field": "fee_rate"})
    if contact_mobile:
        try:
            contact_mobile = parse_mobile(contact_mobile)
        except ValidationError as exc:
            raise MerchantError("；".join(exc.messages), "invalid contact mobile", extra={"field": "contact_mobile"}) from exc
    if branch is not None and branch.institution_id != institution.pk:
        raise MerchantError("网点不属于该法人行社。", "branch belongs to another institution", extra={"field": "branch"})
    if signed_by is not None and signed_by.institution_id not in (None, institution.pk):
        raise MerchantError(
            "签约员工不属于该法人行社。", "signing staff belongs to another institution", extra={"field": "signed_by"}
        )
    image, digest = image_validate_and_reencode(licence_image)
    path = private_store(folder="licences", data=image)
    now = timezone.now()
    with transaction.atomic():
        for _attempt in range(5):
            code = _new_code()
            if not Merchant.objects.filter(code=code).exists():
                break
        merchant = Merchant.objects.create(
            institution=institution,
            branch=branch,
            code=code,
            name=name,
            category=category,
            region=region,
            address=(address or "").strip()[:200],
            contact_name=(contact_name or "").strip()[:50],
            contact_mobile=contact_mobile,
            licence_no=(licence_no or "").strip()[:30],
            licence_image=path,
            licence_sha256=digest,
            settlement_account=account,
            settlement_account_name=settlement_account_name.strip()[:100],
            settlement_cycle=settlement_cycle,
            fee_rate=fee,
            signed_by=signed_by,
            signed_at=now if signed_by else None,
            is_demo=is_demo,
        )
        ReviewTask.objects.create(
            kind=ReviewTask.Kind.MERCHANT_REVIEW,
            institution=institution,
            branch=branch,
            queue_role=roles.MERCHANT_OPS,
            merchant=merchant,
            due_at=_due_at(now),
        )
    logger.info("merchant %s applied (institution %s)", merchant.pk, institution.pk)
    return merchant


def merchant_replace_licence(*, merchant_id: int, licence_image: bytes) -> Merchant:
    image, digest = image_validate_and_reencode(licence_image)
    path = private_store(folder="licences", data=image)
    with transaction.atomic():
        merchant = Merchant.objects.select_for_update(no_key=True).get(pk=merchant_id)
        merchant.licence_image = path
        merchant.licence_sha256 = digest
        merchant.save(update_fields=["licence_image", "licence_sha256"])
    return merchant


ACTIONS = {
    "start_review": "开始审核",
    "approve": "审核通过",
    "reject": "审核拒绝",
    "activate": "上线营业",
    "suspend": "暂停",
    "resume": "恢复营业",
    "close": "关闭",
}


def merchant_transition(*, merchant_id: int, action: str, user, comment: str = "") -> Merchant:
    """Move a merchant through its lifecycle. A repeated click on an action already done is a no-op; the staff
    member who signed the merchant may not approve it (双人复核)."""
    if action not in ACTIONS:
        raise MerchantError("未知操作。", "unknown action", code="unknown_action")
    if action in ("approve", "reject", "start_review") and not user.has_perm("lifestyle.review_merchant"):
        raise PermissionDeniedError("无商户审核权限。", "not allowed to review merchants", code="review_not_allowed")
    if action == "reject" and not comment.strip():
        raise MerchantError("拒绝时请填写原因。", "a reason is required to reject", code="reason_required")
    with transaction.atomic():
        merchant = Merchant.objects.select_for_update(no_key=True).filter(pk=merchant_id).first()
        if merchant is None:
            raise NotFound("商户不存在。", "merchant not found")
        method = getattr(merchant, action)
        target = {
            "start_review": Merchant.State.REVIEWING,
            "approve": Merchant.State.APPROVED,
            "reject": Merchant.State.REJECTED,
            "activate": Merchant.State.ACTIVE,
            "suspend": Merchant.State.SUSPENDED,
            "resume": Merchant.State.ACTIVE,
            "close": Merchant.State.CLOSED,
        }[action]
        if merchant.state == target:
            return merchant
        if action == "approve" and merchant.signed_by_id and merchant.signed_by.user_id == user.pk:
            raise PermissionDeniedError(
                "签约员工不能审核自己签约的商户。",
                "the signing staff member cannot approve their own merchant",
                code="maker_is_checker",
            )
        if not can_proceed(method):
            raise Conflict(
                f"当前状态「{merchant.get_state_display()}」不能执行「{ACTIONS[action]}」。",
                f"cannot {action} a merchant in state {merchant.state}",
                code="invalid_transition",
            )
        method(by=user, description=comment or ACTIONS[action])
        merchant.save()
        open_tasks = ReviewTask.objects.filter(
            merchant=merchant,
            kind=ReviewTask.Kind.MERCHANT_REVIEW,
            status__in=[ReviewTask.Status.OPEN, ReviewTask.Status.CLAIMED],
        )
        if action == "start_review":
            open_tasks.update(status=ReviewTask.Status.CLAIMED, assignee=user)
        elif action in ("approve", "reject"):
            open_tasks.update(status=ReviewTask.Status.DONE, outcome=action, comment=comment[:500], completed_at=timezone.now())
        if action == "activate" and merchant.signed_by_id:
            bus.publish(
                "lifestyle.merchant_signed",
                {
                    "merchant_id": merchant.pk,
                    "staff_id": merchant.signed_by_id,
                    "institution_id": merchant.institution_id,
                    "branch_id": merchant.branch_id,
                    "account_manager_id": merchant.signed_by_id,
                    "business_date": get_business_date().isoformat(),
                },
            )
    logger.info("merchant %s: %s by user %s", merchant.pk, action, user.pk)
    return merchant


def review_task_claim_next(*, user, role: str = roles.MERCHANT_OPS, institution_id: int | None = None) -> ReviewTask | None:
    """Take the oldest open task of the queue; concurrent reviewers never get the same one (SKIP LOCKED)."""
    with transaction.atomic():
        queryset = ReviewTask.objects.select_for_update(skip_locked=True).filter(status=ReviewTask.Status.OPEN, queue_role=role)
        if institution_id:
            queryset = queryset.filter(institution_id=institution_id)
        task = queryset.order_by("due_at", "id").first()
        if task is None:
            return None
        task.status = ReviewTask.Status.CLAIMED
        task.assignee = user
        task.save(update_fields=["status", "assignee"])
        return task


# --- merchant staff (portal users, guardian grants) ---------------------------------------------


def merchant_staff_create(*, merchant: Merchant, username: str, password: str, name: str = "") -> User:
    """A merchant's cashier or owner: a login user without a Staff profile, granted this merchant only."""
    username = (username or "").strip()
    if not re.fullmatch(r"[A-Za-z0-9_.@-]{3,60}", username):
        raise MerchantError(
            "用户名为3至60位字母、数字或 _.@-", "username must be 3-60 letters, digits or _.@-", extra={"field": "username"}
        )
    try:
        validate_password(password)
    except ValidationError as exc:
        raise MerchantError("；".join(exc.messages), "weak password", extra={"field": "password"}) from exc
    try:
        with transaction.atomic():
            user = User.objects.create_user(username=username, password=password, first_name=name[:150], is_staff=False)
            assign_perm(OPERATE, user, merchant)
    except IntegrityError as exc:
        raise Conflict("用户名已存在。", "username already taken", code="duplicate_username") from exc
    return user


def merchant_staff_grant(*, merchant: Merchant, user: User) -> None:
    if hasattr(user, "staff"):
        raise MerchantError("银行员工账号不能作为商户账号。", "bank staff cannot be merchant staff", code="staff_not_allowed")
    assign_perm(OPERATE, user, merchant)


def merchant_staff_users(merchant: Merchant):
    return get_users_with_perms(merchant, only_with_perms_in=["operate_merchant"], with_superusers=False, with_group_users=False)


def merchants_for_user(user):
    """Merchants a portal user may operate (guardian object grants only; global permissions do not count)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return Merchant.objects.none()
    return get_objects_for_user(user, OPERATE, klass=Merchant, accept_global_perms=False, with_superuser=False)


def merchant_for_user_or_404(user, merchant_id: int) -> Merchant:
    """Another merchant's data answers 404, exactly like a merchant that does not exist."""
    merchant = merchants_for_user(user).filter(pk=merchant_id).first()
    if merchant is None:
        raise Http404("商户不存在")
    return merchant

"""Referrals (客户裂变): customer and staff codes, first binding wins, one level only, rewards on qualification.

Refused: referring oneself, someone of the same household, someone using a device the referrer used, customers
of another institution, and customers who are not new. A staff code attributes the customer to that staff
member (``lifestyle.referral_bound`` for performance); customer referrers earn points when the referred
customer qualifies (KYC + first drawdown, or social-security card activation).
"""

import datetime as dt
import hashlib
import logging
import secrets

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from jikuai.core import bus
from jikuai.core.exceptions import ApplicationError, Conflict, NotFound
from jikuai.customers.models import Customer, Household, HouseholdMember
from jikuai.customers.services import REFERRAL_ALPHABET
from jikuai.org.models import Staff
from lifestyle.models import DeviceSighting, ReferralBinding

logger = logging.getLogger(__name__)
NEW_CUSTOMER_DAYS = 30
STAFF_CODE_PREFIX = "ST"


class ReferralRefused(ApplicationError):
    code = "referral_refused"


def device_hash(raw: str) -> str:
    return hashlib.sha256(f"lifestyle-device:{raw}".encode()).hexdigest() if raw else ""


def device_seen(*, customer_id: int, raw_device_id: str) -> None:
    """Remember that a customer used a device (cookie id), for the same-device referral check."""
    digest = device_hash(raw_device_id)
    if digest:
        DeviceSighting.objects.get_or_create(customer_id=customer_id, device_hash=digest)


def staff_referral_code(staff: Staff) -> str:
    """A staff member's code (10 characters, prefix ST, so it never collides with 8-character customer codes)."""
    if staff.referral_code:
        return staff.referral_code
    for _attempt in range(5):
        code = STAFF_CODE_PREFIX + "".join(secrets.choice(REFERRAL_ALPHABET) for _ in range(8))
        try:
            with transaction.atomic():
                if Staff.objects.filter(pk=staff.pk, referral_code__isnull=True).update(referral_code=code):
                    staff.referral_code = code
                    return code
                staff.refresh_from_db(fields=["referral_code"])
                return staff.referral_code
        except IntegrityError:
            continue
    raise Conflict("推荐码生成失败，请重试。", "could not allocate a referral code", code="code_allocation")


def referrer_for_code(code: str) -> Customer | Staff | None:
    """Customer codes are 8 characters (kernel); staff codes are any other length, so the two never collide."""
    code = (code or "").strip().upper()
    if not code or len(code) > 12:
        return None
    if len(code) == 8:
        customer = Customer.objects.filter(referral_code=code).first()
        if customer is not None:
            return customer
    return Staff.objects.filter(referral_code=code, is_active=True).first()


def _households_of(customer_id: int) -> set[int]:
    members = set(HouseholdMember.objects.filter(customer_id=customer_id).values_list("household_id", flat=True))
    heads = set(Household.objects.filter(head_id=customer_id).values_list("pk", flat=True))
    return members | heads


def _same_household(a_id: int, b_id: int) -> bool:
    return bool(_households_of(a_id) & _households_of(b_id))


def _shares_device(referrer_id: int, customer_id: int, current_hash: str) -> bool:
    mine = set(DeviceSighting.objects.filter(customer_id=customer_id).values_list("device_hash", flat=True))
    if current_hash:
        mine.add(current_hash)
    if not mine:
        return False
    return DeviceSighting.objects.filter(customer_id=referrer_id, device_hash__in=mine).exists()


def referral_bind(
    *, customer: Customer, code: str, raw_device_id: str = "", channel: str = "code", now: dt.datetime | None = None
) -> ReferralBinding:
    """Bind ``customer`` to the owner of ``code``. The first binding wins; binding again to the same referrer is
    a no-op, to another one is refused."""
    now = now or timezone.now()
    referrer = referrer_for_code(code)
    if referrer is None:
        raise NotFound("推荐码不存在。", "unknown referral code", code="unknown_referral_code")
    existing = ReferralBinding.objects.filter(customer=customer).first()
    if existing is not None:
        if (isinstance(referrer, Customer) and existing.referrer_customer_id == referrer.pk) or (
            isinstance(referrer, Staff) and existing.referrer_staff_id == referrer.pk
        ):
            return existing
        raise Conflict(
            "您已绑定推荐人，首次绑定有效。", "already bound to another referrer (first binding wins)", code="already_bound"
        )
    current_hash = device_hash(raw_device_id)
    if isinstance(referrer, Customer):
        if referrer.pk == customer.pk:
            raise ReferralRefused("不能推荐自己。", "you cannot refer yourself", code="self_referral")
        if referrer.institution_id != customer.institution_id:
            raise ReferralRefused("推荐人不属于同一机构。", "referrer belongs to another institution", code="other_institution")
        if _same_household(referrer.pk, customer.pk):
            raise ReferralRefused("同一家庭成员之间不能推荐。", "same-household referrals are not allowed", code="same_household")
        if _shares_device(referrer.pk, customer.pk, current_hash):
            raise ReferralRefused("同一设备不能推荐。", "same-device referrals are not allowed", code="same_device")
    elif referrer.institution_id not in (None, customer.institution_id):
        raise ReferralRefused("推荐员工不属于同一机构。", "staff member belongs to another institution", code="other_institution")
    if customer.created_at < now - dt.timedelta(days=NEW_CUSTOMER_DAYS):
        raise ReferralRefused(
            f"仅限注册{NEW_CUSTOMER_DAYS}天内的新客户绑定推荐人。", "only new customers can be referred", code="not_new_customer"
        )
    try:
        with transaction.atomic():
            binding = ReferralBinding.objects.create(
                customer=customer,
                institution_id=customer.institution_id,
                referrer_customer=referrer if isinstance(referrer, Customer) else None,
                referrer_staff=referrer if isinstance(referrer, Staff) else None,
                code=code.strip().upper(),
                channel=channel[:20],
                kyc_verified_at=now if customer.kyc_status == Customer.KycStatus.VERIFIED else None,
                bound_at=now,
            )
            if current_hash:
                DeviceSighting.objects.get_or_create(customer_id=customer.pk, device_hash=current_hash)
            if isinstance(referrer, Customer):
                Customer.objects.filter(pk=customer.pk, referred_by__isnull=True).update(referred_by=referrer)
            bus.publish("lifestyle.referral_bound", _payload(binding, customer))
    except IntegrityError:
        existing = ReferralBinding.objects.filter(customer=customer).first()
        if existing is None:
            raise
        raise Conflict("您已绑定推荐人，首次绑定有效。", "already bound (first binding wins)", code="already_bound")
    logger.info("referral: customer %s bound (%s)", customer.pk, "staff" if binding.referrer_staff_id else "customer")
    return binding


def _payload(binding: ReferralBinding, customer: Customer) -> dict:
    payload = {
        "customer_id": customer.pk,
        "institution_id": customer.institution_id,
        "branch_id": customer.branch_id,
        "account_manager_id": binding.referrer_staff_id or customer.account_manager_id,
    }
    if binding.referrer_staff_id:
        payload["referrer_staff_id"] = binding.referrer_staff_id
    else:
        payload["referrer_customer_id"] = binding.referrer_customer_id
    return payload


PROGRESS_FIELDS = {"kyc": "kyc_verified_at", "first_drawdown": "first_drawdown_at", "card": "card_activated_at"}


def referral_progress(*, customer_id: int, step: str, at: dt.datetime | None = None) -> ReferralBinding | None:
    """Record a qualifying step of a referred customer; on qualification (KYC + first drawdown, or card
    activation) publish ``lifestyle.referral_qualified`` exactly once."""
    at = at or timezone.now()
    field = PROGRESS_FIELDS[step]
    with transaction.atomic():
        binding = ReferralBinding.objects.select_for_update().filter(customer_id=customer_id).first()
        if binding is None:
            return None
        if getattr(binding, field) is None:
            setattr(binding, field, at)
            binding.save(update_fields=[field])
        qualifies = (binding.kyc_verified_at and binding.first_drawdown_at) or binding.card_activated_at
        if qualifies and binding.status == ReferralBinding.Status.BOUND:
            binding.status = ReferralBinding.Status.QUALIFIED
            binding.qualified_at = at
            binding.save(update_fields=["status", "qualified_at"])
            customer = Customer.objects.get(pk=customer_id)
            bus.publish("lifestyle.referral_qualified", _payload(binding, customer))
    return binding


def invitees_of(customer: Customer):
    return ReferralBinding.objects.filter(referrer_customer=customer).select_related("customer").order_by("-bound_at")


def bindings_for_staff(staff: Staff):
    return ReferralBinding.objects.filter(Q(referrer_staff=staff)).select_related("customer").order_by("-bound_at")

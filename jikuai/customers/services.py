"""Customer writes: creation with full validation, PII updates, consents, web account passwords."""

import datetime as dt
import logging
import secrets
from decimal import Decimal

from django.contrib.auth.hashers import check_password, make_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from jikuai.core import bus, crypto
from jikuai.core.exceptions import ApplicationError, Conflict
from jikuai.core.idnumber import normalise_id_number, parse_id_number, parse_mobile
from jikuai.core.money import round_fen, to_decimal
from jikuai.customers.models import Consent, Customer, Region
from jikuai.org.models import Branch, Institution, Staff

logger = logging.getLogger(__name__)

REFERRAL_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I


class CustomerValidationError(ApplicationError):
    code = "invalid_customer"


def id_number_index(value: str) -> str:
    return crypto.blind_index(normalise_id_number(value), purpose="customers.id_number")


def mobile_index(value: str) -> str:
    return crypto.blind_index(value, purpose="customers.mobile")


def new_referral_code() -> str:
    return "".join(secrets.choice(REFERRAL_ALPHABET) for _ in range(8))


def _validation_error(exc: ValidationError, field: str) -> CustomerValidationError:
    message = "；".join(exc.messages)
    return CustomerValidationError(message, f"invalid {field}", extra={"field": field})


def customer_create(
    *,
    institution: Institution,
    name: str,
    id_number: str,
    mobile: str,
    branch: Branch | None = None,
    account_manager: Staff | None = None,
    address: str = "",
    bank_card: str = "",
    region: Region | None = None,
    occupation: str = Customer.Occupation.OTHER,
    employer: str = "",
    monthly_income: Decimal | str | int = 0,
    channel: str = Customer.Channel.WEB,
    referred_by: Customer | None = None,
    password: str | None = None,
    is_demo: bool = False,
    today: dt.date | None = None,
) -> Customer:
    """Create a customer. Raises CustomerValidationError (Chinese + English) and writes nothing on bad input."""
    name = (name or "").strip()
    if not name or len(name) > 50:
        raise CustomerValidationError(
            "请输入姓名（不超过50个字）。", "name is required (at most 50 characters)", extra={"field": "name"}
        )
    try:
        parsed = parse_id_number(id_number, today=today)
    except ValidationError as exc:
        raise _validation_error(exc, "id_number") from exc
    try:
        mobile = parse_mobile(mobile)
    except ValidationError as exc:
        raise _validation_error(exc, "mobile") from exc
    if occupation not in Customer.Occupation.values:
        raise CustomerValidationError("职业类别无效。", "unknown occupation", extra={"field": "occupation"})
    if channel not in Customer.Channel.values:
        raise CustomerValidationError("渠道无效。", "unknown channel", extra={"field": "channel"})
    try:
        income = round_fen(to_decimal(monthly_income))
    except (ValueError, TypeError) as exc:
        raise CustomerValidationError(
            "月收入格式错误。", "monthly income must be a number", extra={"field": "monthly_income"}
        ) from exc
    if income < 0 or income > Decimal("100000000"):
        raise CustomerValidationError(
            "月收入应在0到1亿元之间。", "monthly income out of range", extra={"field": "monthly_income"}
        )
    bank_card = (bank_card or "").replace(" ", "")
    if bank_card and not (bank_card.isdigit() and 12 <= len(bank_card) <= 19):
        raise CustomerValidationError(
            "银行卡号应为12至19位数字。", "bank card must be 12-19 digits", extra={"field": "bank_card"}
        )
    if branch is not None and branch.institution_id != institution.pk:
        raise CustomerValidationError(
            "网点不属于该法人行社。", "branch belongs to another institution", extra={"field": "branch"}
        )
    if account_manager is not None and account_manager.institution_id != institution.pk:
        raise CustomerValidationError(
            "客户经理不属于该法人行社。", "account manager belongs to another institution", extra={"field": "account_manager"}
        )
    if password is not None:
        try:
            validate_password(password)
        except ValidationError as exc:
            raise _validation_error(exc, "password") from exc

    id_index = id_number_index(parsed.number)
    m_index = mobile_index(mobile)
    if Customer.objects.filter(institution=institution, id_number_index=id_index).exists():
        raise Conflict(
            "该身份证号码已在本机构登记。",
            "a customer with this ID number already exists",
            code="duplicate_id_number",
            extra={"field": "id_number"},
        )
    if password is not None and Customer.objects.filter(mobile_index=m_index, web_enabled=True).exists():
        raise Conflict(
            "该手机号已注册，请直接登录。",
            "this mobile number is already registered",
            code="duplicate_mobile",
            extra={"field": "mobile"},
        )

    customer = Customer(
        institution=institution,
        branch=branch,
        account_manager=account_manager,
        name=name,
        id_number=parsed.number,
        id_number_index=id_index,
        mobile=mobile,
        mobile_index=m_index,
        address=(address or "").strip(),
        bank_card=bank_card,
        bank_card_last4=bank_card[-4:] if bank_card else "",
        gender=parsed.gender,
        birth_date=parsed.birth_date,
        region=region,
        occupation=occupation,
        employer=(employer or "").strip(),
        monthly_income=income,
        channel=channel,
        referred_by=referred_by,
        is_demo=is_demo,
    )
    if password is not None:
        customer.password = make_password(password)
        customer.web_enabled = True
    try:
        with transaction.atomic():
            for _attempt in range(5):
                customer.referral_code = new_referral_code()
                if not Customer.objects.filter(referral_code=customer.referral_code).exists():
                    break
            customer.save()
            bus.publish(
                "customers.customer_created",
                {
                    "customer_id": customer.pk,
                    "institution_id": institution.pk,
                    "branch_id": branch.pk if branch else None,
                    "account_manager_id": account_manager.pk if account_manager else None,
                    "referred_by_id": referred_by.pk if referred_by else None,
                    "channel": channel,
                },
            )
    except IntegrityError as exc:
        # the unique constraints are the real guard when two requests race
        raise Conflict("该客户已存在（身份证号或手机号重复）。", "customer already exists", code="duplicate_customer") from exc
    logger.info("customer created id=%s institution=%s channel=%s", customer.pk, institution.pk, channel)
    return customer


def customer_find_by_id_number(*, institution: Institution | None, id_number: str, queryset=None):
    qs = queryset if queryset is not None else Customer.objects.all()
    qs = qs.filter(id_number_index=id_number_index(id_number))
    if institution is not None:
        qs = qs.filter(institution=institution)
    return qs


def customer_set_password(*, customer: Customer, password: str) -> None:
    try:
        validate_password(password)
    except ValidationError as exc:
        raise _validation_error(exc, "password") from exc
    Customer.objects.filter(pk=customer.pk).update(
        password=make_password(password), failed_logins=0, locked_until=None, web_enabled=True
    )
    customer.refresh_from_db()


def customer_check_password(*, customer: Customer, password: str) -> bool:
    return bool(customer.password) and check_password(password, customer.password)


def consent_grant(*, customer: Customer, purpose: str, text_version: str, channel: str, ip_address: str | None = None) -> Consent:
    if purpose not in Consent.Purpose.values:
        raise ApplicationError("授权事项无效。", "unknown consent purpose", code="invalid_consent")
    with transaction.atomic():
        existing = (
            Consent.objects.select_for_update().filter(customer=customer, purpose=purpose, withdrawn_at__isnull=True).first()
        )
        if existing and existing.text_version == text_version:
            return existing
        if existing:
            existing.withdrawn_at = timezone.now()
            existing.save(update_fields=["withdrawn_at"])
        return Consent.objects.create(
            customer=customer, purpose=purpose, text_version=text_version, channel=channel, ip_address=ip_address
        )


def consent_withdraw(*, customer: Customer, purpose: str) -> int:
    with transaction.atomic():
        return Consent.objects.filter(customer=customer, purpose=purpose, withdrawn_at__isnull=True).update(
            withdrawn_at=timezone.now()
        )


def consent_is_active(*, customer_id: int, purpose: str) -> bool:
    return Consent.objects.filter(customer_id=customer_id, purpose=purpose, withdrawn_at__isnull=True).exists()

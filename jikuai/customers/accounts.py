"""Customer web accounts (网上服务账户): registration with a confirmed mobile, one-time codes (短信验证码),
login by password or code with lockout, password reset and change, profile edits, consents.

One-time codes are six digits from ``secrets``; only a keyed hash bound to the mobile and the purpose is
stored, so a login code can never reset a password. Rate limits are counted from ``OneTimeCode`` rows
(per mobile and per IP address); the code itself goes only to the SMS backend and is never logged.

Customer sessions are separate from staff logins: these services never touch ``org.User``; the web views
keep the customer id under their own session keys (``jikuai.web.middleware``).

Wrong codes and wrong passwords are counted in their own short transaction that commits before the error
is raised: call these services from the top level (not inside a transaction that will roll back), or the
counters would roll back with it and guessing would be unlimited.
"""

import datetime as dt
import hashlib
import json
import logging
import math
import secrets
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation
from functools import cache

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from jikuai.core import crypto
from jikuai.core.exceptions import ApplicationError, Conflict, NotFound, RateLimited
from jikuai.core.idnumber import parse_id_number, parse_mobile
from jikuai.core.masking import mask_mobile
from jikuai.core.money import round_fen, to_decimal
from jikuai.core.sms import SmsError, send_sms
from jikuai.customers.models import Consent, Customer, OneTimeCode
from jikuai.customers.services import (
    consent_grant,
    consent_withdraw,
    customer_check_password,
    customer_create,
    customer_set_password,
    id_number_index,
    mobile_index,
)
from jikuai.org.models import Institution

logger = logging.getLogger(__name__)

OTP_LENGTH = 6
# How long a registration started on step 1 may wait for its code on step 2.
REGISTRATION_PENDING_SECONDS = 30 * 60
# Versions of the consent texts shown on the pages (bump when the text changes).
CONSENT_TEXT_VERSIONS = {
    Consent.Purpose.PERSONAL_INFO: "2026.1",
    Consent.Purpose.MARKETING: "2026.1",
}
# Purposes a customer may grant and withdraw on the web (credit-report consents belong to loan applications).
WEB_MANAGED_CONSENTS = (Consent.Purpose.PERSONAL_INFO, Consent.Purpose.MARKETING)

SMS_TEXTS = {
    OneTimeCode.Purpose.REGISTER: "【吉快金融】您正在注册吉快金融账户，验证码{code}，{minutes}分钟内有效。请勿将验证码告诉他人。",
    OneTimeCode.Purpose.LOGIN: "【吉快金融】您的登录验证码为{code}，{minutes}分钟内有效。如非本人操作请忽略。",
    OneTimeCode.Purpose.RESET_PASSWORD: "【吉快金融】您正在重置登录密码，验证码{code}，{minutes}分钟内有效。请勿将验证码告诉他人。",
    OneTimeCode.Purpose.CHANGE_MOBILE: "【吉快金融】您正在更换手机号，验证码{code}，{minutes}分钟内有效。请勿将验证码告诉他人。",
    OneTimeCode.Purpose.CONFIRM: "【吉快金融】您的业务确认验证码为{code}，{minutes}分钟内有效。请勿将验证码告诉他人。",
    OneTimeCode.Purpose.CONTRACT_SIGN: "【吉快金融】您正在签署电子合同，验证码{code}，{minutes}分钟内有效。输入即表示您同意合同全部条款，请勿告诉他人。",
}


class AccountError(ApplicationError):
    code = "account_error"


class OtpError(ApplicationError):
    code = "otp_invalid"


class LoginFailed(ApplicationError):
    code = "login_failed"
    status = 401


class AccountLocked(ApplicationError):
    code = "account_locked"
    status = 403


LOGIN_FAILED_ZH = "手机号或密码错误。"
LOGIN_FAILED_EN = "wrong mobile number or password"


# --- helpers --------------------------------------------------------------------------------------------


def _parse_mobile(value: str) -> str:
    try:
        return parse_mobile(value)
    except ValidationError as exc:
        raise AccountError(
            "；".join(exc.messages),
            "the mobile number must be 11 digits starting with 1",
            code="invalid_mobile",
            extra={"field": "mobile"},
        ) from exc


def _validate_new_password(password: str) -> None:
    try:
        validate_password(password)
    except ValidationError as exc:
        raise AccountError(
            "；".join(exc.messages), "the password is too weak", code="invalid_password", extra={"field": "password"}
        ) from exc


def _code_hash(*, m_index: str, purpose: str, code: str) -> str:
    # keyed (TOKEN_SIGNING_KEY) and bound to mobile and purpose: a leaked table reveals no code, and a
    # login code does not verify as a password-reset code
    return crypto.sign_token_bytes(f"otp|{purpose}|{m_index}|{code}".encode())


def _advisory_locks(*keys: str | None) -> None:
    """Serialise rate-limit checks per mobile / IP on PostgreSQL (transaction-scoped advisory locks,
    taken in a fixed order). SQLite serialises writers itself, so nothing is needed there."""
    if connection.vendor != "postgresql":
        return
    ids = sorted({int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True) for key in keys if key})
    with connection.cursor() as cursor:
        for lock_id in ids:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [lock_id])


@cache
def _dummy_password_hash() -> str:
    return make_password(secrets.token_hex(16))


def _web_customer_by_mobile(mobile: str) -> Customer | None:
    return Customer.objects.filter(mobile_index=mobile_index(mobile), web_enabled=True).select_related("institution").first()


# --- one-time codes -------------------------------------------------------------------------------------


def otp_send(*, mobile: str, purpose: str, ip_address: str | None, deliver: bool = True) -> OneTimeCode:
    """Issue a one-time code for ``mobile`` and ``purpose`` and send it by SMS.

    Raises RateLimited when the mobile asked too recently or too often in the last hour, or the IP address
    asked too often. A new code replaces the open codes of the same mobile and purpose. ``deliver=False``
    records the request (it counts for the limits) without sending anything: used when the mobile has no
    account, so the answer does not reveal whether it is registered.
    """
    mobile = _parse_mobile(mobile)
    if purpose not in OneTimeCode.Purpose.values:
        raise AccountError("验证码用途无效。", "unknown one-time code purpose", code="otp_purpose")
    m_index = mobile_index(mobile)
    code = f"{secrets.randbelow(10**OTP_LENGTH):0{OTP_LENGTH}d}"
    ttl = dt.timedelta(seconds=settings.OTP_TTL_SECONDS)
    with transaction.atomic():
        _advisory_locks(f"otp-mobile:{m_index}", f"otp-ip:{ip_address}" if ip_address else None)
        now = timezone.now()
        hour_ago = now - dt.timedelta(hours=1)
        recent = OneTimeCode.objects.filter(mobile_index=m_index, created_at__gt=hour_ago)
        last_sent = recent.order_by("-created_at").values_list("created_at", flat=True).first()
        if last_sent is not None:
            wait = settings.OTP_MIN_INTERVAL_SECONDS - (now - last_sent).total_seconds()
            if wait > 0:
                seconds = math.ceil(wait)
                raise RateLimited(
                    f"验证码发送过于频繁，请{seconds}秒后再试。",
                    f"codes are sent at most once a minute; try again in {seconds} seconds",
                    code="otp_too_soon",
                    extra={"retry_after": seconds},
                )
        if recent.count() >= settings.OTP_MAX_PER_MOBILE_PER_HOUR:
            raise RateLimited(
                "该手机号获取验证码次数过多，请1小时后再试。",
                "too many codes for this mobile number; try again in an hour",
                code="otp_mobile_limit",
            )
        if (
            ip_address
            and OneTimeCode.objects.filter(ip_address=ip_address, created_at__gt=hour_ago).count()
            >= settings.OTP_MAX_PER_IP_PER_HOUR
        ):
            raise RateLimited(
                "当前网络获取验证码次数过多，请1小时后再试。",
                "too many codes requested from this network; try again in an hour",
                code="otp_ip_limit",
            )
        OneTimeCode.objects.filter(mobile_index=m_index, purpose=purpose, used_at__isnull=True, expires_at__gt=now).update(
            expires_at=now
        )
        row = OneTimeCode.objects.create(
            mobile_index=m_index,
            purpose=purpose,
            code_hash=_code_hash(m_index=m_index, purpose=purpose, code=code),
            ip_address=ip_address,
            created_at=now,
            expires_at=now + ttl,
        )
    logger.info("one-time code issued id=%s purpose=%s mobile=%s", row.pk, purpose, mask_mobile(mobile))
    if deliver:
        # sent after the row is committed (no SMS inside an open transaction of ours)
        text = SMS_TEXTS[purpose].format(code=code, minutes=max(1, settings.OTP_TTL_SECONDS // 60))
        try:
            send_sms(mobile=mobile, text=text, template=f"otp_{purpose}")
        except SmsError as exc:
            OneTimeCode.objects.filter(pk=row.pk).update(expires_at=timezone.now())
            logger.warning("one-time code not delivered id=%s mobile=%s: %s", row.pk, mask_mobile(mobile), exc.__class__.__name__)
            raise AccountError(
                "短信发送失败，请稍后再试。", "the SMS could not be sent; try again later", code="sms_failed"
            ) from exc
    return row


_OTP_NONE = ("验证码无效，请先获取验证码。", "no valid code; request a code first")
_OTP_USED = ("验证码已使用，请重新获取。", "this code has already been used; request a new one")
_OTP_EXPIRED = ("验证码已过期，请重新获取。", "the code has expired; request a new one")
_OTP_TOO_MANY = ("验证码错误次数过多，请重新获取。", "too many wrong attempts; request a new code")


def otp_verify(*, mobile: str, purpose: str, code: str) -> None:
    """Consume the latest code of ``mobile`` for ``purpose``; raise OtpError if it is wrong, expired,
    already used or out of attempts. A wrong attempt is counted (and committed) before the error is raised."""
    m_index = mobile_index(_parse_mobile(mobile))
    code = (code or "").strip()
    failure = None
    with transaction.atomic():
        now = timezone.now()
        row = (
            OneTimeCode.objects.select_for_update()
            .filter(mobile_index=m_index, purpose=purpose)
            .order_by("-created_at", "-id")
            .first()
        )
        if row is None:
            failure = ("otp_missing", *_OTP_NONE)
        elif row.used_at is not None:
            failure = ("otp_used", *_OTP_USED)
        elif row.expires_at <= now:
            failure = ("otp_expired", *_OTP_EXPIRED)
        elif row.attempts >= settings.OTP_MAX_ATTEMPTS:
            failure = ("otp_attempts", *_OTP_TOO_MANY)
        elif not (
            len(code) == OTP_LENGTH
            and code.isdigit()
            and crypto.constant_time_equals(row.code_hash, _code_hash(m_index=m_index, purpose=purpose, code=code))
        ):
            OneTimeCode.objects.filter(pk=row.pk).update(attempts=F("attempts") + 1)
            left = settings.OTP_MAX_ATTEMPTS - row.attempts - 1
            if left <= 0:
                failure = ("otp_attempts", *_OTP_TOO_MANY)
            else:
                failure = ("otp_wrong", f"验证码错误，还可尝试{left}次。", f"wrong code; {left} attempts left")
        else:
            OneTimeCode.objects.filter(pk=row.pk).update(used_at=now)
    if failure:
        error_code, message_zh, message_en = failure
        raise OtpError(message_zh, message_en, code=error_code, extra={"field": "code"})


# --- registration ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PendingRegistration:
    """Step 1 of a registration, waiting for the code. Sealed (SM4-GCM) when kept in the session because it
    holds the ID number, mobile and chosen password."""

    institution_id: int
    name: str
    id_number: str
    mobile: str
    password: str
    started_at: float

    def seal(self) -> str:
        return crypto.encrypt(json.dumps(asdict(self), ensure_ascii=False), purpose="web.pending_registration")

    @classmethod
    def unseal(cls, token: str | None) -> "PendingRegistration | None":
        if not token:
            return None
        try:
            data = json.loads(crypto.decrypt(token, purpose="web.pending_registration"))
            pending = cls(**data)
        except (crypto.DecryptionError, ValueError, TypeError):
            return None
        if timezone.now().timestamp() - pending.started_at > REGISTRATION_PENDING_SECONDS:
            return None
        return pending

    @property
    def masked_mobile(self) -> str:
        return mask_mobile(self.mobile)


def registration_institutions():
    return Institution.objects.filter(is_active=True).order_by("code")


def _registration_check(
    *, institution: Institution, name: str, id_number: str, mobile: str, password: str
) -> tuple[str, str, str]:
    """The checks of customer_create for a web account, without writing: returns (name, ID, mobile)."""
    if institution is None or not institution.is_active:
        raise AccountError(
            "请选择开户的法人行社。", "choose your bank", code="invalid_institution", extra={"field": "institution"}
        )
    name = (name or "").strip()
    if not name or len(name) > 50:
        raise AccountError("请输入姓名（不超过50个字）。", "name is required (at most 50 characters)", extra={"field": "name"})
    try:
        parsed = parse_id_number(id_number)
    except ValidationError as exc:
        raise AccountError(
            "；".join(exc.messages), "invalid ID number", code="invalid_id_number", extra={"field": "id_number"}
        ) from exc
    mobile = _parse_mobile(mobile)
    _validate_new_password(password)
    if Customer.objects.filter(institution=institution, id_number_index=id_number_index(parsed.number)).exists():
        raise Conflict(
            "该身份证号码已在本机构登记，请直接登录；如未开通网上服务，请联系您的客户经理。",
            "a customer with this ID number already exists at this bank",
            code="duplicate_id_number",
            extra={"field": "id_number"},
        )
    if Customer.objects.filter(mobile_index=mobile_index(mobile), web_enabled=True).exists():
        raise Conflict(
            "该手机号已注册，请直接登录。",
            "this mobile number is already registered",
            code="duplicate_mobile",
            extra={"field": "mobile"},
        )
    return name, parsed.number, mobile


def registration_start(
    *,
    institution: Institution,
    name: str,
    id_number: str,
    mobile: str,
    password: str,
    consent_given: bool,
    ip_address: str | None,
) -> PendingRegistration:
    """Step 1: validate everything and send a registration code to the mobile. Writes no customer."""
    name, id_number, mobile = _registration_check(
        institution=institution, name=name, id_number=id_number, mobile=mobile, password=password
    )
    if not consent_given:
        raise AccountError(
            "请阅读并同意《个人信息处理授权书》。",
            "you must agree to the personal information processing consent",
            code="consent_required",
            extra={"field": "consent"},
        )
    otp_send(mobile=mobile, purpose=OneTimeCode.Purpose.REGISTER, ip_address=ip_address)
    return PendingRegistration(
        institution_id=institution.pk,
        name=name,
        id_number=id_number,
        mobile=mobile,
        password=password,
        started_at=timezone.now().timestamp(),
    )


def registration_resend_code(*, pending: PendingRegistration, ip_address: str | None) -> None:
    otp_send(mobile=pending.mobile, purpose=OneTimeCode.Purpose.REGISTER, ip_address=ip_address)


def registration_complete(*, pending: PendingRegistration, code: str, ip_address: str | None) -> Customer:
    """Step 2: check the code, then create the customer with a verified mobile and the consent, in one
    transaction. The checks are repeated first so a conflict found meanwhile does not spend the code."""
    institution = Institution.objects.filter(pk=pending.institution_id).first()
    _registration_check(
        institution=institution,
        name=pending.name,
        id_number=pending.id_number,
        mobile=pending.mobile,
        password=pending.password,
    )
    otp_verify(mobile=pending.mobile, purpose=OneTimeCode.Purpose.REGISTER, code=code)
    with transaction.atomic():
        customer = customer_create(
            institution=institution,
            name=pending.name,
            id_number=pending.id_number,
            mobile=pending.mobile,
            password=pending.password,
            channel=Customer.Channel.WEB,
        )
        Customer.objects.filter(pk=customer.pk).update(mobile_verified_at=timezone.now(), last_login_at=timezone.now())
        consent_grant(
            customer=customer,
            purpose=Consent.Purpose.PERSONAL_INFO,
            text_version=CONSENT_TEXT_VERSIONS[Consent.Purpose.PERSONAL_INFO],
            channel=Customer.Channel.WEB,
            ip_address=ip_address,
        )
    customer.refresh_from_db()
    logger.info("web account registered customer=%s institution=%s", customer.pk, institution.pk)
    return customer


# --- login, lockout, passwords --------------------------------------------------------------------------


def _ensure_not_locked(customer: Customer) -> None:
    if customer.locked_until and customer.locked_until > timezone.now():
        minutes = math.ceil((customer.locked_until - timezone.now()).total_seconds() / 60)
        raise AccountLocked(
            f"登录失败次数过多，账户已锁定，请{minutes}分钟后再试，或通过“忘记密码”重置密码。",
            f"too many failed logins: the account is locked; try again in {minutes} minutes or reset your password",
            extra={"minutes": minutes},
        )


def _record_failed_login(customer: Customer) -> bool:
    """Count a wrong password; lock the account when the limit is reached. Returns True when now locked."""
    limit = settings.CUSTOMER_LOGIN_FAILURE_LIMIT
    with transaction.atomic():
        row = Customer.objects.select_for_update(no_key=True).only("id", "failed_logins", "locked_until").get(pk=customer.pk)
        now = timezone.now()
        failures = 1 if (row.locked_until and row.locked_until <= now) else row.failed_logins + 1
        locked_until = now + dt.timedelta(minutes=settings.CUSTOMER_LOGIN_LOCK_MINUTES) if failures >= limit else None
        Customer.objects.filter(pk=row.pk).update(failed_logins=failures, locked_until=locked_until)
    customer.failed_logins, customer.locked_until = failures, locked_until
    if locked_until:
        logger.warning("customer web account locked customer=%s after %s failures", customer.pk, failures)
    return locked_until is not None


def _record_login(customer: Customer) -> None:
    now = timezone.now()
    Customer.objects.filter(pk=customer.pk).update(failed_logins=0, locked_until=None, last_login_at=now)
    customer.failed_logins, customer.locked_until, customer.last_login_at = 0, None, now


def customer_login_password(*, mobile: str, password: str) -> Customer:
    """Log in with mobile + password. The same error for an unknown mobile and a wrong password; after
    CUSTOMER_LOGIN_FAILURE_LIMIT wrong passwords the account is locked, and even the right password is
    refused until the lock ends."""
    mobile = _parse_mobile(mobile)
    customer = _web_customer_by_mobile(mobile)
    if customer is None:
        check_password(password or "", _dummy_password_hash())  # same work as a real check
        raise LoginFailed(LOGIN_FAILED_ZH, LOGIN_FAILED_EN)
    _ensure_not_locked(customer)
    if not customer_check_password(customer=customer, password=password or ""):
        if _record_failed_login(customer):
            _ensure_not_locked(customer)
        raise LoginFailed(LOGIN_FAILED_ZH, LOGIN_FAILED_EN)
    _record_login(customer)
    return customer


def login_code_request(*, mobile: str, ip_address: str | None) -> None:
    """Send a login code. For a mobile without an account nothing is sent, with the same answer."""
    mobile = _parse_mobile(mobile)
    registered = _web_customer_by_mobile(mobile) is not None
    otp_send(mobile=mobile, purpose=OneTimeCode.Purpose.LOGIN, ip_address=ip_address, deliver=registered)


def customer_login_code(*, mobile: str, code: str) -> Customer:
    """Log in with mobile + one-time code (purpose login). A locked account stays locked."""
    mobile = _parse_mobile(mobile)
    customer = _web_customer_by_mobile(mobile)
    if customer is None:
        raise OtpError(*_OTP_NONE, code="otp_missing", extra={"field": "code"})
    _ensure_not_locked(customer)
    otp_verify(mobile=mobile, purpose=OneTimeCode.Purpose.LOGIN, code=code)
    _record_login(customer)
    return customer


def reset_code_request(*, mobile: str, ip_address: str | None) -> None:
    """Send a password-reset code. For a mobile without an account nothing is sent, with the same answer."""
    mobile = _parse_mobile(mobile)
    registered = _web_customer_by_mobile(mobile) is not None
    otp_send(mobile=mobile, purpose=OneTimeCode.Purpose.RESET_PASSWORD, ip_address=ip_address, deliver=registered)


def customer_reset_password(*, mobile: str, code: str, new_password: str) -> Customer:
    """Set a new password after a reset code (purpose reset_password). Also ends a lockout."""
    mobile = _parse_mobile(mobile)
    _validate_new_password(new_password)  # before the code is spent
    customer = _web_customer_by_mobile(mobile)
    if customer is None:
        raise OtpError(*_OTP_NONE, code="otp_missing", extra={"field": "code"})
    otp_verify(mobile=mobile, purpose=OneTimeCode.Purpose.RESET_PASSWORD, code=code)
    customer_set_password(customer=customer, password=new_password)
    logger.info("customer password reset customer=%s", customer.pk)
    return customer


def customer_change_password(*, customer: Customer, old_password: str, new_password: str) -> Customer:
    if not customer_check_password(customer=customer, password=old_password or ""):
        raise AccountError(
            "原密码错误。", "the current password is wrong", code="wrong_password", extra={"field": "old_password"}
        )
    _validate_new_password(new_password)
    customer_set_password(customer=customer, password=new_password)
    return customer


# --- profile and consents -------------------------------------------------------------------------------


def customer_profile_update(
    *, customer: Customer, address: str, occupation: str, employer: str, monthly_income: Decimal | str | int
) -> Customer:
    """The fields a customer may edit themselves: address, occupation, employer, monthly income."""
    address = (address or "").strip()
    employer = (employer or "").strip()
    if len(address) > 200:
        raise AccountError("地址不超过200个字。", "address too long (at most 200 characters)", extra={"field": "address"})
    if len(employer) > 100:
        raise AccountError("工作单位不超过100个字。", "employer too long (at most 100 characters)", extra={"field": "employer"})
    if occupation not in Customer.Occupation.values:
        raise AccountError("职业类别无效。", "unknown occupation", extra={"field": "occupation"})
    try:
        income = round_fen(to_decimal(monthly_income))
    except (ValueError, TypeError, InvalidOperation) as exc:
        raise AccountError("月收入格式错误。", "monthly income must be a number", extra={"field": "monthly_income"}) from exc
    if income < 0 or income > Decimal("100000000"):
        raise AccountError("月收入应在0到1亿元之间。", "monthly income out of range", extra={"field": "monthly_income"})
    with transaction.atomic():
        row = Customer.objects.select_for_update(no_key=True).get(pk=customer.pk)
        row.address = address
        row.occupation = occupation
        row.employer = employer
        row.monthly_income = income
        row.save(update_fields=["address", "occupation", "employer", "monthly_income", "updated_at"])
    logger.info("customer profile updated by the customer customer=%s", customer.pk)
    return row


def customer_consents(*, customer: Customer):
    return Consent.objects.filter(customer=customer).order_by("-granted_at", "-id")


def customer_consent_grant(*, customer: Customer, purpose: str, ip_address: str | None) -> Consent:
    if purpose not in WEB_MANAGED_CONSENTS:
        raise AccountError("该授权不能在网上办理。", "this consent cannot be given on the web", code="invalid_consent")
    return consent_grant(
        customer=customer,
        purpose=purpose,
        text_version=CONSENT_TEXT_VERSIONS[purpose],
        channel=Customer.Channel.WEB,
        ip_address=ip_address,
    )


def customer_consent_withdraw(*, customer: Customer, consent_id: int) -> Consent:
    """Withdraw one of the customer's own consents (recorded, never deleted). Another customer's consent
    is NotFound, exactly like one that does not exist."""
    consent = Consent.objects.filter(customer=customer, pk=consent_id).first()
    if consent is None:
        raise NotFound("授权记录不存在。", "consent not found")
    if consent.purpose not in WEB_MANAGED_CONSENTS:
        raise AccountError(
            "征信查询授权随贷款业务办理，不能在此撤回。",
            "credit report consents cannot be withdrawn here",
            code="invalid_consent",
        )
    if consent.withdrawn_at is None:
        consent_withdraw(customer=customer, purpose=consent.purpose)
        consent.refresh_from_db()
        logger.info("consent withdrawn customer=%s purpose=%s", customer.pk, consent.purpose)
    return consent

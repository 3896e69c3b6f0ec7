"""Benefit redemption (积分兑换权益), vouchers with short-lived signed QR tokens, OTP fallback, merchant
verification (核销), voucher expiry and redemption reversal."""

import datetime as dt
import logging
import secrets
from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from jikuai.core import bus, crypto, sms
from jikuai.core.exceptions import ApplicationError, Conflict, NotFound, PermissionDeniedError, RateLimited
from jikuai.core.money import round_fen, yuan_to_fen
from jikuai.core.workdays import get_business_date
from lifestyle import reasons
from lifestyle.models import (
    VOUCHER_ALPHABET,
    VOUCHER_CODE_LENGTH,
    Benefit,
    LedgerEntry,
    Merchant,
    PayableLine,
    PointsAccount,
    PointsLot,
    PointValueRate,
    Voucher,
    VoucherTokenUse,
)
from lifestyle.services.ledger import (
    Book,
    Leg,
    account_get_or_create,
    account_lock,
    db_datetime,
    lot_credit_active,
    points_spend,
    post_entry,
)

logger = logging.getLogger(__name__)

TOKEN_TTL_SECONDS = 60
OTP_TTL_SECONDS = 300
OTP_MIN_INTERVAL_SECONDS = 60
OTP_MAX_ATTEMPTS = 5
REFUND_VALIDITY_DAYS = 180


class VoucherRefused(Conflict):
    code = "voucher_refused"


class OutOfStock(Conflict):
    code = "out_of_stock"


def new_voucher_code() -> str:
    return "".join(secrets.choice(VOUCHER_ALPHABET) for _ in range(VOUCHER_CODE_LENGTH))


def normalise_code(code: str) -> str:
    return "".join(ch for ch in (code or "").upper() if ch.isalnum())


def new_request_token() -> str:
    """One-time token put in the redeem form, so a double submit issues one voucher."""
    return secrets.token_hex(16)


# --- redemption ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _BenefitTerms:
    pk: int
    name: str
    points_price: int
    voucher_validity_days: int
    stock_remaining: int | None
    per_customer_limit: int | None
    is_active: bool
    available_from: dt.datetime
    available_to: dt.datetime | None


def _fetch_one(sql: str, params: list):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


_BENEFIT_COLUMNS = [
    "id",
    "name",
    "points_price",
    "voucher_validity_days",
    "stock_remaining",
    "per_customer_limit",
    "is_active",
    "available_from",
    "available_to",
]


def _benefit_row(benefit_id: int, institution_id: int):
    if connection.vendor != "postgresql":  # SQLite returns datetimes as text from a raw cursor: let the ORM convert
        return Benefit.objects.filter(pk=benefit_id, institution_id=institution_id).values_list(*_BENEFIT_COLUMNS).first()
    return _fetch_one(
        f"SELECT {', '.join(_BENEFIT_COLUMNS)} FROM {Benefit._meta.db_table} WHERE id = %s AND institution_id = %s",  # noqa: S608
        [benefit_id, institution_id],
    )


def voucher_issue(*, customer, benefit_id: int, request_token: str, now: dt.datetime | None = None) -> Voucher:
    """Redeem points for a benefit. Refused with nothing written when the benefit is unavailable or out of stock,
    the per-customer limit is reached, or the points do not suffice (also concurrently).

    This is the hot path of the mall (benchmarked under contention), so its statements are written as plain SQL:
    two reads, then one short transaction — voucher, posting, guarded balance UPDATE, allocation."""
    request_token = (request_token or "").strip()
    if not (16 <= len(request_token) <= 64):
        raise ApplicationError("请求已失效，请刷新页面后重试。", "missing or invalid request token", code="invalid_request_token")
    now = now or timezone.now()
    row = _benefit_row(benefit_id, customer.institution_id)
    if row is None:
        raise NotFound("权益不存在。", "benefit not found")
    benefit = _BenefitTerms(*row)
    if not benefit.is_active or benefit.available_from > now or (benefit.available_to and benefit.available_to <= now):
        raise Conflict("该权益暂不可兑换。", "benefit is not available now", code="benefit_unavailable")
    account = _fetch_one(f"SELECT id FROM {PointsAccount._meta.db_table} WHERE customer_id = %s", [customer.pk])  # noqa: S608
    account_id = account[0] if account else account_get_or_create(customer=customer).pk
    for attempt in range(3):
        try:
            return _issue_once(customer=customer, account_id=account_id, benefit=benefit, request_token=request_token, now=now)
        except IntegrityError:
            # the same form submitted again (the unique request token refuses it) or, astronomically rarely, a
            # voucher code collision
            existing = Voucher.objects.filter(request_token=request_token).first()
            if existing is not None:
                if existing.customer_id != customer.pk:
                    raise PermissionDeniedError(
                        "请求无效。", "request token belongs to someone else", code="invalid_request_token"
                    )
                return existing
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


@transaction.atomic
def _issue_once(*, customer, account_id: int, benefit: _BenefitTerms, request_token: str, now: dt.datetime) -> Voucher:
    voucher = Voucher(
        code=new_voucher_code(),
        institution_id=customer.institution_id,
        customer=customer,
        account_id=account_id,
        benefit_id=benefit.pk,
        points=benefit.points_price,
        status=Voucher.Status.ISSUED,
        request_token=request_token,
        issued_at=now,
        expires_at=now + dt.timedelta(days=benefit.voucher_validity_days),
    )
    # rows that need no lock go first, so the account row taken by the guarded update is held briefly
    voucher.pk = _fetch_one(
        f"INSERT INTO {Voucher._meta.db_table} (code, institution_id, customer_id, account_id, benefit_id, points, status, "  # noqa: S608
        "request_token, issued_at, expires_at, redeemed_channel, otp_hash, otp_attempts) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, '', '', 0) RETURNING id",
        [
            voucher.code,
            voucher.institution_id,
            customer.pk,
            account_id,
            benefit.pk,
            voucher.points,
            voucher.status,
            request_token,
            db_datetime(now),
            db_datetime(voucher.expires_at),
        ],
    )[0]
    voucher._state.adding = False
    voucher._state.db = "default"
    reason, why = reasons.record("benefit_redeemed", benefit=benefit.name)
    points_spend(
        account_id=account_id,
        points=benefit.points_price,
        reason=reason,
        voucher=voucher,
        reference={"benefit_id": benefit.pk, **why},
    )
    # the account row is locked now: per-customer limits are counted one redemption at a time
    if benefit.per_customer_limit is not None:
        held = Voucher.objects.filter(customer=customer, benefit_id=benefit.pk).exclude(status=Voucher.Status.EXPIRED).count()
        if held > benefit.per_customer_limit:
            raise Conflict(
                f"每人限兑 {benefit.per_customer_limit} 次，您已兑换过。",
                f"limit of {benefit.per_customer_limit} per customer reached",
                code="limit_reached",
            )
    if benefit.stock_remaining is not None:
        taken = Benefit.objects.filter(pk=benefit.pk, stock_remaining__gte=1).update(stock_remaining=F("stock_remaining") - 1)
        if not taken:
            raise OutOfStock("该权益已兑完。", "benefit is out of stock")
    logger.debug("voucher %s issued to customer %s for benefit %s", voucher.pk, customer.pk, benefit.pk)
    return voucher


# --- QR tokens ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QrToken:
    value: str
    expires_at: dt.datetime


def _token_body(voucher_id: int, customer_id: int, expires: int, nonce: str) -> str:
    return f"JKV1.{voucher_id}.{customer_id}.{expires}.{nonce}"


def voucher_qr_token(*, voucher: Voucher, now: dt.datetime | None = None) -> QrToken:
    """A signed token valid for one minute: what the QR on the customer's page carries."""
    now = now or timezone.now()
    expires = int(now.timestamp()) + TOKEN_TTL_SECONDS
    body = _token_body(voucher.pk, voucher.customer_id, expires, secrets.token_hex(8))
    return QrToken(
        value=f"{body}.{crypto.sign_token_bytes(body.encode())}", expires_at=dt.datetime.fromtimestamp(expires, tz=dt.UTC)
    )


@dataclass(frozen=True)
class ParsedToken:
    voucher_id: int
    customer_id: int
    nonce: str


def token_parse(token: str, *, now: dt.datetime | None = None) -> ParsedToken:
    now = now or timezone.now()
    parts = (token or "").strip().split(".")
    if len(parts) != 6 or parts[0] != "JKV1":
        raise VoucherRefused("二维码无效。", "not a voucher QR code", code="token_invalid")
    body, signature = ".".join(parts[:5]), parts[5]
    if not crypto.constant_time_equals(crypto.sign_token_bytes(body.encode()), signature.lower()):
        raise VoucherRefused("二维码签名无效。", "QR signature invalid", code="token_invalid")
    try:
        voucher_id, customer_id, expires = int(parts[1]), int(parts[2]), int(parts[3])
    except ValueError:
        raise VoucherRefused("二维码无效。", "malformed QR token", code="token_invalid")
    if expires < int(now.timestamp()):
        raise VoucherRefused(
            "二维码已过期，请让客户刷新后重新出示。", "QR token expired; ask for a fresh one", code="token_expired"
        )
    return ParsedToken(voucher_id=voucher_id, customer_id=customer_id, nonce=parts[4])


# --- OTP fallback ---------------------------------------------------------------------------------


def _otp_hash(voucher_id: int, otp: str) -> str:
    return crypto.sign_token_bytes(f"voucher-otp:{voucher_id}:{otp}".encode())


def _voucher_by_code(merchant: Merchant, code: str) -> Voucher:
    normalised = normalise_code(code)
    if len(normalised) != VOUCHER_CODE_LENGTH:
        raise VoucherRefused("券码应为10位。", "voucher code must have 10 characters", code="code_invalid")
    voucher = (
        Voucher.objects.select_related("customer", "benefit")
        .filter(code=normalised, institution_id=merchant.institution_id)
        .first()
    )
    if voucher is None:
        raise VoucherRefused("券码不存在。", "unknown voucher code", code="code_unknown")
    return voucher


def voucher_send_otp(*, merchant: Merchant, code: str, now: dt.datetime | None = None) -> Voucher:
    """Offline fallback: the merchant types the short code, the customer receives a one-time code by SMS and
    reads it out. Only a keyed hash of the OTP is stored."""
    now = now or timezone.now()
    _merchant_must_be_active(merchant)
    voucher = _voucher_by_code(merchant, code)
    _explain_unusable(voucher, merchant, now)
    otp = f"{secrets.randbelow(10**6):06d}"
    with transaction.atomic():
        sent = Voucher.objects.filter(
            Q(otp_expires_at__isnull=True)
            | Q(otp_expires_at__lte=now + dt.timedelta(seconds=OTP_TTL_SECONDS - OTP_MIN_INTERVAL_SECONDS)),
            pk=voucher.pk,
            status=Voucher.Status.ISSUED,
        ).update(otp_hash=_otp_hash(voucher.pk, otp), otp_expires_at=now + dt.timedelta(seconds=OTP_TTL_SECONDS), otp_attempts=0)
        if not sent:
            raise RateLimited("验证码已发送，请1分钟后再试。", "a code was sent less than a minute ago", code="otp_too_soon")
        mobile = voucher.customer.mobile
        text = f"【吉快金融】您在「{merchant.name}」使用权益券，验证码 {otp}，5分钟内有效。如非本人操作请忽略。"
        transaction.on_commit(lambda: sms.send_sms(mobile=mobile, text=text, template="voucher_otp"))
    return voucher


def _check_otp(voucher: Voucher, otp: str, now: dt.datetime) -> None:
    otp = (otp or "").strip()
    if not voucher.otp_hash or voucher.otp_expires_at is None or voucher.otp_expires_at <= now:
        raise VoucherRefused("验证码已过期或未发送，请重新获取。", "OTP expired or not sent", code="otp_expired")
    if voucher.otp_attempts >= OTP_MAX_ATTEMPTS:
        raise VoucherRefused("验证码错误次数过多，请重新获取。", "too many wrong OTPs", code="otp_locked")
    if not (otp.isdigit() and crypto.constant_time_equals(_otp_hash(voucher.pk, otp), voucher.otp_hash)):
        Voucher.objects.filter(pk=voucher.pk).update(otp_attempts=F("otp_attempts") + 1)
        raise VoucherRefused("验证码错误。", "wrong OTP", code="otp_wrong")


# --- verification ---------------------------------------------------------------------------------


def _merchant_must_be_active(merchant: Merchant) -> None:
    if merchant.state != Merchant.State.ACTIVE:
        raise PermissionDeniedError("商户未在营业状态，不能核销。", "merchant is not active", code="merchant_inactive")


def _explain_unusable(voucher: Voucher, merchant: Merchant, now: dt.datetime) -> None:
    """Raise the precise reason a voucher cannot be used here, or return when it can."""
    if voucher.status == Voucher.Status.REDEEMED:
        when = timezone.localtime(voucher.redeemed_at).strftime("%Y-%m-%d %H:%M")
        raise VoucherRefused(f"该券已于 {when} 核销，不能重复使用。", "voucher already redeemed", code="already_redeemed")
    if voucher.status == Voucher.Status.REVERSED:
        raise VoucherRefused("该券核销已撤销，不能再次使用。", "voucher redemption was reversed", code="already_redeemed")
    if voucher.status == Voucher.Status.EXPIRED or voucher.expires_at <= now:
        raise VoucherRefused("该券已过期。", "voucher expired", code="voucher_expired")
    if voucher.institution_id != merchant.institution_id or not voucher.benefit.merchants.filter(pk=merchant.pk).exists():
        raise VoucherRefused("该券不能在本店使用。", "voucher is not honoured at this merchant", code="wrong_merchant")


def point_value_at(institution_id: int, when: dt.datetime) -> Decimal:
    rate = (
        PointValueRate.objects.filter(institution_id=institution_id, effective_from__lte=when)
        .order_by("-effective_from")
        .values_list("yuan_per_point", flat=True)
        .first()
    )
    if rate is None:
        raise Conflict("积分价值未配置，请联系银行。", "point value not configured", code="point_value_missing")
    return rate


def voucher_verify(
    *,
    merchant: Merchant,
    user,
    token: str = "",
    code: str = "",
    otp: str = "",
    channel: str = "portal",
    now: dt.datetime | None = None,
) -> Voucher:
    """核销: scan (signed token) or typed code + customer OTP. One conditional UPDATE (issued → redeemed) checks
    owner, merchant scope, validity and state; then one payable line frozen at the point value of this moment."""
    now = now or timezone.now()
    _merchant_must_be_active(merchant)
    if token:
        parsed = token_parse(token, now=now)
        voucher = Voucher.objects.select_related("customer", "benefit").filter(pk=parsed.voucher_id).first()
        if voucher is None or voucher.customer_id != parsed.customer_id:
            raise VoucherRefused("二维码与券不符。", "token does not match the voucher", code="token_invalid")
        if VoucherTokenUse.objects.filter(nonce=parsed.nonce).exists():
            raise VoucherRefused(
                "该二维码已被使用（重放），请让客户刷新。", "QR token already used (replay)", code="token_replayed"
            )
        via = "qr"
    elif code:
        voucher = _voucher_by_code(merchant, code)
        parsed = None
        via = "code"
    else:
        raise ApplicationError("请扫码或输入券码。", "give a QR token or a code", code="nothing_to_verify")
    _explain_unusable(voucher, merchant, now)
    if parsed is None:
        _check_otp(voucher, otp, now)
    rate = point_value_at(merchant.institution_id, now)
    with transaction.atomic():
        if parsed is not None:
            try:
                with transaction.atomic():
                    VoucherTokenUse.objects.create(nonce=parsed.nonce, voucher=voucher, used_at=now)
            except IntegrityError:
                raise VoucherRefused(
                    "该二维码已被使用（重放），请让客户刷新。", "QR token already used (replay)", code="token_replayed"
                )
        changed = Voucher.objects.filter(
            pk=voucher.pk,
            status=Voucher.Status.ISSUED,
            expires_at__gt=now,
            customer_id=voucher.customer_id,
            institution_id=merchant.institution_id,
            benefit_id=voucher.benefit_id,
        ).update(
            status=Voucher.Status.REDEEMED,
            redeemed_at=now,
            redeemed_merchant=merchant,
            redeemed_by=user,
            redeemed_channel=f"{channel}:{via}",
            otp_hash="",
        )
        if not changed:
            voucher.refresh_from_db()
            _explain_unusable(voucher, merchant, now)
            raise VoucherRefused("该券当前不能核销。", "voucher cannot be redeemed now", code="voucher_refused")
        amount = round_fen(Decimal(voucher.points) * rate * voucher.benefit.bank_share)
        PayableLine.objects.create(
            merchant=merchant,
            voucher=voucher,
            kind=PayableLine.Kind.REDEMPTION,
            points=voucher.points,
            yuan_per_point=rate,
            bank_share=voucher.benefit.bank_share,
            amount=amount,
            business_date=get_business_date(),
            created_at=now,
        )
        post_entry(
            kind=LedgerEntry.Kind.REDEEM,
            legs=[Leg(Book.VOUCHERS, voucher.points), Leg(Book.PAYABLE, -voucher.points, merchant_id=merchant.pk)],
            memo=f"voucher {voucher.pk} at {merchant.code}",
            business_key=f"redeem:{voucher.pk}",
        )
        customer = voucher.customer
        bus.publish(
            "lifestyle.voucher_redeemed",
            {
                "voucher_id": voucher.pk,
                "customer_id": customer.pk,
                "merchant_id": merchant.pk,
                "amount": str(amount),
                "amount_fen": yuan_to_fen(amount),
                "institution_id": merchant.institution_id,
                "branch_id": customer.branch_id,
                "account_manager_id": customer.account_manager_id,
            },
        )
    voucher.refresh_from_db()
    logger.info("voucher %s redeemed at merchant %s by user %s", voucher.pk, merchant.pk, getattr(user, "pk", None))
    return voucher


# --- after-sale ----------------------------------------------------------------------------------


def voucher_redemption_reverse(*, voucher_id: int, user, reason: str) -> Voucher:
    """Undo a verification (goods returned, wrong scan): a negative payable line that settles in the next batch,
    and the points back to the customer as a new active lot."""
    if not (reason or "").strip():
        raise ApplicationError("请填写撤销原因。", "a reason is required", code="reason_required")
    now = timezone.now()
    with transaction.atomic():
        voucher = Voucher.objects.select_related("benefit").filter(pk=voucher_id).first()
        if voucher is None:
            raise NotFound("券不存在。", "voucher not found")
        account = account_lock(voucher.account_id)
        changed = Voucher.objects.filter(pk=voucher.pk, status=Voucher.Status.REDEEMED).update(status=Voucher.Status.REVERSED)
        if not changed:
            voucher.refresh_from_db()
            if voucher.status == Voucher.Status.REVERSED:
                return voucher
            raise Conflict("只有已核销的券可以撤销核销。", "only redeemed vouchers can be reversed", code="not_redeemed")
        original = PayableLine.objects.get(voucher=voucher, kind=PayableLine.Kind.REDEMPTION)
        PayableLine.objects.create(
            merchant_id=original.merchant_id,
            voucher=voucher,
            kind=PayableLine.Kind.REVERSAL,
            points=-original.points,
            yuan_per_point=original.yuan_per_point,
            bank_share=original.bank_share,
            amount=-original.amount,
            business_date=get_business_date(),
        )
        text, why = reasons.record("redemption_refunded", benefit=voucher.benefit.name, note=reason.strip()[:60])
        lot = PointsLot.objects.create(
            account=account,
            rule_key="refund",
            source="refund",
            source_ref=f"voucher:{voucher.pk}",
            amount=voucher.points,
            remaining=voucher.points,
            base_points=voucher.points,
            funding_source="merchant",
            status=PointsLot.Status.ACTIVE,
            earned_at=now,
            expires_on=timezone.localdate(now) + dt.timedelta(days=REFUND_VALIDITY_DAYS),
            reason=text,
            reference={"voucher_id": voucher.pk, "user_id": getattr(user, "pk", None), **why},
        )
        post_entry(
            kind=LedgerEntry.Kind.REDEEM_REVERSAL,
            legs=[
                Leg(Book.PAYABLE, voucher.points, merchant_id=original.merchant_id),
                Leg(Book.LIABILITY, -voucher.points, account_id=account.pk),
            ],
            memo=f"reverse voucher {voucher.pk}: {reason[:100]}",
            business_key=f"redeem-reversal:{voucher.pk}",
        )
        lot_credit_active(account=account, lot=lot)
    voucher.refresh_from_db()
    return voucher


def vouchers_expire_due(*, now: dt.datetime | None = None, chunk: int = 1000) -> int:
    """Unused vouchers past their validity expire; their points go to breakage (one posting per chunk)."""
    now = now or timezone.now()
    expired = 0
    while True:
        with transaction.atomic():
            rows = list(
                Voucher.objects.select_for_update(skip_locked=True)
                .filter(status=Voucher.Status.ISSUED, expires_at__lte=now)
                .order_by("id")
                .values_list("id", "points")[:chunk]
            )
            if not rows:
                return expired
            ids = [voucher_id for voucher_id, _ in rows]
            Voucher.objects.filter(pk__in=ids).update(status=Voucher.Status.EXPIRED)
            total = sum(points for _, points in rows)
            post_entry(
                kind=LedgerEntry.Kind.VOUCHER_EXPIRE,
                legs=[Leg(Book.VOUCHERS, total), Leg(Book.BREAKAGE, -total)],
                memo=f"{len(ids)} vouchers expired",
            )
            expired += len(ids)


def redemptions_today(*, merchant: Merchant, day: dt.date | None = None):
    day = day or timezone.localdate()
    start = timezone.make_aware(dt.datetime.combine(day, dt.time.min))
    queryset = (
        Voucher.objects.filter(redeemed_merchant=merchant, redeemed_at__gte=start, redeemed_at__lt=start + dt.timedelta(days=1))
        .select_related("benefit")
        .order_by("-redeemed_at")
    )
    total = PayableLine.objects.filter(
        merchant=merchant, voucher__in=queryset.values("pk"), kind=PayableLine.Kind.REDEMPTION
    ).aggregate(amount=Sum("amount"))["amount"] or Decimal("0.00")
    return queryset, total

"""Redeeming benefits into vouchers and verifying them at merchants (QR token, typed code + OTP, API)."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from jikuai.core.exceptions import ApplicationError, Conflict, NotFound
from jikuai.core.models import OutboxEvent
from lifestyle.models import VOUCHER_ALPHABET, Benefit, LedgerEntry, PayableLine, PointsAccount, PointsDebit, Voucher
from lifestyle.services import ledger, vouchers
from tests.factories import SignedApi, make_client
from tests.lifestyle.factories import (
    assert_ledger_ok,
    give_points,
    make_benefit,
    make_merchant,
    make_merchant_user,
    set_point_value,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(institution):
    return make_merchant(institution=institution, name="好邻居超市")


@pytest.fixture
def benefit(institution, shop):
    set_point_value(institution, "0.010000")
    return make_benefit(institution=institution, merchants=[shop], points_price=500, stock=3)


def _issue(customer, benefit, token=None):
    return vouchers.voucher_issue(customer=customer, benefit_id=benefit.pk, request_token=token or vouchers.new_request_token())


def _state(customer, benefit):
    account = PointsAccount.objects.filter(customer=customer).first()
    benefit.refresh_from_db()
    return (
        account.balance if account else 0,
        benefit.stock_remaining,
        Voucher.objects.count(),
        PointsDebit.objects.count(),
        LedgerEntry.objects.count(),
    )


def test_redeem_issues_a_voucher_with_a_safe_code(customer, benefit):
    give_points(customer, 1200)
    voucher = _issue(customer, benefit)
    assert len(voucher.code) == 10 and set(voucher.code) <= set(VOUCHER_ALPHABET)
    assert not set("0O1IL25SZB8") & set(VOUCHER_ALPHABET)
    assert voucher.points == 500 and voucher.status == Voucher.Status.ISSUED
    assert _state(customer, benefit)[:2] == (700, 2)
    assert_ledger_ok()


def test_double_submit_of_the_same_form_issues_one_voucher(customer, benefit):
    give_points(customer, 1200)
    token = vouchers.new_request_token()
    assert _issue(customer, benefit, token).pk == _issue(customer, benefit, token).pk
    assert Voucher.objects.count() == 1 and PointsAccount.objects.get(customer=customer).balance == 700


def test_not_enough_points_refused_nothing_created(customer, benefit):
    give_points(customer, 499)
    before = _state(customer, benefit)
    with pytest.raises(ledger.InsufficientPoints) as info:
        _issue(customer, benefit)
    assert "积分不足" in info.value.message_zh
    assert _state(customer, benefit) == before


def test_out_of_stock_refused_nothing_created(customer, other_customer, benefit):
    benefit.stock_total = benefit.stock_remaining = 1
    benefit.save()
    give_points(customer, 1000)
    give_points(other_customer, 1000)
    _issue(customer, benefit)
    before = _state(other_customer, benefit)
    with pytest.raises(vouchers.OutOfStock) as info:
        _issue(other_customer, benefit)
    assert info.value.message_zh == "该权益已兑完。"
    assert _state(other_customer, benefit) == before
    assert_ledger_ok()


def test_per_customer_limit(customer, benefit):
    benefit.per_customer_limit = 1
    benefit.save()
    give_points(customer, 2000)
    _issue(customer, benefit)
    before = _state(customer, benefit)
    with pytest.raises(Conflict) as info:
        _issue(customer, benefit)
    assert info.value.code == "limit_reached"
    assert _state(customer, benefit) == before


def test_unavailable_or_foreign_benefit(customer, benefit, shop):
    give_points(customer, 2000)
    benefit.is_active = False
    benefit.save()
    with pytest.raises(Conflict):
        _issue(customer, benefit)
    from tests.factories import InstitutionFactory

    foreign = make_benefit(institution=InstitutionFactory(), merchants=[])
    with pytest.raises(NotFound):
        _issue(customer, foreign)
    assert not Voucher.objects.exists()


def test_qr_token_verification_freezes_the_rate_and_refuses_double_scan(customer, benefit, shop, institution):
    give_points(customer, 1000)
    voucher = _issue(customer, benefit)
    cashier = make_merchant_user(shop)
    token = vouchers.voucher_qr_token(voucher=voucher).value
    redeemed = vouchers.voucher_verify(merchant=shop, user=cashier, token=token)
    assert redeemed.status == Voucher.Status.REDEEMED and redeemed.redeemed_merchant == shop
    line = PayableLine.objects.get(voucher=voucher)
    assert (line.points, line.yuan_per_point, line.amount) == (500, Decimal("0.010000"), Decimal("5.00"))
    # the point value changes later: the frozen line does not
    set_point_value(institution, "0.020000", at=timezone.now())
    line.refresh_from_db()
    assert line.amount == Decimal("5.00")
    assert OutboxEvent.objects.filter(topic="lifestyle.voucher_redeemed", payload__voucher_id=voucher.pk).exists()
    # the same token again: replay
    with pytest.raises(vouchers.VoucherRefused) as info:
        vouchers.voucher_verify(merchant=shop, user=cashier, token=token)
    assert info.value.code == "token_replayed"
    # a fresh token for the redeemed voucher: double scan
    with pytest.raises(vouchers.VoucherRefused) as info:
        vouchers.voucher_verify(merchant=shop, user=cashier, token=vouchers.voucher_qr_token(voucher=voucher).value)
    assert info.value.code == "already_redeemed" and "不能重复使用" in info.value.message_zh
    assert PayableLine.objects.count() == 1
    assert_ledger_ok()


def test_expired_forged_and_foreign_tokens_refused(customer, other_customer, benefit, shop):
    give_points(customer, 1000)
    voucher = _issue(customer, benefit)
    cashier = make_merchant_user(shop)
    old = vouchers.voucher_qr_token(voucher=voucher, now=timezone.now() - dt.timedelta(seconds=61)).value
    with pytest.raises(vouchers.VoucherRefused) as info:
        vouchers.voucher_verify(merchant=shop, user=cashier, token=old)
    assert info.value.code == "token_expired"
    forged = old.rsplit(".", 1)[0].replace(f".{voucher.pk}.", f".{voucher.pk}.", 1) + "." + "0" * 64
    with pytest.raises(vouchers.VoucherRefused) as info:
        vouchers.voucher_verify(merchant=shop, user=cashier, token=forged)
    assert info.value.code == "token_invalid"
    # a token claiming another owner does not verify even with a valid signature over the wrong data
    valid = vouchers.voucher_qr_token(voucher=voucher).value
    parts = valid.split(".")
    parts[2] = str(other_customer.pk)
    with pytest.raises(vouchers.VoucherRefused):
        vouchers.voucher_verify(merchant=shop, user=cashier, token=".".join(parts))
    voucher.refresh_from_db()
    assert voucher.status == Voucher.Status.ISSUED and not PayableLine.objects.exists()


def test_wrong_merchant_and_inactive_merchant_refused(customer, benefit, institution):
    give_points(customer, 1000)
    voucher = _issue(customer, benefit)
    elsewhere = make_merchant(institution=institution, name="别家小卖部")
    with pytest.raises(vouchers.VoucherRefused) as info:
        vouchers.voucher_verify(merchant=elsewhere, user=None, token=vouchers.voucher_qr_token(voucher=voucher).value)
    assert info.value.code == "wrong_merchant" and info.value.message_zh == "该券不能在本店使用。"
    suspended = make_merchant(institution=institution, state="suspended")
    benefit.merchants.add(suspended)
    with pytest.raises(ApplicationError) as info:
        vouchers.voucher_verify(merchant=suspended, user=None, token=vouchers.voucher_qr_token(voucher=voucher).value)
    assert info.value.code == "merchant_inactive"
    voucher.refresh_from_db()
    assert voucher.status == Voucher.Status.ISSUED


def test_expired_voucher_refused_then_expires_to_breakage(customer, benefit, shop):
    give_points(customer, 1000)
    voucher = _issue(customer, benefit)
    later = timezone.now() + dt.timedelta(days=benefit.voucher_validity_days, seconds=1)
    with pytest.raises(vouchers.VoucherRefused) as info:
        vouchers.voucher_verify(
            merchant=shop, user=None, token=vouchers.voucher_qr_token(voucher=voucher, now=later).value, now=later
        )
    assert info.value.code == "voucher_expired"
    assert vouchers.vouchers_expire_due(now=later) == 1
    voucher.refresh_from_db()
    assert voucher.status == Voucher.Status.EXPIRED
    assert_ledger_ok()


def test_typed_code_with_customer_otp(customer, benefit, shop, sms_outbox, django_capture_on_commit_callbacks):
    give_points(customer, 1000)
    voucher = _issue(customer, benefit)
    cashier = make_merchant_user(shop)
    typed = voucher.display_code.lower()
    with pytest.raises(vouchers.VoucherRefused) as info:
        vouchers.voucher_verify(merchant=shop, user=cashier, code=typed, otp="123456")
    assert info.value.code == "otp_expired"
    with django_capture_on_commit_callbacks(execute=True):
        vouchers.voucher_send_otp(merchant=shop, code=typed)
    assert len(sms_outbox) == 1 and sms_outbox[0].mobile == customer.mobile
    otp = "".join(ch for ch in sms_outbox[0].text.split("验证码")[1] if ch.isdigit())[:6]
    voucher.refresh_from_db()
    assert otp not in voucher.otp_hash and len(voucher.otp_hash) == 64
    with pytest.raises(vouchers.VoucherRefused) as info:
        vouchers.voucher_verify(merchant=shop, user=cashier, code=typed, otp="000000" if otp != "000000" else "111111")
    assert info.value.code == "otp_wrong"
    with pytest.raises(ApplicationError):  # a second SMS within a minute is refused
        vouchers.voucher_send_otp(merchant=shop, code=typed)
    redeemed = vouchers.voucher_verify(merchant=shop, user=cashier, code=typed, otp=otp)
    assert redeemed.status == Voucher.Status.REDEEMED and redeemed.redeemed_channel == "portal:code"
    assert_ledger_ok()


def test_otp_attempts_are_limited(customer, benefit, shop, sms_outbox, django_capture_on_commit_callbacks):
    give_points(customer, 1000)
    voucher = _issue(customer, benefit)
    with django_capture_on_commit_callbacks(execute=True):
        vouchers.voucher_send_otp(merchant=shop, code=voucher.code)
    otp = "".join(ch for ch in sms_outbox[0].text.split("验证码")[1] if ch.isdigit())[:6]
    wrong = "000000" if otp != "000000" else "111111"
    for _ in range(vouchers.OTP_MAX_ATTEMPTS):
        with pytest.raises(vouchers.VoucherRefused):
            vouchers.voucher_verify(merchant=shop, user=None, code=voucher.code, otp=wrong)
    with pytest.raises(vouchers.VoucherRefused) as info:
        vouchers.voucher_verify(merchant=shop, user=None, code=voucher.code, otp=otp)
    assert info.value.code == "otp_locked"


def test_api_verification_for_merchant_systems(client, institution, customer, benefit, shop):
    give_points(customer, 1000)
    voucher = _issue(customer, benefit)
    api = SignedApi(client, make_client(institution=institution, scopes=["merchants:write"]))
    url = f"/api/v1/merchants/{shop.code}/vouchers/verify"
    token = vouchers.voucher_qr_token(voucher=voucher).value
    response = api.post(url, {"token": token}, key="v-1")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "redeemed" and response.json()["payable_amount"] == "5.00"
    again = api.post(url, {"token": vouchers.voucher_qr_token(voucher=voucher).value}, key="v-2")
    assert again.status_code == 409 and again.json()["code"] == "already_redeemed"
    missing = api.post(url, {"code": voucher.code}, key="v-3")
    assert missing.status_code == 400
    assert api.post("/api/v1/merchants/NOPE/vouchers/verify", {"token": token}, key="v-4").status_code == 404
    readonly = SignedApi(client, make_client(institution=institution, scopes=["points:read"]))
    assert readonly.post(url, {"token": token}, key="v-5").status_code == 403
    assert PayableLine.objects.count() == 1


def test_redemption_reversal_refunds_points_and_adds_a_negative_line(customer, benefit, shop):
    give_points(customer, 1000)
    voucher = _issue(customer, benefit)
    vouchers.voucher_verify(merchant=shop, user=None, token=vouchers.voucher_qr_token(voucher=voucher).value)
    vouchers.voucher_redemption_reverse(voucher_id=voucher.pk, user=None, reason="退货")
    vouchers.voucher_redemption_reverse(voucher_id=voucher.pk, user=None, reason="退货")  # idempotent
    lines = sorted(PayableLine.objects.values_list("kind", "points", "amount"))
    assert lines == [("redemption", 500, Decimal("5.00")), ("reversal", -500, Decimal("-5.00"))]
    assert PointsAccount.objects.get(customer=customer).balance == 1000
    assert_ledger_ok()


def test_benefit_stock_check_constraint():
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        Benefit.objects.filter(pk__gte=0).update(stock_remaining=-1)
        Benefit.objects.create(
            institution_id=1, name="x", kind="goods", points_price=1, stock_total=1, stock_remaining=-1, funding="bank"
        )

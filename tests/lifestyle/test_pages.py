"""Customer pages and the merchant portal through the Django test client."""

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from lifestyle.models import PayableLine, PointsAccount, SettlementBatch, Voucher
from lifestyle.services import community, settlement, vouchers
from tests.factories import make_customer, make_staff
from tests.lifestyle.factories import (
    give_points,
    login_customer,
    make_benefit,
    make_merchant,
    make_merchant_user,
    make_rule,
    set_point_value,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(institution, village):
    return make_merchant(institution=institution, name="好邻居超市", region=village)


@pytest.fixture
def benefit(institution, shop):
    set_point_value(institution)
    return make_benefit(institution=institution, merchants=[shop], points_price=300, name="10元购物券")


def test_anonymous_customer_is_sent_to_login(client):
    response = client.get("/life/points/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_home_checkin_and_points_history(client, customer):
    make_rule(topic="lifestyle.checkin", code="checkin", points_fixed=5)
    give_points(customer, 100, validity_days=20)
    login_customer(client, customer)
    page = client.get("/life/")
    assert page.status_code == 200 and "每日签到" in page.content.decode()
    response = client.post("/life/checkin/", follow=True)
    assert "签到成功" in response.content.decode()
    again = client.post("/life/checkin/", follow=True)
    assert "今天已经签到过了" in again.content.decode()
    history = client.get("/life/points/").content.decode()
    assert "每日签到（连续 1 天）" in history and "测试发放" in history
    expiry = (timezone.localdate() + dt.timedelta(days=20)).isoformat()
    assert expiry in history  # the amount expiring on that date is listed
    assert "获得 · 有效" in history and "active" not in history and "· checkin" not in history  # no internal rule code
    client.cookies["django_language"] = "en"
    english = client.get("/life/points/").content.decode()
    assert "Earn · Active" in english and "获得" not in english


def test_redeem_through_the_mall_and_show_a_refreshing_qr(client, customer, benefit):
    give_points(customer, 500)
    login_customer(client, customer)
    page = client.get(f"/life/mall/{benefit.pk}/").content.decode()
    token = re.search(r'name="request_token" value="([0-9a-f]+)"', page).group(1)
    response = client.post(f"/life/mall/{benefit.pk}/", {"request_token": token})
    voucher = Voucher.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/life/vouchers/{voucher.pk}/"
    client.post(f"/life/mall/{benefit.pk}/", {"request_token": token})  # double submit
    assert Voucher.objects.count() == 1 and PointsAccount.objects.get(customer=customer).balance == 200
    detail = client.get(f"/life/vouchers/{voucher.pk}/").content.decode()
    assert "<svg" in detail and 'hx-trigger="every 30s"' in detail and voucher.display_code in detail
    fragment = client.get(f"/life/vouchers/{voucher.pk}/qr/", HTTP_HX_REQUEST="true")
    assert fragment.status_code == 200 and fragment["Cache-Control"] == "no-store" and b"<svg" in fragment.content


def test_redeem_without_enough_points_shows_the_reason(client, customer, benefit):
    give_points(customer, 100)
    login_customer(client, customer)
    response = client.post(f"/life/mall/{benefit.pk}/", {"request_token": vouchers.new_request_token()}, follow=True)
    assert "积分不足" in response.content.decode()
    assert not Voucher.objects.exists()


def test_someone_elses_voucher_is_404(client, customer, other_customer, benefit):
    give_points(other_customer, 500)
    theirs = vouchers.voucher_issue(customer=other_customer, benefit_id=benefit.pk, request_token=vouchers.new_request_token())
    login_customer(client, customer)
    assert client.get(f"/life/vouchers/{theirs.pk}/").status_code == 404
    assert client.get(f"/life/vouchers/{theirs.pk}/qr/").status_code == 404


def test_directory_activities_and_referral_pages(client, customer, shop, institution, branch):
    organiser = make_staff(role=None, institution=institution, branch=branch)
    now = timezone.now()
    activity = community.activity_create(
        organiser=organiser,
        village=shop.region,
        kind="production",
        title="玉米种植技术培训",
        venue="村文化站",
        starts_at=now - dt.timedelta(minutes=5),
        ends_at=now + dt.timedelta(hours=1),
    )
    login_customer(client, customer)
    assert "好邻居超市" in client.get("/life/merchants/?category=supermarket").content.decode()
    assert "好邻居超市" not in client.get("/life/merchants/?category=pharmacy").content.decode()
    assert "玉米种植技术培训" in client.get("/life/activities/").content.decode()
    client.post(f"/life/activities/{activity.pk}/signup/")
    token = community.activity_qr_token(activity=activity)
    page = client.get(f"/life/activities/{activity.pk}/checkin/?t={token}")
    assert page.status_code == 200 and "确认签到" in page.content.decode()
    client.post(f"/life/activities/{activity.pk}/checkin/", {"t": token})
    assert activity.signups.get().checked_in_at is not None
    referral = client.get("/life/referral/").content.decode()
    assert customer.referral_code in referral and "<svg" in referral


def test_referral_landing_keeps_the_code_and_binding_refuses_self(client, customer, institution):
    newcomer = make_customer(institution=institution, name="新朋友")
    landing = client.get(f"/life/r/{customer.referral_code}/")
    assert landing.status_code == 200 and "立即注册" in landing.content.decode()
    assert client.get("/life/r/NOPE1234/").status_code == 404
    login_customer(client, newcomer)
    page = client.get("/life/referral/").content.decode()
    assert f'value="{customer.referral_code}"' in page  # prefilled from the session
    client.post("/life/referral/", {"code": customer.referral_code})
    assert newcomer.referral_binding.referrer_customer_id == customer.pk
    login_customer(client, customer)
    response = client.post("/life/referral/", {"code": customer.referral_code}, follow=True)
    assert "不能推荐自己" in response.content.decode()


def test_points_history_query_count_does_not_grow_with_rows(client, customer):
    login_customer(client, customer)
    give_points(customer, 10)
    client.get("/life/points/")
    with CaptureQueriesContext(connection) as one:
        client.get("/life/points/")
    for _ in range(40):
        give_points(customer, 10)
    with CaptureQueriesContext(connection) as many:
        client.get("/life/points/")
    assert len(one) == len(many)


# --- merchant portal ----------------------------------------------------------------------------


def _portal_login(client, user, password="Shop-Passw0rd!"):
    return client.post("/life/merchant/login/", {"username": user.username, "password": password})


def test_portal_verification_by_typed_code_and_otp(
    client, customer, benefit, shop, sms_outbox, django_capture_on_commit_callbacks
):
    give_points(customer, 300)
    voucher = vouchers.voucher_issue(customer=customer, benefit_id=benefit.pk, request_token=vouchers.new_request_token())
    cashier = make_merchant_user(shop)
    assert _portal_login(client, cashier).status_code == 302
    assert client.get("/life/merchant/")["Location"] == f"/life/merchant/{shop.pk}/"
    url = f"/life/merchant/{shop.pk}/verify/"
    with django_capture_on_commit_callbacks(execute=True):
        sent = client.post(url, {"action": "otp", "code": voucher.display_code})
    assert "验证码已发送" in sent.content.decode() and 'name="otp"' in sent.content.decode()
    otp = re.search(r"验证码 (\d{6})", sms_outbox[-1].text).group(1)
    wrong = client.post(url, {"action": "verify", "code": voucher.code, "otp": "000000" if otp != "000000" else "111111"})
    assert "验证码错误" in wrong.content.decode()
    done = client.post(url, {"action": "verify", "code": voucher.code, "otp": otp})
    assert "核销成功" in done.content.decode()
    voucher.refresh_from_db()
    assert voucher.status == "redeemed" and voucher.redeemed_by == cashier
    twice = client.post(url, {"action": "otp", "code": voucher.code})
    assert "不能重复使用" in twice.content.decode()
    assert "10元购物券" in client.get(f"/life/merchant/{shop.pk}/").content.decode()
    assert PayableLine.objects.count() == 1


def test_portal_scanned_token_verification(client, customer, benefit, shop):
    give_points(customer, 300)
    voucher = vouchers.voucher_issue(customer=customer, benefit_id=benefit.pk, request_token=vouchers.new_request_token())
    cashier = make_merchant_user(shop)
    _portal_login(client, cashier)
    token = vouchers.voucher_qr_token(voucher=voucher).value
    response = client.post(f"/life/merchant/{shop.pk}/verify/", {"action": "verify", "token": token})
    assert "核销成功" in response.content.decode()
    replay = client.post(f"/life/merchant/{shop.pk}/verify/", {"action": "verify", "token": token})
    assert "重放" in replay.content.decode()


def test_merchant_staff_reaching_another_merchant_get_404(client, institution, customer, benefit, shop):
    other = make_merchant(institution=institution, name="别人家的店")
    cashier = make_merchant_user(shop)
    _portal_login(client, cashier)
    for path in ("", "verify/", "redemptions/", "statements/"):
        assert client.get(f"/life/merchant/{other.pk}/{path}").status_code == 404
    give_points(customer, 300)
    voucher = vouchers.voucher_issue(customer=customer, benefit_id=benefit.pk, request_token=vouchers.new_request_token())
    benefit.merchants.add(other)
    response = client.post(
        f"/life/merchant/{other.pk}/verify/", {"action": "verify", "token": vouchers.voucher_qr_token(voucher=voucher).value}
    )
    assert response.status_code == 404
    voucher.refresh_from_db()
    assert voucher.status == "issued"
    # their statement as well
    vouchers.voucher_verify(merchant=other, user=None, token=vouchers.voucher_qr_token(voucher=voucher).value)
    [batch] = [
        b
        for b in [
            settlement.settlement_batch_create(
                merchant_id=other.pk, period_start=timezone.localdate(), period_end=timezone.localdate() + dt.timedelta(days=1)
            )
        ]
        if b
    ]
    assert client.get(f"/life/merchant/{other.pk}/statements/{batch.pk}/pdf/").status_code == 404
    assert client.get(f"/life/merchant/{shop.pk}/statements/{batch.pk}/pdf/").status_code == 404
    assert client.post(f"/life/merchant/{shop.pk}/statements/{batch.pk}/answer/", {"action": "confirm"}).status_code == 404
    batch.refresh_from_db()
    assert batch.state == SettlementBatch.State.ISSUED


def test_portal_statements_confirm_and_pdf(client, customer, benefit, shop):
    give_points(customer, 300)
    voucher = vouchers.voucher_issue(customer=customer, benefit_id=benefit.pk, request_token=vouchers.new_request_token())
    vouchers.voucher_verify(merchant=shop, user=None, token=vouchers.voucher_qr_token(voucher=voucher).value)
    batch = settlement.settlement_batch_create(
        merchant_id=shop.pk, period_start=timezone.localdate(), period_end=timezone.localdate() + dt.timedelta(days=1)
    )
    cashier = make_merchant_user(shop)
    _portal_login(client, cashier)
    pdf = client.get(f"/life/merchant/{shop.pk}/statements/{batch.pk}/pdf/")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert b"".join(pdf.streaming_content).startswith(b"%PDF")
    client.post(f"/life/merchant/{shop.pk}/statements/{batch.pk}/answer/", {"action": "confirm"})
    batch.refresh_from_db()
    assert batch.state == SettlementBatch.State.CONFIRMED


def test_portal_refuses_bank_staff_and_customers(client, institution, customer):
    staff = make_staff(role=None, institution=institution, password="Staff-Passw0rd!")
    response = client.post("/life/merchant/login/", {"username": staff.user.username, "password": "Staff-Passw0rd!"})
    assert response.status_code == 200 and "不是商户账号" in response.content.decode()
    login_customer(client, customer)
    assert client.get("/life/merchant/")["Location"].startswith("/life/merchant/login/")


def test_organiser_qr_page_and_confirmation(client, institution, branch, customer):
    organiser = make_staff(role="客户经理", institution=institution, branch=branch, password="Staff-Passw0rd!")
    now = timezone.now()
    activity = community.activity_create(
        organiser=organiser,
        village=customer.region,
        kind="party",
        title="党课",
        venue="村委会",
        starts_at=now - dt.timedelta(minutes=5),
        ends_at=now + dt.timedelta(hours=1),
    )
    community.activity_signup(customer=customer, activity_id=activity.pk)
    community.activity_checkin(customer=customer, activity_id=activity.pk, token=community.activity_qr_token(activity=activity))
    client.force_login(organiser.user)
    page = client.get(f"/life/staff/activities/{activity.pk}/qr/")
    assert page.status_code == 200 and "<svg" in page.content.decode()
    other = make_staff(role="客户经理", institution=institution, branch=branch)
    client.force_login(other.user)
    assert client.get(f"/life/staff/activities/{activity.pk}/qr/").status_code == 404
    client.force_login(organiser.user)
    client.post(f"/life/staff/activities/{activity.pk}/confirm/", {"signup": [activity.signups.get().pk]})
    activity.refresh_from_db()
    assert activity.status == "confirmed"

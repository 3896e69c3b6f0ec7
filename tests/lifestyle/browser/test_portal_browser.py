"""End to end in headless Chromium against the live server: a customer redeems points for a benefit and sees the
voucher QR; a merchant cashier logs into the merchant portal and verifies the voucher by typed code with the
customer's SMS code; the settlement batch pays the merchant and every ledger check holds."""

import datetime as dt
import os
import re

import pytest
from django.utils import timezone

from jikuai.core.workdays import business_date_set
from lifestyle.models import PayableLine, SettlementBatch, Voucher
from lifestyle.services import reconciliation, settlement
from tests.factories import BranchFactory, InstitutionFactory, make_customer
from tests.lifestyle.factories import give_points, make_benefit, make_merchant, make_merchant_user, make_region, set_point_value

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CUSTOMER_PASSWORD = "Cust-Passw0rd!2026"
SHOP_PASSWORD = "Shop-Passw0rd!"


@pytest.fixture(scope="module")
def browser():
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def context(browser, live_server, transactional_db):
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    context.set_default_timeout(15_000)
    yield context
    context.close()


def test_redeem_then_merchant_verifies_by_typed_code_then_settlement_pays(context, live_server, sms_outbox):
    institution = InstitutionFactory(code="YSRCB", name="榆树农商银行", short_name="榆树农商行")
    village = make_region()
    customer = make_customer(
        institution=institution,
        branch=BranchFactory(institution=institution),
        name="李建国",
        region=village,
        password=CUSTOMER_PASSWORD,
    )
    shop = make_merchant(institution=institution, name="东岭村惠民超市", region=village)
    cashier = make_merchant_user(shop, username="dongling_cashier", password=SHOP_PASSWORD)
    set_point_value(institution, "0.010000")
    benefit = make_benefit(institution=institution, merchants=[shop], points_price=1000, name="10元超市购物券", stock=5)
    give_points(customer, 1500)
    business_date_set(day=timezone.localdate())

    # the customer logs in, redeems in the mall and opens the voucher with its QR and short code
    customer_page = context.new_page()
    customer_page.goto(f"{live_server.url}/login/?next=/life/mall/{benefit.pk}/")
    customer_page.fill("#id_mobile", customer.mobile)
    customer_page.fill("#id_password", CUSTOMER_PASSWORD)
    customer_page.locator("form.stack").get_by_role("button", name="登录").click()
    customer_page.wait_for_url(f"**/life/mall/{benefit.pk}/")
    customer_page.get_by_role("button", name="用 1000 积分兑换").click()
    customer_page.wait_for_url("**/life/vouchers/*/")
    assert customer_page.locator("[data-testid=voucher-qr] svg").count() == 1
    shown_code = customer_page.locator("[data-testid=voucher-code]").inner_text().strip()
    voucher = Voucher.objects.get()
    assert shown_code.replace(" ", "") == voucher.code

    # the cashier logs into the merchant portal and verifies the typed code with the customer's SMS code
    shop_page = context.browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN").new_page()
    shop_page.goto(f"{live_server.url}/life/merchant/login/")
    shop_page.fill("#id_username", "dongling_cashier")
    shop_page.fill("#id_password", SHOP_PASSWORD)
    shop_page.get_by_role("button", name="登录").click()
    shop_page.wait_for_url(f"**/life/merchant/{shop.pk}/")
    shop_page.get_by_role("link", name="扫码 / 输码核销").click()
    shop_page.wait_for_url(f"**/life/merchant/{shop.pk}/verify/")
    shop_page.fill("#id_code", shown_code)
    shop_page.get_by_role("button", name="向客户发送验证码").click()
    shop_page.wait_for_selector("#id_otp")
    otp = re.search(r"验证码 (\d{6})", sms_outbox[-1].text).group(1)
    assert sms_outbox[-1].mobile == customer.mobile
    shop_page.fill("#id_otp", otp)
    shop_page.get_by_role("button", name="确认核销").click()
    shop_page.wait_for_selector("[data-testid=verify-result]")
    assert "核销成功" in shop_page.content()
    voucher.refresh_from_db()
    assert voucher.status == "redeemed" and voucher.redeemed_by_id == cashier.pk

    # a second attempt at the till is refused clearly
    shop_page.goto(f"{live_server.url}/life/merchant/{shop.pk}/verify/")
    shop_page.fill("#id_code", shown_code)
    shop_page.get_by_role("button", name="向客户发送验证码").click()
    assert "不能重复使用" in shop_page.content()

    # the customer's page now shows the voucher as used
    customer_page.reload()
    assert "该券已使用" in customer_page.content()

    # settlement (T+1): batch, merchant confirms in the portal, payout, checks
    [batch] = settlement.settlement_batches_create_due(business_date=timezone.localdate() + dt.timedelta(days=1))
    shop_page.goto(f"{live_server.url}/life/merchant/{shop.pk}/statements/")
    shop_page.get_by_role("button", name="确认无误").click()
    shop_page.wait_for_url(f"**/life/merchant/{shop.pk}/statements/")
    batch.refresh_from_db()
    assert batch.state == SettlementBatch.State.CONFIRMED
    paid = settlement.settlement_pay(batch_id=batch.pk)
    assert paid.state == SettlementBatch.State.PAID and paid.net_amount == PayableLine.objects.get().amount
    assert reconciliation.reconcile_points().ok
    assert reconciliation.settlement_check().ok

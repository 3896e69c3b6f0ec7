"""End to end in headless Debian Chromium (Playwright, sync API) against pytest-django's live server.

(a) a customer registers, reads the code from the SMS outbox, confirms it, logs in again and sees the
profile with masked data; (b) an institution admin logs into the admin and sees only their institution's
customers. Screenshots of the final pages go to test-artifacts/ (git-ignored).
"""

import os
from pathlib import Path

import pytest
from django.conf import settings

from jikuai.org import roles
from jikuai.org.roles import sync_role_permissions
from tests.factories import BranchFactory, InstitutionFactory, make_customer, make_staff
from tests.web.factories import PASSWORD, last_code, new_id_number, new_mobile

pytestmark = pytest.mark.browser

ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser():
    # Playwright's sync API runs an event loop in this thread; Django's ORM calls from the test body are
    # still synchronous, so allow them
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
def page(browser, live_server, transactional_db):
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=1, locale="zh-CN")
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def test_customer_registers_confirms_code_logs_in_and_sees_masked_profile(page, live_server, sms_outbox):
    bank = InstitutionFactory(code="YSRCB", name="榆树农商银行", short_name="榆树农商行")
    InstitutionFactory(code="YBRCB", name="延边农商银行", short_name="延边农商行")
    id_number, mobile = new_id_number(age=32), new_mobile()

    page.goto(f"{live_server.url}/")
    page.get_by_role("link", name="注册").first.click()
    page.wait_for_url("**/register/")
    page.select_option("#id_institution", label="榆树农商银行")
    page.fill("#id_name", "王小明")
    page.fill("#id_id_number", id_number)
    page.fill("#id_mobile", mobile)
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.check("#id_consent")
    screenshot(page, "customer_register.png")
    page.get_by_role("button", name="获取验证码并继续").click()
    page.wait_for_url("**/register/confirm/")
    assert f"{mobile[:3]}****{mobile[-4:]}" in page.content()

    code = last_code(mobile)  # the live server runs in this process: same outbox
    page.fill("#id_code", code)
    page.get_by_role("button", name="完成注册").click()
    page.wait_for_url("**/profile/")
    assert "注册成功" in page.content()

    # log out and log in again with mobile + password
    page.get_by_role("button", name="退出登录").click()
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_mobile", mobile)
    page.fill("#id_password", PASSWORD)
    page.locator("form.stack").get_by_role("button", name="登录").click()
    page.wait_for_url("**/profile/")

    html = page.content()
    assert "王**" in html
    assert f"{id_number[:4]}{'*' * 10}{id_number[-4:]}" in html
    assert f"{mobile[:3]}****{mobile[-4:]}" in html
    assert id_number not in html and mobile not in html and "王小明" not in html
    assert "榆树农商银行" in html and "个人信息处理授权" in html
    assert len(sms_outbox) == 1
    shot = screenshot(page, "customer_profile.png")
    assert shot.stat().st_size > 10_000

    from jikuai.customers.models import Customer

    customer = Customer.objects.get()
    assert customer.institution == bank and customer.mobile_verified_at is not None


def test_institution_admin_sees_only_own_institution_in_admin(page, live_server):
    sync_role_permissions()
    bank_a = InstitutionFactory(code="YSRCB", name="榆树农商银行", short_name="榆树农商行")
    bank_b = InstitutionFactory(code="YBRCB", name="延边农商银行", short_name="延边农商行")
    branch_a = BranchFactory(institution=bank_a, name="五棵树支行")
    own = [
        make_customer(institution=bank_a, branch=branch_a, name="孙大圣"),
        make_customer(institution=bank_a, branch=branch_a, name="钱多多"),
    ]
    others = [make_customer(institution=bank_b, name="李延吉"), make_customer(institution=bank_b, name="金汪清")]
    make_staff(
        role=roles.INSTITUTION_ADMIN, institution=bank_a, username="ys_admin_e2e", password="Ys-Admin-2026!", name="赵管理员"
    )

    page.set_viewport_size({"width": 1280, "height": 900})  # the back office is used on desktops
    page.goto(f"{live_server.url}/admin/login/?next=/admin/customers/customer/")
    page.fill("input[name=username]", "ys_admin_e2e")
    page.fill("input[name=password]", "Ys-Admin-2026!")
    page.locator("form").get_by_role("button").last.click()
    page.wait_for_url("**/admin/customers/customer/")
    html = page.content()
    for customer in own:
        assert customer.masked_name in html and customer.masked_id_number in html
    for customer in others:
        assert customer.masked_name not in html and customer.masked_id_number not in html
    for customer in own + others:
        assert customer.id_number not in html and customer.mobile not in html
    screenshot(page, "admin_customers_institution_a.png")

    # the out-of-scope customer's admin page is a 404
    response = page.goto(f"{live_server.url}/admin/customers/customer/{others[0].pk}/change/")
    assert response.status == 404

    # the field-app entry shows the same scope on a phone-sized screen
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/field/")
    html = page.content()
    assert "赵管理员" in html and "可查看的客户：2 位" in html
    for customer in others:
        assert customer.masked_id_number not in html
    screenshot(page, "field_app_institution_a.png")

"""KYC in headless Debian Chromium against the live server: a customer on a phone uploads the ID card and a
selfie and sees the verified result; a reviewer opens a record in the admin review queue and approves
it. Screenshots go to test-artifacts/ (git-ignored)."""

import os
from pathlib import Path

import pytest
from django.conf import settings

from jikuai.customers.kyc.models import KycRecord, KycState
from jikuai.org import roles
from jikuai.org.roles import sync_role_permissions
from tests.factories import make_staff
from tests.kyc.conftest import (
    HOLDER_NAME,
    PASSWORD,
    astronaut_selfie_bytes,
    card_back_bytes,
    card_front_bytes,
    needs_review_record,
)

pytestmark = pytest.mark.browser

ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


@pytest.fixture(scope="module")
def browser():
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's loop runs in this thread; the ORM stays sync
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
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    context.set_default_timeout(30_000)
    page = context.new_page()
    yield page
    context.close()


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_customer_uploads_on_a_phone_and_is_verified(page, live_server, holder):
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_mobile", holder.mobile)
    page.fill("#id_password", PASSWORD)
    page.locator("form.stack").get_by_role("button", name="登录").click()
    page.wait_for_url("**/profile/")

    page.goto(f"{live_server.url}/kyc/")
    page.get_by_role("link", name="开始实名认证").click()
    page.wait_for_url("**/kyc/upload/")
    assert page.locator("#id_selfie").get_attribute("capture") == "user"
    page.set_input_files("#id_id_front", files=[{"name": "front.jpg", "mimeType": "image/jpeg", "buffer": card_front_bytes()}])
    page.set_input_files("#id_id_back", files=[{"name": "back.jpg", "mimeType": "image/jpeg", "buffer": card_back_bytes()}])
    page.set_input_files(
        "#id_selfie", files=[{"name": "selfie.jpg", "mimeType": "image/jpeg", "buffer": astronaut_selfie_bytes()}]
    )
    screenshot(page, "kyc_upload.png")
    page.get_by_role("button", name="提交认证").click()
    page.wait_for_url(f"{live_server.url}/kyc/")
    # eager Celery in tests: the checks ran right after the upload committed; with a worker, htmx polls
    page.wait_for_selector("[data-state=verified]")
    html = page.content()
    assert HOLDER_NAME in html and "实名认证已通过" in html
    assert holder.id_number not in html
    screenshot(page, "kyc_verified.png")
    assert KycRecord.objects.get(customer=holder).state == KycState.VERIFIED


def test_reviewer_approves_from_the_admin_queue(page, live_server, holder, reviewer):
    sync_role_permissions()
    record = needs_review_record(holder)
    make_staff(role=roles.CREDIT_REVIEWER, institution=holder.institution, username="kyc_reviewer_e2e", password=PASSWORD)

    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/admin/login/?next=/admin/customers/kycrecord/%3Fstate__exact%3Dneeds_review")
    page.fill("input[name=username]", "kyc_reviewer_e2e")
    page.fill("input[name=password]", PASSWORD)
    page.locator("form").get_by_role("button").last.click()
    page.wait_for_url("**/admin/customers/kycrecord/**")
    screenshot(page, "kyc_review_queue.png")
    page.get_by_role("link", name="审核 review").first.click()
    page.wait_for_url(f"**/admin/customers/kycrecord/{record.pk}/review/")
    # the stored images load through the private view (the ID front is the missing one)
    loaded = page.evaluate("Array.from(document.images).filter(i => i.alt && i.complete && i.naturalWidth > 0).length")
    assert loaded == 2
    screenshot(page, "kyc_review.png")
    page.fill("#kyc-comment", "已与客户视频核实")
    page.get_by_role("button", name="通过 approve").click()
    page.wait_for_url("**/admin/customers/kycrecord/?state__exact=needs_review")
    record.refresh_from_db()
    assert record.state == KycState.VERIFIED and record.review_comment == "已与客户视频核实"

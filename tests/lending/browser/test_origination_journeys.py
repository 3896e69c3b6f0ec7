"""Issue 5 end to end in headless Debian Chromium against the live server (Playwright, sync API).

(a) The customer journey on a phone: register with an SMS code → real-name verification (OCR of a
generated ID card + face comparison with a real photo) → apply for 吉微快贷 (a revolving credit line)
with the credit-report authorisation → the instant decision → read the contract and sign it with a
one-time code (PAdES signature by the institution) → the line is active → draw down, see the schedule
and APR before confirming → the loan and its schedule.
(b) The staff journey: an account manager creates a customer at their home on the field pages and
applies for 园丁贷 on their behalf → referred (identity not yet verified) → a credit reviewer claims the
review task, approves it (maker ≠ checker) → the contract is generated for the customer to sign.
Screenshots go to test-artifacts/ (git-ignored).
"""

import os
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings

from jikuai.customers.models import Customer
from jikuai.org import roles
from jikuai.org.roles import sync_role_permissions
from lending.demo_origination import seed_products
from lending.models import ApplicationState, Contract, ContractState, CreditLine, Drawdown, LoanApplication
from riskrules.policy.seed import seed_policy
from tests.factories import BranchFactory, InstitutionFactory, make_staff
from tests.kyc.conftest import HOLDER_ID, HOLDER_NAME, astronaut_selfie_bytes, card_back_bytes, card_front_bytes
from tests.web.factories import PASSWORD, last_code, new_id_number, new_mobile

pytestmark = pytest.mark.browser

ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
STAFF_PASSWORD = "Field-Staff-2026!"


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
def page(browser, live_server, transactional_db, settings, tmp_path):
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    context.set_default_timeout(60_000)
    page = context.new_page()
    yield page
    context.close()


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_customer_registers_verifies_applies_signs_and_draws_down(page, live_server, sms_outbox, settings):
    # registering and signing are minutes apart in life; here seconds: lift the one-code-a-minute limit
    settings.OTP_MIN_INTERVAL_SECONDS = 0
    seed_policy(product_codes=["jwkd"])
    seed_products()
    sync_role_permissions()
    bank = InstitutionFactory(code="YSRCB", name="榆树农商银行", short_name="榆树农商行")
    BranchFactory(institution=bank)
    mobile = new_mobile()

    # register with an SMS code
    page.goto(f"{live_server.url}/register/")
    page.select_option("#id_institution", label="榆树农商银行")
    page.fill("#id_name", HOLDER_NAME)
    page.fill("#id_id_number", HOLDER_ID)
    page.fill("#id_mobile", mobile)
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.check("#id_consent")
    page.get_by_role("button", name="获取验证码并继续").click()
    page.wait_for_url("**/register/confirm/")
    page.fill("#id_code", last_code(mobile))
    page.get_by_role("button", name="完成注册").click()
    page.wait_for_url("**/profile/")
    customer = Customer.objects.get(institution=bank)
    # what the bank knows from its own records (工商登记 / 纳税数据 of an individual business), not typed by
    # the customer: occupation and income
    Customer.objects.filter(pk=customer.pk).update(occupation="individual_business", monthly_income=Decimal("15000"))

    # real-name verification: ID card photos and a selfie; OCR and the face check run in the task
    page.goto(f"{live_server.url}/kyc/")
    page.get_by_role("link", name="开始实名认证").click()
    page.wait_for_url("**/kyc/upload/")
    page.set_input_files("#id_id_front", files=[{"name": "front.jpg", "mimeType": "image/jpeg", "buffer": card_front_bytes()}])
    page.set_input_files("#id_id_back", files=[{"name": "back.jpg", "mimeType": "image/jpeg", "buffer": card_back_bytes()}])
    page.set_input_files(
        "#id_selfie", files=[{"name": "selfie.jpg", "mimeType": "image/jpeg", "buffer": astronaut_selfie_bytes()}]
    )
    page.get_by_role("button", name="提交认证").click()
    page.wait_for_url(f"{live_server.url}/kyc/")
    page.wait_for_selector("[data-state=verified]")

    # apply: the decision comes back on the next page
    page.goto(f"{live_server.url}/loans/products/")
    page.goto(f"{live_server.url}/loans/products/jwkd/apply/")
    page.fill("#id_amount", "50000")
    page.select_option("#id_term_months", "12")
    page.select_option("#id_repayment_method", "equal_installment")
    page.fill("#id_purpose", "进货")
    page.fill("#id_business_years", "5")
    page.check("#id_credit_consent")
    screenshot(page, "origination_apply.png")
    page.get_by_role("button", name="提交申请", exact=True).click()
    page.wait_for_url("**/loans/applications/*/")
    assert "恭喜，审批通过" in page.content(), page.content()
    application = LoanApplication.objects.get(customer=customer)
    assert application.decision_ms is not None and application.decision_ms < 1000
    assert f"{application.apr * 100:.2f}%" in page.content()
    screenshot(page, "origination_decision.png")

    # the contract: read it, ask for a code, sign
    page.get_by_role("link", name="阅读并签署合同").click()
    page.wait_for_url("**/loans/contracts/*/")
    assert "授信额度合同" in page.content()
    with page.expect_navigation():
        page.get_by_role("button", name="获取验证码").click()
    assert len([m for m in sms_outbox if m.mobile == mobile]) == 2  # the registration code, then this one
    page.fill("#id_code", last_code(mobile))
    page.check("#id_agree")
    with page.expect_navigation():
        page.get_by_role("button", name="确认签署").click()
    contract = Contract.objects.get(application=application)
    assert contract.state == ContractState.SIGNED and contract.signed_sha256
    screenshot(page, "origination_signed.png")

    # the line is active: draw down with the schedule shown before confirming
    application.refresh_from_db()
    assert application.state == ApplicationState.ACTIVE
    line = CreditLine.objects.get(application=application)
    page.goto(f"{live_server.url}/loans/lines/")
    assert line.line_no in page.content()
    page.get_by_role("link", name="去用信").click()
    page.fill("#id_amount", "20000")
    page.select_option("#id_term_months", "12")
    page.select_option("#id_repayment_method", "equal_installment")
    with page.expect_navigation():
        page.get_by_role("button", name="下一步：查看还款计划").click()
    assert "年化利率（APR）" in page.content()
    assert page.locator("table.data tbody tr").count() == 12  # the whole schedule before confirming
    screenshot(page, "origination_drawdown_confirm.png")
    page.get_by_role("button", name="确认用信").click()
    page.get_by_role("link", name="查看贷款和还款计划").click()
    page.wait_for_url("**/loans/*/")
    drawdown = Drawdown.objects.get(line=line)
    assert drawdown.state == "disbursed" and drawdown.loan.principal == Decimal("20000.00")
    assert drawdown.loan.contract_no in page.content()
    line.refresh_from_db()
    assert line.used == Decimal("20000.00") and line.used + line.available == line.limit
    screenshot(page, "origination_loan.png")


def staff_login(page, live_server, username: str, next_url: str) -> None:
    page.goto(f"{live_server.url}/admin/login/?next={next_url}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", STAFF_PASSWORD)
    page.locator("form").get_by_role("button").last.click()
    page.wait_for_url(f"**{next_url}")


def test_field_application_is_referred_reviewed_by_another_officer_and_gets_a_contract(page, live_server):
    seed_policy(product_codes=["ydd"])
    seed_products()
    sync_role_permissions()
    bank = InstitutionFactory(code="YSRCB", name="榆树农商银行", short_name="榆树农商行")
    branch = BranchFactory(institution=bank)
    make_staff(role=roles.ACCOUNT_MANAGER, institution=bank, branch=branch, username="am_field", password=STAFF_PASSWORD)
    make_staff(role=roles.CREDIT_REVIEWER, institution=bank, username="reviewer_b", password=STAFF_PASSWORD)
    id_number = new_id_number(age=40)

    # the account manager at the customer's home: create the customer and apply on their behalf
    staff_login(page, live_server, "am_field", "/loans/field/")
    page.fill("#id_id_number", id_number)
    with page.expect_navigation():
        page.get_by_role("button", name="查找").click()
    page.fill("#id_name", "赵老师")
    page.locator("form.stack").nth(1).locator("#id_id_number").fill(id_number)
    page.fill("#id_mobile", new_mobile())
    page.select_option("#id_occupation", "teacher")
    page.fill("#id_employer", "榆树市实验小学")
    page.fill("#id_monthly_income", "9000")
    page.get_by_role("button", name="建档").click()
    page.wait_for_url("**/loans/field/customers/*/")
    customer = Customer.objects.get(institution=bank, channel="field")
    page.get_by_role("link", name="代客申请").first.click()
    page.fill("#id_amount", "60000")
    page.select_option("#id_term_months", "24")
    page.select_option("#id_repayment_method", "equal_installment")
    page.select_option("#id_employer_category", "school")
    page.check("#id_credit_consent")
    page.get_by_role("button", name="提交申请", exact=True).click()
    page.wait_for_url("**/loans/field/applications/*/")
    assert "转人工审核" in page.content()
    application = LoanApplication.objects.get(customer=customer)
    assert application.state == ApplicationState.REFERRED and application.channel == "field"
    screenshot(page, "origination_field_referred.png")

    # a credit reviewer (not the maker) claims the task and approves it
    page.context.clear_cookies()
    staff_login(page, live_server, "reviewer_b", "/loans/review/")
    page.get_by_role("button", name="领取下一个").click()
    page.wait_for_url("**/loans/review/tasks/*/")
    assert "赵**" in page.content() and id_number not in page.content()  # masked
    page.check("input[name=action][value=approve]")
    page.fill("#id_annual_rate_percent", "3.50")
    page.fill("#id_comment", "教师，收入稳定，同意")
    screenshot(page, "origination_review.png")
    with page.expect_navigation():
        page.locator("#decide").get_by_role("button", name="提交").click()
    application.refresh_from_db()
    assert application.state == ApplicationState.CONTRACT_PENDING
    assert application.approved_by.user.username == "reviewer_b"
    contract = Contract.objects.get(application=application)
    assert contract.state == ContractState.AWAITING_SIGNATURE and contract.kind == "loan"

# ruff: noqa: F811 - pytest fixtures imported from tests.lending.origination_helpers
"""Customer pages (products, apply, decision, my applications, cancel) and the staff field app (find or
create a customer, apply on their behalf, attributed to the account manager)."""

import re

import pytest
from django.urls import reverse

from jikuai.customers.models import Customer
from lending.models import ApplicationState, LoanApplication
from tests.factories import BranchFactory, new_id_number
from tests.lending.origination_helpers import (  # noqa: F401
    account_manager,
    applicant,
    branch,
    policy,
    products,
    seeded_policy,
)
from tests.web.factories import PASSWORD

pytestmark = pytest.mark.django_db


def login(client, customer):
    response = client.post(reverse("web:login"), {"mobile": customer.mobile, "password": PASSWORD})
    assert response.status_code == 302
    return client


def token(page: str) -> str:
    return re.search(r'name="token" value="([^"]+)"', page).group(1)


def apply(client, code, **fields):
    page = client.get(reverse("lending:apply", args=[code])).content.decode()
    data = {"token": token(page), "amount": "50000", "term_months": "36", "repayment_method": "equal_installment"}
    data.update(fields)
    return client.post(reverse("lending:apply", args=[code]), data)


def test_products_and_apply_show_the_decision_at_once(client, products, branch):
    customer = applicant(branch=branch, occupation="teacher", password=PASSWORD)
    login(client, customer)
    page = client.get(reverse("lending:products")).content.decode()
    assert "园丁贷" in page and "吉农快贷" in page
    detail = client.get(reverse("lending:product", args=["ydd"])).content.decode()
    assert "等额本息" in detail and "一年期LPR加点" in detail
    response = apply(client, "ydd", purpose="装修")
    assert response.status_code == 302
    app = LoanApplication.objects.get(customer=customer)
    assert response["Location"] == reverse("lending:application", args=[app.pk])
    page = client.get(response["Location"]).content.decode()
    assert "审批通过" in page and "年化利率" in page and f"{app.apr * 100:.2f}%" in page
    mine = client.get(reverse("lending:applications")).content.decode()
    assert app.application_no in mine and "已批准" in mine


def test_double_submit_with_the_same_token_applies_once(client, products, branch):
    customer = applicant(branch=branch, password=PASSWORD)
    login(client, customer)
    page = client.get(reverse("lending:apply", args=["ydd"])).content.decode()
    data = {"token": token(page), "amount": "50000", "term_months": "36", "repayment_method": "equal_installment"}
    client.post(reverse("lending:apply", args=["ydd"]), data)
    client.post(reverse("lending:apply", args=["ydd"]), data)
    assert LoanApplication.objects.filter(customer=customer).count() == 1


def test_refusal_shows_reasons_in_plain_chinese(client, products, branch):
    farmer = applicant(branch=branch, occupation="farmer", password=PASSWORD)
    login(client, farmer)
    response = apply(client, "gxd")
    page = client.get(response["Location"]).content.decode()
    assert "本次申请未通过" in page and "职业不符合产品准入要求" in page and "OCCUPATION_MISMATCH" not in page


def test_referral_says_manual_review_with_expected_time(client, products, branch):
    customer = applicant(branch=branch, verified=False, password=PASSWORD)
    login(client, customer)
    page = client.get(apply(client, "ydd")["Location"]).content.decode()
    assert "转人工审核" in page and "预计完成时间" in page and "实名认证未通过" in page


def test_bad_amount_is_shown_on_the_form_and_nothing_is_written(client, products, branch):
    customer = applicant(branch=branch, password=PASSWORD)
    login(client, customer)
    response = apply(client, "ydd", amount="999999")
    assert response.status_code == 200 and "申请金额须在" in response.content.decode()
    response = apply(client, "ydd", term_months="7")
    assert response.status_code == 200
    assert not LoanApplication.objects.filter(customer=customer).exists()


def test_cancel_from_the_decision_page_and_refusal_after_decision(client, products, branch):
    customer = applicant(branch=branch, verified=False, password=PASSWORD)
    login(client, customer)
    location = apply(client, "ydd")["Location"]
    app = LoanApplication.objects.get(customer=customer)
    response = client.post(reverse("lending:application_cancel", args=[app.pk]), {"reason": "不需要了"}, follow=True)
    assert "申请已撤销" in response.content.decode()
    app.refresh_from_db()
    assert app.state == ApplicationState.CANCELLED
    response = client.post(reverse("lending:application_cancel", args=[app.pk]), {"reason": "x"}, follow=True)
    assert response.status_code == 200
    assert client.get(location).status_code == 200


def test_customers_see_only_their_own_applications(client, products, branch):
    owner = applicant(branch=branch, password=PASSWORD)
    login(client, owner)
    apply(client, "ydd")
    app = LoanApplication.objects.get(customer=owner)
    client.post(reverse("web:logout"))
    other = applicant(branch=branch, password=PASSWORD)
    login(client, other)
    assert client.get(reverse("lending:application", args=[app.pk])).status_code == 404
    client.post(reverse("lending:application_cancel", args=[app.pk]), {"reason": "x"})
    app.refresh_from_db()
    assert app.state != ApplicationState.CANCELLED


def test_pages_need_a_customer_login(client, products):
    response = client.get(reverse("lending:products"))
    assert response.status_code == 302 and reverse("web:login") in response["Location"]


def test_field_staff_creates_a_customer_and_applies_on_their_behalf(client, products, branch):
    manager = account_manager(branch=branch)
    client.force_login(manager.user)
    id_number = new_id_number(age=38)
    page = client.get(reverse("lending:field"), {"id_number": id_number}).content.decode()
    assert "本机构暂无该客户" in page
    response = client.post(
        reverse("lending:field"),
        {
            "name": "赵老师",
            "id_number": id_number,
            "mobile": "13912345678",
            "occupation": "teacher",
            "employer": "榆树市实验小学",
            "monthly_income": "9000",
        },
    )
    customer = Customer.objects.get(institution=branch.institution, channel="field")
    assert response["Location"] == reverse("lending:field_customer", args=[customer.pk])
    assert customer.account_manager == manager
    page = client.get(response["Location"]).content.decode()
    assert reverse("kyc:field", args=[customer.pk]) in page and "园丁贷" in page
    form_page = client.get(reverse("lending:field_apply", args=[customer.pk, "ydd"])).content.decode()
    assert "单位类别" in form_page
    response = client.post(
        reverse("lending:field_apply", args=[customer.pk, "ydd"]),
        {
            "token": token(form_page),
            "amount": "30000",
            "term_months": "24",
            "repayment_method": "equal_installment",
            "employer_category": "school",
            "credit_consent": "on",  # the customer signs the authorisation in front of the account manager
        },
    )
    app = LoanApplication.objects.get(customer=customer)
    assert customer.consents.get(purpose="credit_report").channel == "field"
    assert response["Location"] == reverse("lending:field_application", args=[app.pk])
    assert app.channel == "field" and app.created_by_staff == manager and app.account_manager == manager
    assert app.state == ApplicationState.REFERRED  # identity not verified yet: manual review
    page = client.get(response["Location"]).content.decode()
    assert "转人工审核" in page and reverse("kyc:field", args=[customer.pk]) in page
    home = client.get(reverse("lending:field")).content.decode()
    assert app.application_no in home


def test_field_staff_cannot_reach_other_institutions_customers(client, products, branch):
    manager = account_manager(branch=branch)
    stranger = applicant(branch=BranchFactory())
    client.force_login(manager.user)
    assert client.get(reverse("lending:field_customer", args=[stranger.pk])).status_code == 404
    assert client.get(reverse("lending:field_apply", args=[stranger.pk, "ydd"])).status_code == 404


def test_field_pages_need_a_staff_login(client, products):
    response = client.get(reverse("lending:field"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_my_applications_page_runs_the_same_queries_for_one_or_many(client, products, branch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from lending.services.origination import application_create

    customer = applicant(branch=branch, password=PASSWORD)
    login(client, customer)

    def add(code):
        product = products[code]
        application_create(
            customer=customer,
            product=product,
            amount="20000",
            term_months=product.term_options[0],
            repayment_method=product.allowed_methods[0],
            channel="web",
        )

    add("ydd")
    with CaptureQueriesContext(connection) as one:
        assert client.get(reverse("lending:applications")).status_code == 200
    for code in ("gxd", "tsd", "jld"):
        add(code)
    with CaptureQueriesContext(connection) as many:
        page = client.get(reverse("lending:applications")).content.decode()
    assert page.count("AP2026") == 4
    assert len(many) == len(one)


def test_a_draft_is_submitted_from_its_page(client, products, branch):
    from lending.services.origination import application_create

    customer = applicant(branch=branch, password=PASSWORD)
    draft = application_create(
        customer=customer,
        product=products["ydd"],
        amount="20000",
        term_months=24,
        repayment_method="equal_installment",
        channel="field",
        staff=account_manager(branch=branch),
    )
    login(client, customer)
    page = client.get(reverse("lending:application", args=[draft.pk])).content.decode()
    assert "提交申请，立即审批" in page
    response = client.post(reverse("lending:application_submit", args=[draft.pk]), follow=True)
    assert "审批通过" in response.content.decode()
    draft.refresh_from_db()
    assert draft.state == ApplicationState.APPROVED
    other = applicant(branch=branch, password=PASSWORD)
    client.post(reverse("web:logout"))
    login(client, other)
    assert client.post(reverse("lending:application_submit", args=[draft.pk])).status_code == 302


def test_the_credit_report_authorisation_is_asked_once_and_recorded(client, products, branch):
    from jikuai.customers.models import Consent

    customer = applicant(branch=branch, occupation="teacher", password=PASSWORD, consent=False)
    login(client, customer)
    page = client.get(reverse("lending:apply", args=["ydd"])).content.decode()
    assert "征信查询授权" in page
    response = apply(client, "ydd")  # not ticked: refused on the form, nothing written
    assert response.status_code == 200 and "请阅读并同意征信查询授权" in response.content.decode()
    assert not LoanApplication.objects.filter(customer=customer).exists()
    assert not Consent.objects.filter(customer=customer, purpose="credit_report").exists()
    response = apply(client, "ydd", credit_consent="on")
    assert response.status_code == 302
    consent = Consent.objects.get(customer=customer, purpose="credit_report", withdrawn_at__isnull=True)
    assert consent.channel == "web" and consent.ip_address == "127.0.0.1"
    app = LoanApplication.objects.get(customer=customer)
    assert app.state == "approved" and "NO_CREDIT_CONSENT" not in [code for code, _ in app.reasons]
    LoanApplication.objects.filter(pk=app.pk).update(state="cancelled")
    assert "征信查询授权" not in client.get(reverse("lending:apply", args=["ydd"])).content.decode()  # on file now


def test_english_pages_name_and_describe_products_in_english(client, products, branch):
    customer = applicant(branch=branch, occupation="teacher", password=PASSWORD)
    login(client, customer)
    client.cookies["django_language"] = "en"
    page = client.get(reverse("lending:products")).content.decode()
    assert "Gardener Loan" in page and "Jinong Quick Loan" in page and "园丁贷" not in page
    assert "A credit loan for serving teachers" in page and "面向在职教师" not in page
    detail = client.get(reverse("lending:product", args=["ydd"])).content.decode()
    assert "Gardener Loan" in detail and "园丁贷" not in detail
    assert apply(client, "ydd", purpose="decoration").status_code == 302
    mine = client.get(reverse("lending:applications")).content.decode()
    assert "Gardener Loan" in mine and "园丁贷" not in mine
    client.cookies["django_language"] = "zh-hans"
    assert "园丁贷" in client.get(reverse("lending:products")).content.decode()


def test_a_product_without_an_english_name_keeps_its_chinese_name_and_the_name_is_no_new_version(client, products, branch):
    from lending.demo_origination import seed_products
    from lending.models import Product
    from lending.services.products import product_save

    product = Product.objects.get(code="ydd")
    version = product.version
    product.name_en = ""
    product.description_en = ""
    product_save(product=product)
    product.refresh_from_db()
    assert product.version == version  # presentation, not a term of the product
    customer = applicant(branch=branch, occupation="teacher", password=PASSWORD)
    login(client, customer)
    client.cookies["django_language"] = "en"
    page = client.get(reverse("lending:products")).content.decode()
    assert "园丁贷" in page and "面向在职教师" in page and "Jinong Quick Loan" in page
    seed_products()  # the seed restores the English name, again without a new version
    product.refresh_from_db()
    assert product.name_en == "Gardener Loan" and product.version == version

"""The customer's own profile: masked data only, edits, password change, consents; never another customer's data."""

from decimal import Decimal

import pytest
from django.urls import reverse

from jikuai.customers.models import Consent, Customer
from jikuai.customers.services import consent_grant, customer_check_password
from jikuai.web.middleware import CUSTOMER_SESSION_VERSION_KEY
from tests.web.factories import PASSWORD, make_web_customer

pytestmark = pytest.mark.django_db

PROFILE = reverse("web:profile")
EDIT = reverse("web:profile_edit")
PASSWORD_CHANGE = reverse("web:password_change")


@pytest.fixture
def customer(institution):
    customer = make_web_customer(institution=institution, name="欧阳春花", address="吉林省榆树市五棵树镇前进村三组18号")
    consent_grant(customer=customer, purpose=Consent.Purpose.PERSONAL_INFO, text_version="2026.1", channel="web")
    return customer


@pytest.fixture
def neighbour(institution):
    neighbour = make_web_customer(institution=institution, name="赵铁柱")
    consent_grant(customer=neighbour, purpose=Consent.Purpose.MARKETING, text_version="2026.1", channel="web")
    return neighbour


@pytest.fixture
def logged_in(client, customer):
    assert client.post(reverse("web:login"), {"mobile": customer.mobile, "password": PASSWORD}).status_code == 302
    return client


def test_profile_needs_a_customer_login(client):
    response = client.get(PROFILE)
    assert response.status_code == 302 and response["Location"] == f"{reverse('web:login')}?next=%2Fprofile%2F"


def test_profile_shows_masked_data_only(logged_in, customer):
    html = logged_in.get(PROFILE).content.decode()
    assert customer.masked_name in html and "欧阳**" in html
    assert customer.masked_id_number in html
    assert customer.masked_mobile in html
    assert customer.masked_address in html
    assert customer.id_number not in html
    assert customer.mobile not in html
    assert customer.address not in html
    assert customer.name not in html
    assert customer.referral_code in html
    assert customer.institution.name in html
    assert "个人信息处理授权" in html and "未认证" in html


def test_profile_of_another_customer_is_not_reachable_by_url(logged_in, customer, neighbour):
    for path in (f"/profile/{neighbour.pk}/", f"/profile/{neighbour.pk}/edit/", f"/customers/{neighbour.pk}/"):
        assert logged_in.get(path).status_code == 404
    # a customer id in the query string is ignored: the page is still the logged-in customer's own
    html = logged_in.get(f"/profile/?customer_id={neighbour.pk}&id={neighbour.pk}").content.decode()
    assert neighbour.masked_id_number not in html and neighbour.masked_name not in html
    assert customer.masked_id_number in html


def test_withdrawing_another_customers_consent_is_404_and_changes_nothing(logged_in, neighbour):
    consent = Consent.objects.get(customer=neighbour)
    response = logged_in.post(reverse("web:consent_withdraw", args=[consent.pk]))
    assert response.status_code == 404
    consent.refresh_from_db()
    assert consent.withdrawn_at is None


def test_withdraw_own_consent_is_recorded(logged_in, customer):
    consent = Consent.objects.get(customer=customer)
    assert logged_in.get(reverse("web:consent_withdraw", args=[consent.pk])).status_code == 405
    response = logged_in.post(reverse("web:consent_withdraw", args=[consent.pk]))
    assert response.status_code == 302
    consent.refresh_from_db()
    assert consent.withdrawn_at is not None  # recorded, not deleted
    html = logged_in.get(PROFILE).content.decode()
    assert "已撤回" in html and "授权已撤回" in html
    # giving it again creates a new consent row; the withdrawn one stays
    assert logged_in.post(reverse("web:consent_give", args=["personal_info"])).status_code == 302
    assert Consent.objects.filter(customer=customer, purpose="personal_info").count() == 2
    assert Consent.objects.filter(customer=customer, purpose="personal_info", withdrawn_at__isnull=True).count() == 1


def test_marketing_consent_can_be_given_and_withdrawn(logged_in, customer):
    logged_in.post(reverse("web:consent_give", args=["marketing"]), REMOTE_ADDR="10.1.1.1")
    consent = Consent.objects.get(customer=customer, purpose="marketing")
    assert consent.channel == "web" and consent.ip_address == "10.1.1.1"
    logged_in.post(reverse("web:consent_withdraw", args=[consent.pk]))
    consent.refresh_from_db()
    assert consent.withdrawn_at is not None


def test_credit_report_consent_cannot_be_given_or_withdrawn_here(logged_in, customer):
    assert logged_in.post(reverse("web:consent_give", args=["credit_report"])).status_code == 404
    consent = consent_grant(customer=customer, purpose="credit_report", text_version="1", channel="field")
    response = logged_in.post(reverse("web:consent_withdraw", args=[consent.pk]), follow=True)
    assert "征信查询授权随贷款业务办理" in response.content.decode()
    consent.refresh_from_db()
    assert consent.withdrawn_at is None


def test_edit_profile(logged_in, customer):
    page = logged_in.get(EDIT).content.decode()
    assert 'name="csrfmiddlewaretoken"' in page
    response = logged_in.post(
        EDIT,
        {
            "address": "吉林省延吉市河南街道100号",
            "occupation": "teacher",
            "employer": "延吉市第一中学",
            "monthly_income": "6800.5",
        },
    )
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.address == "吉林省延吉市河南街道100号"
    assert customer.occupation == Customer.Occupation.TEACHER
    assert customer.employer == "延吉市第一中学"
    assert customer.monthly_income == Decimal("6800.50")
    assert customer.history.first().employer == "延吉市第一中学"  # audited


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("monthly_income", "-1", "确保该值大于或等于0。"),
        ("monthly_income", "abc", "输入一个数字。"),
        ("monthly_income", "100000000.01", "确保该值小于或等于100000000。"),
        ("occupation", "astronaut", "选择一个有效的选项"),
        ("address", "长" * 201, "确保该变量包含不超过 200 字符"),
    ],
)
def test_bad_profile_input_changes_nothing(logged_in, customer, field, value, message):
    before = Customer.objects.values("address", "occupation", "employer", "monthly_income").get(pk=customer.pk)
    data = {"address": "新地址", "occupation": "farmer", "employer": "合作社", "monthly_income": "3000"}
    data[field] = value
    response = logged_in.post(EDIT, data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert Customer.objects.values("address", "occupation", "employer", "monthly_income").get(pk=customer.pk) == before


def test_change_password_keeps_this_session_and_ends_others(client, logged_in, customer):
    other = client.__class__()
    other.post(reverse("web:login"), {"mobile": customer.mobile, "password": PASSWORD})
    assert other.get(PROFILE).status_code == 200
    response = logged_in.post(
        PASSWORD_CHANGE, {"old_password": PASSWORD, "password1": "Chun-Hua-2026!x", "password2": "Chun-Hua-2026!x"}
    )
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer_check_password(customer=customer, password="Chun-Hua-2026!x")
    assert logged_in.session[CUSTOMER_SESSION_VERSION_KEY] == customer.password[-16:]
    assert logged_in.get(PROFILE).status_code == 200
    assert other.get(PROFILE).status_code == 302


def test_change_password_with_wrong_old_password_changes_nothing(logged_in, customer):
    old_hash = customer.password
    response = logged_in.post(
        PASSWORD_CHANGE, {"old_password": "not-my-password", "password1": "Chun-Hua-2026!x", "password2": "Chun-Hua-2026!x"}
    )
    assert "原密码错误。" in response.content.decode()
    customer.refresh_from_db()
    assert customer.password == old_hash


def test_profile_edit_and_password_pages_need_a_login(client):
    for path in (EDIT, PASSWORD_CHANGE):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith(reverse("web:login"))

"""Customer login (password, one-time code), lockout, password reset, logout and session separation."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone
from freezegun import freeze_time

from jikuai.customers.models import Customer, OneTimeCode
from jikuai.customers.services import customer_check_password
from jikuai.org import roles
from jikuai.web.middleware import CUSTOMER_SESSION_KEY, CUSTOMER_SESSION_VERSION_KEY
from tests.factories import make_staff
from tests.web.factories import PASSWORD, last_code, make_web_customer, new_mobile, other_code

pytestmark = pytest.mark.django_db

LOGIN = reverse("web:login")
OTP_LOGIN = reverse("web:otp_login")
RESET = reverse("web:reset_password")
PROFILE = reverse("web:profile")
NEW_PASSWORD = "Qing-Shan-Lv-Shui-88"


@pytest.fixture
def customer(institution):
    return make_web_customer(institution=institution, name="李四")


def logged_in_as(client):
    return client.session.get(CUSTOMER_SESSION_KEY)


def test_password_login_rotates_the_session_and_opens_the_profile(client, customer):
    client.get(LOGIN)
    before = client.cookies["sessionid"].value if "sessionid" in client.cookies else None
    response = client.post(LOGIN, {"mobile": customer.mobile, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == PROFILE
    assert client.cookies["sessionid"].value != before
    assert logged_in_as(client) == customer.pk
    assert client.session[CUSTOMER_SESSION_VERSION_KEY] == customer.password[-16:]
    customer.refresh_from_db()
    assert customer.last_login_at is not None and customer.failed_logins == 0
    assert client.get(PROFILE).status_code == 200
    # a customer login is not a staff login
    assert "_auth_user_id" not in client.session


def test_login_follows_a_safe_next_only(client, customer):
    response = client.post(LOGIN + "?next=/profile/edit/", {"mobile": customer.mobile, "password": PASSWORD})
    assert response["Location"] == "/profile/edit/"
    client.post(reverse("web:logout"))
    response = client.post(LOGIN + "?next=https://evil.example/", {"mobile": customer.mobile, "password": PASSWORD})
    assert response["Location"] == PROFILE


def test_wrong_password_and_unknown_mobile_get_the_same_message(client, customer):
    wrong = client.post(LOGIN, {"mobile": customer.mobile, "password": "Wrong-Password-1"}).content.decode()
    unknown = client.post(LOGIN, {"mobile": new_mobile(), "password": "Wrong-Password-1"}).content.decode()
    assert "手机号或密码错误。" in wrong and "手机号或密码错误。" in unknown
    assert logged_in_as(client) is None
    customer.refresh_from_db()
    assert customer.failed_logins == 1


def test_wrong_passwords_lock_the_account_even_for_the_right_password(client, customer, settings):
    limit = settings.CUSTOMER_LOGIN_FAILURE_LIMIT
    for attempt in range(1, limit):
        response = client.post(LOGIN, {"mobile": customer.mobile, "password": f"Wrong-{attempt}-pass"})
        assert "手机号或密码错误。" in response.content.decode()
    response = client.post(LOGIN, {"mobile": customer.mobile, "password": "Wrong-last-pass"})
    assert "登录失败次数过多，账户已锁定，请30分钟后再试" in response.content.decode()
    customer.refresh_from_db()
    assert customer.locked_until is not None
    locked_until = customer.locked_until
    # the right password is refused while locked, and nothing changes
    response = client.post(LOGIN, {"mobile": customer.mobile, "password": PASSWORD})
    assert "账户已锁定" in response.content.decode()
    assert logged_in_as(client) is None
    customer.refresh_from_db()
    assert customer.locked_until == locked_until and customer.last_login_at is None
    # so is a login code
    client.post(OTP_LOGIN, {"mobile": customer.mobile, "action": "send"})
    response = client.post(OTP_LOGIN, {"mobile": customer.mobile, "code": last_code(customer.mobile), "action": "login"})
    assert "账户已锁定" in response.content.decode() and logged_in_as(client) is None
    # after the lock period the right password works and the counter is reset
    with freeze_time(timezone.now() + dt.timedelta(minutes=settings.CUSTOMER_LOGIN_LOCK_MINUTES + 1)):
        response = client.post(LOGIN, {"mobile": customer.mobile, "password": PASSWORD})
    assert response.status_code == 302 and logged_in_as(client) == customer.pk
    customer.refresh_from_db()
    assert customer.failed_logins == 0 and customer.locked_until is None


def test_one_wrong_password_after_an_expired_lock_does_not_relock(client, customer, settings):
    Customer.objects.filter(pk=customer.pk).update(
        failed_logins=settings.CUSTOMER_LOGIN_FAILURE_LIMIT, locked_until=timezone.now() - dt.timedelta(minutes=1)
    )
    response = client.post(LOGIN, {"mobile": customer.mobile, "password": "Wrong-Password-1"})
    assert "手机号或密码错误。" in response.content.decode()
    customer.refresh_from_db()
    assert customer.failed_logins == 1 and customer.locked_until is None


def test_invalid_mobile_on_login_is_a_field_error(client, customer):
    response = client.post(LOGIN, {"mobile": "12345", "password": PASSWORD})
    assert "手机号码应为以1开头的11位数字。" in response.content.decode()
    assert logged_in_as(client) is None


def test_code_login(client, customer, sms_outbox):
    response = client.post(OTP_LOGIN, {"mobile": customer.mobile, "action": "send"})
    assert response.status_code == 200
    assert "验证码已发送" in response.content.decode()
    assert len(sms_outbox) == 1 and "登录验证码" in sms_outbox[0].text
    code = last_code(customer.mobile)
    response = client.post(OTP_LOGIN, {"mobile": customer.mobile, "code": code, "action": "login"})
    assert response.status_code == 302 and logged_in_as(client) == customer.pk
    # the code is spent: logging out and reusing it fails
    client.post(reverse("web:logout"))
    response = client.post(OTP_LOGIN, {"mobile": customer.mobile, "code": code, "action": "login"})
    assert "验证码已使用，请重新获取。" in response.content.decode()
    assert logged_in_as(client) is None


def test_code_login_wrong_and_expired(client, customer):
    client.post(OTP_LOGIN, {"mobile": customer.mobile, "action": "send"})
    code = last_code(customer.mobile)
    response = client.post(OTP_LOGIN, {"mobile": customer.mobile, "code": other_code(code), "action": "login"})
    assert "验证码错误，还可尝试4次。" in response.content.decode()
    with freeze_time(timezone.now() + dt.timedelta(seconds=301)):
        response = client.post(OTP_LOGIN, {"mobile": customer.mobile, "code": code, "action": "login"})
    assert "验证码已过期" in response.content.decode()
    assert logged_in_as(client) is None
    customer.refresh_from_db()
    assert customer.last_login_at is None


def test_code_request_for_an_unknown_mobile_sends_nothing_but_answers_the_same(client, sms_outbox):
    mobile = new_mobile()
    response = client.post(OTP_LOGIN, {"mobile": mobile, "action": "send"})
    assert "验证码已发送" in response.content.decode()
    assert sms_outbox == []
    assert OneTimeCode.objects.count() == 1  # counted for the rate limits


def test_code_request_through_htmx_returns_a_fragment(client, customer, sms_outbox):
    response = client.post(reverse("web:otp_send"), {"mobile": customer.mobile, "purpose": "login"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "<html" not in response.content.decode() and "验证码已发送" in response.content.decode()
    assert len(sms_outbox) == 1
    response = client.post(reverse("web:otp_send"), {"mobile": customer.mobile, "purpose": "login"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 429 and "验证码发送过于频繁" in response.content.decode()
    assert len(sms_outbox) == 1
    # registration codes are not sent through this helper
    assert client.post(reverse("web:otp_send"), {"mobile": customer.mobile, "purpose": "register"}).status_code == 404


def test_password_reset(client, customer, sms_outbox):
    response = client.post(RESET, {"mobile": customer.mobile, "action": "send"})
    assert "验证码已发送" in response.content.decode()
    code = last_code(customer.mobile)
    assert "重置登录密码" in sms_outbox[-1].text
    response = client.post(
        RESET,
        {"mobile": customer.mobile, "code": code, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "action": "reset"},
    )
    assert response.status_code == 302 and response["Location"] == LOGIN
    customer.refresh_from_db()
    assert customer_check_password(customer=customer, password=NEW_PASSWORD)
    assert not customer_check_password(customer=customer, password=PASSWORD)
    assert client.post(LOGIN, {"mobile": customer.mobile, "password": NEW_PASSWORD}).status_code == 302


def test_password_reset_unlocks_a_locked_account(client, customer, settings):
    Customer.objects.filter(pk=customer.pk).update(failed_logins=5, locked_until=timezone.now() + dt.timedelta(minutes=30))
    client.post(RESET, {"mobile": customer.mobile, "action": "send"})
    client.post(
        RESET,
        {
            "mobile": customer.mobile,
            "code": last_code(customer.mobile),
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
            "action": "reset",
        },
    )
    customer.refresh_from_db()
    assert customer.locked_until is None and customer.failed_logins == 0


@pytest.mark.parametrize(
    ("password", "message"), [("12345678", "密码只包含数字。"), ("short", "密码长度太短"), ("password123", "这个密码太常见了。")]
)
def test_weak_new_password_is_refused_and_the_code_is_kept(client, customer, password, message):
    client.post(RESET, {"mobile": customer.mobile, "action": "send"})
    code = last_code(customer.mobile)
    old_hash = customer.password
    response = client.post(
        RESET, {"mobile": customer.mobile, "code": code, "password1": password, "password2": password, "action": "reset"}
    )
    assert message in response.content.decode()
    customer.refresh_from_db()
    assert customer.password == old_hash
    assert OneTimeCode.objects.get().used_at is None


def test_reset_with_a_wrong_code_changes_nothing(client, customer):
    client.post(RESET, {"mobile": customer.mobile, "action": "send"})
    old_hash = customer.password
    response = client.post(
        RESET,
        {
            "mobile": customer.mobile,
            "code": other_code(last_code(customer.mobile)),
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
            "action": "reset",
        },
    )
    assert "验证码错误" in response.content.decode()
    customer.refresh_from_db()
    assert customer.password == old_hash


def test_login_code_cannot_reset_the_password(client, customer, settings):
    settings.OTP_MIN_INTERVAL_SECONDS = 0
    client.post(OTP_LOGIN, {"mobile": customer.mobile, "action": "send"})
    login_code = last_code(customer.mobile)
    old_hash = customer.password
    response = client.post(
        RESET,
        {"mobile": customer.mobile, "code": login_code, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "action": "reset"},
    )
    assert "验证码无效，请先获取验证码。" in response.content.decode()
    customer.refresh_from_db()
    assert customer.password == old_hash
    # and a reset code cannot log in
    client.post(RESET, {"mobile": customer.mobile, "action": "send"})
    reset_code = last_code(customer.mobile)
    OneTimeCode.objects.filter(purpose=OneTimeCode.Purpose.LOGIN).update(used_at=timezone.now())
    response = client.post(OTP_LOGIN, {"mobile": customer.mobile, "code": reset_code, "action": "login"})
    assert "验证码" in response.content.decode() and logged_in_as(client) is None


def test_reset_changes_end_other_sessions(client, customer):
    other = client.__class__()
    assert other.post(LOGIN, {"mobile": customer.mobile, "password": PASSWORD}).status_code == 302
    assert other.get(PROFILE).status_code == 200
    client.post(RESET, {"mobile": customer.mobile, "action": "send"})
    client.post(
        RESET,
        {
            "mobile": customer.mobile,
            "code": last_code(customer.mobile),
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
            "action": "reset",
        },
    )
    response = other.get(PROFILE)
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)


def test_logout_is_post_only_and_ends_the_customer_session(client, customer):
    client.post(LOGIN, {"mobile": customer.mobile, "password": PASSWORD})
    assert client.get(reverse("web:logout")).status_code == 405
    assert logged_in_as(client) == customer.pk
    response = client.post(reverse("web:logout"))
    assert response.status_code == 302
    assert logged_in_as(client) is None
    assert client.get(PROFILE).status_code == 302


def test_customer_session_grants_neither_admin_nor_field_app(client, customer):
    client.post(LOGIN, {"mobile": customer.mobile, "password": PASSWORD})
    admin = client.get("/admin/")
    assert admin.status_code == 302 and admin["Location"].startswith("/admin/login/")
    field = client.get(reverse("web:field"))
    assert field.status_code == 302 and field["Location"].startswith("/admin/login/")
    customers = client.get("/admin/customers/customer/")
    assert customers.status_code == 302


def test_staff_session_is_not_a_customer_session(client, institution, customer):
    staff = make_staff(role=roles.INSTITUTION_ADMIN, institution=institution)
    client.force_login(staff.user)
    response = client.get(PROFILE)
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)
    assert client.get(reverse("web:field")).status_code == 200


def test_customer_logout_keeps_a_staff_login_in_the_same_browser(client, institution, customer):
    staff = make_staff(role=roles.INSTITUTION_ADMIN, institution=institution)
    client.force_login(staff.user)
    client.post(LOGIN, {"mobile": customer.mobile, "password": PASSWORD})
    assert logged_in_as(client) == customer.pk
    client.post(reverse("web:logout"))
    assert logged_in_as(client) is None
    assert client.get(reverse("web:field")).status_code == 200


def test_disabled_web_account_cannot_log_in(client, customer):
    Customer.objects.filter(pk=customer.pk).update(web_enabled=False)
    response = client.post(LOGIN, {"mobile": customer.mobile, "password": PASSWORD})
    assert "手机号或密码错误。" in response.content.decode()
    assert logged_in_as(client) is None

"""Registration through the pages: step 1 (details + code sent), step 2 (code) → customer, consent, login."""

import datetime as dt
import logging

import pytest
from django.urls import reverse
from django.utils import timezone
from freezegun import freeze_time

from jikuai.core.bus import OutboxEvent
from jikuai.customers.models import Consent, Customer, OneTimeCode
from jikuai.customers.services import id_number_index
from jikuai.web.middleware import CUSTOMER_SESSION_KEY
from tests.web.factories import PASSWORD, last_code, make_web_customer, new_id_number, new_mobile, other_code

pytestmark = pytest.mark.django_db

REGISTER = reverse("web:register")
CONFIRM = reverse("web:register_confirm")


def form_data(institution, **overrides):
    data = {
        "institution": institution.pk,
        "name": "王小明",
        "id_number": new_id_number(age=30),
        "mobile": new_mobile(),
        "password1": PASSWORD,
        "password2": PASSWORD,
        "consent": "on",
    }
    data.update(overrides)
    return data


def assert_nothing_created():
    assert Customer.objects.count() == 0
    assert Consent.objects.count() == 0
    assert not OutboxEvent.objects.filter(topic="customers.customer_created").exists()


def test_register_page_offers_active_institutions_first_one_chosen(client, institution, other_institution):
    other_institution.is_active = False
    other_institution.save()
    response = client.get(REGISTER)
    assert response.status_code == 200
    html = response.content.decode()
    assert institution.name in html and other_institution.name not in html
    assert f'<option value="{institution.pk}" selected>' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert "个人信息处理授权书" in html


def test_registration_happy_path_end_to_end(client, institution, sms_outbox, caplog):
    caplog.set_level(logging.DEBUG)
    data = form_data(institution)
    response = client.post(REGISTER, data, REMOTE_ADDR="10.9.8.7")
    assert response.status_code == 302 and response["Location"] == CONFIRM
    assert Customer.objects.count() == 0  # nothing yet: the mobile is not confirmed
    assert len(sms_outbox) == 1 and sms_outbox[0].mobile == data["mobile"]
    code = last_code(data["mobile"])
    assert "注册" in sms_outbox[0].text

    page = client.get(CONFIRM)
    assert data["mobile"][:3] + "****" + data["mobile"][-4:] in page.content.decode()
    assert data["mobile"] not in page.content.decode()

    response = client.post(CONFIRM, {"action": "confirm", "code": code}, REMOTE_ADDR="10.9.8.7")
    assert response.status_code == 302 and response["Location"] == reverse("web:profile")
    customer = Customer.objects.get()
    assert customer.name == "王小明"
    assert customer.institution == institution
    assert customer.id_number_index == id_number_index(data["id_number"])
    assert customer.mobile == data["mobile"]
    assert customer.channel == Customer.Channel.WEB
    assert customer.web_enabled and customer.mobile_verified_at is not None
    assert customer.password and customer.password != PASSWORD
    consent = Consent.objects.get(customer=customer)
    assert consent.purpose == Consent.Purpose.PERSONAL_INFO
    assert consent.channel == Customer.Channel.WEB and consent.ip_address == "10.9.8.7"
    assert OneTimeCode.objects.get().used_at is not None
    assert OutboxEvent.objects.filter(topic="customers.customer_created").count() == 1
    # logged in as that customer
    assert client.session[CUSTOMER_SESSION_KEY] == customer.pk
    profile = client.get(reverse("web:profile"))
    assert profile.status_code == 200 and "王**" in profile.content.decode()
    # no code, no full mobile and no ID number in the logs of the whole flow
    assert code not in caplog.text
    assert data["mobile"] not in caplog.text and data["id_number"] not in caplog.text


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("id_number", "22018219900101001", "身份证号码应为18位"),
        ("id_number", "220182199001010010", "身份证号码校验位错误"),
        ("id_number", "220182900101001", "不再受理15位旧身份证号码"),
        ("id_number", "990182199001010015", "省份代码无效"),
        ("mobile", "12812345678", "手机号码应为以1开头的11位数字。"),
        ("mobile", "1381234567", "手机号码应为以1开头的11位数字。"),
        ("name", "", "该字段是必填项。"),
        ("password1", "12345678", "密码只包含数字。"),
        ("password2", "Different-Pass-2026", "两次输入的密码不一致。"),
        ("consent", "", "请阅读并同意《个人信息处理授权书》。"),
    ],
)
def test_bad_input_on_step_one_is_a_clear_error_and_sends_nothing(client, institution, sms_outbox, field, value, message):
    data = form_data(institution, **{field: value})
    if field == "password1":
        data["password2"] = value
    response = client.post(REGISTER, data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert sms_outbox == [] and OneTimeCode.objects.count() == 0
    assert_nothing_created()


def test_duplicate_id_number_in_the_institution_is_refused(client, institution, sms_outbox):
    existing = make_web_customer(institution=institution)
    data = form_data(institution, id_number=existing.id_number.lower())
    response = client.post(REGISTER, data)
    assert "该身份证号码已在本机构登记" in response.content.decode()
    assert sms_outbox == [] and Customer.objects.count() == 1


def test_same_id_number_at_another_institution_is_allowed(client, institution, other_institution):
    existing = make_web_customer(institution=other_institution)
    response = client.post(REGISTER, form_data(institution, id_number=existing.id_number))
    assert response.status_code == 302


def test_mobile_already_registered_is_refused(client, institution, sms_outbox):
    existing = make_web_customer(institution=institution)
    response = client.post(REGISTER, form_data(institution, mobile=existing.mobile))
    assert "该手机号已注册，请直接登录。" in response.content.decode()
    assert sms_outbox == [] and Customer.objects.count() == 1


def start(client, institution, **overrides):
    data = form_data(institution, **overrides)
    assert client.post(REGISTER, data).status_code == 302
    return data, last_code(data["mobile"])


def test_wrong_code_creates_nothing_and_counts_the_attempt(client, institution):
    _data, code = start(client, institution)
    response = client.post(CONFIRM, {"action": "confirm", "code": other_code(code)})
    assert response.status_code == 200
    assert "验证码错误，还可尝试4次。" in response.content.decode()
    assert OneTimeCode.objects.get().attempts == 1
    assert_nothing_created()
    assert CUSTOMER_SESSION_KEY not in client.session


def test_malformed_code_is_refused(client, institution):
    start(client, institution)
    response = client.post(CONFIRM, {"action": "confirm", "code": "12ab"})
    assert "验证码为6位数字。" in response.content.decode()
    assert_nothing_created()


def test_expired_code_creates_nothing(client, institution):
    _data, code = start(client, institution)
    with freeze_time(timezone.now() + dt.timedelta(seconds=301)):
        response = client.post(CONFIRM, {"action": "confirm", "code": code})
    assert "验证码已过期，请重新获取。" in response.content.decode()
    assert_nothing_created()


def test_reused_code_after_a_refused_creation_is_refused(client, institution):
    data, code = start(client, institution)
    # the mobile gets registered meanwhile (another device) → step 2 refuses before the code is spent
    make_web_customer(institution=institution, mobile=data["mobile"])
    response = client.post(CONFIRM, {"action": "confirm", "code": code})
    assert "该手机号已注册，请直接登录。" in response.content.decode()
    assert Customer.objects.count() == 1
    assert OneTimeCode.objects.get().used_at is None


def test_replayed_confirmation_after_success_creates_nothing_more(client, institution):
    _data, code = start(client, institution)
    old_session_key = client.cookies["sessionid"].value
    assert client.post(CONFIRM, {"action": "confirm", "code": code}).status_code == 302
    assert client.cookies["sessionid"].value != old_session_key  # the session key was rotated at login
    replay = client.__class__()
    replay.cookies["sessionid"] = old_session_key
    response = replay.post(CONFIRM, {"action": "confirm", "code": code})
    assert response.status_code == 302 and response["Location"] == REGISTER
    assert Customer.objects.count() == 1


def test_code_for_another_mobile_cannot_confirm(client, institution):
    start(client, institution)
    second = form_data(institution)
    assert client.__class__().post(REGISTER, second).status_code == 302
    response = client.post(CONFIRM, {"action": "confirm", "code": last_code(second["mobile"])})
    assert "验证码错误" in response.content.decode()
    assert_nothing_created()


def test_too_many_codes_per_mobile_on_resend(client, institution, settings, sms_outbox):
    settings.OTP_MIN_INTERVAL_SECONDS = 0
    settings.OTP_MAX_PER_MOBILE_PER_HOUR = 2
    start(client, institution)
    assert client.post(CONFIRM, {"action": "resend"}).status_code == 302
    response = client.post(CONFIRM, {"action": "resend"})
    assert "该手机号获取验证码次数过多，请1小时后再试。" in response.content.decode()
    assert len(sms_outbox) == 2 and OneTimeCode.objects.count() == 2
    assert_nothing_created()


def test_resend_too_soon_is_refused(client, institution, sms_outbox):
    start(client, institution)
    response = client.post(CONFIRM, {"action": "resend"})
    assert "验证码发送过于频繁" in response.content.decode()
    assert len(sms_outbox) == 1


def test_too_many_codes_per_ip(client, institution, settings, sms_outbox):
    settings.OTP_MAX_PER_IP_PER_HOUR = 2
    for _ in range(2):
        assert client.post(REGISTER, form_data(institution), REMOTE_ADDR="10.20.30.40").status_code == 302
    response = client.post(REGISTER, form_data(institution), REMOTE_ADDR="10.20.30.40")
    assert "当前网络获取验证码次数过多" in response.content.decode()
    assert len(sms_outbox) == 2
    assert_nothing_created()


def test_confirm_without_a_pending_registration_goes_back(client, institution):
    response = client.get(CONFIRM)
    assert response.status_code == 302 and response["Location"] == REGISTER


def test_pending_registration_expires(client, institution):
    _data, code = start(client, institution)
    with freeze_time(timezone.now() + dt.timedelta(minutes=31)):
        response = client.post(CONFIRM, {"action": "confirm", "code": code})
    assert response.status_code == 302 and response["Location"] == REGISTER
    assert_nothing_created()


def test_pending_registration_keeps_no_plaintext_in_the_session(client, institution):
    from django.contrib.sessions.models import Session

    data, _code = start(client, institution)
    raw = Session.objects.get(session_key=client.session.session_key).session_data
    decoded = str(client.session.load())
    for secret in (data["id_number"], data["mobile"], data["password1"]):
        assert secret not in raw and secret not in decoded

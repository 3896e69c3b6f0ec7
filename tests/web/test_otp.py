"""One-time codes (jikuai.customers.accounts): storage, expiry, single use, attempts, rate limits, purposes."""

import datetime as dt
import logging

import pytest
from django.db import connection
from django.utils import timezone
from freezegun import freeze_time

from jikuai.core.exceptions import RateLimited
from jikuai.customers import accounts
from jikuai.customers.accounts import AccountError, OtpError
from jikuai.customers.models import OneTimeCode
from jikuai.customers.services import mobile_index
from tests.web.factories import CODE_RE, last_code, new_mobile, other_code

pytestmark = pytest.mark.django_db

LOGIN = OneTimeCode.Purpose.LOGIN
RESET = OneTimeCode.Purpose.RESET_PASSWORD


def test_code_is_six_random_digits_stored_only_as_keyed_hash(sms_outbox):
    mobile = new_mobile()
    row = accounts.otp_send(mobile=mobile, purpose=LOGIN, ip_address="10.0.0.1")
    code = last_code(mobile)
    assert len(code) == 6 and code.isdigit()
    assert sms_outbox[-1].mobile == mobile and sms_outbox[-1].template == "otp_login"
    row.refresh_from_db()
    assert row.mobile_index == mobile_index(mobile)
    assert code not in row.code_hash and len(row.code_hash) == 64
    assert row.expires_at == row.created_at + dt.timedelta(seconds=300)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM customers_onetimecode WHERE id = %s", [row.pk])
        raw = " ".join(str(value) for value in cursor.fetchone())
    assert code not in raw and mobile not in raw


def test_codes_differ_between_requests(settings):
    settings.OTP_MIN_INTERVAL_SECONDS = 0
    mobile = new_mobile()
    codes = set()
    for _ in range(5):
        accounts.otp_send(mobile=mobile, purpose=LOGIN, ip_address=None)
        codes.add(last_code(mobile))
    assert len(codes) >= 4  # 5 draws from a million; equal codes would mean no randomness


def test_right_code_verifies_once_then_is_refused_as_used():
    mobile = new_mobile()
    accounts.otp_send(mobile=mobile, purpose=LOGIN, ip_address=None)
    code = last_code(mobile)
    accounts.otp_verify(mobile=mobile, purpose=LOGIN, code=code)
    with pytest.raises(OtpError) as exc:
        accounts.otp_verify(mobile=mobile, purpose=LOGIN, code=code)
    assert exc.value.code == "otp_used"
    assert "已使用" in exc.value.message_zh


def test_expired_code_is_refused_and_not_consumed():
    mobile = new_mobile()
    accounts.otp_send(mobile=mobile, purpose=LOGIN, ip_address=None)
    code = last_code(mobile)
    with freeze_time(timezone.now() + dt.timedelta(seconds=301)), pytest.raises(OtpError) as exc:
        accounts.otp_verify(mobile=mobile, purpose=LOGIN, code=code)
    assert exc.value.code == "otp_expired"
    assert "已过期" in exc.value.message_zh
    assert OneTimeCode.objects.get().used_at is None


def test_wrong_code_counts_attempts_and_locks_the_code(settings):
    mobile = new_mobile()
    accounts.otp_send(mobile=mobile, purpose=LOGIN, ip_address=None)
    code = last_code(mobile)
    for attempt in range(1, settings.OTP_MAX_ATTEMPTS + 1):
        with pytest.raises(OtpError) as exc:
            accounts.otp_verify(mobile=mobile, purpose=LOGIN, code=other_code(code))
        assert OneTimeCode.objects.get().attempts == attempt
    assert exc.value.code == "otp_attempts"
    # even the right code is refused once the attempts are spent
    with pytest.raises(OtpError) as exc:
        accounts.otp_verify(mobile=mobile, purpose=LOGIN, code=code)
    assert exc.value.code == "otp_attempts"
    assert OneTimeCode.objects.get().used_at is None


def test_wrong_code_message_counts_down():
    mobile = new_mobile()
    accounts.otp_send(mobile=mobile, purpose=LOGIN, ip_address=None)
    with pytest.raises(OtpError) as exc:
        accounts.otp_verify(mobile=mobile, purpose=LOGIN, code="abc")
    assert exc.value.message_zh == "验证码错误，还可尝试4次。"


def test_code_of_one_purpose_does_not_verify_another():
    mobile = new_mobile()
    accounts.otp_send(mobile=mobile, purpose=LOGIN, ip_address=None)
    code = last_code(mobile)
    with pytest.raises(OtpError) as exc:
        accounts.otp_verify(mobile=mobile, purpose=RESET, code=code)
    assert exc.value.code == "otp_missing"
    # the login code is untouched and still works for login
    assert OneTimeCode.objects.get().used_at is None
    accounts.otp_verify(mobile=mobile, purpose=LOGIN, code=code)


def test_code_of_one_mobile_does_not_verify_another(settings):
    first, second = new_mobile(), new_mobile()
    accounts.otp_send(mobile=first, purpose=LOGIN, ip_address=None)
    accounts.otp_send(mobile=second, purpose=LOGIN, ip_address=None)
    with pytest.raises(OtpError):
        accounts.otp_verify(mobile=second, purpose=LOGIN, code=last_code(first))


def test_new_code_replaces_the_open_one(settings):
    settings.OTP_MIN_INTERVAL_SECONDS = 0
    mobile = new_mobile()
    accounts.otp_send(mobile=mobile, purpose=LOGIN, ip_address=None)
    old = last_code(mobile)
    accounts.otp_send(mobile=mobile, purpose=LOGIN, ip_address=None)
    new = last_code(mobile)
    if old != new:
        with pytest.raises(OtpError):
            accounts.otp_verify(mobile=mobile, purpose=LOGIN, code=old)
    accounts.otp_verify(mobile=mobile, purpose=LOGIN, code=new)


def test_minimum_interval_per_mobile(sms_outbox):
    mobile = new_mobile()
    accounts.otp_send(mobile=mobile, purpose=LOGIN, ip_address=None)
    with pytest.raises(RateLimited) as exc:
        accounts.otp_send(mobile=mobile, purpose=RESET, ip_address=None)
    assert exc.value.code == "otp_too_soon"
    assert "秒后再试" in exc.value.message_zh
    assert OneTimeCode.objects.count() == 1 and len(sms_outbox) == 1
    with freeze_time(timezone.now() + dt.timedelta(seconds=61)):
        accounts.otp_send(mobile=mobile, purpose=RESET, ip_address=None)
    assert OneTimeCode.objects.count() == 2


def test_hourly_limit_per_mobile(settings, sms_outbox):
    settings.OTP_MIN_INTERVAL_SECONDS = 0
    settings.OTP_MAX_PER_MOBILE_PER_HOUR = 3
    mobile = new_mobile()
    for _ in range(3):
        accounts.otp_send(mobile=mobile, purpose=LOGIN, ip_address=None)
    with pytest.raises(RateLimited) as exc:
        accounts.otp_send(mobile=mobile, purpose=LOGIN, ip_address=None)
    assert exc.value.code == "otp_mobile_limit"
    assert exc.value.message_zh == "该手机号获取验证码次数过多，请1小时后再试。"
    assert OneTimeCode.objects.count() == 3 and len(sms_outbox) == 3
    # another mobile is not affected; an hour later this one may ask again
    accounts.otp_send(mobile=new_mobile(), purpose=LOGIN, ip_address=None)
    with freeze_time(timezone.now() + dt.timedelta(minutes=61)):
        accounts.otp_send(mobile=mobile, purpose=LOGIN, ip_address=None)


def test_hourly_limit_per_ip(settings, sms_outbox):
    settings.OTP_MAX_PER_IP_PER_HOUR = 3
    for _ in range(3):
        accounts.otp_send(mobile=new_mobile(), purpose=LOGIN, ip_address="10.1.2.3")
    with pytest.raises(RateLimited) as exc:
        accounts.otp_send(mobile=new_mobile(), purpose=LOGIN, ip_address="10.1.2.3")
    assert exc.value.code == "otp_ip_limit"
    assert "当前网络" in exc.value.message_zh
    assert OneTimeCode.objects.count() == 3 and len(sms_outbox) == 3
    accounts.otp_send(mobile=new_mobile(), purpose=LOGIN, ip_address="10.1.2.4")


def test_invalid_mobile_and_purpose_are_refused(sms_outbox):
    with pytest.raises(AccountError) as exc:
        accounts.otp_send(mobile="12345", purpose=LOGIN, ip_address=None)
    assert exc.value.message_zh == "手机号码应为以1开头的11位数字。"
    with pytest.raises(AccountError):
        accounts.otp_send(mobile=new_mobile(), purpose="anything", ip_address=None)
    assert OneTimeCode.objects.count() == 0 and sms_outbox == []


def test_code_never_reaches_the_logs(caplog, capsys, settings):
    # the development backend prints the SMS to the console (not a log) and logs a masked line
    settings.SMS_BACKEND = "jikuai.core.sms.ConsoleBackend"
    mobile = new_mobile()
    caplog.set_level(logging.DEBUG)
    accounts.otp_send(mobile=mobile, purpose=LOGIN, ip_address="10.0.0.9")
    printed = capsys.readouterr().out
    code = CODE_RE.search(printed).group(1)
    assert caplog.records, "issuing a code is logged (without the code)"
    assert code not in caplog.text
    assert mobile not in caplog.text


def test_sms_failure_expires_the_code_and_reports_clearly(settings):
    settings.SMS_BACKEND = "jikuai.core.sms.HttpGatewayBackend"
    settings.SMS_GATEWAY_URL = ""  # unconfigured gateway → SmsError
    mobile = new_mobile()
    with pytest.raises(AccountError) as exc:
        accounts.otp_send(mobile=mobile, purpose=LOGIN, ip_address=None)
    assert exc.value.code == "sms_failed" and "短信发送失败" in exc.value.message_zh
    row = OneTimeCode.objects.get()
    assert row.expires_at <= timezone.now()

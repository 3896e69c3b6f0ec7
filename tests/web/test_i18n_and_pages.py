"""Site shell: home, health, forms that work without JavaScript, the language switch, the staff lockout page."""

import json
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation

from jikuai.org import roles
from tests.factories import make_staff
from tests.web.factories import PASSWORD, make_web_customer, new_mobile

pytestmark = pytest.mark.django_db

PUBLIC_FORMS = ["web:login", "web:otp_login", "web:register", "web:reset_password"]


def switch_to_english(client, next_path="/"):
    response = client.post(reverse("set_language"), {"language": "en", "next": next_path})
    assert response.status_code == 302
    return response


def test_home_page_in_chinese_by_default(client):
    response = client.get(reverse("web:home"))
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="zh-hans">' in html
    assert "普惠贷款" in html and reverse("web:register") in html and reverse("web:login") in html
    assert reverse("web:field") in html
    # static assets are vendored: no CDN
    assert not re.search(r'(src|href)="https?://', html)


def test_error_pages_are_the_sites_own_and_the_api_answers_json(client, rf):
    from django.views.defaults import server_error

    page = client.get("/no-such-page/")
    assert page.status_code == 404 and "页面不存在" in page.content.decode() and "返回首页" in page.content.decode()
    client.cookies["django_language"] = "en"
    assert "返回首页" not in client.get("/no-such-page/").content.decode()
    api = client.get("/api/v1/no-such-endpoint")
    assert api.status_code == 404 and api.json()["code"] == "not_found"
    with translation.override("zh-hans"):
        failed = server_error(rf.get("/loans/"))  # rendered without a request context: must not fail itself
    assert failed.status_code == 500 and "系统繁忙" in failed.content.decode() and "请勿重复操作" in failed.content.decode()
    with translation.override("en"):
        assert "do not repeat" in server_error(rf.get("/loans/")).content.decode()


def test_healthz_still_answers_json(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json()["checks"]["database"]["ok"]


@pytest.mark.parametrize("name", PUBLIC_FORMS)
def test_forms_post_normally_with_csrf(client, name):
    html = client.get(reverse(name)).content.decode()
    forms = re.findall(r"<form[^>]*>.*?</form>", html, re.S)
    page_forms = [form for form in forms if 'class="lang"' not in form]
    assert page_forms
    for form in page_forms:
        assert 'method="post"' in form
        assert 'name="csrfmiddlewaretoken"' in form
        assert 'type="submit"' in form  # a plain submit button: no JavaScript needed


def test_csrf_is_enforced_on_customer_forms(institution):
    from django.test import Client

    customer = make_web_customer(institution=institution)
    strict = Client(enforce_csrf_checks=True)
    response = strict.post(reverse("web:login"), {"mobile": customer.mobile, "password": PASSWORD})
    assert response.status_code == 403 and "页面已过期" in response.content.decode()  # an explanation, not a bare error


def test_english_switch_translates_the_pages(client):
    switch_to_english(client, reverse("web:login"))
    html = client.get(reverse("web:login")).content.decode()
    assert '<html lang="en">' in html
    assert "Customer login" in html and "Forgot your password?" in html and "Mobile number" in html
    assert "客户登录" not in html and "忘记密码" not in html
    home = client.get(reverse("web:home")).content.decode()
    assert "Inclusive loans" in home and "普惠贷款" not in home


def test_english_errors_on_forms_and_services(client, institution):
    customer = make_web_customer(institution=institution)
    switch_to_english(client)
    # a kernel validator message (raised in Chinese) is shown in English
    html = client.post(reverse("web:login"), {"mobile": "12345", "password": "x"}).content.decode()
    assert "The mobile number must be 11 digits starting with 1." in html
    # a service error uses its English message
    html = client.post(reverse("web:login"), {"mobile": customer.mobile, "password": "Wrong-pass-1"}).content.decode()
    assert "wrong mobile number or password" in html
    html = client.post(reverse("web:register"), {"institution": institution.pk, "id_number": "123"}).content.decode()
    assert "The ID number must have 18 characters" in html


def test_english_profile(client, institution):
    customer = make_web_customer(institution=institution)
    client.post(reverse("web:login"), {"mobile": customer.mobile, "password": PASSWORD})
    switch_to_english(client)
    html = client.get(reverse("web:profile")).content.decode()
    assert "My consents" in html and "Farmer" in html and "Not verified" in html
    assert customer.masked_id_number in html and customer.id_number not in html


def _po_entries(path: Path):
    """(references, msgid, msgstr) of the singular entries of a .po file."""
    entries = []
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        lines = block.strip().splitlines()
        refs = " ".join(line[3:] for line in lines if line.startswith("#: "))
        fields, current = {}, None
        for line in lines:
            if line.startswith(("msgid ", "msgstr ", "msgid_plural ", "msgstr[")):
                current, _, rest = line.partition(" ")
                fields[current] = json.loads(rest)
            elif line.startswith('"') and current:
                fields[current] += json.loads(line)
        if fields.get("msgid") and "msgid_plural" not in fields:
            entries.append((refs, fields["msgid"], fields.get("msgstr", "")))
    return entries


def test_english_catalogue_is_complete_and_compiled():
    """Every string of the customer pages has an English translation, and the committed .mo matches the .po."""
    locale = Path(settings.BASE_DIR) / "locale" / "en" / "LC_MESSAGES"
    assert (locale / "django.mo").exists()
    mine = [(msgid, msgstr) for refs, msgid, msgstr in _po_entries(locale / "django.po") if "web/" in refs]
    assert len(mine) > 100
    untranslated = [msgid for msgid, msgstr in mine if not msgstr]
    assert untranslated == []
    with translation.override("en"):
        stale = [msgid for msgid, msgstr in mine if translation.gettext(msgid) != msgstr]
    assert stale == [], "locale/en/LC_MESSAGES/django.mo is older than the .po: run compilemessages"


def test_staff_admin_login_lockout_after_five_failures(client, institution):
    staff = make_staff(role=roles.INSTITUTION_ADMIN, institution=institution, username="ys_lockout", password="Right-Pass-2026")
    for attempt in range(settings.AXES_FAILURE_LIMIT - 1):
        response = client.post("/admin/login/", {"username": "ys_lockout", "password": f"wrong-{attempt}"})
        assert response.status_code == 200  # the normal login form with an error
    response = client.post("/admin/login/", {"username": "ys_lockout", "password": "wrong-last"})
    assert response.status_code == 429
    html = response.content.decode()
    assert "登录失败次数过多，账户已暂时锁定，请30分钟后再试或联系管理员" in html
    # the right password is refused while locked, and no staff session starts
    response = client.post("/admin/login/", {"username": "ys_lockout", "password": "Right-Pass-2026"})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302
    assert staff.user.pk  # the account itself is untouched (axes keeps the attempts)


def test_staff_lockout_does_not_lock_customer_logins(client, institution):
    customer = make_web_customer(institution=institution)
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        client.post("/admin/login/", {"username": "nobody", "password": f"wrong-{attempt}"})
    response = client.post(reverse("web:login"), {"mobile": customer.mobile, "password": PASSWORD})
    assert response.status_code == 302


def test_unknown_mobile_code_request_in_english(client):
    switch_to_english(client)
    html = client.post(reverse("web:otp_login"), {"mobile": new_mobile(), "action": "send"}).content.decode()
    assert "If this mobile number has an online account, a code has been sent" in html


def test_money_filter_groups_thousands_and_rounds_like_the_ledger():
    from decimal import Decimal

    from django.template import Context, Template

    def render(value, arg=""):
        return Template("{{ v|money" + arg + " }}").render(Context({"v": value}))

    assert render(Decimal("8606.64")) == "8,606.64" and render(Decimal("1234567.005")) == "1,234,567.01"
    assert render(Decimal("999.994")) == "999.99" and render(Decimal("0")) == "0.00"
    assert render(Decimal("800000.00"), ":0") == "800,000" and render(Decimal("-1500.5")) == "-1,500.50"
    assert render(None) == "" and render("") == "" and render("n/a") == "n/a"

"""The English catalogue: complete (nothing untranslated or fuzzy), placeholders kept, the compiled .mo in step
with the .po, no template text left unmarked; and customer/staff pages render in English once the visitor
switches language (Chinese stays the default)."""

import ast
import datetime as dt
import gettext
import re
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from jikuai.core.workdays import business_date_set
from lending import schedule as sched
from tests.lending.factories import make_loan
from tests.lifestyle.factories import give_points, login_customer
from tests.performance.factories import make_bank, simple_scheme
from tests.web.factories import PASSWORD, make_web_customer

LOCALE_DIR = Path(settings.BASE_DIR) / "locale" / "en" / "LC_MESSAGES"
PO_FILE = LOCALE_DIR / "django.po"
MO_FILE = LOCALE_DIR / "django.mo"
TEMPLATES_DIR = Path(settings.BASE_DIR) / "templates"

HAN = re.compile(r"[\u4e00-\u9fff]")
# %(name)s, %s, %d, %%, and str.format fields {name} / {0} / {}
PLACEHOLDER = re.compile(r"%\(\w+\)[sdfir]|%[sdfir]|%%|\{\w*\}")


# --- a small .po parser (polib is not a dependency) ---------------------------------------------------------


def parse_po(path: Path) -> list[dict]:
    """Entries as dicts: flags (set), msgid, msgid_plural (optional), msgstr or msgstr[n], obsolete (bool)."""
    entries, current, field = [], None, None

    def finish():
        if current is not None and "msgid" in current:
            entries.append(current)

    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line:
            finish()
            current, field = None, None
            continue
        if current is None:
            current = {"flags": set(), "obsolete": False}
        if line.startswith("#~"):
            current["obsolete"] = True
        elif line.startswith("#,"):
            current["flags"].update(flag.strip() for flag in line[2:].split(",") if flag.strip())
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            assert field is not None, f"continuation line without a field: {raw!r}"
            current[field] += ast.literal_eval(line)
        else:
            keyword, _, value = line.partition(" ")
            assert re.fullmatch(r"msgctxt|msgid|msgid_plural|msgstr(\[\d+\])?", keyword), f"unexpected line {raw!r}"
            field = keyword
            current[field] = ast.literal_eval(value)
    finish()
    return entries


def translations(entry: dict) -> list[str]:
    return [value for key, value in sorted(entry.items()) if key.startswith("msgstr")]


@pytest.fixture(scope="module")
def catalogue() -> list[dict]:
    entries = parse_po(PO_FILE)
    assert entries and entries[0]["msgid"] == ""  # the header
    return entries[1:]


def test_the_parser_reads_plurals_continuations_and_flags(tmp_path):
    po = tmp_path / "x.po"
    po.write_text(
        'msgid ""\nmsgstr ""\n"Language: en\\n"\n\n'
        '#: a.html:1\n#, fuzzy, python-format\nmsgid ""\n"第 %(n)s "\n"行"\nmsgstr "Row %(n)s"\n\n'
        'msgid "一"\nmsgid_plural "多"\nmsgstr[0] "one"\nmsgstr[1] ""\n',
        encoding="utf-8",
    )
    header, first, second = parse_po(po)
    assert header["msgstr"] == "Language: en\n"
    assert first["msgid"] == "第 %(n)s 行" and first["flags"] == {"fuzzy", "python-format"}
    assert translations(second) == ["one", ""]


# --- the catalogue ---------------------------------------------------------------------------------------


def test_catalogue_is_large_enough_to_be_the_real_one(catalogue):
    assert len(catalogue) > 600


def test_no_entry_is_untranslated_fuzzy_or_obsolete(catalogue):
    untranslated = [e["msgid"] for e in catalogue if not all(translations(e))]
    fuzzy = [e["msgid"] for e in catalogue if "fuzzy" in e["flags"]]
    obsolete = [e["msgid"] for e in catalogue if e["obsolete"]]
    assert untranslated == [], f"untranslated: {untranslated[:20]}"
    assert fuzzy == [], f"fuzzy: {fuzzy[:20]}"
    assert obsolete == [], f"obsolete: {obsolete[:20]}"


def test_english_translations_contain_no_chinese(catalogue):
    leftover = [(e["msgid"], s) for e in catalogue for s in translations(e) if HAN.search(s)]
    assert leftover == []


def test_placeholders_match_between_msgid_and_msgstr(catalogue):
    problems = []
    for entry in catalogue:
        python_format = "python-format" in entry["flags"]

        def found(text, python_format=python_format):
            return Counter(p for p in PLACEHOLDER.findall(text) if python_format or p != "%%")

        sources = [entry["msgid"]] + ([entry["msgid_plural"]] if "msgid_plural" in entry else [])
        expected = found(sources[-1])
        for source in sources:
            # the singular of a count plural may leave the number out; every name it uses must still be known
            assert set(found(source)) <= set(expected) | {"%%"}
        for text in translations(entry):
            if found(text) != expected and not (len(sources) > 1 and set(found(text)) <= set(expected)):
                problems.append((entry["msgid"], text))
    assert problems == []


def test_compiled_catalogue_is_in_step_with_the_po_file(catalogue):
    with MO_FILE.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    stale = []
    for entry in catalogue:
        if "msgid_plural" in entry:
            got = [compiled.ngettext(entry["msgid"], entry["msgid_plural"], n) for n in (1, 2)]
            want = [entry["msgstr[0]"], entry["msgstr[1]"]]
        else:
            got, want = compiled.gettext(entry["msgid"]), entry["msgstr"]
        if got != want:
            stale.append(entry["msgid"])
    assert stale == [], f"run compilemessages: {stale[:10]}"


def _unmarked_chinese(text: str) -> list[str]:
    for pattern in (
        r"{%\s*blocktranslate\b.*?{%\s*endblocktranslate\s*%}",
        r"{%\s*translate\s.*?%}",
        r"{%\s*comment\s*%}.*?{%\s*endcomment\s*%}",
        r"{#.*?#}",
        r"<!--.*?-->",
        r'_\(".*?"\)',
    ):
        text = re.sub(pattern, "", text, flags=re.S)
    return [line.strip() for line in text.splitlines() if HAN.search(line)]


def test_templates_leave_no_chinese_text_unmarked():
    unmarked = {}
    for path in sorted(TEMPLATES_DIR.rglob("*.html")):
        lines = _unmarked_chinese(path.read_text(encoding="utf-8"))
        if lines:
            unmarked[str(path.relative_to(TEMPLATES_DIR))] = lines[:3]
    assert unmarked == {}, "wrap these in {% translate %} / {% blocktranslate %}, then run makemessages"


def test_the_unmarked_text_check_sees_bare_text_but_not_marked_text():
    assert _unmarked_chinese("<p>还款</p>") == ["<p>还款</p>"]
    marked = '{% translate "还款" %}{% blocktranslate with n=1 %}共 {{ n }} 期{% endblocktranslate %}{{ x|default:_("无") }}'
    assert _unmarked_chinese(marked) == []


# --- pages in English ------------------------------------------------------------------------------------


def switch_to_english(client, next_path="/"):
    response = client.post(reverse("set_language"), {"language": "en", "next": next_path})
    assert response.status_code == 302 and client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"


def main_text(html: str) -> str:
    """The words of the page body. Left out: the header (its language option "简体中文" is Chinese by design), the
    chart's SVG tooltips (drawn by lending.charts) and the domain's bilingual labels ("等额本息 equal installment")."""
    body = html.split('<main class="page">', 1)[-1]
    body = re.sub(r"<svg\b.*?</svg>", " ", body, flags=re.S)
    body = re.sub(r"<[^>]+>", " ", body)
    for label in (*sched.Method.LABELS.values(), *dict(sched.PrepaymentOption.CHOICES).values()):
        body = body.replace(label, " ")
    return body


@pytest.fixture
def customer(db):
    return make_web_customer()


@pytest.fixture
def logged_in(client, customer):
    response = client.post(reverse("web:login"), {"mobile": customer.mobile, "password": PASSWORD})
    assert response.status_code == 302
    return client


@pytest.mark.django_db
def test_calculator_switches_to_english_and_back(client):
    business_date_set(day=dt.date(2026, 1, 31))
    url = reverse("lending:calculator")
    chinese = client.get(url).content.decode()
    assert '<html lang="zh-hans">' in chinese and "贷款计算器" in chinese
    switch_to_english(client, url)
    query = {"method": "equal_installment", "principal": "100000", "annual_rate": "6", "months": "12", "start": "2026-01-31"}
    html = client.get(url, query).content.decode()
    assert '<html lang="en">' in html
    for text in ("Loan calculator", "Repayment method", "Loan amount (yuan)", "Total interest", "Total repayment"):
        assert text in html
    assert "8,606.64" in html  # the same numbers, only the words change
    assert not HAN.search(main_text(html)), HAN.findall(main_text(html))
    client.post(reverse("set_language"), {"language": "zh-hans", "next": url})
    assert "贷款计算器" in client.get(url).content.decode()


@pytest.mark.django_db
def test_loan_list_and_detail_in_english(logged_in, customer):
    loan = make_loan(customer=customer, value_date=dt.date(2026, 1, 15))
    switch_to_english(logged_in, reverse("lending:list"))
    listing = logged_in.get(reverse("lending:list")).content.decode()
    assert "My loans" in listing and "Contract no." in listing and loan.contract_no in listing
    assert "我的贷款" not in listing
    detail = logged_in.get(reverse("lending:detail", args=[loan.pk])).content.decode()
    assert "Repayment schedule" in detail and "Outstanding principal" in detail and "Prepay" in detail
    assert "还款计划" not in detail


@pytest.mark.django_db
def test_lifestyle_points_page_in_english(client, customer):
    give_points(customer, 120, validity_days=20)
    login_customer(client, customer)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    html = client.get(reverse("lifestyle:points")).content.decode()
    assert '<html lang="en">' in html
    for text in ("Points history", "Available", "Expiring soon", "Transactions"):
        assert text in html
    for text in ("积分明细", "即将到期", "收支记录"):
        assert text not in html
    del client.cookies[settings.LANGUAGE_COOKIE_NAME]
    assert "积分明细" in client.get(reverse("lifestyle:points")).content.decode()


@pytest.mark.django_db
def test_performance_staff_page_in_english():
    from django.test import Client

    bank = make_bank()
    simple_scheme(bank)
    client = Client()
    client.force_login(bank.am1.user)
    chinese = client.get(reverse("performance:mine")).content.decode()
    assert "我的绩效" in chinese and "本月进度" in chinese
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = client.get(reverse("performance:mine"))
    assert response.status_code == 200
    html = response.content.decode()
    for text in ("My performance", f"Progress this month {timezone.localdate():%Y-%m}", "Appraisal results and appeals"):
        assert text in html
    for text in ("我的绩效", "本月进度", "考核结果与申诉"):
        assert text not in html
    claims = client.get(reverse("performance:claims")).content.decode()
    assert "Customer claims" in claims and "Reason for claim" in claims and "客户认领" not in claims


@pytest.mark.django_db
def test_view_messages_follow_the_language(client, customer):
    """A message produced in a view (lifestyle check-in) is translated with placeholders filled in."""
    login_customer(client, customer)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    html = client.post(reverse("lifestyle:checkin"), follow=True).content.decode()
    assert "Checked in: 1-day streak." in html
    assert "签到成功" not in html

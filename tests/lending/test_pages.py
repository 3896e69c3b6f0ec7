"""Customer pages: calculator (public), my loans, schedule with SVG chart, history, repay, prepay with
a one-time token, settlement certificate PDF; other customers' loans are 404."""

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.urls import reverse

from jikuai.core.workdays import business_date_set
from lending.models import Loan, Repayment
from tests.lending.factories import make_loan
from tests.lending.helpers import assert_reconciled
from tests.web.factories import PASSWORD, make_web_customer

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer():
    return make_web_customer()


@pytest.fixture
def logged_in(client, customer):
    response = client.post(reverse("web:login"), {"mobile": customer.mobile, "password": PASSWORD})
    assert response.status_code == 302
    return client


def test_calculator_is_public_and_agrees_with_the_schedule_engine(client):
    business_date_set(day=dt.date(2026, 1, 31))
    page = client.get(reverse("lending:calculator"))
    assert page.status_code == 200 and 'name="principal"' in page.content.decode()
    html = client.get(
        reverse("lending:calculator"),
        {
            "method": "equal_installment",
            "principal": "100000",
            "annual_rate": "6",
            "months": "12",
            "start": "2026-01-31",
            "fee": "0",
        },
    ).content.decode()
    assert "<svg" in html and "<rect" in html and "<polyline" in html  # chart drawn on the server
    assert "8,606.64" in html and "3,279.73" in html and "6.00%" in html
    assert "2026-02-28" in html and "2026-03-31" in html
    assert "<script" not in html.split("</header>")[1]  # no JavaScript needed for the result
    bad = client.get(
        reverse("lending:calculator"),
        {"method": "bullet", "principal": "-5", "annual_rate": "6", "months": "12", "start": "2026-01-31"},
    )
    assert bad.status_code == 200 and "errorlist" in bad.content.decode()


def test_loan_pages_need_a_customer_and_show_only_their_loans(client, logged_in, customer):
    mine = make_loan(customer=customer, value_date=dt.date(2026, 1, 15))
    other = make_loan(value_date=dt.date(2026, 1, 15))
    anonymous = client.__class__()
    assert anonymous.get(reverse("lending:list")).status_code == 302
    html = logged_in.get(reverse("lending:list")).content.decode()
    assert mine.contract_no in html and other.contract_no not in html
    detail = logged_in.get(reverse("lending:detail", args=[mine.pk])).content.decode()
    assert "<svg" in detail and "8106.64" in detail and "500.00" in detail  # installment 1: principal and interest
    assert mine.contract_no in detail
    for name in ("detail", "repayments", "repay", "prepay"):
        assert logged_in.get(reverse(f"lending:{name}", args=[other.pk])).status_code == 404


def test_loan_pages_and_calculator_speak_one_language(client, logged_in, customer):
    """Bilingual choice labels ("等额本息 equal installment") show only the current language's half, and the
    chart's legend and tooltips follow the language too."""
    loan = make_loan(customer=customer, value_date=dt.date(2026, 1, 15))
    pages = [reverse("lending:list"), reverse("lending:detail", args=[loan.pk])]
    calculator = reverse("lending:calculator")
    query = {"method": "equal_principal", "principal": "1000", "annual_rate": "6", "months": "3", "start": "2026-01-31"}
    chinese = "".join(logged_in.get(path).content.decode() for path in pages)
    chinese += logged_in.get(calculator, query).content.decode()
    assert "等额本息" in chinese and "equal installment" not in chinese
    assert "正常还款中" in chinese and ">active<" not in chinese.replace(" ", "")
    assert "剩余本金</text>" in chinese and "第1期 本金" in chinese
    assert '<option value="bullet">利随本清</option>' in chinese
    logged_in.cookies["django_language"] = "en"
    english = "".join(logged_in.get(path).content.decode() for path in pages)
    english += logged_in.get(calculator, query).content.decode()
    assert "Equal installment" in english and "等额本息" not in english and "正常还款中" not in english
    assert "Outstanding principal</text>" in english and "Installment 1 principal" in english
    assert '<option value="bullet">Bullet</option>' in english and "利随本清" not in english


def _token(html):
    return re.search(r'name="token" value="([^"]+)"', html).group(1)


def test_repay_through_the_local_adapter_with_a_one_time_token(logged_in, customer):
    loan = make_loan(customer=customer, value_date=dt.date(2026, 1, 15))
    business_date_set(day=dt.date(2026, 2, 15))
    page = logged_in.get(reverse("lending:repay", args=[loan.pk])).content.decode()
    assert "8606.64" in page
    token = _token(page)
    response = logged_in.post(reverse("lending:repay", args=[loan.pk]), {"token": token, "amount": "8606.64"})
    assert response.status_code == 302
    assert Repayment.objects.filter(loan=loan).count() == 1
    again = logged_in.post(reverse("lending:repay", args=[loan.pk]), {"token": token, "amount": "8606.64"})
    assert again.status_code == 302 and Repayment.objects.filter(loan=loan).count() == 1  # double submit does nothing
    history = logged_in.get(reverse("lending:repayments", args=[loan.pk])).content.decode()
    assert "8,606.64" in history
    # an overpayment is refused with a clear message and nothing is posted
    page = logged_in.get(reverse("lending:repay", args=[loan.pk])).content.decode()
    refused = logged_in.post(
        reverse("lending:repay", args=[loan.pk]), {"token": _token(page), "amount": "50000"}
    ).content.decode()
    assert "还款金额超过当前应还金额" in refused
    assert Repayment.objects.filter(loan=loan).count() == 1
    assert_reconciled()


def test_prepayment_quote_then_prepay_then_certificate(logged_in, customer):
    loan = make_loan(customer=customer, value_date=dt.date(2026, 1, 15))
    business_date_set(day=dt.date(2026, 1, 25))
    page = logged_in.get(reverse("lending:prepay", args=[loan.pk])).content.decode()
    assert "100166.67" in page  # payoff: principal + 10 days of interest
    quote = logged_in.get(
        reverse("lending:prepay", args=[loan.pk]), {"amount": "30000", "option": "shorten_term"}
    ).content.decode()
    assert "试算结果" in quote and "确认提前还款" in quote
    response = logged_in.post(
        reverse("lending:prepay", args=[loan.pk]), {"amount": "30000", "option": "shorten_term", "token": _token(quote)}
    )
    assert response.status_code == 302
    loan.refresh_from_db()
    assert loan.schedule_version == 2 and loan.principal_outstanding == Decimal("70166.67")
    assert logged_in.get(reverse("lending:certificate", args=[loan.pk])).status_code == 404  # not settled yet
    page = logged_in.get(
        reverse("lending:prepay", args=[loan.pk]), {"amount": "70166.67", "option": "reduce_payment"}
    ).content.decode()
    logged_in.post(
        reverse("lending:prepay", args=[loan.pk]), {"amount": "70166.67", "option": "reduce_payment", "token": _token(page)}
    )
    loan.refresh_from_db()
    assert loan.state == Loan.State.SETTLED
    pdf = logged_in.get(reverse("lending:certificate", args=[loan.pk]))
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF") and b"STSong-Light" in pdf.content
    assert_reconciled()

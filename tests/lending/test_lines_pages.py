"""Customer pages of credit lines: my lines, drawdown form → confirmation with schedule and APR →
result linking the loan; one-time token; other customers' lines and drawdowns are 404; refusals are
shown in Chinese and change nothing."""

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.urls import reverse

from lending.models import CreditLine, Drawdown
from tests.lending.lines_factories import assert_balanced, open_line
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


def test_pages_need_a_login(client):
    response = client.get(reverse("lending:line_list"))
    assert response.status_code == 302 and "login" in response["Location"]


def test_my_lines_show_balances_validity_and_state(logged_in, customer):
    line = open_line(customer=customer, amount="50000", day=dt.date(2026, 3, 16))
    other = open_line(amount="90000")
    html = logged_in.get(reverse("lending:line_list")).content.decode()
    assert line.line_no in html and other.line_no not in html
    assert "50,000.00" in html and "2026-03-16" in html and "2027-03-15" in html and "有效" in html
    assert reverse("lending:drawdown_new", args=[line.pk]) in html
    CreditLine.objects.filter(pk=line.pk).update(state="frozen")
    html = logged_in.get(reverse("lending:line_list")).content.decode()
    assert "已冻结" in html and reverse("lending:drawdown_new", args=[line.pk]) not in html


def test_drawdown_journey_form_confirm_result(logged_in, customer):
    line = open_line(customer=customer, amount="50000", day=dt.date(2026, 3, 16))
    url = reverse("lending:drawdown_new", args=[line.pk])
    form = logged_in.get(url).content.decode()
    assert 'name="amount"' in form and 'name="term_months"' in form and "等额本息" in form
    confirm = logged_in.get(url, {"amount": "12000", "term_months": "12", "repayment_method": "equal_installment"})
    html = confirm.content.decode()
    assert "确认用信" in html and "6.00%" in html and "2026-04-16" in html  # APR and the first due date
    assert html.count("<tr>") >= 13  # header + 12 installments
    assert not Drawdown.objects.exists()  # the confirmation writes nothing
    token = re.search(r'name="token" value="([^"]+)"', html).group(1)
    body = {"amount": "12000.00", "term_months": "12", "repayment_method": "equal_installment", "token": token}
    response = logged_in.post(url, body)
    drawdown = Drawdown.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("lending:drawdown_result", args=[drawdown.pk])
    result = logged_in.get(response["Location"]).content.decode()
    assert "已放款" in result and reverse("lending:detail", args=[drawdown.loan_id]) in result
    assert logged_in.get(reverse("lending:detail", args=[drawdown.loan_id])).status_code == 200
    again = logged_in.post(url, body)  # the same token twice: nothing drawn again
    assert again.status_code == 302 and Drawdown.objects.count() == 1
    line = assert_balanced(line)
    assert line.used == Decimal("12000.00")


def test_refusals_are_shown_and_change_nothing(logged_in, customer):
    line = open_line(customer=customer, amount="5000", day=dt.date(2026, 3, 16))
    url = reverse("lending:drawdown_new", args=[line.pk])
    html = logged_in.get(url, {"amount": "6000", "term_months": "6", "repayment_method": "equal_installment"}).content.decode()
    assert "超过可用额度" in html and "确认用信" not in html
    html = logged_in.get(url, {"amount": "3000", "term_months": "24", "repayment_method": "equal_installment"}).content.decode()
    assert "errorlist" in html
    CreditLine.objects.filter(pk=line.pk).update(state="frozen")
    token = re.search(r'name="token" value="([^"]+)"', html)
    body = {
        "amount": "3000",
        "term_months": "6",
        "repayment_method": "equal_installment",
        "token": token.group(1) if token else "",
    }
    html = logged_in.post(url, body).content.decode()
    assert not Drawdown.objects.exists() and assert_balanced(line).used == 0
    html = logged_in.get(url, {"amount": "3000", "term_months": "6", "repayment_method": "equal_installment"}).content.decode()
    assert "冻结" in html


def test_other_customers_lines_and_drawdowns_are_404(logged_in):
    other = open_line(amount="50000", day=dt.date(2026, 3, 16))
    assert logged_in.get(reverse("lending:drawdown_new", args=[other.pk])).status_code == 404
    from lending.services.lines import drawdown_request

    drawdown = drawdown_request(line_id=other.pk, amount="2000", term_months=6, repayment_method="equal_principal", channel="web")
    assert logged_in.get(reverse("lending:drawdown_result", args=[drawdown.pk])).status_code == 404
    body = {"amount": "2000", "term_months": "6", "repayment_method": "equal_principal", "token": "x"}
    assert logged_in.post(reverse("lending:drawdown_new", args=[other.pk]), body).status_code == 404
    assert Drawdown.objects.count() == 1

"""Money in the staff admin: amounts (DecimalField(18|20, 2)) show "1,234,567.89" in changelist columns,
read-only fields and inlines; rates and other decimals keep Django's plain display; editable inputs keep
plain numbers and save; every admin of the platform derives from the money-aware base classes."""

import datetime as dt
import json
import re
from decimal import Decimal

import pytest
from django.contrib import admin
from django.db.models import JSONField

from jikuai.org import roles
from jikuai.org.admin_base import MoneyDisplayMixin, MoneyReadonlyFieldsMixin, is_money_field, money_display
from lending.admin_origination import ProductForm
from lending.models import CreditLine, CreditLineRequest, Installment, LedgerAccount, Loan, Product, ProductStatus
from lifestyle.models import PayableLine, PointValueRate
from performance.models import Target
from tests.factories import BranchFactory, make_customer, make_staff
from tests.lending.factories import ProductFactory, make_loan
from tests.lending.lines_factories import open_line
from tests.lifestyle.factories import set_point_value

PROJECT_PACKAGES = ("jikuai.", "lending.", "lifestyle.", "performance.", "riskrules.")


@pytest.fixture
def superuser_client(client, db):
    client.force_login(make_staff(role=roles.PROVINCE_ADMIN, superuser=True).user)
    return client


def cells(html: str, field: str) -> list[str]:
    """The text of the changelist cells of one column (class field-<name>)."""
    found = re.findall(rf'<td class="field-{field}[^"]*"[^>]*>(.*?)</td>', html, flags=re.S)
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in found]


def test_money_fields_are_the_yuan_amounts_and_not_the_rates():
    assert is_money_field(CreditLine._meta.get_field("limit")) and is_money_field(LedgerAccount._meta.get_field("balance"))
    assert is_money_field(PayableLine._meta.get_field("amount"))
    for model, name in [
        (CreditLine, "annual_rate"),
        (Loan, "apr"),  # a percentage with two places: (7, 2)
        (Loan, "penalty_markup"),
        (PointValueRate, "yuan_per_point"),
        (PayableLine, "bank_share"),
        (Target, "value"),
        (Loan, "dpd"),
    ]:
        assert not is_money_field(model._meta.get_field(name)), name


def test_money_display_groups_and_rounds_like_the_money_filter():
    assert money_display(Decimal("1234567.89")) == "1,234,567.89"
    assert money_display(Decimal("-1500.5")) == "-1,500.50"
    assert money_display(Decimal("1234567.005")) == "1,234,567.01"  # half up to the fen
    assert money_display("100000.00") == "100,000.00"  # contract terms keep amounts as strings
    assert money_display(Decimal("0")) == "0.00"
    assert money_display(None) is None and money_display("") is None  # the admin's empty value


def test_every_platform_admin_and_inline_uses_the_money_aware_bases():
    checked = 0
    for model_admin in admin.site._registry.values():
        if not type(model_admin).__module__.startswith(PROJECT_PACKAGES):
            continue
        checked += 1
        assert isinstance(model_admin, MoneyDisplayMixin), type(model_admin)
        for inline in model_admin.inlines:
            assert issubclass(inline, MoneyReadonlyFieldsMixin), inline
        # a class attribute of that name would hide the money preprocessing
        assert "readonly_preprocess_fields" not in vars(type(model_admin))
    assert checked > 50


def test_credit_line_changelist_groups_money_columns_and_keeps_title_and_sorting(superuser_client):
    branch = BranchFactory()
    big = open_line(customer=make_customer(branch=branch), amount="1234567.89", max_amount=Decimal("2000000"))
    small = open_line(customer=make_customer(branch=branch), amount="2000")
    response = superuser_client.get("/admin/lending/creditline/")
    html = response.content.decode()
    assert "1,234,567.89" in cells(html, "limit") and "1,234,567.89" in cells(html, "available")
    assert "0.00" in cells(html, "used") and "2,000.00" in cells(html, "limit")
    assert "1234567.89" not in html
    assert "授信额度 limit" in html  # the column keeps the field's title
    columns = [getattr(column, "__name__", column) for column in response.context["cl"].list_display]
    index = columns.index("limit")
    descending = superuser_client.get(f"/admin/lending/creditline/?o=-{index}").content.decode()
    assert descending.index(big.line_no) < descending.index(small.line_no)
    ascending = superuser_client.get(f"/admin/lending/creditline/?o={index}").content.decode()
    assert ascending.index(small.line_no) < ascending.index(big.line_no)


def test_rate_column_is_not_grouped(superuser_client):
    set_point_value(BranchFactory().institution, "1234.567890")
    html = superuser_client.get("/admin/lifestyle/pointvaluerate/").content.decode()
    assert cells(html, "yuan_per_point") == ["1234.567890"]
    assert "1,234.56" not in html


def test_read_only_change_page_and_inlines_group_money_but_not_rates(superuser_client):
    line = open_line(amount="1234567.89", max_amount=Decimal("2000000"))
    html = superuser_client.get(f"/admin/lending/creditline/{line.pk}/change/").content.decode()
    # limit and available on the page, and amount / limit after / available after in the change journal inline
    readonly = re.findall(r'<div class="readonly[^"]*">([^<]*)</div>', html)
    assert readonly.count("1,234,567.89") == 5 and "1234567.89" not in readonly
    assert "0.06000000" in html  # the annual rate as stored
    assert 'name="limit"' not in html


def test_loan_page_groups_money_negative_amounts_ledger_and_schedule(superuser_client):
    loan = make_loan(principal="1234567.89", value_date=dt.date(2026, 1, 15), max_amount=Decimal("2000000"))
    Loan.objects.filter(pk=loan.pk).update(apr=Decimal("12345.67"))  # (7, 2): a percentage, never grouped
    html = superuser_client.get(f"/admin/lending/loan/{loan.pk}/change/").content.decode()
    assert "1,234,567.89" in html and "-1,234,567.89" in html  # principal; the credit leg in the ledger table
    assert "12345.67" in html and "12,345.67" not in html
    first = Installment.objects.filter(loan=loan, is_current=True).order_by("number").first()
    assert first.principal >= 1000 and money_display(first.principal) in html  # schedule inline
    listing = superuser_client.get("/admin/lending/loan/").content.decode()
    assert "1,234,567.89" in cells(listing, "principal")
    balances = cells(superuser_client.get("/admin/lending/ledgeraccount/").content.decode(), "balance")
    assert "1,234,567.89" in balances and "-1,234,567.89" in balances


def test_empty_amount_shows_the_admin_empty_value(superuser_client):
    line = open_line(amount="5000")
    maker = make_staff(role=roles.OPERATIONS, institution=line.institution)
    CreditLineRequest.objects.create(line=line, action="freeze", reason="冻结", maker=maker)
    html = superuser_client.get("/admin/lending/creditlinerequest/").content.decode()
    assert cells(html, "new_limit") == ["-"]


def product_form_data(product: Product, **changes) -> dict:
    form = ProductForm(instance=product)
    data = {}
    for name in form.fields:
        value = form[name].value()
        if isinstance(Product._meta.get_field(name), JSONField):
            value = value if isinstance(value, str) else json.dumps(value)
        data[name] = "" if value is None else value
    data.update(changes)
    return {k: v for k, v in data.items() if v is not False}


def test_editable_money_input_stays_a_plain_number_and_saves(superuser_client):
    product = ProductFactory(max_amount=Decimal("1234567.89"), status=ProductStatus.DRAFT)
    url = f"/admin/lending/product/{product.pk}/change/"
    html = superuser_client.get(url).content.decode()
    assert re.search(r'name="max_amount"[^>]*value="1234567.89"|value="1234567.89"[^>]*name="max_amount"', html)
    assert "1,234,567.89" not in html
    response = superuser_client.post(url, product_form_data(product, max_amount="2345678.91"))
    assert response.status_code == 302, response.content.decode()[:2000]
    product.refresh_from_db()
    assert product.max_amount == Decimal("2345678.91")
    assert re.search(r'value="2345678.91"', superuser_client.get(url).content.decode())
    assert "2,345,678.91" in cells(superuser_client.get("/admin/lending/product/").content.decode(), "max_amount")

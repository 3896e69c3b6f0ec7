"""借款借据: every disbursed drawdown gets a receipt under the line agreement — the loan's own figures and
schedule, the drawdown confirmation as evidence, sealed by the institution (PAdES, verifiable, tamper
evident); one per drawdown however often the event arrives; none for a failed drawdown; the customer
downloads it from the contract pages."""

import subprocess
import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.urls import reverse

from jikuai.core import bus
from jikuai.core.models import OutboxEvent
from lending.contracts.services import contract_verify, receipt_issue_for_drawdown
from lending.models import Contract, Drawdown
from lending.services.lines import drawdown_request
from tests.lending.contracts_factories import private_media  # noqa: F401
from tests.lending.lines_factories import open_line
from tests.web.factories import PASSWORD, make_web_customer

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media")]


def _text(pdf: bytes) -> str:
    return subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()


def _drawdown(line, amount="20000", **kwargs) -> Drawdown:
    return drawdown_request(
        line_id=line.pk, customer=line.customer, amount=amount, term_months=6, repayment_method="equal_principal", **kwargs
    )


def test_the_disbursed_event_issues_one_sealed_receipt_with_the_loans_figures():
    line = open_line(amount="50000")
    drawdown = _drawdown(line)
    event = OutboxEvent.objects.get(topic="lending.drawdown_disbursed")
    bus.dispatch(event.pk)
    bus.dispatch(event.pk)  # delivered again: still one receipt
    receipt_issue_for_drawdown(drawdown_id=drawdown.pk)
    receipts = Contract.objects.filter(drawdown=drawdown)
    assert receipts.count() == 1
    receipt = receipts.get()
    loan = drawdown.loan
    assert receipt.kind == "receipt" and receipt.state == "signed" and receipt.customer_id == line.customer_id
    assert receipt.contract_no == f"JJ{drawdown.drawdown_no}" and receipt.terms["loan_contract_no"] == loan.contract_no
    assert receipt.terms["amount"] == "20000.00" and len(receipt.terms["schedule"]) == 6
    assert receipt.terms["apr"] == f"{drawdown.apr:.2f}"  # per cent, as the customer confirmed it
    assert sum(Decimal(row["principal"]) for row in receipt.terms["schedule"]) == Decimal("20000.00")
    assert receipt.terms["schedule"][-1]["balance"] == "0.00"
    with receipt.signed_pdf.open("rb") as handle:
        signed = handle.read()
    result = contract_verify(pdf_bytes=signed)
    assert result.valid and result.trusted and result.intact
    text = _text(signed)
    assert f"{receipt.terms['annual_rate_percent']}%" in text and f"{receipt.terms['apr']}%" in text
    assert "借款借据" in text and drawdown.drawdown_no in text and loan.contract_no in text and "贰万元整" in text
    assert "客户在线确认支用" in text  # the evidence page names how the drawdown was confirmed
    tampered = bytearray(signed)
    position = signed.index(b"/Producer") if b"/Producer" in signed else len(signed) // 3
    tampered[position + 2] ^= 0x01
    assert not contract_verify(pdf_bytes=bytes(tampered)).valid


def test_no_receipt_for_a_failed_drawdown(settings):
    line = open_line(amount="50000")
    settings.JIKUAI_CORE_BANKING_ADAPTER = "tests.lending.lines_factories.FailingAdapter"
    drawdown = _drawdown(line)
    assert drawdown.state == "failed"
    assert receipt_issue_for_drawdown(drawdown_id=drawdown.pk) is None
    assert not Contract.objects.filter(drawdown=drawdown).exists()


def test_the_customer_sees_and_downloads_the_receipt(client):
    customer = make_web_customer()
    line = open_line(customer=customer, amount="50000")
    drawdown = _drawdown(line)
    receipt = receipt_issue_for_drawdown(drawdown_id=drawdown.pk)
    assert client.post(reverse("web:login"), {"mobile": customer.mobile, "password": PASSWORD}).status_code == 302
    listing = client.get(reverse("lending:contract_list")).content.decode()
    assert receipt.contract_no in listing and "借款借据" in listing
    download = client.get(reverse("lending:contract_pdf", args=[receipt.pk]))
    assert download.status_code == 200 and download["Content-Type"] == "application/pdf"
    loan_page = client.get(reverse("lending:detail", args=[drawdown.loan_id])).content.decode()
    assert reverse("lending:contract_detail", args=[receipt.pk]) in loan_page


def test_the_receipt_page_shows_its_figures_and_is_the_customers_own(client):
    customer = make_web_customer()
    line = open_line(customer=customer, amount="50000")
    receipt = receipt_issue_for_drawdown(drawdown_id=_drawdown(line).pk)
    assert client.post(reverse("web:login"), {"mobile": customer.mobile, "password": PASSWORD}).status_code == 302
    page = client.get(reverse("lending:contract_detail", args=[receipt.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert receipt.contract_no in html and "20,000.00" in html and "借款借据" in html
    other = make_web_customer()
    client.cookies.clear()
    assert client.post(reverse("web:login"), {"mobile": other.mobile, "password": PASSWORD}).status_code == 302
    assert client.get(reverse("lending:contract_detail", args=[receipt.pk])).status_code == 404
    assert client.get(reverse("lending:contract_pdf", args=[receipt.pk])).status_code == 404


def test_integrators_read_and_download_the_receipt_of_their_institution(client):
    import hashlib

    from tests.factories import InstitutionFactory, SignedApi, make_client

    line = open_line(amount="50000")
    receipt = receipt_issue_for_drawdown(drawdown_id=_drawdown(line).pk)
    api = SignedApi(client, make_client(institution=receipt.institution, scopes=["lending:read"]))
    body = api.get(f"/api/v1/contracts/{receipt.pk}").json()
    assert body["kind"] == "receipt" and body["state"] == "signed" and body["contract_no"] == receipt.contract_no
    assert line.customer.id_number not in str(body)
    pdf = api.get(f"/api/v1/contracts/{receipt.pk}/pdf")
    assert pdf.status_code == 200 and hashlib.sha256(pdf.content).hexdigest() == receipt.signed_sha256
    outsider = SignedApi(client, make_client(institution=InstitutionFactory(), scopes=["lending:read"]))
    assert outsider.get(f"/api/v1/contracts/{receipt.pk}").status_code == 404


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_deliveries_at_once_issue_one_receipt():
    """The bus may hand the disbursed event to two workers at once: both build and seal a receipt, the
    drawdown's row lock lets one insert it, the other returns that one (no second receipt, no error)."""
    if connection.vendor != "postgresql":
        pytest.fail("concurrency tests need PostgreSQL (DATABASE_URL)")
    line = open_line(amount="50000")
    drawdown = _drawdown(line)
    Contract.objects.filter(drawdown=drawdown).delete()  # as if the event had not been handled yet
    start = threading.Barrier(2)
    issued: list[int] = []
    errors: list[BaseException] = []

    def issue():
        try:
            start.wait(timeout=10)
            issued.append(receipt_issue_for_drawdown(drawdown_id=drawdown.pk).pk)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=issue) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == [] and len(issued) == 2
    assert len(set(issued)) == 1  # both deliveries answer with the same receipt
    receipt = Contract.objects.get(drawdown=drawdown)
    assert receipt.pk == issued[0] and receipt.kind == "receipt" and receipt.state == "signed"
    with receipt.signed_pdf.open("rb") as handle:
        assert contract_verify(pdf_bytes=handle.read()).valid

"""Customer contract pages (read, PDF, code, sign, confirmation) and the public verification page."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from lending.contracts.services import contract_pdf_bytes, contract_prepare_for_application
from lending.models import Contract
from tests.lending.contracts_factories import make_approved_application, private_media  # noqa: F401
from tests.web.factories import PASSWORD, last_code, other_code

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media")]


def _login(client, customer):
    response = client.post(reverse("web:login"), {"mobile": customer.mobile, "password": PASSWORD})
    assert response.status_code == 302
    return client


@pytest.fixture
def contract():
    application = make_approved_application()
    return contract_prepare_for_application(application_id=application.pk)


@pytest.fixture
def customer(contract):
    return contract.customer


def test_the_customer_reads_requests_a_code_and_signs(client, contract, customer):
    _login(client, customer)
    listing = client.get(reverse("lending:contract_list")).content.decode()
    assert contract.contract_no in listing and "阅读并签署" in listing
    page = client.get(reverse("lending:contract_detail", args=[contract.pk]))
    html = page.content.decode()
    assert page.status_code == 200 and "壹拾万元整" in html and "4.35%" in html and "6.525%" in html
    assert customer.masked_id_number in html and customer.id_number not in html
    assert "获取验证码" in html and "确认签署" in html

    pdf = client.get(reverse("lending:contract_pdf", args=[contract.pk]))
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF-")
    assert "inline" in pdf["Content-Disposition"] and "no-store" in pdf["Cache-Control"]

    sent = client.post(reverse("lending:contract_send_code", args=[contract.pk]), follow=True)
    assert customer.masked_mobile in sent.content.decode()
    code = last_code(customer.mobile)

    unchecked = client.post(reverse("lending:contract_sign", args=[contract.pk]), {"code": code})
    assert unchecked.status_code == 400
    wrong = client.post(reverse("lending:contract_sign", args=[contract.pk]), {"code": other_code(code), "agree": "on"})
    assert wrong.status_code == 400 and "验证码错误" in wrong.content.decode()
    contract.refresh_from_db()
    assert contract.state == "awaiting_signature"

    done = client.post(reverse("lending:contract_sign", args=[contract.pk]), {"code": code, "agree": "on"}, follow=True)
    html = done.content.decode()
    assert "合同签署成功" in html and "签署完成" in html and "下载已签署合同" in html
    contract.refresh_from_db()
    assert contract.state == "signed"
    download = client.get(reverse("lending:contract_pdf", args=[contract.pk]), {"download": "1"})
    assert "attachment" in download["Content-Disposition"] and download.content == contract_pdf_bytes(contract)[0]

    again = client.post(reverse("lending:contract_sign", args=[contract.pk]), {"code": code, "agree": "on"})
    assert again.status_code == 400 and "无需重复签署" in again.content.decode()


def test_other_customers_and_anonymous_visitors_get_nothing(client, contract):
    anonymous = client.get(reverse("lending:contract_pdf", args=[contract.pk]))
    assert anonymous.status_code == 302 and reverse("web:login") in anonymous["Location"]
    intruder = make_approved_application().customer
    _login(client, intruder)
    for name, method in (
        ("lending:contract_detail", "get"),
        ("lending:contract_pdf", "get"),
        ("lending:contract_send_code", "post"),
        ("lending:contract_sign", "post"),
    ):
        response = getattr(client, method)(reverse(name, args=[contract.pk]), {"code": "123456", "agree": "on"})
        assert response.status_code == 404, name
    assert contract.contract_no not in client.get(reverse("lending:contract_list")).content.decode()
    contract.refresh_from_db()
    assert contract.state == "awaiting_signature"


def _signed(client, contract, customer) -> bytes:
    _login(client, customer)
    client.post(reverse("lending:contract_send_code", args=[contract.pk]))
    client.post(reverse("lending:contract_sign", args=[contract.pk]), {"code": last_code(customer.mobile), "agree": "on"})
    client.post(reverse("web:logout"))
    return contract_pdf_bytes(Contract.objects.get(pk=contract.pk))[0]


def test_public_verification_page_reports_signer_time_and_integrity(client, contract, customer):
    data = _signed(client, contract, customer)
    page = client.get(reverse("lending:contract_verify"))
    assert page.status_code == 200 and 'enctype="multipart/form-data"' in page.content.decode()

    ok = client.post(reverse("lending:contract_verify"), {"pdf": SimpleUploadedFile("c.pdf", data, "application/pdf")})
    html = ok.content.decode()
    assert ok.status_code == 200 and "签章有效" in html and contract.institution.name in html
    assert "未吊销（已核对吊销列表）" in html and "PAdES-B-LT" in html
    assert "是，签章后未被修改" in html and contract.contract_no in html and customer.masked_mobile in html

    tampered = bytearray(data)
    tampered[len(data) // 2] ^= 0x01
    bad = client.post(reverse("lending:contract_verify"), {"pdf": SimpleUploadedFile("c.pdf", bytes(tampered))})
    assert bad.status_code == 200 and "签章无效" in bad.content.decode()

    junk = client.post(reverse("lending:contract_verify"), {"pdf": SimpleUploadedFile("c.pdf", b"not a pdf")})
    assert "文件不是 PDF" in junk.content.decode()


def test_verification_upload_size_is_limited(client, settings):
    settings.JIKUAI_CONTRACT_VERIFY_MAX_BYTES = 1024
    response = client.post(reverse("lending:contract_verify"), {"pdf": SimpleUploadedFile("big.pdf", b"%PDF-" + b"0" * 5000)})
    assert response.status_code == 400 and "文件过大" in response.content.decode()
    missing = client.post(reverse("lending:contract_verify"), {})
    assert missing.status_code == 200 and "errorlist" in missing.content.decode()


def test_an_oversized_request_is_refused_before_it_is_read(client, settings):
    settings.JIKUAI_CONTRACT_VERIFY_MAX_BYTES = 1024
    big = SimpleUploadedFile("big.pdf", b"%PDF-" + b"0" * (200 * 1024))
    response = client.post(reverse("lending:contract_verify"), {"pdf": big})
    assert response.status_code == 400 and "文件过大" in response.content.decode()

"""Contracts through the services: prepare (PDF in Chinese, idempotent), one-time code, PAdES signature
valid and trusted against the test CA, tampering detected, refused paths change nothing."""

import shutil
import subprocess
from io import BytesIO, StringIO

import pytest
from cryptography import x509
from django_fsm_log.models import StateLog
from PIL import Image, ImageStat

from jikuai.core.exceptions import NotFound
from jikuai.core.models import OutboxEvent
from jikuai.customers.accounts import OtpError, otp_verify
from lending.contracts import signing
from lending.contracts.services import (
    ContractAlreadySigned,
    ContractError,
    FileTooLarge,
    contract_get_for_application,
    contract_pdf_bytes,
    contract_prepare_for_application,
    contract_send_code,
    contract_sign,
    contract_verify,
)
from lending.models import Contract, LoanApplication
from tests.lending.contracts_factories import make_approved_application, private_media  # noqa: F401
from tests.web.factories import last_code, other_code

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media")]


def _text(pdf: bytes, *args) -> str:
    return subprocess.run(["pdftotext", *args, "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()


def _snapshot(contract: Contract) -> tuple:
    contract.refresh_from_db()
    application = LoanApplication.objects.get(pk=contract.application_id)
    return (
        contract.state,
        contract.signed_sha256,
        bool(contract.signed_pdf),
        contract.signed_at,
        application.state,
        OutboxEvent.objects.filter(topic="lending.contract_signed").count(),
    )


def _sign(contract, customer, **kwargs):
    contract_send_code(contract_id=contract.pk, customer=customer, ip_address="10.1.2.3")
    return contract_sign(
        contract_id=contract.pk, customer=customer, code=last_code(customer.mobile), ip_address="10.1.2.3", **kwargs
    )


@pytest.fixture
def application():
    return make_approved_application(id_number=None)


@pytest.fixture
def contract(application):
    return contract_prepare_for_application(application_id=application.pk)


def test_prepare_stores_the_pdf_moves_the_application_and_is_idempotent(application):
    contract = contract_prepare_for_application(application_id=application.pk)
    application.refresh_from_db()
    assert application.state == "contract_pending"
    assert contract.state == "awaiting_signature" and contract.kind == "loan"
    assert contract.contract_no == f"HT{application.application_no}"
    data, name = contract_pdf_bytes(contract)
    assert name.endswith("-unsigned.pdf") and data.startswith(b"%PDF-")
    assert signing.sha256_hex(data) == contract.unsigned_sha256
    terms = contract.terms
    assert terms["amount"] == "100000.00" and terms["amount_in_words"] == "壹拾万元整"
    assert terms["penalty_rate"] == "0.06525" and terms["apr"] == "4.35" and len(terms["schedule"]) == 12
    customer = application.customer
    # the stored terms carry masked values only; the full ID number lives in the PDF alone
    assert customer.id_number not in str(terms) and customer.mobile not in str(terms)
    assert terms["customer"]["id_number_masked"] == customer.masked_id_number

    assert contract_get_for_application(application.pk).pk == contract.pk
    again = contract_prepare_for_application(application_id=application.pk)
    assert again.pk == contract.pk and Contract.objects.filter(application=application).count() == 1
    assert StateLog.objects.for_(application).filter(state="contract_pending").count() == 1


def test_prepare_refuses_an_application_that_is_not_approved():
    application = make_approved_application()
    LoanApplication.objects.filter(pk=application.pk).update(state="referred")
    with pytest.raises(ContractError) as exc:
        contract_prepare_for_application(application_id=application.pk)
    assert exc.value.code == "application_not_approved"
    assert not Contract.objects.exists()
    with pytest.raises(NotFound):
        contract_prepare_for_application(application_id=10**9)


def test_loan_contract_text_is_chinese_with_the_borrower_and_renders(contract, application, tmp_path):
    data, _ = contract_pdf_bytes(contract)
    text = _text(data)
    customer = application.customer
    assert "借款合同" in text and customer.name in text and customer.id_number in text
    assert "壹拾万元整" in text and "4.35%" in text and "6.525%" in text and "等额本息" in text
    assert "还款日" in text and "争议解决" in text and "人民法院" in text and "宽限期" in text
    (tmp_path / "contract.pdf").write_bytes(data)
    subprocess.run(
        [
            "pdftoppm",
            "-f",
            "1",
            "-l",
            "1",
            "-r",
            "40",
            "-png",
            "-singlefile",
            str(tmp_path / "contract.pdf"),
            str(tmp_path / "page"),
        ],
        check=True,
    )
    page = Image.open(tmp_path / "page.png").convert("L")
    stat = ImageStat.Stat(page)
    assert stat.stddev[0] > 10  # not a blank page
    assert sum(page.histogram()[:128]) > 2000  # plenty of dark (text) pixels


def test_line_agreement_shows_limit_validity_and_drawdown_terms():
    application = make_approved_application(kind="line", amount="300000", term_months=12)
    contract = contract_prepare_for_application(application_id=application.pk)
    assert contract.kind == "line"
    text = _text(contract_pdf_bytes(contract)[0])
    assert "授信额度合同" in text and "叁拾万元整" in text and "循环额度" in text and "支用" in text
    assert contract.terms["valid_from"] == "2026-03-16" and contract.terms["valid_until"] == "2027-03-15"


def test_signing_seals_the_pdf_valid_and_trusted_with_the_evidence(contract, application):
    customer = application.customer
    signed = _sign(contract, customer, user_agent="pytest-browser")
    application.refresh_from_db()
    assert signed.state == "signed" and application.state == "signed"
    assert StateLog.objects.for_(application).filter(state="signed").exists()
    data, name = contract_pdf_bytes(signed)
    assert name.endswith("-signed.pdf") and signing.sha256_hex(data) == signed.signed_sha256
    unsigned, _ = contract_pdf_bytes(Contract(contract_no="x", unsigned_pdf=signed.unsigned_pdf, state="awaiting_signature"))
    assert data.startswith(unsigned)  # the confirmed text is an exact prefix of the signed file

    result = contract_verify(pdf_bytes=data)
    assert result.valid and result.intact and result.signature_valid and result.trusted and result.covers_whole_file
    assert application.institution.name in result.signer_subject and result.signer_organisation == application.institution.name
    assert result.signing_time is not None and result.level == "PAdES-B-LT" and result.timestamp_trusted
    assert result.original_sha256 == contract.unsigned_sha256
    assert result.evidence["mobile_masked"] == customer.masked_mobile and result.evidence["ip_address"] == "10.1.2.3"
    assert result.evidence["platform_contract_no"] == contract.contract_no
    assert "签章有效" in result.summary_zh

    evidence_page = _text(data, "-f", "3", "-l", "99")
    assert "签署确认页" in evidence_page and customer.masked_mobile in evidence_page and "10.1.2.3" in evidence_page
    assert contract.unsigned_sha256 in evidence_page and customer.mobile not in evidence_page
    assert signed.confirmation["document_sha256"] == contract.unsigned_sha256
    assert signed.signer_subject and application.institution.name in signed.signer_subject

    event = OutboxEvent.objects.get(topic="lending.contract_signed")
    assert event.payload["contract_id"] == signed.pk and event.payload["amount_fen"] == 10_000_000
    assert event.payload["institution_id"] == application.institution_id


def test_one_changed_byte_fails_verification(contract, application):
    signed = _sign(contract, application.customer)
    data, _ = contract_pdf_bytes(signed)
    assert contract_verify(pdf_bytes=data).valid
    for position in (len(data) // 3, len(data) // 2, 200):
        tampered = bytearray(data)
        tampered[position] ^= 0x01
        result = contract_verify(pdf_bytes=bytes(tampered))
        assert not result.valid, position
        assert "无效" in result.summary_zh or "损坏" in result.summary_zh or "无法" in result.summary_zh
    appended = contract_verify(pdf_bytes=data + b"\n% appended after signing\n")
    assert not appended.valid


def test_a_signature_from_another_ca_is_intact_but_not_trusted(contract, application, settings, tmp_path):
    signed = _sign(contract, application.customer)
    data, _ = contract_pdf_bytes(signed)
    settings.JIKUAI_CONTRACT_KEY_DIR = str(tmp_path / "other-ca")  # a different (freshly generated) root
    result = contract_verify(pdf_bytes=data)
    assert result.intact and result.signature_valid and not result.trusted and not result.valid
    assert "受信任" in result.summary_zh


def test_unsigned_and_non_pdf_files_are_reported_not_raised(contract):
    unsigned, _ = contract_pdf_bytes(contract)
    assert not contract_verify(pdf_bytes=unsigned).valid
    assert "没有电子签章" in contract_verify(pdf_bytes=unsigned).summary_zh
    assert "不是 PDF" in contract_verify(pdf_bytes=b"hello").summary_zh


def test_oversized_upload_is_refused(settings):
    settings.JIKUAI_CONTRACT_VERIFY_MAX_BYTES = 1000
    with pytest.raises(FileTooLarge):
        contract_verify(pdf_bytes=b"%PDF-" + b"0" * 2000)


def test_wrong_code_changes_nothing_and_the_right_code_still_signs(contract, application):
    customer = application.customer
    contract_send_code(contract_id=contract.pk, customer=customer)
    before = _snapshot(contract)
    with pytest.raises(OtpError) as exc:
        contract_sign(contract_id=contract.pk, customer=customer, code=other_code(last_code(customer.mobile)))
    assert exc.value.code == "otp_wrong"
    assert _snapshot(contract) == before
    with pytest.raises(OtpError):
        contract_sign(contract_id=contract.pk, customer=customer, code="abc")
    assert _snapshot(contract) == before
    signed = contract_sign(contract_id=contract.pk, customer=customer, code=last_code(customer.mobile))
    assert signed.state == "signed"


def test_a_used_code_cannot_sign(contract, application):
    customer = application.customer
    contract_send_code(contract_id=contract.pk, customer=customer)
    code = last_code(customer.mobile)
    otp_verify(mobile=customer.mobile, purpose="contract_sign", code=code)  # spent elsewhere (replay)
    before = _snapshot(contract)
    with pytest.raises(OtpError) as exc:
        contract_sign(contract_id=contract.pk, customer=customer, code=code)
    assert exc.value.code == "otp_used"
    assert _snapshot(contract) == before


def test_without_a_code_or_with_a_code_for_another_contract_nothing_is_signed(application):
    customer = application.customer
    first = contract_prepare_for_application(application_id=application.pk)
    second_application = make_approved_application(customer=customer)
    second = contract_prepare_for_application(application_id=second_application.pk)
    with pytest.raises(OtpError):
        contract_sign(contract_id=first.pk, customer=customer, code="123456")
    contract_send_code(contract_id=second.pk, customer=customer)
    before = _snapshot(first)
    with pytest.raises(OtpError) as exc:
        contract_sign(contract_id=first.pk, customer=customer, code=last_code(customer.mobile))
    assert exc.value.code == "otp_missing" and _snapshot(first) == before
    assert contract_sign(contract_id=second.pk, customer=customer, code=last_code(customer.mobile)).state == "signed"


def test_signing_an_already_signed_contract_is_a_clear_error(contract, application, settings):
    customer = application.customer
    signed = _sign(contract, customer)
    before = _snapshot(signed)
    with pytest.raises(ContractAlreadySigned) as exc:
        contract_sign(contract_id=contract.pk, customer=customer, code=last_code(customer.mobile))
    assert "已于" in exc.value.message_zh and exc.value.code == "contract_already_signed"
    with pytest.raises(ContractAlreadySigned):
        contract_send_code(contract_id=contract.pk, customer=customer)
    assert _snapshot(signed) == before
    # preparing again returns the signed contract
    assert contract_prepare_for_application(application_id=application.pk).pk == contract.pk


def test_another_customer_can_neither_request_a_code_nor_sign(contract, application):
    intruder = make_approved_application().customer
    before = _snapshot(contract)
    with pytest.raises(NotFound):
        contract_send_code(contract_id=contract.pk, customer=intruder)
    contract_send_code(contract_id=contract.pk, customer=application.customer)
    with pytest.raises(NotFound):
        contract_sign(contract_id=contract.pk, customer=intruder, code=last_code(application.customer.mobile))
    assert _snapshot(contract)[0] == before[0] == "awaiting_signature"


def test_development_keys_are_generated_into_the_ignored_key_folder(settings, tmp_path, contract, application):
    settings.JIKUAI_CONTRACT_KEY_DIR = str(tmp_path / "keys")
    _sign(contract, application.customer)
    files = sorted(p.name for p in (tmp_path / "keys").iterdir())
    code = application.institution.code
    assert {"ca.cert.pem", "ca.key.pem", f"{code}.cert.pem", f"{code}.key.pem", "tsa.cert.pem"} <= set(files)
    assert oct((tmp_path / "keys" / f"{code}.key.pem").stat().st_mode)[-3:] == "600"
    shutil.rmtree(tmp_path / "keys")


def test_production_without_keys_refuses_to_sign_and_changes_nothing(settings, tmp_path, contract, application):
    settings.JIKUAI_CONTRACT_KEY_DIR = str(tmp_path / "empty")
    settings.JIKUAI_CONTRACT_DEV_PKI = False
    customer = application.customer
    contract_send_code(contract_id=contract.pk, customer=customer)
    before = _snapshot(contract)
    with pytest.raises(Exception) as exc:
        contract_sign(contract_id=contract.pk, customer=customer, code=last_code(customer.mobile))
    assert getattr(exc.value, "code", "") == "contract_key_missing"
    assert _snapshot(contract) == before


def test_full_id_number_and_mobile_never_reach_the_logs(contract, application, caplog):
    customer = application.customer
    with caplog.at_level("DEBUG"):
        _sign(contract, customer)
        contract_verify(pdf_bytes=contract_pdf_bytes(Contract.objects.get(pk=contract.pk))[0])
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "contract signed" in logged
    assert customer.id_number not in logged and customer.mobile not in logged and customer.name not in logged


def test_signature_carries_its_validation_data_and_a_revoked_certificate_is_reported(settings, tmp_path, contract, application):
    from django.core.management import call_command
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation.dss import DocumentSecurityStore

    settings.JIKUAI_CONTRACT_KEY_DIR = str(tmp_path / "keys")
    signed = _sign(contract, application.customer)
    data, _ = contract_pdf_bytes(signed)
    assert signed.confirmation["signature_level"] == "PAdES-B-LT"
    # the certificates and the CRL are in the document security store, inside the signed revision
    dss = DocumentSecurityStore.read_dss(PdfFileReader(BytesIO(data)))
    assert len(dss.crls) == 1 and len(dss.certs) >= 3  # institution, root, TSA
    result = contract_verify(pdf_bytes=data)
    assert result.valid and result.revocation_checked and not result.revoked and result.level == "PAdES-B-LT"

    # without any CRL installed locally, the one embedded in the file still answers
    settings.JIKUAI_CONTRACT_DEV_PKI = False
    (tmp_path / "keys" / "ca.crl.pem").rename(tmp_path / "ca.crl.pem.aside")
    alone = contract_verify(pdf_bytes=data)
    assert alone.valid and alone.revocation_checked
    (tmp_path / "ca.crl.pem.aside").rename(tmp_path / "keys" / "ca.crl.pem")
    settings.JIKUAI_CONTRACT_DEV_PKI = True

    code = application.institution.code
    old_serial = x509.load_pem_x509_certificate((tmp_path / "keys" / f"{code}.cert.pem").read_bytes()).serial_number
    out = StringIO()
    call_command("contract_certificates", "revoke", code, stdout=out)
    assert f"serial {old_serial:x}" in out.getvalue()
    result = contract_verify(pdf_bytes=data)
    assert result.intact and result.signature_valid and result.revoked and not result.valid
    assert result.revoked_at is not None and "吊销" in result.summary_zh and "revoked" in result.summary_en
    assert result.as_json()["revoked"] is True

    listing = StringIO()
    call_command("contract_certificates", "list", stdout=listing)
    assert f"serial {old_serial:x}" in listing.getvalue() and "revoked" in listing.getvalue()
    assert "CRL" in listing.getvalue() and "1 revoked" in listing.getvalue()


def test_a_revoked_certificate_cannot_sign_and_nothing_changes(settings, tmp_path, contract, application):
    from lending.contracts import ca

    settings.JIKUAI_CONTRACT_KEY_DIR = str(tmp_path / "keys")
    code = application.institution.code
    ca.signing_material(institution_code=code, institution_name=application.institution.name)
    keys = tmp_path / "keys"
    kept = {name: (keys / name).read_bytes() for name in (f"{code}.cert.pem", f"{code}.key.pem")}
    ca.revoke_institution_certificate(institution_code=code)
    for name, content in kept.items():  # the revoked certificate put back as if still in use
        (keys / name).write_bytes(content)
    customer = application.customer
    contract_send_code(contract_id=contract.pk, customer=customer)
    before = _snapshot(contract)
    with pytest.raises(ca.SigningCertificateRevoked) as exc:
        contract_sign(contract_id=contract.pk, customer=customer, code=last_code(customer.mobile))
    assert "吊销" in exc.value.message_zh
    assert _snapshot(contract) == before

    # once the revoked files are set aside, a new certificate is issued and signing works
    for name in kept:
        (keys / name).unlink()
    # the refused attempt did not spend the code: the customer signs with it
    signed = contract_sign(contract_id=contract.pk, customer=customer, code=last_code(customer.mobile))
    result = contract_verify(pdf_bytes=contract_pdf_bytes(signed)[0])
    assert result.valid and not result.revoked


def test_an_older_development_certificate_without_a_crl_point_is_reissued_for_the_same_key(settings, tmp_path):
    import datetime as dt

    from cryptography.hazmat.primitives import hashes

    from lending.contracts import ca

    settings.JIKUAI_CONTRACT_KEY_DIR = str(tmp_path / "keys")
    material = ca.signing_material(institution_code="OLD01", institution_name="老证书农商行")
    root_key, root = ca._ensure_root()
    key = ca._load_key(material.key_path)
    now = dt.datetime.now(dt.UTC)
    legacy = (
        x509.CertificateBuilder()
        .subject_name(ca.institution_subject(code="OLD01", name="老证书农商行"))
        .issuer_name(root.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(root_key, hashes.SHA256())
    )
    material.cert_path.write_bytes(ca._cert_pem(legacy))
    ca.signing_material(institution_code="OLD01", institution_name="老证书农商行")
    renewed = x509.load_pem_x509_certificate(material.cert_path.read_bytes())
    assert renewed.serial_number != legacy.serial_number
    assert renewed.public_key().public_numbers() == key.public_key().public_numbers()
    points = renewed.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert points[0].full_name[0].value == ca.CRL_URL

"""Signing under concurrency (PostgreSQL, real threads): the same code submitted at once signs once;
even when every request passes the code check, the contract row lock lets one signature through."""

import threading

import pytest
from django.db import close_old_connections, connection
from django_fsm_log.models import StateLog

from jikuai.core.models import OutboxEvent
from jikuai.customers.accounts import OtpError
from lending.contracts import services
from lending.contracts.services import ContractAlreadySigned, contract_prepare_for_application, contract_send_code
from lending.models import Contract
from tests.lending.contracts_factories import make_approved_application, private_media  # noqa: F401
from tests.web.factories import last_code

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("private_media")]

THREADS = 3


def _race(contract, code) -> list[str]:
    if connection.vendor != "postgresql":
        pytest.fail("concurrency tests need PostgreSQL (DATABASE_URL)")
    start = threading.Barrier(THREADS)
    outcomes: list[str] = []

    def sign():
        try:
            start.wait(timeout=10)
            services.contract_sign(contract_id=contract.pk, customer=contract.customer, code=code)
            outcomes.append("signed")
        except ContractAlreadySigned:
            outcomes.append("already_signed")
        except OtpError as exc:
            outcomes.append(exc.code)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=sign) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def _assert_signed_once(contract, outcomes):
    assert outcomes.count("signed") == 1, outcomes
    contract.refresh_from_db()
    assert contract.state == "signed"
    assert OutboxEvent.objects.filter(topic="lending.contract_signed").count() == 1
    assert StateLog.objects.for_(contract.application).filter(state="signed").count() == 1
    assert Contract.objects.filter(state="signed").count() == 1


def test_the_same_code_submitted_at_once_signs_once():
    contract = contract_prepare_for_application(application_id=make_approved_application().pk)
    contract_send_code(contract_id=contract.pk, customer=contract.customer)
    outcomes = _race(contract, last_code(contract.customer.mobile))
    _assert_signed_once(contract, outcomes)
    assert set(outcomes) <= {"signed", "otp_used", "already_signed"}


def test_the_row_lock_lets_one_signature_through_even_if_every_code_check_passes(monkeypatch):
    contract = contract_prepare_for_application(application_id=make_approved_application().pk)
    contract_send_code(contract_id=contract.pk, customer=contract.customer)
    monkeypatch.setattr(services, "otp_verify", lambda **kwargs: None)  # as if each request had its own valid code
    outcomes = _race(contract, "000000")
    _assert_signed_once(contract, outcomes)
    assert sorted(outcomes) == ["already_signed"] * (THREADS - 1) + ["signed"]


def test_documents_built_at_once_in_threads_all_come_out():
    """reportlab's embedded font keeps its glyph-subset state on the shared font object; documents built
    in racing threads (the evidence page of every signing attempt) once broke it (KeyError in makeSubset)."""
    import sys
    from concurrent.futures import ThreadPoolExecutor

    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import Paragraph

    from lending.contracts import pdf

    style = ParagraphStyle("race", fontName=pdf.font_name(), fontSize=10)
    texts = [
        "借款合同甲方乙方",
        "额度借据还款计划",
        "年化利率罚息条款",
        "农商银行吉林榆树",
        "客户经理审批签章",
        "电子签名验证完整",
    ]

    def build(index: int) -> bytes:
        text = "".join(chr(0x4E00 + (index * 97 + n * 13) % 2000) for n in range(400)) + texts[index % len(texts)]
        return pdf._build([Paragraph(text, style)], title="并发", author="测试", contract_no=f"RACE{index}")

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: the race shows at once
    try:
        with ThreadPoolExecutor(max_workers=4) as executor:
            documents = list(executor.map(build, range(16)))
    finally:
        sys.setswitchinterval(interval)
    assert all(document.startswith(b"%PDF") and len(document) > 1000 for document in documents)

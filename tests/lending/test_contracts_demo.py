"""Demo contracts: one waiting for the demo customer's signature, one sealed and marked as demo data;
seeding twice creates nothing new."""

import datetime as dt

import pytest

from jikuai.core.demo import seed_kernel
from jikuai.core.workdays import business_date_set
from lending.contracts.services import contract_pdf_bytes, contract_verify
from lending.demo import seed_products
from lending.demo_contracts import seed_demo_contracts
from lending.models import Contract
from tests.lending.contracts_factories import private_media  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media")]


def test_seed_demo_contracts_is_idempotent_and_marks_the_sealed_one_as_demo():
    business_date_set(day=dt.date(2026, 11, 20))
    seed_kernel(customers_per_bank=2, today=dt.date(2026, 11, 20))
    seed_products()
    first = seed_demo_contracts()
    assert first == {"contracts_prepared": 2, "contracts_sealed": 2}  # a line agreement and a loan to disburse
    assert seed_demo_contracts() == {"contracts_prepared": 0, "contracts_sealed": 0}
    waiting = Contract.objects.get(state="awaiting_signature")
    assert Contract.objects.filter(state="signed", kind="loan").count() == 1
    sealed = Contract.objects.get(state="signed", kind="line")
    assert waiting.application.state == "contract_pending" and sealed.application.state == "signed"
    result = contract_verify(pdf_bytes=contract_pdf_bytes(sealed)[0])
    assert result.valid and result.evidence["method"] == "demo" and "演示数据" in result.reason

import datetime as dt
import os
from functools import cache

import pytest

from jikuai.customers.kyc.models import KycDocument, KycRecord
from jikuai.org import roles
from jikuai.web.middleware import CUSTOMER_SESSION_KEY, CUSTOMER_SESSION_VERSION_KEY
from tests.factories import BranchFactory, InstitutionFactory, make_customer, make_staff
from tests.kyc import factories as images

PASSWORD = "Hu4ngTu-di!2026"


@pytest.fixture(autouse=True)
def private_media(settings, tmp_path):
    """Every test stores its images in its own folder, so 'nothing stored' can be checked on disk."""
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    return settings.PRIVATE_MEDIA_ROOT


def stored_files(root) -> list[str]:
    if not os.path.exists(root):
        return []
    return sorted(os.path.join(folder, name) for folder, _dirs, names in os.walk(root) for name in names)


def assert_nothing_stored(root) -> None:
    assert KycRecord.objects.count() == 0
    assert KycDocument.objects.count() == 0
    assert stored_files(root) == []


@pytest.fixture
def institution(db):
    return InstitutionFactory(code="YSRCB", name="榆树农商银行", short_name="榆树农商行")


@pytest.fixture
def other_institution(db):
    return InstitutionFactory(code="YBRCB", name="延边农商银行", short_name="延边农商行")


@pytest.fixture
def branch(institution):
    return BranchFactory(institution=institution, code="YS01", name="榆树城区支行")


@pytest.fixture
def account_manager(branch):
    return make_staff(role=roles.ACCOUNT_MANAGER, branch=branch, name="客户经理甲")


@pytest.fixture
def reviewer(institution):
    return make_staff(role=roles.CREDIT_REVIEWER, institution=institution, name="审批员乙")


@pytest.fixture
def foreign_reviewer(other_institution):
    return make_staff(role=roles.CREDIT_REVIEWER, institution=other_institution, name="外行审批员")


# The card holder drawn on the test ID card (a valid number with a real check character).
HOLDER_NAME = "王秀英"
HOLDER_ID = "220182198806092424"
HOLDER_BIRTH = dt.date(1988, 6, 9)
HOLDER_ADDRESS = "吉林省长春市榆树市华昌街道民主村三组18号"


@pytest.fixture
def holder(institution, branch, account_manager):
    """A web customer whose registered data match the test ID card."""
    return make_customer(
        institution=institution,
        branch=branch,
        account_manager=account_manager,
        name=HOLDER_NAME,
        id_number=HOLDER_ID,
        address=HOLDER_ADDRESS,
        password=PASSWORD,
    )


def login_customer(client, customer) -> None:
    session = client.session
    session[CUSTOMER_SESSION_KEY] = customer.pk
    session[CUSTOMER_SESSION_VERSION_KEY] = customer.password[-16:]
    session.save()


# --- images, built once per test session (drawing is cheap, but JPEG encoding of photos is not free) ---


@cache
def card_front_bytes() -> bytes:
    card = images.draw_id_front(name=HOLDER_NAME, id_number=HOLDER_ID, gender="女", address=HOLDER_ADDRESS)
    return images.jpeg_bytes(images.photo_of(card, angle=2))


@cache
def card_back_bytes() -> bytes:
    return images.jpeg_bytes(images.photo_of(images.draw_id_back(), angle=-2))


@cache
def astronaut_selfie_bytes() -> bytes:
    return images.jpeg_bytes(images.astronaut_selfie())


@cache
def grace_hopper_selfie_bytes() -> bytes:
    return images.jpeg_bytes(images.grace_hopper_selfie())


@cache
def no_face_bytes() -> bytes:
    return images.jpeg_bytes(images.no_face_image())


def kyc_uploads(*, front: bytes | None = None, back: bytes | None = None, selfie: bytes | None = None) -> dict:
    return {
        "id_front": images.upload(front or card_front_bytes(), "front.jpg"),
        "id_back": images.upload(back or card_back_bytes(), "back.jpg"),
        "selfie": images.upload(selfie or astronaut_selfie_bytes(), "selfie.jpg"),
    }


def submitted_record(customer, *, actor=None) -> KycRecord:
    """A record with its documents stored and processing not yet run (on_commit callbacks not executed)."""
    from jikuai.customers.kyc import services

    return services.kyc_submit_documents(customer=customer, actor=actor, **kyc_uploads())


def needs_review_record(customer, *, actor=None) -> KycRecord:
    """A record in manual review without running OCR: the stored ID front went missing, so the automatic
    checks cannot run and the record falls back to a person (as it would after a storage failure)."""
    from django.db import transaction

    from jikuai.customers.kyc import services

    with transaction.atomic():  # in transactional tests the queued task runs at commit: the file must be gone by then
        record = submitted_record(customer, actor=actor)
        record.documents.get(kind=KycDocument.Kind.ID_FRONT).file.delete(save=False)
    return services.kyc_process(record_id=record.pk)  # a no-op if the task already ran

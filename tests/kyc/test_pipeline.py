"""The whole KYC pipeline with the REAL OCR (rapidocr) and face comparison (dlib) on generated ID cards.

Each processed record costs about two OCR runs (≈1–3 s here), so only the journeys that need the
engines run them: verified, mismatched card, another person's selfie, no face, a field record.
"""

import pytest
from django_fsm_log.models import StateLog

from jikuai.core.exceptions import NotFound, PermissionDeniedError
from jikuai.core.models import OutboxEvent
from jikuai.customers.kyc import services
from jikuai.customers.kyc.models import KycRecord, KycState
from jikuai.customers.models import Customer
from jikuai.org import roles
from tests.factories import make_customer, make_staff
from tests.kyc import factories as images
from tests.kyc.conftest import (
    HOLDER_ADDRESS,
    HOLDER_BIRTH,
    HOLDER_ID,
    HOLDER_NAME,
    grace_hopper_selfie_bytes,
    kyc_uploads,
    login_customer,
    no_face_bytes,
)

pytestmark = pytest.mark.django_db


def submit_and_process(capture, customer, **kwargs) -> KycRecord:
    uploads = kyc_uploads(**{k: kwargs.pop(k) for k in ("front", "back", "selfie") if k in kwargs})
    with capture(execute=True):
        record = services.kyc_submit_documents(customer=customer, **uploads, **kwargs)
    return KycRecord.objects.get(pk=record.pk)


def reason_codes(record: KycRecord) -> set[str]:
    return {reason["code"] for reason in record.review_reasons}


def test_customer_page_upload_reads_the_card_matches_the_face_and_verifies(client, holder, django_capture_on_commit_callbacks):
    login_customer(client, holder)
    page = client.get("/kyc/upload/")
    assert page.status_code == 200
    assert 'capture="user"' in page.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/kyc/upload/", kyc_uploads())
    assert response.status_code == 302, response.content.decode()[:2000]

    record = KycRecord.objects.get(customer=holder)
    # the OCR read what was drawn on the card
    assert record.ocr_name == HOLDER_NAME
    assert record.ocr_id_number == HOLDER_ID
    assert record.ocr_id_number_valid is True
    assert record.ocr_gender == "F"
    assert record.ocr_ethnicity == "汉"
    assert record.ocr_birth_date == HOLDER_BIRTH
    assert record.ocr_address == HOLDER_ADDRESS
    assert record.ocr_authority == "榆树市公安局"
    assert (record.ocr_valid_from.isoformat(), record.ocr_valid_until.isoformat()) == ("2016-03-15", "2036-03-15")
    assert record.ocr_confidence >= 0.8
    # the same person: the ID portrait and a resized, mirrored, turned selfie of the astronaut
    assert record.portrait_face_count == 1 and record.selfie_face_count == 1
    assert record.face_distance < record.face_threshold == 0.6
    assert record.face_distance < 0.45
    assert record.face_match is True
    assert record.mismatches == [] and record.review_reasons == []
    assert record.state == KycState.VERIFIED and record.auto_result == KycRecord.AutoResult.PASS
    assert record.ocr_seconds > 0 and record.face_seconds > 0

    holder.refresh_from_db()
    assert holder.kyc_status == Customer.KycStatus.VERIFIED
    event = OutboxEvent.objects.get(topic="customers.kyc_verified")
    assert event.payload == {
        "customer_id": holder.pk,
        "kyc_record_id": record.pk,
        "institution_id": holder.institution_id,
        "branch_id": holder.branch_id,
        "account_manager_id": holder.account_manager_id,
    }
    transitions = list(StateLog.objects.for_(record).order_by("id").values_list("transition", flat=True))
    assert transitions == ["submit", "start_processing", "pass_automatically"]

    status = client.get("/kyc/")
    text = status.content.decode()
    assert "已通过" in text and HOLDER_NAME in text
    assert HOLDER_ID not in text  # the number is shown masked
    assert HOLDER_ID[:4] + "**********" + HOLDER_ID[-4:] in text


def test_a_card_that_does_not_match_what_the_customer_entered_goes_to_review(holder, django_capture_on_commit_callbacks):
    # another customer (other name, other number) uploads the test card
    impostor = make_customer(institution=holder.institution, branch=holder.branch, name="李娜", password="Hu4ngTu-di!2026")
    record = submit_and_process(django_capture_on_commit_callbacks, impostor)

    assert record.state == KycState.NEEDS_REVIEW
    assert record.auto_result == KycRecord.AutoResult.REVIEW
    assert "mismatch" in reason_codes(record)
    mismatches = {m["field"]: m for m in record.mismatches}
    assert mismatches["name"] == {"field": "name", "label": "姓名", "entered": "李*", "extracted": "王**", "blocking": True}
    assert mismatches["id_number"]["blocking"] and mismatches["id_number"]["extracted"].endswith(HOLDER_ID[-4:])
    assert record.face_match is True  # the face alone never verifies anyone
    impostor.refresh_from_db()
    assert impostor.kyc_status == Customer.KycStatus.PENDING
    assert not OutboxEvent.objects.filter(topic="customers.kyc_verified").exists()


def test_a_selfie_of_another_person_is_not_verified_and_a_reviewer_rejects_it(
    holder, reviewer, django_capture_on_commit_callbacks
):
    record = submit_and_process(django_capture_on_commit_callbacks, holder, selfie=grace_hopper_selfie_bytes())

    assert record.state == KycState.NEEDS_REVIEW
    assert reason_codes(record) == {"face_mismatch"}
    assert record.face_distance > record.face_threshold
    assert 0.6 < record.face_distance < 0.9  # ≈ 0.7 for these two people
    assert record.face_match is False
    assert record.mismatches == []  # the card itself matched

    services.kyc_reject(record_id=record.pk, actor=reviewer, comment="自拍照与证件照不是同一人")
    record.refresh_from_db()
    holder.refresh_from_db()
    assert record.state == KycState.REJECTED
    assert record.reviewer == reviewer and record.reviewed_at is not None
    assert holder.kyc_status == Customer.KycStatus.REJECTED
    log = StateLog.objects.for_(record).get(transition="reject")
    assert log.by == reviewer.user and log.description == "自拍照与证件照不是同一人"
    assert not OutboxEvent.objects.filter(topic="customers.kyc_verified").exists()


def test_field_record_without_a_face_needs_review_and_only_another_person_may_approve(
    holder, reviewer, foreign_reviewer, django_capture_on_commit_callbacks
):
    # a branch manager (who may review) does the KYC in the field: the selfie shows no face
    maker = make_staff(role=roles.BRANCH_MANAGER, branch=holder.branch, name="支行行长丙")
    started = services.kyc_start_for_customer(customer_id=holder.pk, actor=maker)
    record = submit_and_process(django_capture_on_commit_callbacks, holder, selfie=no_face_bytes(), actor=maker)
    assert record.pk == started.pk
    assert record.channel == KycRecord.Channel.FIELD and record.created_by_staff == maker

    assert record.state == KycState.NEEDS_REVIEW
    assert reason_codes(record) == {"selfie_no_face"}
    assert record.selfie_face_count == 0 and record.face_distance is None and record.face_match is None

    with pytest.raises(PermissionDeniedError) as refused:
        services.kyc_approve(record_id=record.pk, actor=maker, comment="本人已当面核实")
    assert refused.value.code == "kyc_maker_checker"
    with pytest.raises(NotFound):
        services.kyc_approve(record_id=record.pk, actor=foreign_reviewer)
    record.refresh_from_db()
    assert record.state == KycState.NEEDS_REVIEW and record.reviewer is None

    with django_capture_on_commit_callbacks(execute=True):
        services.kyc_approve(record_id=record.pk, actor=reviewer, comment="证件照清晰，与现场照片一致")
    record.refresh_from_db()
    holder.refresh_from_db()
    assert record.state == KycState.VERIFIED and record.reviewer == reviewer
    assert record.auto_result == KycRecord.AutoResult.REVIEW  # what the machine said stays on record
    assert holder.kyc_status == Customer.KycStatus.VERIFIED
    assert StateLog.objects.for_(record).get(transition="approve").by == reviewer.user
    event = OutboxEvent.objects.get(topic="customers.kyc_verified")
    assert event.payload["kyc_record_id"] == record.pk
    assert event.payload["account_manager_id"] == maker.pk  # attributed to the staff member who did it


def test_a_forged_card_and_a_photo_that_is_no_card_go_to_review(holder, django_capture_on_commit_callbacks):
    # the number's last digit was edited (the check character no longer fits) and the emblem side is a coffee cup
    forged_number = HOLDER_ID[:-1] + ("3" if HOLDER_ID[-1] != "3" else "5")
    card = images.draw_id_front(name=HOLDER_NAME, id_number=forged_number, gender="女", address=HOLDER_ADDRESS)
    record = submit_and_process(
        django_capture_on_commit_callbacks,
        holder,
        front=images.jpeg_bytes(images.photo_of(card)),
        back=images.jpeg_bytes(images.no_face_image()),
    )
    assert record.state == KycState.NEEDS_REVIEW
    assert {"id_number_invalid", "back_unreadable", "mismatch"} <= reason_codes(record)
    assert record.ocr_id_number == forged_number and record.ocr_id_number_valid is False
    assert "校验位" in next(r["message"] for r in record.review_reasons if r["code"] == "id_number_invalid")
    assert record.face_match is True  # the right face does not make a forged card acceptable

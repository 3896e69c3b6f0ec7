"""KYC services without the engines: refusals leave nothing behind, one open attempt, review rules."""

import datetime as dt
import hashlib
import os
import re

import pytest
from django.utils import timezone
from django_fsm_log.models import StateLog

from jikuai.core.exceptions import ApplicationError, Conflict, NotFound, PermissionDeniedError
from jikuai.customers.kyc import services
from jikuai.customers.kyc.models import KycDocument, KycRecord, KycState
from jikuai.customers.models import Customer
from jikuai.org import roles
from tests.factories import make_customer, make_staff
from tests.kyc import factories as images
from tests.kyc.conftest import (
    assert_nothing_stored,
    kyc_uploads,
    needs_review_record,
    stored_files,
    submitted_record,
)

pytestmark = pytest.mark.django_db


def test_submission_stores_three_private_files_and_queues_processing(holder, private_media, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        record = services.kyc_submit_documents(customer=holder, **kyc_uploads())
    assert len(callbacks) == 1  # the task is queued after commit, not run in the request
    assert record.state == KycState.DOCUMENTS_UPLOADED and record.channel == KycRecord.Channel.WEB
    documents = {d.kind: d for d in record.documents.all()}
    assert set(documents) == {"id_front", "id_back", "selfie"}
    files = stored_files(private_media)
    assert len(files) == 3
    assert {os.stat(path).st_mode & 0o777 for path in files} == {0o600}  # readable by the service account only
    for document in documents.values():
        assert re.fullmatch(r"kyc/\d{4}/\d{2}/[0-9a-f]{32}\.jpg", document.file.name)  # random, says nothing
        content = services.document_content(document)
        assert content[:3] == b"\xff\xd8\xff" and len(content) == document.size
        assert hashlib.sha256(content).hexdigest() == document.sha256
    holder.refresh_from_db()
    assert holder.kyc_status == Customer.KycStatus.PENDING


@pytest.mark.parametrize(
    ("bad", "code_text"),
    [
        (images.png_header_only(30000, 30000), "百万像素"),  # decompression bomb
        (images.png_header_only(9000, 5000), "百万像素"),  # over the pixel limit
        (b"GIF89a" + b"\x00" * 500, "JPEG、PNG 或 WebP"),  # wrong format
        (images.encoded(images.no_face_image(), "BMP"), "JPEG、PNG 或 WebP"),
    ],
)
def test_a_refused_image_stores_nothing(holder, private_media, bad, code_text):
    uploads = kyc_uploads()
    uploads["selfie"] = images.upload(bad, "selfie.jpg")
    with pytest.raises(services.KycUploadRejected) as refused:
        services.kyc_submit_documents(customer=holder, **uploads)
    assert list(refused.value.extra["errors"]) == ["selfie"]
    assert code_text in refused.value.message_zh and "本人自拍照" in refused.value.message_zh
    assert_nothing_stored(private_media)
    holder.refresh_from_db()
    assert holder.kyc_status == Customer.KycStatus.NONE


def test_oversized_and_corrupt_images_store_nothing(holder, private_media, settings):
    settings.JIKUAI = {**settings.JIKUAI, "KYC": {"MAX_UPLOAD_BYTES": 300_000}}
    big = images.encoded(images.astronaut_selfie().resize((900, 900)), "PNG")
    assert len(big) > 300_000
    good_front = kyc_uploads()["id_front"].read()
    uploads = {
        "id_front": images.upload(good_front[: len(good_front) // 3]),  # truncated
        "id_back": images.upload(big, "back.png", "image/png"),
        "selfie": None,
    }
    with pytest.raises(services.KycUploadRejected) as refused:
        services.kyc_submit_documents(customer=holder, **uploads)
    errors = refused.value.extra["errors"]
    assert "损坏" in errors["id_front"] and "MB" in errors["id_back"] and "请上传本人自拍照" in errors["selfie"]
    assert_nothing_stored(private_media)


def test_a_database_failure_after_writing_files_removes_them(holder, private_media, monkeypatch):
    def broken_submit(self, by=None, description=None):
        raise RuntimeError("database went away")

    monkeypatch.setattr(KycRecord, "submit", broken_submit)
    with pytest.raises(RuntimeError):
        services.kyc_submit_documents(customer=holder, **kyc_uploads())
    assert_nothing_stored(private_media)


def test_one_attempt_at_a_time_and_none_after_verification(holder, private_media):
    submitted_record(holder)
    with pytest.raises(Conflict) as busy:
        services.kyc_submit_documents(customer=holder, **kyc_uploads())
    assert busy.value.code == "kyc_in_progress"
    assert len(stored_files(private_media)) == 3  # the refused second attempt left no file
    assert KycRecord.objects.count() == 1

    other = make_customer(institution=holder.institution, name="赵六", password="Hu4ngTu-di!2026")
    Customer.objects.filter(pk=other.pk).update(kyc_status=Customer.KycStatus.VERIFIED)
    with pytest.raises(Conflict) as done:
        services.kyc_submit_documents(customer=other, **kyc_uploads())
    assert done.value.code == "kyc_already_verified"


def test_after_a_rejection_the_customer_may_try_again(holder, reviewer):
    record = needs_review_record(holder)
    assert {r["code"] for r in record.review_reasons} == {"processing_error"}
    services.kyc_reject(record_id=record.pk, actor=reviewer, comment="证件照片无法辨认")
    holder.refresh_from_db()
    assert holder.kyc_status == Customer.KycStatus.REJECTED

    again = submitted_record(holder)
    assert again.pk != record.pk and again.state == KycState.DOCUMENTS_UPLOADED
    holder.refresh_from_db()
    assert holder.kyc_status == Customer.KycStatus.PENDING


def test_processing_is_idempotent(holder):
    record = needs_review_record(holder)
    before = StateLog.objects.for_(record).count()
    again = services.kyc_process(record_id=record.pk)
    assert again.state == KycState.NEEDS_REVIEW
    assert StateLog.objects.for_(record).count() == before


def test_reject_needs_a_reason_and_changes_nothing_without_it(holder, reviewer):
    record = needs_review_record(holder)
    with pytest.raises(ApplicationError) as refused:
        services.kyc_reject(record_id=record.pk, actor=reviewer, comment="  ")
    assert refused.value.code == "kyc_reason_required"
    record.refresh_from_db()
    assert record.state == KycState.NEEDS_REVIEW and record.reviewer is None


def test_only_reviewers_in_scope_may_decide(holder, account_manager, foreign_reviewer):
    record = needs_review_record(holder)
    with pytest.raises(PermissionDeniedError):  # an account manager sees the customer but may not review
        services.kyc_approve(record_id=record.pk, actor=account_manager)
    with pytest.raises(NotFound):  # another institution's reviewer does not even see it
        services.kyc_reject(record_id=record.pk, actor=foreign_reviewer, comment="x")
    record.refresh_from_db()
    assert record.state == KycState.NEEDS_REVIEW


def test_records_not_in_review_cannot_be_approved(holder, reviewer):
    record = submitted_record(holder)
    with pytest.raises(Conflict) as refused:
        services.kyc_approve(record_id=record.pk, actor=reviewer)
    assert refused.value.code == "kyc_not_reviewable"


def test_a_repeated_approval_is_a_no_op(holder, reviewer, django_capture_on_commit_callbacks):
    record = needs_review_record(holder)
    with django_capture_on_commit_callbacks(execute=False):
        services.kyc_approve(record_id=record.pk, actor=reviewer)
        services.kyc_approve(record_id=record.pk, actor=reviewer)
    assert StateLog.objects.for_(record).filter(transition="approve").count() == 1
    from jikuai.core.models import OutboxEvent

    assert OutboxEvent.objects.filter(topic="customers.kyc_verified").count() == 1


def test_field_start_for_customers_in_scope_only(holder, account_manager, reviewer, other_institution):
    record = services.kyc_start_for_customer(customer_id=holder.pk, actor=account_manager)
    assert record.state == KycState.CREATED
    assert record.channel == KycRecord.Channel.FIELD and record.created_by_staff == account_manager
    # starting twice gives the same open record
    assert services.kyc_start_for_customer(customer_id=holder.pk, actor=account_manager).pk == record.pk

    stranger = make_customer(institution=other_institution, name="钱七")
    with pytest.raises(NotFound):
        services.kyc_start_for_customer(customer_id=stranger.pk, actor=account_manager)
    with pytest.raises(PermissionDeniedError):  # a credit reviewer sees the customer but does no field work
        services.kyc_start_for_customer(customer_id=holder.pk, actor=reviewer)
    assert KycRecord.objects.count() == 1


def test_field_upload_is_attributed_to_the_account_manager(holder, account_manager):
    field_photo = images.upload(images.jpeg_bytes(images.no_face_image()), "visit.jpg")
    record = services.kyc_submit_documents(customer=holder, actor=account_manager, field_photo=field_photo, **kyc_uploads())
    assert record.created_by_staff == account_manager and record.channel == KycRecord.Channel.FIELD
    assert set(record.documents.values_list("kind", flat=True)) == {"id_front", "id_back", "selfie", "field_photo"}
    assert set(record.documents.values_list("uploaded_by_staff", flat=True)) == {account_manager.pk}
    assert StateLog.objects.for_(record).get(transition="submit").by == account_manager.user


def test_stale_records_are_queued_again(holder, django_capture_on_commit_callbacks):
    record = submitted_record(holder)
    record.documents.get(kind=KycDocument.Kind.ID_FRONT).file.delete(save=False)  # keeps the rerun cheap
    assert services.kyc_requeue_stale() == 0  # just submitted: the queued task still has time
    KycRecord.objects.filter(pk=record.pk).update(submitted_at=timezone.now() - dt.timedelta(minutes=10))
    assert services.kyc_requeue_stale() == 1  # eager in tests: processed right away
    record.refresh_from_db()
    assert record.state == KycState.NEEDS_REVIEW


def test_branch_manager_grant_includes_review():
    from django.contrib.auth.models import Group

    from jikuai.org.roles import sync_role_permissions

    sync_role_permissions()
    reviewer_perms = set(Group.objects.get(name=roles.CREDIT_REVIEWER).permissions.values_list("codename", flat=True))
    assert {"review_kycrecord", "view_kycrecord", "view_kycdocument"} <= reviewer_perms
    manager_perms = set(Group.objects.get(name=roles.ACCOUNT_MANAGER).permissions.values_list("codename", flat=True))
    assert {"add_kycrecord", "view_kycdocument"} <= manager_perms and "review_kycrecord" not in manager_perms
    merchant_perms = set(Group.objects.get(name=roles.MERCHANT_OPS).permissions.values_list("codename", flat=True))
    assert not {p for p in merchant_perms if "kyc" in p}
    assert make_staff(role=roles.BRANCH_MANAGER, institution=None).user.has_perm("customers.review_kycrecord")

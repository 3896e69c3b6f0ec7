"""KYC writes (实名认证): submit documents, process them off the request path, review by staff.

Flow: ``kyc_submit_documents`` validates and stores the images and queues ``kyc_process`` after commit
→ the worker runs OCR and the face comparison outside any transaction, then records the outcome:
verified (every check passed) or needs_review (anything failed or could not be checked) →
``kyc_approve`` / ``kyc_reject`` by a reviewer who is not the staff member who made the record.
"""

import datetime as dt
import logging
from collections.abc import Mapping

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from django_fsm import has_transition_perm

from jikuai.core import bus
from jikuai.core.exceptions import ApplicationError, Conflict, NotFound, PermissionDeniedError
from jikuai.customers.kyc import analysis, faces, ocr
from jikuai.customers.kyc.config import kyc_config
from jikuai.customers.kyc.images import CleanImage, ImageRejected, clean_image, open_clean
from jikuai.customers.kyc.models import OPEN_STATES, KycDocument, KycRecord, KycState, private_storage
from jikuai.customers.models import Customer
from jikuai.org.models import Staff
from jikuai.org.scoping import scope_queryset

logger = logging.getLogger(__name__)

REQUIRED_KINDS = (KycDocument.Kind.ID_FRONT, KycDocument.Kind.ID_BACK, KycDocument.Kind.SELFIE)
KYC_VERIFIED_TOPIC = "customers.kyc_verified"


class KycUploadRejected(ApplicationError):
    """One or more images were refused; ``extra["errors"]`` maps each document kind to its message."""

    code = "kyc_upload_rejected"


# --- submission ----------------------------------------------------------------------------


def _clean_all(files: Mapping[str, object]) -> dict[str, CleanImage]:
    errors: dict[str, str] = {}
    errors_en: dict[str, str] = {}
    cleaned: dict[str, CleanImage] = {}
    for kind in REQUIRED_KINDS:
        if not files.get(kind):
            errors[kind] = f"请上传{KycDocument.Kind(kind).label.split(' ')[0]}。"
            errors_en[kind] = f"{kind} is required."
    for kind, upload in files.items():
        if kind not in KycDocument.Kind.values:
            raise ValueError(f"unknown document kind {kind!r}")
        if not upload or kind in errors:
            continue
        try:
            cleaned[kind] = clean_image(upload)
        except ImageRejected as exc:
            errors[kind] = exc.message_zh
            errors_en[kind] = exc.message_en
    if errors:
        labels = {kind: KycDocument.Kind(kind).label.split(" ")[0] for kind in errors}
        raise KycUploadRejected(
            "；".join(f"{labels[kind]}：{message}" for kind, message in errors.items()),
            "; ".join(f"{kind}: {message}" for kind, message in errors_en.items()),
            extra={"errors": errors},
        )
    return cleaned


def _staff_customer(*, actor: Staff, customer_id: int) -> Customer:
    customer = scope_queryset(Customer.objects.all(), actor.user).filter(pk=customer_id).first()
    if customer is None:
        raise NotFound("未找到该客户。", "Customer not found.")
    if not actor.user.has_perm("customers.add_kycrecord"):
        raise PermissionDeniedError("您没有代客户办理实名认证的权限。", "Not allowed to start KYC for customers.")
    return customer


def _open_record_for_update(customer: Customer) -> KycRecord | None:
    return KycRecord.objects.select_for_update(no_key=True).filter(customer=customer, state__in=OPEN_STATES).first()


def _refuse_if_done_or_busy(customer: Customer, record: KycRecord | None) -> None:
    if customer.kyc_status == Customer.KycStatus.VERIFIED:
        raise Conflict("您已完成实名认证，无需重复提交。", "The customer is already verified.", code="kyc_already_verified")
    if record is not None and record.state != KycState.CREATED:
        raise Conflict("已有一笔实名认证正在处理，请等待结果。", "A KYC check is already in progress.", code="kyc_in_progress")


def kyc_start_for_customer(*, customer_id: int, actor: Staff) -> KycRecord:
    """Field app (移动展业): an account manager starts KYC for a customer at their home.

    The record is attributed to ``actor`` (maker); someone else must approve it if it needs review.
    """
    customer = _staff_customer(actor=actor, customer_id=customer_id)
    with transaction.atomic():
        customer = Customer.objects.select_for_update(no_key=True).get(pk=customer.pk)
        record = _open_record_for_update(customer)
        _refuse_if_done_or_busy(customer, record)
        if record is None:
            record = KycRecord.objects.create(
                customer=customer,
                channel=KycRecord.Channel.FIELD,
                created_by_staff=actor,
                face_threshold=kyc_config().face_distance_threshold,
            )
        elif record.created_by_staff_id != actor.pk:
            record.created_by_staff = actor
            record.channel = KycRecord.Channel.FIELD
            record.save(update_fields=["created_by_staff", "channel", "updated_at"])
    return record


def kyc_submit_documents(
    *,
    customer: Customer,
    id_front,
    id_back,
    selfie,
    field_photo=None,
    actor: Staff | None = None,
    channel: str | None = None,
) -> KycRecord:
    """Validate and store the images of a KYC attempt and queue the checks.

    ``actor`` is the staff member uploading in the field (None when the customer uploads). Every image
    is validated before anything is written: a refused image leaves no record, no row and no file.
    """
    if actor is not None:
        customer = _staff_customer(actor=actor, customer_id=customer.pk)
    cleaned = _clean_all(
        {
            KycDocument.Kind.ID_FRONT: id_front,
            KycDocument.Kind.ID_BACK: id_back,
            KycDocument.Kind.SELFIE: selfie,
            KycDocument.Kind.FIELD_PHOTO: field_photo,
        }
    )
    stored: list[str] = []
    try:
        with transaction.atomic():
            customer = Customer.objects.select_for_update(no_key=True).get(pk=customer.pk)
            record = _open_record_for_update(customer)
            _refuse_if_done_or_busy(customer, record)
            if record is None:
                record = KycRecord.objects.create(
                    customer=customer,
                    channel=channel or (KycRecord.Channel.FIELD if actor else KycRecord.Channel.WEB),
                    created_by_staff=actor,
                    face_threshold=kyc_config().face_distance_threshold,
                )
            elif actor is not None and record.created_by_staff_id is None:
                record.created_by_staff = actor
                record.channel = KycRecord.Channel.FIELD
            for kind, image in cleaned.items():
                document = KycDocument(
                    record=record,
                    kind=kind,
                    sha256=image.sha256,
                    size=image.size,
                    width=image.width,
                    height=image.height,
                    source_format=image.source_format,
                    source_bytes=image.source_bytes,
                    uploaded_by_staff=actor,
                )
                document.file.save("upload.jpg", ContentFile(image.content), save=False)
                stored.append(document.file.name)
                document.save()
            record.submit(by=actor.user if actor else None, description="现场代办提交" if actor else "客户提交")
            record.submitted_at = timezone.now()
            record.save()
            Customer.objects.filter(pk=customer.pk).exclude(kyc_status=Customer.KycStatus.VERIFIED).update(
                kyc_status=Customer.KycStatus.PENDING, updated_at=timezone.now()
            )
            record_id = record.pk
            transaction.on_commit(lambda: _enqueue(record_id))
    except BaseException:
        for name in stored:  # the rows rolled back: the files must go too
            private_storage().delete(name)
        raise
    return record


def _enqueue(record_id: int) -> None:
    from jikuai.customers.kyc.tasks import kyc_process as task

    try:
        task.delay(record_id)
    except Exception:  # broker down: kyc_requeue_stale picks the record up later
        logger.warning("kyc: could not enqueue record %s; the requeue job will retry", record_id)


def kyc_requeue_stale(*, uploaded_minutes: int = 5, processing_minutes: int = 30) -> int:
    now = timezone.now()
    stale = KycRecord.objects.filter(
        state=KycState.DOCUMENTS_UPLOADED, submitted_at__lt=now - dt.timedelta(minutes=uploaded_minutes)
    ) | KycRecord.objects.filter(
        state=KycState.PROCESSING, processing_started_at__lt=now - dt.timedelta(minutes=processing_minutes)
    )
    ids = list(stale.order_by("pk").values_list("pk", flat=True)[:500])
    for record_id in ids:
        _enqueue(record_id)
    return len(ids)


# --- processing (worker) ------------------------------------------------------------------------


def document_content(document: KycDocument) -> bytes:
    with document.file.open("rb") as handle:
        return handle.read()


def _analyse(record: KycRecord) -> tuple[analysis.Decision, dict]:
    """OCR both sides, scan both faces and decide. Runs outside any transaction (seconds of CPU)."""
    config = kyc_config()
    documents = {document.kind: document for document in record.documents.all()}
    images = {kind: open_clean(document_content(document)) for kind, document in documents.items()}
    front = ocr.read_front(images[KycDocument.Kind.ID_FRONT])
    back = ocr.read_back(images[KycDocument.Kind.ID_BACK])
    portrait_image = images[KycDocument.Kind.ID_FRONT]
    if front.rotation:
        portrait_image = portrait_image.rotate(front.rotation, expand=True)
    portrait = faces.scan_faces(portrait_image)
    selfie = faces.scan_faces(images[KycDocument.Kind.SELFIE])
    customer = record.customer
    decision = analysis.decide(
        entered=analysis.Entered(
            name=customer.name,
            id_number=customer.id_number,
            address=customer.address,
        ),
        front=front.fields,
        back=back.fields,
        portrait=portrait,
        selfie=selfie,
        threshold=record.face_threshold,
        min_confidence=config.min_ocr_confidence,
        today=timezone.localdate(),
    )
    front_fields, back_fields = front.fields, back.fields
    values = {
        "ocr_name": front_fields.name[:50],
        "ocr_gender": front_fields.gender,
        "ocr_ethnicity": front_fields.ethnicity[:20],
        "ocr_birth_date": front_fields.birth_date,
        "ocr_address": front_fields.address,
        "ocr_id_number": front_fields.id_number,
        "ocr_id_number_valid": front_fields.id_number_valid if front_fields.id_number else None,
        "ocr_authority": back_fields.authority[:60],
        "ocr_valid_from": back_fields.valid_from,
        "ocr_valid_until": back_fields.valid_until,
        "ocr_valid_long_term": back_fields.long_term,
        "ocr_raw_text": f"[人像面]\n{front_fields.raw_text}\n[国徽面]\n{back_fields.raw_text}",
        "ocr_confidence": front_fields.confidence,
        "ocr_seconds": round(front.seconds + back.seconds, 3),
        "portrait_face_count": portrait.count,
        "selfie_face_count": selfie.count,
        "face_seconds": round(portrait.seconds + selfie.seconds, 3),
    }
    return decision, values


def kyc_process(*, record_id: int) -> KycRecord:
    """Run the automatic checks of one record (the Celery task calls this). Idempotent and retry-safe."""
    with transaction.atomic():
        record = KycRecord.objects.select_for_update(no_key=True).filter(pk=record_id).first()
        if record is None or record.state not in (KycState.DOCUMENTS_UPLOADED, KycState.PROCESSING):
            return record
        record.start_processing(description="开始自动识别")
        record.processing_started_at = timezone.now()
        record.save()
    record = KycRecord.objects.select_related("customer").get(pk=record_id)
    try:
        decision, values = _analyse(record)
    except Exception:
        logger.exception("kyc: automatic checks of record %s failed; referring to manual review", record_id)
        decision, values = analysis.Decision(), {}
        decision.refer("processing_error", "自动识别过程出错，已转人工审核。")
    with transaction.atomic():
        record = KycRecord.objects.select_for_update(no_key=True).get(pk=record_id)
        if record.state != KycState.PROCESSING:  # another worker finished first
            return record
        for name, value in values.items():
            setattr(record, name, value)
        record.mismatches = decision.mismatches
        record.review_reasons = decision.reasons
        record.face_distance = decision.face_distance
        record.face_match = decision.face_match
        record.processed_at = timezone.now()
        if decision.passed:
            record.auto_result = KycRecord.AutoResult.PASS
            record.pass_automatically(description="自动核验通过")
            record.save()
            _mark_customer_verified(record)
        else:
            record.auto_result = KycRecord.AutoResult.REVIEW
            record.refer(description="；".join(reason["message"] for reason in decision.reasons)[:500])
            record.save()
    return record


def _mark_customer_verified(record: KycRecord) -> None:
    """Conditional update (never downgrades, publishes once per customer) plus the bus event."""
    changed = (
        Customer.objects.filter(pk=record.customer_id)
        .exclude(kyc_status=Customer.KycStatus.VERIFIED)
        .update(kyc_status=Customer.KycStatus.VERIFIED, updated_at=timezone.now())
    )
    if not changed:
        return
    customer = Customer.objects.only("institution_id", "branch_id", "account_manager_id").get(pk=record.customer_id)
    bus.publish(
        KYC_VERIFIED_TOPIC,
        {
            "customer_id": record.customer_id,
            "kyc_record_id": record.pk,
            "institution_id": customer.institution_id,
            "branch_id": customer.branch_id,
            # attribution: the account manager who did the KYC in the field, else the customer's own
            "account_manager_id": record.created_by_staff_id or customer.account_manager_id,
        },
    )


# --- manual review -----------------------------------------------------------------------------


def _record_for_review(*, record_id: int, actor: Staff) -> KycRecord:
    visible = scope_queryset(KycRecord.objects.all(), actor.user).filter(pk=record_id).values("pk")
    record = KycRecord.objects.select_for_update(no_key=True).filter(pk__in=visible).first()
    if record is None:
        raise NotFound("未找到该实名认证记录。", "KYC record not found.")
    return record


def _check_reviewer(record: KycRecord, actor: Staff, transition) -> None:
    if record.state != KycState.NEEDS_REVIEW:
        raise Conflict(
            f"该实名认证当前状态为「{record.get_state_display()}」，不能审核。",
            f"The KYC record is {record.state}; it cannot be reviewed.",
            code="kyc_not_reviewable",
        )
    if record.created_by_staff_id is not None and record.created_by_staff_id == actor.pk:
        raise PermissionDeniedError(
            "不能审核自己代办的实名认证（双人复核：经办与审核须为不同人员）。",
            "The staff member who made a KYC record cannot review it (maker-checker).",
            code="kyc_maker_checker",
        )
    if not actor.is_active or not has_transition_perm(transition, actor.user):
        raise PermissionDeniedError("您没有审核实名认证的权限。", "Not allowed to review KYC records.")


def kyc_approve(*, record_id: int, actor: Staff, comment: str = "") -> KycRecord:
    with transaction.atomic():
        record = _record_for_review(record_id=record_id, actor=actor)
        if record.state == KycState.VERIFIED and record.reviewer_id == actor.pk:
            return record  # a repeated click
        _check_reviewer(record, actor, record.approve)
        record.approve(by=actor.user, description=comment or "人工审核通过")
        record.reviewer = actor
        record.reviewed_at = timezone.now()
        record.review_comment = comment[:500]
        record.save()
        _mark_customer_verified(record)
    return record


def kyc_reject(*, record_id: int, actor: Staff, comment: str) -> KycRecord:
    comment = (comment or "").strip()
    if not comment:
        raise ApplicationError("请填写不通过的原因。", "A reason is required to reject.", code="kyc_reason_required")
    with transaction.atomic():
        record = _record_for_review(record_id=record_id, actor=actor)
        if record.state == KycState.REJECTED and record.reviewer_id == actor.pk:
            return record
        _check_reviewer(record, actor, record.reject)
        record.reject(by=actor.user, description=comment)
        record.reviewer = actor
        record.reviewed_at = timezone.now()
        record.review_comment = comment[:500]
        record.save()
        Customer.objects.filter(pk=record.customer_id).exclude(kyc_status=Customer.KycStatus.VERIFIED).update(
            kyc_status=Customer.KycStatus.REJECTED, updated_at=timezone.now()
        )
    return record

"""KYC models (实名认证): one record per verification attempt, its documents (ID card sides, selfie).

Imported by ``jikuai.customers.models`` so that Django finds them under the ``customers`` app label.
"""

import os
import secrets

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django_fsm import FSMField, FSMModelMixin, transition
from django_fsm_log.decorators import fsm_log_by, fsm_log_description
from simple_history.models import HistoricalRecords

from jikuai.core.fields import EncryptedTextField
from jikuai.core.masking import mask_address, mask_id_number
from jikuai.org.scoping import ScopedManager, ScopeSpec

__all__ = ["KycDocument", "KycRecord", "KycState", "PrivateStorage", "kyc_document_path", "private_storage"]


class PrivateStorage(FileSystemStorage):
    """Files under ``settings.PRIVATE_MEDIA_ROOT``: never served by the web server, no public URL.

    The location follows the setting at every access (tests point it at a temporary folder);
    files are readable by the service account only.
    """

    def __init__(self):
        super().__init__(file_permissions_mode=0o600, directory_permissions_mode=0o700)

    @property
    def base_location(self):
        return str(settings.PRIVATE_MEDIA_ROOT)

    @property
    def location(self):
        return os.path.abspath(self.base_location)

    def url(self, name):
        raise ValueError("private files have no public URL; serve them through the access-checked view")


_private_storage = PrivateStorage()


def private_storage() -> PrivateStorage:
    return _private_storage


def kyc_document_path(instance, filename) -> str:
    """A random name that says nothing about the customer: kyc/YYYY/MM/<32 hex>.jpg."""
    now = timezone.localtime()
    return f"kyc/{now:%Y}/{now:%m}/{secrets.token_hex(16)}.jpg"


class KycState(models.TextChoices):
    CREATED = "created", "待上传 created"
    DOCUMENTS_UPLOADED = "documents_uploaded", "已上传待识别 documents uploaded"
    PROCESSING = "processing", "识别中 processing"
    VERIFIED = "verified", "已通过 verified"
    NEEDS_REVIEW = "needs_review", "待人工审核 needs review"
    REJECTED = "rejected", "未通过 rejected"


OPEN_STATES = (KycState.CREATED, KycState.DOCUMENTS_UPLOADED, KycState.PROCESSING, KycState.NEEDS_REVIEW)


class KycRecord(FSMModelMixin, models.Model):
    """实名认证记录: one attempt of one customer: OCR of the ID card, comparison with what the customer
    entered, face comparison between the selfie and the ID portrait, the outcome and the reviewer.

    created → documents_uploaded → processing → verified | needs_review; needs_review → verified |
    rejected by staff (never by the staff member who made a field record: maker ≠ checker).
    """

    class Channel(models.TextChoices):
        WEB = "web", "网页自助 web"
        FIELD = "field", "移动展业 field"
        API = "api", "接口 API"

    class AutoResult(models.TextChoices):
        PENDING = "", "未完成 pending"
        PASS = "pass", "自动通过 passed"
        REVIEW = "review", "转人工 manual review"

    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="kyc_records", verbose_name="客户")
    channel = models.CharField("渠道 channel", max_length=10, choices=Channel.choices, default=Channel.WEB)
    created_by_staff = models.ForeignKey(
        "org.Staff",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="kyc_records_made",
        verbose_name="代办员工 made by (field)",
    )
    state = FSMField("状态 state", default=KycState.CREATED, choices=KycState.choices, protected=True)
    auto_result = models.CharField("自动结论 automatic result", max_length=10, choices=AutoResult.choices, default="", blank=True)
    review_reasons = models.JSONField("转人工原因 reasons for review", default=list, blank=True)
    mismatches = models.JSONField("不一致项 mismatches", default=list, blank=True)

    # OCR of the ID card (ID number, address and raw text encrypted like every other copy of them)
    ocr_name = models.CharField("识别姓名 OCR name", max_length=50, blank=True, default="")
    ocr_gender = models.CharField("识别性别 OCR gender", max_length=1, blank=True, default="")
    ocr_ethnicity = models.CharField("识别民族 OCR ethnicity", max_length=20, blank=True, default="")
    ocr_birth_date = models.DateField("识别出生日期 OCR birth date", null=True, blank=True)
    ocr_address = EncryptedTextField("识别住址 OCR address", purpose="customers.kyc.address")
    ocr_id_number = EncryptedTextField("识别身份证号 OCR ID number", purpose="customers.kyc.id_number")
    ocr_id_number_valid = models.BooleanField("身份证号校验通过 ID number valid", null=True, blank=True)
    ocr_authority = models.CharField("签发机关 issuing authority", max_length=60, blank=True, default="")
    ocr_valid_from = models.DateField("有效期起 valid from", null=True, blank=True)
    ocr_valid_until = models.DateField("有效期止 valid until", null=True, blank=True)
    ocr_valid_long_term = models.BooleanField("长期有效 long-term", default=False)
    ocr_raw_text = EncryptedTextField("识别原文 OCR raw text", purpose="customers.kyc.raw_text")
    ocr_confidence = models.FloatField("识别置信度 OCR confidence", null=True, blank=True)
    ocr_seconds = models.FloatField("识别耗时(秒) OCR seconds", null=True, blank=True)

    # face comparison
    face_threshold = models.FloatField("人脸阈值 face threshold", default=0.6)
    face_distance = models.FloatField("人脸距离 face distance", null=True, blank=True)
    face_match = models.BooleanField("人脸一致 face match", null=True, blank=True)
    portrait_face_count = models.PositiveSmallIntegerField("证件照人脸数", null=True, blank=True)
    selfie_face_count = models.PositiveSmallIntegerField("自拍照人脸数", null=True, blank=True)
    face_seconds = models.FloatField("比对耗时(秒) face seconds", null=True, blank=True)

    reviewer = models.ForeignKey(
        "org.Staff",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="kyc_records_reviewed",
        verbose_name="审核人 reviewer",
    )
    reviewed_at = models.DateTimeField("审核时间 reviewed at", null=True, blank=True)
    review_comment = models.CharField("审核意见 review comment", max_length=500, blank=True, default="")

    created_at = models.DateTimeField("创建时间 created at", default=timezone.now)
    submitted_at = models.DateTimeField("提交时间 submitted at", null=True, blank=True)
    processing_started_at = models.DateTimeField("开始识别 processing started", null=True, blank=True)
    processed_at = models.DateTimeField("识别完成 processed at", null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(excluded_fields=["ocr_raw_text", "updated_at"])

    objects = ScopedManager()
    scope = ScopeSpec(institution="customer__institution", branch="customer__branch", assigned="customer__account_manager")

    class Meta:
        verbose_name = "实名认证 KYC record"
        verbose_name_plural = "实名认证 KYC records"
        ordering = ["-id"]
        permissions = [("review_kycrecord", "审核实名认证 / review KYC records")]
        constraints = [
            models.UniqueConstraint(
                fields=["customer"],
                condition=Q(state__in=[s.value for s in OPEN_STATES]),
                name="kyc_one_open_record_per_customer",
            ),
            models.CheckConstraint(condition=Q(face_threshold__gt=0) & Q(face_threshold__lt=2), name="kyc_face_threshold_range"),
            models.CheckConstraint(
                condition=~Q(state__in=["verified", "rejected"]) | Q(processed_at__isnull=False) | Q(reviewed_at__isnull=False),
                name="kyc_decided_has_time",
            ),
        ]
        indexes = [models.Index(fields=["state", "created_at"]), models.Index(fields=["customer", "-id"])]

    def __str__(self):
        return f"KYC#{self.pk} {self.get_state_display()}"

    # --- transitions (called by services only) ---------------------------------------------

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=KycState.CREATED, target=KycState.DOCUMENTS_UPLOADED)
    def submit(self, by=None, description=None):
        """Documents are stored; processing is queued."""

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=[KycState.DOCUMENTS_UPLOADED, KycState.PROCESSING], target=KycState.PROCESSING)
    def start_processing(self, by=None, description=None):
        """A worker picked the record up (again, after a crash: processing is idempotent)."""

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=KycState.PROCESSING, target=KycState.VERIFIED)
    def pass_automatically(self, by=None, description=None):
        """Every automatic check passed."""

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=KycState.PROCESSING, target=KycState.NEEDS_REVIEW)
    def refer(self, by=None, description=None):
        """At least one check failed or could not be made: a person decides."""

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=KycState.NEEDS_REVIEW, target=KycState.VERIFIED, permission="customers.review_kycrecord")
    def approve(self, by=None, description=None):
        """A reviewer confirmed the identity."""

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=KycState.NEEDS_REVIEW, target=KycState.REJECTED, permission="customers.review_kycrecord")
    def reject(self, by=None, description=None):
        """A reviewer refused the identity."""

    # --- derived ------------------------------------------------------------------------------

    @property
    def state_label(self) -> str:
        """The Chinese half of the label, for customer pages."""
        return self.get_state_display().split(" ")[0]

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def is_final(self) -> bool:
        return self.state in (KycState.VERIFIED, KycState.REJECTED)

    @property
    def masked_ocr_id_number(self) -> str:
        return mask_id_number(self.ocr_id_number)

    @property
    def masked_ocr_address(self) -> str:
        return mask_address(self.ocr_address)

    @property
    def blocking_mismatches(self) -> list[dict]:
        return [m for m in self.mismatches if m.get("blocking")]


class KycDocument(models.Model):
    """An uploaded image of a KYC record, re-encoded without metadata and stored privately."""

    class Kind(models.TextChoices):
        ID_FRONT = "id_front", "身份证人像面 ID card, portrait side"
        ID_BACK = "id_back", "身份证国徽面 ID card, emblem side"
        SELFIE = "selfie", "本人自拍照 selfie"
        FIELD_PHOTO = "field_photo", "现场照片 field photo"

    record = models.ForeignKey(KycRecord, on_delete=models.PROTECT, related_name="documents", verbose_name="实名认证")
    kind = models.CharField("类型 kind", max_length=12, choices=Kind.choices)
    file = models.FileField("文件 file", storage=private_storage, upload_to=kyc_document_path, max_length=200)
    sha256 = models.CharField("SHA-256", max_length=64)
    size = models.PositiveIntegerField("字节数 bytes")
    width = models.PositiveIntegerField("宽 width")
    height = models.PositiveIntegerField("高 height")
    source_format = models.CharField("原格式 source format", max_length=10)
    source_bytes = models.PositiveIntegerField("原文件字节数 source bytes")
    uploaded_by_staff = models.ForeignKey(
        "org.Staff", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="上传员工 uploaded by"
    )
    created_at = models.DateTimeField("上传时间 uploaded at", default=timezone.now)

    objects = ScopedManager()
    scope = ScopeSpec(
        institution="record__customer__institution",
        branch="record__customer__branch",
        assigned="record__customer__account_manager",
    )

    class Meta:
        verbose_name = "实名认证影像 KYC document"
        verbose_name_plural = "实名认证影像 KYC documents"
        ordering = ["record", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["record", "kind"], name="kyc_document_one_per_kind"),
            models.CheckConstraint(condition=Q(size__gt=0) & Q(width__gt=0) & Q(height__gt=0), name="kyc_document_dimensions"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} #{self.pk}"

    @property
    def kind_label(self) -> str:
        """The Chinese half of the label, for customer pages."""
        return self.get_kind_display().split(" ")[0]

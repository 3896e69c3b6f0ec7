"""Integrator API for KYC: upload the three images of a customer (base64 in JSON), read the outcome.

POST bodies travel as JSON (the API accepts JSON only) and count against DATA_UPLOAD_MAX_MEMORY_SIZE
(2 MB by default): integrators send phone photos compressed (a 1600-pixel JPEG is ≈ 300 KB).
"""

import base64
import binascii

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from jikuai.api.base import IntegratorAPIView
from jikuai.api.views import ERRORS
from jikuai.core.exceptions import ApplicationError, NotFound
from jikuai.customers.kyc import selectors, services
from jikuai.customers.kyc.models import KycRecord
from jikuai.customers.models import Customer


class KycUploadSerializer(serializers.Serializer):
    id_front = serializers.CharField(help_text="身份证人像面, JPEG/PNG/WebP, base64")
    id_back = serializers.CharField(help_text="身份证国徽面, base64")
    selfie = serializers.CharField(help_text="本人自拍照, base64")


class KycRecordSerializer(serializers.ModelSerializer):
    """The outcome with masked personal data (the integrator already holds the customer's own data)."""

    ocr = serializers.SerializerMethodField()
    face = serializers.SerializerMethodField()

    class Meta:
        model = KycRecord
        fields = [
            "id",
            "state",
            "channel",
            "auto_result",
            "review_reasons",
            "mismatches",
            "ocr",
            "face",
            "submitted_at",
            "processed_at",
            "reviewed_at",
        ]

    def get_ocr(self, record) -> dict:
        return {
            "name": record.ocr_name,
            "gender": record.ocr_gender,
            "ethnicity": record.ocr_ethnicity,
            "birth_date": record.ocr_birth_date.isoformat() if record.ocr_birth_date else None,
            "address": record.masked_ocr_address,
            "id_number": record.masked_ocr_id_number,
            "id_number_valid": record.ocr_id_number_valid,
            "authority": record.ocr_authority,
            "valid_from": record.ocr_valid_from.isoformat() if record.ocr_valid_from else None,
            "valid_until": record.ocr_valid_until.isoformat() if record.ocr_valid_until else None,
            "long_term": record.ocr_valid_long_term,
            "confidence": record.ocr_confidence,
        }

    def get_face(self, record) -> dict:
        return {"distance": record.face_distance, "threshold": record.face_threshold, "match": record.face_match}


def _decode(name: str, value: str) -> bytes:
    text = value.strip()
    if text.startswith("data:") and "," in text:  # a data URL from a browser or mini-program
        text = text.split(",", 1)[1]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ApplicationError(
            f"{name} 不是有效的 base64 编码。", f"{name} is not valid base64.", code="invalid_base64", extra={"field": name}
        )


class CustomerKycView(IntegratorAPIView):
    required_scopes = {"GET": ("kyc:read",), "POST": ("kyc:write",)}

    def _customer(self, customer_id: int) -> Customer:
        customer = Customer.objects.filter(institution=self.institution, pk=customer_id).first()
        if customer is None:
            raise NotFound("客户不存在。", "customer not found")
        return customer

    @extend_schema(responses={200: KycRecordSerializer, **ERRORS}, summary="实名认证结果 latest KYC outcome of a customer")
    def get(self, request, customer_id: int):
        record = selectors.kyc_record_latest_for_customer(customer=self._customer(customer_id))
        if record is None:
            raise NotFound("该客户尚未提交实名认证。", "no KYC record for this customer")
        return Response(KycRecordSerializer(record).data)

    @extend_schema(
        request=KycUploadSerializer,
        responses={202: KycRecordSerializer, **ERRORS},
        summary="提交实名认证影像 upload ID card and selfie; OCR and face comparison run asynchronously",
    )
    def post(self, request, customer_id: int):
        customer = self._customer(customer_id)
        serializer = KycUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        files = {name: _decode(name, serializer.validated_data[name]) for name in ("id_front", "id_back", "selfie")}
        record = services.kyc_submit_documents(customer=customer, channel=KycRecord.Channel.API, **files)
        return Response(KycRecordSerializer(record).data, status=status.HTTP_202_ACCEPTED)

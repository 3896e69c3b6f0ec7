"""Integrator endpoints for contracts (signed, scoped to the caller's institution; POSTs idempotent).

| method | path | scope | |
|---|---|---|---|
| GET | ``contracts/{id}`` | lending:read | metadata: kind, state, terms (masked), hashes, signer, evidence |
| GET | ``contracts/{id}/pdf`` | lending:read | the signed PDF when signed, otherwise the unsigned one |
| POST | ``contracts/verify`` | lending:read | ``{"pdf_base64": …}`` (JSON) or multipart field ``pdf`` |
"""

import base64
import binascii

from django.conf import settings
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.response import Response

from jikuai.api.base import IntegratorAPIView
from jikuai.api.views import ERRORS
from jikuai.core.exceptions import ApplicationError, NotFound
from lending.contracts import services as contracts
from lending.contracts import signing
from lending.models import Contract
from lending.views_contracts import pdf_response


class ContractSerializer(serializers.ModelSerializer):
    application_no = serializers.CharField(source="application.application_no", default=None)
    evidence = serializers.SerializerMethodField()

    class Meta:
        model = Contract
        fields = [
            "id",
            "contract_no",
            "kind",
            "state",
            "customer_id",
            "application_id",
            "application_no",
            "credit_line_id",
            "terms",
            "unsigned_sha256",
            "signed_sha256",
            "signer_subject",
            "signed_at",
            "evidence",
            "created_at",
        ]

    def get_evidence(self, contract) -> dict:
        # the confirmation evidence holds masked values only; the one-time code's row id stays internal
        return {k: v for k, v in (contract.confirmation or {}).items() if k not in ("code_id", "code_sent_at")}


class VerifyRequestSerializer(serializers.Serializer):
    pdf_base64 = serializers.CharField(required=False, help_text="PDF 文件的 Base64（JSON 请求）")
    pdf = serializers.FileField(required=False, help_text="PDF 文件（multipart 请求）")


class VerifyResultSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    intact = serializers.BooleanField()
    signature_valid = serializers.BooleanField()
    trusted = serializers.BooleanField()
    covers_whole_file = serializers.BooleanField()
    revoked = serializers.BooleanField(help_text="签章证书已被吊销 the signing certificate is revoked")
    revoked_at = serializers.DateTimeField(allow_null=True)
    revocation_checked = serializers.BooleanField(help_text="有吊销列表可查 a CRL was available")
    signer_subject = serializers.CharField()
    signer_organisation = serializers.CharField()
    signing_time = serializers.DateTimeField(allow_null=True)
    timestamp_time = serializers.DateTimeField(allow_null=True)
    timestamp_trusted = serializers.BooleanField(allow_null=True)
    level = serializers.CharField()
    document_sha256 = serializers.CharField()
    original_sha256 = serializers.CharField()
    signature_count = serializers.IntegerField()
    evidence = serializers.DictField()
    summary_zh = serializers.CharField()
    summary_en = serializers.CharField()


def _contract(view, contract_id: int) -> Contract:
    contract = contracts.contract_list_for_institution(view.institution.pk).filter(pk=contract_id).first()
    if contract is None:
        raise NotFound("合同不存在。", "contract not found", code="contract_not_found")
    return contract


class ContractDetailView(IntegratorAPIView):
    required_scopes = ("lending:read",)

    @extend_schema(responses={200: ContractSerializer, **ERRORS}, summary="合同信息 contract metadata")
    def get(self, request, contract_id: int):
        return Response(ContractSerializer(_contract(self, contract_id)).data)


class ContractPdfView(IntegratorAPIView):
    required_scopes = ("lending:read",)

    def perform_content_negotiation(self, request, force=False):
        # the PDF itself is a plain HttpResponse; errors stay JSON even for "Accept: application/pdf"
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        responses={(200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY), **ERRORS},
        summary="合同 PDF（已签署则为签章文件） contract PDF, signed when signed",
    )
    def get(self, request, contract_id: int):
        data, filename = contracts.contract_pdf_bytes(_contract(self, contract_id))
        response = pdf_response(data, filename, download=True)
        response["X-Content-SHA256"] = signing.sha256_hex(data)
        return response


class ContractVerifyView(IntegratorAPIView):
    required_scopes = ("lending:read",)
    parser_classes = [JSONParser, MultiPartParser]

    @extend_schema(
        request={"application/json": VerifyRequestSerializer, "multipart/form-data": VerifyRequestSerializer},
        responses={200: VerifyResultSerializer, 413: ERRORS[400], **ERRORS},
        summary="验证合同 PDF 的电子签章 verify a contract PDF",
    )
    def post(self, request):
        upload = request.FILES.get("pdf") if hasattr(request, "FILES") else None
        if upload is not None:
            if upload.size > settings.JIKUAI_CONTRACT_VERIFY_MAX_BYTES:
                raise contracts.FileTooLarge("文件过大。", "the file is too large")
            data = upload.read()
        else:
            encoded = request.data.get("pdf_base64") if hasattr(request.data, "get") else None
            if not encoded or not isinstance(encoded, str):
                raise ApplicationError(
                    "请提供 pdf_base64 或 multipart 文件字段 pdf。",
                    "pdf_base64 or a multipart file pdf is required",
                    code="file_required",
                )
            if len(encoded) > settings.JIKUAI_CONTRACT_VERIFY_MAX_BYTES * 4 // 3 + 4:
                raise contracts.FileTooLarge("文件过大。", "the file is too large")
            try:
                data = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ApplicationError(
                    "pdf_base64 不是有效的 Base64。", "pdf_base64 is not valid base64", code="invalid_base64"
                ) from exc
        return Response(contracts.contract_verify(pdf_bytes=data).as_json())


urlpatterns = [
    path("contracts/verify", ContractVerifyView.as_view(), name="lending-contract-verify"),
    path("contracts/<int:contract_id>", ContractDetailView.as_view(), name="lending-contract-detail"),
    path("contracts/<int:contract_id>/pdf", ContractPdfView.as_view(), name="lending-contract-pdf"),
]

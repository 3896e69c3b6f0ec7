"""Integrator endpoints of origination (signed, idempotent POSTs, scoped to the caller's institution):

| method | path | scope |
|---|---|---|
| GET | ``products`` | lending:read — products on sale to the institution on the API channel |
| POST | ``applications`` | lending:write — create and submit in one call; 201 with the decision |
| GET | ``applications/{id}`` | lending:read — status and decision |

Rates are percentages with two decimals ("3.35" = 3.35 %); money is a string in yuan.
"""

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from jikuai.api.base import IntegratorAPIView
from jikuai.api.pagination import StandardPagination
from jikuai.api.views import ERRORS
from jikuai.core.exceptions import NotFound
from lending import schedule as sched
from lending import selectors_origination as selectors
from lending.models import ApplicationChannel, CreditLine
from lending.services.origination import (
    APPLICATION_INPUTS,
    EMPLOYER_CATEGORIES,
    HOUSEHOLD_APPRAISALS,
    application_apply,
)
from riskrules import facade as rules


def _money(value) -> str | None:
    return None if value is None else f"{value:.2f}"


def _percent(value) -> str | None:
    return None if value is None else sched.fmt_percent(value * 100)


class ProductSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    name_en = serializers.CharField(help_text="英文名称，可为空 / English name, may be empty")
    version = serializers.IntegerField()
    segment = serializers.CharField()
    kind = serializers.CharField(help_text="line 授信额度 / loan 单笔贷款")
    revolving = serializers.BooleanField()
    line_validity_months = serializers.IntegerField()
    description = serializers.CharField()
    description_en = serializers.CharField()
    min_amount = serializers.SerializerMethodField()
    max_amount = serializers.SerializerMethodField()
    term_options = serializers.ListField(child=serializers.IntegerField())
    allowed_methods = serializers.ListField(child=serializers.CharField())
    min_rate = serializers.SerializerMethodField()
    max_rate = serializers.SerializerMethodField()
    lpr_spreads_bp = serializers.DictField(child=serializers.IntegerField())
    required_documents = serializers.ListField(child=serializers.CharField())
    channels = serializers.ListField(child=serializers.CharField())

    def get_min_amount(self, obj) -> str:
        return _money(obj.min_amount)

    def get_max_amount(self, obj) -> str:
        return _money(obj.max_amount)

    def get_min_rate(self, obj) -> str:
        return _percent(obj.min_rate)

    def get_max_rate(self, obj) -> str:
        return _percent(obj.max_rate)


class ApplicationCreateSerializer(serializers.Serializer):
    customer_id = serializers.IntegerField()
    product_code = serializers.CharField(max_length=30)
    amount = serializers.CharField(max_length=20, help_text="元，字符串 yuan as a string")
    term_months = serializers.IntegerField()
    repayment_method = serializers.ChoiceField(choices=sched.Method.ALL)
    purpose = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    declared_monthly_income = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")
    employer_category = serializers.ChoiceField(choices=list(EMPLOYER_CATEGORIES), required=False)
    employment_years = serializers.DecimalField(max_digits=4, decimal_places=1, required=False, min_value=0)
    business_years = serializers.DecimalField(max_digits=4, decimal_places=1, required=False, min_value=0)
    household_appraisal = serializers.ChoiceField(choices=list(HOUSEHOLD_APPRAISALS), required=False)

    def to_internal_value(self, data):
        """The fields above validate every request; a plainly well-formed one (the usual case) is taken as
        it is without building them (DRF deep-copies every declared field per serializer, a twentieth of
        an apply). Anything else — a missing, mistyped, padded or out-of-range value, an optional rule
        input — goes through the fields, so every error is theirs. ``test_well_formed_fast_path_*``
        checks both give the same result."""
        fast = _well_formed_application(data)
        return fast if fast is not None else super().to_internal_value(data)

    def run_validators(self, value):
        """No serializer-wide validators and no read-only fields here, so nothing to run (DRF builds every
        field to look for read-only defaults first)."""
        if self.validators:  # pragma: no cover - none declared
            super().run_validators(value)


_FAST_TEXT = {"product_code": 30, "amount": 20}
_FAST_OPTIONAL_TEXT = {"purpose": 200, "declared_monthly_income": 20}


def _plain_text(value, max_length: int, *, blank: bool) -> bool:
    if type(value) is not str or len(value) > max_length or (not value and not blank) or value != value.strip():
        return False
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")  # lone surrogates: the field refuses them
    except UnicodeEncodeError:
        return False
    return True


def _well_formed_application(data) -> dict | None:
    if type(data) is not dict or not data.keys() <= {
        "customer_id",
        "term_months",
        "repayment_method",
        *_FAST_TEXT,
        *_FAST_OPTIONAL_TEXT,
    }:
        return None
    if type(data.get("customer_id")) is not int or type(data.get("term_months")) is not int:
        return None
    if (
        abs(data["customer_id"]) > 2**53
        or abs(data["term_months"]) > 2**53
        or data.get("repayment_method") not in sched.Method.ALL
    ):
        return None
    if not all(_plain_text(data.get(name), size, blank=False) for name, size in _FAST_TEXT.items()):
        return None
    if not all(_plain_text(data.get(name, ""), size, blank=True) for name, size in _FAST_OPTIONAL_TEXT.items()):
        return None
    return {
        "customer_id": data["customer_id"],
        "product_code": data["product_code"],
        "amount": data["amount"],
        "term_months": data["term_months"],
        "repayment_method": data["repayment_method"],
        "purpose": data.get("purpose", ""),
        "declared_monthly_income": data.get("declared_monthly_income", ""),
    }


_DATETIME = serializers.DateTimeField()  # formatting only (ISO 8601 in the current time zone, as the fields do)
_DATE = serializers.DateField()


class ReasonSerializer(serializers.Serializer):
    code = serializers.CharField()
    text = serializers.CharField()


class ApplicationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    application_no = serializers.CharField()
    state = serializers.CharField()
    customer_id = serializers.IntegerField()
    product_code = serializers.CharField(source="product.code")
    product_version = serializers.IntegerField()
    kind = serializers.CharField()
    channel = serializers.CharField()
    amount_requested = serializers.SerializerMethodField()
    term_months = serializers.IntegerField()
    repayment_method = serializers.CharField()
    purpose = serializers.CharField()
    outcome = serializers.CharField(source="decision_outcome")
    grade = serializers.CharField()
    approved_amount = serializers.SerializerMethodField()
    annual_rate = serializers.SerializerMethodField(help_text="% 年利率")
    apr = serializers.SerializerMethodField(help_text="% 年化利率 (IRR)")
    reasons = serializers.SerializerMethodField()
    decision_ms = serializers.FloatField(allow_null=True)
    submitted_at = serializers.DateTimeField(allow_null=True)
    decided_at = serializers.DateTimeField(allow_null=True)
    expires_on = serializers.DateField(allow_null=True)
    closed_reason = serializers.CharField()
    contract_id = serializers.SerializerMethodField(
        help_text="待签署或已签署的合同；申请提交的应答中为空（合同在审批提交后生成）/ the contract to sign or signed; null in the apply response (prepared after the decision commits)"
    )
    credit_line_id = serializers.SerializerMethodField(help_text="额度已生效时 / once the line is active")

    def to_representation(self, obj) -> dict:
        """Exactly what the fields above produce (they stay the schema), written out: DRF deep-copies all
        26 declared fields for every serializer it instantiates, a tenth of an apply's own time. The test
        ``test_application_representation_is_what_the_declared_fields_give`` holds the two together."""
        return {
            "id": obj.pk,
            "application_no": obj.application_no,
            "state": obj.state,
            "customer_id": obj.customer_id,
            "product_code": obj.product.code,
            "product_version": obj.product_version,
            "kind": obj.kind,
            "channel": obj.channel,
            "amount_requested": self.get_amount_requested(obj),
            "term_months": obj.term_months,
            "repayment_method": obj.repayment_method,
            "purpose": obj.purpose,
            "outcome": obj.decision_outcome,
            "grade": obj.grade,
            "approved_amount": self.get_approved_amount(obj),
            "annual_rate": self.get_annual_rate(obj),
            "apr": self.get_apr(obj),
            "reasons": self.get_reasons(obj),
            "decision_ms": None if obj.decision_ms is None else float(obj.decision_ms),
            "submitted_at": _DATETIME.to_representation(obj.submitted_at) if obj.submitted_at else None,
            "decided_at": _DATETIME.to_representation(obj.decided_at) if obj.decided_at else None,
            "expires_on": _DATE.to_representation(obj.expires_on) if obj.expires_on else None,
            "closed_reason": obj.closed_reason,
            "contract_id": self.get_contract_id(obj),
            "credit_line_id": self.get_credit_line_id(obj),
        }

    def get_amount_requested(self, obj) -> str:
        return _money(obj.amount_requested)

    def get_approved_amount(self, obj) -> str | None:
        return _money(obj.approved_amount)

    def get_annual_rate(self, obj) -> str | None:
        return _percent(obj.annual_rate)

    def get_apr(self, obj) -> str | None:
        return _percent(obj.apr)

    def get_reasons(self, obj) -> list[dict]:
        return [{"code": code, "text": text} for code, text in obj.reasons or []]

    def get_contract_id(self, obj) -> int | None:
        if obj.state in ("draft", "submitted", "deciding", "rejected", "referred") or self.context.get("just_decided"):
            return None  # the contract is prepared once the decision has committed: read the application again
        return obj.contracts.exclude(state="void").order_by("-id").values_list("id", flat=True).first()

    def get_credit_line_id(self, obj) -> int | None:
        if obj.state != "active":
            return None
        return CreditLine.objects.filter(application_id=obj.pk).values_list("id", flat=True).first()


class ProductListView(IntegratorAPIView):
    required_scopes = ("lending:read",)

    @extend_schema(responses={200: ProductSerializer(many=True), **ERRORS}, summary="在售产品 products on offer")
    def get(self, request):
        rows = selectors.product_list_for_institution(self.institution.pk, channel=ApplicationChannel.API)
        paginator = StandardPagination()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response(ProductSerializer(page, many=True).data)


class ApplicationCreateView(IntegratorAPIView):
    required_scopes = ("lending:write",)

    @extend_schema(
        request=ApplicationCreateSerializer,
        responses={201: ApplicationSerializer, **ERRORS},
        summary="提交贷款申请并即时审批 apply and get the decision",
    )
    def post(self, request):
        serializer = ApplicationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        customer = rules.customer_for_decision(data["customer_id"], self.institution.pk)
        if customer is None:
            raise NotFound("客户不存在。", "customer not found", code="customer_not_found", extra={"field": "customer_id"})
        product = selectors.product_on_sale(self.institution.pk, data["product_code"])
        if product is None:
            raise NotFound(
                "产品不存在或未在售。",
                "product not found or not on sale",
                code="product_not_found",
                extra={"field": "product_code"},
            )
        extra = {name: data[name] for name in APPLICATION_INPUTS if data.get(name) is not None}
        answer = {}

        def respond(app):  # inside the apply's transaction: the answer to replay commits with the application
            app.product = product
            answer["data"] = ApplicationSerializer(app, context={"just_decided": True}).data
            self.store_response_in_transaction(status.HTTP_201_CREATED, answer["data"])

        application_apply(  # create + submit + decide, one transaction: a refusal leaves nothing behind
            customer=customer,
            product=product,
            amount=data["amount"],
            term_months=data["term_months"],
            repayment_method=data["repayment_method"],
            channel=ApplicationChannel.API,
            purpose=data.get("purpose", ""),
            declared_monthly_income=data.get("declared_monthly_income") or None,
            extra_inputs=extra,
            on_decided=respond,
        )
        return Response(answer["data"], status=status.HTTP_201_CREATED)


class ApplicationDetailView(IntegratorAPIView):
    required_scopes = ("lending:read",)

    @extend_schema(responses={200: ApplicationSerializer, **ERRORS}, summary="申请状态与审批结果 application status")
    def get(self, request, application_id: int):
        app = selectors.application_list_for_institution(self.institution.pk).filter(pk=application_id).first()
        if app is None:
            raise NotFound("申请不存在。", "application not found", code="application_not_found")
        return Response(ApplicationSerializer(app).data)


urlpatterns = [
    path("products", ProductListView.as_view(), name="lending-products"),
    path("applications", ApplicationCreateView.as_view(), name="lending-applications"),
    path("applications/<int:application_id>", ApplicationDetailView.as_view(), name="lending-application-detail"),
]

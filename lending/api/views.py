"""Integrator endpoints of the loan engine (signed, scoped to the caller's institution)."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from jikuai.api.base import IntegratorAPIView
from jikuai.api.pagination import StandardPagination
from jikuai.api.views import ERRORS
from jikuai.core.exceptions import ApplicationError, NotFound
from lending import schedule as sched
from lending import selectors
from lending.api import serializers as s
from lending.models import Repayment
from lending.services import loan_disbursement_failed, loan_disbursement_settled, repayment_record, repayment_reverse
from lending.services.common import parse_amount


class CustomerLoansView(IntegratorAPIView):
    required_scopes = ("lending:read",)

    @extend_schema(responses={200: s.LoanSerializer(many=True), **ERRORS}, summary="客户的贷款 loans of a customer")
    def get(self, request, customer_id: int):
        queryset = selectors.loan_list_for_institution(self.institution.pk).filter(customer_id=customer_id).order_by("-id")
        paginator = StandardPagination()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(s.LoanSerializer(page, many=True).data)


def _loan(view, loan_id):
    loan = selectors.loan_list_for_institution(view.institution.pk).filter(pk=loan_id).first()
    if loan is None:
        raise NotFound("贷款不存在。", "loan not found", code="loan_not_found")
    return loan


class LoanDetailView(IntegratorAPIView):
    required_scopes = ("lending:read",)

    @extend_schema(responses={200: s.LoanDetailSerializer, **ERRORS}, summary="贷款详情 loan detail")
    def get(self, request, loan_id: int):
        return Response(s.LoanDetailSerializer(_loan(self, loan_id)).data)


class LoanScheduleView(IntegratorAPIView):
    required_scopes = ("lending:read",)

    @extend_schema(responses={200: s.InstallmentSerializer(many=True), **ERRORS}, summary="还款计划 current schedule")
    def get(self, request, loan_id: int):
        loan = _loan(self, loan_id)
        return Response(
            {
                "loan_id": loan.pk,
                "schedule_version": loan.schedule_version,
                "installments": s.InstallmentSerializer(selectors.schedule_for(loan), many=True).data,
            }
        )


class LoanRepaymentsView(IntegratorAPIView):
    required_scopes = ("lending:write",)

    @extend_schema(
        request=s.RepaymentCreateSerializer,
        responses={201: s.RepaymentSerializer, 200: s.RepaymentSerializer, **ERRORS},
        summary="核心系统还款入账（按外部流水号幂等） record a repayment, idempotent by external_id",
    )
    def post(self, request, loan_id: int):
        serializer = s.RepaymentCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        loan = _loan(self, loan_id)
        amount = parse_amount(data["amount"])
        existed = Repayment.objects.filter(institution_id=self.institution.pk, external_id=data["external_id"]).exists()
        repayment = repayment_record(
            loan_id=loan.pk,
            amount=amount,
            channel=Repayment.Channel.CORE_BANKING,
            kind=data["kind"],
            prepayment_option=data.get("prepayment_option") or "",
            external_id=data["external_id"],
            value_date=data.get("value_date"),
            institution_id=self.institution.pk,
        )
        return Response(s.RepaymentSerializer(repayment).data, status=status.HTTP_200_OK if existed else status.HTTP_201_CREATED)


class RepaymentReversalView(IntegratorAPIView):
    required_scopes = ("lending:write",)

    @extend_schema(
        request=s.ReversalSerializer,
        responses={200: s.RepaymentSerializer, **ERRORS},
        summary="还款冲正回调 repayment reversal callback",
    )
    def post(self, request):
        serializer = s.ReversalSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if not data.get("external_id") and not data.get("repayment_id"):
            raise ApplicationError(
                "请提供 external_id 或 repayment_id。", "external_id or repayment_id is required", code="repayment_required"
            )
        repayment = repayment_reverse(
            repayment_id=data.get("repayment_id"),
            external_id=data.get("external_id") or "",
            institution_id=self.institution.pk,
            reason=data["reason"],
        )
        return Response(s.RepaymentSerializer(repayment).data)


class CalculatorView(IntegratorAPIView):
    required_scopes = ("lending:read",)

    @extend_schema(
        request=s.CalculatorSerializer,
        responses={200: s.CalculatorResultSerializer, **ERRORS},
        summary="贷款计算器 loan calculator",
    )
    def post(self, request):
        serializer = s.CalculatorSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        quote = sched.quote(
            method=data["method"],
            principal=parse_amount(data["principal"], field="principal"),
            annual_rate=sched.parse_percent_rate(data["annual_rate"]),
            months=data["months"],
            value_date=data["start"],
            day_basis=int(data["day_basis"]),
            quarterly_interest=data["quarterly"],
            upfront_fee=parse_amount(data["fee"], field="fee", allow_zero=True),
        )
        return Response(quote.as_json())


class DisbursementCallbackView(IntegratorAPIView):
    required_scopes = ("lending:write",)

    @extend_schema(
        request=s.DisbursementCallbackSerializer,
        responses={200: s.LoanSerializer, **ERRORS},
        summary="核心系统放款结果回调 disbursement callback",
    )
    def post(self, request):
        serializer = s.DisbursementCallbackSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if not selectors.loan_list_for_institution(self.institution.pk).filter(disbursement_reference=data["reference"]).exists():
            raise NotFound("放款流水不存在。", "unknown disbursement reference", code="unknown_reference")
        if data["status"] == "settled":
            loan = loan_disbursement_settled(reference=data["reference"], core_reference=data["core_reference"])
        else:
            loan = loan_disbursement_failed(reference=data["reference"], message=data["message"])
        return Response(s.LoanSerializer(loan).data)

"""Integrator endpoints: deposit balances feed, card activations, points for a customer, voucher verification."""

from django.utils import translation
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from jikuai.api.base import IntegratorAPIView
from jikuai.api.pagination import StandardPagination
from jikuai.api.views import ERRORS
from jikuai.core.exceptions import NotFound
from jikuai.customers.models import Customer
from lifestyle import selectors
from lifestyle.api import serializers as s
from lifestyle.models import Merchant
from lifestyle.services import cards, deposits, vouchers


class DepositBalancesView(IntegratorAPIView):
    """Core banking reports end-of-day deposit balances (存款日余额), in batches of up to 5,000 rows."""

    required_scopes = ("deposits:write",)

    @extend_schema(
        request=s.DepositBatchSerializer,
        responses={200: s.DepositBatchResultSerializer, 422: s.DepositBatchResultSerializer, **ERRORS},
        summary="上报存款日余额（批量，按日期+账号幂等） report daily deposit balances",
    )
    def post(self, request):
        serializer = s.DepositBatchSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        report = deposits.deposit_balances_ingest(institution=self.institution, rows=serializer.validated_data["rows"])
        body = report.as_dict()
        # every row refused: nothing was written → 422 with the per-row report
        code = status.HTTP_422_UNPROCESSABLE_ENTITY if report.errors and not (report.accepted or report.duplicates) else 200
        return Response(body, status=code)


class CardActivationsView(IntegratorAPIView):
    required_scopes = ("points:write",)

    @extend_schema(
        request=s.CardActivationSerializer,
        responses={201: s.CardActivationResultSerializer, 200: s.CardActivationResultSerializer, **ERRORS},
        summary="社保卡激活事件 social-security card activated",
    )
    def post(self, request):
        serializer = s.CardActivationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        record, created = cards.card_activation_record(
            institution=self.institution,
            customer_id=data["customer_id"],
            card_ref=data["card_ref"],
            activated_on=data["activated_on"],
        )
        body = {
            "id": record.pk,
            "customer_id": record.customer_id,
            "card_ref": record.card_ref,
            "activated_on": record.activated_on,
            "created": created,
        }
        return Response(s.CardActivationResultSerializer(body).data, status=201 if created else 200)


def _customer(view, customer_id: int) -> Customer:
    customer = Customer.objects.filter(pk=customer_id, institution=view.institution).first()
    if customer is None:
        raise NotFound("客户不存在。", "customer not found")
    return customer


class PointsBalanceView(IntegratorAPIView):
    required_scopes = ("points:read",)

    @extend_schema(responses={200: s.PointsBalanceSerializer, **ERRORS}, summary="客户积分余额 points balance")
    def get(self, request, customer_id: int):
        customer = _customer(self, customer_id)
        summary = selectors.points_summary(customer)
        body = {key: summary[key] for key in ("balance", "pending", "debt", "expiring")}
        return Response(s.PointsBalanceSerializer({"customer_id": customer.pk, **body}).data)


class PointsHistoryView(IntegratorAPIView):
    required_scopes = ("points:read",)

    @extend_schema(responses={200: s.PointsMovementSerializer(many=True), **ERRORS}, summary="客户积分明细 points history")
    def get(self, request, customer_id: int):
        customer = _customer(self, customer_id)
        account = selectors.account_for(customer)
        paginator = StandardPagination()
        if account is None:
            page = paginator.paginate_queryset([], request, view=self)
            return paginator.get_paginated_response([])
        page = paginator.paginate_queryset(selectors.points_history(account), request, view=self)
        # the API speaks both languages (as its errors do): the recorded Chinese reason and its English wording
        with translation.override("en"):
            rows = selectors.history_rows(page)
        movements = [{**row, "reason_en": row["reason"]} for row in rows]
        return paginator.get_paginated_response(s.PointsMovementSerializer(movements, many=True).data)


def _merchant(view, merchant_code: str) -> Merchant:
    merchant = Merchant.objects.filter(code=merchant_code, institution=view.institution).first()
    if merchant is None:
        raise NotFound("商户不存在。", "merchant not found")
    return merchant


class VoucherVerifyView(IntegratorAPIView):
    """A merchant system (收银系统) verifies a voucher: scanned token, or typed code + the customer's OTP."""

    required_scopes = ("merchants:write",)

    @extend_schema(
        request=s.VoucherVerifySerializer,
        responses={200: s.VoucherResultSerializer, **ERRORS},
        summary="核销权益券 verify a voucher",
    )
    def post(self, request, merchant_code: str):
        merchant = _merchant(self, merchant_code)
        serializer = s.VoucherVerifySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        voucher = vouchers.voucher_verify(
            merchant=merchant, user=None, token=data["token"], code=data["code"], otp=data["otp"], channel="api"
        )
        return Response(s.VoucherResultSerializer(voucher).data)


class VoucherOtpView(IntegratorAPIView):
    required_scopes = ("merchants:write",)

    @extend_schema(
        request=s.VoucherOtpSerializer, responses={202: None, **ERRORS}, summary="向客户发送核销验证码 send the customer an OTP"
    )
    def post(self, request, merchant_code: str):
        merchant = _merchant(self, merchant_code)
        serializer = s.VoucherOtpSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        vouchers.voucher_send_otp(merchant=merchant, code=serializer.validated_data["code"])
        return Response({"sent": True}, status=status.HTTP_202_ACCEPTED)

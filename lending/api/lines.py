"""Integrator endpoints of credit lines (signed, scoped to the caller's institution, idempotent POSTs).

| method | path | scope |
|---|---|---|
| GET | ``credit-lines/{id}`` | lending:read |
| POST | ``credit-lines/{id}/drawdowns`` | lending:write — ``{amount, term_months, repayment_method}``; 201 |
| GET | ``drawdowns/{id}`` | lending:read |

A drawdown refused by the checks is an error (nothing changed); a drawdown whose disbursement failed
is created (201) in state ``failed`` with ``failure_reason`` and its hold released; ``disbursing``
means the core system answers later (poll ``drawdowns/{id}``).
"""

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from jikuai.api.base import IntegratorAPIView
from jikuai.api.views import ERRORS
from jikuai.core.exceptions import NotFound
from lending import schedule as sched
from lending import selectors_lines as selectors
from lending.models import ApplicationChannel, CreditLine, Drawdown
from lending.services.lines import drawdown_request


def _money(value) -> str | None:
    return None if value is None else f"{value:.2f}"


class CreditLineSerializer(serializers.ModelSerializer):
    product_code = serializers.CharField(source="product.code")
    limit = serializers.SerializerMethodField()
    used = serializers.SerializerMethodField()
    available = serializers.SerializerMethodField()
    annual_rate = serializers.SerializerMethodField()
    term_options = serializers.ListField(source="product.term_options", child=serializers.IntegerField())
    repayment_methods = serializers.ListField(source="product.allowed_methods", child=serializers.CharField())

    class Meta:
        model = CreditLine
        fields = [
            "id",
            "line_no",
            "customer_id",
            "product_code",
            "limit",
            "used",
            "available",
            "annual_rate",
            "valid_from",
            "valid_until",
            "revolving",
            "state",
            "term_options",
            "repayment_methods",
        ]

    def get_limit(self, obj) -> str:
        return _money(obj.limit)

    def get_used(self, obj) -> str:
        return _money(obj.used)

    def get_available(self, obj) -> str:
        return _money(obj.available)

    def get_annual_rate(self, obj) -> str:
        return sched.fmt_percent(obj.annual_rate * 100)


class DrawdownSerializer(serializers.ModelSerializer):
    line_id = serializers.IntegerField()
    loan_id = serializers.IntegerField(allow_null=True)
    amount = serializers.SerializerMethodField()
    annual_rate = serializers.SerializerMethodField()
    apr = serializers.SerializerMethodField()

    class Meta:
        model = Drawdown
        fields = [
            "id",
            "drawdown_no",
            "line_id",
            "customer_id",
            "amount",
            "term_months",
            "repayment_method",
            "annual_rate",
            "apr",
            "channel",
            "state",
            "loan_id",
            "failure_reason",
            "created_at",
        ]

    def get_amount(self, obj) -> str:
        return _money(obj.amount)

    def get_annual_rate(self, obj) -> str:
        return sched.fmt_percent(obj.annual_rate * 100)

    def get_apr(self, obj) -> str | None:
        return None if obj.apr is None else f"{obj.apr:.2f}"


class DrawdownCreateSerializer(serializers.Serializer):
    amount = serializers.CharField(max_length=20, help_text="元，两位小数的字符串 / yuan as a string")
    term_months = serializers.IntegerField(min_value=1, max_value=360)
    repayment_method = serializers.ChoiceField(choices=sched.Method.ALL)


def _line(view, line_id: int) -> CreditLine:
    line = selectors.credit_line_list_for_institution(view.institution.pk).filter(pk=line_id).first()
    if line is None:
        raise NotFound("授信额度不存在。", "credit line not found", code="credit_line_not_found")
    return line


class CreditLineDetailView(IntegratorAPIView):
    required_scopes = ("lending:read",)

    @extend_schema(responses={200: CreditLineSerializer, **ERRORS}, summary="授信额度详情 credit line detail")
    def get(self, request, line_id: int):
        return Response(CreditLineSerializer(_line(self, line_id)).data)


class CreditLineDrawdownsView(IntegratorAPIView):
    required_scopes = ("lending:write",)

    @extend_schema(
        request=DrawdownCreateSerializer,
        responses={201: DrawdownSerializer, **ERRORS},
        summary="用信（支用）：占用额度、放款 draw down on a credit line",
    )
    def post(self, request, line_id: int):
        serializer = DrawdownCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        line = _line(self, line_id)
        drawdown = drawdown_request(
            line_id=line.pk,
            amount=data["amount"],
            term_months=data["term_months"],
            repayment_method=data["repayment_method"],
            channel=ApplicationChannel.API,
        )
        return Response(DrawdownSerializer(drawdown).data, status=status.HTTP_201_CREATED)


class DrawdownDetailView(IntegratorAPIView):
    required_scopes = ("lending:read",)

    @extend_schema(responses={200: DrawdownSerializer, **ERRORS}, summary="用信详情 drawdown detail")
    def get(self, request, drawdown_id: int):
        drawdown = selectors.drawdown_list_for_institution(self.institution.pk).filter(pk=drawdown_id).first()
        if drawdown is None:
            raise NotFound("用信记录不存在。", "drawdown not found", code="drawdown_not_found")
        return Response(DrawdownSerializer(drawdown).data)


urlpatterns = [
    path("credit-lines/<int:line_id>", CreditLineDetailView.as_view(), name="lending-credit-line-detail"),
    path("credit-lines/<int:line_id>/drawdowns", CreditLineDrawdownsView.as_view(), name="lending-credit-line-drawdowns"),
    path("drawdowns/<int:drawdown_id>", DrawdownDetailView.as_view(), name="lending-drawdown-detail"),
]

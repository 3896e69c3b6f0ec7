"""Integrator endpoints: evaluate a rule set, read a decision with its explanation, list decisions.
Every query is limited to the calling integrator's institution."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response

from jikuai.api.base import IntegratorAPIView
from jikuai.api.pagination import StandardPagination
from jikuai.api.views import ERRORS
from jikuai.core.exceptions import NotFound
from jikuai.customers.models import Customer
from riskrules.api.serializers import DecisionDetailSerializer, DecisionRequestSerializer, DecisionSerializer
from riskrules.features import Subject
from riskrules.presenters import decision_payload
from riskrules.selectors import decisions_for_institution
from riskrules.services.decisions import decision_make


class DecisionCreateView(IntegratorAPIView):
    required_scopes = {"POST": ("decisions:write",)}

    @extend_schema(
        request=DecisionRequestSerializer,
        responses={201: DecisionSerializer, **ERRORS},
        summary="评估规则集 evaluate a rule set",
        description="签名请求 + Idempotency-Key。金额以整数分传入，结果中的额度为元（字符串）。",
    )
    def post(self, request, ruleset_code: str):
        serializer = DecisionRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        customer_id = data["subject"].get("customer_id")
        if customer_id and not Customer.objects.filter(pk=customer_id, institution=self.institution).exists():
            raise NotFound("客户不存在。", "customer not found", extra={"field": "subject.customer_id"})
        subject = Subject(
            kind=data["subject"]["kind"], id=data["subject"]["id"], customer_id=customer_id, institution_id=self.institution.pk
        )
        record = decision_make(
            ruleset_code=ruleset_code,
            subject=subject,
            inputs=data["inputs"],
            channel=data["channel"],
            source=f"api:{self.client.app_id}",
        )
        return Response(decision_payload(record), status=status.HTTP_201_CREATED)


class DecisionListView(IntegratorAPIView):
    required_scopes = {"GET": ("decisions:read",)}

    @extend_schema(
        parameters=[
            OpenApiParameter("subject_kind", str, required=False),
            OpenApiParameter("subject_id", str, required=False),
            OpenApiParameter("ruleset", str, required=False, description="规则集代码"),
        ],
        responses={200: DecisionSerializer(many=True), **ERRORS},
        summary="查询决策 list decisions",
    )
    def get(self, request):
        queryset = decisions_for_institution(
            institution_id=self.institution.pk,
            subject_kind=request.query_params.get("subject_kind") or None,
            subject_id=request.query_params.get("subject_id") or None,
            ruleset_code=request.query_params.get("ruleset") or None,
        )
        paginator = StandardPagination()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response([decision_payload(record) for record in page])


class DecisionDetailView(IntegratorAPIView):
    required_scopes = {"GET": ("decisions:read",)}

    @extend_schema(responses={200: DecisionDetailSerializer, **ERRORS}, summary="决策详情与解释 decision with explanation")
    def get(self, request, decision_id: int):
        record = decisions_for_institution(institution_id=self.institution.pk).filter(pk=decision_id).first()
        if record is None:
            raise NotFound("决策记录不存在。", "decision not found")
        return Response(decision_payload(record, explain=True))

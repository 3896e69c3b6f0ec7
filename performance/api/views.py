"""Signed API for the HR / payroll system (scope performance:read): published periods and their results."""

from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema

from jikuai.api.base import IntegratorAPIView
from jikuai.api.pagination import StandardPagination
from jikuai.api.views import ERRORS
from jikuai.core.exceptions import NotFound
from performance.api.serializers import PeriodSerializer, ResultSerializer
from performance.models import DeferralInstallment, Period, ScoreLine, SubjectResult

VISIBLE = (Period.State.PUBLISHED, Period.State.CALIBRATING, Period.State.FINALISED)


class PeriodListView(IntegratorAPIView):
    required_scopes = ("performance:read",)

    @extend_schema(responses={200: PeriodSerializer(many=True), **ERRORS}, summary="已公示的考核期 published periods")
    def get(self, request):
        queryset = (
            Period.objects.filter(institution=self.institution, state__in=VISIBLE)
            .select_related("scheme", "scheme_version")
            .order_by("-start", "id")
        )
        state = request.query_params.get("state")
        if state:
            queryset = queryset.filter(state=state)
        paginator = StandardPagination()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(PeriodSerializer(page, many=True).data)


class PeriodResultsView(IntegratorAPIView):
    required_scopes = ("performance:read",)

    @extend_schema(responses={200: ResultSerializer(many=True), **ERRORS}, summary="考核结果、排名、等级与激励 scores and ranks")
    def get(self, request, period_id: int):
        period = Period.objects.filter(pk=period_id, institution=self.institution, state__in=VISIBLE).first()
        if period is None:
            raise NotFound("考核期不存在或未公示。", "period not found or not published")
        queryset = (
            SubjectResult.objects.filter(period=period)
            .select_related("staff", "branch", "award")
            .prefetch_related(
                Prefetch("lines", queryset=ScoreLine.objects.select_related("indicator").order_by("item_id")),
                Prefetch("award__installments", queryset=DeferralInstallment.objects.order_by("number")),
            )
            .order_by("peer_group", "peer_rank", "id")
        )
        paginator = StandardPagination()
        page = paginator.paginate_queryset(queryset, request, view=self)
        data = ResultSerializer(page, many=True).data
        response = paginator.get_paginated_response(data)
        response.data["period"] = PeriodSerializer(period).data
        return response

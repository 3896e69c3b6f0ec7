from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response

from jikuai.api.base import IntegratorAPIView
from jikuai.api.pagination import StandardPagination
from jikuai.api.serializers import CustomerCreateSerializer, CustomerSerializer, ErrorSerializer, PingSerializer
from jikuai.core.exceptions import ApplicationError, NotFound
from jikuai.customers import services as customer_services
from jikuai.customers.models import Customer, Region

ERRORS = {
    400: ErrorSerializer,
    401: ErrorSerializer,
    403: ErrorSerializer,
    404: ErrorSerializer,
    409: ErrorSerializer,
    422: ErrorSerializer,
}


class PingView(IntegratorAPIView):
    required_scopes = ()

    @extend_schema(responses={200: PingSerializer, **ERRORS}, summary="连通性检查 signed ping")
    def get(self, request):
        return Response(
            {"pong": True, "app_id": self.client.app_id, "institution": self.institution.code, "server_time": timezone.now()}
        )


def _customers_for(client):
    return Customer.objects.filter(institution=client.institution).select_related("branch", "region")


class CustomerListCreateView(IntegratorAPIView):
    required_scopes = {"GET": ("customers:read",), "POST": ("customers:write",)}

    @extend_schema(
        parameters=[OpenApiParameter("id_number", str, required=True, description="身份证号（通过盲索引查询）")],
        responses={200: CustomerSerializer(many=True), **ERRORS},
        summary="按身份证号查询客户 look up customers by ID number",
    )
    def get(self, request):
        id_number = request.query_params.get("id_number", "")
        if not id_number:
            raise ApplicationError(
                "请提供 id_number 查询参数。", "id_number query parameter is required", code="id_number_required"
            )
        queryset = customer_services.customer_find_by_id_number(
            institution=self.institution, id_number=id_number, queryset=_customers_for(self.client)
        ).order_by("id")
        paginator = StandardPagination()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(CustomerSerializer(page, many=True).data)

    @extend_schema(
        request=CustomerCreateSerializer, responses={201: CustomerSerializer, **ERRORS}, summary="创建客户 create a customer"
    )
    def post(self, request):
        serializer = CustomerCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        branch = None
        if data["branch_code"]:
            branch = self.institution.branches.filter(code=data["branch_code"]).first()
            if branch is None:
                raise ApplicationError(
                    "网点代码不存在。", "unknown branch_code", code="unknown_branch", extra={"field": "branch_code"}
                )
        region = None
        if data["region_code"]:
            region = Region.objects.filter(code=data["region_code"]).first()
            if region is None:
                raise ApplicationError(
                    "区划代码不存在。", "unknown region_code", code="unknown_region", extra={"field": "region_code"}
                )
        customer = customer_services.customer_create(
            institution=self.institution,
            branch=branch,
            region=region,
            name=data["name"],
            id_number=data["id_number"],
            mobile=data["mobile"],
            address=data["address"],
            occupation=data["occupation"],
            employer=data["employer"],
            monthly_income=data["monthly_income"],
            channel=Customer.Channel.API,
        )
        return Response(CustomerSerializer(customer).data, status=status.HTTP_201_CREATED)


class CustomerDetailView(IntegratorAPIView):
    required_scopes = ("customers:read",)

    @extend_schema(responses={200: CustomerSerializer, **ERRORS}, summary="客户详情（脱敏） customer detail, masked")
    def get(self, request, customer_id: int):
        customer = _customers_for(self.client).filter(pk=customer_id).first()
        if customer is None:
            raise NotFound("客户不存在。", "customer not found")
        return Response(CustomerSerializer(customer).data)

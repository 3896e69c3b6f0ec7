"""KYC endpoints, included in /api/v1/ by jikuai/api/urls.py: ``path("", include("jikuai.customers.kyc.api_urls"))``."""

from django.urls import path

from jikuai.customers.kyc import api

urlpatterns = [
    path("customers/<int:customer_id>/kyc", api.CustomerKycView.as_view(), name="customer-kyc"),
]

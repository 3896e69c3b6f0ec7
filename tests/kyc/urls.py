"""The project's URLs plus the KYC API under /api/v1/ (until jikuai/api/urls.py includes it)."""

from django.urls import include, path

from jikuai.urls import urlpatterns as project_urlpatterns

urlpatterns = [path("api/v1/", include("jikuai.customers.kyc.api_urls")), *project_urlpatterns]

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from jikuai.api import views

app_name = "api"

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]), name="schema"),
    path(
        "docs/",
        SpectacularSwaggerView.as_view(url_name="api:schema", authentication_classes=[], permission_classes=[]),
        name="docs",
    ),
    path("ping", views.PingView.as_view(), name="ping"),
    path("customers", views.CustomerListCreateView.as_view(), name="customers"),
    path("customers/<int:customer_id>", views.CustomerDetailView.as_view(), name="customer-detail"),
    path("", include("jikuai.customers.kyc.api_urls")),
    path("", include("riskrules.api.urls")),
    path("", include("lending.api.urls")),
    path("", include("lifestyle.api.urls")),
    path("", include("performance.api.urls")),
]

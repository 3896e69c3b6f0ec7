"""/kyc/: customer pages (own data only: no customer id in these URLs), private images, field upload."""

from django.urls import path

from jikuai.customers.kyc import views

app_name = "kyc"

urlpatterns = [
    path("", views.kyc_home, name="home"),
    path("upload/", views.kyc_upload, name="upload"),
    path("status/", views.kyc_status, name="status"),
    path("documents/<int:document_id>/", views.kyc_document, name="document"),
    path("field/customers/<int:customer_id>/", views.field_kyc, name="field"),
]

"""Customer contract pages and the public verification page (mounted under /loans/contracts/)."""

from django.urls import path

from lending import views_contracts as views

urlpatterns = [
    path("", views.contract_list, name="contract_list"),
    path("verify/", views.contract_verify_page, name="contract_verify"),
    path("<int:contract_id>/", views.contract_detail, name="contract_detail"),
    path("<int:contract_id>/code/", views.contract_send_code, name="contract_send_code"),
    path("<int:contract_id>/sign/", views.contract_sign, name="contract_sign"),
    path("<int:contract_id>/contract.pdf", views.contract_pdf, name="contract_pdf"),
]

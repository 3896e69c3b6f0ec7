from django.urls import include, path

from lending import views

app_name = "lending"

urlpatterns = [
    path("calculator/", views.calculator, name="calculator"),
    path("", views.loan_list, name="list"),
    path("<int:loan_id>/", views.loan_detail, name="detail"),
    path("<int:loan_id>/repayments/", views.repayment_history, name="repayments"),
    path("<int:loan_id>/repay/", views.repay, name="repay"),
    path("<int:loan_id>/prepay/", views.prepay, name="prepay"),
    path("<int:loan_id>/certificate.pdf", views.settlement_certificate, name="certificate"),
    path("", include("lending.urls_origination")),  # issue 5: products, applications, field app
    path("contracts/", include("lending.urls_contracts")),
    path("review/", include("lending.urls_review")),
    path("lines/", include("lending.urls_lines")),
]

from django.urls import include, path

from lending.api import lines, views

urlpatterns = [
    path("customers/<int:customer_id>/loans", views.CustomerLoansView.as_view(), name="lending-customer-loans"),
    path("loans/<int:loan_id>", views.LoanDetailView.as_view(), name="lending-loan-detail"),
    path("loans/<int:loan_id>/schedule", views.LoanScheduleView.as_view(), name="lending-loan-schedule"),
    path("loans/<int:loan_id>/repayments", views.LoanRepaymentsView.as_view(), name="lending-loan-repayments"),
    path("repayments/reversals", views.RepaymentReversalView.as_view(), name="lending-repayment-reversal"),
    path("calculator/schedule", views.CalculatorView.as_view(), name="lending-calculator"),
    path("corebanking/disbursements/callback", views.DisbursementCallbackView.as_view(), name="lending-disbursement-callback"),
    path("", include("lending.api.contracts")),
]

from lending.api.origination import urlpatterns as origination_urlpatterns  # noqa: E402  (issue 5)

urlpatterns += origination_urlpatterns
urlpatterns += lines.urlpatterns

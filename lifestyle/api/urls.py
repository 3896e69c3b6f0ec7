from django.urls import path

from lifestyle.api import views

urlpatterns = [
    path("deposits/daily-balances", views.DepositBalancesView.as_view(), name="lifestyle-deposit-balances"),
    path("events/card-activations", views.CardActivationsView.as_view(), name="lifestyle-card-activations"),
    path("points/customers/<int:customer_id>/balance", views.PointsBalanceView.as_view(), name="lifestyle-points-balance"),
    path("points/customers/<int:customer_id>/history", views.PointsHistoryView.as_view(), name="lifestyle-points-history"),
    path("merchants/<str:merchant_code>/vouchers/verify", views.VoucherVerifyView.as_view(), name="lifestyle-voucher-verify"),
    path("merchants/<str:merchant_code>/vouchers/otp", views.VoucherOtpView.as_view(), name="lifestyle-voucher-otp"),
]

from django.urls import path

from lifestyle import fieldviews, portal, views

app_name = "lifestyle"

urlpatterns = [
    # customer pages (/life/...)
    path("", views.home, name="home"),
    path("points/", views.points, name="points"),
    path("checkin/", views.checkin, name="checkin"),
    path("mall/", views.mall, name="mall"),
    path("mall/<int:benefit_id>/", views.benefit_detail, name="benefit"),
    path("vouchers/", views.voucher_list, name="vouchers"),
    path("vouchers/<int:voucher_id>/", views.voucher_detail, name="voucher"),
    path("vouchers/<int:voucher_id>/qr/", views.voucher_qr, name="voucher_qr"),
    path("merchants/", views.merchant_directory, name="merchants"),
    path("activities/", views.activity_list, name="activities"),
    path("activities/<int:activity_id>/signup/", views.activity_signup, name="activity_signup"),
    path("activities/<int:activity_id>/checkin/", views.activity_checkin, name="activity_checkin"),
    path("referral/", views.referral, name="referral"),
    path("r/<str:code>/", views.referral_landing, name="referral_landing"),
    # merchant portal (/life/merchant/...)
    path("merchant/login/", portal.portal_login, name="portal_login"),
    path("merchant/logout/", portal.portal_logout, name="portal_logout"),
    path("merchant/", portal.portal_home, name="portal_home"),
    path("merchant/<int:merchant_id>/", portal.portal_merchant, name="portal_merchant"),
    path("merchant/<int:merchant_id>/verify/", portal.portal_verify, name="portal_verify"),
    path("merchant/<int:merchant_id>/redemptions/", portal.portal_redemptions, name="portal_redemptions"),
    path("merchant/<int:merchant_id>/statements/", portal.portal_statements, name="portal_statements"),
    path("merchant/<int:merchant_id>/statements/<int:batch_id>/pdf/", portal.portal_statement_pdf, name="portal_statement_pdf"),
    path(
        "merchant/<int:merchant_id>/statements/<int:batch_id>/answer/",
        portal.portal_statement_answer,
        name="portal_statement_answer",
    ),
    # staff field pages
    path("staff/activities/<int:activity_id>/qr/", fieldviews.activity_qr, name="field_activity_qr"),
    path("staff/activities/<int:activity_id>/confirm/", fieldviews.activity_confirm, name="field_activity_confirm"),
]

from django.urls import path

from jikuai.web import views

app_name = "web"

urlpatterns = [
    path("", views.home, name="home"),
    # customer accounts (no customer id in any URL: a customer only ever sees their own data)
    path("register/", views.register, name="register"),
    path("register/confirm/", views.register_confirm, name="register_confirm"),
    path("login/", views.login_view, name="login"),
    path("login/code/", views.otp_login, name="otp_login"),
    path("login/code/send/", views.otp_send, name="otp_send"),
    path("password/reset/", views.reset_password, name="reset_password"),
    path("logout/", views.logout_view, name="logout"),
    path("profile/", views.profile, name="profile"),
    path("profile/edit/", views.profile_edit, name="profile_edit"),
    path("profile/password/", views.password_change, name="password_change"),
    path("profile/consents/<int:consent_id>/withdraw/", views.consent_withdraw, name="consent_withdraw"),
    path("profile/consents/give/<str:purpose>/", views.consent_give, name="consent_give"),
    # staff field app (移动展业) entry, after a staff login through /admin/login/
    path("field/", views.field_home, name="field"),
]

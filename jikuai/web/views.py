"""Site shell: home, health check, customer accounts (register, log in, reset, profile) and the staff
field-app entry. Views parse input, call one service from ``jikuai.customers.accounts`` and render.

Customer sessions live under their own session keys (``jikuai.web.middleware``) and never log in a staff
user; staff pages use ``request.user`` from the admin login and ignore customer sessions.
"""

import time

from django.conf import settings
from django.contrib import messages
from django.core.cache import cache
from django.db import connection
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from jikuai.core.exceptions import ApplicationError, NotFound
from jikuai.customers import accounts
from jikuai.customers.accounts import PendingRegistration
from jikuai.customers.models import Consent, Customer, OneTimeCode
from jikuai.org.scoping import scope_for, scope_queryset
from jikuai.web import forms
from jikuai.web.decorators import customer_required, staff_required
from jikuai.web.middleware import CUSTOMER_SESSION_KEY, CUSTOMER_SESSION_VERSION_KEY

PENDING_REGISTRATION_KEY = "_jikuai_pending_registration"


# --- health ---------------------------------------------------------------------------------------------


def _check(fn):
    started = time.perf_counter()
    try:
        detail = fn()
        return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1), **(detail or {})}
    except Exception as exc:  # health reports the failure instead of raising
        return {"ok": False, "error": exc.__class__.__name__}


def _database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"vendor": connection.vendor}


def _cache():
    cache.set("healthz", "1", 5)
    if cache.get("healthz") != "1":
        raise RuntimeError("cache read-back failed")
    return {"backend": settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]}


def _broker():
    if not settings.REDIS_URL:
        return {"mode": "eager"}
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    client.ping()
    return {"mode": "redis"}


def not_found(request, exception=None):
    """404: integrators under /api/ get the API's JSON error shape; people get the site's page."""
    if request.path.startswith("/api/"):
        return JsonResponse({"code": "not_found", "detail": "接口不存在 / no such endpoint"}, status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


@require_GET
@never_cache
def healthz(request):
    checks = {"database": _check(_database), "cache": _check(_cache), "broker": _check(_broker)}
    healthy = all(check["ok"] for check in checks.values())
    return JsonResponse({"status": "ok" if healthy else "degraded", "checks": checks}, status=200 if healthy else 503)


@require_GET
def version(request):
    """Plain JSON: what is deployed (no database, no session). Also the baseline of the API benchmarks."""
    return JsonResponse({"service": "jikuai", "version": settings.JIKUAI_VERSION})


def home(request):
    return render(request, "web/home.html")


# --- helpers --------------------------------------------------------------------------------------------


def _client_ip(request) -> str | None:
    # REMOTE_ADDR only: a reverse proxy in front must set it (X-Forwarded-For is spoofable)
    return request.META.get("REMOTE_ADDR") or None


def _error_text(exc: ApplicationError) -> str:
    return exc.message_en if (get_language() or "").startswith("en") else exc.message_zh


FIELD_ALIASES = {"password": "password1"}


def _add_service_error(form, exc: ApplicationError) -> None:
    field = exc.extra.get("field")
    field = FIELD_ALIASES.get(field, field)
    form.add_error(field if field in form.fields else None, _error_text(exc))


def _next_url(request, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return default


def _start_customer_session(request, customer: Customer) -> None:
    """Log the customer in: a fresh session key (no fixation), the customer id and the password version.
    A staff login that may share the browser is left as it is; it does not become a customer login."""
    request.session.cycle_key()
    request.session.pop(PENDING_REGISTRATION_KEY, None)
    request.session[CUSTOMER_SESSION_KEY] = customer.pk
    request.session[CUSTOMER_SESSION_VERSION_KEY] = customer.password[-16:]
    request.customer = customer


def _end_customer_session(request) -> None:
    for key in (CUSTOMER_SESSION_KEY, CUSTOMER_SESSION_VERSION_KEY, PENDING_REGISTRATION_KEY):
        request.session.pop(key, None)
    request.session.cycle_key()
    request.customer = None


def _redirect_logged_in(request):
    return HttpResponseRedirect(_next_url(request, reverse("web:profile")))


# --- registration ---------------------------------------------------------------------------------------


@never_cache
@require_http_methods(["GET", "POST"])
def register(request):
    if request.customer:
        return _redirect_logged_in(request)
    form = forms.RegisterForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            pending = accounts.registration_start(
                institution=data["institution"],
                name=data["name"],
                id_number=data["id_number"],
                mobile=data["mobile"],
                password=data["password1"],
                consent_given=data["consent"],
                ip_address=_client_ip(request),
            )
        except ApplicationError as exc:
            _add_service_error(form, exc)
        else:
            request.session[PENDING_REGISTRATION_KEY] = pending.seal()
            messages.success(
                request,
                _("验证码已发送至 %(mobile)s，请在%(minutes)s分钟内输入。")
                % {"mobile": pending.masked_mobile, "minutes": max(1, settings.OTP_TTL_SECONDS // 60)},
            )
            return redirect("web:register_confirm")
    return render(
        request, "web/register.html", {"form": form, "consent_version": accounts.CONSENT_TEXT_VERSIONS["personal_info"]}
    )


@never_cache
@require_http_methods(["GET", "POST"])
def register_confirm(request):
    if request.customer:
        return _redirect_logged_in(request)
    pending = PendingRegistration.unseal(request.session.get(PENDING_REGISTRATION_KEY))
    if pending is None:
        request.session.pop(PENDING_REGISTRATION_KEY, None)
        messages.warning(request, _("注册信息已失效，请重新填写。"))
        return redirect("web:register")
    form = forms.RegisterConfirmForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        if request.POST.get("action") == "resend":
            try:
                accounts.registration_resend_code(pending=pending, ip_address=_client_ip(request))
            except ApplicationError as exc:
                _add_service_error(form, exc)
            else:
                messages.success(request, _("验证码已重新发送至 %(mobile)s。") % {"mobile": pending.masked_mobile})
                return redirect("web:register_confirm")
        elif not form.cleaned_data["code"]:
            form.add_error("code", _("请输入短信验证码。"))
        else:
            try:
                customer = accounts.registration_complete(
                    pending=pending, code=form.cleaned_data["code"], ip_address=_client_ip(request)
                )
            except ApplicationError as exc:
                _add_service_error(form, exc)
            else:
                _start_customer_session(request, customer)
                messages.success(request, _("注册成功，欢迎使用吉快金融。"))
                return redirect("web:profile")
    return render(request, "web/register_confirm.html", {"form": form, "pending": pending})


# --- login, logout, reset -------------------------------------------------------------------------------


@never_cache
@require_http_methods(["GET", "POST"])
def login_view(request):
    if request.customer:
        return _redirect_logged_in(request)
    form = forms.LoginForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            customer = accounts.customer_login_password(
                mobile=form.cleaned_data["mobile"], password=form.cleaned_data["password"]
            )
        except ApplicationError as exc:
            form.add_error(None, _error_text(exc))
        else:
            _start_customer_session(request, customer)
            return _redirect_logged_in(request)
    return render(request, "web/login.html", {"form": form, "next": _next_url(request, "")})


@never_cache
@require_http_methods(["GET", "POST"])
def otp_login(request):
    if request.customer:
        return _redirect_logged_in(request)
    form = forms.CodeLoginForm(request.POST if request.method == "POST" else None)
    sent = False
    if request.method == "POST" and form.is_valid():
        mobile, code = form.cleaned_data["mobile"], form.cleaned_data["code"]
        if request.POST.get("action") == "send":
            try:
                accounts.login_code_request(mobile=mobile, ip_address=_client_ip(request))
            except ApplicationError as exc:
                _add_service_error(form, exc)
            else:
                sent = True
        elif not code:
            form.add_error("code", _("请输入短信验证码。"))
        else:
            try:
                customer = accounts.customer_login_code(mobile=mobile, code=code)
            except ApplicationError as exc:
                _add_service_error(form, exc)
            else:
                _start_customer_session(request, customer)
                return _redirect_logged_in(request)
    return render(request, "web/otp_login.html", {"form": form, "sent": sent, "next": _next_url(request, "")})


@never_cache
@require_http_methods(["GET", "POST"])
def reset_password(request):
    sending = request.method == "POST" and request.POST.get("action") == "send"
    form = forms.ResetPasswordForm(request.POST if request.method == "POST" else None, sending=sending)
    sent = False
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if sending:
            try:
                accounts.reset_code_request(mobile=data["mobile"], ip_address=_client_ip(request))
            except ApplicationError as exc:
                _add_service_error(form, exc)
            else:
                sent = True
        elif not data["code"]:
            form.add_error("code", _("请输入短信验证码。"))
        else:
            try:
                accounts.customer_reset_password(mobile=data["mobile"], code=data["code"], new_password=data["password1"])
            except ApplicationError as exc:
                _add_service_error(form, exc)
            else:
                if request.customer:
                    _end_customer_session(request)
                messages.success(request, _("密码已重置，请使用新密码登录。"))
                return redirect("web:login")
    return render(request, "web/reset_password.html", {"form": form, "sent": sent})


@require_POST
def otp_send(request):
    """htmx helper behind the "get code" buttons: sends a login or reset code and answers with a status
    fragment. Without JavaScript the buttons post the whole form to its own page instead."""
    purpose = request.POST.get("purpose")
    senders = {
        OneTimeCode.Purpose.LOGIN: accounts.login_code_request,
        OneTimeCode.Purpose.RESET_PASSWORD: accounts.reset_code_request,
    }
    if purpose not in senders:
        raise Http404
    try:
        senders[purpose](mobile=request.POST.get("mobile", ""), ip_address=_client_ip(request))
    except ApplicationError as exc:
        return render(request, "web/_otp_status.html", {"error": _error_text(exc)}, status=exc.status)
    return render(request, "web/_otp_status.html", {"sent": True})


@require_POST
def logout_view(request):
    _end_customer_session(request)
    messages.success(request, _("您已安全退出。"))
    return redirect("web:home")


# --- profile --------------------------------------------------------------------------------------------

KYC_LABELS = {
    Customer.KycStatus.NONE: (gettext_lazy("未认证"), "badge-warn"),
    Customer.KycStatus.PENDING: (gettext_lazy("认证中"), ""),
    Customer.KycStatus.VERIFIED: (gettext_lazy("已认证"), "badge-ok"),
    Customer.KycStatus.REJECTED: (gettext_lazy("认证失败"), "badge-danger"),
}
CONSENT_LABELS = {
    Consent.Purpose.CREDIT_REPORT: gettext_lazy("征信查询授权"),
    Consent.Purpose.PERSONAL_INFO: gettext_lazy("个人信息处理授权"),
    Consent.Purpose.MARKETING: gettext_lazy("营销信息授权"),
}


def _kyc_label(status):
    return KYC_LABELS.get(status, (status, ""))


@never_cache
@require_GET
@customer_required
def profile(request):
    customer = request.customer
    consents = [
        {
            "consent": consent,
            "label": CONSENT_LABELS.get(consent.purpose, consent.purpose),
            "withdrawable": consent.is_active and consent.purpose in accounts.WEB_MANAGED_CONSENTS,
        }
        for consent in accounts.customer_consents(customer=customer)
    ]
    active = {row["consent"].purpose for row in consents if row["consent"].is_active}
    grantable = [(purpose, CONSENT_LABELS[purpose]) for purpose in accounts.WEB_MANAGED_CONSENTS if purpose not in active]
    kyc_label, kyc_css = _kyc_label(customer.kyc_status)
    return render(
        request,
        "web/profile.html",
        {
            "customer": customer,
            "occupation_label": forms.OCCUPATION_LABELS.get(customer.occupation, customer.occupation),
            "kyc_label": kyc_label,
            "kyc_css": kyc_css,
            "consents": consents,
            "grantable": grantable,
        },
    )


@never_cache
@require_http_methods(["GET", "POST"])
@customer_required
def profile_edit(request):
    customer = request.customer
    initial = {
        "address": customer.address,
        "occupation": customer.occupation,
        "employer": customer.employer,
        "monthly_income": customer.monthly_income,
    }
    form = forms.ProfileForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            accounts.customer_profile_update(customer=customer, **form.cleaned_data)
        except ApplicationError as exc:
            _add_service_error(form, exc)
        else:
            messages.success(request, _("个人资料已保存。"))
            return redirect("web:profile")
    return render(request, "web/profile_edit.html", {"form": form})


@never_cache
@require_http_methods(["GET", "POST"])
@customer_required
def password_change(request):
    form = forms.PasswordChangeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            customer = accounts.customer_change_password(
                customer=request.customer,
                old_password=form.cleaned_data["old_password"],
                new_password=form.cleaned_data["password1"],
            )
        except ApplicationError as exc:
            _add_service_error(form, exc)
        else:
            # this session stays logged in with the new password version; every other session ends
            _start_customer_session(request, customer)
            messages.success(request, _("密码已修改。"))
            return redirect("web:profile")
    return render(request, "web/password_change.html", {"form": form})


@require_POST
@customer_required
def consent_withdraw(request, consent_id: int):
    try:
        accounts.customer_consent_withdraw(customer=request.customer, consent_id=consent_id)
    except NotFound as exc:
        raise Http404 from exc
    except ApplicationError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, _("授权已撤回，撤回记录已保存。"))
    return redirect("web:profile")


@require_POST
@customer_required
def consent_give(request, purpose: str):
    if purpose not in accounts.WEB_MANAGED_CONSENTS:
        raise Http404
    accounts.customer_consent_grant(customer=request.customer, purpose=purpose, ip_address=_client_ip(request))
    messages.success(request, _("授权已记录。"))
    return redirect("web:profile")


# --- staff field app ------------------------------------------------------------------------------------

FIELD_LIST_SIZE = 20


@never_cache
@require_GET
@staff_required
def field_home(request):
    """Mobile entry for account managers (移动展业) after a staff login: who they are, and the customers
    they may see (scoped like every admin list), masked, with links into the admin."""
    user = request.user
    staff = getattr(user, "staff", None) if hasattr(user, "staff") else None
    customers = scope_queryset(Customer.objects.all(), user)
    recent = [
        {"customer": customer, "kyc": _kyc_label(customer.kyc_status)}
        for customer in customers.select_related("branch", "institution").order_by("-id")[:FIELD_LIST_SIZE]
    ]
    return render(
        request,
        "web/field.html",
        {
            "staff": staff,
            "roles": list(user.groups.order_by("name").values_list("name", flat=True)),
            "scope": scope_for(user),
            "customer_count": customers.count(),
            "rows": recent,
        },
    )

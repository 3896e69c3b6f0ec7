"""Customer pages of 吉快·漫生活 (mobile first, work without JavaScript; htmx only refreshes the voucher QR).

Views parse input, call one service or selector and render. The logged-in customer is ``request.customer``; no
customer id ever appears in a URL, and a voucher of someone else answers 404.
"""

import secrets

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from jikuai.core.exceptions import ApplicationError
from jikuai.customers.models import Region
from jikuai.web.decorators import customer_required
from lifestyle import selectors
from lifestyle.models import Activity, ActivitySignup, Merchant, Voucher
from lifestyle.qr import qr_svg
from lifestyle.services import community, referrals, vouchers

DEVICE_COOKIE = "jk_dev"
REFERRAL_SESSION_KEY = "_lifestyle_referral_code"


def _me(request):
    customer = request.customer
    bool(customer)  # evaluate the lazy object
    return getattr(customer, "_wrapped", customer)


def _device_id(request) -> str:
    raw = request.COOKIES.get(DEVICE_COOKIE, "")
    return raw if 16 <= len(raw) <= 64 and raw.isalnum() else ""


def _render(request, template: str, context: dict, *, status: int = 200):
    """Render and keep a long-lived device cookie, recording (customer, device) for same-device referral checks."""
    response = render(request, template, context, status=status)
    device = _device_id(request)
    if not device:
        device = secrets.token_hex(16)
        response.set_cookie(
            DEVICE_COOKIE, device, max_age=3 * 365 * 24 * 3600, httponly=True, samesite="Lax", secure=request.is_secure()
        )
    if request.customer:
        referrals.device_seen(customer_id=request.customer.pk, raw_device_id=device)
    return response


def _error(request, exc: ApplicationError) -> None:
    messages.error(request, exc.message_en if (get_language() or "").startswith("en") else exc.message_zh)


@customer_required
@require_GET
def home(request):
    customer = _me(request)
    summary = selectors.points_summary(customer)
    return _render(
        request,
        "lifestyle/home.html",
        {
            "summary": summary,
            "checkin": community.checkin_status(customer),
            "benefits": list(selectors.benefits_for_customer(customer)[:4]),
            "vouchers_open": selectors.vouchers_for_customer(customer).filter(status=Voucher.Status.ISSUED).count(),
        },
    )


@customer_required
@require_GET
def points(request):
    customer = _me(request)
    summary = selectors.points_summary(customer)
    page = None
    if summary["account"] is not None:
        paginator = Paginator(selectors.points_history(summary["account"]), 30)
        page = paginator.get_page(request.GET.get("page"))
        page.rows = selectors.history_rows(page.object_list)
    return _render(request, "lifestyle/points.html", {"summary": summary, "page": page})


@customer_required
@require_POST
def checkin(request):
    try:
        record, results = community.checkin(customer=_me(request))
    except ApplicationError as exc:
        _error(request, exc)
    else:
        earned = sum(result.points for result in results)
        if earned:
            text = _("签到成功，已连续签到 %(days)s 天，获得 %(points)s 积分。") % {"days": record.streak, "points": earned}
        else:
            text = _("签到成功，已连续签到 %(days)s 天。") % {"days": record.streak}
        messages.success(request, text)
    return redirect("lifestyle:home")


@customer_required
@require_GET
def mall(request):
    customer = _me(request)
    return _render(
        request,
        "lifestyle/mall.html",
        {"benefits": selectors.benefits_for_customer(customer), "balance": selectors.points_summary(customer)["balance"]},
    )


@customer_required
@require_http_methods(["GET", "POST"])
def benefit_detail(request, benefit_id: int):
    customer = _me(request)
    benefit = selectors.benefits_for_customer(customer).filter(pk=benefit_id).first()
    if benefit is None:
        raise Http404(_("权益不存在"))
    if request.method == "POST":
        try:
            voucher = vouchers.voucher_issue(
                customer=customer, benefit_id=benefit.pk, request_token=request.POST.get("request_token", "")
            )
        except ApplicationError as exc:
            _error(request, exc)
            return redirect("lifestyle:benefit", benefit_id=benefit.pk)
        messages.success(
            request, _("兑换成功，消耗 %(points)s 积分。请在有效期内到商户出示二维码。") % {"points": voucher.points}
        )
        return redirect("lifestyle:voucher", voucher_id=voucher.pk)
    return _render(
        request,
        "lifestyle/benefit.html",
        {
            "benefit": benefit,
            "balance": selectors.points_summary(customer)["balance"],
            "request_token": vouchers.new_request_token(),
            "merchants": benefit.merchants.filter(state=Merchant.State.ACTIVE).select_related("region"),
        },
    )


@customer_required
@require_GET
def voucher_list(request):
    return _render(request, "lifestyle/vouchers.html", {"vouchers": selectors.vouchers_for_customer(_me(request))})


def _own_voucher(request, voucher_id: int) -> Voucher:
    voucher = selectors.vouchers_for_customer(_me(request)).filter(pk=voucher_id).first()
    if voucher is None:
        raise Http404(_("券不存在"))
    return voucher


def _qr_context(voucher: Voucher) -> dict:
    if voucher.status != Voucher.Status.ISSUED or voucher.expires_at <= timezone.now():
        return {"voucher": voucher, "qr": None}
    token = vouchers.voucher_qr_token(voucher=voucher)
    return {
        "voucher": voucher,
        "qr": qr_svg(token.value),
        "qr_expires_at": token.expires_at,
        "refresh_seconds": vouchers.TOKEN_TTL_SECONDS // 2,
    }


@customer_required
@require_GET
def voucher_detail(request, voucher_id: int):
    voucher = _own_voucher(request, voucher_id)
    return _render(request, "lifestyle/voucher.html", _qr_context(voucher))


@customer_required
@require_GET
def voucher_qr(request, voucher_id: int):
    """htmx fragment: a fresh token every poll (the QR in the page is valid for one minute)."""
    voucher = _own_voucher(request, voucher_id)
    response = render(request, "lifestyle/_voucher_qr.html", _qr_context(voucher))
    response["Cache-Control"] = "no-store"
    return response


@customer_required
@require_GET
def merchant_directory(request):
    customer = _me(request)
    region_code = request.GET.get("region", "")
    if region_code == "" and customer.region_id and "region" not in request.GET:
        region_code = customer.region.code[:9] if len(customer.region.code) >= 9 else customer.region.code
    category = request.GET.get("category", "")
    if category not in Merchant.Category.values:
        category = ""
    merchants = selectors.merchants_directory(institution_id=customer.institution_id, region_code=region_code, category=category)
    region_ids = Merchant.objects.filter(institution_id=customer.institution_id, state=Merchant.State.ACTIVE).values("region_id")
    regions = Region.objects.filter(pk__in=region_ids).order_by("code")
    return _render(
        request,
        "lifestyle/merchants.html",
        {
            "merchants": merchants[:200],
            "regions": regions,
            "region_code": region_code,
            "category": category,
            "categories": Merchant.Category.choices,
        },
    )


@customer_required
@require_GET
def activity_list(request):
    customer = _me(request)
    activities = list(community.activities_for_customer(customer))
    mine = set(ActivitySignup.objects.filter(customer=customer, activity__in=activities).values_list("activity_id", flat=True))
    return _render(
        request,
        "lifestyle/activities.html",
        {"activities": activities, "mine": mine, "boards": community.leaderboards(institution_id=customer.institution_id)},
    )


@customer_required
@require_POST
def activity_signup(request, activity_id: int):
    try:
        community.activity_signup(customer=_me(request), activity_id=activity_id)
    except ApplicationError as exc:
        _error(request, exc)
    else:
        messages.success(request, _("报名成功，请按时到场扫码签到。"))
    return redirect("lifestyle:activities")


@customer_required
@require_http_methods(["GET", "POST"])
def activity_checkin(request, activity_id: int):
    """The venue QR opens this page; the customer confirms with a button (a GET never changes anything)."""
    customer = _me(request)
    activity = Activity.objects.filter(pk=activity_id, institution_id=customer.institution_id).first()
    if activity is None:
        raise Http404(_("活动不存在"))
    token = request.POST.get("t") or request.GET.get("t", "")
    if request.method == "POST":
        try:
            community.activity_checkin(customer=customer, activity_id=activity.pk, token=token)
        except ApplicationError as exc:
            _error(request, exc)
        else:
            messages.success(request, _("签到成功，组织人确认后积分到账。"))
            return redirect("lifestyle:activities")
    return _render(request, "lifestyle/activity_checkin.html", {"activity": activity, "token": token})


@customer_required
@require_http_methods(["GET", "POST"])
def referral(request):
    customer = _me(request)
    if request.method == "POST":
        try:
            referrals.referral_bind(customer=customer, code=request.POST.get("code", ""), raw_device_id=_device_id(request))
        except ApplicationError as exc:
            _error(request, exc)
        else:
            request.session.pop(REFERRAL_SESSION_KEY, None)
            messages.success(request, _("绑定推荐人成功。"))
        return redirect("lifestyle:referral")
    link = request.build_absolute_uri(reverse("lifestyle:referral_landing", args=[customer.referral_code]))
    return _render(
        request,
        "lifestyle/referral.html",
        {
            "code": customer.referral_code,
            "link": link,
            "qr": qr_svg(link, scale=4),
            "invitees": referrals.invitees_of(customer),
            "binding": getattr(customer, "referral_binding", None) if hasattr(customer, "referral_binding") else None,
            "pending_code": request.session.get(REFERRAL_SESSION_KEY, ""),
        },
    )


@require_GET
def referral_landing(request, code: str):
    """Where a referral QR points. Anonymous visitors keep the code in the session and are sent to register."""
    referrer = referrals.referrer_for_code(code)
    if referrer is None:
        raise Http404(_("推荐码不存在"))
    request.session[REFERRAL_SESSION_KEY] = code.upper()
    if request.customer:
        return redirect("lifestyle:referral")
    return _render(request, "lifestyle/referral_landing.html", {"code": code.upper()})

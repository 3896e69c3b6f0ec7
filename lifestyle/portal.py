"""Merchant portal (商户端, mobile pages under /life/merchant/): log in, verify vouchers (camera scan where the
browser has BarcodeDetector, typed code + customer OTP otherwise), today's redemptions, statements.

Merchant staff are login users without a Staff profile; what they may reach comes only from guardian grants on
their merchant. Another merchant's data answers 404.
"""

import io
from functools import wraps
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.forms import AuthenticationForm
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from jikuai.core.exceptions import ApplicationError
from lifestyle.models import SettlementBatch, Voucher
from lifestyle.services import merchants as merchant_services
from lifestyle.services import settlement, uploads, vouchers


def _error_text(exc: ApplicationError) -> str:
    return exc.message_en if (get_language() or "").startswith("en") else exc.message_zh


def merchant_login_required(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        user = request.user
        if not (user.is_authenticated and user.is_active):
            return HttpResponseRedirect(f"{reverse('lifestyle:portal_login')}?{urlencode({'next': request.get_full_path()})}")
        return view(request, *args, **kwargs)

    return wrapper


def _merchant_view(view):
    """Resolve ``merchant_id`` through the user's guardian grants (404 for anything else)."""

    @merchant_login_required
    @wraps(view)
    def wrapper(request, merchant_id: int, *args, **kwargs):
        merchant = merchant_services.merchant_for_user_or_404(request.user, merchant_id)
        return view(request, merchant, *args, **kwargs)

    return wrapper


@never_cache
@require_http_methods(["GET", "POST"])
def portal_login(request):
    form = AuthenticationForm(request, data=request.POST or None)
    next_url = request.POST.get("next") or request.GET.get("next") or reverse("lifestyle:portal_home")
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        next_url = reverse("lifestyle:portal_home")
    if request.method == "POST" and form.is_valid():
        user = form.get_user()
        if not merchant_services.merchants_for_user(user).exists():
            form.add_error(None, _("该账号不是商户账号。"))
        else:
            login(request, user)
            return redirect(next_url)
    return render(request, "lifestyle/portal/login.html", {"form": form, "next": next_url})


@require_POST
def portal_logout(request):
    logout(request)
    return redirect("lifestyle:portal_login")


@merchant_login_required
@require_GET
def portal_home(request):
    merchants = list(merchant_services.merchants_for_user(request.user).order_by("name"))
    if len(merchants) == 1:
        return redirect("lifestyle:portal_merchant", merchant_id=merchants[0].pk)
    return render(request, "lifestyle/portal/choose.html", {"merchants": merchants})


@_merchant_view
@require_GET
def portal_merchant(request, merchant):
    today, total = vouchers.redemptions_today(merchant=merchant)
    return render(
        request,
        "lifestyle/portal/merchant.html",
        {
            "merchant": merchant,
            "today": list(today[:50]),
            "today_total": total,
            "summary": settlement.merchant_statement_summary(merchant),
            "open_statements": merchant.settlements.filter(state=SettlementBatch.State.ISSUED).count(),
        },
    )


@_merchant_view
@require_http_methods(["GET", "POST"])
def portal_verify(request, merchant):
    """Verify: a scanned token (camera) or a typed code with the customer's OTP. ``action=otp`` sends the SMS."""
    context = {"merchant": merchant, "code": "", "otp_sent": False, "result": None}
    if request.method == "POST":
        action = request.POST.get("action", "verify")
        code = request.POST.get("code", "").strip()
        token = request.POST.get("token", "").strip()
        context["code"] = code
        try:
            if action == "otp":
                vouchers.voucher_send_otp(merchant=merchant, code=code)
                context["otp_sent"] = True
                messages.info(request, _("验证码已发送至客户手机，请客户告知验证码。"))
            else:
                voucher = vouchers.voucher_verify(
                    merchant=merchant,
                    user=request.user,
                    token=token,
                    code=code if not token else "",
                    otp=request.POST.get("otp", ""),
                )
                context["result"] = voucher
                context["code"] = ""
                messages.success(
                    request,
                    _("核销成功：%(benefit)s（券码尾号 %(tail)s）。")
                    % {"benefit": voucher.benefit.name, "tail": voucher.code[-4:]},
                )
        except ApplicationError as exc:
            messages.error(request, _error_text(exc))
            # a refused typed-code verification keeps the OTP field open for another try
            context["otp_sent"] = action != "otp" and bool(code) and not token
    return render(request, "lifestyle/portal/verify.html", context)


@_merchant_view
@require_GET
def portal_redemptions(request, merchant):
    recent = (
        Voucher.objects.filter(redeemed_merchant=merchant)
        .select_related("benefit")
        .prefetch_related("payable_lines")
        .order_by("-redeemed_at")[:100]
    )
    return render(request, "lifestyle/portal/redemptions.html", {"merchant": merchant, "vouchers": recent, "now": timezone.now()})


@_merchant_view
@require_GET
def portal_statements(request, merchant):
    batches = merchant.settlements.order_by("-period_end", "-id")[:60]
    return render(request, "lifestyle/portal/statements.html", {"merchant": merchant, "batches": batches})


def _batch(merchant, batch_id: int) -> SettlementBatch:
    batch = merchant.settlements.filter(pk=batch_id).first()
    if batch is None:
        raise Http404(_("结算单不存在"))
    return batch


@_merchant_view
@require_GET
def portal_statement_pdf(request, merchant, batch_id: int):
    batch = _batch(merchant, batch_id)
    if not batch.statement_file:
        raise Http404(_("对账单不存在"))
    data = uploads.private_read(batch.statement_file)
    response = FileResponse(
        io.BytesIO(data), content_type="application/pdf", as_attachment=True, filename=f"statement-{batch.pk}.pdf"
    )
    response["Cache-Control"] = "private, no-store"
    return response


@_merchant_view
@require_POST
def portal_statement_answer(request, merchant, batch_id: int):
    batch = _batch(merchant, batch_id)
    try:
        if request.POST.get("action") == "dispute":
            settlement.settlement_dispute(
                batch_id=batch.pk, merchant_id=merchant.pk, user=request.user, reason=request.POST.get("reason", "")
            )
            messages.info(request, _("已提交异议，银行将尽快处理。"))
        else:
            settlement.settlement_confirm(batch_id=batch.pk, merchant_id=merchant.pk, user=request.user)
            messages.success(request, _("已确认对账单，银行将按期付款。"))
    except ApplicationError as exc:
        messages.error(request, _error_text(exc))
    return redirect("lifestyle:portal_statements", merchant_id=merchant.pk)

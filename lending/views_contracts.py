"""Customer contract pages (电子合同) and the public verification page (合同验证).

* ``/loans/contracts/`` — the customer's contracts; ``<id>/`` reads the terms and the schedule, requests
  the signing code, signs with it (and the "I have read" box), then shows the confirmation;
* ``<id>/contract.pdf`` — the PDF (signed when signed), only to its customer (staff download from the
  admin, which is scoped); ``?download=1`` as an attachment;
* ``verify/`` — anyone uploads a PDF and sees signer, signing time and integrity (size-limited).

Server-rendered, mobile-first, no JavaScript needed.
"""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from jikuai.core.exceptions import ApplicationError
from jikuai.web.decorators import customer_required
from lending.contracts import services as contracts


class SignForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("短信验证码"),
        min_length=6,
        max_length=6,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "pattern": "[0-9]{6}"}),
    )
    agree = forms.BooleanField(label=gettext_lazy("我已阅读并同意本合同全部条款"), required=True)


class VerifyForm(forms.Form):
    pdf = forms.FileField(
        label=gettext_lazy("合同 PDF 文件"), widget=forms.ClearableFileInput(attrs={"accept": "application/pdf"})
    )


def _error_text(exc: ApplicationError) -> str:
    return exc.message_en if (get_language() or "").startswith("en") else exc.message_zh


def _client_ip(request) -> str | None:
    # REMOTE_ADDR only: a reverse proxy in front must set it (X-Forwarded-For is spoofable)
    return request.META.get("REMOTE_ADDR") or None


def _contract_or_404(request, contract_id: int):
    contract = contracts.contract_get_for_customer(request.customer, contract_id)
    if contract is None:
        raise Http404
    return contract


@customer_required
def contract_list(request):
    return render(request, "lending/contracts/list.html", {"contracts": contracts.contract_list_for_customer(request.customer)})


def _detail(request, contract, *, form=None, status=200):
    return render(
        request,
        "lending/contracts/detail.html",
        {"contract": contract, "terms": contract.terms, "form": form or SignForm(), "max_verify_mb": _max_mb()},
        status=status,
    )


@never_cache
@customer_required
@require_http_methods(["GET"])
def contract_detail(request, contract_id: int):
    return _detail(request, _contract_or_404(request, contract_id))


@customer_required
@require_POST
def contract_send_code(request, contract_id: int):
    contract = _contract_or_404(request, contract_id)
    try:
        contracts.contract_send_code(contract_id=contract.pk, customer=request.customer, ip_address=_client_ip(request))
    except ApplicationError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, _("验证码已发送至 %(mobile)s，5分钟内有效。") % {"mobile": request.customer.masked_mobile})
    return redirect("lending:contract_detail", contract_id=contract.pk)


@never_cache
@customer_required
@require_POST
def contract_sign(request, contract_id: int):
    contract = _contract_or_404(request, contract_id)
    form = SignForm(request.POST)
    if not form.is_valid():
        return _detail(request, contract, form=form, status=400)
    try:
        contracts.contract_sign(
            contract_id=contract.pk,
            customer=request.customer,
            code=form.cleaned_data["code"],
            ip_address=_client_ip(request),
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
        )
    except ApplicationError as exc:
        form.add_error(None, _error_text(exc))
        contract.refresh_from_db()
        return _detail(request, contract, form=form, status=400 if exc.status < 500 else exc.status)
    messages.success(request, _("合同签署成功。"))
    return redirect("lending:contract_detail", contract_id=contract.pk)


@customer_required
@require_http_methods(["GET"])
def contract_pdf(request, contract_id: int):
    contract = _contract_or_404(request, contract_id)
    try:
        data, filename = contracts.contract_pdf_bytes(contract)
    except ApplicationError as exc:
        raise Http404 from exc
    return pdf_response(data, filename, download=request.GET.get("download") == "1")


def pdf_response(data: bytes, filename: str, *, download: bool) -> HttpResponse:
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = f'{"attachment" if download else "inline"}; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _max_mb() -> int:
    return max(1, settings.JIKUAI_CONTRACT_VERIFY_MAX_BYTES // (1024 * 1024))


@never_cache
@require_http_methods(["GET", "POST"])
def contract_verify_page(request):
    """合同验证: public. The upload is checked for size before it is read."""
    result = error = None
    limit = settings.JIKUAI_CONTRACT_VERIFY_MAX_BYTES
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if request.method == "POST" and declared.isdigit() and int(declared) > limit + 64 * 1024:
        # refused before the body is read (multipart files would otherwise be streamed to disk first)
        form = VerifyForm()
        error = _("文件过大（上限 %(mb)s MB）。") % {"mb": _max_mb()}
    elif request.method == "POST":
        form = VerifyForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["pdf"]
            if upload.size > limit:
                error = _("文件过大（上限 %(mb)s MB）。") % {"mb": _max_mb()}
            else:
                try:
                    result = contracts.contract_verify(pdf_bytes=upload.read())
                except ApplicationError as exc:
                    error = _error_text(exc)
    else:
        form = VerifyForm()
    return render(
        request,
        "lending/contracts/verify.html",
        {"form": form, "result": result, "error": error, "max_verify_mb": _max_mb()},
        status=400 if error else 200,
    )

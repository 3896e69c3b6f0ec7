"""KYC pages: customer upload and status, staff field upload, private image serving.

The upload view only validates, stores and queues: OCR and face comparison run in the worker.
"""

import logging

from django.contrib import messages
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from jikuai.core.exceptions import ApplicationError
from jikuai.customers.kyc import selectors, services
from jikuai.customers.kyc.forms import FieldKycUploadForm, KycUploadForm
from jikuai.customers.kyc.models import KycRecord, KycState
from jikuai.customers.models import Customer, PiiAccessLog
from jikuai.org.scoping import scope_queryset
from jikuai.web.decorators import customer_required, staff_required

POLLING_STATES = (KycState.DOCUMENTS_UPLOADED, KycState.PROCESSING)
logger = logging.getLogger(__name__)

STATE_BADGES = {
    KycState.VERIFIED: "badge-ok",
    KycState.NEEDS_REVIEW: "badge-warn",
    KycState.REJECTED: "badge-danger",
}


def _status_context(record: KycRecord | None, *, customer: Customer) -> dict:
    return {
        "customer": customer,
        "record": record,
        "documents": selectors.kyc_document_list_for_record(record=record) if record else [],
        "polling": bool(record and record.state in POLLING_STATES),
        "badge": STATE_BADGES.get(record.state, "") if record else "",
        "can_upload": customer.kyc_status != Customer.KycStatus.VERIFIED
        and (record is None or record.state in (KycState.CREATED, KycState.REJECTED)),
        "gender_label": {"M": "男", "F": "女"}.get(record.ocr_gender, "") if record else "",
    }


@customer_required
@require_GET
def kyc_home(request):
    customer = request.customer
    record = selectors.kyc_record_latest_for_customer(customer=customer)
    return render(request, "kyc/status.html", _status_context(record, customer=customer))


@customer_required
@require_GET
def kyc_status(request):
    """The status block alone, for htmx polling while the checks run (the full page works without it)."""
    customer = request.customer
    record = selectors.kyc_record_latest_for_customer(customer=customer)
    return render(request, "kyc/_status.html", _status_context(record, customer=customer))


def _apply_service_error(form, exc: ApplicationError) -> None:
    errors = exc.extra.get("errors") if isinstance(exc, services.KycUploadRejected) else None
    if errors:
        for field_name, message in errors.items():
            form.add_error(field_name if field_name in form.fields else None, message)
    else:
        form.add_error(None, exc.message_zh)


@customer_required
@require_http_methods(["GET", "POST"])
def kyc_upload(request):
    customer = request.customer
    if customer.kyc_status == Customer.KycStatus.VERIFIED:
        messages.info(request, "您已完成实名认证。")
        return HttpResponseRedirect(reverse("kyc:home"))
    latest = selectors.kyc_record_latest_for_customer(customer=customer)
    if latest is not None and latest.state in (*POLLING_STATES, KycState.NEEDS_REVIEW):
        messages.info(request, "已有一笔实名认证正在处理，请等待结果。")
        return HttpResponseRedirect(reverse("kyc:home"))
    if request.method == "POST":
        form = KycUploadForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                services.kyc_submit_documents(
                    customer=customer,
                    id_front=form.cleaned_data["id_front"],
                    id_back=form.cleaned_data["id_back"],
                    selfie=form.cleaned_data["selfie"],
                )
            except ApplicationError as exc:
                _apply_service_error(form, exc)
            else:
                messages.success(request, "照片已提交，正在自动识别，请稍候查看结果。")
                return HttpResponseRedirect(reverse("kyc:home"))
        return render(request, "kyc/upload.html", {"form": form, "customer": customer}, status=400)
    return render(request, "kyc/upload.html", {"form": KycUploadForm(), "customer": customer})


@require_GET
def kyc_document(request, document_id: int):
    """Stream one KYC image to its own customer or to staff who can see the customer; anyone else gets 404."""
    document = None
    if request.customer:
        document = selectors.kyc_document_get_for_customer(customer=request.customer, document_id=document_id)
    if document is None and request.user.is_authenticated:
        document = selectors.kyc_document_get_for_staff(user=request.user, document_id=document_id)
        if document is not None:
            PiiAccessLog.objects.create(
                user=request.user,
                customer_id=document.record.customer_id,
                fields=f"kyc_document:{document.kind}#{document.pk}",
                reason="实名认证影像查看",
                ip_address=request.META.get("REMOTE_ADDR"),
            )
    if document is None:
        raise Http404("未找到 / not found")
    try:
        handle = document.file.open("rb")
    except FileNotFoundError:
        logger.error("kyc: stored file of document %s is missing", document.pk)
        raise Http404("未找到 / not found")
    response = FileResponse(handle, content_type="image/jpeg")
    response["Content-Disposition"] = f'inline; filename="kyc-{document.pk}.jpg"'
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    response["Referrer-Policy"] = "no-referrer"
    return response


@staff_required
@require_http_methods(["GET", "POST"])
def field_kyc(request, customer_id: int):
    """移动展业: an account manager does the KYC of a customer at their home (photos on the phone)."""
    actor = getattr(request.user, "staff", None) if hasattr(request.user, "staff") else None
    customer = (
        scope_queryset(Customer.objects.select_related("institution", "branch"), request.user).filter(pk=customer_id).first()
    )
    if actor is None or customer is None:
        raise Http404("未找到 / not found")
    status = 200
    if request.method == "POST":
        form = FieldKycUploadForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                services.kyc_submit_documents(
                    customer=customer,
                    id_front=form.cleaned_data["id_front"],
                    id_back=form.cleaned_data["id_back"],
                    selfie=form.cleaned_data["selfie"],
                    field_photo=form.cleaned_data.get("field_photo"),
                    actor=actor,
                )
            except ApplicationError as exc:
                _apply_service_error(form, exc)
            else:
                messages.success(request, "照片已提交，正在自动识别。")
                return HttpResponseRedirect(reverse("kyc:field", args=[customer.pk]))
        status = 400
    else:
        form = FieldKycUploadForm()
    customer.refresh_from_db(fields=["kyc_status"])
    record = selectors.kyc_record_latest_for_customer(customer=customer)
    context = {**_status_context(record, customer=customer), "form": form, "field": True, "polling": False}
    return render(request, "kyc/field.html", context, status=status)

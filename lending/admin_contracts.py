"""Back office for contracts (电子合同): scoped, read-only; download of the PDF through an access-checked
admin view; "验证签章" (verify) as a list action and a button on the contract page.

Files are never linked directly (private storage has no URL): the download view reads them for a staff
member who can see the contract in their scope.
"""

import json

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils.html import format_html

from jikuai.core.exceptions import ApplicationError
from jikuai.org.admin_base import ReadOnlyFinancialAdminMixin, ScopedModelAdmin, money_display
from lending.contracts import services as contracts
from lending.models import Contract
from lending.views_contracts import pdf_response


@admin.register(Contract)
class ContractAdmin(ReadOnlyFinancialAdminMixin, ScopedModelAdmin):
    list_display = ["contract_no", "kind", "state", "borrower", "amount", "institution", "branch", "signed_at", "download"]
    list_filter = ["state", "kind", "institution"]
    search_fields = ["contract_no", "application__application_no"]
    list_select_related = ["customer", "institution", "branch"]
    actions = ["verify_signatures"]
    fields = [
        "contract_no",
        "kind",
        "state",
        "institution",
        "branch",
        "borrower",
        "application",
        "credit_line",
        "drawdown",
        "amount",
        "download",
        "unsigned_sha256",
        "signed_sha256",
        "signer_subject",
        "signed_at",
        "evidence",
        "terms_pretty",
        "created_at",
    ]
    readonly_fields = fields
    change_form_template = "lending/contracts/admin_change_form.html"

    def has_add_permission(self, request):
        return False  # contracts come from contract_prepare_for_application

    def has_change_permission(self, request, obj=None):
        return False  # read-only: state changes only through the services

    @admin.display(description="借款人 borrower")
    def borrower(self, obj):
        return obj.customer.masked_name

    @admin.display(description="金额 amount")
    def amount(self, obj):
        return money_display((obj.terms or {}).get("amount"))

    @admin.display(description="合同文件 PDF")
    def download(self, obj):
        if not obj.pk or not (obj.unsigned_pdf or obj.signed_pdf):
            return "—"
        label = "下载签章合同" if obj.state == "signed" else "下载合同文本"
        return format_html('<a href="{}">{}</a>', reverse("admin:lending_contract_pdf", args=[obj.pk]), label)

    @admin.display(description="确认证据 evidence")
    def evidence(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.confirmation or {}, ensure_ascii=False, indent=2))

    @admin.display(description="合同要素 terms")
    def terms_pretty(self, obj):
        terms = {k: v for k, v in (obj.terms or {}).items() if k != "schedule"}
        return format_html("<pre>{}</pre>", json.dumps(terms, ensure_ascii=False, indent=2))

    def get_urls(self):
        return [
            path("<int:contract_id>/pdf/", self.admin_site.admin_view(self.pdf_view), name="lending_contract_pdf"),
            path("<int:contract_id>/verify/", self.admin_site.admin_view(self.verify_view), name="lending_contract_verify"),
            *super().get_urls(),
        ]

    def _visible(self, request, contract_id: int) -> Contract:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return get_object_or_404(self.get_queryset(request), pk=contract_id)

    def pdf_view(self, request, contract_id: int):
        contract = self._visible(request, contract_id)
        try:
            data, filename = contracts.contract_pdf_bytes(contract)
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return redirect(reverse("admin:lending_contract_change", args=[contract.pk]))
        return pdf_response(data, filename, download=True)

    def _report(self, request, contract: Contract) -> None:
        if contract.state != "signed":
            messages.warning(request, f"{contract.contract_no}：尚未签署，无签章可验证 / not signed yet")
            return
        data, _ = contracts.contract_pdf_bytes(contract)
        result = contracts.contract_verify(pdf_bytes=data)
        level = messages.SUCCESS if result.valid and result.document_sha256 == contract.signed_sha256 else messages.ERROR
        note = "" if result.document_sha256 == contract.signed_sha256 else "；存档文件摘要与记录不一致 / stored file hash differs"
        messages.add_message(request, level, f"{contract.contract_no}：{result.summary_zh}{note}")

    def verify_view(self, request, contract_id: int):
        contract = self._visible(request, contract_id)
        self._report(request, contract)
        return redirect(reverse("admin:lending_contract_change", args=[contract.pk]))

    @admin.action(description="验证签章 verify signatures")
    def verify_signatures(self, request, queryset):
        for contract in queryset[:50]:
            self._report(request, contract)

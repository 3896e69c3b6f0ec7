"""Contract services (电子合同): prepare the PDF for an approved application, send the signing code,
sign (customer one-time code + institution PAdES seal), verify; and the scoped reads the pages, API and
admin use.

Flow::

    contract_prepare_for_application(application_id)   APPROVED → CONTRACT_PENDING, unsigned PDF stored
    contract_send_code(contract_id, customer)          SMS code, purpose ``contract_sign``, bound to the contract
    contract_sign(contract_id, customer, code)         code consumed → evidence page + seal → SIGNED
    contract_verify(pdf_bytes)                         anyone: signer, time, integrity, trust

The one-time code is bound to the contract: ``contract_send_code`` records the id of the code it issued
in ``Contract.confirmation["code_id"]``, and ``contract_sign`` accepts only that code (a code sent for
another contract of the same customer, or a login code, never signs this one). ``otp_verify`` consumes
the code in its own committed transaction (wrong attempts are counted even when signing fails), so
these services are called from the top level, never inside an outer transaction.
"""

import datetime as dt
import logging
from dataclasses import replace
from decimal import Decimal

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from jikuai.core.bus import publish
from jikuai.core.exceptions import ApplicationError, NotFound
from jikuai.core.masking import mask_id_number, mask_mobile, mask_name
from jikuai.core.money import round_fen, yuan_to_fen
from jikuai.core.workdays import get_business_date
from jikuai.customers.accounts import OtpError, otp_send, otp_verify
from jikuai.customers.models import Customer, OneTimeCode
from jikuai.org.scoping import scope_queryset
from lending import schedule as sched
from lending.contracts import pdf, signing
from lending.contracts.amounts import amount_in_chinese
from lending.contracts.signing import VerificationResult
from lending.models import ApplicationState, Contract, ContractKind, ContractState, LoanApplication, ProductKind

logger = logging.getLogger(__name__)

CODE_PURPOSE = OneTimeCode.Purpose.CONTRACT_SIGN
SIGNED_APPLICATION_STATES = (ApplicationState.SIGNED, ApplicationState.ACTIVE, ApplicationState.DISBURSED)

__all__ = [
    "ContractAlreadySigned",
    "ContractError",
    "FileTooLarge",
    "contract_get_for_application",
    "contract_get_for_customer",
    "contract_list_for_customer",
    "contract_list_for_institution",
    "contract_list_for_staff",
    "contract_pdf_bytes",
    "contract_prepare_for_application",
    "contract_send_code",
    "contract_sign",
    "contract_verify",
    "receipt_for_loan",
    "receipt_issue_for_drawdown",
]


class ContractError(ApplicationError):
    code = "contract_error"
    status = 409


class ContractAlreadySigned(ContractError):
    code = "contract_already_signed"


class FileTooLarge(ApplicationError):
    code = "file_too_large"
    status = 413


# --- reads ----------------------------------------------------------------------------------------------


def contract_list_for_customer(customer: Customer) -> QuerySet:
    return (
        Contract.objects.filter(customer=customer)
        .exclude(state=ContractState.VOID)
        .select_related("institution", "application__product")
        .order_by("-created_at", "-id")
    )


def contract_get_for_customer(customer: Customer, contract_id: int) -> Contract | None:
    """The customer's own contract or None (another customer's contract looks like a missing one)."""
    if customer is None:
        return None
    return contract_list_for_customer(customer).filter(pk=contract_id).first()


def contract_get_for_application(application_id: int) -> Contract | None:
    """The current (not void) contract of an application, for the origination pages and services."""
    return Contract.objects.filter(application_id=application_id).exclude(state=ContractState.VOID).order_by("-id").first()


def receipt_for_loan(loan) -> Contract | None:
    """The 借款借据 of a loan drawn on a credit line (None for other loans, or before it is issued)."""
    return Contract.objects.filter(drawdown__loan_id=loan.pk, kind=ContractKind.RECEIPT, customer_id=loan.customer_id).first()


def contract_list_for_institution(institution_id: int) -> QuerySet:
    return Contract.objects.filter(institution_id=institution_id).select_related("institution", "application__product")


def contract_list_for_staff(user) -> QuerySet:
    return scope_queryset(Contract.objects.all(), user).select_related("institution", "branch", "customer", "application")


def contract_pdf_bytes(contract: Contract) -> tuple[bytes, str]:
    """The signed PDF when signed, otherwise the unsigned one; with a download file name."""
    field = contract.signed_pdf if contract.state == ContractState.SIGNED and contract.signed_pdf else contract.unsigned_pdf
    if not field:
        raise NotFound("合同文件不存在。", "the contract file does not exist", code="contract_file_missing")
    with field.open("rb") as handle:
        data = handle.read()
    suffix = "signed" if field is contract.signed_pdf else "unsigned"
    return data, f"{contract.contract_no}-{suffix}.pdf"


# --- prepare --------------------------------------------------------------------------------------------


def _snapshot_value(application: LoanApplication, key: str):
    snapshot = application.product_snapshot or {}
    if key in snapshot and snapshot[key] not in (None, ""):
        return snapshot[key]
    return getattr(application.product, key)


def _party_terms(institution, branch, customer: Customer) -> dict:
    """The parties as the terms keep them: the lender in full, the borrower masked (the PDF alone names them)."""
    return {
        "institution": {"name": institution.name, "code": institution.code},
        "branch": branch.name if branch is not None else "",
        "customer": {
            "name_masked": mask_name(customer.name),
            "id_number_masked": mask_id_number(customer.id_number),
            "mobile_masked": mask_mobile(customer.mobile),
        },
    }


def _terms_for(application: LoanApplication, contract_no: str, kind: str) -> dict:
    if application.approved_amount is None or application.annual_rate is None:
        raise ContractError(
            "申请缺少批准金额或利率，不能生成合同。",
            "the application has no approved amount or rate",
            code="application_terms_missing",
        )
    amount = round_fen(application.approved_amount)
    rate = Decimal(application.annual_rate)
    day_basis = int(_snapshot_value(application, "day_basis"))
    markup = Decimal(str(_snapshot_value(application, "penalty_markup")))
    fee_rate = Decimal(str(_snapshot_value(application, "upfront_fee_rate") or "0"))
    fee = round_fen(amount * fee_rate)
    value_date = get_business_date()
    method = application.repayment_method
    try:
        quote = sched.quote(
            method=method,
            principal=amount,
            annual_rate=rate,
            months=application.term_months,
            value_date=value_date,
            day_basis=day_basis,
            quarterly_interest=bool(_snapshot_value(application, "quarterly_interest")) and method == sched.Method.INTEREST_ONLY,
            upfront_fee=fee,
        )
    except ApplicationError as exc:
        raise ContractError(exc.message_zh, exc.message_en, code="contract_terms_invalid") from exc
    institution = application.institution
    customer = application.customer
    terms = {
        "kind": kind,
        "contract_no": contract_no,
        "application_no": application.application_no,
        **_party_terms(institution, application.branch if application.branch_id else None, customer),
        "product": {
            "code": application.product.code,
            "name": str(_snapshot_value(application, "name")),
            "version": application.product_version,
        },
        "amount": f"{amount:.2f}",
        "amount_in_words": amount_in_chinese(amount),
        "annual_rate": f"{rate:f}",
        "annual_rate_percent": pdf.percent_text(rate),
        "apr": f"{quote.apr:.2f}",
        "upfront_fee": f"{fee:.2f}",
        "term_months": application.term_months,
        "repayment_method": method,
        "method_label": sched.Method.LABELS.get(method, method).split(" ")[0],
        "value_date": value_date.isoformat(),
        "maturity_date": quote.periods[-1].due_date.isoformat(),
        "day_basis": day_basis,
        "penalty_markup": f"{markup:f}",
        "penalty_rate": f"{(rate * (1 + markup)).normalize():f}",
        "penalty_rate_percent": pdf.percent_text(rate * (1 + markup)),
        "penalty_markup_percent": pdf.percent_text(markup),
        "grace_days": int(_snapshot_value(application, "grace_days") or 0),
        "purpose": application.purpose,
        "schedule": quote.as_json()["installments"],
        "total_interest": f"{quote.total_interest:.2f}",
        "total_payment": f"{quote.total_payment:.2f}",
        "generated_on": value_date.isoformat(),
    }
    if kind == ContractKind.LINE:
        months = int(_snapshot_value(application, "line_validity_months") or 12)
        valid_until = sched.add_months(value_date, months) - dt.timedelta(days=1)
        methods = list(_snapshot_value(application, "allowed_methods") or [method])
        terms.update(
            {
                "valid_from": value_date.isoformat(),
                "valid_until": valid_until.isoformat(),
                "validity_months": months,
                "revolving": bool(_snapshot_value(application, "revolving")),
                "term_options": list(_snapshot_value(application, "term_options") or [application.term_months]),
                "allowed_methods": methods,
                "method_labels": [sched.Method.LABELS.get(m, m).split(" ")[0] for m in methods],
            }
        )
    return terms


def _borrower(customer: Customer) -> pdf.Borrower:
    # decrypted values go into the PDF only (a contract must identify the borrower), never into terms or logs
    return pdf.Borrower(name=customer.name, id_number=customer.id_number, mobile=customer.mobile, address=customer.address)


def contract_prepare_for_application(*, application_id: int) -> Contract:
    """Generate the contract of an approved application: the PDF (借款合同 or 授信额度合同) in private
    storage, its SHA-256 and the terms; the application moves APPROVED → CONTRACT_PENDING.

    Idempotent: an application already waiting for its signature (or signed) returns its contract."""
    with transaction.atomic():
        application = (
            LoanApplication.objects.select_for_update(no_key=True, of=("self",))
            .select_related("product", "institution", "branch", "customer")
            .filter(pk=application_id)
            .first()
        )
        if application is None:
            raise NotFound("贷款申请不存在。", "application not found", code="application_not_found")
        existing = Contract.objects.filter(application=application).exclude(state=ContractState.VOID).order_by("-id").first()
        if application.state == ApplicationState.CONTRACT_PENDING or application.state in SIGNED_APPLICATION_STATES:
            if existing is None:
                raise ContractError(
                    "该申请的合同记录缺失。", "the contract of this application is missing", code="contract_missing"
                )
            return existing
        if application.state != ApplicationState.APPROVED:
            raise ContractError(
                f"申请当前状态为“{application.get_state_display()}”，不能生成合同。",
                f"an application in state {application.state} cannot get a contract",
                code="application_not_approved",
            )
        kind = ContractKind.LINE if application.kind == ProductKind.LINE else ContractKind.LOAN
        voided = Contract.objects.filter(application=application).count()
        contract_no = f"HT{application.application_no}" + (f"-{voided + 1}" if voided else "")
        terms = _terms_for(application, contract_no, kind)
        data = pdf.contract_pdf(terms=terms, borrower=_borrower(application.customer))
        contract = Contract(
            contract_no=contract_no,
            kind=kind,
            institution=application.institution,
            branch=application.branch,
            customer=application.customer,
            application=application,
            terms=terms,
            unsigned_sha256=signing.sha256_hex(data),
        )
        contract.unsigned_pdf.save(f"{contract_no}.pdf", ContentFile(data), save=False)
        contract.save()
        application.await_contract(by=None, description=f"合同已生成 {contract_no}")
        application.save()
    logger.info("contract prepared contract=%s application=%s", contract.pk, application.pk)
    return contract


# --- code and signature ---------------------------------------------------------------------------------


def _own_contract(contract_id: int, customer: Customer) -> Contract:
    contract = contract_get_for_customer(customer, contract_id)
    if contract is None:
        raise NotFound("合同不存在。", "contract not found", code="contract_not_found")
    return contract


def _ensure_signable(contract: Contract) -> None:
    if contract.state == ContractState.SIGNED:
        raise ContractAlreadySigned(
            f"合同 {contract.contract_no} 已于 {timezone.localtime(contract.signed_at):%Y-%m-%d %H:%M} 签署，无需重复签署。",
            "this contract is already signed",
        )
    if contract.state != ContractState.AWAITING_SIGNATURE:
        raise ContractError("合同已作废，不能签署。", "this contract is void", code="contract_void")
    if contract.application_id and contract.application.state != ApplicationState.CONTRACT_PENDING:
        raise ContractError(
            "该合同对应的申请已不在待签约状态。",
            "the application is no longer waiting for a signature",
            code="application_not_pending",
        )


def contract_send_code(*, contract_id: int, customer: Customer, ip_address: str | None = None) -> OneTimeCode:
    """Send the signing code (SMS, purpose ``contract_sign``) to the customer's own mobile, bound to this
    contract. Rate limits of ``otp_send`` apply."""
    contract = _own_contract(contract_id, customer)
    _ensure_signable(contract)
    row = otp_send(mobile=customer.mobile, purpose=CODE_PURPOSE, ip_address=ip_address)
    with transaction.atomic():
        locked = Contract.objects.select_for_update(no_key=True).get(pk=contract.pk)
        if locked.state == ContractState.AWAITING_SIGNATURE:
            locked.confirmation = {"code_id": row.pk, "code_sent_at": row.created_at.isoformat()}
            locked.save(update_fields=["confirmation"])
    logger.info("contract signing code sent contract=%s customer=%s", contract.pk, customer.pk)
    return row


def _check_code_is_for(contract: Contract, customer: Customer) -> None:
    bound = (contract.confirmation or {}).get("code_id")
    latest = (
        OneTimeCode.objects.filter(mobile_index=customer.mobile_index, purpose=CODE_PURPOSE)
        .order_by("-created_at", "-id")
        .values_list("pk", flat=True)
        .first()
    )
    if bound is None or latest is None or latest != bound:
        raise OtpError(
            "请先获取本合同的签署验证码。",
            "request a signing code for this contract first",
            code="otp_missing",
            extra={"field": "code"},
        )


def contract_sign(
    *, contract_id: int, customer: Customer, code: str, ip_address: str | None = None, user_agent: str = ""
) -> Contract:
    """The customer confirms with the one-time code; the platform appends the evidence page, seals the
    PDF with the institution's certificate (PAdES), stores it and moves contract and application to signed.

    Refused (nothing changed): another customer's contract (NotFound), an already signed contract
    (ContractAlreadySigned), a wrong / expired / used code or a code sent for another contract (OtpError),
    an institution without a usable certificate (SigningKeyMissing, SigningCertificateRevoked; checked
    before the code is spent, so the customer can use it once the certificate is replaced).
    """
    contract = _own_contract(contract_id, customer)
    _ensure_signable(contract)
    _check_code_is_for(contract, customer)
    institution = contract.institution
    signing.ensure_can_sign(institution_code=institution.code, institution_name=institution.name)  # before the code is spent
    otp_verify(mobile=customer.mobile, purpose=CODE_PURPOSE, code=code)
    return _seal_confirmed(contract, customer, method="sms_otp", ip_address=ip_address, user_agent=user_agent)


def _evidence(
    contract_no: str, document_sha256: str, customer: Customer, *, method: str, at, ip_address=None, user_agent=None, **extra
) -> dict:
    """The confirmation evidence stored with a contract and printed on its evidence page."""
    local = timezone.localtime(at)
    return {
        "contract_no": contract_no,
        "document_sha256": document_sha256,
        "customer_name_masked": mask_name(customer.name),
        "mobile_masked": mask_mobile(customer.mobile),
        "method": method,
        **extra,
        "confirmed_at": at.isoformat(),
        "confirmed_at_local": f"{local:%Y-%m-%d %H:%M:%S} (UTC{local:%z})",
        "ip_address": ip_address or "",
        "user_agent": (user_agent or "")[:200],
    }


def _seal_confirmed(contract: Contract, customer: Customer, *, method: str, ip_address: str | None, user_agent: str) -> Contract:
    """After the customer's confirmation: evidence page, institution seal, state changes, event."""
    confirmed_at = timezone.now().replace(microsecond=0)
    evidence = _evidence(
        contract.contract_no,
        contract.unsigned_sha256,
        customer,
        method=method,
        at=confirmed_at,
        ip_address=ip_address,
        user_agent=user_agent,
        code_id=(contract.confirmation or {}).get("code_id"),
    )
    local = timezone.localtime(confirmed_at)
    with contract.unsigned_pdf.open("rb") as handle:
        unsigned = handle.read()
    if signing.sha256_hex(unsigned) != contract.unsigned_sha256:
        raise ContractError(
            "合同文件校验失败，请联系客户经理。", "the stored contract file does not match its hash", code="contract_file_corrupt"
        )
    institution = contract.institution
    reason = (
        f"借款人{evidence['customer_name_masked']}于{local:%Y-%m-%d %H:%M:%S}"
        + ("以短信验证码确认签署" if method == "sms_otp" else "（演示数据，未经客户确认）")
        + f"（手机{evidence['mobile_masked']}，IP {evidence['ip_address'] or '—'}，合同文本SHA-256 {contract.unsigned_sha256}）"
    )
    signed = signing.sign_with_evidence(
        unsigned_pdf=unsigned,
        evidence_page=pdf.evidence_page_pdf(
            contract_no=contract.contract_no, institution_name=institution.name, evidence=evidence
        ),
        evidence=evidence,
        institution_code=institution.code,
        institution_name=institution.name,
        reason=reason,
        location=institution.name,
    )
    evidence.update({"signature_level": signed.level, "signed_sha256": signed.sha256})

    with transaction.atomic():
        locked = Contract.objects.select_for_update(no_key=True, of=("self",)).select_related("application").get(pk=contract.pk)
        _ensure_signable(locked)
        application = None
        if locked.application_id:
            application = LoanApplication.objects.select_for_update(no_key=True).get(pk=locked.application_id)
            application.sign(by=None, description=f"客户以短信验证码签署合同 {locked.contract_no}")
            application.save()
        locked.signed_pdf.save(f"{locked.contract_no}-signed.pdf", ContentFile(signed.pdf), save=False)
        locked.signed_sha256 = signed.sha256
        locked.signer_subject = signed.signer_subject[:300]
        locked.signed_at = signed.signed_at
        locked.confirmation = evidence
        locked.state = ContractState.SIGNED
        locked.save()
        amount = Decimal(locked.terms.get("amount", "0"))
        publish(
            "lending.contract_signed",
            {
                "contract_id": locked.pk,
                "contract_no": locked.contract_no,
                "kind": locked.kind,
                "application_id": locked.application_id,
                "customer_id": locked.customer_id,
                "institution_id": locked.institution_id,
                "branch_id": locked.branch_id,
                "account_manager_id": application.account_manager_id if application else None,
                "amount": f"{amount:.2f}",
                "amount_fen": yuan_to_fen(amount),
                "signed_at": signed.signed_at.isoformat(),
                "business_date": get_business_date().isoformat(),
            },
        )
    logger.info("contract signed contract=%s customer=%s level=%s", locked.pk, customer.pk, signed.level)
    return locked


# --- drawdown receipts (借款借据) ------------------------------------------------------------------------


def receipt_issue_for_drawdown(*, drawdown_id: int) -> Contract | None:
    """The 借款借据 of a disbursed drawdown: the voucher of the loan under the line agreement (amount, rates,
    value and maturity dates, the loan's own schedule), with the drawdown confirmation as evidence, sealed by
    the institution (PAdES) at once — the customer confirmed the drawdown on the page and signed the line
    agreement before; no second code is asked.

    Idempotent (one receipt per drawdown; the bus may deliver twice). None while the drawdown is not
    disbursed. Called by the ``lending.drawdown_disbursed`` handler."""
    from lending.models import Drawdown, DrawdownState
    from lending.selectors import schedule_with_balances

    existing = Contract.objects.filter(drawdown_id=drawdown_id, kind=ContractKind.RECEIPT).first()
    if existing is not None:
        return existing
    drawdown = (
        Drawdown.objects.select_related("line__product", "line__institution", "line__branch", "customer", "loan")
        .filter(pk=drawdown_id)
        .first()
    )
    if drawdown is None or drawdown.state != DrawdownState.DISBURSED or drawdown.loan is None:
        return None
    line, loan, customer = drawdown.line, drawdown.loan, drawdown.customer
    institution = line.institution
    agreement = (  # the line agreement is the signed contract of the line's application
        Contract.objects.filter(application_id=line.application_id, kind=ContractKind.LINE, state=ContractState.SIGNED)
        .order_by("-id")
        .first()
    )
    rows = schedule_with_balances(loan)
    schedule = [
        {
            "number": row.number,
            "due_date": row.due_date.isoformat(),
            "principal": f"{row.principal:.2f}",
            "interest": f"{row.interest:.2f}",
            "payment": f"{row.principal + row.interest:.2f}",
            "balance": f"{balance:.2f}",
        }
        for row, balance in rows
    ]
    total_interest = sum((row.interest for row, _balance in rows), Decimal(0))
    rate = Decimal(loan.annual_rate)
    markup = Decimal(loan.penalty_markup)
    contract_no = f"JJ{drawdown.drawdown_no}"
    terms = {
        "kind": ContractKind.RECEIPT,
        "contract_no": contract_no,
        "drawdown_no": drawdown.drawdown_no,
        "loan_contract_no": loan.contract_no,
        "line_contract_no": agreement.contract_no if agreement else "",
        **_party_terms(institution, line.branch if line.branch_id else None, customer),
        "product": {"code": line.product.code, "name": line.product.name, "version": line.product.version},
        "amount": f"{loan.principal:.2f}",
        "amount_in_words": amount_in_chinese(loan.principal),
        "annual_rate": f"{rate:f}",
        "annual_rate_percent": pdf.percent_text(rate),
        "apr": f"{drawdown.apr:.2f}" if drawdown.apr is not None else "",  # percent, as confirmed by the customer
        "penalty_markup_percent": pdf.percent_text(markup),
        "penalty_rate_percent": pdf.percent_text(rate * (1 + markup)),
        "term_months": drawdown.term_months,
        "repayment_method": drawdown.repayment_method,
        "method_label": sched.Method.LABELS.get(drawdown.repayment_method, drawdown.repayment_method).split(" ")[0],
        "channel_label": drawdown.get_channel_display().split(" ")[0],
        "value_date": loan.value_date.isoformat(),
        "maturity_date": loan.maturity_date.isoformat(),
        "schedule": schedule,
        "total_interest": f"{total_interest:.2f}",
        "total_payment": f"{loan.principal + total_interest:.2f}",
        "generated_on": get_business_date().isoformat(),
    }
    unsigned = pdf.drawdown_receipt_pdf(terms=terms, borrower=_borrower(customer))
    unsigned_sha = signing.sha256_hex(unsigned)
    evidence = _evidence(
        contract_no,
        unsigned_sha,
        customer,
        method="drawdown",
        at=drawdown.created_at,
        user_agent=terms["channel_label"],
        drawdown_no=drawdown.drawdown_no,
        line_contract_no=terms["line_contract_no"],
    )
    signed = signing.sign_with_evidence(
        unsigned_pdf=unsigned,
        evidence_page=pdf.evidence_page_pdf(contract_no=contract_no, institution_name=institution.name, evidence=evidence),
        evidence=evidence,
        institution_code=institution.code,
        institution_name=institution.name,
        reason=f"借款借据 {contract_no}（授信额度合同 {terms['line_contract_no'] or '—'} 项下支用 {drawdown.drawdown_no}）",
        location=institution.name,
    )
    evidence.update({"signature_level": signed.level, "signed_sha256": signed.sha256})
    with transaction.atomic():
        Drawdown.objects.select_for_update(no_key=True).get(pk=drawdown.pk)  # one issuer at a time per drawdown
        existing = Contract.objects.filter(drawdown_id=drawdown.pk, kind=ContractKind.RECEIPT).first()
        if existing is not None:
            return existing
        receipt = Contract(
            contract_no=contract_no,
            kind=ContractKind.RECEIPT,
            institution=institution,
            branch=line.branch,
            customer=customer,
            credit_line=line,
            drawdown=drawdown,
            terms=terms,
            unsigned_sha256=unsigned_sha,
            signed_sha256=signed.sha256,
            signer_subject=signed.signer_subject[:300],
            signed_at=signed.signed_at,
            confirmation=evidence,
            state=ContractState.SIGNED,
        )
        receipt.unsigned_pdf.save(f"{contract_no}.pdf", ContentFile(unsigned), save=False)
        receipt.signed_pdf.save(f"{contract_no}-signed.pdf", ContentFile(signed.pdf), save=False)
        receipt.save()
    logger.info("drawdown receipt issued contract=%s drawdown=%s level=%s", receipt.pk, drawdown.pk, signed.level)
    return receipt


# --- verification ---------------------------------------------------------------------------------------


def contract_verify(*, pdf_bytes: bytes) -> VerificationResult:
    """Verify an uploaded PDF: signature, integrity, trust against the configured CA, signer and time.
    Also says whether the platform holds exactly this signed file (``evidence["platform_contract_no"]``)."""
    limit = settings.JIKUAI_CONTRACT_VERIFY_MAX_BYTES
    if not pdf_bytes:
        raise ApplicationError("请上传 PDF 文件。", "upload a PDF file", code="file_required")
    if len(pdf_bytes) > limit:
        raise FileTooLarge(
            f"文件过大（上限 {limit // 1024 // 1024} MB）。", f"the file is larger than {limit} bytes", extra={"limit": limit}
        )
    result = signing.verify(pdf_bytes)
    if result.valid:
        record = Contract.objects.filter(signed_sha256=result.document_sha256).values_list("contract_no", flat=True).first()
        if record:
            result = replace(result, evidence={**result.evidence, "platform_contract_no": record})
    return result

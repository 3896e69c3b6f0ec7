"""Customer pages (贷款): calculator (public), my loans, schedule, repayment history, repay, prepay,
settlement certificate. Server-rendered, mobile-first, no JavaScript needed."""

import secrets
from decimal import Decimal

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from jikuai.core.exceptions import ApplicationError
from jikuai.core.workdays import get_business_date
from jikuai.web.decorators import customer_required
from lending import charts, corebanking, documents, selectors
from lending import schedule as sched
from lending.contracts.services import receipt_for_loan
from lending.forms import CalculatorForm, PrepayForm, RepayForm
from lending.models import LoanState, Repayment
from lending.services import prepayment_quote, repayment_record
from lending.services.common import parse_amount

TOKENS_KEY = "_lending_form_tokens"


def _error_text(exc: ApplicationError) -> str:
    return exc.message_en if (get_language() or "").startswith("en") else exc.message_zh


def _chart_rows(periods) -> list[dict]:
    return [{"number": p.number, "principal": p.principal, "interest": p.interest, "balance": p.balance} for p in periods]


@require_http_methods(["GET"])
def calculator(request):
    """贷款计算器: for everyone, no login. GET form → table and chart."""
    form = CalculatorForm(request.GET or None, start=get_business_date())
    quote = error = None
    if request.GET and form.is_valid():
        data = form.cleaned_data
        try:
            quote = sched.quote(
                method=data["method"],
                principal=parse_amount(data["principal"], field="principal"),
                annual_rate=sched.parse_percent_rate(data["annual_rate"]),
                months=data["months"],
                value_date=data["start"],
                quarterly_interest=data["quarterly"],
                upfront_fee=parse_amount(data["fee"] or 0, field="fee", allow_zero=True),
            )
        except ApplicationError as exc:
            error = _error_text(exc)
    return render(
        request,
        "lending/calculator.html",
        {
            "form": form,
            "quote": quote,
            "error": error,
            "chart": charts.schedule_svg(_chart_rows(quote.periods), title=_("还款计划图")) if quote else "",
            "method_label": sched.Method.LABELS.get(quote.method, "") if quote else "",
        },
    )


def _loan_or_404(request, loan_id):
    loan = selectors.loan_get_for_customer(request.customer, loan_id)
    if loan is None or loan.state == LoanState.PENDING:
        raise Http404
    return loan


@customer_required
def loan_list(request):
    return render(request, "lending/loan_list.html", {"loans": selectors.loan_list_for_customer(request.customer)})


@customer_required
def loan_detail(request, loan_id: int):
    loan = _loan_or_404(request, loan_id)
    schedule = selectors.schedule_with_balances(loan)
    installments = [inst for inst, _balance in schedule]
    rows = [
        {"number": inst.number, "principal": inst.principal, "interest": inst.interest, "balance": balance}
        for inst, balance in schedule
    ]
    return render(
        request,
        "lending/loan_detail.html",
        {
            "loan": loan,
            "installments": installments,
            "chart": charts.schedule_svg(rows, title=_("还款计划图")),
            "business_date": get_business_date(),
            "receipt": receipt_for_loan(loan),
        },
    )


@customer_required
def repayment_history(request, loan_id: int):
    loan = _loan_or_404(request, loan_id)
    return render(request, "lending/repayments.html", {"loan": loan, "repayments": selectors.repayments_for(loan)})


def _new_token(request) -> str:
    token = secrets.token_urlsafe(16)
    tokens = request.session.get(TOKENS_KEY, [])[-20:]
    tokens.append(token)
    request.session[TOKENS_KEY] = tokens
    return token


def _use_token(request, token: str) -> bool:
    tokens = request.session.get(TOKENS_KEY, [])
    if token not in tokens:
        return False
    tokens.remove(token)
    request.session[TOKENS_KEY] = tokens
    return True


def _collect_and_record(request, loan, amount: Decimal, token: str, *, kind=Repayment.Kind.REGULAR, option=""):
    """Debit the customer's account through the core-banking adapter, then record the repayment."""
    request_id = f"WEB{loan.pk}-{token}"[:64]
    result = corebanking.get_adapter().collect(
        corebanking.TransferRequest(request_id, loan.contract_no, loan.core_account_ref, amount, get_business_date().isoformat())
    )
    if result.status != corebanking.SETTLED or result.amount != amount:
        raise ApplicationError(_("扣款未成功：") + (result.message or result.status), "debit failed", code="debit_failed")
    return repayment_record(
        loan_id=loan.pk,
        amount=amount,
        channel=Repayment.Channel.CUSTOMER,
        kind=kind,
        prepayment_option=option,
        external_id=request_id,
    )


@never_cache
@customer_required
@require_http_methods(["GET", "POST"])
def repay(request, loan_id: int):
    loan = _loan_or_404(request, loan_id)
    quote = None
    if loan.is_open:
        quote = prepayment_quote(loan_id=loan.pk)
    if request.method == "POST":
        form = RepayForm(request.POST)
        if form.is_valid():
            if not _use_token(request, form.cleaned_data["token"]):
                messages.warning(request, _("请勿重复提交。"))
                return redirect("lending:repayments", loan_id=loan.pk)
            try:
                repayment = _collect_and_record(
                    request, loan, parse_amount(form.cleaned_data["amount"]), form.cleaned_data["token"]
                )
            except ApplicationError as exc:
                form.add_error(None, _error_text(exc))
            else:
                messages.success(request, _("还款成功：%(amount)s 元。") % {"amount": f"{repayment.amount:,.2f}"})
                return redirect("lending:repayments", loan_id=loan.pk)
        form.data = form.data.copy()
        form.data["token"] = _new_token(request)
    else:
        form = RepayForm(initial={"token": _new_token(request), "amount": quote.amount_due if quote else None})
    return render(request, "lending/repay.html", {"loan": loan, "form": form, "quote": quote})


@never_cache
@customer_required
@require_http_methods(["GET", "POST"])
def prepay(request, loan_id: int):
    """提前还款: GET shows the payoff and, with an amount, a quote of the new schedule; POST pays."""
    loan = _loan_or_404(request, loan_id)
    if not loan.is_open:
        messages.info(request, _("该贷款已结清。"))
        return redirect("lending:detail", loan_id=loan.pk)
    base = prepayment_quote(loan_id=loan.pk)
    data = request.POST if request.method == "POST" else (request.GET if "amount" in request.GET else None)
    form = PrepayForm(data, initial={"amount": base.payoff})
    quote = None
    error = None
    if data is not None and form.is_valid():
        amount, option = form.cleaned_data["amount"], form.cleaned_data["option"]
        try:
            quote = prepayment_quote(loan_id=loan.pk, amount=amount, option=option)
            if request.method == "POST":
                token = form.cleaned_data.get("token") or ""
                if not _use_token(request, token):
                    messages.warning(request, _("请勿重复提交。"))
                    return redirect("lending:repayments", loan_id=loan.pk)
                repayment = _collect_and_record(
                    request, loan, parse_amount(amount), token, kind=Repayment.Kind.PREPAYMENT, option=option
                )
                messages.success(request, _("提前还款成功：%(amount)s 元。") % {"amount": f"{repayment.amount:,.2f}"})
                return redirect("lending:detail", loan_id=loan.pk)
        except ApplicationError as exc:
            error = _error_text(exc)
            quote = None
    return render(
        request,
        "lending/prepay.html",
        {"loan": loan, "form": form, "base": base, "quote": quote, "error": error, "token": _new_token(request)},
    )


@customer_required
def settlement_certificate(request, loan_id: int):
    loan = _loan_or_404(request, loan_id)
    if loan.state != LoanState.SETTLED:
        raise Http404
    customer = request.customer
    pdf = documents.settlement_certificate_pdf(
        loan=loan,
        customer_name=customer.name,
        masked_id=customer.masked_id_number,
        institution_name=loan.institution.name,
        issued_on=get_business_date(),
    )
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="settlement-{loan.contract_no}.pdf"'
    return response

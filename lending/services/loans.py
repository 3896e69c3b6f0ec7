"""Loan creation and disbursement (放款) — the entry points issue 5 (origination) calls — and
write-off and restructuring."""

import datetime as dt
import logging
import secrets
from decimal import Decimal

from django.db import IntegrityError, transaction

from jikuai.core.bus import publish
from jikuai.core.exceptions import Conflict, NotFound
from jikuai.core.money import to_decimal
from jikuai.core.workdays import get_business_date
from jikuai.customers.models import Customer
from jikuai.org.models import Branch, Staff
from lending import corebanking, engine
from lending import events as lending_events
from lending import schedule as sched
from lending import state as loan_state
from lending.models import Installment, Loan, LoanState, Product, ScheduleVersion
from lending.services.common import LendingError, from_engine_error, parse_amount, post_effects, save_book
from lending.services.common import publish as publish_book

logger = logging.getLogger(__name__)
FEN = Decimal("0.01")


def _parse_rate(annual_rate) -> Decimal:
    try:
        rate = to_decimal(annual_rate)
    except (TypeError, ValueError):
        raise LendingError(
            "年利率格式不正确。", "annual_rate is not a number", code="invalid_rate", extra={"field": "annual_rate"}
        )
    if not rate.is_finite():
        raise LendingError(
            "年利率格式不正确。", "annual_rate is not a number", code="invalid_rate", extra={"field": "annual_rate"}
        )
    return rate


def validate_offer(
    *, product: Product, principal, annual_rate, term_months, method: str, value_date: dt.date, upfront_fee=None
) -> tuple[Decimal, Decimal, list[sched.Period], Decimal, Decimal, bool]:
    """Check an offer against the product and DOMAIN.md; returns (principal, rate, periods, fee, apr %, quarterly)."""
    if method not in sched.Method.ALL:
        raise LendingError(
            f"未知的还款方式：{method}。",
            f"unknown repayment method {method!r}",
            code="unknown_method",
            extra={"field": "method"},
        )
    if method not in product.allowed_methods:
        raise LendingError(
            f"该产品不支持还款方式“{sched.Method.LABELS[method]}”。",
            f"method {method} is not offered by product {product.code}",
            code="method_not_allowed",
            extra={"field": "method"},
        )
    principal = parse_amount(principal, field="principal")
    if principal < product.min_amount or principal > product.max_amount:
        raise LendingError(
            f"贷款金额须在 {product.min_amount:,.2f} 至 {product.max_amount:,.2f} 元之间。",
            f"principal must be between {product.min_amount} and {product.max_amount}",
            code="amount_out_of_range",
            extra={"field": "principal"},
        )
    rate = _parse_rate(annual_rate)
    if rate > product.apr_ceiling:
        raise LendingError(
            f"年利率超过上限 {product.apr_ceiling * 100:.2f}%。",
            f"annual rate above the ceiling of {product.apr_ceiling * 100:.2f} %",
            code="rate_above_cap",
            extra={"field": "annual_rate"},
        )
    if rate < product.min_rate or rate > product.max_rate:
        raise LendingError(
            f"年利率须在 {product.min_rate * 100:.2f}% 至 {product.max_rate * 100:.2f}% 之间。",
            f"annual rate must be between {product.min_rate * 100:.2f} % and {product.max_rate * 100:.2f} %",
            code="rate_out_of_range",
            extra={"field": "annual_rate"},
        )
    if not isinstance(term_months, int) or isinstance(term_months, bool) or term_months not in product.term_options:
        raise LendingError(
            f"期限须为以下之一：{'、'.join(str(t) for t in product.term_options)} 个月。",
            f"term must be one of {product.term_options} months",
            code="term_not_allowed",
            extra={"field": "term_months"},
        )
    quarterly = bool(product.quarterly_interest and method == sched.Method.INTEREST_ONLY)
    periods = sched.generate(
        method=method,
        principal=principal,
        annual_rate=rate,
        months=term_months,
        value_date=value_date,
        day_basis=product.day_basis,
        quarterly_interest=quarterly,
    )
    fee = (
        (principal * product.upfront_fee_rate).quantize(FEN)
        if upfront_fee is None
        else parse_amount(upfront_fee, field="upfront_fee", allow_zero=True)
    )
    if fee >= principal:
        raise LendingError(
            "手续费不能超过贷款金额。", "fee must be below the principal", code="invalid_fee", extra={"field": "upfront_fee"}
        )
    apr = sched.apr_percent(principal=principal, value_date=value_date, periods=periods, upfront_fee=fee)
    if apr > product.apr_ceiling * 100:
        raise LendingError(
            f"年化利率 {apr}% 超过上限 {product.apr_ceiling * 100:.2f}%，不能发放。",
            f"APR {apr} % is above the ceiling of {product.apr_ceiling * 100:.2f} %",
            code="apr_above_ceiling",
            extra={"field": "annual_rate"},
        )
    return principal, rate, periods, fee, apr, quarterly


def _contract_no(institution_code: str, day: dt.date) -> str:
    return f"JK{institution_code[:8]}{day:%Y%m%d}{secrets.token_hex(4).upper()}"


def _write_installments(loan: Loan, periods: list[sched.Period], *, version: int) -> None:
    Installment.objects.bulk_create(
        [
            Installment(
                loan=loan,
                version=version,
                number=p.number,
                start_date=p.start_date,
                due_date=p.due_date,
                principal=p.principal,
                interest=p.interest,
            )
            for p in periods
        ]
    )


@transaction.atomic
def loan_create(
    *,
    customer: Customer,
    product: Product,
    principal,
    annual_rate,
    term_months: int,
    method: str,
    value_date: dt.date | None = None,
    contract_no: str | None = None,
    auto_debit: bool = True,
    core_account_ref: str = "",
    branch: Branch | None = None,
    account_manager: Staff | None = None,
    upfront_fee=None,
) -> Loan:
    """A pending loan with its original schedule (version 1); nothing is posted until disbursement.

    ``annual_rate`` is a fraction (0.06 = 6 %). Refuses (nothing written) amounts, rates, terms and
    methods outside the product, APR above the ceiling, and products of another institution.
    """
    if not product.is_active:
        raise LendingError("该产品已停用。", "product is not active", code="product_inactive")
    if product.institution_id and product.institution_id != customer.institution_id:
        raise LendingError("该产品不属于客户所在机构。", "product belongs to another institution", code="product_not_available")
    value_date = value_date or get_business_date()
    principal, rate, periods, fee, apr, quarterly = validate_offer(
        product=product,
        principal=principal,
        annual_rate=annual_rate,
        term_months=term_months,
        method=method,
        value_date=value_date,
        upfront_fee=upfront_fee,
    )
    level_payment, level_principal = engine.level_amounts(method, rate, principal, len(periods))
    branch = branch or customer.branch
    account_manager = account_manager or customer.account_manager
    try:
        with transaction.atomic():
            loan = Loan.objects.create(
                institution_id=customer.institution_id,
                branch=branch,
                account_manager=account_manager,
                customer=customer,
                product=product,
                contract_no=contract_no or _contract_no(customer.institution.code, value_date),
                principal=principal,
                annual_rate=rate,
                day_basis=product.day_basis,
                method=method,
                term_months=term_months,
                value_date=value_date,
                maturity_date=periods[-1].due_date,
                penalty_markup=product.penalty_markup,
                grace_days=product.grace_days,
                allocation_order=list(product.allocation_order),
                npl_allocation_order=list(product.npl_allocation_order),
                npl_principal_first=product.npl_principal_first,
                overpayment_policy=product.overpayment_policy,
                quarterly_interest=quarterly,
                upfront_fee=fee,
                apr=apr,
                level_payment=level_payment,
                level_principal=level_principal,
                auto_debit=auto_debit,
                core_account_ref=core_account_ref
                or (f"CARD-{customer.bank_card_last4}" if customer.bank_card_last4 else f"CUST-{customer.pk}"),
            )
    except IntegrityError:
        raise Conflict("合同编号已存在。", "contract number already exists", code="duplicate_contract")
    ScheduleVersion.objects.create(loan=loan, number=1, reason=ScheduleVersion.Reason.ORIGINAL, effective_date=value_date)
    _write_installments(loan, periods, version=1)
    return loan


def loan_disburse(*, loan_id: int, actor=None, first_drawdown: bool | None = None) -> Loan:
    """Send the disbursement to core banking (outside any transaction) and activate the loan when it
    settles. A pending answer leaves the loan pending until the callback confirms it."""
    business_date = get_business_date()
    with transaction.atomic():
        loan = Loan.objects.select_for_update(no_key=True).filter(pk=loan_id).first()
        if loan is None:
            raise NotFound("贷款不存在。", "loan not found")
        if loan.state != LoanState.PENDING:
            if loan.disbursed_on:
                return loan  # a repeated click is a no-op
            raise Conflict("该贷款不是待放款状态。", "loan is not pending", code="not_pending")
        if loan.disbursement_reference:
            return loan  # already sent; waiting for the callback
        if loan.value_date != business_date:
            _move_value_date(loan, business_date)
        loan.disbursement_reference = f"DSB{loan.pk:012d}"
        loan.save(update_fields=["disbursement_reference", "updated_at"])
    transfer = corebanking.TransferRequest(
        request_id=loan.disbursement_reference,
        contract_no=loan.contract_no,
        account_ref=loan.core_account_ref,
        amount=loan.principal,
        value_date=loan.value_date.isoformat(),
    )
    try:
        result = corebanking.get_adapter().disburse(transfer)
    except corebanking.CoreBankingError as exc:
        Loan.objects.filter(pk=loan.pk, state=LoanState.PENDING).update(disbursement_reference="")
        raise LendingError(
            "核心系统放款失败，请稍后重试。",
            f"core banking disbursement failed: {exc}",
            code="core_banking_unavailable",
            extra={},
        )
    if result.status == corebanking.SETTLED:
        return loan_disbursement_settled(
            reference=loan.disbursement_reference, core_reference=result.reference, actor=actor, first_drawdown=first_drawdown
        )
    if result.status == corebanking.FAILED:
        Loan.objects.filter(pk=loan.pk, state=LoanState.PENDING).update(disbursement_reference="")
        raise LendingError(f"放款失败：{result.message}", f"disbursement failed: {result.message}", code="disbursement_failed")
    loan.refresh_from_db()
    return loan


def _move_value_date(loan: Loan, value_date: dt.date) -> None:
    """A pending loan disbursed on another day than planned: its schedule starts on the real value date."""
    quarterly = loan.quarterly_interest
    periods = sched.generate(
        method=loan.method,
        principal=loan.principal,
        annual_rate=loan.annual_rate,
        months=loan.term_months,
        value_date=value_date,
        day_basis=loan.day_basis,
        quarterly_interest=quarterly,
    )
    Installment.objects.filter(loan=loan).delete()
    ScheduleVersion.objects.filter(loan=loan).update(effective_date=value_date, reason=ScheduleVersion.Reason.ORIGINAL)
    _write_installments(loan, periods, version=1)
    loan.value_date = value_date
    loan.maturity_date = periods[-1].due_date
    loan.apr = sched.apr_percent(principal=loan.principal, value_date=value_date, periods=periods, upfront_fee=loan.upfront_fee)
    loan.save(update_fields=["value_date", "maturity_date", "apr", "updated_at"])


@transaction.atomic
def loan_disbursement_settled(
    *, reference: str, core_reference: str = "", actor=None, first_drawdown: bool | None = None
) -> Loan:
    """Core banking confirmed the disbursement: post it, activate the loan, publish lending.loan_disbursed."""
    loan = Loan.objects.select_for_update(no_key=True).filter(disbursement_reference=reference).first() if reference else None
    if loan is None:
        raise NotFound("放款流水不存在。", "unknown disbursement reference", code="unknown_reference")
    if loan.state != LoanState.PENDING:
        return loan
    business_date = get_business_date()
    periods = [
        sched.Period(i.number, i.start_date, i.due_date, i.principal, i.interest, sched.ZERO)
        for i in Installment.objects.filter(loan=loan, version=1).order_by("number")
    ]
    book = engine.LoanBook.originate(loan_state.terms_for(loan), loan_state.classifier(), periods, steps=loan_state.loan_steps())
    post_effects(loan, book.effects, business_date=business_date, description=f"放款 {loan.contract_no} {core_reference}".strip())
    book.effects.clear()
    # pending → active; keep the version-1 installment rows
    rows = {i.number: i.pk for i in Installment.objects.filter(loan=loan, version=1)}
    for inst in book.installments:
        inst.id = rows[inst.number]
    loan.disbursed_on = business_date
    loan.disburse(by=actor, description=f"放款 {core_reference}".strip() or None)
    save_book(loan, book, by=actor)
    if first_drawdown is None:
        first_drawdown = (
            not Loan.objects.filter(customer_id=loan.customer_id, disbursed_on__isnull=False).exclude(pk=loan.pk).exists()
        )
    publish(
        "lending.loan_disbursed",
        lending_events.payload_for(
            lending_events.loan_row(loan),
            {
                "product_code": loan.product.code,
                "amount": loan.principal,
                "business_date": business_date,
                "first_drawdown": first_drawdown,
            },
        ),
    )
    return loan


@transaction.atomic
def loan_disbursement_failed(*, reference: str, message: str = "") -> Loan:
    loan = Loan.objects.select_for_update(no_key=True).filter(disbursement_reference=reference).first() if reference else None
    if loan is None:
        raise NotFound("放款流水不存在。", "unknown disbursement reference", code="unknown_reference")
    if loan.state == LoanState.PENDING:
        loan.disbursement_reference = ""
        loan.save(update_fields=["disbursement_reference", "updated_at"])
        # credit lines release the drawdown's hold on this event (lending.services.lines)
        publish(
            "lending.loan_disbursement_failed",
            lending_events.payload_for(lending_events.loan_row(loan), {"reference": reference, "message": message[:200]}),
        )
    return loan


def loan_create_and_disburse(*, actor=None, first_drawdown: bool | None = None, **create_kwargs) -> Loan:
    """Create a loan and disburse it through the core-banking adapter (used by origination and demos)."""
    loan = loan_create(**create_kwargs)
    return loan_disburse(loan_id=loan.pk, actor=actor, first_drawdown=first_drawdown)


@transaction.atomic
def loan_write_off(*, loan_id: int, actor=None, reason: str) -> Loan:
    """核销: principal and on-balance receivables to the write-off loss account; recovery tracking off-balance."""
    if not (reason or "").strip():
        raise LendingError("核销必须填写理由。", "a reason is required", code="reason_required")
    loan = Loan.objects.select_for_update(no_key=True).filter(pk=loan_id).first()
    if loan is None:
        raise NotFound("贷款不存在。", "loan not found")
    business_date = get_business_date()
    book = loan_state.book_for(loan)
    try:
        book.write_off(business_date)
    except engine.EngineError as exc:
        raise from_engine_error(exc)
    post_effects(loan, book.effects, business_date=business_date, description=f"核销 {reason}"[:200])
    loan.written_off_on = business_date
    save_book(loan, book, by=actor, description=reason)
    publish_book(loan, book)
    return loan

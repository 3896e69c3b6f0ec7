"""Credit lines (授信) and drawdowns (用信).

A credit line keeps ``limit = used + available`` at all times (CHECK constraint ``credit_line_balanced``);
every change happens under the line's row lock (``SELECT … FOR NO KEY UPDATE``) together with one
``CreditLineChange`` journal row, so the journal replays the balances.

Drawdown, in three short steps so that no core-banking call happens inside a transaction or under the
line lock:

1. under the line lock: usable line, offer within the product, amount ≤ available, black list,
   no loan currently overdue, the product's admission rule set (if configured) — then **hold** the
   amount (used += a, available −= a, journal ``drawdown``) and commit;
2. ``loan_create`` (a pending loan with its schedule), linked to the drawdown (state ``disbursing``);
3. ``loan_disburse`` through the core-banking adapter: ``settled`` → drawdown ``disbursed``;
   ``failed`` → the hold is **released** (journal ``release``) and the drawdown is ``failed`` with the
   reason; ``pending`` (or the core system unreachable) → the drawdown stays ``disbursing`` until the
   callback (bus topics ``lending.loan_disbursed`` / ``lending.loan_disbursement_failed``) or the
   ``drawdowns_resume`` beat job finishes it.

Revolving lines (循环额度) get back the principal repaid on their drawdowns (journal ``restore``):
``credit_line_restore_sync`` recomputes the principal repaid from the loan (principal −
principal_outstanding) and books the difference with what was restored so far (Σ of the drawdown's
restore rows), so it is idempotent, order-independent and follows reversals (a negative restore).
It runs from bus handlers of ``lending.repayment_received`` and ``lending.repayment_reversed``.
"""

import datetime as dt
import logging
import secrets
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from jikuai.core.bus import publish
from jikuai.core.exceptions import ApplicationError, Conflict, NotFound, PermissionDeniedError
from jikuai.core.money import yuan_to_fen
from jikuai.core.workdays import get_business_date
from jikuai.org.models import Staff
from lending import schedule as sched
from lending.models import (
    ApplicationChannel,
    ApplicationState,
    CreditLine,
    CreditLineChange,
    CreditLineRequest,
    CreditLineState,
    Drawdown,
    DrawdownState,
    Loan,
    LoanApplication,
    LoanState,
)
from lending.models.products import ProductKind
from lending.services.common import LendingError, parse_amount
from lending.services.loans import loan_create, loan_disburse, validate_offer
from lending.services.review import review_task_close_for_line_request, review_task_open_for_line_request
from riskrules import facade as risk

logger = logging.getLogger(__name__)
ZERO = Decimal("0.00")
ONE_DAY = dt.timedelta(days=1)
Kind = CreditLineChange.Kind

__all__ = [
    "DrawdownQuote",
    "check_line_usable",
    "credit_line_open_for_application",
    "credit_line_request_approve",
    "credit_line_request_reject",
    "credit_line_request_submit",
    "credit_line_restore_sync",
    "credit_lines_expire",
    "drawdown_disbursement_failed",
    "drawdown_disbursement_settled",
    "drawdown_quote",
    "drawdown_request",
    "drawdowns_resume",
]


# --- helpers ------------------------------------------------------------------------------------------


def _user(actor):
    """fsm-log wants a user; services accept a Staff member or a user."""
    if actor is None:
        return None
    return actor.user if isinstance(actor, Staff) else actor


def _staff(actor) -> Staff | None:
    if actor is None:
        return None
    if isinstance(actor, Staff):
        return actor
    return Staff.objects.filter(user=actor).first() if getattr(actor, "pk", None) else None


def _number(prefix: str, institution_code: str, day: dt.date) -> str:
    return f"{prefix}{institution_code[:8]}{day:%Y%m%d}{secrets.token_hex(4).upper()}"


def _lock_line(line_id: int) -> CreditLine:
    line = CreditLine.objects.select_for_update(no_key=True).filter(pk=line_id).first()
    if line is None:
        raise NotFound("授信额度不存在。", "credit line not found", code="credit_line_not_found")
    return line


def _journal(
    line: CreditLine, kind: str, amount: Decimal = ZERO, *, reference: str = "", reason: str = "", maker=None, checker=None
) -> CreditLineChange:
    return CreditLineChange.objects.create(
        line=line,
        kind=kind,
        amount=amount,
        limit_after=line.limit,
        used_after=line.used,
        available_after=line.available,
        reference=reference,
        reason=reason[:200],
        maker=maker,
        checker=checker,
    )


def _save_balances(line: CreditLine, *fields: str) -> None:
    line.save(update_fields=["limit", "used", "available", *fields, "updated_at"])


def _line_payload(line: CreditLine, data: dict) -> dict:
    payload = {
        "credit_line_id": line.pk,
        "customer_id": line.customer_id,
        "institution_id": line.institution_id,
        "branch_id": line.branch_id,
        "account_manager_id": line.account_manager_id,
    }
    for key, value in data.items():
        if isinstance(value, Decimal):
            payload[key] = f"{value:.2f}"
            payload[f"{key}_fen"] = yuan_to_fen(value)
        elif isinstance(value, dt.date):
            payload[key] = value.isoformat()
        else:
            payload[key] = value
    return payload


def check_line_usable(line: CreditLine, business_date: dt.date) -> None:
    """Refuse a drawdown on a frozen, closed, expired or not yet valid line."""
    if line.state == CreditLineState.FROZEN:
        raise Conflict("该授信额度已冻结，暂不能用信，请联系客户经理。", "the credit line is frozen", code="line_frozen")
    if line.state == CreditLineState.CLOSED:
        raise Conflict("该授信额度已关闭。", "the credit line is closed", code="line_closed")
    if line.state == CreditLineState.EXPIRED or line.valid_until < business_date:
        raise Conflict(
            f"该授信额度已于 {line.valid_until:%Y-%m-%d} 到期，不能用信。", "the credit line has expired", code="line_expired"
        )
    if line.valid_from > business_date:
        raise Conflict(
            f"该授信额度自 {line.valid_from:%Y-%m-%d} 起生效。", "the credit line is not valid yet", code="line_not_yet_valid"
        )


def _check_available(line: CreditLine, amount: Decimal) -> None:
    if amount > line.available:
        raise LendingError(
            f"支用金额 {amount:,.2f} 元超过可用额度 {line.available:,.2f} 元。",
            f"amount {amount} exceeds the available credit of {line.available}",
            code="amount_exceeds_available",
            extra={"field": "amount", "available": f"{line.available:.2f}"},
        )


def _line_for(line_id: int, customer=None) -> CreditLine:
    line = CreditLine.objects.select_related("product", "customer", "customer__institution").filter(pk=line_id).first()
    if line is None or (customer is not None and line.customer_id != customer.pk):
        # another customer's line looks exactly like a line that does not exist
        raise NotFound("授信额度不存在。", "credit line not found", code="credit_line_not_found")
    return line


def _term(term_months) -> int:
    try:
        return int(term_months)
    except (TypeError, ValueError):
        raise LendingError("期限格式不正确。", "term_months must be a whole number", code="term_not_allowed")


# --- open ---------------------------------------------------------------------------------------------


def credit_line_open_for_application(*, application_id: int, actor=None) -> CreditLine:
    """开立授信: a signed line-type application becomes an active credit line (limit = approved amount,
    rate = the application's rate, validity and revolving from the product snapshot), journal ``open``,
    application signed → active (fsm-log), events ``lending.credit_line_opened`` and
    ``lending.credit_line_activated``. Idempotent: a second call returns the same line."""
    with transaction.atomic():
        app = (
            LoanApplication.objects.select_for_update(no_key=True)
            .select_related("product", "customer")
            .filter(pk=application_id)
            .first()
        )
        if app is None:
            raise NotFound("贷款申请不存在。", "application not found", code="application_not_found")
        existing = CreditLine.objects.filter(application_id=app.pk).first()
        if existing is not None:
            return existing
        if app.kind != ProductKind.LINE:
            raise Conflict(
                "该申请不是授信额度类产品。", "the application is not for a credit line", code="not_a_line_application"
            )
        if app.state != ApplicationState.SIGNED:
            raise Conflict("申请尚未签约，不能开立额度。", "the application is not signed", code="application_not_signed")
        if not app.approved_amount or app.approved_amount <= 0 or app.annual_rate is None:
            raise Conflict("申请缺少批准金额或利率。", "approved amount or rate missing", code="application_incomplete")
        product = app.product
        snapshot = app.product_snapshot or {}
        months = int(snapshot.get("line_validity_months") or product.line_validity_months or 12)
        revolving = bool(snapshot.get("revolving", product.revolving))
        business_date = get_business_date()
        institution = app.customer.institution
        line = CreditLine.objects.create(
            line_no=_number("CL", institution.code, business_date),
            institution_id=app.institution_id,
            branch_id=app.branch_id or app.customer.branch_id,
            account_manager_id=app.account_manager_id or app.customer.account_manager_id,
            customer=app.customer,
            product=product,
            application=app,
            limit=app.approved_amount,
            used=ZERO,
            available=app.approved_amount,
            annual_rate=app.annual_rate,
            valid_from=business_date,
            valid_until=sched.add_months(business_date, months) - ONE_DAY,
            revolving=revolving,
        )
        _journal(line, Kind.OPEN, line.limit, reference=app.application_no, reason="授信开立", maker=_staff(actor))
        app.activate_line(by=_user(actor), description=f"授信额度 {line.line_no} 已开立")
        app.save()
        payload = _line_payload(
            line,
            {
                "application_id": app.pk,
                "limit": line.limit,
                "product_code": product.code,
                "revolving": line.revolving,
                "valid_until": line.valid_until,
                "business_date": business_date,
            },
        )
        publish("lending.credit_line_opened", payload)
        publish("lending.credit_line_activated", payload)  # docs/events.md; performance counts it
        return line


# --- quote --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DrawdownQuote:
    """用信试算: the schedule, total interest and APR of a drawdown — nothing is written."""

    line_id: int
    amount: Decimal
    term_months: int
    repayment_method: str
    annual_rate: Decimal  # fraction
    value_date: dt.date
    periods: list
    upfront_fee: Decimal
    apr: Decimal  # percent, two decimals
    available: Decimal

    @property
    def total_interest(self) -> Decimal:
        return sum((p.interest for p in self.periods), ZERO)

    @property
    def total_payment(self) -> Decimal:
        return sum((p.payment for p in self.periods), ZERO)

    @property
    def method_label(self) -> str:
        return sched.Method.LABELS.get(self.repayment_method, self.repayment_method)

    @property
    def annual_rate_percent(self) -> str:
        return sched.fmt_percent(self.annual_rate * 100)

    def as_json(self) -> dict:
        return {
            "line_id": self.line_id,
            "amount": f"{self.amount:.2f}",
            "term_months": self.term_months,
            "repayment_method": self.repayment_method,
            "annual_rate": self.annual_rate_percent,
            "apr": f"{self.apr:.2f}",
            "value_date": self.value_date.isoformat(),
            "upfront_fee": f"{self.upfront_fee:.2f}",
            "total_interest": f"{self.total_interest:.2f}",
            "total_payment": f"{self.total_payment:.2f}",
            "installments": [
                {
                    "number": p.number,
                    "due_date": p.due_date.isoformat(),
                    "principal": f"{p.principal:.2f}",
                    "interest": f"{p.interest:.2f}",
                    "payment": f"{p.payment:.2f}",
                    "balance": f"{p.balance:.2f}",
                }
                for p in self.periods
            ],
        }


def _offer(line: CreditLine, *, amount, term_months, repayment_method: str, business_date: dt.date):
    product = line.product
    if not product.is_active:
        raise LendingError("该产品已停用。", "product is not active", code="product_inactive")
    return validate_offer(
        product=product,
        principal=amount,
        annual_rate=line.annual_rate,
        term_months=_term(term_months),
        method=repayment_method,
        value_date=business_date,
    )


def drawdown_quote(*, line_id: int, amount, term_months, repayment_method: str, customer=None) -> DrawdownQuote:
    """Schedule, total interest and APR of a drawdown at the line's rate, valued today (no writes).
    Refuses what ``drawdown_request`` would refuse on the line itself (state, validity, available)."""
    line = _line_for(line_id, customer)
    business_date = get_business_date()
    amount = parse_amount(amount)
    check_line_usable(line, business_date)
    principal, rate, periods, fee, apr, _quarterly = _offer(
        line, amount=amount, term_months=term_months, repayment_method=repayment_method, business_date=business_date
    )
    _check_available(line, principal)
    return DrawdownQuote(
        line_id=line.pk,
        amount=principal,
        term_months=_term(term_months),
        repayment_method=repayment_method,
        annual_rate=rate,
        value_date=business_date,
        periods=periods,
        upfront_fee=fee,
        apr=apr,
        available=line.available,
    )


# --- drawdown -----------------------------------------------------------------------------------------


def _risk_checks(line: CreditLine, amount: Decimal, business_date: dt.date, channel: str) -> int | None:
    """Re-checks at every drawdown (DOMAIN.md): black list, current overdue with this bank, and the
    product's admission rule set when one is configured. Returns the decision id (or None)."""
    hits = risk.list_hits(
        institution_id=line.institution_id, customer_id=line.customer_id, on_date=business_date, kinds=("black",)
    )
    if hits:
        raise PermissionDeniedError(
            "您暂不符合用信条件（命中黑名单），如有疑问请联系客户经理。",
            "the customer is on a black list",
            code="blacklisted",
        )
    if Loan.objects.filter(customer_id=line.customer_id, state=LoanState.OVERDUE).exists():
        raise PermissionDeniedError(
            "您有逾期未还的贷款，请先还清逾期款项再用信。",
            "the customer has an overdue loan",
            code="current_overdue",
        )
    if not getattr(settings, "JIKUAI_LENDING_DRAWDOWN_ADMISSION", True):
        return None
    # the light re-check: the product's early-warning rules by default (DPD, black list, court dishonest
    # debtor, new debts against the line, deposit drop) — the full admission already ran at approval
    ruleset = getattr(settings, "JIKUAI_LENDING_DRAWDOWN_RULESET", "{code}_early_warning").format(code=line.product.code)
    try:
        decision = risk.decide(
            ruleset,
            risk.Subject(kind="credit_line", id=str(line.pk), customer_id=line.customer_id, institution_id=line.institution_id),
            {
                "requested_amount_fen": yuan_to_fen(amount),
                "credit_limit_fen": yuan_to_fen(line.limit),
                "decision_date": business_date.isoformat(),
            },
            channel=channel if channel in ApplicationChannel.values else "default",
        )
    except NotFound as exc:
        if exc.code != "ruleset_not_deployed":
            raise
        logger.warning("drawdown re-check rule set %s is not deployed; lists and overdue were checked", ruleset)
        return None
    if decision.outcome in ("reject", "alert"):
        texts = "；".join(text for _code, text in decision.reasons) or "不符合准入条件"
        raise PermissionDeniedError(
            f"本次用信未通过复核：{texts}。",
            f"drawdown refused by the admission rules: {', '.join(decision.reason_codes)}",
            code="admission_rejected",
            extra={"reasons": list(decision.reason_codes), "decision_id": decision.decision_id},
        )
    # ``refer`` (data the rules could not evaluate, e.g. no fresh income) does not block a drawdown on a
    # line that was approved — possibly by a human reviewer — for exactly this customer; the decision is
    # kept on the drawdown for audit.
    return decision.decision_id


def _hold(*, line_id, customer, amount, term_months, repayment_method, channel) -> Drawdown:
    """Step 1: checks and the hold, under the line lock; commits before any core-banking call."""
    with transaction.atomic():
        line = _lock_line(line_id)
        if customer is not None and line.customer_id != customer.pk:
            raise NotFound("授信额度不存在。", "credit line not found", code="credit_line_not_found")
        business_date = get_business_date()
        check_line_usable(line, business_date)
        channels = line.product.channels or []
        if channels and channel not in channels:
            raise LendingError(
                "该产品不支持通过此渠道用信。", f"channel {channel} is not offered by the product", code="channel_not_allowed"
            )
        principal, rate, _periods, _fee, apr, _q = _offer(
            line, amount=amount, term_months=term_months, repayment_method=repayment_method, business_date=business_date
        )
        _check_available(line, principal)
        decision_id = _risk_checks(line, principal, business_date, channel)
        drawdown = Drawdown.objects.create(
            drawdown_no=_number("DD", line.customer.institution.code, business_date),
            line=line,
            customer_id=line.customer_id,
            amount=principal,
            term_months=_term(term_months),
            repayment_method=repayment_method,
            annual_rate=rate,
            apr=apr,
            channel=channel,
            state=DrawdownState.REQUESTED,
            decision_id=decision_id,
        )
        line.used += principal
        line.available -= principal
        _save_balances(line)
        _journal(line, Kind.DRAWDOWN, principal, reference=drawdown.drawdown_no, reason="用信占用")
        return drawdown


def drawdown_request(
    *,
    line_id: int,
    customer=None,
    amount,
    term_months,
    repayment_method: str,
    channel: str = ApplicationChannel.WEB,
    staff=None,
) -> Drawdown:
    """用信: hold the amount on the line, create the loan and disburse it through core banking.

    ``customer`` (pages) limits the call to the customer's own line (another customer's line is a 404);
    integrators pass None after scoping the line to their institution. Bad input raises an
    ``ApplicationError`` and changes nothing. A definitive disbursement failure releases the hold and
    returns the drawdown in state ``failed`` (with ``failure_reason``); a pending answer returns it in
    state ``disbursing``."""
    if channel not in ApplicationChannel.values:
        raise LendingError("渠道不正确。", f"unknown channel {channel!r}", code="invalid_channel")
    amount = parse_amount(amount)
    drawdown = _hold(
        line_id=line_id,
        customer=customer,
        amount=amount,
        term_months=term_months,
        repayment_method=repayment_method,
        channel=channel,
    )
    return _create_and_disburse(drawdown, actor=_user(staff))


def _create_and_disburse(drawdown: Drawdown, *, actor=None) -> Drawdown:
    line = CreditLine.objects.select_related("product", "customer").get(pk=drawdown.line_id)
    if drawdown.loan_id is None:
        try:
            loan = loan_create(
                customer=line.customer,
                product=line.product,
                principal=drawdown.amount,
                annual_rate=drawdown.annual_rate,
                term_months=drawdown.term_months,
                method=drawdown.repayment_method,
                branch=line.branch,
                account_manager=line.account_manager,
            )
        except ApplicationError as exc:
            return _release(drawdown.pk, reason=exc.message_zh)
        with transaction.atomic():
            Drawdown.objects.select_for_update(no_key=True).filter(pk=drawdown.pk).update(
                loan=loan, state=DrawdownState.DISBURSING, updated_at=timezone.now()
            )
        drawdown.refresh_from_db()
    try:
        loan = loan_disburse(loan_id=drawdown.loan_id, actor=actor)
    except ApplicationError as exc:
        if exc.code == "disbursement_failed":
            return _release(drawdown.pk, reason=exc.message_zh)
        # core system unreachable or answer unknown: keep the hold, the resume job retries with the same
        # request id (idempotent at the core), so money can neither be paid twice nor released too early
        Drawdown.objects.filter(pk=drawdown.pk, state=DrawdownState.DISBURSING).update(
            failure_reason=f"放款处理中：{exc.message_zh}"[:200], updated_at=timezone.now()
        )
        drawdown.refresh_from_db()
        return drawdown
    if loan.state != LoanState.PENDING:
        return _mark_disbursed(drawdown.pk)
    drawdown.refresh_from_db()
    return drawdown


def _mark_disbursed(drawdown_id: int) -> Drawdown:
    with transaction.atomic():
        drawdown = Drawdown.objects.select_for_update(no_key=True, of=("self",)).select_related("line").get(pk=drawdown_id)
        if drawdown.state == DrawdownState.DISBURSED:
            return drawdown
        if drawdown.state == DrawdownState.FAILED:
            # cannot happen by construction: a hold is released only once the loan engine has dropped the
            # disbursement reference, so no settlement can arrive for it any more. Leave it for staff.
            logger.error("drawdown %s: settlement reported after its hold was released", drawdown.pk)
            return drawdown
        drawdown.state = DrawdownState.DISBURSED
        drawdown.failure_reason = ""
        drawdown.save(update_fields=["state", "failure_reason", "updated_at"])
        publish(
            "lending.drawdown_disbursed",
            _line_payload(
                drawdown.line,
                {"drawdown_id": drawdown.pk, "loan_id": drawdown.loan_id, "amount": drawdown.amount},
            ),
        )
        return drawdown


def _release(drawdown_id: int, *, reason: str) -> Drawdown:
    """Give the held amount back to the line and fail the drawdown (parents locked before children)."""
    with transaction.atomic():
        line_id = Drawdown.objects.filter(pk=drawdown_id).values_list("line_id", flat=True).first()
        line = _lock_line(line_id)
        drawdown = Drawdown.objects.select_for_update(no_key=True).get(pk=drawdown_id)
        if drawdown.state in (DrawdownState.FAILED, DrawdownState.DISBURSED):
            return drawdown
        if drawdown.loan_id is not None:
            loan = Loan.objects.select_for_update(no_key=True).get(pk=drawdown.loan_id)
            if loan.state != LoanState.PENDING or loan.disbursement_reference:
                return drawdown  # disbursed or still waiting for the core system: nothing to release
        line.used -= drawdown.amount
        line.available += drawdown.amount
        _save_balances(line)
        _journal(line, Kind.RELEASE, drawdown.amount, reference=drawdown.drawdown_no, reason=reason or "放款失败释放")
        drawdown.state = DrawdownState.FAILED
        drawdown.failure_reason = (reason or "放款失败")[:200]
        drawdown.save(update_fields=["state", "failure_reason", "updated_at"])
        publish(
            "lending.drawdown_failed",
            _line_payload(
                line, {"drawdown_id": drawdown.pk, "loan_id": drawdown.loan_id, "amount": drawdown.amount, "reason": reason}
            ),
        )
        return drawdown


def drawdown_disbursement_settled(*, loan_id: int) -> Drawdown | None:
    """Core banking confirmed a pending disbursement (bus ``lending.loan_disbursed``)."""
    drawdown_id = Drawdown.objects.filter(loan_id=loan_id).values_list("pk", flat=True).first()
    if drawdown_id is None:
        return None
    return _mark_disbursed(drawdown_id)


def drawdown_disbursement_failed(*, loan_id: int, message: str = "") -> Drawdown | None:
    """Core banking refused a pending disbursement (bus ``lending.loan_disbursement_failed``)."""
    drawdown_id = Drawdown.objects.filter(loan_id=loan_id).values_list("pk", flat=True).first()
    if drawdown_id is None:
        return None
    return _release(drawdown_id, reason=f"放款失败：{message}" if message else "放款失败")


def drawdowns_resume(*, older_than_minutes: int = 5) -> int:
    """Beat job: finish drawdowns interrupted between the steps: a hold without a loan (a crash right
    after the hold) is released; a loan whose disbursement was not confirmed (the core system was
    unreachable) is sent again with the same request id (idempotent at the core)."""
    cutoff = timezone.now() - dt.timedelta(minutes=older_than_minutes)
    ids = list(
        Drawdown.objects.filter(state__in=[DrawdownState.REQUESTED, DrawdownState.DISBURSING], updated_at__lt=cutoff)
        .order_by("id")
        .values_list("pk", flat=True)[:500]
    )
    for drawdown_id in ids:
        drawdown = Drawdown.objects.get(pk=drawdown_id)
        loan = Loan.objects.filter(pk=drawdown.loan_id).first() if drawdown.loan_id else None
        if loan is not None and loan.disbursement_reference and loan.state == LoanState.PENDING:
            continue  # sent and accepted as pending: the callback finishes it
        try:
            if loan is None:
                # interrupted before the loan existed: the customer saw no result, so do not pay out
                # minutes later — give the amount back and let them draw again
                _release(drawdown.pk, reason="用信处理中断，额度已释放，请重新发起")
            else:
                _create_and_disburse(drawdown)
        except Exception:  # one broken row must not stop the others
            logger.exception("drawdown %s could not be resumed", drawdown_id)
    return len(ids)


# --- revolving restore --------------------------------------------------------------------------------


def credit_line_restore_sync(*, loan_id: int) -> Decimal:
    """还款恢复额度: make the restored amount of the loan's drawdown equal the principal repaid on the
    loan (revolving lines only). Positive → available goes up; a reversal → it goes down again (never
    below zero: what cannot be taken back now is taken from later restores). Returns the change."""
    drawdown = Drawdown.objects.filter(loan_id=loan_id).only("pk", "line_id", "drawdown_no").first()
    if drawdown is None:
        return ZERO
    with transaction.atomic():
        line = _lock_line(drawdown.line_id)
        if not line.revolving:
            return ZERO
        loan = Loan.objects.filter(pk=loan_id).first()
        if loan is None or loan.disbursed_on is None or loan.state == LoanState.WRITTEN_OFF:
            return ZERO  # written off: principal was lost, not repaid
        repaid = loan.principal - loan.principal_outstanding
        restored = (
            CreditLineChange.objects.filter(line=line, kind=Kind.RESTORE, reference=drawdown.drawdown_no).aggregate(
                total=Sum("amount")
            )["total"]
            or ZERO
        )
        delta = repaid - restored
        if delta > 0:
            delta = min(delta, line.used)
        elif delta < 0:
            delta = -min(-delta, line.available)
        if delta == 0:
            return ZERO
        line.used -= delta
        line.available += delta
        _save_balances(line)
        _journal(
            line,
            Kind.RESTORE,
            delta,
            reference=drawdown.drawdown_no,
            reason="还款恢复额度" if delta > 0 else "还款冲正，收回已恢复额度",
        )
        return delta


# --- staff requests (maker-checker) -------------------------------------------------------------------

Action = CreditLineRequest.Action


def _validate_action(line: CreditLine, action: str, new_limit: Decimal | None, business_date: dt.date) -> None:
    if line.state == CreditLineState.CLOSED:
        raise Conflict("该授信额度已关闭。", "the credit line is closed", code="line_closed")
    if action == Action.FREEZE and line.state != CreditLineState.ACTIVE:
        raise Conflict("只有有效状态的额度可以冻结。", "only an active line can be frozen", code="line_not_active")
    if action == Action.UNFREEZE:
        if line.state != CreditLineState.FROZEN:
            raise Conflict("该额度未冻结。", "the line is not frozen", code="line_not_frozen")
        if line.valid_until < business_date:
            raise Conflict("该额度已过有效期，不能解冻。", "the line has expired", code="line_expired")
    if action == Action.ADJUST:
        if new_limit is None:
            raise LendingError("请填写新额度。", "new_limit is required", code="new_limit_required", extra={"field": "new_limit"})
        if new_limit < line.used:
            raise LendingError(
                f"新额度 {new_limit:,.2f} 元不能低于已用额度 {line.used:,.2f} 元。",
                f"new limit {new_limit} is below the used amount {line.used}",
                code="limit_below_used",
                extra={"field": "new_limit"},
            )
        if new_limit > line.product.max_amount:
            raise LendingError(
                f"新额度不能超过产品最高额度 {line.product.max_amount:,.2f} 元。",
                "new limit above the product maximum",
                code="limit_above_product_max",
                extra={"field": "new_limit"},
            )
    if action == Action.CLOSE and line.used > 0:
        raise Conflict(
            f"额度尚有已用金额 {line.used:,.2f} 元未结清，不能关闭（可先冻结）。",
            "a line with used credit cannot be closed (freeze it instead)",
            code="line_in_use",
        )


def credit_line_request_submit(*, line_id: int, action: str, maker: Staff, reason: str, new_limit=None) -> CreditLineRequest:
    """经办: ask to freeze / unfreeze / adjust / close a line; another staff member approves it. The request
    waits as a review task (额度变更复核, kind ``line_change``) opened in the same transaction."""
    if action not in Action.values:
        raise LendingError("不支持的操作。", f"unknown action {action!r}", code="invalid_action")
    if not (reason or "").strip():
        raise LendingError("请填写原因。", "a reason is required", code="reason_required", extra={"field": "reason"})
    maker = _staff(maker)
    if maker is None:
        raise PermissionDeniedError("只有员工可以发起额度操作。", "only staff may make a request", code="not_staff")
    limit = parse_amount(new_limit, field="new_limit") if action == Action.ADJUST and new_limit not in (None, "") else None
    with transaction.atomic():
        line = _lock_line(line_id)
        _validate_action(line, action, limit, get_business_date())
        if CreditLineRequest.objects.filter(line=line, status=CreditLineRequest.Status.PENDING).exists():
            raise Conflict("该额度已有待复核的操作申请。", "a request for this line is already pending", code="request_pending")
        item = CreditLineRequest.objects.create(
            line=line, action=action, new_limit=limit, reason=reason.strip()[:200], maker=maker
        )
        review_task_open_for_line_request(line_request=item, now=item.created_at)
        return item


def _decide_request(request_id: int, checker) -> tuple[CreditLine, CreditLineRequest, Staff]:
    line_id = CreditLineRequest.objects.filter(pk=request_id).values_list("line_id", flat=True).first()
    if line_id is None:
        raise NotFound("额度操作申请不存在。", "credit line request not found", code="request_not_found")
    line = _lock_line(line_id)
    item = CreditLineRequest.objects.select_for_update(no_key=True).get(pk=request_id)
    checker = _staff(checker)
    if checker is None:
        raise PermissionDeniedError("只有员工可以复核。", "only staff may check a request", code="not_staff")
    if checker.pk == item.maker_id:
        raise PermissionDeniedError(
            "经办人不能复核自己发起的申请（双人复核）。", "the maker cannot check their own request", code="maker_is_checker"
        )
    return line, item, checker


def credit_line_request_approve(*, request_id: int, checker, comment: str = "") -> CreditLineRequest:
    """复核通过: apply the request under the line lock with a journal row (maker ≠ checker); its review
    task is closed (outcome approved, assignee = checker) in the same transaction."""
    with transaction.atomic():
        line, item, checker = _decide_request(request_id, checker)
        if item.status == CreditLineRequest.Status.APPROVED:
            return item  # a repeated click
        if item.status != CreditLineRequest.Status.PENDING:
            raise Conflict("该申请已处理。", "the request was already decided", code="request_decided")
        now = timezone.now()
        review_task_close_for_line_request(line_request=item, checker=checker, approved=True, comment=comment, now=now)
        business_date = get_business_date()
        _validate_action(line, item.action, item.new_limit, business_date)
        reason = f"{item.reason}；复核：{comment}" if comment else item.reason
        if item.action == Action.FREEZE:
            line.state, kind = CreditLineState.FROZEN, Kind.FREEZE
        elif item.action == Action.UNFREEZE:
            line.state, kind = CreditLineState.ACTIVE, Kind.UNFREEZE
        elif item.action == Action.CLOSE:
            line.state, kind = CreditLineState.CLOSED, Kind.CLOSE
        else:
            line.limit = item.new_limit
            line.available = item.new_limit - line.used
            kind = Kind.ADJUST
        _save_balances(line, "state")
        amount = item.new_limit if kind == Kind.ADJUST else ZERO
        _journal(line, kind, amount, reference=f"REQ{item.pk}", reason=reason, maker=item.maker, checker=checker)
        item.status = CreditLineRequest.Status.APPROVED
        item.checker = checker
        item.checked_at = now
        item.comment = (comment or "")[:200]
        item.save(update_fields=["status", "checker", "checked_at", "comment"])
        publish(
            "lending.credit_line_changed",
            _line_payload(
                line, {"action": item.action, "state": line.state, "limit": line.limit, "business_date": business_date}
            ),
        )
        return item


def credit_line_request_reject(*, request_id: int, checker, comment: str = "") -> CreditLineRequest:
    """驳回: nothing changes on the line (maker ≠ checker); its review task is closed (outcome rejected)."""
    with transaction.atomic():
        _line, item, checker = _decide_request(request_id, checker)
        if item.status == CreditLineRequest.Status.REJECTED:
            return item
        if item.status != CreditLineRequest.Status.PENDING:
            raise Conflict("该申请已处理。", "the request was already decided", code="request_decided")
        now = timezone.now()
        review_task_close_for_line_request(line_request=item, checker=checker, approved=False, comment=comment, now=now)
        item.status = CreditLineRequest.Status.REJECTED
        item.checker = checker
        item.checked_at = now
        item.comment = (comment or "")[:200]
        item.save(update_fields=["status", "checker", "checked_at", "comment"])
        return item


# --- expiry (beat job) --------------------------------------------------------------------------------


def credit_lines_expire(*, business_date: dt.date | None = None, chunk: int = 500) -> int:
    """到期: active and frozen lines whose validity ended before the business date become expired (one
    journal row each). Set-based in chunks of ids, one short transaction per chunk; rerunnable."""
    business_date = business_date or get_business_date()
    open_states = [CreditLineState.ACTIVE, CreditLineState.FROZEN]
    ids = list(
        CreditLine.objects.filter(state__in=open_states, valid_until__lt=business_date)
        .order_by("id")
        .values_list("pk", flat=True)
    )
    done = 0
    for start in range(0, len(ids), chunk):
        with transaction.atomic():
            lines = list(
                CreditLine.objects.select_for_update(no_key=True)
                .filter(pk__in=ids[start : start + chunk], state__in=open_states, valid_until__lt=business_date)
                .order_by("id")
            )
            if not lines:
                continue
            CreditLine.objects.filter(pk__in=[line.pk for line in lines]).update(
                state=CreditLineState.EXPIRED, updated_at=timezone.now()
            )
            CreditLineChange.objects.bulk_create(
                [
                    CreditLineChange(
                        line=line,
                        kind=Kind.EXPIRE,
                        amount=ZERO,
                        limit_after=line.limit,
                        used_after=line.used,
                        available_after=line.available,
                        reason=f"额度于 {line.valid_until:%Y-%m-%d} 到期",
                    )
                    for line in lines
                ]
            )
            done += len(lines)
    return done

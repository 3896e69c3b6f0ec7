"""Loan applications (贷款申请) and their automated decision (自动审批, 八随五秒).

``application_create`` writes a draft; ``application_submit`` moves it draft → submitted → deciding and
runs the rule flow synchronously in the same transaction — admission → rating → limit → pricing through
``riskrules.facade.decide`` (吉农快贷: the pinned flow ``jnkd_credit`` for admission, rating and limit,
then pricing) — and ends approved, rejected or referred (a manual review task is opened). Every later
step of an application (offer, APR, disbursement) reads the product snapshot taken at submission, so a
product change applies to new applications only.

Amounts are Decimal yuan; the rules receive integer fen. ``annual_rate`` and ``apr`` on the application
are fractions (0.0435 = 4.35 %); ``Loan.apr`` of the engine is a percentage.
"""

import datetime as dt
import logging
import secrets
import time
from collections.abc import Callable
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from jikuai.core import bus, fastsql
from jikuai.core.exceptions import ApplicationError, Conflict, NotFound, PermissionDeniedError
from jikuai.core.fsmlog import deferred_state_logs
from jikuai.core.money import yuan_to_fen
from jikuai.core.workdays import get_business_date
from jikuai.customers.models import Customer
from jikuai.org.models import Staff
from jikuai.org.scoping import scope_queryset
from lending import providers
from lending import schedule as sched
from lending.models import (
    OPEN_APPLICATION_STATES,
    ApplicationChannel,
    ApplicationState,
    Contract,
    ContractKind,
    ContractState,
    Loan,
    LoanApplication,
    Product,
    ProductKind,
    ProductStatus,
    ReviewTask,
    ReviewTaskStatus,
)
from lending.models.origination import CANCELLABLE
from lending.services.common import LendingError, parse_amount
from lending.services.loans import loan_create, loan_disburse, validate_offer
from lending.services.products import product_from_snapshot, product_snapshot
from riskrules import facade as rules

logger = logging.getLogger(__name__)

HUNDRED = Decimal(100)
TWELVE = Decimal(12)
NO_CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read out over the phone
DECIDED_STATES = {
    ApplicationState.APPROVED,
    ApplicationState.REJECTED,
    ApplicationState.REFERRED,
    ApplicationState.CONTRACT_PENDING,
    ApplicationState.SIGNED,
    ApplicationState.ACTIVE,
    ApplicationState.DISBURSED,
}
# Each seeded product decides admission → rating → limit → pricing in one pinned rule flow
# ``<code>_origination`` (one decision record, features resolved once); settings may map other products.
# A product whose flow is not deployed is decided step by step with its four rule sets.
DEFAULT_CREDIT_FLOWS = {code: f"{code}_origination" for code in ("jnkd", "tsd", "gxd", "jld", "xyd", "ydd", "jwkd")}
APPLICATION_INPUTS = {
    # optional facts the applicant or the account manager states (rule catalogue variables)
    "employer_category": "enum",
    "employment_years": "number",
    "business_years": "number",
    "household_appraisal": "enum",
}
EMPLOYER_CATEGORIES = {
    "government": "政府机关",
    "public_institution": "事业单位",
    "hospital": "医院",
    "school": "学校",
    "listed_enterprise": "上市/优质企业",
    "state_enterprise": "国有企业",
    "private_enterprise": "民营企业",
    "self_employed": "个体经营",
    "agriculture": "农业生产",
    "other": "其他",
}
HOUSEHOLD_APPRAISALS = {"excellent": "优秀", "good": "良好", "fair": "一般", "poor": "较差", "none": "未评议"}

# reasons origination adds to those of the rules
REASON_TEXTS = {
    "NO_RULESET": "产品未配置完整的审批规则，转人工审核",
    "RULESET_NOT_DEPLOYED": "审批规则尚未发布，转人工审核",
    "NO_PRICE": "未能自动定价，转人工审核",
    "LIMIT_BELOW_MIN": "测算额度低于产品最低金额",
    "OFFER_OUT_OF_RANGE": "自动定价超出产品参数范围，转人工审核",
}


class OriginationError(LendingError):
    code = "origination_error"


# --- helpers ------------------------------------------------------------------------------------------


def credit_flows() -> dict[str, str]:
    return {**DEFAULT_CREDIT_FLOWS, **getattr(settings, "JIKUAI_ORIGINATION_CREDIT_FLOWS", {})}


def new_application_no(day: dt.date) -> str:
    """``AP`` + business date + 6 symbols (no 0/O/1/I), e.g. AP20261129K7Q2MX."""
    return f"AP{day:%Y%m%d}" + "".join(secrets.choice(NO_CODE_ALPHABET) for _ in range(6))


def _parse_term(value) -> int:
    if isinstance(value, bool):
        value = None
    try:
        term = int(str(value).strip())
    except (TypeError, ValueError):
        raise OriginationError(
            "期限格式不正确。",
            "term_months must be a whole number of months",
            code="invalid_term",
            extra={"field": "term_months"},
        ) from None
    return term


def _check_terms(snapshot: dict, *, amount: Decimal, term_months: int, method: str) -> None:
    minimum, maximum = Decimal(snapshot["min_amount"]), Decimal(snapshot["max_amount"])
    if amount < minimum or amount > maximum:
        raise OriginationError(
            f"申请金额须在 {minimum:,.2f} 至 {maximum:,.2f} 元之间。",
            f"amount must be between {minimum} and {maximum}",
            code="amount_out_of_range",
            extra={"field": "amount"},
        )
    if term_months not in snapshot["term_options"]:
        raise OriginationError(
            f"期限须为以下之一：{'、'.join(str(t) for t in snapshot['term_options'])} 个月。",
            f"term must be one of {snapshot['term_options']} months",
            code="term_not_allowed",
            extra={"field": "term_months"},
        )
    if method not in snapshot["allowed_methods"]:
        allowed = "、".join(sched.Method.LABELS.get(m, m).split(" ")[0] for m in snapshot["allowed_methods"])
        raise OriginationError(
            f"该产品不支持此还款方式，可选：{allowed}。",
            f"repayment method {method!r} is not offered by this product",
            code="method_not_allowed",
            extra={"field": "repayment_method"},
        )


def _check_product(product: Product, *, customer: Customer, channel: str) -> None:
    if product.status != ProductStatus.ACTIVE or not product.is_active:
        label = ProductStatus(product.status).label.split(" ")[0]
        raise OriginationError(
            f"产品“{product.name}”当前{label}，暂不受理申请。",
            "product is not on sale",
            code="product_inactive",
            extra={"field": "product"},
        )
    if product.institution_id and product.institution_id != customer.institution_id:
        raise OriginationError(
            "该产品不面向您所在的机构。",
            "product is not offered to the customer's institution",
            code="product_not_available",
            extra={"field": "product"},
        )
    if channel not in ApplicationChannel.values:
        raise OriginationError("申请渠道无效。", "unknown channel", code="invalid_channel", extra={"field": "channel"})
    if channel not in (product.channels or []):
        label = ApplicationChannel(channel).label.split(" ")[0]
        raise OriginationError(
            f"该产品暂不支持通过“{label}”申请。",
            f"product is not offered on channel {channel}",
            code="channel_not_offered",
            extra={"field": "channel"},
        )


def _clean_inputs(extra_inputs: dict | None) -> dict:
    cleaned = {}
    for name, value in (extra_inputs or {}).items():
        if value in (None, ""):
            continue
        if name not in APPLICATION_INPUTS:
            raise OriginationError(
                f"未知的申请信息“{name}”。", f"unknown application input {name}", code="invalid_input", extra={"field": name}
            )
        if name == "employer_category" and value not in EMPLOYER_CATEGORIES:
            raise OriginationError("单位类别无效。", "unknown employer_category", code="invalid_input", extra={"field": name})
        if name == "household_appraisal" and value not in HOUSEHOLD_APPRAISALS:
            raise OriginationError(
                "农户评议结果无效。", "unknown household_appraisal", code="invalid_input", extra={"field": name}
            )
        if APPLICATION_INPUTS[name] == "number":
            try:
                number = Decimal(str(value))
            except ArithmeticError:
                number = None
            if number is None or not number.is_finite() or not 0 <= number <= 80:
                raise OriginationError(
                    "年限须为0至80之间的数字。",
                    f"{name} must be a number of years 0-80",
                    code="invalid_input",
                    extra={"field": name},
                )
            value = int(number) if number == number.to_integral_value() else float(number)
        cleaned[name] = value
    return cleaned


def _actor_user(staff: Staff | None):
    return staff.user if staff is not None else None


def _check_staff_institution(staff: Staff | None, institution_id: int) -> None:
    if staff is not None and staff.institution_id is not None and staff.institution_id != institution_id:
        raise PermissionDeniedError(
            "该客户不属于您所在的机构。", "customer belongs to another institution", code="other_institution"
        )


def _locked_application(application_id: int, *, staff: Staff | None, customer: Customer | None) -> LoanApplication:
    queryset = LoanApplication.objects.select_for_update(no_key=True)
    if staff is not None:
        queryset = scope_queryset(queryset, staff.user, grant_perm=None)
    if customer is not None:
        queryset = queryset.filter(customer_id=customer.pk)
    app = queryset.filter(pk=application_id).first()
    if app is None:
        raise NotFound("申请不存在。", "application not found", code="application_not_found")
    return app


# --- create -------------------------------------------------------------------------------------------


def _draft(
    *,
    customer: Customer,
    product: Product,
    amount,
    term_months,
    repayment_method: str,
    channel: str,
    purpose: str,
    staff: Staff | None,
    declared_monthly_income,
    extra_inputs: dict | None,
) -> LoanApplication:
    """The validated, unsaved draft (no application number yet): every refusal of bad input happens here,
    before anything is written."""
    _check_product(product, customer=customer, channel=channel)
    _check_staff_institution(staff, customer.institution_id)
    amount = parse_amount(amount, field="amount")
    term = _parse_term(term_months)
    snapshot = product_snapshot(product)
    _check_terms(snapshot, amount=amount, term_months=term, method=repayment_method)
    income = None
    if declared_monthly_income not in (None, ""):
        income = parse_amount(declared_monthly_income, field="declared_monthly_income", allow_zero=True)
    purpose = (purpose or "").strip()
    if len(purpose) > 200:
        raise OriginationError(
            "用途不超过200个字。", "purpose is at most 200 characters", code="invalid_purpose", extra={"field": "purpose"}
        )
    return LoanApplication(
        institution_id=customer.institution_id,
        branch_id=customer.branch_id or (staff.branch_id if staff else None),
        account_manager=staff or customer.account_manager,
        created_by_staff=staff,
        customer=customer,
        product=product,
        product_version=product.version,
        product_snapshot=snapshot,
        kind=product.kind,
        channel=channel,
        amount_requested=amount,
        term_months=term,
        repayment_method=repayment_method,
        purpose=purpose,
        declared_monthly_income=income,
        decision_inputs=_clean_inputs(extra_inputs),
    )


def _open_application_no(customer: Customer, product: Product) -> str | None:
    return (
        LoanApplication.objects.filter(customer=customer, product=product, state__in=OPEN_APPLICATION_STATES)
        .values_list("application_no", flat=True)
        .first()
    )


def _note_income(customer: Customer, income) -> None:
    """A declared monthly income fills the customer's income when none is on file."""
    if income and not customer.monthly_income:
        Customer.objects.filter(pk=customer.pk, monthly_income=0).update(monthly_income=income)
        customer.monthly_income = income


def application_create(
    *,
    customer: Customer,
    product: Product,
    amount,
    term_months,
    repayment_method: str,
    channel: str,
    purpose: str = "",
    staff: Staff | None = None,
    declared_monthly_income=None,
    extra_inputs: dict | None = None,
) -> LoanApplication:
    """A draft application. Refuses (nothing written) a product not on sale, not offered on ``channel``
    or to the customer's institution, an amount / term / method outside the product, and a second open
    application of the customer for the product (Conflict ``application_open``).

    ``staff`` (移动展业) is recorded as ``created_by_staff`` and ``account_manager``. A declared monthly
    income is kept on the application and fills the customer's income when none is on file.
    ``extra_inputs``: optional rule inputs (employer_category, employment_years, business_years,
    household_appraisal)."""
    app = _draft(
        customer=customer,
        product=product,
        amount=amount,
        term_months=term_months,
        repayment_method=repayment_method,
        channel=channel,
        purpose=purpose,
        staff=staff,
        declared_monthly_income=declared_monthly_income,
        extra_inputs=extra_inputs,
    )
    business_date = get_business_date()
    with transaction.atomic():
        existing = _open_application_no(customer, product)
        if existing:
            raise _open_conflict(existing)
        for _attempt in range(3):
            try:
                with transaction.atomic():
                    app.pk = None
                    app.application_no = new_application_no(business_date)
                    app.save(force_insert=True)
                break
            except IntegrityError:
                other = _open_application_no(customer, product)
                if other:  # a concurrent request won the one-open-application constraint
                    raise _open_conflict(other) from None
        else:  # pragma: no cover - three colliding random numbers
            raise Conflict("申请编号冲突，请重试。", "application number collision, retry", code="retry")
        _note_income(customer, app.declared_monthly_income)
    logger.info(
        "application created %s customer=%s product=%s channel=%s", app.application_no, customer.pk, product.code, channel
    )
    return app


def application_apply(
    *,
    customer: Customer,
    product: Product,
    amount,
    term_months,
    repayment_method: str,
    channel: str,
    purpose: str = "",
    staff: Staff | None = None,
    declared_monthly_income=None,
    extra_inputs: dict | None = None,
    on_decided: Callable[[LoanApplication], None] | None = None,
) -> LoanApplication:
    """Create, submit and decide in one transaction (the integrator API's one call): the same checks
    and the same decision as ``application_create`` followed by ``application_submit``, written once.

    The application is decided before its row exists and inserted in its final state (approved,
    rejected or referred) with its history row and whole transition history (created → submitted →
    deciding → outcome), one statement — no draft is written and re-read. A refusal writes nothing. A
    second open application of the customer for the product is refused (Conflict ``application_open``)
    by the one-open-application index itself, with no look-up first: the decision made meanwhile rolls
    back with the insert (a rare case, paid for by it alone), and a concurrent race ends the same way. An
    application number taken meanwhile (random, one in ~10⁹ per number and day) is retried under a new
    number, deciding again. ``on_decided(app)`` runs last inside that transaction, with the application
    written (the API stores its idempotent answer there, so both commit together)."""
    started = time.perf_counter()
    terms = {
        "customer": customer,
        "product": product,
        "amount": amount,
        "term_months": term_months,
        "repayment_method": repayment_method,
        "channel": channel,
        "purpose": purpose,
        "staff": staff,
        "declared_monthly_income": declared_monthly_income,
        "extra_inputs": extra_inputs,
    }
    app = _draft(**terms)  # every refusal of bad input happens here, before anything is written
    for attempt in range(3):
        if attempt:
            app = _draft(**terms)  # the number was taken meanwhile (rare): decide again under a new one
        try:  # no advisory look-up first: the one-open-application index answers, and a refusal rolls back
            with transaction.atomic():
                _apply_once(app, customer=customer, product=product, staff=staff, started=started)
                if on_decided is not None:
                    on_decided(app)
            break
        except IntegrityError:
            other = _open_application_no(customer, product)
            if other:  # a concurrent request won the one-open-application constraint
                raise _open_conflict(other) from None
    else:  # pragma: no cover - three colliding random numbers
        raise Conflict("申请编号冲突，请重试。", "application number collision, retry", code="retry")
    logger.info("application %s applied and decided %s in %.0f ms", app.application_no, app.state, app.decision_ms)
    return app


def _apply_once(app: LoanApplication, *, customer: Customer, product: Product, staff: Staff | None, started: float) -> None:
    business_date = get_business_date()
    app.application_no = new_application_no(business_date)
    flow = credit_flows().get(product.code, "")
    if flow:
        app.product_snapshot["credit_flow_ruleset"] = flow
    by = _actor_user(staff)
    with deferred_state_logs(app) as logs:
        app.submit(by=by, description="员工代客提交" if staff is not None else "客户提交")
        app.start_deciding(by=by, description="自动审批")
        _apply(app, _decide(app, app.product_snapshot, business_date, customer), business_date, by=by)
        app.decision_ms = round((time.perf_counter() - started) * 1000, 1)
        # what save(force_insert=True) writes — the row and its history row — with its transition logs and,
        # where the relay hands events on, its decided event: one statement
        event = None
        if app.state != ApplicationState.REFERRED:
            event = bus.event_for_relay(DECIDED_TOPIC, _decided_payload(app, business_date))
        children = ((logs, "object_id"), *((([event], "payload.application_id"),) if event else ()))
        fastsql.insert_with_history([app], children=children)
    _note_income(customer, app.declared_monthly_income)
    if event is None:
        _after_decision(app, business_date)


def _after_decision(app: LoanApplication, business_date: dt.date) -> None:
    """A referred application gets its review task; a decided one is announced (contract, metrics)."""
    if app.state == ApplicationState.REFERRED:
        from lending.services.review import review_task_open

        review_task_open(application=app)
    else:
        bus.publish(DECIDED_TOPIC, _decided_payload(app, business_date))


def _open_conflict(application_no: str) -> Conflict:
    return Conflict(
        f"您已有一笔该产品的申请正在办理（编号 {application_no}），请勿重复申请。",
        f"an open application for this product already exists ({application_no})",
        code="application_open",
        extra={"field": "product", "application_no": application_no},
    )


# --- submit and decide -----------------------------------------------------------------------------------


def application_submit(*, application_id: int, staff: Staff | None = None, customer: Customer | None = None) -> LoanApplication:
    """Submit a draft and decide it at once (same transaction): approved / rejected / referred.

    A repeated submit of a decided application returns it unchanged. The product must still be on sale;
    its terms are snapshotted now (``product_version``, ``product_snapshot``) and re-checked."""
    started = time.perf_counter()
    with transaction.atomic():
        app = _locked_application(application_id, staff=staff, customer=customer)
        if app.state in DECIDED_STATES:
            return app
        if app.state != ApplicationState.DRAFT:
            raise Conflict(
                f"申请当前为“{app.get_state_display().split(' ')[0]}”，不能提交。",
                f"application is {app.state}, not a draft",
                code="not_draft",
            )
        product = Product.objects.get(pk=app.product_id)
        owner = Customer.objects.only("id", "institution_id").get(pk=app.customer_id)
        _check_product(product, customer=owner, channel=app.channel)
        snapshot = product_snapshot(product)
        _check_terms(snapshot, amount=app.amount_requested, term_months=app.term_months, method=app.repayment_method)
        flow = credit_flows().get(product.code, "")
        if flow:
            snapshot["credit_flow_ruleset"] = flow
        app.product_snapshot = snapshot
        app.product_version = product.version
        app.kind = product.kind
        by = _actor_user(staff)
        who = "员工代客提交" if staff is not None else "客户提交"
        app.submit(by=by, description=who)
        app.start_deciding(by=by, description="自动审批")
        business_date = get_business_date()
        result = _decide(app, snapshot, business_date)
        _apply(app, result, business_date, by=by)
        app.decision_ms = round((time.perf_counter() - started) * 1000, 1)
        app.save()
        _after_decision(app, business_date)
    logger.info("application %s decided %s in %.0f ms", app.application_no, app.state, app.decision_ms)
    return app


DECIDED_TOPIC = "lending.application_decided"


def _decided_payload(app: LoanApplication, business_date: dt.date) -> dict:
    """The automated counterpart of the manual review's event (same topic and keys, ``source`` automatic)."""
    approved = app.state == ApplicationState.APPROVED
    return {
        "application_id": app.pk,
        "application_no": app.application_no,
        "customer_id": app.customer_id,
        "product_code": app.product_snapshot.get("code", ""),
        "kind": app.kind,
        "outcome": "approved" if approved else "rejected",
        "state": app.state,
        "source": "automatic",
        "reviewer_staff_id": None,
        "approved_amount": f"{app.approved_amount:.2f}" if approved else None,
        "approved_amount_fen": yuan_to_fen(app.approved_amount) if approved else None,
        "annual_rate": str(app.annual_rate) if approved else None,
        "expires_on": app.expires_on.isoformat() if app.expires_on else None,
        "business_date": business_date.isoformat(),
        "institution_id": app.institution_id,
        "branch_id": app.branch_id,
        "account_manager_id": app.account_manager_id,
    }


class _Result:
    def __init__(self):
        self.outcome = "approve"
        self.decision_ids: dict[str, int] = {}
        self.reasons: list[list[str]] = []
        self.grade = ""
        self.limit: Decimal | None = None
        self.rate: Decimal | None = None
        self.inputs: dict = {}

    def add_reasons(self, pairs) -> None:
        seen = {code for code, _ in self.reasons}
        for code, text in pairs:
            if code not in seen:
                self.reasons.append([code, text])
                seen.add(code)

    def worsen(self, outcome: str) -> None:
        order = {"approve": 0, "refer": 1, "reject": 2}
        if order.get(outcome, 1) > order[self.outcome]:
            self.outcome = outcome


def _monthly_debt_fen(app: LoanApplication, snapshot: dict, business_date: dt.date) -> int:
    """月还款额（含本笔）: the level installments of the customer's open loans (interest on the balance for
    interest-only and bullet loans) plus this application's monthly payment at an indicative rate (the
    product's floor rate plus its widest spread): the annuity, the first equal-principal payment, the
    interest of an interest-only loan, or a bullet loan as if amortised monthly."""
    total = Decimal(0)
    for payment, level_principal, rate, outstanding in providers.loan_figures(app.customer_id, business_date)["open_loans"]:
        if payment:
            total += payment
        else:
            total += (level_principal or 0) + outstanding * rate / TWELVE
    spreads = snapshot.get("lpr_spreads_bp") or {}
    indicative = Decimal(snapshot["min_rate"]) + Decimal(max(spreads.values(), default=0)) / Decimal(10000)
    amount, months = app.amount_requested, app.term_months
    monthly_interest = amount * indicative / TWELVE
    if app.repayment_method == sched.Method.EQUAL_INSTALLMENT:
        total += sched.annuity_for_rate(amount, indicative, months)
    elif app.repayment_method == sched.Method.INTEREST_ONLY:
        total += monthly_interest  # 先息后本: the principal is due at maturity
    else:  # equal principal (its first, largest payment) and bullet (as if amortised monthly)
        total += amount / months + monthly_interest
    return yuan_to_fen(total)


def _decision_inputs(app: LoanApplication, snapshot: dict, business_date: dt.date) -> dict:
    inputs = {name: value for name, value in (app.decision_inputs or {}).items() if name in APPLICATION_INPUTS}
    inputs.update(
        {
            "decision_date": business_date.isoformat(),
            "requested_amount_fen": yuan_to_fen(app.amount_requested),
            "term_months": app.term_months,
            "monthly_debt_fen": _monthly_debt_fen(app, snapshot, business_date),
        }
    )
    return inputs


def _deployed_flow(code: str, subject, inputs: dict, *, channel: str, customer: Customer | None = None):
    """The flow's decision, or None when no version of it is deployed (then the steps run one by one)."""
    try:
        return rules.decide(code, subject, inputs, channel=channel, customer=customer)
    except NotFound as exc:
        if exc.code != "ruleset_not_deployed":
            raise
        return None


def _decide(app: LoanApplication, snapshot: dict, business_date: dt.date, customer: Customer | None = None) -> _Result:
    result = _Result()
    with providers.loan_figures_cache():  # the monthly debt and the rules read the loans once
        return _decide_steps(app, snapshot, business_date, customer, result)


def _decide_steps(app, snapshot: dict, business_date: dt.date, customer, result: _Result) -> _Result:
    inputs = _decision_inputs(app, snapshot, business_date)
    result.inputs = inputs
    subject = rules.Subject(
        kind="application", id=app.application_no, customer_id=app.customer_id, institution_id=app.institution_id
    )

    def run(step: str, code: str, extra: dict | None = None):
        try:
            decision = rules.decide(code, subject, {**inputs, **(extra or {})}, channel=app.channel)
        except NotFound as exc:
            if exc.code != "ruleset_not_deployed":
                raise
            result.worsen("refer")
            result.add_reasons([["RULESET_NOT_DEPLOYED", f"{REASON_TEXTS['RULESET_NOT_DEPLOYED']}（{code}）"]])
            return None
        result.decision_ids[step] = decision.decision_id
        result.add_reasons(decision.reasons)
        return decision

    flow = snapshot.get("credit_flow_ruleset")
    decision = _deployed_flow(flow, subject, inputs, channel=app.channel, customer=customer) if flow else None
    if decision is not None:
        result.decision_ids["flow"] = decision.decision_id
        result.add_reasons(decision.reasons)
        result.worsen(decision.outcome if decision.outcome in ("approve", "reject") else "refer")
        result.grade = decision.grade or ""
        result.limit = decision.amount
        if "rate_bp" in decision.outputs or result.outcome == "reject":
            result.rate = decision.rate
            return result  # the flow priced the offer (or refused it): nothing more to run
    else:
        if not snapshot.get("admission_ruleset") or not snapshot.get("limit_ruleset"):
            result.worsen("refer")
            result.add_reasons([["NO_RULESET", REASON_TEXTS["NO_RULESET"]]])
        for step in ("admission", "rating", "limit"):
            code = snapshot.get(f"{step}_ruleset")
            if not code or result.outcome == "reject":
                continue
            decision = run(step, code, {"grade": result.grade} if result.grade and step == "limit" else None)
            if decision is None:
                continue
            if step == "rating":
                if decision.grade:
                    result.grade = decision.grade
                if decision.outcome not in ("A", "B", "C", "D", "E"):
                    result.worsen("refer")
            else:
                result.worsen(decision.outcome if decision.outcome in ("approve", "reject") else "refer")
            if step == "limit":
                result.limit = decision.amount
    pricing = snapshot.get("pricing_ruleset")
    if result.outcome != "reject" and pricing:
        decision = run("pricing", pricing, {"grade": result.grade} if result.grade else None)
        if decision is not None:
            result.worsen(decision.outcome if decision.outcome in ("approve", "reject") else "refer")
            result.rate = decision.rate
    return result


def _apply(app: LoanApplication, result: _Result, business_date: dt.date, *, by=None) -> None:
    """Turn the rule outcome into the offer (amount, rate, APR) and the application's final state."""
    snapshot = app.product_snapshot
    app.decision_ids = result.decision_ids
    app.grade = result.grade
    app.decision_inputs = result.inputs
    app.decided_at = timezone.now()
    outcome = result.outcome
    approved_amount = rate = apr = None
    if outcome != "reject" and result.limit is not None:
        approved_amount = min(app.amount_requested, result.limit)
        if approved_amount < Decimal(snapshot["min_amount"]):
            outcome = "reject"
            result.add_reasons([["LIMIT_BELOW_MIN", REASON_TEXTS["LIMIT_BELOW_MIN"]]])
            approved_amount = None
    if outcome != "reject":
        rate = result.rate
        if rate is None:
            if outcome == "approve":
                outcome = "refer"
                result.add_reasons([["NO_PRICE", REASON_TEXTS["NO_PRICE"]]])
        elif approved_amount is not None:
            try:
                _principal, rate, _periods, _fee, apr_percent, _q = validate_offer(
                    product=product_from_snapshot(snapshot, product_id=app.product_id),
                    principal=approved_amount,
                    annual_rate=rate,
                    term_months=app.term_months,
                    method=app.repayment_method,
                    value_date=business_date,
                )
                apr = (apr_percent / HUNDRED).quantize(Decimal("0.000001"))
            except ApplicationError as exc:
                outcome = "refer"
                result.add_reasons([["OFFER_OUT_OF_RANGE", f"{REASON_TEXTS['OFFER_OUT_OF_RANGE']}：{exc.message_zh}"]])
        if outcome == "approve" and approved_amount is None:
            outcome = "refer"
    app.decision_outcome = outcome
    app.reasons = result.reasons
    if outcome == "reject":
        app.approved_amount = app.annual_rate = app.apr = None
        app.reject(by=by, description="自动审批拒绝")
        return
    # approved, or referred with the proposal the reviewer starts from
    app.approved_amount, app.annual_rate, app.apr = approved_amount, rate, apr
    if outcome == "approve":
        app.expires_on = business_date + dt.timedelta(days=int(snapshot.get("application_validity_days") or 30))
        app.approve(by=by, description="自动审批通过")
    else:
        app.refer(by=by, description="转人工审核")


# --- cancel, expire ---------------------------------------------------------------------------------------


@transaction.atomic
def application_cancel(
    *, application_id: int, reason: str, customer: Customer | None = None, staff: Staff | None = None
) -> LoanApplication:
    """撤销: the customer (own applications) or staff (in scope) withdraws an application that has not been
    signed. A repeated cancel is a no-op; a signed, disbursed, active, rejected or expired one is refused."""
    reason = (reason or "").strip()
    if not reason:
        raise OriginationError("请填写撤销原因。", "a reason is required", code="reason_required", extra={"field": "reason"})
    app = _locked_application(application_id, staff=staff, customer=customer)
    if app.state == ApplicationState.CANCELLED:
        return app
    if app.state not in CANCELLABLE:
        label = app.get_state_display().split(" ")[0]
        raise Conflict(
            f"申请当前为“{label}”，不能撤销。",
            f"an application in state {app.state} cannot be cancelled",
            code="not_cancellable",
        )
    app.closed_reason = reason[:200]
    app.cancel(by=_actor_user(staff), description=reason[:200])
    app.save()
    ReviewTask.objects.filter(application=app, status__in=[ReviewTaskStatus.OPEN, ReviewTaskStatus.CLAIMED]).update(
        status=ReviewTaskStatus.CANCELLED, completed_at=timezone.now(), comment="申请已撤销"
    )
    return app


def application_expire_due(*, business_date: dt.date | None = None, chunk: int = 500) -> int:
    """Approved / contract-pending applications not signed by ``expires_on`` → expired (beat job, daily).
    Short transactions per chunk; rows being worked on elsewhere are skipped and caught next run."""
    business_date = business_date or get_business_date()
    expired = 0
    while True:
        with transaction.atomic():
            rows = list(
                LoanApplication.objects.select_for_update(no_key=True, skip_locked=True)
                .filter(
                    state__in=[ApplicationState.APPROVED, ApplicationState.CONTRACT_PENDING],
                    expires_on__lt=business_date,
                )
                .order_by("id")[:chunk]
            )
            for app in rows:
                app.closed_reason = f"未在 {app.expires_on:%Y-%m-%d} 前签约"
                app.expire(description=app.closed_reason)
                app.save()
            expired += len(rows)
        if len(rows) < chunk:
            return expired


# --- disburse (one-off loans) -------------------------------------------------------------------------------


def _loan_contract_no(app: LoanApplication) -> str:
    signed = (
        Contract.objects.filter(application=app, kind=ContractKind.LOAN, state=ContractState.SIGNED)
        .order_by("-id")
        .values_list("contract_no", flat=True)
        .first()
    )
    return signed or f"JK{app.application_no}"


def application_disburse(*, application_id: int, actor=None) -> Loan:
    """放款: a signed one-off (kind=loan) application becomes a loan in the engine with the offered terms
    of its snapshot, disbursed through core banking; the application then moves signed → disbursed.

    Core-banking failure leaves the application signed (the pending loan is reused by a retry) and
    raises ``disbursement_failed`` with the cause. A repeat after success returns the loan."""
    with transaction.atomic():
        app = LoanApplication.objects.select_for_update(no_key=True).filter(pk=application_id).first()
        if app is None:
            raise NotFound("申请不存在。", "application not found", code="application_not_found")
        contract_no = _loan_contract_no(app)
        loan = Loan.objects.filter(contract_no=contract_no).first()
        if app.state == ApplicationState.DISBURSED and loan is not None:
            return loan
        if app.kind != ProductKind.LOAN:
            raise Conflict(
                "授信额度类申请不直接放款，请在额度内支用。",
                "credit line applications are drawn down, not disbursed",
                code="not_a_loan_application",
            )
        if app.state != ApplicationState.SIGNED:
            label = app.get_state_display().split(" ")[0]
            raise Conflict(
                f"申请当前为“{label}”，须签约后才能放款。", f"application is {app.state}, not signed", code="not_signed"
            )
        if loan is None:
            customer = Customer.objects.select_related("institution").get(pk=app.customer_id)
            loan = loan_create(
                customer=customer,
                product=product_from_snapshot(app.product_snapshot, product_id=app.product_id),
                principal=app.approved_amount,
                annual_rate=app.annual_rate,
                term_months=app.term_months,
                method=app.repayment_method,
                contract_no=contract_no,
                branch=app.branch,
                account_manager=app.account_manager,
            )
    try:
        loan = loan_disburse(loan_id=loan.pk, actor=actor)
    except ApplicationError as exc:
        raise OriginationError(
            f"放款未成功，申请保持“已签约”，可稍后重试：{exc.message_zh}",
            f"disbursement failed, the application stays signed: {exc.message_en}",
            code="disbursement_failed",
            extra={"loan_id": loan.pk, "cause": exc.code},
        ) from exc
    if loan.disbursed_on is None:
        return loan  # core banking answered "pending": the callback settles the loan, a retry finishes
    with transaction.atomic():
        app = LoanApplication.objects.select_for_update(no_key=True).get(pk=application_id)
        if app.state == ApplicationState.SIGNED:
            app.mark_disbursed(by=actor, description=f"放款 {loan.contract_no}")
            app.save()
    return loan

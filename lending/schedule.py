"""Repayment schedules (还款计划) and the annualised rate (年化利率, APR by IRR).

Pure functions, no database: the calculator page, the API, the command, loan creation, prepayment
re-amortisation and the nightly close all use these, so they agree to the fen.

Conventions (``DOMAIN.md``): P principal, n monthly periods, r annual rate as a fraction (0.06 = 6 %),
i = r/12, B_k the balance after period k. Amounts are rounded half-up to the fen where they are stored;
intermediate values keep full precision. Due dates fall monthly on the value date's day of month, on
the last day of a month that has no such day, and return to the original day afterwards.
"""

import calendar
import datetime as dt
import functools
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import NamedTuple

from jikuai.core.exceptions import ApplicationError

FEN = Decimal("0.01")
ZERO = Decimal("0.00")
ONE = Decimal(1)
TWELVE = Decimal(12)


class Method:
    """Repayment methods (还款方式)."""

    EQUAL_INSTALLMENT = "equal_installment"  # 等额本息
    EQUAL_PRINCIPAL = "equal_principal"  # 等额本金
    INTEREST_ONLY = "interest_only"  # 按月付息、到期还本 (先息后本)
    BULLET = "bullet"  # 利随本清

    CHOICES = [
        (EQUAL_INSTALLMENT, "等额本息 equal installment"),
        (EQUAL_PRINCIPAL, "等额本金 equal principal"),
        (INTEREST_ONLY, "按月付息到期还本 interest only"),
        (BULLET, "利随本清 bullet"),
    ]
    ALL = (EQUAL_INSTALLMENT, EQUAL_PRINCIPAL, INTEREST_ONLY, BULLET)
    LABELS = dict(CHOICES)


class PrepaymentOption:
    """What a partial prepayment changes: 缩期 keeps the installment and shortens the term, 减额 keeps
    the term and lowers the installment."""

    SHORTEN_TERM = "shorten_term"  # 缩期
    REDUCE_PAYMENT = "reduce_payment"  # 减额
    CHOICES = [(SHORTEN_TERM, "缩期 shorten the term"), (REDUCE_PAYMENT, "减额 lower the installment")]
    ALL = (SHORTEN_TERM, REDUCE_PAYMENT)


class ScheduleError(ApplicationError):
    code = "invalid_schedule"


class Period(NamedTuple):
    """One installment of a schedule: interest covers the days start_date … due_date − 1 (算头不算尾)."""

    number: int
    start_date: dt.date
    due_date: dt.date
    principal: Decimal
    interest: Decimal
    balance: Decimal  # principal outstanding after this installment is paid

    @property
    def payment(self) -> Decimal:
        return self.principal + self.interest

    @property
    def days(self) -> int:
        return (self.due_date - self.start_date).days


def _q(value: Decimal) -> Decimal:
    return value.quantize(FEN, ROUND_HALF_UP)


def add_months(day: dt.date, months: int, *, anchor_day: int | None = None) -> dt.date:
    """``day`` moved by ``months`` months on ``anchor_day`` (default: ``day``'s day), clamped to the month end."""
    anchor = anchor_day or day.day
    month_index = day.month - 1 + months
    year = day.year + month_index // 12
    month = month_index % 12 + 1
    last = _MONTH_DAYS[month] if month != 2 else (29 if calendar.isleap(year) else 28)
    return dt.date(year, month, anchor if anchor <= last else last)


_MONTH_DAYS = {1: 31, 2: 28, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31}


def due_dates(value_date: dt.date, months: int) -> list[dt.date]:
    """The n monthly due dates of a loan valued on ``value_date`` (maturity = the last one)."""
    return list(_due_dates(value_date, months))


@functools.lru_cache(maxsize=8192)
def _due_dates(value_date: dt.date, months: int) -> tuple[dt.date, ...]:
    """Memoised: a pure function of two values that repeat all day long (every loan valued on the same
    date with the same term has the same dates); a quarter of a schedule's cost otherwise."""
    anchor = value_date.day
    return tuple(add_months(value_date, k, anchor_day=anchor) for k in range(1, months + 1))


def quarterly_interest_dates(start: dt.date, maturity: dt.date) -> list[dt.date]:
    """按季结息: the 20th of March, June, September and December strictly between start and maturity,
    then the maturity date."""
    dates = []
    year = start.year
    while True:
        for month in (3, 6, 9, 12):
            day = dt.date(year, month, 20)
            if day <= start:
                continue
            if day >= maturity:
                return [*dates, maturity]
            dates.append(day)
        year += 1


def annuity_payment(principal: Decimal, monthly_rate: Decimal, periods: int) -> Decimal:
    """A = round(P·i·(1+i)ⁿ / ((1+i)ⁿ − 1)); with i = 0, A = round(P/n). (50 significant digits.)"""
    if monthly_rate == 0:
        return _q(principal / periods)
    with localcontext() as ctx:
        ctx.prec = 50
        growth = (ONE + monthly_rate) ** periods
        return _q(principal * monthly_rate * growth / (growth - ONE))


def annuity_for_rate(principal: Decimal, annual_rate: Decimal, periods: int) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 50
        monthly = annual_rate / TWELVE
    return annuity_payment(principal, monthly, periods)


def validate_terms(*, method: str, principal: Decimal, annual_rate: Decimal, months: int, day_basis: int = 360) -> None:
    if method not in Method.ALL:
        raise ScheduleError(
            f"未知的还款方式：{method}。",
            f"unknown repayment method {method!r}",
            code="unknown_method",
            extra={"field": "method"},
        )
    if not isinstance(principal, Decimal) or principal <= 0 or principal != _q(principal):
        raise ScheduleError(
            "贷款金额必须大于0，且最多两位小数。",
            "principal must be positive with at most two decimals",
            code="invalid_amount",
            extra={"field": "principal"},
        )
    if principal > Decimal("100000000"):
        raise ScheduleError("贷款金额过大。", "principal too large", code="invalid_amount", extra={"field": "principal"})
    if not isinstance(annual_rate, Decimal) or annual_rate < 0 or annual_rate >= 1:
        raise ScheduleError(
            "年利率必须在 0% 到 100% 之间。",
            "annual rate must be between 0 and 100 %",
            code="invalid_rate",
            extra={"field": "annual_rate"},
        )
    if not isinstance(months, int) or isinstance(months, bool) or months < 1 or months > 360:
        raise ScheduleError(
            "期限必须为 1–360 个月。", "term must be 1-360 months", code="invalid_term", extra={"field": "months"}
        )
    if day_basis not in (360, 365):
        raise ScheduleError("计息基准只能是 360 或 365。", "day basis must be 360 or 365", code="invalid_day_basis")


def generate(
    *,
    method: str,
    principal: Decimal,
    annual_rate: Decimal,
    months: int,
    value_date: dt.date,
    day_basis: int = 360,
    quarterly_interest: bool = False,
    validate: bool = True,
) -> list[Period]:
    """The full schedule of a new loan."""
    if validate:
        validate_terms(method=method, principal=principal, annual_rate=annual_rate, months=months, day_basis=day_basis)
        if quarterly_interest and method != Method.INTEREST_ONLY:
            raise ScheduleError(
                "按季结息仅适用于按期付息到期还本。",
                "quarterly interest applies to interest_only loans only",
                code="invalid_quarterly",
            )
    dates = _due_dates(value_date, months)
    if method == Method.BULLET:
        maturity = dates[-1]
        days = (maturity - value_date).days
        interest = _q(principal * annual_rate * days / day_basis)
        return [Period(1, value_date, maturity, principal, interest, ZERO)]
    if method == Method.INTEREST_ONLY and quarterly_interest:
        return _quarterly(principal, annual_rate, value_date, quarterly_interest_dates(value_date, dates[-1]), day_basis, 1)
    return _monthly(method, principal, annual_rate, value_date, dates, 1, None, None, day_basis)


def _monthly(
    method: str,
    principal: Decimal,
    annual_rate: Decimal,
    start: dt.date,
    dates: list[dt.date],
    first_number: int,
    payment: Decimal | None,
    principal_per_period: Decimal | None,
    day_basis: int,
    *,
    broken_first_period: bool = False,
    shorten: bool = False,
) -> list[Period]:
    """Monthly periods on ``dates``. ``broken_first_period``: the first period starts mid-month (after a
    prepayment) and its interest is actual days × daily rate. ``shorten`` (缩期): keep ``payment`` /
    ``principal_per_period`` and stop as soon as the balance is repaid."""
    n = len(dates)
    periods: list[Period] = []
    balance = principal
    if method == Method.EQUAL_INSTALLMENT and payment is None:
        payment = annuity_for_rate(principal, annual_rate, n)
    if method == Method.EQUAL_PRINCIPAL and principal_per_period is None:
        principal_per_period = _q(principal / n)
    previous = start
    number = first_number
    quantize = Decimal.quantize
    new_tuple = tuple.__new__  # Period(...) without the keyword-argument parsing of its __new__
    zero = ZERO
    last_index = n - 1
    for index, due in enumerate(dates):
        # multiply first, divide once: an exact half-fen is rounded up, as DOMAIN.md requires
        if broken_first_period and index == 0:
            interest = quantize(balance * annual_rate * (due - previous).days / day_basis, FEN, ROUND_HALF_UP)
        else:
            interest = quantize(balance * annual_rate / TWELVE, FEN, ROUND_HALF_UP)
        last = index == last_index
        if last:
            part = balance
        elif method == Method.EQUAL_INSTALLMENT:
            part = payment - interest
            if part < zero:
                part = zero
            if part > balance:
                part = balance
        elif method == Method.EQUAL_PRINCIPAL:
            part = principal_per_period if principal_per_period <= balance else balance
        else:  # interest only
            part = zero
        if shorten and not last and balance - part <= 0:
            part = balance
            last = True
        balance -= part
        periods.append(new_tuple(Period, (number, previous, due, part, interest, balance)))
        number += 1
        previous = due
        if shorten and balance == 0:
            break
    return periods


def _quarterly(
    principal: Decimal, annual_rate: Decimal, start: dt.date, dates: list[dt.date], day_basis: int, first_number: int
) -> list[Period]:
    periods = []
    previous = start
    for index, due in enumerate(dates):
        last = index == len(dates) - 1
        interest = _q(principal * annual_rate * (due - previous).days / day_basis)
        part = principal if last else ZERO
        periods.append(Period(first_number + index, previous, due, part, interest, ZERO if last else principal))
        previous = due
    return periods


def reamortise(
    *,
    method: str,
    balance: Decimal,
    annual_rate: Decimal,
    from_date: dt.date,
    period_start: dt.date,
    remaining_due_dates: list[dt.date],
    first_number: int,
    option: str,
    day_basis: int = 360,
    current_payment: Decimal | None = None,
    current_principal_per_period: Decimal | None = None,
    quarterly_interest: bool = False,
) -> list[Period]:
    """The rest of a schedule after a partial prepayment on ``from_date`` (a new schedule version).

    ``remaining_due_dates`` are the due dates still ahead (the first one is after ``from_date``) and
    ``period_start`` is the start of the running period. When ``from_date`` falls inside the period
    (after its start) the first period is broken: its interest is actual days × daily
    rate on the new balance. 减额 keeps every due date and recomputes the installment; 缩期 keeps the
    installment (等额本息) or the principal per period (等额本金) and drops the periods no longer needed.
    """
    if balance <= 0 or not remaining_due_dates:
        return []
    if option not in PrepaymentOption.ALL:
        raise ScheduleError(
            "请选择缩期或减额。", "prepayment option must be shorten_term or reduce_payment", code="invalid_option"
        )
    if option == PrepaymentOption.SHORTEN_TERM and method in (Method.INTEREST_ONLY, Method.BULLET):
        raise ScheduleError(
            "该还款方式到期一次还本，不支持缩期，请选择减额。",
            "this method repays principal at maturity; choose reduce_payment",
            code="shorten_not_supported",
        )
    maturity = remaining_due_dates[-1]
    if method == Method.BULLET:
        interest = _q(balance * annual_rate * (maturity - from_date).days / day_basis)
        return [Period(first_number, from_date, maturity, balance, interest, ZERO)]
    if method == Method.INTEREST_ONLY and quarterly_interest:
        return _quarterly(balance, annual_rate, from_date, remaining_due_dates, day_basis, first_number)
    # a prepayment on the first day of a period leaves a regular month; otherwise the period is broken
    broken = from_date != period_start
    shorten = option == PrepaymentOption.SHORTEN_TERM
    payment = current_payment if shorten and method == Method.EQUAL_INSTALLMENT else None
    per_period = current_principal_per_period if shorten and method == Method.EQUAL_PRINCIPAL else None
    return _monthly(
        method,
        balance,
        annual_rate,
        from_date,
        remaining_due_dates,
        first_number,
        payment,
        per_period,
        day_basis,
        broken_first_period=broken,
        shorten=shorten,
    )


# --- APR (年化利率) by IRR ---------------------------------------------------------------------


def months_between(start: dt.date, end: dt.date) -> Decimal:
    """Whole months from start to end (due-date rule) plus the remaining days as a fraction of that month."""
    whole = (end.year - start.year) * 12 + end.month - start.month
    while whole > 0 and add_months(start, whole, anchor_day=start.day) > end:
        whole -= 1
    base = add_months(start, whole, anchor_day=start.day)
    if base == end:
        return Decimal(whole)
    following = add_months(start, whole + 1, anchor_day=start.day)
    return Decimal(whole) + Decimal((end - base).days) / Decimal((following - base).days)


def apr_percent(*, principal: Decimal, value_date: dt.date, periods: list[Period], upfront_fee: Decimal = ZERO) -> Decimal:
    """Annualised rate (PBOC 2021 No.3): 12 × the monthly IRR of the real cash flows (the borrower
    receives principal − fees, then pays every installment), as a percentage with two decimals."""
    flows = [(Decimal(0), principal - upfront_fee)]
    for period in periods:
        flows.append((months_between(value_date, period.due_date), -period.payment))
    monthly = irr(flows)
    return (monthly * TWELVE * 100).quantize(FEN, ROUND_HALF_UP)


def irr(flows: list[tuple[Decimal, Decimal]]) -> Decimal:
    """Rate m with Σ cf / (1+m)^t = 0 (t in months), by Newton's method with a bisection fallback."""
    with localcontext() as ctx:
        ctx.prec = 34
        integral = all(t == t.to_integral_value() for t, _ in flows)
        exponents = [(int(t) if integral else t, cf) for t, cf in flows]

        def npv(rate: Decimal) -> tuple[Decimal, Decimal]:
            base = ONE + rate
            value = Decimal(0)
            derivative = Decimal(0)
            for t, cf in exponents:
                discount = base**t
                value += cf / discount
                derivative -= t * cf / (discount * base)
            return value, derivative

        tolerance = Decimal("1e-16")
        rate = Decimal("0.01")
        for _ in range(60):
            value, derivative = npv(rate)
            if derivative == 0:
                break
            step = value / derivative
            new_rate = rate - step
            if new_rate <= Decimal("-0.99"):
                break
            rate = new_rate
            if abs(step) < tolerance:
                return +rate
        # bisection on [-0.99, 10] (NPV decreases with the rate for a loan's flows)
        lo, hi = Decimal("-0.99"), Decimal(10)
        for _ in range(200):
            mid = (lo + hi) / 2
            value, _ = npv(mid)
            if value > 0:
                lo = mid
            else:
                hi = mid
            if hi - lo < tolerance:
                break
        return +((lo + hi) / 2)


# --- presentation ----------------------------------------------------------------------------


def fmt_amount(value: Decimal) -> str:
    return f"{_q(value):.2f}"


def fmt_percent(value: Decimal) -> str:
    """A percentage as a string with at least two decimals: 6 → "6.00", 4.35 → "4.35", 4.125 → "4.125"."""
    value = Decimal(value)
    if value == value.quantize(FEN):
        return f"{value.quantize(FEN):.2f}"
    return f"{value.normalize():f}"


@dataclass(frozen=True)
class Quote:
    """A schedule with its totals and APR, in the shape of the calculator JSON."""

    method: str
    principal: Decimal
    annual_rate: Decimal  # fraction
    value_date: dt.date
    periods: list[Period]
    apr: Decimal  # percent, two decimals
    upfront_fee: Decimal = ZERO

    @property
    def total_interest(self) -> Decimal:
        return sum((p.interest for p in self.periods), ZERO)

    @property
    def total_payment(self) -> Decimal:
        return sum((p.payment for p in self.periods), ZERO)

    def as_json(self) -> dict:
        return {
            "method": self.method,
            "principal": fmt_amount(self.principal),
            "annual_rate": fmt_percent(self.annual_rate * 100),
            "apr": f"{self.apr:.2f}",
            "total_interest": fmt_amount(self.total_interest),
            "total_payment": fmt_amount(self.total_payment),
            "installments": [
                {
                    "number": p.number,
                    "due_date": p.due_date.isoformat(),
                    "principal": fmt_amount(p.principal),
                    "interest": fmt_amount(p.interest),
                    "payment": fmt_amount(p.payment),
                    "balance": fmt_amount(p.balance),
                }
                for p in self.periods
            ],
        }


def quote(
    *,
    method: str,
    principal: Decimal,
    annual_rate: Decimal,
    months: int,
    value_date: dt.date,
    day_basis: int = 360,
    quarterly_interest: bool = False,
    upfront_fee: Decimal = ZERO,
) -> Quote:
    periods = generate(
        method=method,
        principal=principal,
        annual_rate=annual_rate,
        months=months,
        value_date=value_date,
        day_basis=day_basis,
        quarterly_interest=quarterly_interest,
    )
    if upfront_fee < 0 or upfront_fee >= principal:
        raise ScheduleError("手续费必须不小于0且小于贷款金额。", "fee must be >= 0 and below the principal", code="invalid_fee")
    apr = apr_percent(principal=principal, value_date=value_date, periods=periods, upfront_fee=upfront_fee)
    return Quote(method, principal, annual_rate, value_date, periods, apr, upfront_fee)


def parse_percent_rate(value) -> Decimal:
    """A rate given as a percentage ("6" or "4.35") → fraction (0.06). Refuses floats and garbage."""
    from jikuai.core.money import to_decimal

    try:
        pct = to_decimal(value)
    except (TypeError, ValueError):
        raise ScheduleError(
            "年利率格式不正确。", "annual rate is not a number", code="invalid_rate", extra={"field": "annual_rate"}
        )
    if not pct.is_finite():
        raise ScheduleError(
            "年利率格式不正确。", "annual rate is not a number", code="invalid_rate", extra={"field": "annual_rate"}
        )
    return pct / 100

"""Schedules and APR against DOMAIN.md: properties (hypothesis), due-date rule, closed forms, command."""

import datetime as dt
import json
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lending import schedule as sched

FEN = Decimal("0.01")

principals = st.integers(min_value=100, max_value=100_000_000).map(lambda fen: Decimal(fen) / 100)
rates = st.integers(min_value=0, max_value=2400).map(lambda bp: Decimal(bp) / 10000)  # 0 % … 24 %
months = st.integers(min_value=1, max_value=60)
dates = st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2035, 12, 31))
methods = st.sampled_from(sched.Method.ALL)


def round_fraction(value: Fraction) -> Decimal:
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(FEN, rounding=ROUND_HALF_UP)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(method=methods, principal=principals, rate=rates, n=months, start=dates)
def test_schedule_invariants(method, principal, rate, n, start):
    periods = sched.generate(method=method, principal=principal, annual_rate=rate, months=n, value_date=start)
    assert sum(p.principal for p in periods) == principal  # Σ principal = P exactly
    balance = principal
    for p in periods:
        assert p.principal >= 0 and p.interest >= 0 and p.balance >= 0  # no negative amounts
        assert p.principal == p.principal.quantize(FEN) and p.interest == p.interest.quantize(FEN)
        balance -= p.principal
        assert p.balance == balance
        assert p.due_date > p.start_date
    assert periods[-1].balance == 0  # balance reaches zero
    assert periods[-1].due_date == sched.add_months(start, n)  # maturity = n-th due date


@settings(max_examples=200, deadline=None)
@given(principal=principals, rate=rates.filter(lambda r: r > 0), n=months, start=dates)
def test_annuity_matches_its_closed_form(principal, rate, n, start):
    periods = sched.generate(method="equal_installment", principal=principal, annual_rate=rate, months=n, value_date=start)
    i = Fraction(rate) / 12
    growth = (1 + i) ** n
    payment = round_fraction(Fraction(principal) * i * growth / (growth - 1))
    balance = Fraction(principal)
    for p in periods:
        interest = round_fraction(balance * i)  # interest = round(B_{k−1}·i)
        assert p.interest == interest
        if p.number < n and payment - interest <= Fraction(p.balance + p.principal):
            assert p.payment == payment  # A = round(P·i·(1+i)ⁿ / ((1+i)ⁿ − 1))
        balance -= Fraction(p.principal)
    last = periods[-1]
    assert last.principal == last.balance + last.principal - 0  # last pays the remaining balance
    assert last.balance == 0


@settings(max_examples=100, deadline=None)
@given(principal=principals, n=months, start=dates)
def test_zero_rate_pays_p_over_n(principal, n, start):
    periods = sched.generate(method="equal_installment", principal=principal, annual_rate=Decimal(0), months=n, value_date=start)
    expected = (principal / n).quantize(FEN, rounding=ROUND_HALF_UP)
    assert all(p.interest == 0 for p in periods)
    assert all(p.payment == expected for p in periods[:-1] if p.balance > 0)


@settings(max_examples=100, deadline=None)
@given(principal=principals, rate=rates, n=months.filter(lambda m: m > 1), start=dates)
def test_equal_principal_and_interest_only(principal, rate, n, start):
    ep = sched.generate(method="equal_principal", principal=principal, annual_rate=rate, months=n, value_date=start)
    per = (principal / n).quantize(FEN, rounding=ROUND_HALF_UP)
    balance = principal
    for p in ep[:-1]:
        if balance >= per:
            assert p.principal == per
        assert p.interest == (balance * rate / 12).quantize(FEN, rounding=ROUND_HALF_UP)
        balance -= p.principal
    io = sched.generate(method="interest_only", principal=principal, annual_rate=rate, months=n, value_date=start)
    interest = (principal * rate / 12).quantize(FEN, rounding=ROUND_HALF_UP)
    assert [p.principal for p in io] == [Decimal("0.00")] * (n - 1) + [principal]
    assert all(p.interest == interest for p in io)


def test_due_dates_at_month_end_return_to_the_original_day():
    assert sched.due_dates(dt.date(2026, 1, 31), 3) == [dt.date(2026, 2, 28), dt.date(2026, 3, 31), dt.date(2026, 4, 30)]
    assert sched.due_dates(dt.date(2028, 1, 31), 2) == [dt.date(2028, 2, 29), dt.date(2028, 3, 31)]  # leap year
    assert sched.due_dates(dt.date(2026, 1, 30), 2) == [dt.date(2026, 2, 28), dt.date(2026, 3, 30)]
    assert sched.due_dates(dt.date(2026, 3, 15), 1) == [dt.date(2026, 4, 15)]


def test_bullet_interest_uses_actual_days_over_360():
    [period] = sched.generate(
        method="bullet", principal=Decimal("50000"), annual_rate=Decimal("0.0435"), months=6, value_date=dt.date(2026, 1, 31)
    )
    assert period.due_date == dt.date(2026, 7, 31)
    days = (dt.date(2026, 7, 31) - dt.date(2026, 1, 31)).days  # 181
    assert period.interest == (Decimal("50000") * Decimal("0.0435") * days / 360).quantize(FEN, rounding=ROUND_HALF_UP)
    assert period.interest == Decimal("1093.54")


def test_quarterly_interest_on_the_20th_of_the_last_month_of_each_quarter():
    periods = sched.generate(
        method="interest_only",
        principal=Decimal("100000"),
        annual_rate=Decimal("0.06"),
        months=12,
        value_date=dt.date(2026, 1, 31),
        quarterly_interest=True,
    )
    assert [p.due_date for p in periods] == [
        dt.date(2026, 3, 20),
        dt.date(2026, 6, 20),
        dt.date(2026, 9, 20),
        dt.date(2026, 12, 20),
        dt.date(2027, 1, 31),
    ]
    assert periods[0].interest == Decimal("800.00")  # 48 days × 100000 × 6 % / 360
    assert [p.principal for p in periods][-1] == Decimal("100000")
    with pytest.raises(sched.ScheduleError):
        sched.generate(
            method="equal_installment",
            principal=Decimal(1000),
            annual_rate=Decimal("0.06"),
            months=3,
            value_date=dt.date(2026, 1, 1),
            quarterly_interest=True,
        )


def test_known_equal_installment_schedule():
    periods = sched.generate(
        method="equal_installment",
        principal=Decimal("100000"),
        annual_rate=Decimal("0.06"),
        months=12,
        value_date=dt.date(2026, 1, 31),
    )
    assert periods[0].payment == Decimal("8606.64")
    assert (periods[0].principal, periods[0].interest) == (Decimal("8106.64"), Decimal("500.00"))
    assert sum(p.interest for p in periods) == Decimal("3279.73")


@settings(max_examples=60, deadline=None)
@given(
    method=st.sampled_from(["equal_installment", "equal_principal", "interest_only"]),
    principal=principals.filter(lambda p: p >= 1000),
    rate=rates.filter(lambda r: r > 0),
    n=months,
)
def test_apr_of_a_monthly_schedule_without_fees_is_the_nominal_rate(method, principal, rate, n):
    periods = sched.generate(method=method, principal=principal, annual_rate=rate, months=n, value_date=dt.date(2026, 1, 15))
    apr = sched.apr_percent(principal=principal, value_date=dt.date(2026, 1, 15), periods=periods)
    # rounding installments to the fen moves the IRR by at most ~6/P percent
    assert abs(apr - rate * 100) <= Decimal("0.01")


def test_apr_with_a_fee_is_higher_and_bullet_uses_monthly_compounding():
    periods = sched.generate(
        method="equal_installment",
        principal=Decimal("10000"),
        annual_rate=Decimal("0.06"),
        months=12,
        value_date=dt.date(2026, 1, 15),
    )
    apr = sched.apr_percent(
        principal=Decimal("10000"), value_date=dt.date(2026, 1, 15), periods=periods, upfront_fee=Decimal("200")
    )
    assert apr == Decimal("9.80")  # independently: 9800 = Σ 860.66…860.70 / (1+m)^k → 12m = 9.799 %
    quote = sched.quote(
        method="bullet", principal=Decimal("100000"), annual_rate=Decimal("0.06"), months=12, value_date=dt.date(2026, 1, 31)
    )
    assert quote.apr == Decimal("5.92")  # 12 × ((1 + 6.0833 %)^(1/12) − 1)


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"method": "balloon"}, "unknown_method"),
        ({"principal": Decimal("0")}, "invalid_amount"),
        ({"principal": Decimal("-5")}, "invalid_amount"),
        ({"principal": Decimal("10.005")}, "invalid_amount"),
        ({"principal": Decimal("100000001")}, "invalid_amount"),
        ({"months": 0}, "invalid_term"),
        ({"annual_rate": Decimal("-0.01")}, "invalid_rate"),
        ({"annual_rate": Decimal("1.2")}, "invalid_rate"),
    ],
)
def test_bad_inputs_are_refused(kwargs, code):
    args = {
        "method": "equal_installment",
        "principal": Decimal("1000"),
        "annual_rate": Decimal("0.06"),
        "months": 12,
        "value_date": dt.date(2026, 1, 1),
    }
    args.update(kwargs)
    with pytest.raises(sched.ScheduleError) as info:
        sched.generate(**args)
    assert info.value.code == code


def test_reamortise_both_ways():
    balance = Decimal("60000.00")
    dates = sched.due_dates(dt.date(2026, 1, 15), 12)[5:]  # 7 periods left
    reduce = sched.reamortise(
        method="equal_installment",
        balance=balance,
        annual_rate=Decimal("0.06"),
        from_date=dt.date(2026, 6, 15),
        period_start=dt.date(2026, 6, 15),
        remaining_due_dates=dates,
        first_number=6,
        option="reduce_payment",
        current_payment=Decimal("8606.64"),
    )
    assert len(reduce) == 7 and sum(p.principal for p in reduce) == balance
    shorten = sched.reamortise(
        method="equal_installment",
        balance=balance,
        annual_rate=Decimal("0.06"),
        from_date=dt.date(2026, 6, 15),
        period_start=dt.date(2026, 6, 15),
        remaining_due_dates=dates,
        first_number=6,
        option="shorten_term",
        current_payment=Decimal("12000.00"),
    )
    assert len(shorten) < 7 and sum(p.principal for p in shorten) == balance
    assert all(p.payment == Decimal("12000.00") for p in shorten[:-1])
    with pytest.raises(sched.ScheduleError):
        sched.reamortise(
            method="interest_only",
            balance=balance,
            annual_rate=Decimal("0.06"),
            from_date=dt.date(2026, 6, 15),
            period_start=dt.date(2026, 6, 15),
            remaining_due_dates=dates,
            first_number=6,
            option="shorten_term",
        )


def test_loan_calculator_command_prints_the_issue_json_shape():
    out = StringIO()
    call_command(
        "loan_calculator",
        "--method",
        "equal_installment",
        "--principal",
        "100000",
        "--annual-rate",
        "6",
        "--months",
        "12",
        "--start",
        "2026-01-31",
        "--json",
        stdout=out,
    )
    data = json.loads(out.getvalue())
    assert list(data) == ["method", "principal", "annual_rate", "apr", "total_interest", "total_payment", "installments"]
    assert data["method"] == "equal_installment"
    assert data["principal"] == "100000.00"
    assert data["annual_rate"] == "6.00"
    assert data["apr"] == "6.00"
    assert data["total_interest"] == "3279.73"
    assert data["total_payment"] == "103279.73"
    assert len(data["installments"]) == 12
    first = data["installments"][0]
    assert list(first) == ["number", "due_date", "principal", "interest", "payment", "balance"]
    assert first == {
        "number": 1,
        "due_date": "2026-02-28",
        "principal": "8106.64",
        "interest": "500.00",
        "payment": "8606.64",
        "balance": "91893.36",
    }
    assert data["installments"][-1]["balance"] == "0.00"
    assert data["installments"][1]["due_date"] == "2026-03-31"


@pytest.mark.parametrize(
    "argv",
    [
        ["--method", "foo", "--principal", "1000", "--annual-rate", "6", "--months", "12", "--start", "2026-01-31"],
        ["--method", "bullet", "--principal", "-1", "--annual-rate", "6", "--months", "12", "--start", "2026-01-31"],
        ["--method", "bullet", "--principal", "1000", "--annual-rate", "abc", "--months", "12", "--start", "2026-01-31"],
        ["--method", "bullet", "--principal", "1000", "--annual-rate", "6", "--months", "x", "--start", "2026-01-31"],
        ["--method", "bullet", "--principal", "1000", "--annual-rate", "6", "--months", "12", "--start", "2026-02-30"],
    ],
)
def test_loan_calculator_command_refuses_bad_input(argv):
    with pytest.raises(CommandError):
        call_command("loan_calculator", *argv, "--json", stdout=StringIO())

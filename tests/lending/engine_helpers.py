"""Build engine books without the database (pure engine tests)."""

import datetime as dt
from decimal import Decimal

from lending import engine
from lending import schedule as sched
from lending.models.common import DEFAULT_ALLOCATION_ORDER, PRINCIPAL_FIRST_ORDER

ONE_DAY = dt.timedelta(days=1)


def make_terms(
    *,
    method="equal_installment",
    principal="100000",
    rate="0.06",
    months=12,
    value_date=dt.date(2026, 1, 15),
    grace=0,
    policy="refuse",
    order=None,
    npl_principal_first=False,
    markup="0.5",
    basis=360,
    quarterly=False,
):
    periods = sched.generate(
        method=method,
        principal=Decimal(principal),
        annual_rate=Decimal(rate),
        months=months,
        value_date=value_date,
        day_basis=basis,
        quarterly_interest=quarterly,
    )
    terms = engine.Terms(
        method=method,
        principal=Decimal(principal),
        annual_rate=Decimal(rate),
        day_basis=basis,
        value_date=value_date,
        maturity_date=periods[-1].due_date,
        penalty_markup=Decimal(markup),
        grace_days=grace,
        allocation_order=tuple(order or DEFAULT_ALLOCATION_ORDER),
        npl_allocation_order=tuple(PRINCIPAL_FIRST_ORDER),
        npl_principal_first=npl_principal_first,
        overpayment_policy=policy,
        quarterly_interest=quarterly,
    )
    return terms, periods


def new_book(**kwargs):
    terms, periods = make_terms(**kwargs)
    return engine.LoanBook.originate(terms, engine.Classifier(engine.DEFAULT_TABLES), periods)


def close_through(book, day):
    current = book.last_closed + ONE_DAY
    while current <= day:
        book.close_day(current)
        current += ONE_DAY


def ledger_balanced(book) -> bool:
    return sum(book.balances.values()) == 0

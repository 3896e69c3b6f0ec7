"""Mapping between the database rows of a loan and the engine's in-memory ``LoanBook``."""

import datetime as dt
from decimal import Decimal

from django.conf import settings

from lending import engine
from lending import schedule as sched
from lending.models import ClassificationTable, Installment, Loan

# loan columns the engine reads and writes (besides terms)
STATE_FIELDS = (
    "state",
    "schedule_version",
    "dpd",
    "overdue_since",
    "loan_class",
    "floor_class",
    "manual_class",
    "restructured_on",
    "off_balance_accrual",
    "last_closed_business_date",
    "settled_on",
    "penalty_accrued_e10",
    "penalty_posted",
    "penalty_paid",
    "compound_accrued_e10",
    "compound_posted",
    "compound_paid",
    "paid_to_date",
    "level_payment",
    "level_principal",
    *engine.ACCOUNT_FIELDS.values(),
)
TERM_FIELDS = (
    "method",
    "principal",
    "annual_rate",
    "day_basis",
    "value_date",
    "maturity_date",
    "penalty_markup",
    "grace_days",
    "allocation_order",
    "npl_allocation_order",
    "npl_principal_first",
    "overpayment_policy",
    "quarterly_interest",
)
INSTALLMENT_FIELDS = (
    "id",
    "loan_id",
    "number",
    "start_date",
    "due_date",
    "principal",
    "interest",
    "paid_principal",
    "paid_interest",
    "status",
    "paid_on",
    "overdue_on",
)
E10 = Decimal("1e-10")


def loan_steps() -> tuple[str, ...]:
    configured = getattr(settings, "JIKUAI_LENDING_LOAN_STEPS", None)
    return tuple(configured) if configured else engine.DEFAULT_LOAN_STEPS


def reminder_days() -> int:
    return int(getattr(settings, "JIKUAI_LENDING_DUE_REMINDER_DAYS", 3))


def classifier() -> engine.Classifier:
    """The active DPD floor tables from the database (effective-dated)."""
    tables: dict[int, tuple[dt.date, list]] = {}
    for table_id, effective_from, low, high, loan_class in ClassificationTable.objects.filter(is_active=True).values_list(
        "id", "effective_from", "bands__min_dpd", "bands__max_dpd", "bands__loan_class"
    ):
        entry = tables.setdefault(table_id, (effective_from, []))
        if loan_class:
            entry[1].append((low, high, loan_class))
    data = [(start, sorted(bands)) for start, bands in tables.values()] or engine.DEFAULT_TABLES
    return engine.Classifier(data, int(getattr(settings, "JIKUAI_LENDING_RESTRUCTURE_OBSERVATION_MONTHS", 12)))


KNOWN_BUCKETS = frozenset((*engine.DUE_BUCKETS, engine.B_PREPAYMENT))


_VALID_ORDERS: set[tuple] = set()


def _order(value, name: str) -> tuple:
    if isinstance(value, tuple) and value in _VALID_ORDERS:
        return value
    if not isinstance(value, list | tuple) or any(bucket not in KNOWN_BUCKETS for bucket in value):
        raise ValueError(f"invalid {name}: {value!r}")
    order = tuple(value)
    _VALID_ORDERS.add(order)
    return order


def terms_from(values: dict, *, default_prepayment_option: str = sched.PrepaymentOption.REDUCE_PAYMENT) -> engine.Terms:
    return engine.Terms(
        method=values["method"],
        principal=values["principal"],
        annual_rate=values["annual_rate"],
        day_basis=values["day_basis"],
        value_date=values["value_date"],
        maturity_date=values["maturity_date"],
        penalty_markup=values["penalty_markup"],
        grace_days=values["grace_days"],
        allocation_order=_order(values["allocation_order"], "allocation_order"),
        npl_allocation_order=_order(values["npl_allocation_order"], "npl_allocation_order"),
        npl_principal_first=values["npl_principal_first"],
        overpayment_policy=values["overpayment_policy"],
        quarterly_interest=values["quarterly_interest"],
        default_prepayment_option=default_prepayment_option,
        reminder_days=reminder_days(),
    )


def terms_for(loan: Loan) -> engine.Terms:
    return terms_from(
        {name: getattr(loan, name) for name in TERM_FIELDS},
        default_prepayment_option=loan.product.default_prepayment_option,
    )


def inst_from_row(row: dict) -> engine.Inst:
    return engine.Inst(
        row["number"],
        row["start_date"],
        row["due_date"],
        row["principal"],
        row["interest"],
        row["paid_principal"],
        row["paid_interest"],
        row["status"],
        row["paid_on"],
        row["overdue_on"],
        row["id"],
    )


def book_from_values(
    values: dict, installments: list[engine.Inst], terms: engine.Terms, clf: engine.Classifier, steps
) -> engine.LoanBook:
    book = engine.LoanBook(terms, clf, installments, steps=steps)
    book.state = values["state"]
    book.schedule_version = values["schedule_version"]
    book.dpd = values["dpd"]
    book.overdue_since = values["overdue_since"]
    book.loan_class = values["loan_class"]
    book.floor_class = values["floor_class"]
    book.manual_class = values["manual_class"]
    book.restructured_on = values["restructured_on"]
    book.off_balance = values["off_balance_accrual"]
    book.last_closed = values["last_closed_business_date"]
    book.settled_on = values["settled_on"]
    book.penalty_accrued = Decimal(values["penalty_accrued_e10"]).scaleb(-10)
    book.penalty_posted = values["penalty_posted"]
    book.penalty_paid = values["penalty_paid"]
    book.compound_accrued = Decimal(values["compound_accrued_e10"]).scaleb(-10)
    book.compound_posted = values["compound_posted"]
    book.compound_paid = values["compound_paid"]
    book.paid_to_date = values["paid_to_date"]
    book.level_payment = values["level_payment"]
    book.level_principal = values["level_principal"]
    balances = book.balances
    for account, field_name in engine.ACCOUNT_FIELDS.items():
        balances[account] = values[field_name]
    return book


def book_for(loan: Loan, *, clf: engine.Classifier | None = None) -> engine.LoanBook:
    """The engine state of ``loan`` (call with the loan locked when you mean to change it)."""
    rows = Installment.objects.filter(loan=loan, is_current=True).order_by("number").values(*INSTALLMENT_FIELDS)
    installments = [inst_from_row(row) for row in rows]
    values = {name: getattr(loan, name) for name in STATE_FIELDS}
    return book_from_values(values, installments, terms_for(loan), clf or classifier(), loan_steps())


def e10(value: Decimal) -> int:
    return int(value.scaleb(10).to_integral_value())


def values_from_book(book: engine.LoanBook) -> dict:
    """Loan column values for the engine state (everything in STATE_FIELDS)."""
    values = {
        "state": book.state,
        "schedule_version": book.schedule_version,
        "dpd": book.dpd,
        "overdue_since": book.overdue_since,
        "loan_class": book.loan_class,
        "floor_class": book.floor_class,
        "manual_class": book.manual_class,
        "restructured_on": book.restructured_on,
        "off_balance_accrual": book.off_balance,
        "last_closed_business_date": book.last_closed,
        "settled_on": book.settled_on,
        "penalty_accrued_e10": e10(book.penalty_accrued),
        "penalty_posted": book.penalty_posted,
        "penalty_paid": book.penalty_paid,
        "compound_accrued_e10": e10(book.compound_accrued),
        "compound_posted": book.compound_posted,
        "compound_paid": book.compound_paid,
        "paid_to_date": book.paid_to_date,
        "level_payment": book.level_payment,
        "level_principal": book.level_principal,
    }
    for account, field_name in engine.ACCOUNT_FIELDS.items():
        values[field_name] = book.balances[account]
    return values

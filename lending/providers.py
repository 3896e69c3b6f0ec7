"""Internal data lending owns, fed to the rule flow (``riskrules.facade.register_provider``).

| variable | meaning (本行 = the customer's institution; customers are per institution) |
|---|---|
| ``current_overdue_count`` | open loans of the customer now overdue |
| ``outstanding_debt_fen`` | principal outstanding of the customer's open loans, integer fen |
| ``current_max_dpd`` | the largest DPD among the customer's open loans (0 when none) |
| ``past_overdue_times_24m`` | installments that became overdue in the 24 months before the decision date |
| ``whitelist_limit_fen`` | the household's whole-village pre-credit limit (预授信额度, ``Household.pre_credit_limit``) of a household the customer heads or belongs to; None when the customer has none |

A customer without loans has 0 overdue, 0 debt and 0 DPD: that is known, not missing. A decision
without a customer gets None (missing → the variable's missing-value policy).

The loan figures come from one query per decision run (a row per loan of the customer with its recent
overdue installments counted): an application's decision reads them for its monthly debt and for up to
four rule sets in a row, so they are cached for the duration of a ``loan_figures_cache()`` block (a
context variable, so threads never share it).
"""

import contextlib
import contextvars
import datetime as dt
from decimal import Decimal

from django.db.models import Max, Q

from jikuai.core import fastsql
from jikuai.core.money import yuan_to_fen
from lending.models import Installment, Loan, LoanState
from lending.schedule import add_months

OPEN_STATES = (LoanState.ACTIVE, LoanState.OVERDUE)
_cache: contextvars.ContextVar[dict | None] = contextvars.ContextVar("lending_provider_cache", default=None)


@contextlib.contextmanager
def loan_figures_cache():
    token = _cache.set({})
    try:
        yield
    finally:
        _cache.reset(token)


# table names from the models, every value bound
_LOAN_FIGURES_SQL = f"""
SELECT loan.state, loan.principal_outstanding, loan.dpd, loan.level_payment, loan.level_principal, loan.annual_rate,
       (SELECT count(*) FROM {Installment._meta.db_table} installment
         WHERE installment.loan_id = loan.id AND installment.is_current
           AND installment.overdue_on >= %s AND installment.overdue_on <= %s)
  FROM {Loan._meta.db_table} loan
 WHERE loan.customer_id = %s
"""  # noqa: S608


def _decimal(value) -> Decimal | None:
    # PostgreSQL hands back Decimal; SQLite (the embedded default of `make run`) hands back float
    return value if value is None or isinstance(value, Decimal) else Decimal(str(value))


def _typed(row) -> tuple:
    state, outstanding, dpd, payment, level_principal, rate, past_overdue = row
    return (state, _decimal(outstanding), dpd, _decimal(payment), _decimal(level_principal), _decimal(rate), past_overdue)


def loan_figures(customer_id: int, decision_date: dt.date) -> dict:
    """The customer's loan figures in one query: a row per loan (any state) with its installments that
    became overdue in the 24 months before ``decision_date``; overdue count, debt and DPD over the open
    ones. ``open_loans`` keeps the open loans' payment terms (the application's monthly debt)."""
    cache = _cache.get()
    key = (customer_id, decision_date)
    if cache is not None and key in cache:
        return cache[key]
    since = add_months(decision_date, -24)
    with fastsql.cursor() as cursor:  # every decision runs it: written once, not compiled by the ORM each time
        cursor.execute(_LOAN_FIGURES_SQL, [since, decision_date, customer_id])
        rows = [_typed(row) for row in cursor.fetchall()]
    open_loans = [(*row[3:6], row[1]) for row in rows if row[0] in OPEN_STATES]
    figures = {
        "overdue": sum(1 for row in rows if row[0] == LoanState.OVERDUE),
        "debt": sum((row[1] for row in rows if row[0] in OPEN_STATES), Decimal(0)),
        "max_dpd": max((row[2] for row in rows if row[0] in OPEN_STATES), default=0),
        "past_overdue": sum(row[6] for row in rows),
        "open_loans": open_loans,  # (level_payment, level_principal, annual_rate, principal_outstanding)
    }
    if cache is not None:
        cache[key] = figures
    return figures


def current_overdue_count(ctx) -> int | None:
    if not ctx.customer_id:
        return None
    return int(loan_figures(ctx.customer_id, ctx.decision_date)["overdue"] or 0)


def outstanding_debt_fen(ctx) -> int | None:
    if not ctx.customer_id:
        return None
    return yuan_to_fen(loan_figures(ctx.customer_id, ctx.decision_date)["debt"] or Decimal("0"))


def current_max_dpd(ctx) -> int | None:
    if not ctx.customer_id:
        return None
    return int(loan_figures(ctx.customer_id, ctx.decision_date)["max_dpd"] or 0)


def past_overdue_times_24m(ctx) -> int | None:
    if not ctx.customer_id:
        return None
    return int(loan_figures(ctx.customer_id, ctx.decision_date)["past_overdue"])


def whitelist_limit_fen(ctx) -> int | None:
    """整村授信预授信额度 of the customer's household (as head or member); the largest if several."""
    if not ctx.customer_id:
        return None
    from jikuai.customers.models import Household

    limit = (
        Household.objects.filter(
            Q(head_id=ctx.customer_id) | Q(members__customer_id=ctx.customer_id), pre_credit_limit__isnull=False
        )
        .aggregate(limit=Max("pre_credit_limit"))
        .get("limit")
    )
    return yuan_to_fen(limit) if limit is not None else None


PROVIDERS = {
    "current_overdue_count": current_overdue_count,
    "outstanding_debt_fen": outstanding_debt_fen,
    "current_max_dpd": current_max_dpd,
    "past_overdue_times_24m": past_overdue_times_24m,
    "whitelist_limit_fen": whitelist_limit_fen,
}


def register_providers() -> None:
    from riskrules.facade import register_provider

    for name, func in PROVIDERS.items():
        register_provider(name, func)

"""Shared service helpers: input parsing, engine errors → ApplicationError, persisting a LoanBook."""

import datetime as dt
from collections import defaultdict
from decimal import Decimal

from django.conf import settings

from jikuai.core.exceptions import ApplicationError, Conflict
from jikuai.core.money import to_decimal
from lending import engine, ledger
from lending import events as lending_events
from lending import state as loan_state
from lending.models import Installment, Loan, LoanState, ScheduleVersion

MAX_AMOUNT = Decimal("100000000.00")
FEN = Decimal("0.01")
LOAN_LEVEL_ACCOUNTS = frozenset(engine.ACCOUNT_FIELDS)


class LendingError(ApplicationError):
    code = "lending_error"
    status = 422


def parse_amount(value, *, field: str = "amount", allow_zero: bool = False) -> Decimal:
    """Money input: str/int/Decimal, positive, at most two decimals, not above 100,000,000."""
    try:
        amount = to_decimal(value)
    except (TypeError, ValueError):
        raise LendingError("金额格式不正确。", f"{field} is not a valid amount", code="invalid_amount", extra={"field": field})
    if not amount.is_finite():
        raise LendingError("金额格式不正确。", f"{field} is not a valid amount", code="invalid_amount", extra={"field": field})
    if amount < 0 or (amount == 0 and not allow_zero):
        raise LendingError("金额必须大于0。", f"{field} must be positive", code="invalid_amount", extra={"field": field})
    if amount != amount.quantize(FEN):
        raise LendingError(
            "金额最多两位小数（精确到分）。", f"{field} has more than two decimals", code="invalid_amount", extra={"field": field}
        )
    if amount > MAX_AMOUNT:
        raise LendingError("金额过大。", f"{field} is too large", code="invalid_amount", extra={"field": field})
    return amount.quantize(FEN)


def parse_date(value, *, field: str = "date") -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise LendingError(
            "日期格式应为 YYYY-MM-DD。", f"{field} must be YYYY-MM-DD", code="invalid_date", extra={"field": field}
        )


def from_engine_error(exc: engine.EngineError) -> ApplicationError:
    cls = Conflict if exc.code == "loan_not_open" else LendingError
    return cls(exc.message_zh, exc.message_en, code=exc.code, extra=exc.extra)


TRANSITIONS = {
    (LoanState.ACTIVE, LoanState.OVERDUE): ("mark_overdue",),
    (LoanState.OVERDUE, LoanState.ACTIVE): ("cure",),
    (LoanState.ACTIVE, LoanState.SETTLED): ("settle",),
    (LoanState.OVERDUE, LoanState.SETTLED): ("settle",),
    (LoanState.SETTLED, LoanState.ACTIVE): ("reopen",),
    (LoanState.SETTLED, LoanState.OVERDUE): ("reopen", "mark_overdue"),
    (LoanState.ACTIVE, LoanState.WRITTEN_OFF): ("write_off",),
    (LoanState.OVERDUE, LoanState.WRITTEN_OFF): ("write_off",),
}


def move_state(loan: Loan, target: str, *, by=None, description: str = "") -> None:
    """Drive the django-fsm transitions from the loan's state to ``target`` (logged by django-fsm-log)."""
    if loan.state == target:
        return
    for name in TRANSITIONS[(loan.state, target)]:
        getattr(loan, name)(by=by, description=description or None)


def post_effects(
    loan: Loan,
    effects: list[tuple[str, str, Decimal]],
    *,
    business_date: dt.date,
    repayment_id: int | None = None,
    description: str = "",
    kind_override: str | None = None,
    accounts: dict[str, int] | None = None,
) -> list:
    """One posting per kind for the effects of a single-loan operation (all legs carry the loan)."""
    by_kind: dict[str, list] = defaultdict(list)
    for kind, account, amount in effects:
        by_kind[kind_override or kind].append((account, loan.pk, amount))
    postings = []
    accounts = accounts or ledger.account_ids(loan.institution_id)
    for kind, legs in by_kind.items():
        legs = ledger.merge_legs(legs)
        if not legs:
            continue
        postings.append(
            ledger.post(
                institution_id=loan.institution_id,
                kind=kind,
                business_date=business_date,
                legs=legs,
                loan_id=loan.pk,
                repayment_id=repayment_id,
                description=description,
                accounts=accounts,
            )
        )
    return postings


def save_book(
    loan: Loan, book: engine.LoanBook, *, by=None, description: str = "", schedule_reason: str = "prepayment", effective_date=None
) -> None:
    """Write the engine state back: loan columns, FSM state, installments or a new schedule version."""
    values = loan_state.values_from_book(book)
    target_state = values.pop("state")
    old_version = loan.schedule_version
    move_state(loan, target_state, by=by, description=description)
    for name, value in values.items():
        setattr(loan, name, value)
    loan.save()
    if book.schedule_version != old_version:
        write_schedule_version(loan, book, number=book.schedule_version, reason=schedule_reason, effective_date=effective_date)
    else:
        changed = [inst for inst in book.installments if inst.changed and inst.id]
        if changed:
            Installment.objects.bulk_update(
                [
                    Installment(
                        id=inst.id,
                        paid_principal=inst.paid_principal,
                        paid_interest=inst.paid_interest,
                        status=inst.status,
                        paid_on=inst.paid_on,
                        overdue_on=inst.overdue_on,
                    )
                    for inst in changed
                ],
                ["paid_principal", "paid_interest", "status", "paid_on", "overdue_on"],
            )


def write_schedule_version(
    loan: Loan, book: engine.LoanBook, *, number: int, reason: str, effective_date, note: str = ""
) -> None:
    Installment.objects.filter(loan=loan, is_current=True).update(is_current=False)
    ScheduleVersion.objects.create(
        loan=loan, number=number, reason=reason, effective_date=effective_date or loan.last_closed_business_date, note=note
    )
    rows = Installment.objects.bulk_create(
        [
            Installment(
                loan=loan,
                version=number,
                is_current=True,
                number=inst.number,
                start_date=inst.start_date,
                due_date=inst.due_date,
                principal=inst.principal,
                interest=inst.interest,
                paid_principal=inst.paid_principal,
                paid_interest=inst.paid_interest,
                status=inst.status,
                paid_on=inst.paid_on,
                overdue_on=inst.overdue_on,
            )
            for inst in book.installments
        ]
    )
    for inst, row in zip(book.installments, rows, strict=True):
        inst.id = row.pk
        inst.changed = False
    if loan.schedule_version != number:
        loan.schedule_version = number
        loan.save(update_fields=["schedule_version"])


def publish(loan: Loan, book: engine.LoanBook) -> None:
    lending_events.publish_loan_events(loan, book.events, principal_outstanding=book.balances[engine.PRINCIPAL])
    book.events.clear()


def maker_checker_threshold(loan: Loan) -> Decimal:
    configured = getattr(settings, "JIKUAI_LENDING_REPAYMENT_APPROVAL_THRESHOLD", None)
    return Decimal(str(configured)) if configured is not None else loan.product.repayment_approval_threshold

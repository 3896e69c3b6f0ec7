"""Replay (重算): recompute a loan from its origin after a reversal or a back-dated transaction.

The engine replays (original schedule, transactions by value date, approved manual classes,
restructuring) up to the last closed business date. The ledger is immutable, so the difference
between the replayed ledger footprint and the loan's current one is posted as one balanced
adjustment posting; the loan's columns, installments (or a new schedule version) and the
repayments' allocations are overwritten with the replayed state.
"""

import datetime as dt
from decimal import Decimal

from jikuai.core.workdays import get_business_date
from lending import engine, ledger
from lending import schedule as sched
from lending import state as loan_state
from lending.models import ClassificationRequest, Installment, Loan, Posting, Repayment
from lending.services.common import move_state, write_schedule_version
from lending.services.common import publish as publish_book

ZERO = Decimal("0.00")


def timeline_for(loan: Loan) -> list[engine.Txn]:
    txns = [
        engine.Txn(
            value_date=value_date,
            order=(1, created_at, pk),
            kind="prepayment" if kind == Repayment.Kind.PREPAYMENT else "repayment",
            amount=amount,
            option=option,
            ref=pk,
        )
        for pk, value_date, created_at, kind, amount, option in Repayment.objects.filter(
            loan=loan, status=Repayment.Status.POSTED
        ).values_list("id", "value_date", "created_at", "kind", "amount", "prepayment_option")
    ]
    for effective, decided_at, requested in ClassificationRequest.objects.filter(
        loan=loan, state=ClassificationRequest.State.APPROVED
    ).values_list("effective_date", "decided_at", "requested_class"):
        txns.append(engine.Txn(value_date=effective, order=(1, decided_at, 0), kind="manual_class", loan_class=requested))
    if loan.restructured_on:
        txns.append(engine.Txn(value_date=loan.restructured_on, order=(0,), kind="restructure"))
    return txns


def original_periods(loan: Loan) -> list[sched.Period]:
    return [
        sched.Period(i.number, i.start_date, i.due_date, i.principal, i.interest, ZERO)
        for i in Installment.objects.filter(loan=loan, version=1).order_by("number")
    ]


def replay_book(loan: Loan, *, through: dt.date | None = None):
    """The replayed engine state of ``loan`` (no writes) and the per-repayment results."""
    business_date = get_business_date()
    if through is None:
        through = closed_through(loan, business_date)
    return engine.replay(
        loan_state.terms_for(loan),
        loan_state.classifier(),
        original_periods(loan),
        timeline_for(loan),
        through=through,
        steps=loan_state.loan_steps(),
    )


def closed_through(loan: Loan, business_date: dt.date) -> dt.date:
    last = loan.last_closed_business_date or (loan.value_date - engine.ONE_DAY)
    return max(last, business_date - engine.ONE_DAY)


def mirror(loan: Loan) -> dict[str, Decimal]:
    return {account: getattr(loan, field_name) for account, field_name in engine.ACCOUNT_FIELDS.items()}


def apply_legs(balances: dict[str, Decimal], legs) -> None:
    for account, _loan, amount in legs:
        balances[account] += amount


def loan_replay(
    *,
    loan: Loan,
    reason: str,
    actor=None,
    business_date: dt.date | None = None,
    new_repayment: Repayment | None = None,
    reversed_repayment: Repayment | None = None,
) -> engine.LoanBook:
    """Replay a loan that the caller has locked (select_for_update) inside its transaction.

    ``new_repayment``: a back-dated repayment just inserted — its replayed allocation is posted as its
    repayment posting. ``reversed_repayment``: a repayment just marked reversed — the exact negation
    of its postings is posted first. The remaining difference is the replay adjustment."""
    business_date = business_date or get_business_date()
    old_class, old_state = loan.loan_class, loan.state
    book, results = replay_book(loan, through=closed_through(loan, business_date))
    accounts = ledger.account_ids(loan.institution_id)
    actual = mirror(loan)

    if reversed_repayment is not None:
        legs = reversal_legs(reversed_repayment)
        if legs:
            original = Posting.objects.filter(repayment=reversed_repayment).order_by("id").first()
            ledger.post(
                institution_id=loan.institution_id,
                kind=Posting.Kind.REVERSAL,
                business_date=business_date,
                legs=legs,
                loan_id=loan.pk,
                repayment_id=reversed_repayment.pk,
                reverses_id=original.pk if original else None,
                description=f"冲正还款 #{reversed_repayment.pk} {reversed_repayment.reversal_reason}"[:200],
                accounts=accounts,
            )
            apply_legs(actual, legs)

    if new_repayment is not None and new_repayment.pk in results:
        _allocation, effects = results[new_repayment.pk]
        legs = ledger.merge_legs([(account, loan.pk, amount) for _kind, account, amount in effects])
        if legs:
            ledger.post(
                institution_id=loan.institution_id,
                kind=Posting.Kind.REPAYMENT,
                business_date=business_date,
                legs=legs,
                loan_id=loan.pk,
                repayment_id=new_repayment.pk,
                description=f"倒起息还款 value date {new_repayment.value_date}",
                accounts=accounts,
            )
            apply_legs(actual, legs)

    diff = [(account, loan.pk, book.balances[account] - actual[account]) for account in engine.ACCOUNTS]
    diff = [leg for leg in diff if leg[2]]
    if diff:
        ledger.post(
            institution_id=loan.institution_id,
            kind=Posting.Kind.ADJUSTMENT,
            business_date=business_date,
            legs=diff,
            loan_id=loan.pk,
            description=f"重算调整 {reason}"[:200],
            accounts=accounts,
        )

    # repayments keep their replayed allocation
    for repayment in Repayment.objects.filter(pk__in=list(results)):
        allocation = results[repayment.pk][0].as_json()
        if repayment.allocation != allocation:
            Repayment.objects.filter(pk=repayment.pk).update(allocation=allocation)

    _save_replayed(loan, book, by=actor, reason=reason, business_date=business_date)

    # only what changed as a result of the replay is announced
    events = []
    if book.loan_class != old_class:
        events.append(
            (
                "lending.loan_classified",
                {
                    "old_class": old_class,
                    "new_class": book.loan_class,
                    "dpd": book.dpd,
                    "business_date": business_date,
                    "principal_outstanding": book.balances[engine.PRINCIPAL],
                },
            )
        )
    if book.state == engine.SETTLED and old_state != engine.SETTLED:
        events.append(("lending.loan_settled", {"business_date": business_date}))
    book.events = events
    publish_book(loan, book)
    return book


def reversal_legs(repayment: Repayment) -> list[tuple[str, int, Decimal]]:
    from lending.models import PostingLeg

    legs = PostingLeg.objects.filter(posting__repayment=repayment).values_list("account__code", "loan_id", "amount")
    return ledger.merge_legs([(code, loan_id, -amount) for code, loan_id, amount in legs])


def _save_replayed(loan: Loan, book: engine.LoanBook, *, by, reason: str, business_date: dt.date) -> None:
    stored = list(Installment.objects.filter(loan=loan, is_current=True).order_by("number"))
    same_shape = [(i.number, i.start_date, i.due_date, i.principal, i.interest) for i in stored] == [
        inst.shape() for inst in book.installments
    ]
    values = loan_state.values_from_book(book)
    target_state = values.pop("state")
    values.pop("schedule_version")
    move_state(loan, target_state, by=by, description=f"重算 {reason}"[:200])
    for name, value in values.items():
        setattr(loan, name, value)
    loan.save()
    if same_shape:
        updates = []
        for row, inst in zip(stored, book.installments, strict=True):
            if (row.paid_principal, row.paid_interest, row.status, row.paid_on, row.overdue_on) != (
                inst.paid_principal,
                inst.paid_interest,
                inst.status,
                inst.paid_on,
                inst.overdue_on,
            ):
                row.paid_principal, row.paid_interest, row.status = inst.paid_principal, inst.paid_interest, inst.status
                row.paid_on, row.overdue_on = inst.paid_on, inst.overdue_on
                updates.append(row)
        if updates:
            Installment.objects.bulk_update(updates, ["paid_principal", "paid_interest", "status", "paid_on", "overdue_on"])
    else:
        write_schedule_version(
            loan, book, number=loan.schedule_version + 1, reason="replay", effective_date=business_date, note=reason[:200]
        )

"""The loan engine without the database: penalty example, grace, allocation order, partial payments,
prepayment both ways, overpayment policy, classification floors, replay ≡ live (hypothesis)."""

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lending import engine
from tests.lending.engine_helpers import ONE_DAY, close_through, ledger_balanced, make_terms, new_book


def test_domain_penalty_example_30_days_on_8333_33_at_6_percent_times_1_5():
    # 等额本金 100,000 over 12 months: principal per installment 8,333.33; the first is due 15 Aug
    book = new_book(method="equal_principal", value_date=dt.date(2026, 7, 15))
    assert book.installments[0].principal == Decimal("8333.33")
    close_through(book, dt.date(2026, 9, 13))  # 15 Aug … 13 Sep = 30 penalty days
    assert book.dpd == 30  # as of business date 14 Sep
    assert book.penalty_accrued == Decimal("62.4999750000")  # 8,333.33 × 0.09 / 360 × 30 at full precision
    assert book.penalty_posted == Decimal("62.50")
    assert book.balances[engine.PENALTY_REC] == Decimal("62.50")
    # compound on the unpaid interest of 500.00 at the same penalty rate
    assert book.compound_posted == (Decimal("500.00") * Decimal("0.09") / 360 * 30).quantize(Decimal("0.01"))
    assert book.state == engine.OVERDUE and book.loan_class == engine.SPECIAL_MENTION
    assert ledger_balanced(book)


def test_contract_interest_accrues_evenly_and_equals_the_billed_interest_on_the_due_date():
    book = new_book(method="equal_installment", value_date=dt.date(2026, 1, 31))
    first = book.installments[0]
    close_through(book, first.due_date - ONE_DAY)
    assert book.balances[engine.INTEREST_REC] == first.interest
    # paid on the due date: nothing overdue, nothing accrues twice
    allocation = book.apply_repayment(first.due_date, first.principal + first.interest)
    assert allocation.parts == {"current_interest": first.interest, "current_principal": first.principal}
    assert book.balances[engine.INTEREST_REC] == 0
    assert book.installments[0].status == engine.PAID
    assert [topic for topic, _ in book.events][-1] == "lending.installment_paid"
    assert book.events[-1][1]["on_time"] is True


def test_grace_days_no_penalty_if_paid_within_grace_then_penalty_from_the_day_after_due():
    paid_in_grace = new_book(method="equal_principal", value_date=dt.date(2026, 7, 15), grace=3)
    due = paid_in_grace.installments[0].due_date
    close_through(paid_in_grace, due + dt.timedelta(days=1))
    assert paid_in_grace.state == engine.ACTIVE and paid_in_grace.dpd == 0
    amount = paid_in_grace.amount_due(due + dt.timedelta(days=2))
    paid_in_grace.apply_repayment(due + dt.timedelta(days=2), amount)
    assert paid_in_grace.penalty_posted == 0 and paid_in_grace.events[-1][1]["on_time"] is True

    late = new_book(method="equal_principal", value_date=dt.date(2026, 7, 15), grace=3)
    close_through(late, due + dt.timedelta(days=3))  # grace expired at the close of due + 3
    assert late.state == engine.OVERDUE and late.dpd == 4  # DPD counts from the day after the due date
    assert late.penalty_accrued == (Decimal("8333.33") * Decimal("0.09") * 4 / 360).quantize(Decimal("1e-10"))


def test_default_allocation_order_compound_penalty_overdue_interest_overdue_principal_current():
    book = new_book(method="equal_principal", value_date=dt.date(2026, 7, 15))
    close_through(book, dt.date(2026, 9, 15))  # inst 1 overdue 32 days; inst 2 due today (15 Sep) but the close of 15 Sep ran
    day = dt.date(2026, 9, 16)
    buckets = book.buckets(day)
    assert buckets["compound"] > 0 and buckets["penalty"] > 0
    pay = buckets["compound"] + buckets["penalty"] + Decimal("100.00")
    allocation = book.apply_repayment(day, pay)
    assert allocation.parts == {
        "compound": buckets["compound"],
        "penalty": buckets["penalty"],
        "overdue_interest": Decimal("100.00"),
    }
    assert book.installments[0].paid_interest == Decimal("100.00") and book.installments[0].paid_principal == 0
    assert ledger_balanced(book)


def test_partial_payments_keep_the_loan_overdue_and_dpd_from_the_oldest_unpaid_installment():
    book = new_book(method="equal_principal", value_date=dt.date(2026, 7, 15))
    close_through(book, dt.date(2026, 9, 20))
    day = dt.date(2026, 9, 21)
    assert book.dpd == (day - dt.date(2026, 8, 15)).days
    # by type, not by installment: all overdue interest (both installments) comes before overdue principal
    overdue_interest = book.installments[0].interest + book.installments[1].interest
    due_first = book.compound_owed + book.penalty_owed + overdue_interest + book.installments[0].principal
    allocation = book.apply_repayment(day, due_first)  # clears installment 1 only
    assert allocation.parts["overdue_interest"] == overdue_interest
    assert allocation.parts["overdue_principal"] == book.installments[0].principal
    assert book.installments[1].paid_interest == book.installments[1].interest and book.installments[1].paid_principal == 0
    assert book.installments[0].status == engine.PAID
    assert book.state == engine.OVERDUE and book.dpd == (day - dt.date(2026, 9, 15)).days
    assert book.events[-1][1]["on_time"] is False


def test_custom_order_and_principal_first_for_non_performing_loans():
    order = [
        "overdue_principal",
        "overdue_interest",
        "penalty",
        "compound",
        "current_interest",
        "current_principal",
        "prepayment",
    ]
    book = new_book(method="equal_principal", value_date=dt.date(2026, 7, 15), order=order)
    close_through(book, dt.date(2026, 9, 1))
    allocation = book.apply_repayment(dt.date(2026, 9, 2), Decimal("8850.00"))
    assert list(allocation.parts) == ["overdue_principal", "overdue_interest", "penalty"]
    assert allocation.parts["overdue_principal"] == Decimal("8333.33")
    assert allocation.parts["overdue_interest"] == Decimal("500.00")

    npl = new_book(method="equal_principal", value_date=dt.date(2025, 1, 15), npl_principal_first=True)
    close_through(npl, dt.date(2025, 6, 1))  # 107 DPD → 次级
    assert npl.loan_class == engine.SUBSTANDARD and npl.off_balance
    allocation = npl.apply_repayment(dt.date(2025, 6, 2), Decimal("1000.00"))
    assert list(allocation.parts) == ["overdue_principal"]
    assert ledger_balanced(npl)


def test_overpayment_refused_or_prepaid_per_product():
    refuse = new_book(value_date=dt.date(2026, 1, 15))
    close_through(refuse, dt.date(2026, 2, 14))
    due = refuse.amount_due(dt.date(2026, 2, 15))
    before = refuse.snapshot()
    with pytest.raises(engine.EngineError) as info:
        refuse.apply_repayment(dt.date(2026, 2, 15), due + Decimal("1000"))
    assert info.value.code == "overpayment"
    assert refuse.snapshot() == before  # nothing changed

    prepay = new_book(value_date=dt.date(2026, 1, 15), policy="prepay")
    close_through(prepay, dt.date(2026, 2, 14))
    allocation = prepay.apply_repayment(dt.date(2026, 2, 15), due + Decimal("1000"))
    assert allocation.prepaid_principal == Decimal("1000.00") and allocation.option == "reduce_payment"
    assert prepay.schedule_version == 2
    # the prepaid principal leaves the schedule: installments + prepayment = P
    assert sum(i.principal for i in prepay.installments) + allocation.prepaid_principal == Decimal("100000.00")
    assert prepay.balances[engine.PRINCIPAL] == sum(i.principal - i.paid_principal for i in prepay.installments)


def test_prepayment_reduce_payment_keeps_the_term_and_shorten_term_keeps_the_installment():
    day = dt.date(2026, 4, 20)  # mid-period: interest to date = actual days × daily rate
    reduce = new_book(value_date=dt.date(2026, 1, 15))
    shorten = new_book(value_date=dt.date(2026, 1, 15))
    for book in (reduce, shorten):
        for inst in list(book.installments[:3]):  # the first three installments paid on their due dates
            close_through(book, inst.due_date - ONE_DAY)
            book.apply_repayment(inst.due_date, book.amount_due(inst.due_date))
        close_through(book, day - ONE_DAY)
    original_payment = reduce.level_payment
    itd, _ = reduce.interest_to_date(day)
    _running, future, balance = reduce.running_period(day)
    assert itd == (balance * Decimal("0.06") * (day - future[0].start_date).days / 360).quantize(Decimal("0.01"))

    a = reduce.apply_repayment(day, Decimal("30000.00"), kind="prepayment", option="reduce_payment")
    b = shorten.apply_repayment(day, Decimal("30000.00"), kind="prepayment", option="shorten_term")
    assert a.interest_to_date == b.interest_to_date == itd
    assert a.prepaid_principal == b.prepaid_principal == Decimal("30000.00") - itd
    future_a = [i for i in reduce.installments if i.due_date > day]
    future_b = [i for i in shorten.installments if i.due_date > day]
    assert future_a[-1].due_date == reduce.terms.maturity_date  # 减额: same maturity
    assert reduce.level_payment < original_payment
    assert len(future_b) < len(future_a)  # 缩期: fewer installments
    assert all(i.principal + i.interest == original_payment for i in future_b[1:-1])
    for book in (reduce, shorten):
        assert sum(i.principal - i.paid_principal for i in book.installments) == book.balances[engine.PRINCIPAL]
        assert ledger_balanced(book)
        assert book.schedule_version == 2


def test_full_prepayment_settles_and_later_payments_are_refused():
    book = new_book(value_date=dt.date(2026, 1, 15))
    close_through(book, dt.date(2026, 1, 31))
    payoff = book.payoff(dt.date(2026, 2, 1))
    allocation = book.apply_repayment(dt.date(2026, 2, 1), payoff, kind="prepayment", option="reduce_payment")
    assert allocation.settled and book.state == engine.SETTLED
    assert all(value == 0 for key, value in book.balances.items() if key in (engine.PRINCIPAL, engine.INTEREST_REC))
    with pytest.raises(engine.EngineError) as info:
        book.apply_repayment(dt.date(2026, 2, 2), Decimal("1.00"))
    assert info.value.code == "loan_not_open"
    with pytest.raises(engine.EngineError):
        new_book().apply_repayment(dt.date(2026, 1, 15), Decimal("0"))


def test_classification_floors_2023_table_and_old_table_by_effective_date():
    clf = engine.Classifier(engine.DEFAULT_TABLES)
    new = dt.date(2026, 1, 1)
    assert [clf.floor(d, new) for d in (0, 1, 90, 91, 270, 271, 360, 361)] == [
        "normal",
        "special_mention",
        "special_mention",
        "substandard",
        "substandard",
        "doubtful",
        "doubtful",
        "loss",
    ]
    old = dt.date(2020, 1, 1)
    assert [clf.floor(d, old) for d in (180, 181)] == ["substandard", "doubtful"]
    # restructured: at least 次级 for 12 months of observation
    assert clf.floor(0, dt.date(2026, 6, 1), restructured_on=dt.date(2026, 1, 10)) == "substandard"
    assert clf.floor(0, dt.date(2027, 1, 10), restructured_on=dt.date(2026, 1, 10)) == "normal"
    assert clf.floor(300, dt.date(2026, 6, 1), restructured_on=dt.date(2026, 1, 10)) == "doubtful"


def test_non_performing_moves_receivables_off_balance_and_back():
    book = new_book(method="equal_principal", value_date=dt.date(2025, 1, 15))
    close_through(book, dt.date(2025, 5, 15))
    assert book.dpd == 90 and book.loan_class == engine.SPECIAL_MENTION and not book.off_balance
    close_through(book, dt.date(2025, 5, 16))  # DPD 91 → 次级 (2023 table)
    assert book.dpd == 91 and book.loan_class == engine.SUBSTANDARD
    assert book.balances[engine.INTEREST_REC] == 0 and book.balances[engine.PENALTY_REC] == 0
    owed_interest = sum(i.interest - i.paid_interest for i in book.installments if i.status == engine.IS_OVERDUE)
    assert book.balances[engine.OFF_BALANCE] >= owed_interest + book.penalty_owed + book.compound_owed
    book.apply_repayment(dt.date(2025, 5, 17), book.amount_due(dt.date(2025, 5, 17)))
    close_through(book, dt.date(2025, 5, 17))
    assert book.loan_class == engine.NORMAL and not book.off_balance
    assert book.balances[engine.OFF_BALANCE] == 0
    assert ledger_balanced(book)


# --- replay ≡ live, reversal ≡ never paid (pure engine, hypothesis) --------------------------------

payment_days = st.lists(
    st.tuples(st.integers(min_value=0, max_value=200), st.integers(min_value=1, max_value=4000_00)), min_size=1, max_size=6
)


def _live(terms, periods, payments, through):
    """Day by day: each day's payments, then the close (what the platform does in production)."""
    book = engine.LoanBook.originate(terms, engine.Classifier(engine.DEFAULT_TABLES), periods)
    by_day = {}
    for ref, (offset, fen) in enumerate(payments):
        by_day.setdefault(terms.value_date + dt.timedelta(days=offset), []).append((ref, Decimal(fen) / 100))
    day = terms.value_date
    while day <= through:
        for _ref, amount in by_day.get(day, []):
            book.apply_repayment(day, amount, strict=False)
        book.close_day(day)
        day += ONE_DAY
    return book


def _timeline(terms, payments, skip=None):
    return [
        engine.Txn(terms.value_date + dt.timedelta(days=offset), (1, ref), "repayment", Decimal(fen) / 100, ref=ref)
        for ref, (offset, fen) in enumerate(payments)
        if ref != skip
    ]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    method=st.sampled_from(["equal_installment", "equal_principal", "interest_only", "bullet"]),
    payments=payment_days,
    grace=st.sampled_from([0, 3]),
    drop=st.integers(min_value=0, max_value=5),
)
def test_replay_equals_live_and_reversal_equals_never_paid(method, payments, grace, drop):
    terms, periods = make_terms(method=method, principal="12000", months=6, value_date=dt.date(2026, 1, 31), grace=grace)
    through = terms.value_date + dt.timedelta(days=210)
    live = _live(terms, periods, payments, through)
    replayed, _ = engine.replay(
        terms, engine.Classifier(engine.DEFAULT_TABLES), periods, _timeline(terms, payments), through=through
    )
    assert replayed.snapshot() == live.snapshot()
    assert ledger_balanced(live)
    # reversing one payment ≡ it never happened
    drop = drop % len(payments)
    never = _live(terms, periods, [p for i, p in enumerate(payments) if i != drop], through)
    reversed_, _ = engine.replay(
        terms, engine.Classifier(engine.DEFAULT_TABLES), periods, _timeline(terms, payments, skip=drop), through=through
    )
    assert reversed_.snapshot() == never.snapshot()

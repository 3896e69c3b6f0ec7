"""How the period close evaluates and writes (the speed work of the close benchmark) without changing what it
computes: results shared between lines with equal inputs equal the line-by-line evaluation; outside a transaction
on PostgreSQL the chunks are written by a second connection while the next chunk is evaluated, and the rows,
ranks and input digest equal the single-connection close; a failed write fails the period and its job."""

import datetime as dt
import gc
import threading
from decimal import Decimal as D

import pytest
from django.db import connection, transaction

from jikuai.core.models import JobRun
from performance import engine, formulas
from performance.models import Period, ScoreLine, SubjectResult
from performance.services import close
from tests.performance.factories import W, make_bank, simple_scheme
from tests.performance.test_close import loan, setup_targets


def item(item_id, kind, weight, formula_kind, params, *, needs_target=True, higher=True):
    return engine.ItemSpec(
        item_id=item_id,
        indicator_id=item_id,
        kind=kind,
        weight=D(weight),
        formula_kind=formula_kind,
        params=formulas.prepare(formulas.validate_parameters(formula_kind, params)),
        needs_target=needs_target,
        higher_is_better=higher,
    )


ITEMS = [
    item(1, "weighted", 40, "F1", {"cap": "1.2"}),
    item(2, "weighted", 20, "F9", {"variant": "bounded", "floor": "0.2"}, higher=False),
    item(3, "weighted", 20, "F12", {"mode": "linear"}, needs_target=False),
    item(4, "weighted", 20, "F11", {"cap": "1.2", "mode": "absolute"}),
    item(5, "gate", 0, "F14", {"op": ">", "threshold": "5", "cap": "60"}, needs_target=False),
]


def line(actual, target, base=None, adjustment="0"):
    return engine.LineInput(
        actual=D(actual),
        base=None if base is None else D(base),
        target=None if target is None else D(target),
        adjustment=D(adjustment),
    )


def test_shared_results_for_equal_inputs_equal_the_line_by_line_scores():
    """Subjects 1–3 have numerically equal inputs written with different exponents (120 / 120.0000, a
    correction of 20 on 100) and share results; subject 4 has no loan target (not scored → renormalised), a
    zero target without F10 scale (error note) and a triggered gate; subject 5 ties on the rank item. Every line
    and total equals the explained (unshared) evaluation, and fewer evaluations than lines were made."""
    inputs = {}
    subjects = []
    rows = {
        1: [line("120", "100"), line("2", "4"), line("7", None), line("300", "100", "150"), line("3", None)],
        2: [line("120.0000", "100.0000"), line("2.00", "4"), line("7", None), line("300.0", "100", "150"), line("3", None)],
        3: [
            line("100", "100", adjustment="20"),
            line("2", "4"),
            line("7.0", None),
            line("300", "100.00", "150"),
            line("3", None),
        ],
        4: [line("80", None), line("2", "0"), line("1", None), line("100", "100", "150"), line("6", None)],
        5: [line("0", "100"), line("0", "4"), line("7", None), line("0", "100", "0"), line("0", None)],
    }
    for staff_id, lines in rows.items():
        subject = engine.Subject(staff_id, 1, "large", "junior")
        subjects.append(subject)
        inputs[subject.key] = {spec.item_id: value for spec, value in zip(ITEMS, lines, strict=True)}

    explained = engine.evaluate_all(ITEMS, subjects, inputs, renormalise=True, explain=True)
    memo = {}
    ranks = engine.peer_item_ranks(ITEMS, subjects, inputs)
    with formulas.quiet():
        shared = engine.evaluate_subjects(ITEMS, subjects, inputs, ranks, renormalise=True, memo=memo)

    def fields(output):
        return {item_id: (out.score, out.ratio, out.peer_rank, out.gate_cap, out.note) for item_id, out in output.lines.items()}

    for subject in subjects:
        a, b = explained[subject.key], shared[subject.key]
        assert fields(a) == fields(b)
        assert (a.composite.weighted, a.composite.total, a.composite.gate_cap) == (
            b.composite.weighted,
            b.composite.total,
            b.composite.gate_cap,
        )
        for output in b.lines.values():
            assert output.steps == ()
    assert shared[("staff", 1)].composite.total == shared[("staff", 2)].composite.total == shared[("staff", 3)].composite.total
    assert shared[("staff", 4)].lines[1].score is None and shared[("staff", 4)].lines[2].note  # no target; zero target
    assert shared[("staff", 4)].composite.gate_cap == D(60)
    assert len(memo) < len(ITEMS) * len(subjects)
    assert shared[("staff", 1)].lines[1] is shared[("staff", 2)].lines[1]  # evaluated once


def _bank_with_facts():
    bank = make_bank("WRT")
    setup_targets(bank)
    loan(bank, bank.am1, 1, "80000.00")
    loan(bank, bank.am1, 2, "40000.00")
    loan(bank, bank.am2, 3, "50000.00")
    loan(bank, bank.am3, 4, "100000.00", first=False)
    return bank


def _confirmed_computing(bank, period, monkeypatch):
    """Confirm and queue the job without running it (the test runs the job itself)."""
    from performance import tasks

    monkeypatch.setattr(tasks.period_compute_task, "delay", lambda *args, **kwargs: None)
    close.period_confirm_data(period_id=period.pk, actor=bank.admin, comment="测试提前确认")
    close.period_compute_start(period_id=period.pk, actor=bank.admin)


def _written(period):
    results = {
        r.staff_id: (r.weighted_score, r.total, r.gate_cap, r.peer_group, r.peer_rank, r.peer_size, r.overall_rank)
        for r in SubjectResult.objects.filter(period=period)
    }
    lines = {
        (x.result.staff_id, x.item_id): (
            x.indicator_id,
            x.actual,
            x.base,
            x.target,
            x.fact_count,
            x.adjustment,
            x.ratio,
            x.peer_rank,
            x.score,
            x.gate_cap,
            x.note,
        )
        for x in ScoreLine.objects.filter(result__period=period).select_related("result")
    }
    return results, lines


@pytest.mark.django_db(transaction=True)
def test_background_writer_writes_what_the_single_connection_close_writes(monkeypatch):
    bank = _bank_with_facts()
    version = simple_scheme(
        bank, code="AMW", items=[("loan_disbursed_amount", W, 50, "F1-120", {}), ("new_credit_customers", W, 50, "F12-rank", {})]
    )
    period = close.period_create(scheme=version.scheme, start=dt.date(2026, 9, 1), actor=bank.admin)
    monkeypatch.setattr(close, "CHUNK", 1)  # three chunks: loads overlap the evaluation of the next chunk
    threads = []
    load = close._load_chunk
    monkeypatch.setattr(close, "_load_chunk", lambda *args: threads.append(threading.get_ident()) or load(*args))

    _confirmed_computing(bank, period, monkeypatch)
    assert not connection.in_atomic_block
    period = close.period_compute_run(period_id=period.pk)
    assert period.state == Period.State.COMPUTED and gc.isenabled()
    background = _written(period)
    background_hash = period.snapshot_hash
    run = JobRun.objects.get(pk=period.job_run_id)
    assert (run.processed, run.counts["lines"]) == (3, 6) and run.status == JobRun.Status.SUCCEEDED
    if connection.vendor == "postgresql":
        assert len(threads) == 3 and threading.get_ident() not in threads

    close.period_reopen(period_id=period.pk, actor=bank.admin, comment="单连接重算")
    threads.clear()
    _confirmed_computing(bank, period, monkeypatch)
    with transaction.atomic():  # inside a transaction everything runs on this connection
        period = close.period_compute_run(period_id=period.pk)
    assert threads == ([threading.get_ident()] * 3 if connection.vendor == "postgresql" else [])
    assert _written(period) == background
    assert period.snapshot_hash == background_hash and len(background_hash) == 64
    results, lines = background
    # am1 120,000 / 100,000 → 50 × 1.2 = 60; new credit customers: am1 2, am2 1 in the large group → ranks 1, 2
    assert results[bank.am1.pk][1] == D("110.00") and results[bank.am1.pk][4] == 1
    assert lines[(bank.am2.pk, version.items.get(indicator__code="new_credit_customers").pk)][7] == 2


@pytest.mark.django_db(transaction=True)
def test_a_failed_background_write_fails_the_period_and_the_job(monkeypatch):
    bank = _bank_with_facts()
    version = simple_scheme(bank, code="AMF")
    period = close.period_create(scheme=version.scheme, start=dt.date(2026, 9, 1), actor=bank.admin)
    monkeypatch.setattr(close, "CHUNK", 1)
    main = threading.get_ident()
    load = close._load_chunk

    def failing(*args):
        if threading.get_ident() != main or connection.vendor != "postgresql":
            raise RuntimeError("disk full")
        return load(*args)

    monkeypatch.setattr(close, "_load_chunk", failing)
    if connection.vendor != "postgresql":
        monkeypatch.setattr(close, "_write_chunk_orm", failing)
    _confirmed_computing(bank, period, monkeypatch)
    with pytest.raises(RuntimeError, match="disk full"):
        close.period_compute_run(period_id=period.pk)
    period.refresh_from_db()
    assert period.state == Period.State.FAILED and "disk full" in period.compute_error
    assert JobRun.objects.get(pk=period.job_run_id).status == JobRun.Status.FAILED
    assert gc.isenabled()
    assert not SubjectResult.objects.filter(period=period).exists()

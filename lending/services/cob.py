"""Nightly close (日终, COB) of the loan engine.

Business date D closes in ordered, configurable pipeline steps (``JIKUAI_LENDING_COB_PIPELINE``):

1. ``collect``   auto-collection (代扣) of due amounts through the core-banking adapter;
2. ``close``     set-based pass over open loans in id ranges: for each loan the engine runs the loan
                 steps (``JIKUAI_LENDING_LOAN_STEPS``, default overdue marking and DPD → penalty and
                 compound accrual → contract interest accrual → classification) for every day from
                 its ``last_closed_business_date`` + 1 to D (missed days are caught up one by one),
                 then the chunk is written with bulk SQL in one short transaction (PostgreSQL:
                 ``UPDATE … FROM (VALUES …)`` and COPY for the ledger legs; other databases: the
                 ORM's bulk operations). Events go to the outbox with one bulk insert;
3. ``events``    hand the outbox events of the close to the dispatcher;
4. ``reconcile`` the ledger reconciliation;
5. ``snapshot``  month-end classification snapshots;
6. ``advance``   move the business date to D + 1.

Each step is a ``JobRun`` (job ``lending.cob.<step>``) with a cursor: a crash resumes where it stopped,
a finished step is not repeated, and ``last_closed_business_date`` makes the close itself idempotent
per loan (a second run of the same date writes nothing). A loan that fails is quarantined
(``CobQuarantine``) and reported while the others continue; the next run retries it.
"""

import datetime as dt
import json
import logging
import traceback
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django_fsm_log.models import StateLog

from jikuai.core import bus
from jikuai.core.exceptions import ApplicationError
from jikuai.core.jobs import job_run_finish, job_run_progress, job_run_start
from jikuai.core.models import JobRun, OutboxEvent
from jikuai.core.workdays import business_date_advance, get_business_date
from lending import corebanking, engine, ledger
from lending import events as lending_events
from lending import state as loan_state
from lending.models import CobQuarantine, CollectionAttempt, Installment, Loan, LoanState, Repayment

logger = logging.getLogger(__name__)

ONE_DAY = dt.timedelta(days=1)
DEFAULT_PIPELINE = ("collect", "close", "events", "reconcile", "snapshot", "advance")
OPEN = (LoanState.ACTIVE, LoanState.OVERDUE)
AGGREGATE_ACCOUNTS = frozenset({engine.INTEREST_INC, engine.PENALTY_INC, engine.COMPOUND_INC, engine.OFF_CONTRA})
# most loans on most days only accrue contract interest: their update carries these columns only
ACCRUAL_ONLY_FIELDS = (
    "last_closed_business_date",
    "interest_receivable",
    "interest_income",
    "off_balance_interest",
    "off_balance_contra",
)
LOAN_READ_FIELDS = (
    "id",
    "institution_id",
    "branch_id",
    "account_manager_id",
    "customer_id",
    *loan_state.TERM_FIELDS,
    *loan_state.STATE_FIELDS,
)
# what a close can change on a loan (repayment-only columns such as paid_to_date, principal or the
# schedule version are never touched by the close, so they are not rewritten)
LOAN_WRITE_FIELDS = (
    "state",
    "dpd",
    "overdue_since",
    "loan_class",
    "floor_class",
    "off_balance_accrual",
    "last_closed_business_date",
    "penalty_accrued_e10",
    "penalty_posted",
    "compound_accrued_e10",
    "compound_posted",
    "interest_receivable",
    "penalty_receivable",
    "compound_receivable",
    "off_balance_interest",
    "off_balance_contra",
    "interest_income",
    "penalty_income",
    "compound_income",
)


class CobError(ApplicationError):
    code = "cob_error"
    status = 409


@dataclass
class StepResult:
    step: str
    ran: bool
    processed: int = 0
    failed: int = 0
    counts: dict = field(default_factory=dict)
    error: str = ""


@dataclass
class DayResult:
    business_date: dt.date
    steps: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(not step.error for step in self.steps)


def pipeline() -> tuple[str, ...]:
    configured = getattr(settings, "JIKUAI_LENDING_COB_PIPELINE", None)
    return tuple(configured) if configured else DEFAULT_PIPELINE


def chunk_size() -> int:
    return int(getattr(settings, "JIKUAI_LENDING_COB_CHUNK", 2000))


def run_cob(
    *, date: dt.date | None = None, until: dt.date | None = None, progress=None, size: int | None = None
) -> list[DayResult]:
    """Close ``date`` (default: the business date) and every day up to ``until`` one by one."""
    business_date = get_business_date()
    start = date or business_date
    if start > business_date:
        raise CobError(
            f"不能关闭未来日期 {start}（营业日期 {business_date}）。",
            f"cannot close {start}: the business date is {business_date}",
        )
    end = until or start
    if end < start:
        raise CobError("结束日期早于开始日期。", "until is before date")
    if end > business_date and end - business_date > dt.timedelta(days=3660):
        raise CobError("补跑区间过长。", "catch-up range too long")
    results = []
    day = start
    while day <= end:
        result = close_business_day(day, progress=progress, size=size)
        results.append(result)
        if not result.ok:
            break
        day += ONE_DAY
    return results


def close_business_day(
    day: dt.date, *, progress=None, size: int | None = None, steps: tuple[str, ...] | None = None
) -> DayResult:
    result = DayResult(day)
    for step in steps or pipeline():
        handler = STEPS.get(step)
        if handler is None:
            raise CobError(f"未知的日终步骤：{step}", f"unknown COB step {step!r}")
        outcome = handler(day, progress=progress, size=size or chunk_size())
        result.steps.append(outcome)
        if outcome.error:
            logger.error("COB %s step %s failed: %s", day, step, outcome.error)
            break
    return result


# --- step: auto-collection (代扣) ------------------------------------------------------------------


def _step_collect(day: dt.date, *, progress=None, size: int = 500) -> StepResult:
    from lending.services.repayments import repayment_record

    run, should_work = job_run_start(job="lending.cob.collect", business_date=day)
    if not should_work:
        return StepResult("collect", ran=False)
    adapter = corebanking.get_adapter()
    counts = defaultdict(int)
    done_attempts = CollectionAttempt.objects.filter(business_date=day).values("loan_id")
    candidates = list(
        Installment.objects.filter(
            is_current=True,
            due_date__lte=day,
            loan__state__in=OPEN,
            loan__auto_debit=True,
        )
        .exclude(status=Installment.Status.PAID)
        .filter(Q(loan__last_closed_business_date__lt=day) | Q(loan__last_closed_business_date__isnull=True))
        .exclude(loan_id__in=done_attempts)
        .values_list("loan_id", flat=True)
        .distinct()
        .order_by("loan_id")
    )
    run.total = len(candidates)
    run.save(update_fields=["total"])
    clf = loan_state.classifier()
    try:
        for start in range(0, len(candidates), 500):
            batch = candidates[start : start + 500]
            transfers, attempts = [], {}
            with transaction.atomic():
                for loan in Loan.objects.filter(pk__in=batch).select_related("product"):
                    book = loan_state.book_for(loan, clf=clf)
                    d = (book.last_closed or (loan.value_date - ONE_DAY)) + ONE_DAY
                    while d < day and book.is_open:
                        book.close_day(d)
                        d += ONE_DAY
                    amount = book.amount_due(day) if book.is_open else Decimal(0)
                    if amount <= 0:
                        continue
                    request_id = f"COL{loan.pk:012d}{day:%Y%m%d}"
                    attempt, created = CollectionAttempt.objects.get_or_create(
                        loan=loan, business_date=day, defaults={"amount": amount, "reference": request_id}
                    )
                    if created:
                        attempts[request_id] = attempt
                        transfers.append(
                            corebanking.TransferRequest(
                                request_id, loan.contract_no, loan.core_account_ref, amount, day.isoformat()
                            )
                        )
            try:
                results = adapter.collect_many(transfers) if transfers else []
            except corebanking.CoreBankingError as exc:
                counts["unreachable"] += len(transfers)
                logger.warning("COB collect: core banking unreachable: %s", exc)
                results = []
            for outcome in results:
                attempt = attempts[outcome.request_id]
                if outcome.status == corebanking.SETTLED and outcome.amount > 0:
                    try:
                        repayment = repayment_record(
                            loan_id=attempt.loan_id,
                            amount=outcome.amount,
                            channel=Repayment.Channel.AUTO_COLLECTION,
                            external_id=outcome.request_id,
                            value_date=day,
                        )
                    except ApplicationError as exc:
                        CollectionAttempt.objects.filter(pk=attempt.pk).update(
                            status=CollectionAttempt.Status.FAILED, message=str(exc)[:200]
                        )
                        counts["refused"] += 1
                        continue
                    CollectionAttempt.objects.filter(pk=attempt.pk).update(
                        status=CollectionAttempt.Status.SUCCEEDED,
                        collected=outcome.amount,
                        repayment=repayment,
                        reference=outcome.reference or attempt.reference,
                    )
                    counts["collected"] += 1
                elif outcome.status == corebanking.PENDING:
                    counts["pending"] += 1
                else:
                    CollectionAttempt.objects.filter(pk=attempt.pk).update(
                        status=CollectionAttempt.Status.FAILED, message=outcome.message[:200]
                    )
                    counts["failed"] += 1
            job_run_progress(run, add=len(batch), cursor={"last_loan_id": batch[-1]}, counts=dict(counts))
            counts.clear()
            if progress:
                progress("collect", run.processed, run.total)
    except Exception as exc:
        job_run_finish(run, error=f"{exc!r}\n{traceback.format_exc()}")
        return StepResult("collect", ran=True, processed=run.processed, error=repr(exc))
    job_run_finish(run)
    return StepResult("collect", ran=True, processed=run.processed, counts=run.counts)


# --- step: the set-based close of every open loan ---------------------------------------------------


def _step_close(
    day: dt.date,
    *,
    progress=None,
    size: int = 2000,
    run_key: str = "",
    institution_ids: list[int] | None = None,
    _crash_after_chunks: int | None = None,
) -> StepResult:
    """The set-based close. ``institution_ids`` limits it to some institutions (a worker per
    partition; also used by the benchmark with its own ``run_key``)."""
    open_loans = Loan.objects.filter(state__in=OPEN).filter(
        Q(last_closed_business_date__lt=day) | Q(last_closed_business_date__isnull=True)
    )
    if institution_ids is not None:
        open_loans = open_loans.filter(institution_id__in=institution_ids)
    run, should_work = job_run_start(job="lending.cob.close", business_date=day, run_key=run_key)
    if not should_work:
        return StepResult("close", ran=False)
    cursor = int(run.cursor.get("last_id", 0))
    if not run.total or cursor == 0:
        run.total = run.processed + open_loans.filter(pk__gt=cursor).count()
        run.save(update_fields=["total"])
    context = CloseContext(
        day=day,
        classifier=loan_state.classifier(),
        steps=loan_state.loan_steps(),
        open_quarantine=CobQuarantine.objects.filter(resolved_at__isnull=True).exists(),
    )
    chunks = 0
    try:
        while True:
            ids = list(open_loans.filter(pk__gt=cursor).order_by("pk").values_list("pk", flat=True)[:size])
            if not ids:
                break
            stats = close_chunk(ids, context, run=run)
            cursor = ids[-1]
            chunks += 1
            if progress:
                progress("close", run.processed, run.total)
            if _crash_after_chunks is not None and chunks >= _crash_after_chunks:
                raise RuntimeError("simulated crash")
            del stats
    except Exception as exc:
        job_run_finish(run, error=f"{exc!r}\n{traceback.format_exc()}")
        return StepResult("close", ran=True, processed=run.processed, failed=run.failed, counts=run.counts, error=repr(exc))
    job_run_finish(run)
    return StepResult("close", ran=True, processed=run.processed, failed=run.failed, counts=run.counts)


@dataclass
class CloseContext:
    day: dt.date
    classifier: engine.Classifier
    steps: tuple
    accounts: dict = field(default_factory=dict)
    loan_ct: ContentType | None = None
    open_quarantine: bool = True  # any unresolved quarantine when the step started
    leg_loan_fk: str | None = None


@dataclass
class ChunkOutput:
    loan_values: list = field(default_factory=list)  # (id, values dict): loans with any close change
    accrual_values: list = field(default_factory=list)  # (id, values dict): loans that only accrued
    installment_updates: list = field(default_factory=list)  # (id, status, overdue_on)
    legs: dict = field(default_factory=lambda: defaultdict(list))  # (institution, kind) → [(account, loan, amount)]
    events: list = field(default_factory=list)
    transitions: list = field(default_factory=list)  # (loan_id, source, target)
    quarantined: list = field(default_factory=list)  # (loan_id, error)
    succeeded: list = field(default_factory=list)
    counts: dict = field(default_factory=lambda: defaultdict(int))


def compute_chunk(ids: list[int], context: CloseContext, *, lock: bool = True) -> ChunkOutput:
    """Read the chunk (locking its loans) and run the engine; no writes."""
    day = context.day
    horizon = day + dt.timedelta(days=loan_state.reminder_days())
    if connection.vendor == "postgresql":
        rows, installments = _read_chunk_postgres(ids, day, horizon, lock=lock)
    else:
        query = Loan.objects.filter(pk__in=ids, state__in=OPEN).filter(
            Q(last_closed_business_date__lt=day) | Q(last_closed_business_date__isnull=True)
        )
        if lock:
            query = query.select_for_update(no_key=True)
        rows = list(query.order_by("pk").values(*LOAN_READ_FIELDS))
        installments: dict[int, list] = defaultdict(list)
        if rows:
            for row in (
                Installment.objects.filter(loan_id__in=[r["id"] for r in rows], is_current=True, start_date__lte=horizon)
                .exclude(status=Installment.Status.PAID)
                .order_by("loan_id", "number")
                .values(*loan_state.INSTALLMENT_FIELDS)
            ):
                installments[row["loan_id"]].append(loan_state.inst_from_row(row))
    out = ChunkOutput()
    for row in rows:
        loan_id = row["id"]
        try:
            book = _close_loan(row, installments.get(loan_id, []), context)
        except Exception as exc:  # one bad loan never stops the close: quarantine and continue
            out.quarantined.append((loan_id, f"{exc!r}\n{traceback.format_exc(limit=4)}"))
            continue
        out.succeeded.append(loan_id)
        values = loan_state.values_from_book(book)
        if values["state"] != row["state"]:
            out.transitions.append((loan_id, row["state"], values["state"]))
        if all(values[name] == row[name] for name in LOAN_WRITE_FIELDS if name not in ACCRUAL_ONLY_FIELDS):
            out.accrual_values.append((loan_id, values))
        else:
            out.loan_values.append((loan_id, values))
        for inst in book.installments:
            if inst.changed and inst.id:
                out.installment_updates.append((inst.id, inst.status, inst.overdue_on))
        if book.effects:
            bucket = out.legs
            for kind, account, amount in book.effects:
                bucket[(row["institution_id"], kind)].append((account, loan_id, amount))
        for topic, data in book.events:
            out.events.append((topic, lending_events.payload_for(row, data)))
            out.counts[topic.rsplit(".", 1)[-1]] += 1
    out.counts["loans"] += len(out.succeeded)
    out.counts["quarantined"] += len(out.quarantined)
    return out


def _read_chunk_postgres(ids: list[int], day: dt.date, horizon: dt.date, *, lock: bool):
    """The chunk's loans (locked, in id order) and their open installments, with two plain queries."""
    loan_columns = [Loan._meta.get_field(name).column for name in LOAN_READ_FIELDS]
    inst_columns = [Installment._meta.get_field(name).column for name in loan_state.INSTALLMENT_FIELDS]
    installments: dict[int, list] = defaultdict(list)
    with connection.cursor() as cursor:
        # identifiers come from the model definitions; values are bound
        columns = ", ".join(loan_columns)
        select_loans = f"SELECT {columns} FROM lending_loan WHERE id = ANY(%s) AND state IN ('active', 'overdue') "  # noqa: S608
        select_loans += "AND (last_closed_business_date IS NULL OR last_closed_business_date < %s) ORDER BY id"
        cursor.execute(select_loans + (" FOR NO KEY UPDATE" if lock else ""), [ids, day])
        rows = [dict(zip(LOAN_READ_FIELDS, row, strict=True)) for row in cursor.fetchall()]
        parsed: dict[str, tuple] = {}  # Django's psycopg setup hands jsonb over as text; parse each text once
        for row in rows:
            for name in ("allocation_order", "npl_allocation_order"):
                value = row[name]
                if isinstance(value, str):
                    order = parsed.get(value)
                    if order is None:
                        decoded = json.loads(value)
                        order = parsed[value] = tuple(decoded) if isinstance(decoded, list) else decoded
                    row[name] = order
        if rows:
            columns = ", ".join(inst_columns)
            select_installments = f"SELECT {columns} FROM lending_installment WHERE loan_id = ANY(%s) "  # noqa: S608
            select_installments += "AND is_current AND status <> 'paid' AND start_date <= %s ORDER BY loan_id, number"
            cursor.execute(select_installments, [[row["id"] for row in rows], horizon])
            names = loan_state.INSTALLMENT_FIELDS
            for row in cursor.fetchall():
                values = dict(zip(names, row, strict=True))
                installments[values["loan_id"]].append(loan_state.inst_from_row(values))
    return rows, installments


def _close_loan(row: dict, installments: list, context: CloseContext) -> engine.LoanBook:
    terms = loan_state.terms_from(row)
    book = loan_state.book_from_values(row, installments, terms, context.classifier, context.steps)
    day = (book.last_closed or (terms.value_date - ONE_DAY)) + ONE_DAY
    while day <= context.day:
        book.close_day(day)
        if not book.is_open:
            break
        day += ONE_DAY
    book.last_closed = context.day
    return book


def _tune_transaction() -> None:
    """PostgreSQL settings for one chunk transaction: no JIT compilation of its short statements, and
    no wait for the WAL flush at commit — safe here because a chunk is all-or-nothing and idempotent:
    if a crash loses the last commits, their loans still have the old last_closed_business_date and the
    rerun closes them again (the job cursor and the outbox rows are lost with them)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
            cursor.execute("SET LOCAL synchronous_commit = off")


def close_chunk(ids: list[int], context: CloseContext, *, run: JobRun | None = None) -> ChunkOutput:
    """Compute and write one chunk in one transaction; if the write fails, retry loan by loan so that
    only the failing loans are quarantined."""
    try:
        with transaction.atomic():
            _tune_transaction()
            out = compute_chunk(ids, context)
            write_chunk(out, context)
            if run is not None:
                job_run_progress(
                    run, add=len(ids), cursor={"last_id": ids[-1]}, counts=dict(out.counts), failed_add=len(out.quarantined)
                )
        return out
    except Exception:
        if len(ids) == 1:
            raise
        logger.exception("COB %s: chunk %s–%s failed to write; retrying loan by loan", context.day, ids[0], ids[-1])
    total = ChunkOutput()
    for loan_id in ids:
        try:
            with transaction.atomic():
                out = compute_chunk([loan_id], context)
                write_chunk(out, context)
        except Exception as exc:
            out = ChunkOutput(quarantined=[(loan_id, f"{exc!r}")])
            out.counts["quarantined"] = 1
            with transaction.atomic():
                _write_quarantine(out, context)
        for key, value in out.counts.items():
            total.counts[key] += value
        total.quarantined.extend(out.quarantined)
    if run is not None:
        job_run_progress(
            run, add=len(ids), cursor={"last_id": ids[-1]}, counts=dict(total.counts), failed_add=len(total.quarantined)
        )
    return total


# --- bulk writes -------------------------------------------------------------------------------------


def _loan_columns(names) -> list[tuple[str, str]]:
    return [(Loan._meta.get_field(name).column, Loan._meta.get_field(name).cast_db_type(connection)) for name in names]


def _leg_loan_constraint() -> str | None:
    """Name of the foreign key lending_postingleg.loan_id → lending_loan (PostgreSQL)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = 'lending_postingleg'::regclass AND contype = 'f' "
            "AND confrelid = 'lending_loan'::regclass"
        )
        row = cursor.fetchone()
    return row[0] if row else None


def write_chunk(out: ChunkOutput, context: CloseContext) -> None:
    day = context.day
    if connection.vendor == "postgresql" and out.legs:
        # Check the legs' loan foreign key while inserting them, before the loans are updated: the
        # check then finds each loan row already locked by this transaction and writes nothing; checked
        # at commit (deferred), it would lock the new row versions again, one tuple write per leg.
        if context.leg_loan_fk is None:
            context.leg_loan_fk = _leg_loan_constraint() or ""
        if context.leg_loan_fk:
            with connection.cursor() as cursor:
                cursor.execute(f'SET CONSTRAINTS "{context.leg_loan_fk}" IMMEDIATE')
    for (institution_id, kind), legs in out.legs.items():
        accounts = context.accounts.get(institution_id)
        if accounts is None:
            accounts = context.accounts[institution_id] = ledger.account_ids(institution_id)
        ledger.post_batch(
            institution_id=institution_id,
            kind=kind,
            business_date=day,
            loan_legs=legs,
            aggregate_accounts=AGGREGATE_ACCOUNTS,
            description=f"日终 {day} {kind}",
            accounts=accounts,
        )
    if out.accrual_values:
        _bulk_update(
            "lending_loan",
            _loan_columns(ACCRUAL_ONLY_FIELDS),
            [(loan_id, [values[name] for name in ACCRUAL_ONLY_FIELDS]) for loan_id, values in out.accrual_values],
            guard=("last_closed_business_date", "date"),
            stage="cob_stage_accrual",
        )
    if out.loan_values:
        _bulk_update(
            "lending_loan",
            _loan_columns(LOAN_WRITE_FIELDS),
            [(loan_id, [values[name] for name in LOAN_WRITE_FIELDS]) for loan_id, values in out.loan_values],
            guard=("last_closed_business_date", "date"),
        )
    if out.installment_updates:
        _bulk_update(
            "lending_installment",
            [("status", "varchar(10)"), ("overdue_on", "date")],
            [(inst_id, [status, overdue_on]) for inst_id, status, overdue_on in out.installment_updates],
        )
    if out.events:
        lending_events.publish_many(out.events, dispatch=False)
    if out.transitions:
        if context.loan_ct is None:
            context.loan_ct = ContentType.objects.get_for_model(Loan)
        names = {(LoanState.ACTIVE, LoanState.OVERDUE): "mark_overdue", (LoanState.OVERDUE, LoanState.ACTIVE): "cure"}
        now = timezone.now()
        StateLog.objects.bulk_create(
            [
                StateLog(
                    timestamp=now,
                    content_type=context.loan_ct,
                    object_id=loan_id,
                    source_state=source,
                    state=target,
                    transition=names.get((source, target), "cob"),
                    description=f"日终 {day}",
                )
                for loan_id, source, target in out.transitions
            ],
            batch_size=2000,
        )
    if out.succeeded and context.open_quarantine:
        CobQuarantine.objects.filter(loan_id__in=out.succeeded, resolved_at__isnull=True).update(resolved_at=timezone.now())
    _write_quarantine(out, context)


def _write_quarantine(out: ChunkOutput, context: CloseContext) -> None:
    if out.quarantined:
        CobQuarantine.objects.bulk_create(
            [
                CobQuarantine(loan_id=loan_id, business_date=context.day, step="close", error=error[:4000])
                for loan_id, error in out.quarantined
            ],
            ignore_conflicts=True,
        )


def _binary_type(db_type: str) -> str:
    """PostgreSQL type name for binary COPY of a column declared as ``db_type``."""
    base = db_type.split("(")[0].strip().lower()
    return {
        "varchar": "text",
        "character varying": "text",
        "integer": "int4",
        "bigint": "int8",
        "smallint": "int2",
        "boolean": "bool",
    }.get(base, base)


def _bulk_update(
    table: str,
    columns: list[tuple[str, str]],
    rows: list[tuple[int, list]],
    *,
    guard: tuple[str, str] | None = None,
    stage: str = "",
) -> None:
    """UPDATE many rows by id. PostgreSQL: COPY into a session staging table, then one
    ``UPDATE … FROM`` (no giant statement to parse); elsewhere executemany.

    ``guard``: only rows whose column is still below the new value are updated (the close of a day
    never overwrites a loan that is already closed for it)."""
    if connection.vendor == "postgresql":
        stage = stage or f"cob_stage_{table}"
        names = ", ".join(name for name, _type in columns)
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {stage} (id bigint, "
                + ", ".join(f"{name} {db_type}" for name, db_type in columns)
                + ") ON COMMIT DELETE ROWS"
            )
            cursor.execute(f"TRUNCATE {stage}")
            with cursor.cursor.copy(f"COPY {stage} (id, {names}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["int8", *(_binary_type(db_type) for _name, db_type in columns)])
                for row_id, values in rows:
                    copy.write_row((row_id, *values))
            sets = ", ".join(f"{name} = v.{name}" for name, _type in columns)
            condition = ""
            if guard:
                column, _db_type = guard
                condition = f" AND (t.{column} IS NULL OR t.{column} < v.{column})"
            # the staging table has no statistics: make the one good plan explicit (walk the chunk's
            # rows, find each target by primary key) rather than risk a scan of the big table
            cursor.execute("SET LOCAL enable_hashjoin = off")
            cursor.execute("SET LOCAL enable_mergejoin = off")
            update = f"UPDATE {table} AS t SET {sets} FROM {stage} AS v WHERE t.id = v.id{condition}"  # noqa: S608 (identifiers from code)
            cursor.execute(update)
            cursor.execute("SET LOCAL enable_hashjoin = on")
            cursor.execute("SET LOCAL enable_mergejoin = on")
    else:
        sets = ", ".join(f"{name} = %s" for name, _type in columns)
        condition = ""
        if guard:
            column, _db_type = guard
            condition = f" AND ({column} IS NULL OR {column} < %s)"
        sql = f"UPDATE {table} SET {sets} WHERE id = %s{condition}"  # noqa: S608 (identifiers from code, values bound)
        params = []
        for row_id, values in rows:
            converted = [str(v) if isinstance(v, Decimal) else v for v in values]
            item = [*converted, row_id]
            if guard:
                item.append(values[[name for name, _ in columns].index(guard[0])])
            params.append(item)
        with connection.cursor() as cursor:
            cursor.executemany(sql, params)


# --- step: events -----------------------------------------------------------------------------------


def _step_events(day: dt.date, *, progress=None, size: int = 2000) -> StepResult:
    run, should_work = job_run_start(job="lending.cob.events", business_date=day)
    if not should_work:
        return StepResult("events", ran=False)
    close = JobRun.objects.filter(job="lending.cob.close", business_date=day).first()
    since = close.started_at if close else timezone.now()
    ids = list(
        OutboxEvent.objects.filter(status=OutboxEvent.Status.PENDING, topic__startswith="lending.", created_at__gte=since)
        .order_by("id")
        .values_list("id", flat=True)
    )
    bus.enqueue(ids)
    job_run_progress(run, add=len(ids), counts={"dispatched": len(ids)})
    job_run_finish(run)
    return StepResult("events", ran=True, processed=len(ids))


# --- step: reconciliation -----------------------------------------------------------------------------


def _step_reconcile(day: dt.date, *, progress=None, size: int = 2000) -> StepResult:
    from lending.services.reconcile import reconcile_ledger

    run, should_work = job_run_start(job="lending.cob.reconcile", business_date=day)
    if not should_work:
        return StepResult("reconcile", ran=False)
    report = reconcile_ledger(business_date=day, sample=int(getattr(settings, "JIKUAI_LENDING_RECONCILE_SAMPLE", 1000)))
    job_run_progress(run, add=report.loans_checked, counts={"loans_checked": report.loans_checked})
    if report.ok:
        job_run_finish(run)
        return StepResult("reconcile", ran=True, processed=report.loans_checked)
    error = f"对账不平 / ledger does not reconcile: {report.as_dict()}"
    job_run_finish(run, error=error)
    if getattr(settings, "JIKUAI_LENDING_COB_HALT_ON_RECONCILE_ERROR", True):
        return StepResult("reconcile", ran=True, processed=report.loans_checked, error=error[:2000])
    return StepResult("reconcile", ran=True, processed=report.loans_checked, counts={"mismatches": 1})


# --- step: month-end snapshot ---------------------------------------------------------------------------


def _step_snapshot(day: dt.date, *, progress=None, size: int = 2000) -> StepResult:
    if (day + ONE_DAY).day != 1:
        return StepResult("snapshot", ran=False)
    run, should_work = job_run_start(job="lending.cob.snapshot", business_date=day)
    if not should_work:
        return StepResult("snapshot", ran=False)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO lending_classificationsnapshot (month_end, loan_id, institution_id, branch_id, account_manager_id, "
            "product_id, loan_class, dpd, principal_outstanding) "
            "SELECT %s, l.id, l.institution_id, l.branch_id, l.account_manager_id, l.product_id, l.loan_class, l.dpd, "
            "l.principal_outstanding FROM lending_loan l WHERE l.state IN ('active', 'overdue') "
            "AND NOT EXISTS (SELECT 1 FROM lending_classificationsnapshot s WHERE s.month_end = %s AND s.loan_id = l.id)",
            [day, day],
        )
        inserted = cursor.rowcount
        job_run_progress(run, add=inserted, counts={"snapshots": inserted})
    job_run_finish(run)
    return StepResult("snapshot", ran=True, processed=inserted)


# --- step: advance the business date --------------------------------------------------------------------


def _step_advance(day: dt.date, *, progress=None, size: int = 2000) -> StepResult:
    if get_business_date() != day:
        return StepResult("advance", ran=False)
    lagging = Loan.objects.filter(state__in=OPEN, last_closed_business_date__lt=day).count()
    new_date = business_date_advance(expected=day)
    return StepResult("advance", ran=True, counts={"business_date": new_date.isoformat(), "loans_behind": lagging})


STEPS = {
    "collect": _step_collect,
    "close": _step_close,
    "events": _step_events,
    "reconcile": _step_reconcile,
    "snapshot": _step_snapshot,
    "advance": _step_advance,
}

"""Nightly close (日终) of N synthetic loans on PostgreSQL.

    python -m bench.lending_cob --size N [--chunk 5000] [--no-double] [--keep-db]

Runs in its own database ``<DATABASE_URL name>_lending_bench`` (created, migrated, dropped afterwards
unless --keep-db): the ledger is immutable, so benchmark rows must never land in a working database.

Setup (not timed): N loans loaded with COPY — 12 months, methods mixed evenly (等额本息, 等额本金,
先息后本, 利随本清), value dates spread over the last 11 months, every installment due so far paid on
time except 5 % of the loans, which have one or two unpaid installments (1–60 DPD, penalty and
compound accrued) — with their installments, as the engine would have left them after closing D − 1.
Timed:
1. the set-based close of business date D (``lending.cob.close``: overdue marking and DPD, penalty and
   compound, contract interest accrual, classification, events to the outbox) — loans/s; the write
   phase (bulk UPDATEs, COPY of ledger legs, outbox and state-log inserts) is timed on its own;
2. a psycopg COPY of the same number of rows the close wrote, into a logged table shaped like
   ``lending_loan``, text prepared before the clock, commit included (the baseline; median of 3) —
   compared with the close's write phase: bulk writes + job progress + COMMIT of every chunk;
3. a second run of the same date (must write nothing);
4. the same close for 2N loans (doubling);
each close runs in a fresh process; its peak memory is that process's ``ru_maxrss``.
Targets (issue 4): write phase ≥ 0.4 × COPY rows/s; second run ≤ 0.1 × first; 2N ≤ 2.2 × N; ≤ 1 GiB.
"""

import argparse
import datetime as dt
import io
import json
import os
import platform
import random
import resource
import sys
import time
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

NAME = "lending_cob"
RESULTS = Path(__file__).resolve().parent / "results" / f"{NAME}.json"
BUSINESS_DATE = dt.date(2026, 6, 15)
FEN = Decimal("0.01")


def _bench_database(keep: bool) -> tuple[str, str]:
    """Create the benchmark database next to DATABASE_URL's and point DATABASE_URL at it."""
    import psycopg

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit("bench.lending_cob needs DATABASE_URL=postgres://… (the close is measured on PostgreSQL)")
    parts = urlsplit(url)
    name = (parts.path.lstrip("/") or "jikuai") + "_lending_bench"
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and not keep:
            conn.execute(f'DROP DATABASE "{name}"')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path="/" + name))
    return name, admin


def _drop_database(name: str, admin: str) -> None:
    import psycopg
    from django.db import connections

    connections.close_all()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def _q(value: Decimal) -> Decimal:
    return value.quantize(FEN, ROUND_HALF_UP)


def _copy_rows(table: str, columns: list[str], rows) -> None:
    from django.db import connection, transaction

    with (
        transaction.atomic(),
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)


def _setup(size: int, tag: str, rng: random.Random) -> int:
    """Load N customers, loans and installments with COPY; returns the institution id."""
    from django.db import connection
    from django.utils import timezone

    from jikuai.customers.models import Customer
    from jikuai.org.models import Branch, Institution
    from lending.models import Product

    institution = Institution.objects.create(code=f"BL{tag}"[:20], name=f"日终压测行{tag}", short_name="压测")
    branch = Branch.objects.create(institution=institution, code="B01", name="压测支行")
    product = Product.objects.get_or_create(
        code="BENCH", defaults={"name": "压测贷", "max_amount": Decimal("1000000"), "term_options": [12], "grace_days": 0}
    )[0]
    now = timezone.now()
    base = {
        "institution_id": institution.pk,
        "branch_id": branch.pk,
        "name": "压测客户",
        "gender": "M",
        "birth_date": dt.date(1980, 1, 1),
        "occupation": "farmer",
        "monthly_income": 0,
        "kyc_status": "verified",
        "channel": "batch",
        "web_enabled": False,
        "is_demo": True,
        "created_at": now,
        "updated_at": now,
    }
    fields = [f for f in Customer._meta.concrete_fields if f.column != "id" and (not f.null or f.attname in base)]
    columns = [f.column for f in fields]

    def customer_row(i):
        values = dict(base, id_number_index=f"bl{tag}-{i}", mobile_index=f"bl{tag}-{i}", referral_code=f"L{tag[-4:]}{i:07d}"[:12])
        return [values.get(f.attname, f.get_default()) for f in fields]

    _copy_rows(Customer._meta.db_table, columns, (customer_row(i) for i in range(size)))
    customer_ids = list(Customer.objects.filter(institution=institution).order_by("pk").values_list("pk", flat=True))

    for start in range(0, len(customer_ids), 50_000):  # stream in batches: the setup's memory stays flat
        _load_loans(customer_ids[start : start + 50_000], start, institution, branch, product, tag, rng, now)
    with connection.cursor() as cursor:
        for table in ("lending_loan", "lending_installment", "customers_customer"):
            cursor.execute(f"VACUUM ANALYZE {table}")
        cursor.execute("CHECKPOINT")  # flush the setup's WAL now, not during the timed close
    return institution.pk


def _load_loans(customer_ids, offset, institution, branch, product, tag, rng, now) -> None:
    from lending import engine
    from lending import schedule as sched
    from lending.models import Installment, Loan, ScheduleVersion
    from lending.models.common import DEFAULT_ALLOCATION_ORDER, PRINCIPAL_FIRST_ORDER

    day = BUSINESS_DATE
    last_closed = day - dt.timedelta(days=1)
    loan_fields = [f for f in Loan._meta.concrete_fields if f.column != "id"]
    loan_columns = [f.column for f in loan_fields]
    loans, schedules = [], []
    methods = sched.Method.ALL
    terms_rate = Decimal("0.09")  # 6 % × 1.5
    for index, customer_id in enumerate(customer_ids):
        n = offset + index
        method = methods[n % 4]
        value_date = day - dt.timedelta(days=rng.randint(1, 330))
        principal = Decimal(rng.randrange(10, 300)) * 1000
        rate = Decimal("0.06")
        periods = sched.generate(
            method=method, principal=principal, annual_rate=rate, months=12, value_date=value_date, validate=False
        )
        due_before = [p for p in periods if p.due_date <= last_closed]
        overdue = []
        if method != sched.Method.BULLET and due_before and rng.random() < 0.0667:  # 5 % of all loans (bullets never due yet)
            count = min(len(due_before), rng.choice((1, 2)))
            overdue = [p for p in due_before[-count:] if (day - p.due_date).days <= 60]
        paid = [p for p in due_before if p not in overdue]
        running = next((p for p in periods if p.start_date <= last_closed < p.due_date), None)
        accrued = Decimal("0.00")
        if running is not None:
            days = (running.due_date - running.start_date).days
            accrued = (
                running.interest
                if last_closed >= running.due_date - dt.timedelta(days=1)
                else _q(running.interest * ((last_closed - running.start_date).days + 1) / days)
            )
        paid_principal = sum((p.principal for p in paid), Decimal("0.00"))
        paid_interest = sum((p.interest for p in paid), Decimal("0.00"))
        unpaid_interest = sum((p.interest for p in overdue), Decimal("0.00"))
        penalty = compound = Decimal(0)
        if overdue:
            oldest = overdue[0].due_date
            current = oldest
            while current <= last_closed:
                principal_due = sum((p.principal for p in overdue if p.due_date <= current), Decimal(0))
                interest_due = sum((p.interest for p in overdue if p.due_date <= current), Decimal(0))
                penalty += (principal_due * terms_rate / 360).quantize(engine.Q10)
                compound += (interest_due * terms_rate / 360).quantize(engine.Q10)
                current += dt.timedelta(days=1)
        penalty_posted, compound_posted = _q(penalty), _q(compound)
        dpd = (day - overdue[0].due_date).days if overdue else 0
        loan_class = "special_mention" if overdue else "normal"
        level_payment, level_principal = engine.level_amounts(method, rate, principal, 12)
        values = {
            "institution_id": institution.pk,
            "branch_id": branch.pk,
            "account_manager_id": None,
            "customer_id": customer_id,
            "product_id": product.pk,
            "contract_no": f"BL{tag}{n:08d}",
            "principal": principal,
            "annual_rate": rate,
            "day_basis": 360,
            "method": method,
            "term_months": 12,
            "value_date": value_date,
            "maturity_date": periods[-1].due_date,
            "penalty_markup": Decimal("0.5"),
            "grace_days": 0,
            "allocation_order": json.dumps(DEFAULT_ALLOCATION_ORDER),
            "npl_allocation_order": json.dumps(PRINCIPAL_FIRST_ORDER),
            "npl_principal_first": False,
            "overpayment_policy": "refuse",
            "quarterly_interest": False,
            "upfront_fee": Decimal("0.00"),
            "apr": Decimal("6.00"),
            "level_payment": level_payment,
            "level_principal": level_principal,
            "auto_debit": False,
            "core_account_ref": f"B{n}",
            "disbursement_reference": f"DSB-B{tag}{n}",
            "state": "overdue" if overdue else "active",
            "schedule_version": 1,
            "dpd": dpd,
            "overdue_since": overdue[0].due_date if overdue else None,
            "loan_class": loan_class,
            "floor_class": loan_class,
            "manual_class": "",
            "restructured_on": None,
            "off_balance_accrual": False,
            "last_closed_business_date": last_closed,
            "disbursed_on": value_date,
            "settled_on": None,
            "written_off_on": None,
            "principal_outstanding": principal - paid_principal,
            "interest_receivable": unpaid_interest + accrued,
            "penalty_receivable": penalty_posted,
            "compound_receivable": compound_posted,
            "off_balance_interest": Decimal("0.00"),
            "off_balance_contra": Decimal("0.00"),
            "interest_income": -(paid_interest + unpaid_interest + accrued),
            "penalty_income": -penalty_posted,
            "compound_income": -compound_posted,
            "clearing": -principal + paid_principal + paid_interest,
            "suspense": Decimal("0.00"),
            "writeoff_loss": Decimal("0.00"),
            "penalty_accrued_e10": int(penalty.scaleb(10)),
            "penalty_posted": penalty_posted,
            "penalty_paid": Decimal("0.00"),
            "compound_accrued_e10": int(compound.scaleb(10)),
            "compound_posted": compound_posted,
            "compound_paid": Decimal("0.00"),
            "paid_to_date": paid_principal + paid_interest,
            "created_at": now,
            "updated_at": now,
        }
        loans.append([values[f.attname] for f in loan_fields])
        schedules.append((periods, {p.number for p in paid}, {p.number for p in overdue}))
    _copy_rows(Loan._meta.db_table, loan_columns, loans)
    loan_ids = list(
        Loan.objects.filter(
            contract_no__gte=f"BL{tag}{offset:08d}", contract_no__lte=f"BL{tag}{offset + len(customer_ids) - 1:08d}"
        )
        .order_by("contract_no")
        .values_list("pk", flat=True)
    )
    _copy_rows(
        ScheduleVersion._meta.db_table,
        ["loan_id", "number", "reason", "effective_date", "note", "created_at"],
        ([loan_id, 1, "original", BUSINESS_DATE, "", now] for loan_id in loan_ids),
    )

    def installment_rows():
        for loan_id, (periods, paid, overdue) in zip(loan_ids, schedules, strict=True):
            for p in periods:
                status = "paid" if p.number in paid else ("overdue" if p.number in overdue else "pending")
                yield [
                    loan_id,
                    1,
                    True,
                    p.number,
                    p.start_date,
                    p.due_date,
                    p.principal,
                    p.interest,
                    p.principal if status == "paid" else Decimal("0.00"),
                    p.interest if status == "paid" else Decimal("0.00"),
                    status,
                    p.due_date if status == "paid" else None,
                    p.due_date + dt.timedelta(days=1) if status == "overdue" else None,
                ]

    _copy_rows(
        Installment._meta.db_table,
        [
            "loan_id",
            "version",
            "is_current",
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
        ],
        installment_rows(),
    )


def _counts(institution_id: int) -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT COUNT(*) FROM lending_posting WHERE institution_id = %s), "
            "(SELECT COUNT(*) FROM lending_postingleg l JOIN lending_posting p ON p.id = l.posting_id WHERE p.institution_id = %s), "
            "(SELECT COUNT(*) FROM core_outboxevent), (SELECT COUNT(*) FROM django_fsm_log_statelog)",
            [institution_id, institution_id],
        )
        postings, legs, events, logs = cursor.fetchone()
    return {"postings": postings, "legs": legs, "events": events, "state_logs": logs}


class Timer:
    """Wraps the close's per-chunk functions: the write phase of a chunk is everything after its
    read and compute — bulk writes, job progress and the COMMIT (deferred foreign-key and ledger
    checks run there), as the COPY baseline's timing includes its commit."""

    def __init__(self, cob):
        self.cob = cob
        self.chunk_seconds = 0.0
        self.compute_seconds = 0.0
        self.loan_updates = 0
        self.installment_updates = 0
        self._compute = cob.compute_chunk
        self._write = cob.write_chunk
        self._chunk = cob.close_chunk

    @property
    def write_seconds(self) -> float:
        return self.chunk_seconds - self.compute_seconds

    def __enter__(self):
        def compute(*args, **kwargs):
            started = time.perf_counter()
            try:
                return self._compute(*args, **kwargs)
            finally:
                self.compute_seconds += time.perf_counter() - started

        def write(out, context):
            self.loan_updates += len(out.loan_values) + len(out.accrual_values)
            self.installment_updates += len(out.installment_updates)
            return self._write(out, context)

        def chunk(*args, **kwargs):
            started = time.perf_counter()
            try:
                return self._chunk(*args, **kwargs)
            finally:
                self.chunk_seconds += time.perf_counter() - started

        self.cob.compute_chunk = compute
        self.cob.write_chunk = write
        self.cob.close_chunk = chunk
        return self

    def __exit__(self, *exc):
        self.cob.compute_chunk = self._compute
        self.cob.write_chunk = self._write
        self.cob.close_chunk = self._chunk


def _close(institution_id: int, tag: str, chunk: int) -> dict:
    """Run the close in a fresh process so that its peak memory (ru_maxrss) is the close's own."""
    import subprocess

    completed = subprocess.run(
        [sys.executable, "-m", "bench.lending_cob", "--worker-close", str(institution_id), tag, str(chunk)],
        capture_output=True,
        text=True,
        check=False,
        env=dict(os.environ),
    )
    if completed.returncode != 0:
        raise RuntimeError(completed.stderr[-3000:])
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _backend_cpu_seconds(pid: int | None) -> float | None:
    """CPU time (user + system) of the PostgreSQL backend serving this process, when the server runs
    on this machine (informational: on a shared machine CPU time moves less with the load than the
    wall clock the targets are measured on)."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def _close_here(institution_id: int, tag: str, chunk: int) -> dict:
    from django.db import connection

    from lending.services import cob

    before = _counts(institution_id)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    backend_cpu = _backend_cpu_seconds(backend)
    own_cpu = time.process_time()
    with Timer(cob) as timer:
        started = time.perf_counter()
        result = cob._step_close(BUSINESS_DATE, size=chunk, run_key=f"bench-{tag}", institution_ids=[institution_id])
        seconds = time.perf_counter() - started
    own_cpu = time.process_time() - own_cpu
    backend_cpu_after = _backend_cpu_seconds(backend)
    after = _counts(institution_id)
    if result.error:
        raise RuntimeError(result.error)
    written = {key: after[key] - before[key] for key in after}
    written["loan_updates"] = timer.loan_updates
    written["installment_updates"] = timer.installment_updates
    rows = sum(written.values())
    return {
        "loans": result.processed,
        "quarantined": result.failed,
        "seconds": round(seconds, 3),
        "loans_per_second": round(result.processed / seconds, 1) if seconds else None,
        "compute_seconds": round(timer.compute_seconds, 3),
        "write_seconds": round(timer.write_seconds, 3),
        "rows_written": written,
        "rows_total": rows,
        "write_rows_per_second": round(rows / timer.write_seconds, 1) if timer.write_seconds else None,
        "counts": result.counts,
        "peak_memory_mib": _peak_mib(),
        "cpu_seconds": {
            "python": round(own_cpu, 2),
            "postgres_backend": round(backend_cpu_after - backend_cpu, 2)
            if backend_cpu is not None and backend_cpu_after is not None
            else None,
        },
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def _peak_mib() -> float:
    """Peak resident memory of this process: VmHWM (ru_maxrss survives execve on Linux and would
    report the parent's setup)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _copy_baseline(rows: int) -> dict:
    """COPY ``rows`` rows shaped like lending_loan into a logged table with no indexes (then dropped)."""
    from django.db import connection, transaction

    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_lending_copy")
        cursor.execute("CREATE TABLE bench_lending_copy (LIKE lending_loan INCLUDING DEFAULTS)")
        cursor.execute("SELECT * FROM lending_loan LIMIT 200")
        sample = cursor.fetchall()
        columns = [col.name for col in cursor.description]
    buffer = io.StringIO()
    for i in range(rows):
        row = sample[i % len(sample)]
        buffer.write(
            "\t".join("\\N" if v is None else (json.dumps(v) if isinstance(v, list | dict) else str(v)) for v in row) + "\n"
        )
    data = buffer.getvalue().encode()
    runs = []
    for _ in range(3):  # the machine is shared: the median of three
        started = time.perf_counter()
        with (
            transaction.atomic(),
            connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY bench_lending_copy ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            block = 1 << 20
            for offset in range(0, len(data), block):
                copy.write(data[offset : offset + block])
        runs.append(time.perf_counter() - started)
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE bench_lending_copy")
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_lending_copy")
    seconds = sorted(runs)[1]
    return {
        "rows": rows,
        "seconds": round(seconds, 3),
        "rows_per_second": round(rows / seconds, 1),
        "runs": [round(r, 3) for r in runs],
    }


def _worker(argv: list[str]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jikuai.settings")
    os.environ["DJANGO_DEBUG"] = "False"  # production-like: DEBUG keeps every SQL statement in memory
    import django

    django.setup()
    institution_id, tag, chunk = int(argv[0]), argv[1], int(argv[2])
    print(json.dumps(_close_here(institution_id, tag, chunk)), flush=True)


def main(argv: list[str]) -> dict:
    if argv and argv[0] == "--worker-close":
        _worker(argv[1:])
        return {}
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=20000)
    parser.add_argument("--chunk", type=int, default=5000)
    parser.add_argument("--no-double", action="store_true", help="skip the 2N run")
    parser.add_argument("--keep-db", action="store_true", help="keep (and reuse) the benchmark database")
    args = parser.parse_args(argv)
    name, admin = _bench_database(args.keep_db)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jikuai.settings")
    os.environ["DJANGO_DEBUG"] = "False"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from jikuai.core.workdays import business_date_set

    print(f"migrating {name} …", file=sys.stderr, flush=True)
    call_command("migrate", verbosity=0, interactive=False)
    business_date_set(day=BUSINESS_DATE)
    rng = random.Random(args.size)
    tag = dt.datetime.now().strftime("%H%M%S")
    try:
        started = time.perf_counter()
        institution = _setup(args.size, tag + "a", rng)
        print(f"setup {args.size} loans in {time.perf_counter() - started:.1f}s", file=sys.stderr, flush=True)
        first = _close(institution, tag + "a", args.chunk)
        print(f"close: {first['seconds']}s", file=sys.stderr, flush=True)
        baseline = _copy_baseline(first["rows_total"])
        second = _close(institution, tag + "a-rerun", args.chunk)
        double = None
        if not args.no_double:
            institution2 = _setup(args.size * 2, tag + "b", rng)
            double = _close(institution2, tag + "b", args.chunk)
            print(f"close 2N: {double['seconds']}s", file=sys.stderr, flush=True)
        peak_mib = max(first["peak_memory_mib"], double["peak_memory_mib"] if double else 0)
        figures = {
            "business_date": BUSINESS_DATE.isoformat(),
            "chunk": args.chunk,
            "close": first,
            "second_run_same_date": {"seconds": second["seconds"], "rows_total": second["rows_total"], "loans": second["loans"]},
            "double": double,
            "peak_memory_mib_close_process": round(peak_mib, 1),
            "peak_memory_mib_setup_process": _peak_mib(),
        }
        ratios = {
            "write_vs_copy": round(first["write_rows_per_second"] / baseline["rows_per_second"], 3),
            "second_run_vs_first": round(second["seconds"] / first["seconds"], 4),
        }
        if double:
            ratios["double_vs_single_time"] = round(double["seconds"] / first["seconds"], 3)
            cpu = [sum(v for v in run["cpu_seconds"].values() if v is not None) for run in (first, double)]
            if all(cpu):  # informational, not a target: the same ratio in CPU time (close process + its backend)
                ratios["double_vs_single_cpu_informational"] = round(cpu[1] / cpu[0], 3)
        met = (
            ratios["write_vs_copy"] >= 0.4
            and ratios["second_run_vs_first"] <= 0.1
            and second["rows_total"] == 0
            and peak_mib <= 1024
        )
        if double:
            met = met and ratios["double_vs_single_time"] <= 2.2
        result = {
            "benchmark": NAME,
            "size": args.size,
            "figures": figures,
            "baseline": {"copy": baseline},
            "ratios": ratios,
            "target": {
                "write_vs_copy_min": 0.4,
                "second_run_vs_first_max": 0.1,
                "second_run_writes": 0,
                "double_vs_single_time_max": 2.2,
                "peak_memory_mib_max": 1024,
                "met": met,
            },
            "python": platform.python_version(),
            "database": f"{connection.vendor} {connection.pg_version // 10000}",
            "when": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        }
    finally:
        if not args.keep_db:
            _drop_database(name, admin)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])

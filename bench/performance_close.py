"""Period close (考核期结算) for S staff × 15 indicators from F = 500·S facts, against one SQL aggregation of the
same facts measured in the same run. Target: close ≤ 3 × aggregation (issue: 10,000 staff / 5,000,000 facts).

    python -m bench.performance_close --size S [--keep]

Setup (not timed): an institution with 20 branches in three size groups, S account managers, a published scheme
with 15 weighted items (F1, F2, F4, F5, F6, F8, F9 ×3, F11, F12 …; flows, a daily average with growth, two ratios
of period-end balances), rank-default targets plus personal overrides for every tenth person, and F facts written
set-based (PostgreSQL: INSERT … SELECT generate_series; SQLite: executemany).
Timed: (1) the baseline — SELECT staff, indicator, SUM(value), SUM(base), COUNT(*) … GROUP BY over the period's
facts (best of three); (2) the close — confirm data, then the compute job (aggregation in SQL, period-end
snapshots, targets, formula evaluation per (staff, item), chunked result writes with COPY on PostgreSQL, ranks by
window functions). The bench institution is removed afterwards unless --keep.
"""

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from decimal import Decimal
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jikuai.settings")

import django

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from jikuai.org.models import Branch, Institution, Staff, User  # noqa: E402
from performance import engine  # noqa: E402
from performance.catalogue import GRADES, build_scheme, ensure_library  # noqa: E402
from performance.models import (  # noqa: E402
    Fact,
    Indicator,
    Period,
    Position,
    SchemeItem,
    ScoreLine,
    StaffPosition,
    SubjectResult,
    Target,
)
from performance.services import close  # noqa: E402

NAME = "performance_close"
UNUSABLE = "!"  # an unusable password hash: bench staff cannot log in
RESULTS = Path(__file__).resolve().parent / "results" / f"{NAME}.json"
FACTS_PER_STAFF = 500
BRANCHES = 20
W = SchemeItem.Kind.WEIGHTED
ITEMS = [
    ("loan_disbursed_amount", 10, "F1-120"),
    ("loan_disbursed_count", 5, "F2-60"),
    ("new_credit_customers", 5, "F4-step"),
    ("credit_lines_activated", 5, "F5-deduct"),
    ("social_security_cards", 5, "F6-bands"),
    ("merchants_signed", 5, "F8-interp"),
    ("points_participation", 5, "F1-150"),
    ("collection_recovery", 5, "F1-120"),
    ("new_customers", 10, "F12-rank"),
    ("referrals_qualified", 5, "F1-120"),
    ("deposit_daily_avg", 10, "F1-120"),
    ("deposit_daily_avg_growth", 10, "F11-growth"),
    ("overdue_rate", 5, "F9-ratio"),
    ("npl_ratio", 10, "F9-bounded"),
    ("customer_complaints", 5, "F9-binary"),
]
# indicators that carry facts, with (share of the facts, value range): flows, a daily average, period-end snapshots
FACT_MIX = [
    ("loan_disbursed_amount", 12, 100000),
    ("loan_disbursed_count", 8, 1),
    ("new_credit_customers", 5, 1),
    ("credit_lines_activated", 5, 1),
    ("social_security_cards", 8, 1),
    ("merchants_signed", 4, 1),
    ("points_participation", 8, 1),
    ("collection_recovery", 4, 20000),
    ("new_customers", 8, 1),
    ("referrals_qualified", 4, 1),
    ("deposit_daily_avg", 8, 1500000),
    ("deposit_daily_avg_growth", 4, 1500000),
    ("customer_complaints", 2, 1),
    ("loan_balance", 8, 100000),
    ("overdue_principal", 4, 10000),
    ("npl_balance", 8, 5000),
]
PERIOD_END = {"loan_balance", "overdue_principal", "npl_balance"}


def _setup(size: int, stamp: str, start: dt.date, end: dt.date):
    ensure_library()
    institution = Institution.objects.create(code=f"PB{stamp}"[:20], name=f"绩效压测行{stamp}", short_name="压测")
    branches = Branch.objects.bulk_create(
        [
            Branch(institution=institution, code=f"B{n:03d}", name=f"压测网点{n}", size_group=("large", "medium", "small")[n % 3])
            for n in range(BRANCHES)
        ]
    )
    users = User.objects.bulk_create(
        [User(username=f"pb{stamp}_{n}", is_staff=True, password=UNUSABLE) for n in range(size)], batch_size=5000
    )
    ranks = [Staff.Rank.JUNIOR, Staff.Rank.INTERMEDIATE, Staff.Rank.SENIOR]
    staff = Staff.objects.bulk_create(
        [
            Staff(
                user=user,
                institution=institution,
                branch=branches[n % BRANCHES],
                employee_no=f"PB{stamp}{n:06d}",
                name=f"员工{n}",
                rank=ranks[n % 3],
            )
            for n, user in enumerate(users)
        ],
        batch_size=5000,
    )
    StaffPosition.objects.bulk_create([StaffPosition(staff=s, position=Position.ACCOUNT_MANAGER) for s in staff], batch_size=5000)
    version = build_scheme(
        institution=institution,
        code="BENCH",
        name="压测方案",
        position=Position.ACCOUNT_MANAGER,
        items=[(code, W, weight, formula, {}) for code, weight, formula in ITEMS],
        grading=GRADES,
        incentive={"method": "pool", "pool_amount": "1000000.00", "risk_relevant": True},
    )
    indicators = {i.code: i for i in Indicator.objects.all()}
    targets = []
    for code, _, _ in ITEMS:
        indicator = indicators[code]
        for rank in ranks:
            value = Decimal("2") if indicator.measure == Indicator.Measure.RATIO else Decimal(FACTS_PER_STAFF) * 5000
            targets.append(
                Target(
                    institution=institution,
                    level=Target.Level.RANK,
                    rank=rank,
                    indicator=indicator,
                    year=start.year,
                    month=start.month,
                    value=value,
                    scope_key=f"R:{rank}",
                )
            )
    for s in staff[::10]:  # personal overrides
        targets.append(
            Target(
                institution=institution,
                level=Target.Level.STAFF,
                staff=s,
                indicator=indicators["loan_disbursed_amount"],
                year=start.year,
                month=start.month,
                value=Decimal(FACTS_PER_STAFF) * 4000,
                scope_key=f"S:{s.pk}",
            )
        )
    Target.objects.bulk_create(targets, batch_size=5000)
    total = size * FACTS_PER_STAFF
    _facts(institution, indicators, staff[0].pk, branches[0].pk, size, total, start, end)
    return institution, version, total


def _facts(institution, indicators, first_staff: int, first_branch: int, size: int, total: int, start: dt.date, end: dt.date):
    """Facts written set-based: each indicator gets its share of the total; staff round-robin; period-end rows
    are snapshots of loans (three per loan on different days, the latest counts)."""
    days = (end - start).days + 1
    weight_sum = sum(w for _, w, _ in FACT_MIX)
    offset = 0
    now = timezone.now()
    for code, weight, scale in FACT_MIX:
        count = total * weight // weight_sum
        indicator = indicators[code]
        kind = "loan" if code in PERIOD_END else "customer"
        if connection.vendor == "postgresql":
            sql = f"""
                INSERT INTO {Fact._meta.db_table}
                    (institution_id, indicator_id, staff_id, branch_id, fact_date, value, base_value, metric, share, subject_kind, subject_id,
                     attribution, source, source_key, created_at)
                SELECT %s, %s, %s + (g %% %s), %s + ((g %% %s) %% {BRANCHES}), %s::date + (g %% %s)::int,
                       ((g * 7919) %% %s) + 1, ((g * 104729) %% %s), ((g * 7919) %% %s) + 1, 100, %s, g / 3, 'account_manager', 'event',
                       'b:' || g, %s
                FROM generate_series(%s::bigint, %s::bigint) AS g
            """
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    sql,
                    [
                        institution.pk,
                        indicator.pk,
                        first_staff,
                        size,
                        first_branch,
                        size,
                        start,
                        days,
                        scale,
                        scale,
                        scale,
                        kind,
                        now,
                        offset,
                        offset + count - 1,
                    ],
                )
        else:
            rows = [
                Fact(
                    institution=institution,
                    indicator=indicator,
                    staff_id=first_staff + g % size,
                    branch_id=first_branch + (g % size) % BRANCHES,
                    fact_date=start + dt.timedelta(days=g % days),
                    value=Decimal((g * 7919) % scale + 1),
                    base_value=Decimal((g * 104729) % scale),
                    metric=Decimal((g * 7919) % scale + 1),
                    subject_kind=kind,
                    subject_id=g // 3,
                    attribution="account_manager",
                    source="event",
                    source_key=f"b:{g}",
                )
                for g in range(offset, offset + count)
            ]
            Fact.objects.bulk_create(rows, batch_size=5000)
        offset += count
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Fact._meta.db_table}" if connection.vendor == "postgresql" else "ANALYZE")


BASELINE_SQL = """
    SELECT staff_id, indicator_id, SUM(value), SUM(base_value), COUNT(*)
    FROM {table} WHERE institution_id = %s AND fact_date BETWEEN %s AND %s AND staff_id IS NOT NULL
    GROUP BY staff_id, indicator_id
"""


def _baseline(institution, start, end) -> tuple[float, int]:
    """Best of three; on PostgreSQL with the same session settings the close's aggregation uses (work_mem, jit),
    so the comparison is like for like."""
    best, rows = None, 0
    for _ in range(3):
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                for statement in engine.PG_SESSION:
                    cursor.execute(statement)
            cursor.execute(BASELINE_SQL.format(table=Fact._meta.db_table), [institution.pk, start, end])
            rows = len(cursor.fetchall())
        elapsed = time.perf_counter() - started
        best = elapsed if best is None else min(best, elapsed)
    return best, rows


def _cleanup(institution):
    with transaction.atomic():
        periods = Period.objects.filter(institution=institution)
        ScoreLine.objects.filter(result__period__in=periods).delete()
        SubjectResult.objects.filter(period__in=periods).delete()
        periods.delete()
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {Fact._meta.db_table} WHERE institution_id = %s", [institution.pk])
        Target.objects.filter(institution=institution).delete()
        from performance.models import Scheme, SchemeVersion

        SchemeItem.objects.filter(version__scheme__institution=institution).delete()
        SchemeVersion.objects.filter(scheme__institution=institution).delete()
        Scheme.objects.filter(institution=institution).delete()
        staff = Staff.objects.filter(institution=institution)
        StaffPosition.objects.filter(staff__in=staff).delete()
        user_ids = list(staff.values_list("user_id", flat=True))
        staff.delete()
        User.objects.filter(pk__in=user_ids).delete()
        Branch.objects.filter(institution=institution).delete()
        institution.delete()
    if connection.vendor == "postgresql":  # deleted rows leave dead index entries that slow the next run
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM ANALYZE {Fact._meta.db_table}")


def _database() -> str:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            return f"postgresql {cursor.fetchone()[0].split()[0]}"
    return f"{connection.vendor} {connection.Database.sqlite_version}" if connection.vendor == "sqlite" else connection.vendor


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--size", type=int, default=1000, help="staff members (facts = 500 × size); the issue's full size is 10000"
    )
    parser.add_argument("--keep", action="store_true", help="keep the bench institution and its data")
    parser.add_argument(
        "--repeat", type=int, default=3, help="closes measured (each with its own baseline); the median ratio is reported"
    )
    args = parser.parse_args(argv)
    stamp = f"{int(time.time()) % 10**8}"
    start = dt.date(2026, 9, 1)
    end = dt.date(2026, 9, 30)
    admin = User.objects.filter(is_superuser=True).first() or User.objects.create_superuser(f"pbadmin{stamp}", password=None)

    began = time.perf_counter()
    institution, version, fact_count = _setup(args.size, stamp, start, end)
    setup_s = time.perf_counter() - began
    runs = []
    try:
        period = close.period_create(scheme=version.scheme, start=start, actor=admin)
        for attempt in range(args.repeat):
            baseline_s, groups = _baseline(institution, start, end)
            if attempt:  # a repeated close starts like the first one: reopened, no results (removed untimed)
                close.period_reopen(period_id=period.pk, actor=admin, comment="bench repeat")
                ScoreLine.objects.filter(result__period=period).delete()
                SubjectResult.objects.filter(period=period).delete()
            began = time.perf_counter()
            close.period_confirm_data(period_id=period.pk, actor=admin, comment="bench")
            # eager mode runs the job inline after commit; with a broker the job is run here directly
            close.period_compute_start(period_id=period.pk, actor=admin)
            period.refresh_from_db()
            if period.state == Period.State.COMPUTING:
                period = close.period_compute_run(period_id=period.pk)
            close_s = time.perf_counter() - began
            period.refresh_from_db()
            if period.state != Period.State.COMPUTED:
                raise SystemExit(f"close failed: {period.compute_error}")
            phases = {k: v for k, v in period.job_run.counts.items() if k.endswith("_ms")} if period.job_run else {}
            runs.append({"close_s": close_s, "baseline_s": baseline_s, "ratio": close_s / baseline_s, "phases": phases})
        results = SubjectResult.objects.filter(period=period).count()
        lines = ScoreLine.objects.filter(result__period=period).count()
    finally:
        if not args.keep:
            _cleanup(institution)
    median = sorted(runs, key=lambda r: r["ratio"])[len(runs) // 2]
    close_s, baseline_s, phases = median["close_s"], median["baseline_s"], median["phases"]

    report = {
        "benchmark": NAME,
        "size": args.size,
        "figures": {
            "staff": args.size,
            "indicators": len(ITEMS),
            "facts": fact_count,
            "aggregated_groups": groups,
            "results": results,
            "score_lines": lines,
            "close_seconds": round(close_s, 3),
            "setup_seconds": round(setup_s, 1),
            "score_lines_per_second": round(lines / close_s) if close_s else None,
            "close_phases_ms": phases,
        },
        "baseline": {
            "sql_aggregation_seconds": round(baseline_s, 3),
            "query": " ".join(BASELINE_SQL.split()).format(table="performance_fact"),
            "session": list(engine.PG_SESSION) if connection.vendor == "postgresql" else [],
        },
        "ratios": {
            "close_over_aggregation": round(close_s / baseline_s, 2),
            "all_runs": [round(r["ratio"], 2) for r in runs],
            "all_close_seconds": [round(r["close_s"], 3) for r in runs],
            "all_baseline_seconds": [round(r["baseline_s"], 3) for r in runs],
        },
        "target": {
            "close_over_aggregation_max": 3,
            "met": close_s / baseline_s <= 3,
            "full_size": {"staff": 10000, "facts": 5000000},
        },
        "python": platform.python_version(),
        "database": _database(),
        "when": timezone.now().isoformat(timespec="seconds"),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    print(json.dumps(report, ensure_ascii=False))
    return report


if __name__ == "__main__":
    main(sys.argv[1:])

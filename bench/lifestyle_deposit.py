"""Month-end deposit-growth earning (存款日均增长月结) for N customers, against COPY of the same number of lot rows
into the same table in the same run; a rerun creates nothing.

    python -m bench.lifestyle_deposit --size N [--chunk 50000]

Setup (not timed): N customers with points accounts and three months of monthly deposit sums (月积数), loaded with
COPY and then VACUUM ANALYZEd (as autovacuum would have over the month); one compliance-signed deposit rule (hold
30 days, capped per month).
Timed: (1) COPY of N lot rows into lifestyle_pointslot (the baseline, rows then removed); (2) the month-end job
``deposit_growth_close`` for month M without events; (3) a forced rerun of M (must create nothing); (4) month M+1
with the ``lifestyle.deposit_month_closed`` events written set-based into the outbox (reported, not targeted).
"""

import argparse
import datetime as dt
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jikuai.settings")

import django

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from jikuai.core.models import OutboxEvent  # noqa: E402
from jikuai.customers.models import Customer  # noqa: E402
from jikuai.org.models import Institution  # noqa: E402
from lifestyle.models import DepositMonthlyBalance, EarningRule, PointsAccount, PointsLot  # noqa: E402
from lifestyle.services import deposits, reconciliation  # noqa: E402

NAME = "lifestyle_deposit"
RESULTS = Path(__file__).resolve().parent / "results" / f"{NAME}.json"


def _copy(table: str, columns: list[str], rows) -> float:
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    return time.perf_counter() - started


def _months(today: dt.date) -> tuple[str, str, str]:
    first = today.replace(day=1)
    m3 = first - dt.timedelta(days=1)  # last month
    m2 = m3.replace(day=1) - dt.timedelta(days=1)
    m1 = m2.replace(day=1) - dt.timedelta(days=1)
    return deposits.month_of(m1), deposits.month_of(m2), deposits.month_of(m3)


def _setup(size: int, stamp: str) -> tuple[Institution, EarningRule, list[str]]:
    institution = Institution.objects.create(code=f"BD{stamp}"[:20], name=f"存款压测行{stamp}", short_name="压测")
    now = timezone.now()
    customer_columns = [
        "institution_id",
        "name",
        "id_number",
        "id_number_index",
        "mobile",
        "mobile_index",
        "address",
        "bank_card",
        "bank_card_last4",
        "gender",
        "birth_date",
        "occupation",
        "employer",
        "monthly_income",
        "referral_code",
        "kyc_status",
        "channel",
        "password",
        "web_enabled",
        "failed_logins",
        "is_demo",
        "created_at",
        "updated_at",
    ]
    extra = {
        f.column: f.get_default()
        for f in Customer._meta.concrete_fields
        if not f.null and f.column not in [*customer_columns, "id"]
    }
    columns = customer_columns + list(extra)
    rows = (
        [
            institution.pk,
            "压测客户",
            "",
            f"bd{stamp}-{i}",
            "",
            f"bd{stamp}-{i}",
            "",
            "",
            "",
            "M",
            dt.date(1980, 1, 1),
            "farmer",
            "",
            0,
            f"D{stamp[-5:]}{i:06d}",
            "verified",
            "batch",
            "",
            False,
            0,
            True,
            now,
            now,
            *extra.values(),
        ]
        for i in range(size)
    )
    seconds = _copy(Customer._meta.db_table, columns, rows)
    print(f"customers loaded in {seconds:.1f}s", file=sys.stderr, flush=True)
    ids = list(Customer.objects.filter(institution=institution).order_by("pk").values_list("pk", flat=True))
    _copy(
        PointsAccount._meta.db_table,
        ["customer_id", "institution_id", "balance", "debt", "created_at", "updated_at"],
        ([cid, institution.pk, 0, 0, now, now] for cid in ids),
    )
    months = _months(timezone.localdate())
    rng = random.Random(size)
    sums = {}
    for cid in ids:
        base = rng.randint(0, 5_000_000)  # daily average in fen (0–50,000 yuan)
        sums[cid] = [base, base + rng.randint(1_000_000, 10_000_000), base + rng.randint(12_000_000, 20_000_000)]
    for index, month in enumerate(months):
        days = deposits.days_in(month)
        _copy(
            DepositMonthlyBalance._meta.db_table,
            ["institution_id", "customer_id", "month", "balance_sum_fen", "row_count"],
            ([institution.pk, cid, month, sums[cid][index] * days, days] for cid in ids),
        )
    # over a real month autovacuum has long processed these tables; a freshly COPYed table has neither statistics
    # nor a visibility map, so give the job what production would have
    with connection.cursor() as cursor:
        for model in (DepositMonthlyBalance, PointsAccount, Customer):
            cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")
    rule = EarningRule.objects.create(
        institution=institution,
        code=f"bd{stamp}"[:40],
        name="存款日均增长奖励（压测）",
        topic="lifestyle.deposit_growth",
        deposit_unit_fen=1_000_000,
        deposit_points_per_unit=100,
        deposit_min_growth_fen=500_000,
        cap_per_month=1000,
        hold_days=30,
        deposit_linked=True,
        funding_source="deposit_marketing",
        compliance_signed_at=now,
    )
    return institution, rule, list(months)


def _copy_baseline(size: int, account_ids: list[int], stamp: str, rule_id: int) -> float:
    """COPY N rows of the same shape (same columns, same rule reference) into the same table (then removed). The text is prepared before the clock
    starts, so the figure is the server's COPY throughput, not Python's row formatting."""
    now = timezone.now().isoformat()
    activates = (timezone.now() + dt.timedelta(days=30)).isoformat()
    expires = (timezone.localdate() + dt.timedelta(days=365)).isoformat()
    rule_key = f"copy{stamp}"[:40]
    columns = [
        "account_id",
        "rule_id",
        "rule_key",
        "source",
        "source_ref",
        "period",
        "amount",
        "remaining",
        "base_points",
        "campaign_points",
        "funding_source",
        "campaign_funding_source",
        "status",
        "earned_at",
        "activates_at",
        "expires_on",
        "reason",
        "reference",
    ]
    text = "".join(
        f"{aid}\t{rule_id}\t{rule_key}\tdeposit\tdeposit\tcopy\t100\t100\t100\t0\tdeposit_marketing\t\tpending\t{now}\t{activates}\t{expires}\tCOPY 基线\t{{}}\n"
        for aid in account_ids
    ).encode()
    block = 1 << 20
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {PointsLot._meta.db_table} ({', '.join(columns)}) FROM STDIN") as copy:
            for offset in range(0, len(text), block):
                copy.write(text[offset : offset + block])
    seconds = time.perf_counter() - started
    with transaction.atomic():
        PointsLot.objects.filter(rule_key=rule_key).delete()
    return seconds


def run(size: int, chunk: int) -> dict:
    if connection.vendor != "postgresql":
        raise SystemExit("this benchmark needs PostgreSQL (set DATABASE_URL)")
    stamp = str(int(time.time()))[-8:]
    institution, rule, (_m1, m2, m3) = _setup(size, stamp)
    account_ids = list(PointsAccount.objects.filter(institution=institution).values_list("pk", flat=True))
    copy_seconds = _copy_baseline(size, account_ids, stamp, rule.pk)
    copy_rate = size / copy_seconds
    print(f"COPY baseline: {copy_rate:,.0f} rows/s", file=sys.stderr, flush=True)

    started = time.perf_counter()
    result = deposits.deposit_growth_close(institution=institution, month=m2, chunk_size=chunk, publish_events=False)
    job_seconds = time.perf_counter() - started
    job_rate = result.lots_created / job_seconds if job_seconds else 0.0
    print(f"job {m2}: {result.lots_created} lots in {job_seconds:.1f}s = {job_rate:,.0f} rows/s", file=sys.stderr, flush=True)

    started = time.perf_counter()
    rerun = deposits.deposit_growth_close(institution=institution, month=m2, chunk_size=chunk, force=True)
    rerun_seconds = time.perf_counter() - started

    events_before = OutboxEvent.objects.filter(topic="lifestyle.deposit_month_closed").count()
    started = time.perf_counter()
    with_events = deposits.deposit_growth_close(institution=institution, month=m3, chunk_size=chunk)
    events_seconds = time.perf_counter() - started
    events = OutboxEvent.objects.filter(topic="lifestyle.deposit_month_closed").count() - events_before

    lots = PointsLot.objects.filter(rule_key=rule.code)
    checks = {
        "lots_month": lots.filter(period=m2).count(),
        "rerun_lots_created": rerun.lots_created,
        "rerun_points": rerun.points_awarded,
        "all_pending": not lots.exclude(status="pending").exists(),
        "max_points_within_cap": (lots.order_by("-amount").values_list("amount", flat=True).first() or 0) <= rule.cap_per_month,
        "ledger_ok": reconciliation.points_check(account_ids=account_ids[:1000]).ok,
    }
    ratio = job_rate / copy_rate
    met = ratio >= 0.4 and checks["rerun_lots_created"] == 0 and checks["lots_month"] == result.lots_created
    return {
        "benchmark": NAME,
        "size": size,
        "figures": {
            "chunk_size": chunk,
            "month": m2,
            "lots_created": result.lots_created,
            "points_awarded": result.points_awarded,
            "job_seconds": round(job_seconds, 3),
            "job_rows_per_second": round(job_rate, 1),
            "rerun_seconds": round(rerun_seconds, 3),
            "rerun_lots_created": rerun.lots_created,
            "with_events": {
                "month": m3,
                "lots_created": with_events.lots_created,
                "events_published": events,
                "seconds": round(events_seconds, 3),
                "rows_per_second_lots_plus_events": round((with_events.lots_created + events) / events_seconds, 1)
                if events_seconds
                else 0,
            },
            "checks": checks,
        },
        "baseline": {"copy_seconds": round(copy_seconds, 3), "copy_rows_per_second": round(copy_rate, 1)},
        "ratios": {"job_vs_copy": round(ratio, 3)},
        "target": {"job_vs_copy_min": 0.4, "rerun_creates_nothing": True, "met": met},
        "python": platform.python_version(),
        "database": connection.vendor,
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000, help="customers")
    parser.add_argument("--chunk", type=int, default=50_000, help="customer ids per transaction")
    args = parser.parse_args(argv)
    result = run(args.size, args.chunk)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
    print(json.dumps(result, ensure_ascii=False))
    return 0 if result["target"]["met"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

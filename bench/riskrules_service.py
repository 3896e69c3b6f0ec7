"""Full decision service in batch mode (feature resolution + evaluation + decision record) against just
inserting the same decision rows in bulk, measured in the same run. Target (issue 3): ≤ 2×.

    python -m bench.riskrules_service --size N

Setup (not timed): an institution with N farmer customers (KYC verified, consent to credit reports), white-list
entries for most of them and a few black-list entries, all inside one transaction that is rolled back at the
end (decision records are append-only, so the bench leaves nothing behind).
Timed: (1) ``decision_make_batch("jnkd_credit", …)`` in chunks of 500 — loads customers, consents and list
entries in bulk, resolves every variable in Python, evaluates the flow with trace, builds the explanation and
bulk-inserts the records; (2) the baseline — ``bulk_create`` of the same rows (copied, new ids), chunks of 500.
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

from jikuai.core import crypto  # noqa: E402
from jikuai.core.idnumber import generate_id_number  # noqa: E402
from jikuai.customers.models import Consent, Customer  # noqa: E402
from jikuai.customers.services import id_number_index, mobile_index  # noqa: E402
from jikuai.org.models import Institution  # noqa: E402
from riskrules.features import Subject  # noqa: E402
from riskrules.models import DecisionRecord, ListEntry  # noqa: E402
from riskrules.policy.seed import seed_officers, seed_policy  # noqa: E402
from riskrules.services.decisions import decision_make_batch  # noqa: E402

NAME = "riskrules_service"
RESULTS = Path(__file__).resolve().parent / "results" / f"{NAME}.json"
CHUNK = 500
DAY = dt.date(2025, 6, 30)


class Rollback(Exception):
    pass


def database() -> str:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            version = cursor.connection.info.server_version
        return f"postgresql {version // 10000}.{version % 100}"
    return connection.vendor


def setup(size: int, stamp: str):
    rng = random.Random(11)
    institution = Institution.objects.create(code=f"BENCH{stamp}", name="基准测试农商行", short_name="基准")
    customers = []
    numbers = []
    for n in range(size):
        birth = dt.date(rng.randint(1962, 2004), rng.randint(1, 12), rng.randint(1, 28))
        number = generate_id_number(region_code="220182", birth_date=birth, gender=rng.choice("MF"), sequence=n % 500, rng=rng)
        mobile = f"139{n:08d}"
        numbers.append(number)
        customers.append(
            Customer(
                institution=institution,
                name="基准客户",
                id_number=number,
                id_number_index=id_number_index(number),
                mobile=mobile,
                mobile_index=mobile_index(mobile),
                gender="M",
                birth_date=birth,
                occupation="farmer",
                monthly_income=rng.choice([3000, 6000, 12000]),
                referral_code=f"B{stamp[-3:]}{n:07d}",
                kyc_status="verified",
            )
        )
    Customer.objects.bulk_create(customers, batch_size=1000)
    customers = list(Customer.objects.filter(institution=institution).order_by("id"))
    Consent.objects.bulk_create(
        [Consent(customer=c, purpose="credit_report", text_version="v1", channel="batch") for c in customers], batch_size=1000
    )
    maker, checker = seed_officers()
    entries = []
    for number in numbers:
        if rng.random() < 0.9:
            kind, source, reason = "white", "whole_village", "LIST_VILLAGE_CREDIT"
        elif rng.random() < 0.3:
            kind, source, reason = "black", "court_dishonest", "LIST_COURT"
        else:
            continue
        entries.append(
            ListEntry(
                institution=institution,
                list_kind=kind,
                key_type="id_number",
                key_index=crypto.blind_index(number, purpose="customers.id_number"),
                key_masked=number[:4] + "*" * 10 + number[-4:],
                reason_code=reason,
                source=source,
                valid_from=dt.date(2025, 1, 1),
                status="active",
                maker=maker,
                checker=checker,
            )
        )
    ListEntry.objects.bulk_create(entries, batch_size=1000)
    items = [
        (
            Subject("application", f"BENCH-{customer.pk}", customer_id=customer.pk),
            {
                "decision_date": DAY.isoformat(),
                "monthly_debt_fen": rng.choice([50_000, 150_000, 300_000]),
                "current_overdue_count": 0 if rng.random() < 0.95 else 1,
                "employment_years": rng.randint(0, 20),
                "deposit_avg_6m_fen": rng.choice([0, 600_000, 2_500_000, 6_000_000]),
                "past_overdue_times_24m": rng.choice([0, 0, 0, 1, 2]),
                "household_appraisal": rng.choice(["excellent", "good", "fair", "none"]),
                "whitelist_limit_fen": rng.choice([5_000_000, 10_000_000, 20_000_000]),
            },
        )
        for customer in customers
    ]
    return institution, items, len(entries)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2000, help="decisions (one per customer)")
    args = parser.parse_args(argv)
    seed_policy()
    stamp = f"{int(time.time()) % 10**8}"
    figures = {}
    try:
        with transaction.atomic():
            began = time.perf_counter()
            _institution, items, entries = setup(args.size, stamp)
            setup_s = time.perf_counter() - began
            decision_make_batch(ruleset_code="jnkd_credit", items=items[:20], source="bench-warmup")

            began, cpu = time.perf_counter(), time.process_time()
            records = []
            for start in range(0, len(items), CHUNK):
                records += decision_make_batch(ruleset_code="jnkd_credit", items=items[start : start + CHUNK], source="bench")
            service_s, service_cpu = time.perf_counter() - began, time.process_time() - cpu

            copies = []
            for record in records:
                copy = DecisionRecord(
                    **{f.attname: getattr(record, f.attname) for f in DecisionRecord._meta.concrete_fields if f.name != "id"}
                )
                copy.source = "bench-baseline"
                copies.append(copy)
            began, cpu = time.perf_counter(), time.process_time()
            for start in range(0, len(copies), CHUNK):
                DecisionRecord.objects.bulk_create(copies[start : start + CHUNK])
            insert_s, insert_cpu = time.perf_counter() - began, time.process_time() - cpu

            outcomes: dict[str, int] = {}
            for record in records:
                outcomes[record.outcome] = outcomes.get(record.outcome, 0) + 1
            figures = {
                "decisions": len(records),
                "list_entries": entries,
                "service_us_per_decision": round(service_s / len(records) * 1e6),
                "service_decisions_per_second": round(len(records) / service_s),
                "service_cpu_us_per_decision": round(service_cpu / len(records) * 1e6),
                "outcomes": outcomes,
                "setup_seconds": round(setup_s, 1),
                "load_average_1m": round(os.getloadavg()[0], 2),
            }
            baseline = {
                "pattern": "DecisionRecord.objects.bulk_create(same rows, batch 500)",
                "insert_us_per_row": round(insert_s / len(copies) * 1e6),
                "insert_cpu_us_per_row": round(insert_cpu / len(copies) * 1e6),
            }
            raise Rollback
    except Rollback:
        pass
    ratio = figures["service_us_per_decision"] / baseline["insert_us_per_row"]
    report = {
        "benchmark": NAME,
        "size": args.size,
        "figures": figures,
        "baseline": baseline,
        "ratios": {"service_over_bulk_insert": round(ratio, 2)},
        "target": {"service_over_bulk_insert_max": 2, "met": ratio <= 2},
        "python": platform.python_version(),
        "database": database(),
        "when": timezone.now().isoformat(timespec="seconds"),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    print(json.dumps(report, ensure_ascii=False))
    return report


if __name__ == "__main__":
    main(sys.argv[1:])

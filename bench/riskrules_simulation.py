"""Simulation of stored decisions: a candidate rating version (grade bands moved up five points) over N stored
吉农快贷 rating decisions, compared with the champion. Target (issue 3): 100,000 stored decisions ≤ 60 s.

    python -m bench.riskrules_simulation --size N

Setup (not timed): N rating decisions by the published champion (evaluated and bulk-inserted as live
records of one day) and a candidate draft, inside one transaction that is rolled back at the end.
Timed: ``simulation_run`` (chunks of 2,000 read by id, candidate evaluated with trace for row hits, champion
results reused from the records, aggregates and cursor saved per chunk, changed cases bulk-inserted).
Baseline in the same run: reading the same population (the chunked SELECT of the snapshots) only.
"""

import argparse
import copy
import datetime as dt
import json
import os
import platform
import sys
import time
import uuid
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jikuai.settings")

import django

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.riskrules_engine import profiles  # noqa: E402
from riskrules import engine  # noqa: E402
from riskrules.evaluation import evaluate  # noqa: E402
from riskrules.models import DecisionRecord, Deployment, Simulation  # noqa: E402
from riskrules.policy.seed import seed_officers, seed_policy  # noqa: E402
from riskrules.services import simulations as sim  # noqa: E402
from riskrules.services import versions as svc  # noqa: E402
from riskrules.services.decisions import reason_texts  # noqa: E402

NAME = "riskrules_simulation"
RESULTS = Path(__file__).resolve().parent / "results" / f"{NAME}.json"
DAY = dt.date(2025, 6, 30)


class Rollback(Exception):
    pass


def database() -> str:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            version = cursor.connection.info.server_version
        return f"postgresql {version // 10000}.{version % 100}"
    return connection.vendor


def _population(champion, size: int) -> None:
    texts = reason_texts()
    keys = champion.input_variables
    batch = []
    for n, profile in enumerate(profiles(size, seed=7)):
        values = {k: profile[k] for k in keys if k in profile}
        result = evaluate(key=champion.content_hash, values=values, missing=[], reason_texts=texts, max_reasons=3)
        batch.append(
            DecisionRecord(
                rule_set_id=champion.rule_set_id,
                version=champion,
                version_hash=champion.content_hash,
                engine_version=engine.ENGINE_VERSION,
                subject_kind="application",
                subject_id=f"SIMB-{n}",
                mode="live",
                arm="champion",
                correlation_id=uuid.uuid4(),
                decision_date=DAY,
                input_snapshot=values,
                missing=[],
                outputs=result.outputs,
                outcome=result.outcome,
                reasons=[list(r) for r in result.reasons],
                grade=result.grade,
                amount=result.amount,
                rate=result.rate,
                explanation=result.explanation,
                hit_rows=result.hit_rows,
                latency_us=result.latency_us,
                source="bench",
            )
        )
        if len(batch) == 2000:
            DecisionRecord.objects.bulk_create(batch)
            batch = []
    DecisionRecord.objects.bulk_create(batch)


def _candidate(champion, maker):
    content = copy.deepcopy(champion.content)
    for node in content["nodes"]:
        if node["id"] == "grade":
            for row in node["content"]["rules"]:
                cell = row.get("in_score", "")
                if cell.startswith(">= ") and cell != ">= 0":
                    row["in_score"] = f">= {int(cell[3:]) + 5}"
    cases = [
        {
            "name": "90分 A",
            "inputs": {
                "age": 35,
                "monthly_income_fen": 1_200_000,
                "occupation": "farmer",
                "employment_years": 5,
                "years_with_bank": 6,
                "deposit_avg_6m_fen": 6_000_000,
                "past_overdue_times_24m": 0,
                "household_appraisal": "excellent",
            },
            "expected": {"grade": "A"},
        }
    ]
    return svc.version_create(rule_set=champion.rule_set, content=content, author=maker, test_cases=cases, change_note="bench")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=20_000, help="stored decisions (the issue's full size is 100000)")
    args = parser.parse_args(argv)
    seed_policy()
    maker, _checker = seed_officers()
    champion = (
        Deployment.objects.select_related("champion")
        .get(rule_set__code="jnkd_rating", rule_set__institution__isnull=True, channel="default")
        .champion
    )
    svc.ensure_loaded(champion.content_hash, champion.content)
    report = {}
    try:
        with transaction.atomic():
            began = time.perf_counter()
            _population(champion, args.size)
            setup_s = time.perf_counter() - began
            population = DecisionRecord.objects.filter(rule_set=champion.rule_set, decision_date=DAY, mode="live").count()
            candidate = _candidate(champion, maker)

            began = time.perf_counter()
            last, read = 0, 0
            while True:
                rows = list(
                    DecisionRecord.objects.filter(rule_set=champion.rule_set, mode="live", decision_date=DAY, id__gt=last)
                    .order_by("id")
                    .values_list(
                        "id", "subject_id", "input_snapshot", "version_id", "outcome", "grade", "amount", "reasons", "hit_rows"
                    )[:2000]
                )
                if not rows:
                    break
                last, read = rows[-1][0], read + len(rows)
            read_s = time.perf_counter() - began

            simulation = Simulation.objects.create(
                name="bench",
                rule_set=champion.rule_set,
                candidate=candidate,
                champion=champion,
                population="stored",
                date_from=DAY,
                date_to=DAY,
                created_by=maker,
            )
            began, cpu = time.perf_counter(), time.process_time()
            sim.simulation_run(simulation_id=simulation.pk)
            run_s, run_cpu = time.perf_counter() - began, time.process_time() - cpu
            simulation.refresh_from_db()
            if simulation.status != Simulation.Status.SUCCEEDED:
                raise SystemExit(f"simulation failed: {simulation.error}")
            summary = simulation.report
            per_100k = run_s / population * 100_000
            report = {
                "benchmark": NAME,
                "size": args.size,
                "figures": {
                    "population": population,
                    "simulation_seconds": round(run_s, 2),
                    "simulation_cpu_seconds": round(run_cpu, 2),
                    "decisions_per_second": round(population / run_s),
                    "seconds_per_100000": round(per_100k, 1),
                    "changed_cases": summary["changed"],
                    "grades_champion": summary["champion"]["grades"],
                    "grades_candidate": summary["candidate"]["grades"],
                    "setup_seconds": round(setup_s, 1),
                    "load_average_1m": round(os.getloadavg()[0], 2),
                },
                "baseline": {
                    "pattern": "chunked SELECT of the same population (2,000 rows per query)",
                    "read_seconds": round(read_s, 2),
                    "rows": read,
                },
                "ratios": {"simulation_over_read": round(run_s / read_s, 1) if read_s else None},
                "target": {"seconds_per_100000_max": 60, "met": per_100k <= 60},
                "python": platform.python_version(),
                "database": database(),
                "when": timezone.now().isoformat(timespec="seconds"),
            }
            raise Rollback
    except Rollback:
        pass
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    print(json.dumps(report, ensure_ascii=False))
    return report


if __name__ == "__main__":
    main(sys.argv[1:])

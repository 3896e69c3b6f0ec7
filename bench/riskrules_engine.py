"""Engine throughput: the seeded 吉农快贷 credit flow (admission → rating → limit, sub-decisions pinned by hash)
evaluated in process on one core. Target (issue 3): ≥ 10,000 decisions/s.

    python -m bench.riskrules_engine --size N

Setup (not timed): the seeded policy (``seed_policy``, idempotent) in the configured database, N resolved
applicant profiles drawn deterministically. Timed, on one pinned CPU:
(1) ``engine.evaluate(hash, context)`` without trace — the engine figure;
(2) the same with ZEN's trace (what a recorded decision needs for its explanation);
(3) ``riskrules.evaluation.evaluate`` — trace + compact explanation + reasons/missing-value post-processing.
Baseline measured in the same run: the pattern the engine avoids — ``ZenEngine().create_decision(content)``
then ``decision.evaluate(context)`` per call (on size/10 profiles).
"""

import argparse
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

import zen  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from riskrules import engine  # noqa: E402
from riskrules.canonical import canonical_json  # noqa: E402
from riskrules.evaluation import evaluate  # noqa: E402
from riskrules.models import Deployment  # noqa: E402
from riskrules.policy.seed import seed_policy  # noqa: E402
from riskrules.services.decisions import reason_texts  # noqa: E402
from riskrules.services.versions import ensure_loaded  # noqa: E402

NAME = "riskrules_engine"
RESULTS = Path(__file__).resolve().parent / "results" / f"{NAME}.json"
TARGET_PER_SECOND = 10_000


def profiles(count: int, seed: int = 3) -> list[dict]:
    rng = random.Random(seed)
    result = []
    for _ in range(count):
        result.append(
            {
                "age": rng.randint(17, 70),
                "on_blacklist": rng.random() < 0.03,
                "dishonest_debtor": rng.random() < 0.01,
                "on_greylist": rng.random() < 0.03,
                "on_whitelist": rng.random() < 0.9,
                "current_overdue_count": 0 if rng.random() < 0.95 else 1,
                "kyc_verified": rng.random() < 0.97,
                "credit_consent": rng.random() < 0.98,
                "occupation": rng.choice(["farmer"] * 8 + ["other", "employee"]),
                "dti_pct": rng.choice([10, 20, 35, 50, 60]),
                "monthly_income_fen": rng.choice([150_000, 300_000, 600_000, 1_200_000]),
                "employment_years": rng.randint(0, 20),
                "years_with_bank": rng.randint(0, 15),
                "deposit_avg_6m_fen": rng.choice([0, 600_000, 2_500_000, 6_000_000]),
                "past_overdue_times_24m": rng.choice([0, 0, 0, 1, 2, 3]),
                "household_appraisal": rng.choice(["excellent", "good", "fair", "poor", "none"]),
                "whitelist_limit_fen": rng.choice([5_000_000, 10_000_000, 20_000_000, 50_000_000]),
            }
        )
    return result


def pin_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        cpu = sorted(os.sched_getaffinity(0))[0]
        os.sched_setaffinity(0, {cpu})
        return f"cpu {cpu}"
    return "not pinned"


def database() -> str:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            version = cursor.connection.info.server_version  # e.g. 150020
        return f"postgresql {version // 10000}.{version % 100}"
    return connection.vendor


def timed(func, items) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process): on a shared machine the CPU time is the work one core did."""
    began, cpu = time.perf_counter(), time.process_time()
    for item in items:
        func(item)
    return time.perf_counter() - began, time.process_time() - cpu


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=20_000, help="decisions to evaluate")
    args = parser.parse_args(argv)

    seed_policy()
    flow = (
        Deployment.objects.select_related("champion")
        .get(rule_set__code="jnkd_credit", rule_set__institution__isnull=True, channel="default")
        .champion
    )
    ensure_loaded(flow.content_hash, flow.content)
    key = flow.content_hash
    contexts = profiles(args.size)
    texts = reason_texts()
    core = pin_one_core()

    for ctx in contexts[:200]:  # warm-up
        engine.evaluate(key, ctx)
    plain_s, plain_cpu = timed(lambda ctx: engine.evaluate(key, ctx), contexts)
    trace_s, trace_cpu = timed(lambda ctx: engine.evaluate(key, ctx, trace=True), contexts)
    full_s, full_cpu = timed(lambda ctx: evaluate(key=key, values=ctx, missing=[], reason_texts=texts, max_reasons=6), contexts)

    # baseline: build a decision runtime per call (the anti-pattern the loader avoids)
    sub_keys = [node.sub_key for node in engine.meta(key).nodes.values() if node.sub_key]
    contents = {k: zen.ZenDecisionContent(canonical_json(engine_content)) for k, engine_content in _contents(sub_keys).items()}
    baseline_items = contexts[: max(50, args.size // 10)]

    def per_call(ctx):
        runtime = zen.ZenEngine({"loader": lambda k: contents[k]})
        runtime.create_decision(canonical_json(flow.content)).evaluate(ctx)

    baseline_s, baseline_cpu = timed(per_call, baseline_items)

    outcomes: dict[str, int] = {}
    for ctx in contexts[:2000]:
        outcome = engine.evaluate(key, ctx)["result"].get("outcome")
        outcomes[outcome] = outcomes.get(outcome, 0) + 1

    n = len(contexts)
    per_second = n / plain_cpu
    report = {
        "benchmark": NAME,
        "size": n,
        "figures": {
            "flow": f"jnkd_credit v{flow.number} ({key[:12]})",
            "decisions_per_second": round(per_second),
            "us_per_decision": round(plain_cpu / n * 1e6, 1),
            "decisions_per_second_wall_clock": round(n / plain_s),
            "decisions_per_second_with_trace": round(n / trace_cpu),
            "decisions_per_second_with_trace_wall_clock": round(n / trace_s),
            "us_per_decision_with_trace": round(trace_cpu / n * 1e6, 1),
            "decisions_per_second_with_explanation": round(n / full_cpu),
            "us_per_decision_with_explanation": round(full_cpu / n * 1e6, 1),
            "wall_clock_with_explanation_per_second": round(n / full_s),
            "load_average_1m": round(os.getloadavg()[0], 2),
            "outcome_mix_first_2000": outcomes,
            "core": core,
        },
        "baseline": {
            "pattern": "ZenEngine().create_decision(content).evaluate(context) per call",
            "decisions": len(baseline_items),
            "us_per_decision": round(baseline_cpu / len(baseline_items) * 1e6, 1),
            "us_per_decision_wall_clock": round(baseline_s / len(baseline_items) * 1e6, 1),
        },
        "ratios": {
            "per_call_runtime_over_cached_engine": round((baseline_cpu / len(baseline_items)) / (plain_cpu / n), 1),
        },
        "target": {
            "decisions_per_second_min": TARGET_PER_SECOND,
            "measured_as": "CPU time of this process pinned to one core (engine.evaluate, no trace)",
            "met": per_second >= TARGET_PER_SECOND,
        },
        "python": platform.python_version(),
        "database": database(),
        "when": timezone.now().isoformat(timespec="seconds"),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    print(json.dumps(report, ensure_ascii=False))
    return report


def _contents(keys: list[str]) -> dict:
    from riskrules.models import RuleVersion

    return {k: RuleVersion.objects.filter(content_hash=k).values_list("content", flat=True).first() for k in keys}


if __name__ == "__main__":
    main(sys.argv[1:])

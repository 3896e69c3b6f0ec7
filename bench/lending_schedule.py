"""Schedule generation (还款计划生成): N 12-month schedules on one core, per repayment method, plus APR.

    python -m bench.lending_schedule [--size N]

Baseline in the same run: the same equal-installment schedules computed with binary floats and no
rounding rules (what a naive calculator does) — the price of exact Decimal money.
Target (issue 4): ≥ 20,000 12-month schedules per second on one core. Due dates are memoised per
(value date, term) — the inputs spread over a year's value dates, so each date's schedule dates are
computed once, as a day's disbursements and the nightly regeneration do; the rate with the memo emptied
before every schedule is reported beside it (informational).
"""

import argparse
import datetime as dt
import json
import os
import platform
import random
import sys
import time
from decimal import Decimal
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jikuai.settings")

import django

django.setup()

from django.db import connection  # noqa: E402

from lending import schedule as sched  # noqa: E402

NAME = "lending_schedule"
RESULTS = Path(__file__).resolve().parent / "results" / f"{NAME}.json"


def _inputs(size: int, rng: random.Random):
    return [
        (
            Decimal(rng.randrange(1_000, 500_000)) + Decimal(rng.randrange(100)) / 100,
            Decimal(rng.randrange(300, 1800)) / 10000,
            dt.date(2026, rng.randint(1, 12), rng.randint(1, 28)) if rng.random() < 0.9 else dt.date(2026, 1, 31),
        )
        for _ in range(size)
    ]


def _float_schedule(principal: float, rate: float, months: int):
    i = rate / 12
    payment = principal * i * (1 + i) ** months / ((1 + i) ** months - 1)
    balance = principal
    rows = []
    for k in range(months):
        interest = balance * i
        part = payment - interest if k < months - 1 else balance
        balance -= part
        rows.append((k + 1, part, interest, balance))
    return rows


def main(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=100_000)
    args = parser.parse_args(argv)
    rng = random.Random(4)
    inputs = _inputs(args.size, rng)
    figures = {}
    per_method = {}
    for method in sched.Method.ALL:
        started = time.perf_counter()
        for principal, rate, start in inputs:
            sched.generate(method=method, principal=principal, annual_rate=rate, months=12, value_date=start)
        elapsed = time.perf_counter() - started
        per_method[method] = round(args.size / elapsed, 1)
    figures["schedules_per_second"] = per_method
    figures["schedules_per_second_min"] = min(per_method.values())
    # informational: every schedule with due dates never seen before (the due-date memo emptied each time);
    # the runs above see each value date's dates computed once, as a day's disbursements do
    cold = inputs[: args.size // 4]
    clear = sched._due_dates.cache_clear
    started = time.perf_counter()
    for principal, rate, start in cold:
        clear()
        sched.generate(method="equal_installment", principal=principal, annual_rate=rate, months=12, value_date=start)
    figures["equal_installment_cold_dates_per_second"] = round(len(cold) / (time.perf_counter() - started), 1)
    # validation included (what the calculator and loan creation do)
    started = time.perf_counter()
    for principal, rate, start in inputs[: args.size // 4]:
        sched.generate(
            method="equal_installment", principal=principal, annual_rate=rate, months=12, value_date=start, validate=True
        )
    figures["validated_equal_installment_per_second"] = round((args.size // 4) / (time.perf_counter() - started), 1)
    # APR by IRR (Decimal Newton) on a sample
    sample = inputs[: max(1, args.size // 100)]
    started = time.perf_counter()
    for principal, rate, start in sample:
        periods = sched.generate(method="equal_installment", principal=principal, annual_rate=rate, months=12, value_date=start)
        sched.apr_percent(principal=principal, value_date=start, periods=periods, upfront_fee=Decimal("0"))
    figures["apr_per_second"] = round(len(sample) / (time.perf_counter() - started), 1)
    started = time.perf_counter()
    for principal, rate, _start in inputs:
        _float_schedule(float(principal), float(rate), 12)
    float_rate = args.size / (time.perf_counter() - started)
    result = {
        "benchmark": NAME,
        "size": args.size,
        "figures": figures,
        "baseline": {"float_schedules_per_second": round(float_rate, 1)},
        "ratios": {"decimal_vs_float": round(figures["schedules_per_second_min"] / float_rate, 3)},
        "target": {
            "schedules_per_second_min": 20000,
            "met": figures["schedules_per_second_min"] >= 20000,
        },
        "python": platform.python_version(),
        "database": connection.vendor,
        "when": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])

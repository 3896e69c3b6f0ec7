"""Monitoring (规则监控): a daily job counts hits per rule row of live decisions and flags a row whose
hit rate doubled against its trailing seven-day average."""

import datetime as dt
from collections import defaultdict
from decimal import Decimal

from django.db import transaction

from jikuai.core.jobs import job_run_finish, job_run_start
from riskrules.models import DecisionRecord, RuleHitDaily, RuleVersion
from riskrules.services.simulations import _row_description
from riskrules.services.versions import ensure_loaded

JOB = "riskrules.hits_daily"
BASELINE_DAYS = 7
MIN_HITS_TO_FLAG = 5
RATE_PLACES = Decimal("0.000001")


def hits_aggregate_day(*, day: dt.date, force: bool = False) -> int:
    """Aggregate the hits of ``day`` (rerun-safe: the day's rows are replaced). Returns rows written."""
    run, should_work = job_run_start(job=JOB, business_date=day, run_key="")
    if not should_work and not force:
        return RuleHitDaily.objects.filter(day=day).count()
    try:
        written = _aggregate(day)
    except Exception as exc:
        job_run_finish(run, error=repr(exc))
        raise
    run.processed = written
    run.save(update_fields=["processed"])
    job_run_finish(run)
    return written


def _aggregate(day: dt.date) -> int:
    decisions: dict[int, int] = defaultdict(int)
    hits: dict[tuple[int, str], int] = defaultdict(int)
    rule_sets: dict[int, int] = {}
    rows = (
        DecisionRecord.objects.filter(decision_date=day, mode=DecisionRecord.Mode.LIVE)
        .values_list("version_id", "rule_set_id", "hit_rows")
        .iterator(chunk_size=5000)
    )
    for version_id, rule_set_id, hit_rows in rows:
        decisions[version_id] += 1
        rule_sets[version_id] = rule_set_id
        for hit in set(hit_rows or ()):
            hits[(version_id, hit)] += 1
    versions = {
        v.pk: v for v in RuleVersion.objects.filter(pk__in=decisions).only("id", "content_hash", "content", "rule_set_id")
    }
    for version in versions.values():
        ensure_loaded(version.content_hash, version.content)
    since = day - dt.timedelta(days=BASELINE_DAYS)
    history: dict[tuple, list] = defaultdict(list)
    for rule_set_id, node_id, row_id, rate in RuleHitDaily.objects.filter(
        day__gte=since, day__lt=day, rule_set_id__in=set(rule_sets.values())
    ).values_list("rule_set_id", "node_id", "row_id", "rate"):
        history[(rule_set_id, node_id, row_id)].append(rate)
    objects = []
    for (version_id, hit), count in sorted(hits.items()):
        node_id, _, row_id = hit.rpartition(":")
        total = decisions[version_id]
        rate = (Decimal(count) / Decimal(total)).quantize(RATE_PLACES)
        past = history.get((rule_sets[version_id], node_id, row_id), [])
        baseline = (sum(past) / len(past)).quantize(RATE_PLACES) if past else None
        flagged = bool(baseline and baseline > 0 and rate >= 2 * baseline and count >= MIN_HITS_TO_FLAG)
        node_name, description = _row_description(versions[version_id].content_hash, hit)
        objects.append(
            RuleHitDaily(
                day=day,
                rule_set_id=rule_sets[version_id],
                version_id=version_id,
                node_id=node_id[:200],
                row_id=row_id[:100],
                description=(f"{node_name}：{description}" if description else node_name)[:200],
                hits=count,
                decisions=total,
                rate=rate,
                baseline_rate=baseline,
                flagged=flagged,
            )
        )
    with transaction.atomic():
        RuleHitDaily.objects.filter(day=day).delete()
        RuleHitDaily.objects.bulk_create(objects)
    return len(objects)

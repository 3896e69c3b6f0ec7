"""Decisions: resolve features, choose the arm, evaluate, append the records — in the caller's
transaction — and replay a stored decision from its record alone."""

import contextlib
import datetime as dt
import gc
import hashlib
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from django.db import transaction

from jikuai.core import fastsql, refmemo
from jikuai.core.exceptions import ApplicationError, Conflict, NotFound
from jikuai.core.workdays import get_business_date
from riskrules import config_cache, engine
from riskrules.catalogue import InputTypeError, VariableSpec, load_catalogue, load_reason_texts
from riskrules.evaluation import Evaluation, evaluate
from riskrules.features import Subject, prefetch, resolve
from riskrules.models import DecisionRecord, Deployment, RuleVersion
from riskrules.services.versions import ensure_loaded

SUBJECT_KINDS = ("application", "customer", "loan", "merchant", "credit_line", "household")


class DecisionInputError(InputTypeError):
    code = "invalid_input"


class ReplayMismatch(ApplicationError):
    code = "replay_mismatch"
    status = 409


def reason_texts(codes=()) -> dict[str, str]:
    """Reason texts (code → 中文), remembered per process for the configuration generation; read afresh
    when one of ``codes`` is not among them."""
    texts = config_cache.memoized("reason_texts", None, load_reason_texts)
    if any(code not in texts for code in codes):
        texts = load_reason_texts()
    return texts


def clear_caches() -> None:
    """Forget this process's memo of the rule configuration (tests; the generation does it in production)."""
    refmemo.reset()


def challenger_bucket(salt: str, subject: Subject) -> int:
    """Stable bucket 0–99 from SHA-256 of the experiment salt and the subject: retries get the same arm."""
    digest = hashlib.sha256(f"{salt}:{subject.kind}:{subject.id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100


def _check_subject(subject: Subject) -> Subject:
    if not isinstance(subject, Subject):
        raise DecisionInputError("决策对象格式错误。", "subject must be a Subject", extra={"field": "subject"})
    if subject.kind not in SUBJECT_KINDS:
        raise DecisionInputError(
            f"决策对象类型须为：{'、'.join(SUBJECT_KINDS)}。",
            f"subject kind must be one of {', '.join(SUBJECT_KINDS)}",
            extra={"field": "subject.kind"},
        )
    for name in ("customer_id", "institution_id"):
        value = getattr(subject, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise DecisionInputError(f"{name} 须为整数。", f"{name} must be an integer", extra={"field": f"subject.{name}"})
    subject_id = str(subject.id or "").strip()
    if not subject_id or len(subject_id) > 64:
        raise DecisionInputError(
            "决策对象编号不能为空且不超过64位。", "subject id is required (max 64 characters)", extra={"field": "subject.id"}
        )
    if subject_id != subject.id:
        subject = Subject(
            kind=subject.kind, id=subject_id, customer_id=subject.customer_id, institution_id=subject.institution_id
        )
    return subject


def _decision_date(inputs: Mapping, default) -> dt.date:
    value = inputs.get("decision_date")
    if value in (None, ""):
        return default()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise DecisionInputError(
            "决策日期格式应为 YYYY-MM-DD。", "decision_date must be YYYY-MM-DD", extra={"field": "decision_date"}
        ) from None


def _deployments(code: str, channel: str, institution_ids: set) -> dict:
    """(institution_id or None) -> Deployment, preferring the institution override and the named channel;
    remembered per process for the configuration generation (``riskrules.config_cache``)."""
    key = (code, channel, frozenset(institution_ids))
    return config_cache.memoized("deployments", key, lambda: _deployments_from_db(code, channel, institution_ids))


def _deployments_from_db(code: str, channel: str, institution_ids: set) -> dict:
    from django.db.models import Q

    condition = Q(rule_set__institution__isnull=True)
    real_ids = {i for i in institution_ids if i is not None}
    if real_ids:
        condition |= Q(rule_set__institution_id__in=real_ids)
    rows = list(
        Deployment.objects.filter(condition, rule_set__code=code, channel__in={channel, "default"})
        .select_related("rule_set", "champion", "challenger")
        .defer(
            "champion__content",
            "challenger__content",
            "champion__test_report",
            "challenger__test_report",
            "champion__validation_report",
            "challenger__validation_report",
        )
    )
    best: dict = {}
    for deployment in rows:
        owner = deployment.rule_set.institution_id
        rank = (0 if owner is not None else 2) + (0 if deployment.channel == channel else 1)
        best.setdefault(owner, []).append((rank, deployment))
    chosen = {}
    for institution_id in institution_ids | {None}:
        candidates = best.get(institution_id, []) + (best.get(None, []) if institution_id is not None else [])
        if candidates:
            chosen[institution_id] = min(candidates, key=lambda pair: pair[0])[1]
    return chosen


@contextlib.contextmanager
def _gc_paused(size: int):
    """Batches allocate many short-lived acyclic dicts (ZEN traces); the cyclic collector scanning them
    costs ~15% of a batch. Refcounting frees them anyway, so pause the collector for the batch loop."""
    if size < 50 or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@dataclass
class _Plan:
    subject: Subject
    inputs: Mapping
    institution_id: int | None
    deployment: Deployment
    live_version: RuleVersion
    arm: str
    shadow_version: RuleVersion | None
    decision_date: dt.date


def _plan(items, code: str, channel: str, pre_customers: dict) -> list[_Plan]:
    institutions = {}
    for subject, _inputs in items:
        institution_id = subject.institution_id
        if subject.customer_id:
            customer = pre_customers.get(subject.customer_id)
            if customer is None:
                raise NotFound("客户不存在。", "customer not found", extra={"field": "subject.customer_id"})
            if institution_id is not None and institution_id != customer.institution_id:
                raise DecisionInputError(
                    "客户不属于该法人行社。", "customer belongs to another institution", extra={"field": "subject.customer_id"}
                )
            institution_id = customer.institution_id
        institutions[(subject.kind, subject.id, subject.customer_id)] = institution_id
    deployments = _deployments(code, channel, set(institutions.values()))
    business_date: list[dt.date] = []

    def default_date() -> dt.date:  # the business date, read once per batch
        if not business_date:
            business_date.append(get_business_date())
        return business_date[0]

    plans = []
    for subject, inputs in items:
        institution_id = institutions[(subject.kind, subject.id, subject.customer_id)]
        deployment = deployments.get(institution_id)
        if deployment is None:
            raise NotFound(
                f"规则集“{code}”不存在或尚未发布。", f"rule set {code} not found or not deployed", code="ruleset_not_deployed"
            )
        live, arm, shadow = deployment.champion, DecisionRecord.Arm.CHAMPION, None
        if (
            deployment.challenger_id
            and deployment.challenger_percent
            and challenger_bucket(deployment.salt, subject) < deployment.challenger_percent
        ):
            if deployment.effective_mode == Deployment.Mode.SPLIT:
                live, arm = deployment.challenger, DecisionRecord.Arm.CHALLENGER
            else:
                shadow = deployment.challenger
        plans.append(_Plan(subject, inputs, institution_id, deployment, live, arm, shadow, _decision_date(inputs, default_date)))
    return plans


def _needs(codes: set[str], catalogue: dict[str, VariableSpec]) -> tuple[bool, bool, bool]:
    from riskrules.guardrails import referenced_names

    seen, stack = set(), list(codes)
    while stack:
        code = stack.pop()
        if code in seen or code not in catalogue:
            continue
        seen.add(code)
        spec = catalogue[code]
        if spec.source == "derived":
            stack.extend(name.split(".", 1)[0] for name in referenced_names(spec.expression))
    specs = [catalogue[c] for c in seen]
    needs_customer = any(s.source == "customer" for s in specs)
    needs_consent = any(s.source == "customer" and (s.source_key or s.code) == "credit_consent" for s in specs)
    needs_lists = any(s.source == "list" for s in specs)
    return needs_customer, needs_consent, needs_lists


def _record(
    plan: _Plan, version: RuleVersion, evaluation: Evaluation, values, missing, *, mode, arm, correlation, source, latency_us
):
    return DecisionRecord(
        institution_id=plan.institution_id,
        rule_set_id=version.rule_set_id,
        version=version,
        version_hash=version.content_hash,
        engine_version=engine.ENGINE_VERSION,
        subject_kind=plan.subject.kind,
        subject_id=plan.subject.id,
        customer_id=plan.subject.customer_id,
        channel=plan.deployment.channel,
        mode=mode,
        arm=arm,
        correlation_id=correlation,
        decision_date=plan.decision_date,
        input_snapshot=values,
        missing=missing,
        outputs=evaluation.outputs,
        outcome=evaluation.outcome,
        reasons=[list(pair) for pair in evaluation.reasons],
        grade=evaluation.grade,
        amount=evaluation.amount,
        rate=evaluation.rate,
        explanation=evaluation.explanation,
        hit_rows=evaluation.hit_rows,
        error=evaluation.error,
        latency_us=latency_us,
        source=source[:60],
    )


def decision_make_batch(
    *,
    ruleset_code: str,
    items: list[tuple[Subject, Mapping]],
    channel: str = "default",
    source: str = "",
    customers: dict | None = None,
) -> list[DecisionRecord]:
    """Decide for many subjects with bulk feature loading and one bulk insert of the records; returns
    the live records in input order (shadow records are written alongside). ``customers``: id → the
    subjects' customers already loaded by the caller (then they are not read again)."""
    if not items:
        return []
    checked = []
    for subject, inputs in items:
        if not isinstance(inputs, Mapping):
            raise DecisionInputError("inputs 须为 JSON 对象。", "inputs must be an object", extra={"field": "inputs"})
        checked.append((_check_subject(subject), inputs))
    started = time.perf_counter_ns()
    wanted = {subject.customer_id for subject, _ in checked if subject.customer_id}
    given = customers if customers and wanted <= set(customers) else None
    base = prefetch(checked, needs_customer=True, needs_consent=False, needs_lists=False, customers=given)
    plans = _plan(checked, ruleset_code, channel, base.customers)
    catalogue = config_cache.memoized("catalogue", None, load_catalogue)
    versions = {}
    for plan in plans:
        for version in (plan.live_version, plan.shadow_version):
            if version is not None:
                versions[version.pk] = version
    codes = set()
    for version in versions.values():
        ensure_loaded(version.content_hash)
        codes |= set(version.input_variables)
    _needs_customer, needs_consent, needs_lists = _needs(codes, catalogue)
    pre = prefetch(checked, needs_customer=False, needs_consent=needs_consent, needs_lists=needs_lists, customers=base.customers)
    texts = reason_texts()
    setup_us = (time.perf_counter_ns() - started) // 1000 // len(plans)
    records: list[DecisionRecord] = []
    live_records: list[DecisionRecord] = []
    with _gc_paused(len(plans)):
        _evaluate_plans(plans, catalogue, pre, texts, setup_us, source, records, live_records)
    with transaction.atomic(savepoint=False):  # all-or-nothing with the caller's transaction, no savepoint
        fastsql.insert(records, batch_size=500)  # bulk_create's statement, built once per row count
    return live_records


def _evaluate_plans(plans, catalogue, pre, texts, setup_us, source, records, live_records) -> None:
    for plan in plans:
        item_started = time.perf_counter_ns()
        wanted = list(
            dict.fromkeys(
                plan.live_version.input_variables + (plan.shadow_version.input_variables if plan.shadow_version else [])
            )
        )
        resolution = resolve(
            codes=wanted,
            catalogue=catalogue,
            subject=plan.subject,
            inputs=plan.inputs,
            decision_date=plan.decision_date,
            institution_id=plan.institution_id,
            pre=pre,
        )
        correlation = uuid.uuid4()
        for version, mode, arm in (
            (plan.live_version, DecisionRecord.Mode.LIVE, plan.arm),
            (plan.shadow_version, DecisionRecord.Mode.SHADOW, DecisionRecord.Arm.CHALLENGER),
        ):
            if version is None:
                continue
            values = {code: resolution.values[code] for code in version.input_variables if code in resolution.values}
            missing = [item for item in resolution.missing if item["code"] in version.input_variables]
            evaluation = evaluate(
                key=version.content_hash,
                values=values,
                missing=missing,
                reason_texts=texts,
                max_reasons=plan.deployment.rule_set.max_reasons,
            )
            latency = (
                (time.perf_counter_ns() - item_started) // 1000 + setup_us
                if mode == DecisionRecord.Mode.LIVE
                else evaluation.latency_us
            )
            record = _record(
                plan,
                version,
                evaluation,
                values,
                missing,
                mode=mode,
                arm=arm,
                correlation=correlation,
                source=source,
                latency_us=latency,
            )
            records.append(record)
            if mode == DecisionRecord.Mode.LIVE:
                live_records.append(record)


def decision_make(
    *,
    ruleset_code: str,
    subject: Subject,
    inputs: Mapping,
    channel: str = "default",
    source: str = "",
    customer=None,
) -> DecisionRecord:
    """Decide once; the record is inserted in the caller's transaction (or its own when there is none)."""
    customers = {customer.pk: customer} if customer is not None and customer.pk == getattr(subject, "customer_id", None) else None
    return decision_make_batch(
        ruleset_code=ruleset_code, items=[(subject, inputs)], channel=channel, source=source, customers=customers
    )[0]


@dataclass(frozen=True)
class ReplayResult:
    decision_id: int
    identical: bool
    differences: dict
    replayed: dict
    recorded: dict
    engine_version: str = ""  # the engine that made the decision; replay runs on engine.ENGINE_VERSION


def decision_replay(*, decision_id: int, strict: bool = True) -> ReplayResult:
    """Re-evaluate a stored decision from its input snapshot with its own version (by hash) and compare.

    Raises ReplayMismatch when ``strict`` and anything the decision acted on differs."""
    record = DecisionRecord.objects.select_related("version", "rule_set").filter(pk=decision_id).first()
    if record is None:
        raise NotFound("决策记录不存在。", "decision not found")
    version = record.version
    if version.content_hash != record.version_hash:
        raise Conflict(
            "决策记录的版本哈希与版本内容不一致。", "version content does not match the recorded hash", code="hash_mismatch"
        )
    ensure_loaded(record.version_hash, version.content)
    texts = reason_texts([code for code, _ in record.reasons])
    evaluation = evaluate(
        key=record.version_hash,
        values=record.input_snapshot,
        missing=record.missing,
        reason_texts=texts,
        max_reasons=record.rule_set.max_reasons,
    )
    replayed = evaluation.comparable()
    recorded = {
        "outcome": record.outcome,
        "outputs": record.outputs,
        "reasons": record.reason_codes,
        "grade": record.grade,
        "amount_fen": int(record.amount * 100) if record.amount is not None else None,
        "rate_bp": int((record.rate * 10000).to_integral_value()) if record.rate is not None else None,
    }
    differences = {
        key: {"recorded": recorded[key], "replayed": replayed[key]} for key in recorded if recorded[key] != replayed[key]
    }
    result = ReplayResult(record.pk, not differences, differences, replayed, recorded, record.engine_version)
    if strict and differences:
        raise ReplayMismatch(
            f"重放结果与记录不一致：{', '.join(differences)}",
            f"replay differs in {', '.join(differences)}",
            extra={"differences": differences},
        )
    return result

"""Simulation (模拟): run a candidate version over a population — stored live decision inputs over a date
range, or an uploaded file — and compare with the champion.

Report: approval rate and mean limit (candidate vs champion), swap-in/swap-out matrix of outcomes, hit
rate per rule row, grade distribution, and the changed cases (downloadable as CSV).

The run is a background job (Celery task ``riskrules.tasks.simulation_run``; eager mode runs inline after
commit) with a ``JobRun`` for progress. It processes the population in id-ordered chunks, saving the
running aggregates and the cursor after each chunk, so a crashed run resumes where it stopped.
Results are not written to the decisions table unless ``record_decisions`` is set (mode "simulation").
"""

import csv
import datetime as dt
import io
import uuid
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from jikuai.core.exceptions import ApplicationError, Conflict, NotFound
from jikuai.core.jobs import job_run_finish, job_run_progress, job_run_start
from jikuai.core.money import fen_to_yuan
from jikuai.core.workdays import get_business_date
from jikuai.org.models import Staff
from riskrules import engine
from riskrules.catalogue import InputTypeError, VariableSpec, load_catalogue
from riskrules.evaluation import evaluate
from riskrules.features import ResolutionError, apply_missing_policies
from riskrules.models import DecisionRecord, Deployment, RuleVersion, Simulation, SimulationCase
from riskrules.services.decisions import _gc_paused, reason_texts
from riskrules.services.versions import ensure_loaded

CHUNK = 2000
MAX_UPLOAD_ROWS = 50000
JOB = "riskrules.simulation"


class SimulationError(ApplicationError):
    code = "invalid_simulation"


def _parse_upload(file_name: str, data: bytes, catalogue: dict) -> list[dict]:
    name = (file_name or "").lower()
    if len(data) > 20 * 1024 * 1024:
        raise SimulationError("样本文件超过 20MB。", "population file larger than 20 MB")
    if name.endswith(".xlsx"):
        from openpyxl import load_workbook

        try:
            sheet = load_workbook(io.BytesIO(data), read_only=True, data_only=True).worksheets[0]
        except Exception:
            raise SimulationError("无法读取 Excel 文件。", "cannot read the Excel file") from None
        rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    elif name.endswith(".csv"):
        try:
            rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
        except UnicodeDecodeError:
            raise SimulationError("CSV 须为 UTF-8 编码。", "CSV must be UTF-8") from None
    else:
        raise SimulationError("样本文件须为 .csv 或 .xlsx。", "population must be .csv or .xlsx")
    if len(rows) < 2:
        raise SimulationError("样本文件没有数据行。", "population file has no rows")
    header = [str(cell or "").strip() for cell in rows[0]]
    unknown = [column for column in header if column and column != "subject_id" and column not in catalogue]
    if unknown:
        raise SimulationError(f"样本文件包含目录外的列：{'、'.join(unknown)}", f"unknown columns: {', '.join(unknown)}")
    body = [row for row in rows[1:] if any(cell not in (None, "") for cell in row)]
    if len(body) > MAX_UPLOAD_ROWS:
        raise SimulationError(f"样本最多 {MAX_UPLOAD_ROWS} 行。", "too many rows")
    result = []
    for row in body:
        item = {}
        for index, column in enumerate(header):
            if not column or index >= len(row) or row[index] in (None, ""):
                continue
            value = row[index]
            if isinstance(value, dt.datetime):
                value = value.date().isoformat()
            elif isinstance(value, dt.date):
                value = value.isoformat()
            elif isinstance(value, float):
                value = int(value) if value.is_integer() else str(value)
            item[column] = value
        result.append(item)
    return result


def simulation_create(
    *,
    name: str,
    candidate_id: int,
    created_by: Staff,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    upload: tuple[str, bytes] | None = None,
    record_decisions: bool = False,
) -> Simulation:
    """Create a simulation and queue it (after commit)."""
    candidate = RuleVersion.objects.select_related("rule_set").filter(pk=candidate_id).first()
    if candidate is None:
        raise NotFound("候选版本不存在。", "candidate version not found")
    deployment = Deployment.objects.filter(rule_set=candidate.rule_set, channel="default").first()
    champion_id = deployment.champion_id if deployment else None
    uploaded_rows = []
    if upload is not None:
        uploaded_rows = _parse_upload(upload[0], upload[1], load_catalogue())
        population = Simulation.Population.UPLOAD
    else:
        if date_from is None or date_to is None or date_from > date_to:
            raise SimulationError("请填写有效的日期范围。", "a valid date range is required", extra={"field": "date_from"})
        population = Simulation.Population.STORED
    with transaction.atomic():
        simulation = Simulation.objects.create(
            name=(name or f"模拟 v{candidate.number}")[:100],
            rule_set=candidate.rule_set,
            candidate=candidate,
            champion_id=champion_id,
            population=population,
            date_from=date_from,
            date_to=date_to,
            uploaded_rows=uploaded_rows,
            record_decisions=record_decisions,
            created_by=created_by,
        )
        from riskrules.tasks import simulation_run as task

        transaction.on_commit(lambda: task.delay(simulation.pk))
    return simulation


def _split(snapshot: dict, codes: list[str], catalogue: dict[str, VariableSpec], *, coerce_values: bool):
    if coerce_values:
        return apply_missing_policies(snapshot, codes, catalogue)
    values, missing = {}, []
    for code in codes:
        if code in snapshot and snapshot[code] is not None:
            values[code] = snapshot[code]
            continue
        spec = catalogue.get(code)
        if spec is not None and spec.missing_policy == "default" and spec.default_value is not None:
            values[code] = spec.default_value
        else:
            policy = spec.missing_policy if spec and spec.missing_policy != "default" else "refer"
            missing.append({"code": code, "policy": policy, "label": spec.label if spec else code})
    return values, missing


def _empty_state() -> dict:
    return {
        "n": 0,
        "errors": 0,
        "champion": {"outcomes": {}, "grades": {}, "amount_fen_sum": 0, "amount_n": 0, "hits": {}},
        "candidate": {"outcomes": {}, "grades": {}, "amount_fen_sum": 0, "amount_n": 0, "hits": {}},
        "swap": {},
        "changed": 0,
    }


def _add(side: dict, outcome: str, grade: str, amount_fen, hits):
    side["outcomes"][outcome] = side["outcomes"].get(outcome, 0) + 1
    if grade:
        side["grades"][grade] = side["grades"].get(grade, 0) + 1
    if amount_fen is not None and outcome == "approve":
        side["amount_fen_sum"] += int(amount_fen)
        side["amount_n"] += 1
    for hit in hits or ():
        side["hits"][hit] = side["hits"].get(hit, 0) + 1


def _population(simulation: Simulation, cursor: int):
    """Yield chunks of (row_no, decision_id, subject_id, snapshot, stored result or None)."""
    if simulation.population == Simulation.Population.UPLOAD:
        rows = simulation.uploaded_rows
        for start in range(cursor, len(rows), CHUNK):
            yield [
                (
                    start + offset + 1,
                    None,
                    str(row.get("subject_id", "")),
                    {k: v for k, v in row.items() if k != "subject_id"},
                    None,
                )
                for offset, row in enumerate(rows[start : start + CHUNK])
            ]
        return
    queryset = DecisionRecord.objects.filter(
        rule_set_id=simulation.rule_set_id,
        mode=DecisionRecord.Mode.LIVE,
        decision_date__gte=simulation.date_from,
        decision_date__lte=simulation.date_to,
    ).order_by("id")
    last = cursor
    while True:
        rows = list(
            queryset.filter(id__gt=last).values_list(
                "id", "subject_id", "input_snapshot", "version_id", "outcome", "grade", "amount", "reasons", "hit_rows"
            )[:CHUNK]
        )
        if not rows:
            return
        last = rows[-1][0]
        yield [
            (
                row[0],
                row[0],
                row[1],
                row[2],
                {
                    "version_id": row[3],
                    "outcome": row[4],
                    "grade": row[5],
                    "amount_fen": int(row[6] * 100) if row[6] is not None else None,
                    "reasons": [code for code, _ in row[7]],
                    "hits": row[8],
                },
            )
            for row in rows
        ]


def _total(simulation: Simulation) -> int:
    if simulation.population == Simulation.Population.UPLOAD:
        return len(simulation.uploaded_rows)
    return DecisionRecord.objects.filter(
        rule_set_id=simulation.rule_set_id,
        mode=DecisionRecord.Mode.LIVE,
        decision_date__gte=simulation.date_from,
        decision_date__lte=simulation.date_to,
    ).count()


def simulation_run(*, simulation_id: int) -> Simulation:
    """Run (or resume) a simulation; idempotent once it has succeeded."""
    simulation = Simulation.objects.select_related("candidate", "champion", "rule_set").filter(pk=simulation_id).first()
    if simulation is None:
        raise NotFound("模拟不存在。", "simulation not found")
    if simulation.status == Simulation.Status.SUCCEEDED:
        return simulation
    total = _total(simulation)
    run, should_work = job_run_start(
        job=JOB, business_date=get_business_date(), run_key=f"simulation-{simulation.pk}", total=total
    )
    if not should_work:
        return simulation
    Simulation.objects.filter(pk=simulation.pk).update(status=Simulation.Status.RUNNING, job_run=run, error="")
    try:
        _execute(simulation, run)
    except Exception as exc:
        job_run_finish(run, error=repr(exc))
        Simulation.objects.filter(pk=simulation.pk).update(status=Simulation.Status.FAILED, error=repr(exc)[:4000])
        raise
    job_run_finish(run)
    simulation.refresh_from_db()
    return simulation


def _execute(simulation: Simulation, run) -> None:
    candidate, champion = simulation.candidate, simulation.champion
    catalogue = load_catalogue()
    texts = reason_texts()
    max_reasons = simulation.rule_set.max_reasons
    ensure_loaded(candidate.content_hash, candidate.content)
    if champion is not None:
        ensure_loaded(champion.content_hash, champion.content)
    state = simulation.partial or _empty_state()
    cursor = int((run.cursor or {}).get("position", 0))
    uploaded = simulation.population == Simulation.Population.UPLOAD
    correlation = uuid.uuid5(uuid.NAMESPACE_URL, f"riskrules-simulation-{simulation.pk}")
    day = get_business_date()
    for chunk in _population(simulation, cursor):
        cases, records = [], []
        with _gc_paused(len(chunk)):
            failed = _simulate_chunk(
                chunk,
                simulation,
                candidate,
                champion,
                catalogue,
                texts,
                max_reasons,
                uploaded,
                correlation,
                state,
                cases,
                records,
                day,
            )
        position = chunk[-1][0]  # decision id (stored) or rows processed (upload)
        with transaction.atomic():
            SimulationCase.objects.bulk_create(cases, ignore_conflicts=True)
            if records:
                DecisionRecord.objects.bulk_create(records)
            Simulation.objects.filter(pk=simulation.pk).update(partial=state)
            job_run_progress(run, add=len(chunk), cursor={"position": position}, failed_add=failed)
    report = build_report(simulation, state)
    Simulation.objects.filter(pk=simulation.pk).update(
        status=Simulation.Status.SUCCEEDED, report=report, partial=state, finished_at=timezone.now()
    )


def _simulate_chunk(
    chunk, simulation, candidate, champion, catalogue, texts, max_reasons, uploaded, correlation, state, cases, records, day
) -> int:
    failed = 0
    for row_no, decision_id, subject_id, snapshot, stored in chunk:
        try:
            values, missing = _split(snapshot, candidate.input_variables, catalogue, coerce_values=uploaded)
        except (InputTypeError, ResolutionError):
            failed += 1
            state["errors"] += 1
            continue
        cand = evaluate(key=candidate.content_hash, values=values, missing=missing, reason_texts=texts, max_reasons=max_reasons)
        if stored is not None and champion is not None and stored["version_id"] == champion.pk:
            champ = stored
        elif champion is not None:
            champion_values, champion_missing = _split(snapshot, champion.input_variables, catalogue, coerce_values=uploaded)
            result = evaluate(
                key=champion.content_hash,
                values=champion_values,
                missing=champion_missing,
                reason_texts=texts,
                max_reasons=max_reasons,
            )
            champ = {
                "outcome": result.outcome,
                "grade": result.grade,
                "amount_fen": result.amount_fen,
                "reasons": result.reason_codes,
                "hits": result.hit_rows,
            }
        else:
            champ = None
        state["n"] += 1
        _add(state["candidate"], cand.outcome, cand.grade, cand.amount_fen, cand.hit_rows)
        if champ is not None:
            _add(state["champion"], champ["outcome"], champ["grade"], champ["amount_fen"], champ["hits"])
            swap_key = f"{champ['outcome']}|{cand.outcome}"
            state["swap"][swap_key] = state["swap"].get(swap_key, 0) + 1
            changed = (champ["outcome"], champ["grade"] or "", champ["amount_fen"]) != (
                cand.outcome,
                cand.grade or "",
                cand.amount_fen,
            )
        else:
            changed = True
        if changed:
            state["changed"] += 1
            cases.append(
                SimulationCase(
                    simulation=simulation,
                    row_no=row_no,
                    decision_id=decision_id,
                    subject_id=subject_id or "",
                    champion_outcome=champ["outcome"] if champ else "",
                    candidate_outcome=cand.outcome,
                    champion_grade=(champ["grade"] or "") if champ else "",
                    candidate_grade=cand.grade or "",
                    champion_amount=fen_to_yuan(champ["amount_fen"]) if champ and champ["amount_fen"] is not None else None,
                    candidate_amount=cand.amount,
                    champion_reasons=champ["reasons"] if champ else [],
                    candidate_reasons=cand.reason_codes,
                )
            )
        if simulation.record_decisions:
            records.append(
                DecisionRecord(
                    institution_id=simulation.rule_set.institution_id,
                    rule_set_id=simulation.rule_set_id,
                    version_id=candidate.pk,
                    version_hash=candidate.content_hash,
                    engine_version=engine.ENGINE_VERSION,
                    subject_kind="simulation",
                    subject_id=(subject_id or str(row_no))[:64],
                    mode=DecisionRecord.Mode.SIMULATION,
                    arm=DecisionRecord.Arm.CHALLENGER,
                    correlation_id=correlation,
                    decision_date=day,
                    input_snapshot=values,
                    missing=missing,
                    outputs=cand.outputs,
                    outcome=cand.outcome,
                    reasons=[list(pair) for pair in cand.reasons],
                    grade=cand.grade,
                    amount=cand.amount,
                    rate=cand.rate,
                    explanation=cand.explanation,
                    hit_rows=cand.hit_rows,
                    error=cand.error,
                    latency_us=cand.latency_us,
                    source=f"simulation:{simulation.pk}",
                )
            )
    return failed


def _rate(part: int, whole: int) -> str:
    return str((Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"))) if whole else "0"


def _row_description(key: str, hit: str) -> tuple[str, str]:
    """(node name, row description) of a hit "node:row" or "sub/node:row" in the version ``key``."""
    path, _, row_id = hit.rpartition(":")
    parts = path.split("/")
    current = key
    name = ""
    for index, node_id in enumerate(parts):
        meta = engine.meta(current)
        node = meta.nodes.get(node_id) if meta else None
        if node is None:
            return "", ""
        if index < len(parts) - 1:
            current = node.sub_key
            continue
        name = node.name
        return name, node.rows.get(row_id, "")
    return name, ""


def build_report(simulation: Simulation, state: dict) -> dict:
    n = state["n"]
    candidate, champion = simulation.candidate, simulation.champion

    def side(data: dict, version) -> dict:
        mean = (
            str(fen_to_yuan(data["amount_fen_sum"] // data["amount_n"])) if data["amount_n"] else None
        )  # mean limit in yuan, floored to the fen
        return {
            "version": f"v{version.number}" if version else None,
            "approval_rate": _rate(data["outcomes"].get("approve", 0), n),
            "outcomes": dict(sorted(data["outcomes"].items())),
            "grades": {grade: data["grades"][grade] for grade in sorted(data["grades"])},
            "mean_limit": mean,
        }

    outcomes = sorted({*state["champion"]["outcomes"], *state["candidate"]["outcomes"]})
    matrix = [
        {"champion": left, **{right: state["swap"].get(f"{left}|{right}", 0) for right in outcomes}}
        for left in sorted(state["champion"]["outcomes"])
    ]
    hits = []
    for hit, count in sorted(state["candidate"]["hits"].items(), key=lambda pair: (-pair[1], pair[0])):
        node_name, description = _row_description(candidate.content_hash, hit)
        champion_count = state["champion"]["hits"].get(hit) if champion is not None else None
        hits.append(
            {
                "row": hit,
                "node": node_name,
                "description": description,
                "hits": count,
                "rate": _rate(count, n),
                "champion_rate": _rate(champion_count, n) if champion_count is not None else None,
            }
        )
    unavailable = []
    if simulation.population == Simulation.Population.STORED and champion is not None:
        unavailable = sorted(set(candidate.input_variables) - set(champion.input_variables))
    return {
        "population": n,
        "errors": state["errors"],
        "changed": state["changed"],
        "candidate": side(state["candidate"], candidate),
        "champion": side(state["champion"], champion) if champion is not None else None,
        "swap_outcomes": outcomes,
        "swap_matrix": matrix,
        "swap_in": sum(v for k, v in state["swap"].items() if k.split("|")[0] != "approve" and k.split("|")[1] == "approve"),
        "swap_out": sum(v for k, v in state["swap"].items() if k.split("|")[0] == "approve" and k.split("|")[1] != "approve"),
        "row_hits": hits,
        "unavailable_variables": unavailable,
    }


def simulation_cases_csv(simulation: Simulation) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "序号 row",
            "决策记录 decision",
            "对象 subject",
            "冠军结论 champion outcome",
            "候选结论 candidate outcome",
            "冠军等级",
            "候选等级",
            "冠军额度",
            "候选额度",
            "冠军原因",
            "候选原因",
        ]
    )
    for case in simulation.cases.order_by("row_no").iterator(chunk_size=2000):
        writer.writerow(
            [
                case.row_no,
                case.decision_id or "",
                case.subject_id,
                case.champion_outcome,
                case.candidate_outcome,
                case.champion_grade,
                case.candidate_grade,
                case.champion_amount if case.champion_amount is not None else "",
                case.candidate_amount if case.candidate_amount is not None else "",
                " ".join(case.champion_reasons),
                " ".join(case.candidate_reasons),
            ]
        )
    return out.getvalue()


def simulation_restart(*, simulation_id: int) -> Simulation:
    simulation = Simulation.objects.filter(pk=simulation_id).first()
    if simulation is None:
        raise NotFound("模拟不存在。", "simulation not found")
    if simulation.status == Simulation.Status.SUCCEEDED:
        raise Conflict("模拟已完成。", "simulation already finished")
    from riskrules.tasks import simulation_run as task

    transaction.on_commit(lambda: task.delay(simulation.pk))
    return simulation

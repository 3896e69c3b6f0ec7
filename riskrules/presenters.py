"""Plain JSON views of decisions (command line, API, admin): money as strings, reasons with texts."""

from riskrules.models import DecisionRecord


def decision_payload(record: DecisionRecord, *, explain: bool = False) -> dict:
    payload = {
        "decision_id": record.pk,
        "ruleset_code": record.rule_set.code,
        "outcome": record.outcome,
        "reasons": [{"code": code, "text": text} for code, text in record.reasons],
        "grade": record.grade or None,
        "amount": str(record.amount) if record.amount is not None else None,
        "rate": str(record.rate) if record.rate is not None else None,
        "outputs": record.outputs,
        "version_id": record.version_id,
        "version_number": record.version.number,
        "version_hash": record.version_hash,
        "engine_version": record.engine_version,
        "arm": str(record.arm),
        "mode": str(record.mode),
        "channel": record.channel,
        "subject": {"kind": record.subject_kind, "id": record.subject_id, "customer_id": record.customer_id},
        "decision_date": record.decision_date.isoformat(),
        "latency_us": record.latency_us,
        "created_at": record.created_at.isoformat(),
    }
    if explain:
        payload["inputs"] = record.input_snapshot
        payload["missing"] = record.missing
        payload["explanation"] = record.explanation
        payload["hit_rows"] = record.hit_rows
        if record.error:
            payload["error"] = record.error
    return payload

"""Evaluate resolved inputs against a loaded version and turn ZEN's answer into a decision: outcome,
reasons with Chinese texts, grade, amount (integer fen → Decimal yuan), rate (basis points → Decimal),
a compact explanation and the rule rows that fired.

Output conventions of every seeded graph (and checked by the test cases of any new one):

* ``outcome``: approve / reject / refer (admission, limit, pricing, flow), a grade A–E (rating),
  normal / watch / alert (early warning);
* ``reasons``: a list of reason codes, or of ``{"code", "weight"}`` objects — these are ordered by weight
  (descending, then code) and cut to the rule set's ``max_reasons`` (the top adverse reasons);
* ``grade``, ``amount_fen`` (integer fen), ``rate_bp`` (annual rate in basis points).

Missing-value policies applied after evaluation (the same here, in test cases, in replay and in
simulation): a ``required`` variable missing → not evaluated, outcome ``refer``; a ``refer`` variable
missing → any outcome except reject/alert becomes ``refer``; both add ``MISSING_<CODE>`` reasons.
"""

import time
from dataclasses import dataclass, field
from decimal import Decimal

from jikuai.core.money import fen_to_yuan
from riskrules import engine

FINAL_OUTCOMES = {"reject", "alert"}
REFER = "refer"


@dataclass
class Evaluation:
    outcome: str
    outputs: dict
    reasons: list  # [(code, text_zh)]
    grade: str = ""
    amount_fen: int | None = None
    rate_bp: int | None = None
    explanation: list = field(default_factory=list)
    hit_rows: list = field(default_factory=list)
    error: str = ""
    latency_us: int = 0

    @property
    def amount(self) -> Decimal | None:
        return fen_to_yuan(self.amount_fen) if self.amount_fen is not None else None

    @property
    def rate(self) -> Decimal | None:
        if self.rate_bp is None:
            return None
        return (Decimal(self.rate_bp) / Decimal(10000)).quantize(Decimal("0.000001"))

    @property
    def reason_codes(self) -> list[str]:
        return [code for code, _ in self.reasons]

    def comparable(self) -> dict:
        """What replay compares: everything the decision acted on."""
        return {
            "outcome": self.outcome,
            "outputs": self.outputs,
            "reasons": self.reason_codes,
            "grade": self.grade,
            "amount_fen": self.amount_fen,
            "rate_bp": self.rate_bp,
        }


def normalise(value):
    """JSON-stable numbers: integral floats become ints (ZEN returns every number as a float)."""
    kind = type(value)
    if kind is float:
        return int(value) if value.is_integer() else value
    if kind is dict:
        return {key: (item if type(item) in _PLAIN else normalise(item)) for key, item in value.items()}
    if kind is list:
        return [item if type(item) in _PLAIN else normalise(item) for item in value]
    return value


_PLAIN = {str, int, bool, type(None)}


def _compact_outputs(result: dict, context: dict) -> dict:
    return {key: value for key, value in result.items() if key not in context or context[key] != value}


def missing_reason(item: dict) -> tuple[str, str]:
    label = item.get("label") or item["code"]
    if item.get("policy") == "required":
        return f"MISSING_{item['code'].upper()}", f"缺少必要数据：{label}，未评估，转人工审核"
    return f"MISSING_{item['code'].upper()}", f"缺少数据：{label}，转人工审核"


def _order_reasons(raw, limit: int) -> list[str]:
    if raw is None:
        return []
    if isinstance(raw, str):
        raw = [raw]
    plain: list[str] = []
    weighted: list[tuple[float, str]] = []
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, str) and item:
            plain.append(item)
        elif isinstance(item, dict) and item.get("code"):
            weighted.append((float(item.get("weight") or 0), str(item["code"])))
    codes = list(dict.fromkeys(plain))
    if weighted:
        weighted.sort(key=lambda pair: (-pair[0], pair[1]))
        codes += [code for _, code in weighted if code not in codes]
    return codes[:limit] if limit else codes


def _integral(value) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise ValueError(f"not an integer: {value!r}")


def explain(trace: dict, key: str) -> tuple[list, list]:
    """Compact explanation from ZEN's trace: per node (in evaluation order) the matched row id and
    description, the inputs it read and what it wrote. Returns (explanation, hit rows "node:row")."""
    content_meta = engine.meta(key)
    nodes = content_meta.nodes if content_meta else {}
    items: list[dict] = []
    hits: list[str] = []
    for node_id, entry in sorted(trace.items(), key=lambda pair: pair[1].get("order", 0)):
        node = nodes.get(node_id)
        node_type = node.type if node else ""
        if node_type in ("inputNode", "outputNode"):
            continue
        data = entry.get("traceData")
        item: dict = {"node": node_id, "name": entry.get("name", ""), "type": node_type}
        if node_type == "decisionTableNode":
            matches = data if isinstance(data, list) else ([data] if isinstance(data, dict) and data else [])
            rows = []
            read: dict = {}
            for match in matches:
                rule = match.get("rule") or {}
                row_id = str(rule.get("_id", ""))
                rows.append({"row": row_id, "description": node.rows.get(row_id, "") if node else ""})
                read.update(match.get("reference_map") or {})
                hits.append(f"{node_id}:{row_id}")
            item["rows"] = rows
            item["read"] = normalise(read)
            item["wrote"] = normalise(_compact_outputs(entry.get("output") or {}, entry.get("input") or {}))
        elif node_type == "expressionNode":
            item["wrote"] = normalise({k: (v or {}).get("result") for k, v in (data or {}).items()})
        elif node_type == "switchNode":
            item["branches"] = [statement.get("id") for statement in (data or {}).get("statements", [])]
        elif node_type == "decisionNode":
            sub_items, sub_hits = explain(data or {}, node.sub_key if node else "")
            item["version_hash"] = node.sub_key if node else ""
            item["nodes"] = sub_items
            hits.extend(f"{node_id}/{hit}" for hit in sub_hits)
        items.append(item)
    return items, hits


def evaluate(
    *,
    key: str,
    values: dict,
    missing: list,
    reason_texts: dict,
    max_reasons: int,
    trace: bool = True,
) -> Evaluation:
    """Evaluate a loaded version (``engine.load`` first) on resolved ``values``."""
    started = time.perf_counter_ns()
    missing_reasons = [missing_reason(item) for item in missing]
    if any(item.get("policy") == "required" for item in missing):
        evaluation = Evaluation(
            outcome=REFER,
            outputs={},
            reasons=[r for r, item in zip(missing_reasons, missing, strict=True) if item["policy"] == "required"],
        )
        evaluation.latency_us = (time.perf_counter_ns() - started) // 1000
        return evaluation
    try:
        response = engine.evaluate(key, values, trace=trace)
    except engine.EngineError as exc:
        where = f" (节点 {exc.node_id})" if exc.node_id else ""
        evaluation = Evaluation(
            outcome=REFER,
            outputs={},
            reasons=[("ENGINE_ERROR", f"规则执行出错{where}，转人工审核")],
            error=exc.message,
        )
        evaluation.latency_us = (time.perf_counter_ns() - started) // 1000
        return evaluation
    result = normalise(response.get("result") or {})
    outputs = _compact_outputs(result, values)
    explanation, hit_rows = explain(response.get("trace") or {}, key) if trace else ([], [])
    error = ""
    outcome = result.get("outcome")
    reason_codes = _order_reasons(result.get("reasons"), max_reasons)
    if not isinstance(outcome, str) or not outcome:
        outcome = REFER
        reason_codes.append("NO_OUTCOME")
        error = "rules produced no outcome"
    try:
        amount_fen = _integral(result.get("amount_fen"))
        rate_bp = _integral(result.get("rate_bp"))
    except ValueError as exc:
        amount_fen = rate_bp = None
        outcome = REFER
        reason_codes.append("ENGINE_ERROR")
        error = f"money and rates must be integers (fen, basis points): {exc}"
    if amount_fen is not None and amount_fen < 0:
        outcome, amount_fen, error = REFER, None, "negative amount"
        reason_codes.append("ENGINE_ERROR")
    reasons = [(code, reason_texts.get(code, code)) for code in reason_codes]
    if missing_reasons:
        if outcome not in FINAL_OUTCOMES:
            outcome = REFER
        reasons.extend(missing_reasons)
    grade = result.get("grade")
    evaluation = Evaluation(
        outcome=outcome,
        outputs=outputs,
        reasons=reasons,
        grade=grade if isinstance(grade, str) else "",
        amount_fen=amount_fen,
        rate_bp=rate_bp,
        explanation=explanation,
        hit_rows=hit_rows,
        error=error,
    )
    evaluation.latency_us = (time.perf_counter_ns() - started) // 1000
    return evaluation

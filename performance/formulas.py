"""Scoring formula catalogue (公式库) F1–F18 from DOMAIN.md, evaluated safely as a fixed catalogue.

Formulas are data: a scheme item names a formula kind and gives its parameters (JSON, numbers as strings);
this module validates those parameters and evaluates them with ``Decimal`` only (no float anywhere). Notation:
A actual, T target, W weight, r = A/T achievement ratio, c cap, θ threshold.

Rounding: intermediate values keep full precision; an item score is rounded half-up to 4 places and a total
to 2 places, both through ``jikuai.core.money.round_to``.

Targets that are zero or negative (F10): r = 1 + (A − T)/|T|; when T = 0 the denominator is the item's
``scale`` parameter. Ratio-based formulas (F1, F2, F4, F5, F11) switch to that rule automatically when T ≤ 0.
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from jikuai.core.exceptions import ApplicationError
from jikuai.core.money import round_fen, round_to, split_amount, to_decimal

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)
SCORE_PLACES = 4
TOTAL_PLACES = 2


class FormulaParameterError(ApplicationError):
    code = "invalid_formula_parameters"


class FormulaEvaluationError(ApplicationError):
    code = "formula_not_evaluable"


# --------------------------------------------------------------------------------------------------
# parameter specification and validation
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    name: str
    label: str
    kind: str = "decimal"  # decimal | int | choice | bands | tiers | points | table
    required: bool = True
    default: object = None
    minimum: Decimal | None = None
    maximum: Decimal | None = None
    exclusive_minimum: bool = False
    choices: tuple[str, ...] = ()


def _dec(value, *, name: str, errors: list[str]) -> Decimal | None:
    """Parameters come from JSON: str/int/Decimal; a float from a JSON number is read through its repr."""
    if isinstance(value, bool) or value is None or value == "":
        errors.append(f"参数 {name} 必须是数字 / parameter {name} must be a number")
        return None
    try:
        if isinstance(value, float):
            if not math.isfinite(value):
                raise ValueError
            return Decimal(repr(value))
        result = to_decimal(value)
    except (ValueError, TypeError, InvalidOperation):
        errors.append(f"参数 {name} 不是有效数字：{value!r} / parameter {name} is not a number")
        return None
    if not result.is_finite():
        errors.append(f"参数 {name} 不是有效数字 / parameter {name} is not a finite number")
        return None
    return result


def _check_range(value: Decimal, spec: Param, errors: list[str]) -> None:
    if spec.minimum is not None:
        if spec.exclusive_minimum and value <= spec.minimum:
            errors.append(f"参数 {spec.name}（{spec.label}）必须大于 {spec.minimum} / {spec.name} must be > {spec.minimum}")
        elif not spec.exclusive_minimum and value < spec.minimum:
            errors.append(f"参数 {spec.name}（{spec.label}）不能小于 {spec.minimum} / {spec.name} must be ≥ {spec.minimum}")
    if spec.maximum is not None and value > spec.maximum:
        errors.append(f"参数 {spec.name}（{spec.label}）不能大于 {spec.maximum} / {spec.name} must be ≤ {spec.maximum}")


def validate_ranges(rows, *, name: str, value_key: str, errors: list[str]) -> list[dict] | None:
    """Bands / tiers: a list of {lo, hi, <value_key>} that covers [0, ∞) without gaps or overlaps.

    Sorted by ``lo``: the first starts at 0, each next ``lo`` equals the previous ``hi``, only the last has
    ``hi`` empty (∞), and every ``hi`` is greater than its ``lo``.
    """
    if not isinstance(rows, list) or not rows:
        errors.append(f"参数 {name} 必须是非空的区间列表 / {name} must be a non-empty list of ranges")
        return None
    parsed = []
    for index, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            errors.append(f"{name} 第{index}段格式错误 / {name} row {index} must be an object")
            return None
        lo = _dec(row.get("lo"), name=f"{name}[{index}].lo", errors=errors)
        hi_raw = row.get("hi")
        hi = None if hi_raw in (None, "", "inf", "∞") else _dec(hi_raw, name=f"{name}[{index}].hi", errors=errors)
        value = _dec(row.get(value_key), name=f"{name}[{index}].{value_key}", errors=errors)
        if lo is None or value is None or (hi_raw not in (None, "", "inf", "∞") and hi is None):
            return None
        parsed.append({"lo": lo, "hi": hi, value_key: value})
    parsed.sort(key=lambda r: r["lo"])
    if parsed[0]["lo"] != ZERO:
        errors.append(f"{name} 必须从 0 开始覆盖 [0, ∞)（缺口 [0, {parsed[0]['lo']})）/ {name} must start at 0")
    for previous, current in itertools.pairwise(parsed):
        if previous["hi"] is None:
            errors.append(f"{name} 只有最后一段可以无上限 / only the last range may be open-ended")
            break
        if current["lo"] > previous["hi"]:
            errors.append(f"{name} 有缺口 [{previous['hi']}, {current['lo']}) / {name} has a gap")
        elif current["lo"] < previous["hi"]:
            errors.append(f"{name} 区间重叠 [{current['lo']}, {previous['hi']}) / {name} ranges overlap")
    for row in parsed:
        if row["hi"] is not None and row["hi"] <= row["lo"]:
            errors.append(f"{name} 区间上限必须大于下限（{row['lo']}–{row['hi']}）/ hi must exceed lo")
    if parsed[-1]["hi"] is not None:
        errors.append(f"{name} 最后一段必须无上限以覆盖到 ∞ / the last range must be open-ended (to ∞)")
    return parsed


def _validate_points(rows, *, name: str, errors: list[str]) -> list[tuple[Decimal, Decimal]] | None:
    if not isinstance(rows, list) or len(rows) < 2:
        errors.append(f"参数 {name} 至少需要两个节点 [x, y] / {name} needs at least two [x, y] points")
        return None
    points = []
    for index, row in enumerate(rows, start=1):
        if not isinstance(row, list | tuple) or len(row) != 2:
            errors.append(f"{name} 第{index}个节点应为 [x, y] / point {index} must be [x, y]")
            return None
        x = _dec(row[0], name=f"{name}[{index}].x", errors=errors)
        y = _dec(row[1], name=f"{name}[{index}].y", errors=errors)
        if x is None or y is None:
            return None
        points.append((x, y))
    if points[0][0] != ZERO:
        errors.append(f"{name} 第一个节点必须在 x=0（覆盖 [0, ∞)）/ the first point must be at x = 0")
    for (x0, _), (x1, _) in itertools.pairwise(points):
        if x1 <= x0:
            errors.append(f"{name} 的 x 必须严格递增 / x values must strictly increase")
            break
    return points


@dataclass(frozen=True)
class FormulaKind:
    code: str
    name: str
    params: tuple[Param, ...]
    evaluate: Callable[[FormulaInput, dict], FormulaResult]
    needs_target: bool = True
    needs_peers: bool = False
    directions: tuple[str, ...] = ("higher", "lower")
    item_kinds: tuple[str, ...] = ("weighted",)
    description: str = ""
    extra_check: Callable[[dict, list[str]], None] | None = None


def validate_parameters(kind: str, params: dict | None) -> dict:
    """Check ``params`` against the formula's specification; return them normalised (numbers as strings).

    Raises FormulaParameterError listing every problem (missing required parameter, wrong type, out of range,
    bands with gaps or overlaps)."""
    spec = CATALOGUE.get(kind)
    if spec is None:
        raise FormulaParameterError(f"未知的公式类型：{kind} / unknown formula kind {kind}")
    params = dict(params or {})
    errors: list[str] = []
    normalised: dict = {}
    known = {p.name for p in spec.params}
    for unknown in sorted(set(params) - known):
        errors.append(f"公式 {kind} 没有参数 {unknown} / {kind} has no parameter {unknown}")
    for p in spec.params:
        raw = params.get(p.name)
        if raw in (None, ""):
            if p.required:
                errors.append(f"公式 {kind} 缺少必填参数 {p.name}（{p.label}）/ {kind}: missing required parameter {p.name}")
            elif p.default is not None:
                normalised[p.name] = p.default
            continue
        if p.kind == "decimal":
            value = _dec(raw, name=p.name, errors=errors)
            if value is not None:
                _check_range(value, p, errors)
                normalised[p.name] = str(value)
        elif p.kind == "int":
            value = _dec(raw, name=p.name, errors=errors)
            if value is not None:
                if value != value.to_integral_value():
                    errors.append(f"参数 {p.name} 必须是整数 / {p.name} must be an integer")
                else:
                    _check_range(value, p, errors)
                    normalised[p.name] = int(value)
        elif p.kind == "choice":
            if raw not in p.choices:
                errors.append(f"参数 {p.name} 只能取 {'/'.join(p.choices)} / {p.name} must be one of {', '.join(p.choices)}")
            else:
                normalised[p.name] = raw
        elif p.kind in ("bands", "tiers"):
            value_key = "score" if p.kind == "bands" else "rate"
            rows = validate_ranges(raw, name=p.name, value_key=value_key, errors=errors)
            if rows is not None:
                normalised[p.name] = [
                    {"lo": str(r["lo"]), "hi": None if r["hi"] is None else str(r["hi"]), value_key: str(r[value_key])}
                    for r in rows
                ]
        elif p.kind == "points":
            points = _validate_points(raw, name=p.name, errors=errors)
            if points is not None:
                normalised[p.name] = [[str(x), str(y)] for x, y in points]
        elif p.kind == "table":
            if not isinstance(raw, list) or not raw:
                errors.append(f"参数 {p.name} 必须是非空列表 / {p.name} must be a non-empty list")
            else:
                values = [_dec(v, name=f"{p.name}[{i}]", errors=errors) for i, v in enumerate(raw, start=1)]
                if all(v is not None for v in values):
                    normalised[p.name] = [str(v) for v in values]
    if spec.extra_check and not errors:
        spec.extra_check(normalised, errors)
    if errors:
        raise FormulaParameterError(
            "公式参数错误：" + "；".join(errors),
            "invalid formula parameters: " + "; ".join(errors),
            extra={"errors": errors},
        )
    return normalised


# --------------------------------------------------------------------------------------------------
# evaluation
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FormulaInput:
    actual: Decimal | None
    target: Decimal | None = None
    weight: Decimal = ZERO
    base: Decimal | None = None  # F11: base-period daily average
    rank: int | None = None  # F12: competition rank in the peer group
    peer_count: int | None = None  # F12: size of the peer group


@dataclass(frozen=True)
class FormulaResult:
    score: Decimal
    ratio: Decimal | None = None
    steps: tuple[str, ...] = field(default_factory=tuple)
    gate_cap: Decimal | None = None  # F14: the cap on the total when the gate triggered

    @property
    def explanation(self) -> str:
        return "；".join(self.steps)


def _d(params: dict, name: str, default=None) -> Decimal | None:
    value = params.get(name, default)
    if value in (None, ""):
        return None
    return value if isinstance(value, Decimal) else to_decimal(value)


def clamp(value: Decimal, low: Decimal, high: Decimal) -> Decimal:
    return max(low, min(value, high))


_EXPLAIN = contextvars.ContextVar("performance_formula_explain", default=True)


@contextlib.contextmanager
def quiet():
    """Evaluate without building the human-readable steps (the close scores 150,000 lines; pages and the
    what-if tester explain)."""
    token = _EXPLAIN.set(False)
    try:
        yield
    finally:
        _EXPLAIN.reset(token)


def fmt(value: Decimal | None) -> str:
    if value is None:
        return "—"
    if not _EXPLAIN.get():
        return ""
    value = round_to(value, 6).normalize()
    return format(value, "f")


def prepare(params):
    """Numbers in parameters (strings after validation) become Decimal once, before evaluating many lines."""
    if isinstance(params, dict):
        return {key: prepare(value) for key, value in params.items()}
    if isinstance(params, list):
        return [prepare(value) for value in params]
    if isinstance(params, str):
        try:
            return Decimal(params)
        except InvalidOperation:
            return params
    return params


def achievement_ratio(actual: Decimal, target: Decimal, *, scale: Decimal | None = None) -> tuple[Decimal, str]:
    """r = A/T for T > 0; F10 for T ≤ 0: r = 1 + (A − T)/|T|, with |T| replaced by ``scale`` when T = 0."""
    if target > 0:
        return actual / target, f"r = A/T = {fmt(actual)}/{fmt(target)}"
    if target == 0:
        if scale is None or scale <= 0:
            raise FormulaEvaluationError(
                "目标为 0 时需要参数 scale（F10）/ a zero target needs the scale parameter (F10)", code="zero_target"
            )
        return ONE + (actual - target) / scale, f"F10: r = 1 + (A − T)/scale = 1 + ({fmt(actual)} − 0)/{fmt(scale)}"
    return ONE + (actual - target) / abs(
        target
    ), f"F10: r = 1 + (A − T)/|T| = 1 + ({fmt(actual)} − ({fmt(target)}))/{fmt(abs(target))}"


def _need(inp: FormulaInput, *, target: bool = True) -> None:
    if inp.actual is None:
        raise FormulaEvaluationError("缺少实际值 / actual value missing", code="no_actual")
    if target and inp.target is None:
        raise FormulaEvaluationError("缺少目标值 / target missing", code="no_target")


def _result(score: Decimal, ratio: Decimal | None, steps: list[str]) -> FormulaResult:
    rounded = round_to(score, SCORE_PLACES)
    if not _EXPLAIN.get():
        return FormulaResult(score=rounded, ratio=None if ratio is None else round_to(ratio, 6))
    steps.append(f"S = {fmt(rounded)}")
    return FormulaResult(score=rounded, ratio=None if ratio is None else round_to(ratio, 6), steps=tuple(steps))


def f1_linear_capped(inp: FormulaInput, params: dict) -> FormulaResult:
    """F1 S = W·clamp(r, floor, c)."""
    _need(inp)
    r, step = achievement_ratio(inp.actual, inp.target, scale=_d(params, "scale"))
    cap, floor = _d(params, "cap"), _d(params, "floor", "0")
    factor = clamp(r, floor, cap)
    return _result(
        inp.weight * factor,
        r,
        [f"{step} = {fmt(r)}", f"S = W·clamp(r, {fmt(floor)}, {fmt(cap)}) = {fmt(inp.weight)}×{fmt(factor)}"],
    )


def f2_threshold_gate(inp: FormulaInput, params: dict) -> FormulaResult:
    """F2 S = 0 if r < θ else W·min(r, c)."""
    _need(inp)
    r, step = achievement_ratio(inp.actual, inp.target, scale=_d(params, "scale"))
    theta, cap = _d(params, "threshold"), _d(params, "cap")
    if r < theta:
        return _result(ZERO, r, [f"{step} = {fmt(r)}", f"r < θ = {fmt(theta)}，得 0 分"])
    factor = min(r, cap)
    return _result(
        inp.weight * factor, r, [f"{step} = {fmt(r)}", f"r ≥ θ：S = W·min(r, {fmt(cap)}) = {fmt(inp.weight)}×{fmt(factor)}"]
    )


def f4_step_bonus(inp: FormulaInput, params: dict) -> FormulaResult:
    """F4 S = W·clamp(r, 0, 1) + min(max_bonus, bonus_per_step · ⌊(r − 1)/step⌋) when r > 1."""
    _need(inp)
    r, step_text = achievement_ratio(inp.actual, inp.target, scale=_d(params, "scale"))
    step, per_step, max_bonus = _d(params, "step"), _d(params, "bonus_per_step"), _d(params, "max_bonus")
    base = inp.weight * clamp(r, ZERO, ONE)
    steps = [f"{step_text} = {fmt(r)}", f"基础分 W·clamp(r,0,1) = {fmt(base)}"]
    bonus = ZERO
    if r > ONE:
        count = ((r - ONE) / step).to_integral_value(rounding="ROUND_FLOOR")
        bonus = min(max_bonus, per_step * count)
        steps.append(f"超额 {fmt(count)} 档 × {fmt(per_step)}，封顶 {fmt(max_bonus)}：加 {fmt(bonus)}")
    return _result(base + bonus, r, steps)


def f5_shortfall_deduction(inp: FormulaInput, params: dict) -> FormulaResult:
    """F5 S = W if r ≥ θ, else max(0, W − k·(θ − r)·100) (k points per percentage point below θ)."""
    _need(inp)
    r, step = achievement_ratio(inp.actual, inp.target, scale=_d(params, "scale"))
    theta, k = _d(params, "threshold", "1"), _d(params, "points_per_pp")
    if r >= theta:
        return _result(inp.weight, r, [f"{step} = {fmt(r)}", f"r ≥ θ = {fmt(theta)}：满分 W"])
    shortfall_pp = (theta - r) * HUNDRED
    score = max(ZERO, inp.weight - k * shortfall_pp)
    return _result(
        score,
        r,
        [f"{step} = {fmt(r)}", f"低于 θ {fmt(shortfall_pp)} 个百分点 × {fmt(k)} 分：W − {fmt(k * shortfall_pp)}，不低于 0"],
    )


def _basis(inp: FormulaInput, params: dict) -> tuple[Decimal, Decimal | None, str]:
    if params.get("basis", "ratio") == "actual":
        _need(inp, target=False)
        return inp.actual, None, f"x = A = {fmt(inp.actual)}"
    _need(inp)
    r, step = achievement_ratio(inp.actual, inp.target, scale=_d(params, "scale"))
    return r, r, f"x = {step} = {fmt(r)}"


def f6_bands(inp: FormulaInput, params: dict) -> FormulaResult:
    """F6 band lookup: the band [lo, hi) containing x gives the score (fraction of W, or points)."""
    x, r, step = _basis(inp, params)
    x_band = max(x, ZERO)
    for band in params["bands"]:
        lo, hi = to_decimal(band["lo"]), None if band["hi"] is None else to_decimal(band["hi"])
        if x_band >= lo and (hi is None or x_band < hi):
            value = to_decimal(band["score"])
            label = f"[{fmt(lo)}, {'∞' if hi is None else fmt(hi)})"
            if params.get("unit", "fraction") == "points":
                return _result(value, r, [step, f"落在区间 {label}：{fmt(value)} 分"])
            return _result(inp.weight * value, r, [step, f"落在区间 {label}：W×{fmt(value)}"])
    raise FormulaEvaluationError("区间未覆盖该值 / no band covers the value")  # unreachable after validation


def f7_tiered_marginal(inp: FormulaInput, params: dict) -> FormulaResult:
    """F7 S = Σ rateⱼ·max(0, min(x, hiⱼ) − loⱼ), optionally capped at max_score."""
    x, r, step = _basis(inp, params)
    total = ZERO
    parts = []
    for tier in params["tiers"]:
        lo, hi = to_decimal(tier["lo"]), None if tier["hi"] is None else to_decimal(tier["hi"])
        upper = x if hi is None else min(x, hi)
        portion = max(ZERO, upper - lo)
        if portion:
            amount = to_decimal(tier["rate"]) * portion
            total += amount
            parts.append(f"{fmt(tier['rate'])}×{fmt(portion)}")
    steps = [step, "Σ = " + (" + ".join(parts) if parts else "0") + f" = {fmt(total)}"]
    max_score = _d(params, "max_score")
    if max_score is not None and total > max_score:
        total = max_score
        steps.append(f"封顶 {fmt(max_score)}")
    return _result(total, r, steps)


def interpolate(points: Sequence[tuple[Decimal, Decimal]], x: Decimal) -> Decimal:
    if x <= points[0][0]:
        return points[0][1]
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if x <= x1:
            return y0 + (x - x0) * (y1 - y0) / (x1 - x0)
    return points[-1][1]


def f8_interpolated(inp: FormulaInput, params: dict) -> FormulaResult:
    """F8 piecewise-linear through the points (x, y); y is a fraction of W; flat outside the points."""
    x, r, step = _basis(inp, params)
    points = [(to_decimal(a), to_decimal(b)) for a, b in params["points"]]
    y = interpolate(points, x)
    return _result(inp.weight * y, r, [step, f"插值 y(x) = {fmt(y)}", f"S = W×y = {fmt(inp.weight)}×{fmt(y)}"])


def f9_lower_better(inp: FormulaInput, params: dict) -> FormulaResult:
    """F9 lower is better. Variants:
    ratio: S = W·clamp(T/A, 0, c) (A = 0 → W·c; A = T = 0 → W);
    linear_penalty: S = W − k·(A − T)/unit when A > T, floor 0;
    binary: S = W if A ≤ T else 0;
    bounded: S = W·clamp(1 − (A − T)/|T|, floor, 1) (|T| replaced by scale when T = 0)."""
    _need(inp)
    a, t, w = inp.actual, inp.target, inp.weight
    variant = params["variant"]
    if variant == "ratio":
        cap = _d(params, "cap")
        if a <= 0:
            r = ONE if t <= 0 else cap
            return _result(w * min(r, cap), r, [f"A = {fmt(a)} ≤ 0：r = {fmt(r)}", f"S = W×{fmt(min(r, cap))}"])
        r = max(t, ZERO) / a
        factor = clamp(r, ZERO, cap)
        return _result(
            w * factor, r, [f"r = T/A = {fmt(t)}/{fmt(a)} = {fmt(r)}", f"S = W·clamp(r, 0, {fmt(cap)}) = {fmt(w)}×{fmt(factor)}"]
        )
    if variant == "binary":
        ok = a <= t
        return _result(w if ok else ZERO, None, [f"A = {fmt(a)} {'≤' if ok else '>'} T = {fmt(t)}", "满分" if ok else "0 分"])
    if variant == "linear_penalty":
        if a <= t:
            return _result(w, None, [f"A = {fmt(a)} ≤ T = {fmt(t)}：满分"])
        k, unit = _d(params, "penalty_per_unit"), _d(params, "unit")
        units = (a - t) / unit
        score = max(ZERO, w - k * units)
        return _result(
            score,
            None,
            [f"超出 (A − T)/unit = ({fmt(a)} − {fmt(t)})/{fmt(unit)} = {fmt(units)}", f"S = max(0, W − {fmt(k)}×{fmt(units)})"],
        )
    # bounded proportional penalty
    if a <= t:
        return _result(w, None, [f"A = {fmt(a)} ≤ T = {fmt(t)}：满分"])
    floor = _d(params, "floor", "0")
    denominator = abs(t) if t != 0 else _d(params, "scale")
    if denominator is None or denominator <= 0:
        raise FormulaEvaluationError("目标为 0 时需要参数 scale / a zero target needs the scale parameter", code="zero_target")
    factor = clamp(ONE - (a - t) / denominator, floor, ONE)
    return _result(
        w * factor,
        None,
        [
            f"1 − (A − T)/|T| = 1 − ({fmt(a)} − {fmt(t)})/{fmt(denominator)}",
            f"S = W·clamp(…, {fmt(floor)}, 1) = {fmt(w)}×{fmt(factor)}",
        ],
    )


def f10_negative_target(inp: FormulaInput, params: dict) -> FormulaResult:
    """F10 r = 1 + (A − T)/|T| (|T| → scale when T = 0); S = W·clamp(r, 0, c). For any target sign."""
    _need(inp)
    a, t = inp.actual, inp.target
    scale = _d(params, "scale")
    denominator = abs(t) if t != 0 else scale
    r = ONE + (a - t) / denominator
    factor = clamp(r, ZERO, _d(params, "cap"))
    return _result(
        inp.weight * factor,
        r,
        [
            f"r = 1 + (A − T)/|T| = 1 + ({fmt(a)} − ({fmt(t)}))/{fmt(denominator)} = {fmt(r)}",
            f"S = W·clamp(r, 0, {fmt(_d(params, 'cap'))}) = {fmt(inp.weight)}×{fmt(factor)}",
        ],
    )


def f11_growth(inp: FormulaInput, params: dict) -> FormulaResult:
    """F11 growth on daily averages. absolute: g = A − B against a target growth T;
    rate: g = (A − B)/B against a target rate T (B = 0: g counts as reaching the cap when A > 0).
    S = W·clamp(g/T, 0, c); T ≤ 0 uses F10 on g."""
    _need(inp)
    if inp.base is None:
        raise FormulaEvaluationError("缺少基期日均 / base-period daily average missing", code="no_base")
    a, b, t = inp.actual, inp.base, inp.target
    cap = _d(params, "cap")
    steps = [f"A(日均) = {fmt(a)}，B(基期日均) = {fmt(b)}"]
    if params.get("mode", "absolute") == "rate":
        if b <= 0:
            r = cap if a > 0 else ZERO
            return _result(inp.weight * r, r, [*steps, f"基期为 0：r = {fmt(r)}"])
        g = (a - b) / b
        steps.append(f"增长率 g = (A − B)/B = {fmt(g)}")
    else:
        g = a - b
        steps.append(f"增量 g = A − B = {fmt(g)}")
    r, step = achievement_ratio(g, t, scale=_d(params, "scale"))
    factor = clamp(r, ZERO, cap)
    steps += [f"{step.replace('A', 'g')} = {fmt(r)}", f"S = W·clamp(r, 0, {fmt(cap)}) = {fmt(inp.weight)}×{fmt(factor)}"]
    return _result(inp.weight * factor, r, steps)


def f12_rank_score(inp: FormulaInput, params: dict) -> FormulaResult:
    """F12 rank score with competition ranking (1, 2, 2, 4) in the peer group.
    linear: S = W·(n − rank)/(n − 1) (n = 1 → W); table: points by rank (ranks past the table get 0)."""
    if inp.rank is None or not inp.peer_count:
        raise FormulaEvaluationError("缺少排名 / rank missing", code="no_rank")
    n, rank = inp.peer_count, inp.rank
    if params.get("mode", "linear") == "table":
        table = params["table"]
        value = to_decimal(table[rank - 1]) if rank <= len(table) else ZERO
        return _result(value, None, [f"名次 {rank}/{n}", f"查表得 {fmt(value)} 分"])
    if n == 1:
        return _result(inp.weight, None, ["名次 1/1：满分 W"])
    factor = Decimal(n - rank) / Decimal(n - 1)
    return _result(
        inp.weight * factor, None, [f"名次 {rank}/{n}", f"S = W·(n − rank)/(n − 1) = {fmt(inp.weight)}×{n - rank}/{n - 1}"]
    )


def f14_gate(inp: FormulaInput, params: dict) -> FormulaResult:
    """F14 gate / veto (一票否决): when A op threshold, the total is capped at ``cap`` (0 = veto)."""
    _need(inp, target=False)
    a, threshold = inp.actual, _d(params, "threshold")
    op = params["op"]
    triggered = {">": a > threshold, ">=": a >= threshold, "<": a < threshold, "<=": a <= threshold, "==": a == threshold}[op]
    if triggered:
        cap = _d(params, "cap")
        return FormulaResult(
            score=ZERO, gate_cap=round_to(cap, TOTAL_PLACES), steps=(f"A = {fmt(a)} {op} {fmt(threshold)}：总分封顶 {fmt(cap)}",)
        )
    return FormulaResult(score=ZERO, steps=(f"A = {fmt(a)}，未触发门槛 / gate not triggered",))


def _check_lower_better(normalised: dict, errors: list[str]) -> None:
    variant = normalised.get("variant")
    needed = {"ratio": ("cap",), "linear_penalty": ("penalty_per_unit", "unit"), "bounded": ("floor",), "binary": ()}
    for name in needed.get(variant, ()):
        if name not in normalised:
            errors.append(f"F9 变体 {variant} 缺少必填参数 {name} / F9 {variant}: missing required parameter {name}")


def _check_rank(normalised: dict, errors: list[str]) -> None:
    if normalised.get("mode") == "table" and "table" not in normalised:
        errors.append("F12 查表模式缺少必填参数 table / F12 table mode: missing required parameter table")


_SCALE = Param("scale", "目标为0时的标尺", required=False, minimum=ZERO, exclusive_minimum=True)
_CAP = Param("cap", "封顶系数 c", minimum=ZERO, exclusive_minimum=True)

CATALOGUE: dict[str, FormulaKind] = {
    "F1": FormulaKind(
        "F1",
        "线性封顶 linear capped",
        (_CAP, Param("floor", "保底系数", required=False, default="0", minimum=ZERO), _SCALE),
        f1_linear_capped,
        directions=("higher",),
        description="S = W·clamp(r, floor, c)",
    ),
    "F2": FormulaKind(
        "F2",
        "门槛 threshold gate",
        (Param("threshold", "门槛 θ", minimum=ZERO), _CAP, _SCALE),
        f2_threshold_gate,
        directions=("higher",),
        description="S = 0 if r < θ else W·min(r, c)",
    ),
    "F4": FormulaKind(
        "F4",
        "超额阶梯加分 step bonus",
        (
            Param("step", "档距 Δ", minimum=ZERO, exclusive_minimum=True),
            Param("bonus_per_step", "每档加分 s", minimum=ZERO),
            Param("max_bonus", "加分上限", minimum=ZERO),
            _SCALE,
        ),
        f4_step_bonus,
        directions=("higher",),
        description="S = W·clamp(r,0,1) + min(max, s·⌊(r−1)/Δ⌋)",
    ),
    "F5": FormulaKind(
        "F5",
        "差额扣分 shortfall deduction",
        (
            Param("threshold", "门槛 θ", required=False, default="1", minimum=ZERO),
            Param("points_per_pp", "每百分点扣分 k", minimum=ZERO, exclusive_minimum=True),
            _SCALE,
        ),
        f5_shortfall_deduction,
        directions=("higher",),
        description="S = W − k per percentage point below θ, floor 0",
    ),
    "F6": FormulaKind(
        "F6",
        "区间查表 band lookup",
        (
            Param("bands", "区间 [{lo, hi, score}]", kind="bands"),
            Param("basis", "取值", kind="choice", required=False, default="ratio", choices=("ratio", "actual")),
            Param("unit", "得分单位", kind="choice", required=False, default="fraction", choices=("fraction", "points")),
            _SCALE,
        ),
        f6_bands,
        item_kinds=("weighted", "bonus", "deduction"),
        description="bands cover [0, ∞); score = W×fraction or points",
    ),
    "F7": FormulaKind(
        "F7",
        "分段累进 tiered marginal",
        (
            Param("tiers", "分段 [{lo, hi, rate}]", kind="tiers"),
            Param("basis", "取值", kind="choice", required=False, default="actual", choices=("ratio", "actual")),
            Param("max_score", "封顶分", required=False, minimum=ZERO),
            _SCALE,
        ),
        f7_tiered_marginal,
        needs_target=False,
        item_kinds=("weighted", "bonus", "deduction"),
        description="S = Σ rateⱼ·max(0, min(x, hiⱼ) − loⱼ)",
    ),
    "F8": FormulaKind(
        "F8",
        "插值 interpolated bands",
        (
            Param("points", "节点 [[x, y], …]", kind="points"),
            Param("basis", "取值", kind="choice", required=False, default="ratio", choices=("ratio", "actual")),
            _SCALE,
        ),
        f8_interpolated,
        description="S = W·y(x), piecewise linear",
    ),
    "F9": FormulaKind(
        "F9",
        "逆向指标 lower is better",
        (
            Param("variant", "变体", kind="choice", choices=("ratio", "linear_penalty", "binary", "bounded")),
            Param("cap", "封顶系数 c", required=False, minimum=ZERO, exclusive_minimum=True),
            Param("penalty_per_unit", "每单位扣分 k", required=False, minimum=ZERO, exclusive_minimum=True),
            Param("unit", "单位步长", required=False, minimum=ZERO, exclusive_minimum=True),
            Param("floor", "保底系数", required=False, minimum=ZERO, maximum=ONE),
            _SCALE,
        ),
        f9_lower_better,
        directions=("lower",),
        description="ratio T/A capped, linear penalty, binary, bounded proportional penalty",
        extra_check=_check_lower_better,
    ),
    "F10": FormulaKind(
        "F10",
        "负目标/零目标 negative or zero target",
        (_CAP, Param("scale", "目标为0时的标尺", minimum=ZERO, exclusive_minimum=True)),
        f10_negative_target,
        directions=("higher",),
        description="r = 1 + (A − T)/|T|; S = W·clamp(r, 0, c)",
    ),
    "F11": FormulaKind(
        "F11",
        "日均增长 growth on daily averages",
        (_CAP, Param("mode", "口径", kind="choice", required=False, default="absolute", choices=("absolute", "rate")), _SCALE),
        f11_growth,
        directions=("higher",),
        description="g = A − B (or (A − B)/B); S = W·clamp(g/T, 0, c)",
    ),
    "F12": FormulaKind(
        "F12",
        "排名得分 rank score",
        (
            Param("mode", "模式", kind="choice", required=False, default="linear", choices=("linear", "table")),
            Param("table", "名次得分表", kind="table", required=False),
        ),
        f12_rank_score,
        needs_target=False,
        needs_peers=True,
        description="competition ranking 1,2,2,4; S = W·(n − rank)/(n − 1)",
        extra_check=_check_rank,
    ),
    "F14": FormulaKind(
        "F14",
        "门槛/一票否决 gate or veto",
        (
            Param("op", "比较", kind="choice", choices=(">", ">=", "<", "<=", "==")),
            Param("threshold", "阈值"),
            Param("cap", "触发后总分上限（0=否决）", minimum=ZERO),
        ),
        f14_gate,
        needs_target=False,
        item_kinds=("gate",),
        description="when A op threshold the total is capped (0 = veto)",
    ),
}

ITEM_FORMULA_CHOICES = [(code, f"{code} {kind.name}") for code, kind in CATALOGUE.items()]


def evaluate(kind: str, inp: FormulaInput, params: dict) -> FormulaResult:
    """Evaluate one item; parameters must have been validated (``validate_parameters``)."""
    return CATALOGUE[kind].evaluate(inp, params)


# --------------------------------------------------------------------------------------------------
# F12 competition ranking, F13 composite, F14 gates, F16 grades, F17 incentive, F18 attribution
# --------------------------------------------------------------------------------------------------


def competition_ranks(values: Iterable[tuple[object, Decimal]], *, higher_is_better: bool = True) -> dict[object, int]:
    """Standard competition ranking ("1224"): equal values share the best rank, the next rank skips."""
    ordered = sorted(values, key=lambda kv: kv[1], reverse=higher_is_better)
    ranks: dict[object, int] = {}
    previous = None
    current_rank = 0
    for position, (key, value) in enumerate(ordered, start=1):
        if previous is None or value != previous:
            current_rank = position
            previous = value
        ranks[key] = current_rank
    return ranks


@dataclass(frozen=True, slots=True)
class ItemScore:
    kind: str  # weighted | bonus | deduction | gate
    weight: Decimal
    score: Decimal | None  # None: not scored (no target / no data) → excluded (F13)
    gate_cap: Decimal | None = None


@dataclass(frozen=True)
class Composite:
    weighted: Decimal
    active_weight: Decimal
    bonus: Decimal
    deduction: Decimal
    gate_cap: Decimal | None
    total: Decimal
    steps: tuple[str, ...]


def composite(items: Sequence[ItemScore], *, renormalise: bool = True) -> Composite:
    """F13 + F14: weighted sum, renormalised over the items that have a target when some have none
    (Σ S · 100/Σ W_active); then + bonuses − deductions (floor 0); then the lowest triggered gate caps it."""
    weighted_items = [i for i in items if i.kind == "weighted"]
    active = [i for i in weighted_items if i.score is not None]
    active_weight = sum((i.weight for i in active), ZERO)
    raw = sum((i.score for i in active), ZERO)
    full_weight = sum((i.weight for i in weighted_items), ZERO)
    steps = [f"加权得分 Σ S = {fmt(raw)}"]
    if renormalise and active_weight and active_weight != full_weight:
        weighted = raw * HUNDRED / active_weight
        steps.append(f"F13 权重归一：{fmt(raw)} × 100/{fmt(active_weight)} = {fmt(weighted)}")
    else:
        weighted = raw
    bonus = sum((i.score for i in items if i.kind == "bonus" and i.score is not None), ZERO)
    deduction = sum((i.score for i in items if i.kind == "deduction" and i.score is not None), ZERO)
    total = max(ZERO, weighted + bonus - deduction)
    if bonus or deduction:
        steps.append(f"加分 {fmt(bonus)}，扣分 {fmt(deduction)}：{fmt(total)}")
    caps = [i.gate_cap for i in items if i.kind == "gate" and i.gate_cap is not None]
    gate_cap = min(caps) if caps else None
    if gate_cap is not None and total > gate_cap:
        total = gate_cap
        steps.append(f"F14 门槛触发：总分封顶 {fmt(gate_cap)}")
    total = round_to(total, TOTAL_PLACES)
    return Composite(round_to(weighted, SCORE_PLACES), active_weight, bonus, deduction, gate_cap, total, tuple(steps))


class GradingError(FormulaParameterError):
    code = "invalid_grading"


def validate_grading(config: dict | None) -> dict:
    """F16 configuration: thresholds [{grade, min}] covering [0, ∞) (a grade with min 0 must exist), and an
    optional forced distribution [{grade, percent}] over the same grades summing to 100."""
    config = dict(config or {})
    errors: list[str] = []
    thresholds = config.get("thresholds") or []
    parsed = []
    if not isinstance(thresholds, list) or not thresholds:
        errors.append("等级阈值不能为空 / grade thresholds are required")
    else:
        for index, row in enumerate(thresholds, start=1):
            grade = str((row or {}).get("grade", "")).strip() if isinstance(row, dict) else ""
            minimum = _dec(
                (row or {}).get("min") if isinstance(row, dict) else None, name=f"thresholds[{index}].min", errors=errors
            )
            if not grade:
                errors.append(f"第{index}个等级缺少名称 / threshold {index} needs a grade")
            if grade and minimum is not None:
                parsed.append((grade, minimum))
        if parsed:
            grades = [g for g, _ in parsed]
            if len(set(grades)) != len(grades):
                errors.append("等级名称重复 / duplicate grades")
            mins = [m for _, m in parsed]
            if len(set(mins)) != len(mins):
                errors.append("等级阈值重复（区间重叠）/ duplicate thresholds overlap")
            if ZERO not in mins:
                errors.append("等级阈值必须包含 0 以覆盖 [0, ∞) / thresholds must include 0 to cover [0, ∞)")
            if any(m < 0 for m in mins):
                errors.append("等级阈值不能为负 / thresholds must not be negative")
    method = config.get("method", "thresholds")
    if method not in ("thresholds", "forced"):
        errors.append("评级方法只能是 thresholds 或 forced / method must be thresholds or forced")
    distribution = []
    if method == "forced":
        rows = config.get("distribution") or []
        if not isinstance(rows, list) or not rows:
            errors.append("强制分布需要 distribution / forced distribution needs a distribution")
        else:
            for index, row in enumerate(rows, start=1):
                grade = str(row.get("grade", "")).strip() if isinstance(row, dict) else ""
                percent = _dec(
                    row.get("percent") if isinstance(row, dict) else None, name=f"distribution[{index}].percent", errors=errors
                )
                if grade and percent is not None:
                    if percent < 0:
                        errors.append("强制分布比例不能为负 / percent must not be negative")
                    distribution.append((grade, percent))
            if distribution and sum(p for _, p in distribution) != HUNDRED:
                errors.append(
                    f"强制分布比例合计必须为 100（当前 {fmt(sum(p for _, p in distribution))}）/ distribution must sum to 100"
                )
            if parsed and distribution and [g for g, _ in distribution] != [g for g, _ in sorted(parsed, key=lambda x: -x[1])]:
                errors.append(
                    "强制分布的等级须与阈值等级一致且从高到低 / distribution grades must match the thresholds, best first"
                )
    if errors:
        raise GradingError(
            "评级配置错误：" + "；".join(errors), "invalid grading: " + "; ".join(errors), extra={"errors": errors}
        )
    result = {"method": method, "thresholds": [{"grade": g, "min": str(m)} for g, m in sorted(parsed, key=lambda x: -x[1])]}
    if distribution:
        result["distribution"] = [{"grade": g, "percent": str(p)} for g, p in distribution]
    return result


def grade_by_thresholds(total: Decimal, thresholds: Sequence[dict]) -> str:
    """F16 thresholds: the best grade whose minimum the total reaches (thresholds sorted best first)."""
    for row in thresholds:
        if total >= to_decimal(row["min"]):
            return row["grade"]
    return thresholds[-1]["grade"]


def forced_distribution(totals: Iterable[tuple[object, Decimal]], distribution: Sequence[dict]) -> dict[object, str]:
    """F16 forced distribution: with competition ranks k and cumulative quotas cumⱼ = round_half_up(n·Σ pct/100),
    a staff member ranked k gets the first grade j with k ≤ cumⱼ. Ties share the better grade."""
    totals = list(totals)
    n = len(totals)
    ranks = competition_ranks(totals)
    cumulative = []
    running = ZERO
    for row in distribution:
        running += to_decimal(row["percent"])
        cumulative.append((row["grade"], round_to(Decimal(n) * running / HUNDRED, 0)))
    result = {}
    for key, rank in ranks.items():
        for grade, quota in cumulative:
            if rank <= quota:
                result[key] = grade
                break
        else:
            result[key] = cumulative[-1][0]
    return result


class IncentiveConfigError(FormulaParameterError):
    code = "invalid_incentive"


MIN_RISK_DEFERRAL_RATIO = Decimal("0.40")
MIN_RISK_DEFERRAL_YEARS = 3


def validate_incentive(config: dict | None, *, indicator_codes: Iterable[str] = ()) -> dict:
    """F17 configuration. method: none | pool | piece_rate. pool needs pool_amount; piece_rate needs rates
    {indicator code: tiers covering [0, ∞)}. grade_coefficients {grade: k ≥ 0}. Risk-relevant roles defer at
    least 40 % over at least 3 years (deferral_ratio, deferral_years); clawback_rate in [0, 1]."""
    config = dict(config or {})
    errors: list[str] = []
    method = config.get("method", "none")
    out: dict = {"method": method}
    if method not in ("none", "pool", "piece_rate"):
        errors.append("激励方法只能是 none/pool/piece_rate / method must be none, pool or piece_rate")
    if method == "pool":
        pool = _dec(config.get("pool_amount"), name="pool_amount", errors=errors)
        if pool is not None:
            if pool <= 0:
                errors.append("奖金池金额必须大于 0 / pool_amount must be positive")
            out["pool_amount"] = str(round_fen(pool))
        out["pool_scope"] = config.get("pool_scope", "peer_group")
        if out["pool_scope"] not in ("peer_group", "institution"):
            errors.append("pool_scope 只能是 peer_group 或 institution / pool_scope must be peer_group or institution")
    if method == "piece_rate":
        rates = config.get("rates")
        if not isinstance(rates, dict) or not rates:
            errors.append("计件激励需要 rates {指标代码: 分段} / piece_rate needs rates")
        else:
            known = set(indicator_codes)
            out["rates"] = {}
            for code, tiers in rates.items():
                if known and code not in known:
                    errors.append(f"计件指标 {code} 不在方案中 / piece-rate indicator {code} is not in the scheme")
                parsed = validate_ranges(tiers, name=f"rates.{code}", value_key="rate", errors=errors)
                if parsed is not None:
                    out["rates"][code] = [
                        {"lo": str(r["lo"]), "hi": None if r["hi"] is None else str(r["hi"]), "rate": str(r["rate"])}
                        for r in parsed
                    ]
    coefficients = config.get("grade_coefficients") or {}
    if not isinstance(coefficients, dict):
        errors.append("grade_coefficients 必须是 {等级: 系数} / grade_coefficients must be a mapping")
        coefficients = {}
    out["grade_coefficients"] = {}
    for grade, value in coefficients.items():
        parsed_value = _dec(value, name=f"grade_coefficients.{grade}", errors=errors)
        if parsed_value is not None:
            if parsed_value < 0:
                errors.append(f"等级系数不能为负（{grade}）/ coefficients must not be negative")
            out["grade_coefficients"][grade] = str(parsed_value)
    risk = bool(config.get("risk_relevant", False))
    out["risk_relevant"] = risk
    ratio = _dec(config.get("deferral_ratio", "0.40" if risk else "0"), name="deferral_ratio", errors=errors)
    years_raw = _dec(config.get("deferral_years", 3 if risk else 0), name="deferral_years", errors=errors)
    if ratio is not None:
        if not (ZERO <= ratio <= ONE):
            errors.append("延期比例须在 0 到 1 之间 / deferral_ratio must be within [0, 1]")
        if risk and ratio < MIN_RISK_DEFERRAL_RATIO:
            errors.append("风险相关岗位延期支付比例不得低于 40% / risk-relevant roles must defer at least 40 %")
        out["deferral_ratio"] = str(ratio)
    if years_raw is not None:
        if years_raw != years_raw.to_integral_value() or years_raw < 0:
            errors.append("延期年限必须是非负整数 / deferral_years must be a non-negative integer")
        elif risk and years_raw < MIN_RISK_DEFERRAL_YEARS:
            errors.append("风险相关岗位延期期限不得少于 3 年 / risk-relevant roles must defer over at least 3 years")
        out["deferral_years"] = int(years_raw)
    if ratio is not None and years_raw is not None and ratio > 0 and int(years_raw) < 1:
        errors.append("有延期比例时延期年限至少 1 年 / a deferral needs at least one year")
    clawback = _dec(config.get("clawback_rate", "0"), name="clawback_rate", errors=errors)
    if clawback is not None:
        if not (ZERO <= clawback <= ONE):
            errors.append("追索比例须在 0 到 1 之间 / clawback_rate must be within [0, 1]")
        out["clawback_rate"] = str(clawback)
    if errors:
        raise IncentiveConfigError(
            "激励配置错误：" + "；".join(errors), "invalid incentive: " + "; ".join(errors), extra={"errors": errors}
        )
    return out


def pool_split(pool: Decimal, points: Sequence[tuple[object, Decimal]]) -> dict[object, Decimal]:
    """F17 pool split: amountᵢ = pool × pointsᵢ/Σ points, in fen, summing exactly to the pool (nobody with
    points gets a negative part; when nobody has points the pool is not paid out)."""
    points = [(key, max(ZERO, p)) for key, p in points]
    if not points or sum(p for _, p in points) <= 0:
        return {key: Decimal("0.00") for key, _ in points}
    parts = split_amount(pool, [p for _, p in points])
    return {key: part for (key, _), part in zip(points, parts, strict=True)}


def piece_rate(actuals: dict[str, Decimal], rates: dict[str, list[dict]]) -> tuple[Decimal, list[str]]:
    """F17 piece rate: Σ over indicators of the F7 tiered marginal amount on the actual, rounded to the fen."""
    total = ZERO
    steps = []
    for code, tiers in rates.items():
        actual = actuals.get(code) or ZERO
        amount = f7_tiered_marginal(FormulaInput(actual=actual), {"tiers": tiers, "basis": "actual"}).score
        total += amount
        steps.append(f"{code}: {fmt(amount)}")
    return round_fen(total), steps


@dataclass(frozen=True)
class PayPlan:
    gross: Decimal
    immediate: Decimal
    deferred: Decimal
    installments: tuple[Decimal, ...]


def deferral_plan(gross, *, ratio, years: int) -> PayPlan:
    """F17 deferral: deferred = round_fen(gross × ratio), paid in ``years`` equal yearly parts (exact sum);
    immediate = gross − deferred."""
    gross = round_fen(gross)
    ratio = to_decimal(ratio)
    deferred = round_fen(gross * ratio) if years > 0 else Decimal("0.00")
    installments = tuple(split_amount(deferred, [1] * years)) if years > 0 and deferred > 0 else ()
    return PayPlan(gross=gross, immediate=gross - deferred, deferred=deferred, installments=installments)


class AttributionShareError(ApplicationError):
    code = "invalid_attribution_shares"


def validate_shares(shares: Sequence[tuple[object, object]]) -> list[tuple[object, Decimal]]:
    """F18: shares per customer are percentages > 0 with two decimals, one per staff member, summing to 100."""
    errors = []
    parsed = []
    seen = set()
    for key, raw in shares:
        value = _dec(raw, name="share", errors=errors)
        if value is None:
            continue
        if value <= 0 or value > HUNDRED:
            errors.append(f"份额须在 0 到 100 之间：{fmt(value)} / a share must be within (0, 100]")
        if value != round_to(value, 2):
            errors.append(f"份额最多两位小数：{fmt(value)} / at most two decimals")
        if key in seen:
            errors.append("同一员工只能出现一次 / a staff member may appear only once")
        seen.add(key)
        parsed.append((key, value))
    if not parsed:
        errors.append("至少需要一个归属员工 / at least one staff share")
    total = sum((v for _, v in parsed), ZERO)
    if parsed and total != HUNDRED:
        errors.append(f"归属份额合计必须为 100%（当前 {fmt(total)}%）/ shares must sum to 100 % (got {fmt(total)} %)")
    if errors:
        raise AttributionShareError("；".join(errors), "; ".join(errors), extra={"errors": errors})
    return parsed


def attribution_credit(metric, shares: Sequence[tuple[object, Decimal]], *, places: int = 4) -> list[tuple[object, Decimal]]:
    """F18 credited = metric × share/100 for each claimant; the last claimant takes the remainder so the parts
    sum exactly to the metric (Σ credited = metric)."""
    metric = to_decimal(metric)
    credited = []
    running = ZERO
    for index, (key, share) in enumerate(shares):
        if index == len(shares) - 1:
            part = metric - running
        else:
            part = round_to(metric * to_decimal(share) / HUNDRED, places)
            running += part
        credited.append((key, part))
    return credited

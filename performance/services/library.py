"""Indicator library, formula catalogue and versioned schemes: validation, publication, cloning, what-if."""

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from jikuai.core.exceptions import ApplicationError, Conflict
from jikuai.core.money import to_decimal
from performance import formulas
from performance.formulas import CATALOGUE, FormulaInput, FormulaParameterError, FormulaResult
from performance.models import Formula, Indicator, Scheme, SchemeItem, SchemeVersion
from performance.services.common import require_perm, user_of
from performance.services.facade_feed import FACADE_FIGURES
from performance.sources import EXTRACTORS

HUNDRED = Decimal(100)


class SchemeValidationError(ApplicationError):
    code = "invalid_scheme"


class IndicatorValidationError(ApplicationError):
    code = "invalid_indicator"


def indicator_validate(indicator: Indicator) -> None:
    """Extractors exist, at most one per topic, ratio indicators name their parts."""
    errors = []
    sources = indicator.sources or []
    if not isinstance(sources, list):
        errors.append("事件取数必须是代码列表 / sources must be a list of extractor codes")
        sources = []
    topics = []
    for code in sources:
        extractor = EXTRACTORS.get(code)
        if code in FACADE_FIGURES:
            if indicator.measure != Indicator.Measure.PERIOD_END:
                errors.append(f"模块接口取数 {code} 只能用于期末余额指标 / facade figures feed period-end indicators")
        elif extractor is None:
            errors.append(f"未知的取数规则 {code} / unknown extractor {code}")
        else:
            topics.append(extractor.topic)
    if len(topics) != len(set(topics)):
        errors.append("同一事件主题只能有一个取数规则 / one extractor per topic")
    if indicator.measure == Indicator.Measure.RATIO:
        if not (indicator.numerator_id and indicator.denominator_id):
            errors.append("比率指标需要分子和分母指标 / a ratio needs a numerator and a denominator")
        elif indicator.pk and indicator.pk in (indicator.numerator_id, indicator.denominator_id):
            errors.append("比率指标不能引用自身 / a ratio cannot reference itself")
        if sources:
            errors.append("比率指标由分子分母计算，不直接取数 / a ratio has no extractors of its own")
    if (
        indicator.data_source in (Indicator.DataSource.EVENT, Indicator.DataSource.FACADE)
        and indicator.measure != Indicator.Measure.RATIO
        and not sources
    ):
        errors.append("来源为总线事件的指标需要至少一个取数规则 / event indicators need at least one extractor")
    if errors:
        raise IndicatorValidationError("指标配置错误：" + "；".join(errors), "invalid indicator: " + "; ".join(errors))


def formula_validate(formula: Formula) -> dict:
    """Validate a catalogue entry's default parameters as a complete parameter set of its kind."""
    return formulas.validate_parameters(formula.kind, formula.parameters)


def item_parameters(formula: Formula, overrides: dict | None) -> dict:
    merged = dict(formula.parameters or {})
    merged.update(overrides or {})
    return merged


def formula_needs_target(kind: str, params: dict) -> bool:
    spec = CATALOGUE[kind]
    if not spec.needs_target:
        return False
    if kind in ("F6", "F8") and params.get("basis") == "actual":
        return False
    return True


@dataclass(frozen=True)
class ItemDraft:
    """An item as the admin form or a service call proposes it (before it is saved)."""

    indicator: Indicator
    kind: str
    weight: Decimal
    formula: Formula
    parameters: dict


def validate_items(items: list[ItemDraft]) -> list[dict]:
    """Every rule a scheme version must satisfy before it is saved or published. Returns the resolved
    items (kind + complete normalised parameters); raises SchemeValidationError listing every problem."""
    errors: list[str] = []
    resolved = []
    weighted = [i for i in items if i.kind == SchemeItem.Kind.WEIGHTED]
    if not weighted:
        errors.append("至少需要一个权重指标 / at least one weighted indicator")
    total = sum((to_decimal(i.weight) for i in weighted), Decimal(0))
    if weighted and total != HUNDRED:
        errors.append(f"权重合计必须为 100（当前 {formulas.fmt(total)}）/ weights must sum to 100 (got {formulas.fmt(total)})")
    seen = set()
    for item in items:
        label = f"{item.indicator.code}"
        key = (item.indicator.pk, item.kind)
        if key in seen:
            errors.append(f"{label}：同一指标同一类型只能出现一次 / duplicate item")
        seen.add(key)
        weight = to_decimal(item.weight)
        if item.kind == SchemeItem.Kind.WEIGHTED and weight <= 0:
            errors.append(f"{label}：权重必须大于 0 / weight must be positive")
        if item.kind != SchemeItem.Kind.WEIGHTED and weight != 0:
            errors.append(f"{label}：加分/扣分/门槛项不占权重 / only weighted items carry weight")
        kind = item.formula.kind
        spec = CATALOGUE.get(kind)
        if spec is None:
            errors.append(f"{label}：未知公式 {kind}")
            continue
        if item.kind not in spec.item_kinds:
            errors.append(
                f"{label}：公式 {kind} 不能用于{SchemeItem.Kind(item.kind).label} / formula {kind} not allowed for {item.kind}"
            )
        if item.kind == SchemeItem.Kind.WEIGHTED and item.indicator.direction not in spec.directions:
            errors.append(
                f"{label}：{item.indicator.get_direction_display()}的指标不能用公式 {kind}（逆向指标用 F9/F6/F8/F12）"
                f" / formula {kind} does not fit the indicator's direction"
            )
        params = item_parameters(item.formula, item.parameters)
        try:
            normalised = formulas.validate_parameters(kind, params)
        except FormulaParameterError as exc:
            errors.append(f"{label}：{exc.message_zh}")
            continue
        if (
            item.kind in (SchemeItem.Kind.BONUS, SchemeItem.Kind.DEDUCTION)
            and kind == "F6"
            and normalised.get("unit") != "points"
        ):
            errors.append(f"{label}：加分/扣分项的区间得分须以分为单位（unit=points）/ bonus bands must be in points")
        if kind == "F11" and item.indicator.measure != Indicator.Measure.DAILY_AVERAGE:
            errors.append(f"{label}：F11 只适用于日均类指标 / F11 needs a daily-average indicator")
        resolved.append(
            {
                "indicator_id": item.indicator.pk,
                "kind": item.kind,
                "weight": str(weight),
                "formula_code": item.formula.code,
                "formula_kind": kind,
                "params": normalised,
                "needs_target": formula_needs_target(kind, normalised),
            }
        )
    if errors:
        raise SchemeValidationError(
            "方案配置错误：" + "；".join(errors), "invalid scheme: " + "; ".join(errors), extra={"errors": errors}
        )
    return resolved


def version_drafts(version: SchemeVersion) -> list[ItemDraft]:
    return [
        ItemDraft(indicator=i.indicator, kind=i.kind, weight=i.weight, formula=i.formula, parameters=i.parameters)
        for i in version.items.select_related("indicator", "formula").order_by("order", "id")
    ]


def version_validate(version: SchemeVersion, items: list[ItemDraft] | None = None) -> tuple[list[dict], dict, dict]:
    items = version_drafts(version) if items is None else items
    resolved = validate_items(items)
    grading = formulas.validate_grading(version.grading)
    incentive = formulas.validate_incentive(version.incentive, indicator_codes=[i.indicator.code for i in items])
    return resolved, grading, incentive


def _ensure_draft(version: SchemeVersion) -> None:
    if version.state != SchemeVersion.State.DRAFT:
        raise Conflict(
            f"方案版本 {version} 已发布，不能修改；请复制为新版本后修改。",
            f"scheme version {version} is published and frozen; clone it to change it",
            code="scheme_version_frozen",
        )


@transaction.atomic
def scheme_version_save_items(*, version_id: int, items: list[ItemDraft], actor) -> SchemeVersion:
    """Replace a draft version's items after validating the whole set (nothing is written on error)."""
    require_perm(actor, "performance.change_schemeversion", "修改考核方案", "change schemes")
    version = SchemeVersion.objects.select_for_update().get(pk=version_id)
    _ensure_draft(version)
    validate_items(items)
    version.items.all().delete()
    SchemeItem.objects.bulk_create(
        [
            SchemeItem(
                version=version,
                indicator=i.indicator,
                kind=i.kind,
                weight=to_decimal(i.weight),
                formula=i.formula,
                parameters=i.parameters or {},
                order=n,
            )
            for n, i in enumerate(items)
        ]
    )
    return version


def spec_of(version: SchemeVersion, resolved: list[dict], grading: dict, incentive: dict) -> dict:
    scheme = version.scheme
    return {
        "scheme": scheme.code,
        "position": scheme.position,
        "aggregation": scheme.aggregation,
        "period_type": scheme.period_type,
        "version": version.number,
        "renormalise": version.renormalise_missing_targets,
        "items": resolved,
        "grading": grading,
        "incentive": incentive,
    }


def spec_hash(spec: dict) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True, ensure_ascii=False, cls=DjangoJSONEncoder).encode()).hexdigest()


@transaction.atomic
def scheme_version_publish(*, version_id: int, actor, comment: str = "") -> SchemeVersion:
    """Validate and freeze: each item's formula kind and complete parameters are copied into ``resolved``."""
    require_perm(actor, "performance.change_schemeversion", "发布考核方案", "publish schemes")
    version = SchemeVersion.objects.select_for_update().select_related("scheme").get(pk=version_id)
    if version.state == SchemeVersion.State.PUBLISHED:
        return version
    return freeze_version(version, user=user_of(actor), comment=comment)


def freeze_version(version: SchemeVersion, *, user=None, comment: str = "") -> SchemeVersion:
    """Validation + freezing shared by the publish service and the demo/test setup (no permission check)."""
    _ensure_draft(version)
    resolved, grading, incentive = version_validate(version)
    items = list(version.items.order_by("order", "id"))
    for item, frozen in zip(items, resolved, strict=True):
        item.resolved = frozen
    SchemeItem.objects.bulk_update(items, ["resolved"])
    version.grading, version.incentive = grading, incentive
    spec = spec_of(version, [dict(r, item_id=i.pk) for r, i in zip(resolved, items, strict=True)], grading, incentive)
    version.spec_hash = spec_hash(spec)
    version.published_at = timezone.now()
    version.published_by = user
    version.publish(by=user, description=comment or "发布方案版本")
    version.save()
    return version


@transaction.atomic
def scheme_version_clone(*, version_id: int, actor, effective_from=None) -> SchemeVersion:
    """A new draft (number + 1) with the same items and configuration."""
    require_perm(actor, "performance.add_schemeversion", "新建方案版本", "create scheme versions")
    source = SchemeVersion.objects.select_related("scheme").get(pk=version_id)
    Scheme.objects.select_for_update().get(pk=source.scheme_id)
    number = (
        SchemeVersion.objects.filter(scheme_id=source.scheme_id).order_by("-number").values_list("number", flat=True).first() or 0
    ) + 1
    clone = SchemeVersion.objects.create(
        scheme_id=source.scheme_id,
        number=number,
        effective_from=effective_from or source.effective_from,
        renormalise_missing_targets=source.renormalise_missing_targets,
        grading=source.grading,
        incentive=source.incentive,
        notes=f"复制自 v{source.number}",
    )
    SchemeItem.objects.bulk_create(
        [
            SchemeItem(
                version=clone,
                indicator_id=i.indicator_id,
                kind=i.kind,
                weight=i.weight,
                formula_id=i.formula_id,
                parameters=i.parameters,
                order=i.order,
            )
            for i in source.items.all()
        ]
    )
    return clone


def published_version_for(scheme: Scheme, day) -> SchemeVersion | None:
    return (
        scheme.versions.filter(state=SchemeVersion.State.PUBLISHED, effective_from__lte=day)
        .order_by("-effective_from", "-number")
        .first()
    )


def formula_what_if(
    *, kind: str, parameters: dict, actual=None, target=None, weight="100", base=None, rank=None, peer_count=None
) -> FormulaResult:
    """The admin what-if tester: validate the parameters, then evaluate with sample numbers."""
    params = formulas.validate_parameters(kind, parameters)

    def dec(value):
        return None if value in (None, "") else to_decimal(value)

    inp = FormulaInput(
        actual=dec(actual),
        target=dec(target),
        weight=dec(weight) or Decimal(0),
        base=dec(base),
        rank=int(rank) if rank not in (None, "") else None,
        peer_count=int(peer_count) if peer_count not in (None, "") else None,
    )
    return formulas.evaluate(kind, inp, params)

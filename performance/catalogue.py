"""The standard indicator library and formula presets (idempotent), and a helper to build a published scheme.

Used by the demo seed and by tests; the admin edits the same rows afterwards.
"""

import datetime as dt
from decimal import Decimal

from django.db import transaction

from performance.models import Formula, Indicator, Scheme, SchemeItem, SchemeVersion
from performance.services.library import freeze_version, indicator_validate

M = Indicator.Measure
S = Indicator.DataSource

# code, name, unit, direction, measure, data source, extractors, (numerator, denominator)
INDICATORS = [
    ("loan_disbursed_amount", "放款金额", "元", "higher", M.SUM, S.EVENT, ["disbursed_amount"], None),
    ("loan_disbursed_count", "放款笔数", "笔", "higher", M.COUNT, S.EVENT, ["disbursed_count"], None),
    ("new_credit_customers", "新增用信客户", "户", "higher", M.COUNT, S.EVENT, ["first_drawdown_customer"], None),
    ("credit_lines_activated", "授信激活户数", "户", "higher", M.COUNT, S.EVENT, ["credit_line_count"], None),
    (
        "loan_balance",
        "贷款余额（期末）",
        "元",
        "higher",
        M.PERIOD_END,
        S.EVENT,
        ["disbursed_balance", "classified_balance", "settled_zero"],
        None,
    ),
    ("loan_balance_daily_avg", "贷款余额日均", "元", "higher", M.DAILY_AVERAGE, S.IMPORT, [], None),
    ("deposit_daily_avg", "存款日均", "元", "higher", M.DAILY_AVERAGE, S.EVENT, ["deposit_daily_average"], None),
    ("deposit_daily_avg_growth", "存款日均增长", "元", "higher", M.DAILY_AVERAGE, S.EVENT, ["deposit_daily_average"], None),
    ("low_cost_deposit_daily_avg", "低成本存款日均", "元", "higher", M.DAILY_AVERAGE, S.IMPORT, [], None),
    (
        "low_cost_deposit_share",
        "低成本存款占比",
        "%",
        "higher",
        M.RATIO,
        S.IMPORT,
        [],
        ("low_cost_deposit_daily_avg", "deposit_daily_avg"),
    ),
    ("social_security_cards", "社保卡激活", "张", "higher", M.COUNT, S.EVENT, ["card_activated"], None),
    ("merchants_signed", "签约商户", "户", "higher", M.COUNT, S.EVENT, ["merchant_signed"], None),
    ("points_participation", "积分活动参与客户", "户", "higher", M.COUNT, S.EVENT, ["points_participation"], None),
    (
        "overdue_principal",
        "逾期本金（期末）",
        "元",
        "lower",
        M.PERIOD_END,
        S.EVENT,
        ["overdue_principal", "overdue_cleared", "settled_zero"],
        None,
    ),
    ("overdue_rate", "逾期率", "%", "lower", M.RATIO, S.EVENT, [], ("overdue_principal", "loan_balance")),
    (
        "npl_balance",
        "不良贷款余额（期末）",
        "元",
        "lower",
        M.PERIOD_END,
        S.EVENT,
        ["classified_npl_balance", "settled_zero"],
        None,
    ),
    ("npl_ratio", "不良贷款率", "%", "lower", M.RATIO, S.EVENT, [], ("npl_balance", "loan_balance")),
    ("collection_recovery", "清收回款", "元", "higher", M.SUM, S.EVENT, ["collection_recovered"], None),
    ("customer_complaints", "客户投诉", "件", "lower", M.COUNT, S.MANUAL, [], None),
    ("new_customers", "新增客户", "户", "higher", M.COUNT, S.EVENT, ["customer_created"], None),
    ("referrals_qualified", "推荐达标客户", "户", "higher", M.COUNT, S.EVENT, ["referral_qualified"], None),
    # book figures read through lending.facade (when the lending app provides it)
    ("loan_balance_book", "贷款余额（账务）", "元", "higher", M.PERIOD_END, S.FACADE, ["facade:balance"], None),
    ("npl_balance_book", "不良贷款余额（账务）", "元", "lower", M.PERIOD_END, S.FACADE, ["facade:npl_balance"], None),
    ("overdue_balance_book", "逾期贷款余额（账务）", "元", "lower", M.PERIOD_END, S.FACADE, ["facade:overdue_balance"], None),
    ("npl_ratio_book", "不良贷款率（账务）", "%", "lower", M.RATIO, S.FACADE, [], ("npl_balance_book", "loan_balance_book")),
]

BANDS = [
    {"lo": "0", "hi": "0.6", "score": "0"},
    {"lo": "0.6", "hi": "0.8", "score": "0.6"},
    {"lo": "0.8", "hi": "1", "score": "0.8"},
    {"lo": "1", "hi": None, "score": "1"},
]

FORMULAS = [
    ("F1-120", "F1", "线性封顶120%", {"cap": "1.2"}),
    ("F1-150", "F1", "线性封顶150%", {"cap": "1.5"}),
    ("F2-60", "F2", "60%门槛、封顶120%", {"threshold": "0.6", "cap": "1.2"}),
    ("F4-step", "F4", "超额每10%加2分，最多6分", {"step": "0.1", "bonus_per_step": "2", "max_bonus": "6"}),
    ("F5-deduct", "F5", "未达标每百分点扣0.5分", {"threshold": "1", "points_per_pp": "0.5"}),
    ("F6-bands", "F6", "完成率分档", {"bands": BANDS}),
    ("F7-per-item", "F7", "每件扣2分，最多10分", {"tiers": [{"lo": "0", "hi": None, "rate": "2"}], "max_score": "10"}),
    (
        "F8-interp",
        "F8",
        "插值（60%得一半，100%满分，150%得1.2倍）",
        {"points": [["0", "0"], ["0.6", "0.5"], ["1", "1"], ["1.5", "1.2"]]},
    ),
    ("F9-ratio", "F9", "逆向：T/A封顶120%", {"variant": "ratio", "cap": "1.2"}),
    ("F9-linear", "F9", "逆向：每超0.1个百分点扣2分", {"variant": "linear_penalty", "penalty_per_unit": "2", "unit": "0.1"}),
    ("F9-binary", "F9", "逆向：达标得满分", {"variant": "binary"}),
    ("F9-bounded", "F9", "逆向：按超出比例扣分，保底20%", {"variant": "bounded", "floor": "0.2"}),
    ("F10-neg", "F10", "负目标/零目标（标尺10万）", {"cap": "1.2", "scale": "100000"}),
    ("F11-growth", "F11", "日均增量封顶120%", {"cap": "1.2", "mode": "absolute"}),
    ("F12-rank", "F12", "组内排名线性得分", {"mode": "linear"}),
    ("F14-npl-cap", "F14", "不良率超5%总分封顶60", {"op": ">", "threshold": "5", "cap": "60"}),
    ("F14-veto", "F14", "投诉3件及以上一票否决", {"op": ">=", "threshold": "3", "cap": "0"}),
]


@transaction.atomic
def ensure_library() -> dict[str, Indicator]:
    """Create the standard indicators and formula presets when missing (existing rows are left as staff edited them)."""
    indicators = {i.code: i for i in Indicator.objects.all()}
    for code, name, unit, direction, measure, source, extractors, parts in INDICATORS:
        if code in indicators:
            continue
        indicator = Indicator(
            code=code,
            name=name,
            unit=unit,
            direction=direction,
            measure=measure,
            data_source=source,
            sources=extractors,
            ratio_scale=Decimal("100"),
        )
        if parts:
            indicator.numerator, indicator.denominator = indicators[parts[0]], indicators[parts[1]]
        indicator_validate(indicator)
        indicator.save()
        indicators[code] = indicator
    for code, kind, name, params in FORMULAS:
        Formula.objects.get_or_create(code=code, defaults={"kind": kind, "name": name, "parameters": params})
    return indicators


@transaction.atomic
def build_scheme(
    *,
    institution,
    code: str,
    name: str,
    position: str,
    items: list[tuple],
    grading: dict,
    incentive: dict | None = None,
    aggregation: str = Scheme.Aggregation.OWN,
    period_type: str = "month",
    effective_from: dt.date = dt.date(2020, 1, 1),
    renormalise: bool = True,
) -> SchemeVersion:
    """A scheme with one published version. ``items``: (indicator code, kind, weight, formula code, overrides)."""
    indicators = ensure_library()
    scheme, _ = Scheme.objects.get_or_create(
        institution=institution,
        code=code,
        defaults={"name": name, "position": position, "aggregation": aggregation, "period_type": period_type},
    )
    existing = scheme.versions.filter(state=SchemeVersion.State.PUBLISHED).order_by("-number").first()
    if existing:
        return existing
    version = SchemeVersion.objects.create(
        scheme=scheme,
        number=(scheme.versions.count() + 1),
        effective_from=effective_from,
        grading=grading,
        incentive=incentive or {"method": "none"},
        renormalise_missing_targets=renormalise,
    )
    formulas = {f.code: f for f in Formula.objects.all()}
    for order, (indicator_code, kind, weight, formula_code, overrides) in enumerate(items):
        SchemeItem.objects.create(
            version=version,
            indicator=indicators[indicator_code],
            kind=kind,
            weight=Decimal(str(weight)),
            formula=formulas[formula_code],
            parameters=overrides or {},
            order=order,
        )
    return freeze_version(version, comment="初始版本")


GRADES = {
    "method": "thresholds",
    "thresholds": [
        {"grade": "A", "min": "90"},
        {"grade": "B", "min": "75"},
        {"grade": "C", "min": "60"},
        {"grade": "D", "min": "0"},
    ],
}

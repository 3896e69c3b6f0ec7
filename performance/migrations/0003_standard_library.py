"""The standard indicator library and formula presets exist from the start, so business events delivered
before any demo or configuration step already become facts. A frozen copy of performance/catalogue.py at the
time of writing (later changes go into new migrations or the admin); existing rows are left as they are."""

from django.db import migrations

INDICATORS = [
    ["loan_disbursed_amount", "放款金额", "元", "higher", "sum", "event", ["disbursed_amount"], None],
    ["loan_disbursed_count", "放款笔数", "笔", "higher", "count", "event", ["disbursed_count"], None],
    ["new_credit_customers", "新增用信客户", "户", "higher", "count", "event", ["first_drawdown_customer"], None],
    ["credit_lines_activated", "授信激活户数", "户", "higher", "count", "event", ["credit_line_count"], None],
    [
        "loan_balance",
        "贷款余额（期末）",
        "元",
        "higher",
        "period_end",
        "event",
        ["disbursed_balance", "classified_balance", "settled_zero"],
        None,
    ],
    ["loan_balance_daily_avg", "贷款余额日均", "元", "higher", "daily_average", "import", [], None],
    ["deposit_daily_avg", "存款日均", "元", "higher", "daily_average", "event", ["deposit_daily_average"], None],
    ["deposit_daily_avg_growth", "存款日均增长", "元", "higher", "daily_average", "event", ["deposit_daily_average"], None],
    ["low_cost_deposit_daily_avg", "低成本存款日均", "元", "higher", "daily_average", "import", [], None],
    [
        "low_cost_deposit_share",
        "低成本存款占比",
        "%",
        "higher",
        "ratio",
        "import",
        [],
        ["low_cost_deposit_daily_avg", "deposit_daily_avg"],
    ],
    ["social_security_cards", "社保卡激活", "张", "higher", "count", "event", ["card_activated"], None],
    ["merchants_signed", "签约商户", "户", "higher", "count", "event", ["merchant_signed"], None],
    ["points_participation", "积分活动参与客户", "户", "higher", "count", "event", ["points_participation"], None],
    [
        "overdue_principal",
        "逾期本金（期末）",
        "元",
        "lower",
        "period_end",
        "event",
        ["overdue_principal", "overdue_cleared", "settled_zero"],
        None,
    ],
    ["overdue_rate", "逾期率", "%", "lower", "ratio", "event", [], ["overdue_principal", "loan_balance"]],
    [
        "npl_balance",
        "不良贷款余额（期末）",
        "元",
        "lower",
        "period_end",
        "event",
        ["classified_npl_balance", "settled_zero"],
        None,
    ],
    ["npl_ratio", "不良贷款率", "%", "lower", "ratio", "event", [], ["npl_balance", "loan_balance"]],
    ["collection_recovery", "清收回款", "元", "higher", "sum", "event", ["collection_recovered"], None],
    ["customer_complaints", "客户投诉", "件", "lower", "count", "manual", [], None],
    ["new_customers", "新增客户", "户", "higher", "count", "event", ["customer_created"], None],
    ["referrals_qualified", "推荐达标客户", "户", "higher", "count", "event", ["referral_qualified"], None],
    ["loan_balance_book", "贷款余额（账务）", "元", "higher", "period_end", "facade", ["facade:balance"], None],
    ["npl_balance_book", "不良贷款余额（账务）", "元", "lower", "period_end", "facade", ["facade:npl_balance"], None],
    ["overdue_balance_book", "逾期贷款余额（账务）", "元", "lower", "period_end", "facade", ["facade:overdue_balance"], None],
    ["npl_ratio_book", "不良贷款率（账务）", "%", "lower", "ratio", "facade", [], ["npl_balance_book", "loan_balance_book"]],
]

FORMULAS = [
    ["F1-120", "F1", "线性封顶120%", {"cap": "1.2"}],
    ["F1-150", "F1", "线性封顶150%", {"cap": "1.5"}],
    ["F2-60", "F2", "60%门槛、封顶120%", {"threshold": "0.6", "cap": "1.2"}],
    ["F4-step", "F4", "超额每10%加2分，最多6分", {"step": "0.1", "bonus_per_step": "2", "max_bonus": "6"}],
    ["F5-deduct", "F5", "未达标每百分点扣0.5分", {"threshold": "1", "points_per_pp": "0.5"}],
    [
        "F6-bands",
        "F6",
        "完成率分档",
        {
            "bands": [
                {"lo": "0", "hi": "0.6", "score": "0"},
                {"lo": "0.6", "hi": "0.8", "score": "0.6"},
                {"lo": "0.8", "hi": "1", "score": "0.8"},
                {"lo": "1", "hi": None, "score": "1"},
            ]
        },
    ],
    ["F7-per-item", "F7", "每件扣2分，最多10分", {"tiers": [{"lo": "0", "hi": None, "rate": "2"}], "max_score": "10"}],
    [
        "F8-interp",
        "F8",
        "插值（60%得一半，100%满分，150%得1.2倍）",
        {"points": [["0", "0"], ["0.6", "0.5"], ["1", "1"], ["1.5", "1.2"]]},
    ],
    ["F9-ratio", "F9", "逆向：T/A封顶120%", {"variant": "ratio", "cap": "1.2"}],
    ["F9-linear", "F9", "逆向：每超0.1个百分点扣2分", {"variant": "linear_penalty", "penalty_per_unit": "2", "unit": "0.1"}],
    ["F9-binary", "F9", "逆向：达标得满分", {"variant": "binary"}],
    ["F9-bounded", "F9", "逆向：按超出比例扣分，保底20%", {"variant": "bounded", "floor": "0.2"}],
    ["F10-neg", "F10", "负目标/零目标（标尺10万）", {"cap": "1.2", "scale": "100000"}],
    ["F11-growth", "F11", "日均增量封顶120%", {"cap": "1.2", "mode": "absolute"}],
    ["F12-rank", "F12", "组内排名线性得分", {"mode": "linear"}],
    ["F14-npl-cap", "F14", "不良率超5%总分封顶60", {"op": ">", "threshold": "5", "cap": "60"}],
    ["F14-veto", "F14", "投诉3件及以上一票否决", {"op": ">=", "threshold": "3", "cap": "0"}],
]


def forwards(apps, schema_editor):
    Indicator = apps.get_model("performance", "Indicator")
    Formula = apps.get_model("performance", "Formula")
    created = {}
    for code, name, unit, direction, measure, source, extractors, parts in INDICATORS:
        indicator = Indicator.objects.filter(code=code).first()
        if indicator is None:
            indicator = Indicator(
                code=code,
                name=name,
                unit=unit,
                direction=direction,
                measure=measure,
                data_source=source,
                sources=extractors,
                ratio_scale=100,
            )
            if parts:
                indicator.numerator = created.get(parts[0]) or Indicator.objects.get(code=parts[0])
                indicator.denominator = created.get(parts[1]) or Indicator.objects.get(code=parts[1])
            indicator.save()
        created[code] = indicator
    for code, kind, name, parameters in FORMULAS:
        Formula.objects.get_or_create(code=code, defaults={"kind": kind, "name": name, "parameters": parameters})


class Migration(migrations.Migration):
    dependencies = [("performance", "0002_claim_share_sum_trigger")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]

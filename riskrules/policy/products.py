"""The seven products of the case and the JDM graphs of their rule sets, with test cases.

| code | product | who | age | cap (yuan) | limit basis |
|---|---|---|---|---|---|
| jnkd | 吉农快贷 | farmers on the whole-village white list | 18–65 | 300,000 | white-list limit |
| tsd | 天使贷 | young and returning-home entrepreneurs (个体工商户, 小微企业主, 返乡务农创业) | 18–45 | 300,000 | 20 × monthly income |
| gxd | 公薪贷 | public servants | 22–60 | 800,000 | 24 × monthly income |
| jld | 金领贷 | employees of listed quality enterprises | 22–60 | 500,000 | 20 × monthly income |
| xyd | 信易贷 | individual / micro businesses operating ≥ 1 year | 18–65 | 1,000,000 | 30 × monthly income |
| ydd | 园丁贷 | teachers | 22–60 | 500,000 | 24 × monthly income |
| jwkd | 吉微快贷 | individual / micro businesses operating ≥ 1 year | 18–65 | 300,000 | 20 × monthly income |
"""

from dataclasses import dataclass, field

from riskrules.catalogue import VariableSpec
from riskrules.policy.jdm import Graph, expressions, in_list, input_node, output_node, q, sub_decision, switch, table

YUAN = 100  # fen per yuan


@dataclass(frozen=True)
class Product:
    code: str
    name: str
    occupations: tuple
    age_min: int
    age_max: int
    cap_yuan: int
    income_multiple: int | None  # None: white-list limit
    employer_categories: tuple = ()
    needs_whitelist: bool = False
    needs_business_years: bool = False
    spreads_bp: dict = field(default_factory=dict)  # grade -> spread over the 1-year LPR
    new_debt_pct: int = 50
    deposit_drop_pct: int = 50


PRODUCTS = {
    p.code: p
    for p in [
        Product(
            "jnkd",
            "吉农快贷",
            ("farmer",),
            18,
            65,
            300_000,
            None,
            needs_whitelist=True,
            spreads_bp={"A": 20, "B": 45, "C": 75, "D": 110},
            new_debt_pct=50,
            deposit_drop_pct=60,
        ),
        Product(  # start-ups welcome: no minimum years in business (信易贷 and 吉微快贷 ask for one)
            "tsd",
            "天使贷",
            ("individual_business", "micro_business_owner", "farmer"),
            18,
            45,
            300_000,
            20,
            spreads_bp={"A": 40, "B": 75, "C": 115, "D": 170},
            new_debt_pct=30,
            deposit_drop_pct=40,
        ),
        Product("gxd", "公薪贷", ("civil_servant",), 22, 60, 800_000, 24, spreads_bp={"A": 15, "B": 35, "C": 60, "D": 95}),
        Product(
            "jld",
            "金领贷",
            ("employee",),
            22,
            60,
            500_000,
            20,
            employer_categories=("listed_enterprise",),
            spreads_bp={"A": 25, "B": 45, "C": 70, "D": 105},
        ),
        Product(
            "xyd",
            "信易贷",
            ("individual_business", "micro_business_owner"),
            18,
            65,
            1_000_000,
            30,
            needs_business_years=True,
            spreads_bp={"A": 60, "B": 100, "C": 150, "D": 220},
            new_debt_pct=30,
            deposit_drop_pct=40,
        ),
        Product("ydd", "园丁贷", ("teacher",), 22, 60, 500_000, 24, spreads_bp={"A": 15, "B": 35, "C": 60, "D": 95}),
        Product(
            "jwkd",
            "吉微快贷",
            ("individual_business", "micro_business_owner"),
            18,
            65,
            300_000,
            20,
            needs_business_years=True,
            spreads_bp={"A": 80, "B": 130, "C": 190, "D": 260},
            new_debt_pct=30,
            deposit_drop_pct=40,
        ),
    ]
}

KIND_NAMES = {
    "admission": "准入",
    "rating": "评级",
    "limit": "额度测算",
    "pricing": "定价",
    "early_warning": "贷后预警",
    "flow": "授信规则流",
    "origination": "申请审批规则流",
}


@dataclass(frozen=True)
class RuleSetDefinition:
    code: str
    name: str
    kind: str
    product_code: str
    content: dict
    test_cases: list
    max_reasons: int = 3
    description: str = ""


def _finish(graph: Graph, catalogue, codes, nodes) -> dict:
    graph.chain(input_node(codes, catalogue), *nodes, output_node())
    return graph.as_content()


# --- admission (准入) ------------------------------------------------------------------------------


def admission(p: Product, catalogue: dict[str, VariableSpec]) -> RuleSetDefinition:
    inputs = [
        ("age", "年龄"),
        ("on_blacklist", "黑名单"),
        ("dishonest_debtor", "失信被执行人"),
        ("on_greylist", "灰名单"),
        ("current_overdue_count", "当前逾期笔数"),
        ("kyc_verified", "实名认证"),
        ("credit_consent", "征信授权"),
        ("occupation", "职业"),
        ("dti_pct", "负债收入比%"),
    ]
    rows = [
        {
            "_id": "A01",
            "_description": f"年龄低于{p.age_min}岁",
            "age": f"< {p.age_min}",
            "code": q("AGE_BELOW_MIN"),
            "action": q("reject"),
        },
        {
            "_id": "A02",
            "_description": f"年龄高于{p.age_max}岁",
            "age": f"> {p.age_max}",
            "code": q("AGE_ABOVE_MAX"),
            "action": q("reject"),
        },
        {"_id": "A03", "_description": "命中黑名单", "on_blacklist": "true", "code": q("BLACKLISTED"), "action": q("reject")},
        {
            "_id": "A04",
            "_description": "失信被执行人",
            "dishonest_debtor": "true",
            "code": q("DISHONEST_DEBTOR"),
            "action": q("reject"),
        },
        {"_id": "A05", "_description": "灰名单转人工", "on_greylist": "true", "code": q("GREYLISTED"), "action": q("refer")},
        {
            "_id": "A06",
            "_description": "本行当前逾期",
            "current_overdue_count": "> 0",
            "code": q("CURRENT_OVERDUE"),
            "action": q("reject"),
        },
        {
            "_id": "A07",
            "_description": "实名认证未通过",
            "kyc_verified": "false",
            "code": q("KYC_NOT_VERIFIED"),
            "action": q("refer"),
        },
        {
            "_id": "A08",
            "_description": "未授权征信查询",
            "credit_consent": "false",
            "code": q("NO_CREDIT_CONSENT"),
            "action": q("refer"),
        },
        {
            "_id": "A09",
            "_description": "职业须为：" + "、".join(p.occupations),
            "occupation": f"$ != null and not($ in {in_list(list(p.occupations))})",
            "code": q("OCCUPATION_MISMATCH"),
            "action": q("reject"),
        },
        {"_id": "A13", "_description": "负债收入比超过55%", "dti_pct": "> 55", "code": q("DTI_TOO_HIGH"), "action": q("reject")},
    ]
    if p.employer_categories:
        inputs.append(("employer_category", "单位类别"))
        rows.append(
            {
                "_id": "A10",
                "_description": "单位类别须为：" + "、".join(p.employer_categories),
                "employer_category": f"$ != null and not($ in {in_list(list(p.employer_categories))})",
                "code": q("EMPLOYER_NOT_ELIGIBLE"),
                "action": q("reject"),
            }
        )
    if p.needs_whitelist:
        inputs.append(("on_whitelist", "整村白名单"))
        rows.append(
            {
                "_id": "A11",
                "_description": "不在整村授信白名单",
                "on_whitelist": "false",
                "code": q("NOT_ON_WHITELIST"),
                "action": q("reject"),
            }
        )
    if p.needs_business_years:
        inputs.append(("business_years", "经营年限"))
        rows.append(
            {
                "_id": "A12",
                "_description": "经营不足1年",
                "business_years": "< 1",
                "code": q("BUSINESS_TOO_YOUNG"),
                "action": q("reject"),
            }
        )
    codes = [field for field, _ in inputs]
    knockouts = table(
        "knockouts",
        "准入否决规则 knock-out rules",
        hit_policy="collect",
        inputs=inputs,
        outputs=[("code", "原因码"), ("action", "处理")],
        rows=rows,
    )
    knockouts["content"]["outputPath"] = "knockouts"
    summary = expressions(
        "summary",
        "准入结论 admission outcome",
        [
            (
                "outcome",
                "some(knockouts, #.action == 'reject') ? 'reject' : (some(knockouts, #.action == 'refer') ? 'refer' : 'approve')",
            ),
            ("reasons", "map(knockouts, #.code)"),
        ],
        pass_through=False,
    )
    content = _finish(Graph(), catalogue, codes, [knockouts, summary])
    base = {
        "age": max(p.age_min, 35) if p.age_max >= 35 else p.age_min,
        "on_blacklist": False,
        "dishonest_debtor": False,
        "on_greylist": False,
        "current_overdue_count": 0,
        "kyc_verified": True,
        "credit_consent": True,
        "occupation": p.occupations[0],
        "dti_pct": 30,
    }
    if p.employer_categories:
        base["employer_category"] = p.employer_categories[0]
    if p.needs_whitelist:
        base["on_whitelist"] = True
    if p.needs_business_years:
        base["business_years"] = 3
    tests = [
        {"name": "全部满足 → 通过", "inputs": base, "expected": {"outcome": "approve", "reasons": []}},
        {
            "name": "年龄低于下限 → 拒绝",
            "inputs": {**base, "age": p.age_min - 1},
            "expected": {"outcome": "reject", "reasons": ["AGE_BELOW_MIN"]},
        },
        {
            "name": "年龄高于上限 → 拒绝",
            "inputs": {**base, "age": p.age_max + 1},
            "expected": {"outcome": "reject", "reasons": ["AGE_ABOVE_MAX"]},
        },
        {
            "name": "黑名单 → 拒绝",
            "inputs": {**base, "on_blacklist": True},
            "expected": {"outcome": "reject", "reasons": ["BLACKLISTED"]},
        },
        {
            "name": "灰名单 → 转人工",
            "inputs": {**base, "on_greylist": True},
            "expected": {"outcome": "refer", "reasons": ["GREYLISTED"]},
        },
        {"name": "本行当前逾期 → 拒绝", "inputs": {**base, "current_overdue_count": 1}, "expected": {"outcome": "reject"}},
        {
            "name": "未实名 → 转人工",
            "inputs": {**base, "kyc_verified": False},
            "expected": {"outcome": "refer", "reasons": ["KYC_NOT_VERIFIED"]},
        },
        {
            "name": "职业不符 → 拒绝",
            "inputs": {**base, "occupation": "other"},
            "expected": {"outcome": "reject", "reasons": ["OCCUPATION_MISMATCH"]},
        },
        {
            "name": "负债收入比超限 → 拒绝",
            "inputs": {**base, "dti_pct": 60},
            "expected": {"outcome": "reject", "reasons": ["DTI_TOO_HIGH"]},
        },
        {
            "name": "负债收入比缺失 → 转人工",
            "inputs": {k: v for k, v in base.items() if k != "dti_pct"},
            "expected": {"outcome": "refer", "reasons_include": ["MISSING_DTI_PCT"]},
        },
    ]
    if p.employer_categories:
        tests.append(
            {
                "name": "单位不符 → 拒绝",
                "inputs": {**base, "employer_category": "other"},
                "expected": {"outcome": "reject", "reasons": ["EMPLOYER_NOT_ELIGIBLE"]},
            }
        )
    if p.needs_whitelist:
        tests.append(
            {
                "name": "不在白名单 → 拒绝",
                "inputs": {**base, "on_whitelist": False},
                "expected": {"outcome": "reject", "reasons": ["NOT_ON_WHITELIST"]},
            }
        )
    if p.needs_business_years:
        tests.append(
            {
                "name": "经营不足1年 → 拒绝",
                "inputs": {**base, "business_years": 0.5},
                "expected": {"outcome": "reject", "reasons": ["BUSINESS_TOO_YOUNG"]},
            }
        )
    return RuleSetDefinition(
        f"{p.code}_admission",
        f"{p.name}{KIND_NAMES['admission']}",
        "admission",
        p.code,
        content,
        tests,
        max_reasons=10,
        description=f"{p.name}准入：年龄{p.age_min}–{p.age_max}岁、名单、本行逾期、实名、征信授权、职业、负债收入比≤55%",
    )


# --- rating (评级评分卡) -----------------------------------------------------------------------------

CHARACTERISTICS = [
    # (output path, max points, reason code, inputs, rows (cells by field, points, description))
    (
        "sc_age",
        15,
        "RS_AGE",
        [("age", "年龄")],
        [
            ({"age": "[25..45]"}, 15, "25–45岁"),
            ({"age": "[22..24]"}, 10, "22–24岁"),
            ({"age": "[46..55]"}, 10, "46–55岁"),
            ({"age": "[18..21]"}, 6, "18–21岁"),
            ({"age": "[56..60]"}, 6, "56–60岁"),
            ({"age": "[61..65]"}, 3, "61–65岁"),
        ],
    ),
    (
        "sc_income",
        20,
        "RS_INCOME",
        [("monthly_income_fen", "月收入(分)")],
        [
            ({"monthly_income_fen": ">= 1000000"}, 20, "月收入≥1万元"),
            ({"monthly_income_fen": ">= 500000"}, 15, "月收入≥5千元"),
            ({"monthly_income_fen": ">= 300000"}, 10, "月收入≥3千元"),
            ({"monthly_income_fen": ">= 150000"}, 6, "月收入≥1.5千元"),
            ({"monthly_income_fen": ">= 0"}, 2, "月收入<1.5千元"),
        ],
    ),
    (
        "sc_occupation",
        15,
        "RS_OCCUPATION",
        [("occupation", "职业"), ("employment_years", "工作年限")],
        [
            ({"occupation": "'civil_servant', 'teacher'"}, 15, "公职人员、教师"),
            ({"occupation": "'employee'", "employment_years": ">= 3"}, 12, "企业职工满3年"),
            ({"occupation": "'employee'"}, 8, "企业职工不满3年"),
            ({"occupation": "'farmer'"}, 10, "农户"),
            ({"occupation": "'individual_business', 'micro_business_owner'"}, 9, "个体工商户、小微企业主"),
            ({"occupation": "'other'"}, 4, "其他"),
        ],
    ),
    (
        "sc_tenure",
        10,
        "RS_TENURE",
        [("years_with_bank", "在本行年限")],
        [
            ({"years_with_bank": ">= 5"}, 10, "≥5年"),
            ({"years_with_bank": ">= 3"}, 8, "3–4年"),
            ({"years_with_bank": ">= 1"}, 5, "1–2年"),
            ({"years_with_bank": ">= 0"}, 2, "不足1年"),
        ],
    ),
    (
        "sc_deposit",
        15,
        "RS_DEPOSIT",
        [("deposit_avg_6m_fen", "存款日均(分)")],
        [
            ({"deposit_avg_6m_fen": ">= 5000000"}, 15, "日均≥5万元"),
            ({"deposit_avg_6m_fen": ">= 2000000"}, 11, "日均≥2万元"),
            ({"deposit_avg_6m_fen": ">= 500000"}, 7, "日均≥5千元"),
            ({"deposit_avg_6m_fen": ">= 0"}, 3, "日均<5千元"),
        ],
    ),
    (
        "sc_repayment",
        15,
        "RS_REPAYMENT",
        [("past_overdue_times_24m", "近24月逾期次数")],
        [
            ({"past_overdue_times_24m": "0"}, 15, "无逾期"),
            ({"past_overdue_times_24m": "1"}, 8, "逾期1次"),
            ({"past_overdue_times_24m": "2"}, 3, "逾期2次"),
            ({"past_overdue_times_24m": ">= 3"}, 0, "逾期3次及以上"),
        ],
    ),
    (
        "sc_appraisal",
        10,
        "RS_APPRAISAL",
        [("household_appraisal", "农户评议")],
        [
            ({"household_appraisal": "'excellent'"}, 10, "评议优秀"),
            ({"household_appraisal": "'good'"}, 8, "评议良好"),
            ({"household_appraisal": "'fair', 'none'"}, 5, "评议一般或未评议"),
            ({"household_appraisal": "'poor'"}, 0, "评议较差"),
        ],
    ),
]

GRADE_BANDS = [("A", 80), ("B", 70), ("C", 60), ("D", 50), ("E", 0)]


def rating(p: Product, catalogue: dict[str, VariableSpec]) -> RuleSetDefinition:
    nodes = []
    codes: list[str] = []
    for path, _max_points, _code, inputs, rows in CHARACTERISTICS:
        built_rows = []
        for index, (cells, points, description) in enumerate(rows, start=1):
            built_rows.append({"_id": f"{path}_{index}", "_description": description, **cells, "points": str(points)})
        built_rows.append(
            {
                "_id": f"{path}_other",
                "_description": "不在任何分段：转人工",
                "points": "0",
                "outcome": q("refer"),
                "reason": q("SC_UNBANDED"),
            }
        )
        node = table(
            path,
            f"评分卡 {path[3:]}",
            hit_policy="first",
            inputs=inputs,
            outputs=[("points", "得分"), ("outcome", "结论"), ("reason", "原因码")],
            rows=built_rows,
            output_path=path,
        )
        nodes.append(node)
        codes.extend(field for field, _ in inputs if field not in codes)
    total = " + ".join(f"{path}.points" for path, *_ in CHARACTERISTICS)
    nodes.append(expressions("score", "总分 score", [("score", total)]))
    grade_rows = [
        {
            "_id": f"grade_{grade}",
            "_description": f"{threshold}分及以上 → {grade}",
            "score": f">= {threshold}",
            "grade": q(grade),
            "outcome": q(grade),
        }
        for grade, threshold in GRADE_BANDS
    ]
    grade_rows.append(
        {"_id": "grade_other", "_description": "无法评分：转人工", "outcome": q("refer"), "reason": q("RATING_NO_SCORE")}
    )
    nodes.append(
        table(
            "grade",
            "等级映射 grade bands",
            hit_policy="first",
            inputs=[("score", "总分")],
            outputs=[("grade", "等级"), ("outcome", "结论"), ("reason", "原因码")],
            rows=grade_rows,
            output_path="rating",
        )
    )
    unbanded = "filter([" + ", ".join(f"{path}.reason" for path, *_ in CHARACTERISTICS) + ", rating.reason], # != null)"
    adverse = (
        "filter(["
        + ", ".join(
            f"{{code: {q(code)}, weight: {max_points} - {path}.points}}" for path, max_points, code, *_ in CHARACTERISTICS
        )
        + "], #.weight > 0)"
    )
    nodes.append(
        expressions(
            "summary",
            "评级结论 rating outcome",
            [
                ("unbanded", unbanded),
                ("outcome", "len($.unbanded) > 0 ? 'refer' : rating.outcome"),
                ("grade", "rating.grade"),
                ("score", "score"),
                ("reasons", f"flatten([$.unbanded, {adverse}])"),
            ],
            pass_through=False,
        )
    )
    content = _finish(Graph(), catalogue, codes, nodes)
    strong = {
        "age": 35,
        "monthly_income_fen": 1_200_000,
        "occupation": p.occupations[0],
        "employment_years": 5,
        "years_with_bank": 6,
        "deposit_avg_6m_fen": 6_000_000,
        "past_overdue_times_24m": 0,
        "household_appraisal": "excellent",
    }
    weak = {
        "age": 62,
        "monthly_income_fen": 100_000,
        "occupation": "other",
        "employment_years": 0,
        "years_with_bank": 0,
        "deposit_avg_6m_fen": 0,
        "past_overdue_times_24m": 3,
        "household_appraisal": "poor",
    }
    medium = {
        **strong,
        "age": 30,
        "monthly_income_fen": 400_000,
        "occupation": "farmer",
        "years_with_bank": 2,
        "deposit_avg_6m_fen": 800_000,
        "past_overdue_times_24m": 1,
        "household_appraisal": "good",
    }
    tests = [
        {"name": "优质客户 → A", "inputs": strong, "expected": {"outcome": "A", "grade": "A"}},
        {"name": "一般客户 → C (63分)", "inputs": medium, "expected": {"outcome": "C", "grade": "C", "score": 63}},
        {
            "name": "弱资质 → E 并给出前三项不利原因",
            "inputs": weak,
            "expected": {"outcome": "E", "grade": "E", "score": 14, "reasons": ["RS_INCOME", "RS_REPAYMENT", "RS_AGE"]},
        },
        {
            "name": "缺少还款记录 → 转人工",
            "inputs": {k: v for k, v in strong.items() if k != "past_overdue_times_24m"},
            "expected": {"outcome": "refer", "reasons_include": ["MISSING_PAST_OVERDUE_TIMES_24M"]},
        },
        {
            "name": "年龄不在分段 → 转人工",
            "inputs": {**strong, "age": 70},
            "expected": {"outcome": "refer", "reasons_include": ["SC_UNBANDED"]},
        },
    ]
    return RuleSetDefinition(
        f"{p.code}_rating",
        f"{p.name}{KIND_NAMES['rating']}",
        "rating",
        p.code,
        content,
        tests,
        max_reasons=3,
        description="评分卡：年龄、收入、职业稳定性、在本行年限、存款、还款记录、农户评议，满分100 → A≥80、B≥70、C≥60、D≥50、E",
    )


# --- limit (额度测算) -------------------------------------------------------------------------------

GRADE_FACTORS = {"A": 100, "B": 80, "C": 60, "D": 40}


def limit(p: Product, catalogue: dict[str, VariableSpec]) -> RuleSetDefinition:
    cap_fen = p.cap_yuan * YUAN
    factors = {grade: 100 for grade in GRADE_FACTORS} if p.income_multiple is None else GRADE_FACTORS
    rows = [
        {"_id": f"factor_{grade}", "_description": f"{grade}级 系数{factor}%", "grade": q(grade), "factor": str(factor)}
        for grade, factor in factors.items()
    ]
    rows.append(
        {
            "_id": "factor_E",
            "_description": "E级不授信",
            "grade": q("E"),
            "factor": "0",
            "outcome": q("reject"),
            "reason": q("LIMIT_GRADE_E"),
        }
    )
    rows.append(
        {
            "_id": "factor_other",
            "_description": "无有效评级：转人工",
            "factor": "0",
            "outcome": q("refer"),
            "reason": q("LIMIT_NO_GRADE"),
        }
    )
    factor_table = table(
        "grade_factor",
        "等级系数 grade factor",
        hit_policy="first",
        inputs=[("grade", "等级")],
        outputs=[("factor", "系数%"), ("outcome", "结论"), ("reason", "原因码")],
        rows=rows,
        output_path="limit_grade",
    )
    if p.income_multiple is None:
        codes = ["grade", "whitelist_limit_fen"]
        base = f"whitelist_limit_fen != null ? min([{cap_fen}, whitelist_limit_fen]) : null"
    else:
        codes = ["grade", "monthly_income_fen"]
        base = f"monthly_income_fen != null ? min([{cap_fen}, monthly_income_fen * {p.income_multiple}]) : null"
    summary = expressions(
        "summary",
        "额度结论 limit",
        [
            ("base_fen", base),
            ("amount_fen", "$.base_fen != null ? floor($.base_fen * limit_grade.factor / 100 / 100000) * 100000 : null"),
            ("outcome", "limit_grade.outcome ?? ($.amount_fen == null ? 'refer' : ($.amount_fen > 0 ? 'approve' : 'reject'))"),
            (
                "reasons",
                "limit_grade.reason != null ? [limit_grade.reason] : ($.amount_fen == null or $.amount_fen > 0 ? [] : ['LIMIT_ZERO'])",
            ),
            ("grade", "grade"),
            ("factor", "limit_grade.factor"),
        ],
        pass_through=False,
    )
    content = _finish(Graph(), catalogue, codes, [factor_table, summary])
    if p.income_multiple is None:
        tests = [
            {
                "name": "白名单额度低于上限",
                "inputs": {"grade": "B", "whitelist_limit_fen": 15_000_000},
                "expected": {"outcome": "approve", "amount_fen": 15_000_000},
            },
            {
                "name": "白名单额度超上限按上限",
                "inputs": {"grade": "A", "whitelist_limit_fen": 50_000_000},
                "expected": {"outcome": "approve", "amount_fen": cap_fen},
            },
            {
                "name": "额度向下取整到千元",
                "inputs": {"grade": "C", "whitelist_limit_fen": 12_345_678},
                "expected": {"amount_fen": 12_300_000},
            },
            {
                "name": "E级 → 拒绝",
                "inputs": {"grade": "E", "whitelist_limit_fen": 10_000_000},
                "expected": {"outcome": "reject", "amount_fen": 0, "reasons": ["LIMIT_GRADE_E"]},
            },
            {
                "name": "缺白名单额度 → 转人工",
                "inputs": {"grade": "A"},
                "expected": {"outcome": "refer", "reasons_include": ["MISSING_WHITELIST_LIMIT_FEN"]},
            },
        ]
    else:
        income = 1_000_000
        expected_a = min(cap_fen, income * p.income_multiple) // 100_000 * 100_000
        expected_c = min(cap_fen, income * p.income_multiple) * 60 // 100 // 100_000 * 100_000
        tests = [
            {
                "name": "A级 收入1万元",
                "inputs": {"grade": "A", "monthly_income_fen": income},
                "expected": {"outcome": "approve", "amount_fen": expected_a},
            },
            {
                "name": "C级 系数0.6",
                "inputs": {"grade": "C", "monthly_income_fen": income},
                "expected": {"outcome": "approve", "amount_fen": expected_c},
            },
            {
                "name": "高收入按产品上限",
                "inputs": {"grade": "A", "monthly_income_fen": 100_000_000},
                "expected": {"amount_fen": cap_fen},
            },
            {
                "name": "E级 → 拒绝",
                "inputs": {"grade": "E", "monthly_income_fen": income},
                "expected": {"outcome": "reject", "amount_fen": 0, "reasons": ["LIMIT_GRADE_E"]},
            },
            {
                "name": "缺评级 → 转人工",
                "inputs": {"monthly_income_fen": income},
                "expected": {"outcome": "refer", "reasons_include": ["LIMIT_NO_GRADE", "MISSING_GRADE"]},
            },
        ]
    basis = "min(白名单额度, 产品上限)" if p.income_multiple is None else f"min(产品上限, 月收入×{p.income_multiple}) × 等级系数"
    return RuleSetDefinition(
        f"{p.code}_limit",
        f"{p.name}{KIND_NAMES['limit']}",
        "limit",
        p.code,
        content,
        tests,
        description=f"额度 = {basis}，向下取整到千元；产品上限 {p.cap_yuan:,} 元；E级不授信",
    )


# --- pricing (定价) ---------------------------------------------------------------------------------


def pricing(p: Product, catalogue: dict[str, VariableSpec]) -> RuleSetDefinition:
    rows = [
        {"_id": f"spread_{grade}", "_description": f"{grade}级 LPR+{spread}bp", "grade": q(grade), "spread_bp": str(spread)}
        for grade, spread in p.spreads_bp.items()
    ]
    rows.append(
        {
            "_id": "spread_E",
            "_description": "E级不予定价",
            "grade": q("E"),
            "outcome": q("reject"),
            "reason": q("PRICING_GRADE_E"),
        }
    )
    rows.append(
        {"_id": "spread_other", "_description": "无有效评级：转人工", "outcome": q("refer"), "reason": q("PRICING_NO_GRADE")}
    )
    spread_table = table(
        "spread",
        "等级加点 spread by grade",
        hit_policy="first",
        inputs=[("grade", "等级")],
        outputs=[("spread_bp", "加点bp"), ("outcome", "结论"), ("reason", "原因码")],
        rows=rows,
        output_path="price",
    )
    summary = expressions(
        "summary",
        "定价结论 pricing",
        [
            ("spread_bp", "price.spread_bp"),
            ("rate_bp", "lpr_1y_bp != null and price.spread_bp != null ? lpr_1y_bp + price.spread_bp : null"),
            ("outcome", "price.outcome ?? 'approve'"),
            ("reasons", "price.reason != null ? [price.reason] : []"),
            ("grade", "grade"),
        ],
        pass_through=False,
    )
    content = _finish(Graph(), catalogue, ["grade", "lpr_1y_bp"], [spread_table, summary])
    tests = [
        {
            "name": f"{grade}级 LPR 300bp",
            "inputs": {"grade": grade, "lpr_1y_bp": 300},
            "expected": {"outcome": "approve", "rate_bp": 300 + spread},
        }
        for grade, spread in p.spreads_bp.items()
    ]
    tests += [
        {
            "name": "E级 → 拒绝",
            "inputs": {"grade": "E", "lpr_1y_bp": 300},
            "expected": {"outcome": "reject", "reasons": ["PRICING_GRADE_E"]},
        },
        {
            "name": "缺LPR → 转人工",
            "inputs": {"grade": "A"},
            "expected": {"outcome": "refer", "reasons_include": ["MISSING_LPR_1Y_BP"]},
        },
    ]
    spreads = "、".join(f"{g}+{s}bp" for g, s in p.spreads_bp.items())
    return RuleSetDefinition(
        f"{p.code}_pricing",
        f"{p.name}{KIND_NAMES['pricing']}",
        "pricing",
        p.code,
        content,
        tests,
        description=f"执行利率 = 1年期LPR + 等级加点（{spreads}）；E级不予定价",
    )


# --- early warning (贷后预警) ------------------------------------------------------------------------


def early_warning(p: Product, catalogue: dict[str, VariableSpec]) -> RuleSetDefinition:
    inputs = [
        ("current_max_dpd", "当前逾期天数"),
        ("on_blacklist", "黑名单"),
        ("dishonest_debtor", "失信被执行人"),
        ("new_debt_ratio_pct", "新增负债占授信%"),
        ("deposit_drop_pct", "存款日均降幅%"),
    ]
    rows = [
        {
            "_id": "W01",
            "_description": "逾期1–30天",
            "current_max_dpd": "[1..30]",
            "code": q("EW_DPD_1_30"),
            "action": q("watch"),
        },
        {
            "_id": "W02",
            "_description": "逾期超过30天",
            "current_max_dpd": "> 30",
            "code": q("EW_DPD_OVER_30"),
            "action": q("alert"),
        },
        {"_id": "W03", "_description": "命中黑名单", "on_blacklist": "true", "code": q("EW_BLACKLISTED"), "action": q("alert")},
        {
            "_id": "W04",
            "_description": "失信被执行人",
            "dishonest_debtor": "true",
            "code": q("EW_DISHONEST_DEBTOR"),
            "action": q("alert"),
        },
        {
            "_id": "W05",
            "_description": f"新增负债超授信{p.new_debt_pct}%",
            "new_debt_ratio_pct": f"> {p.new_debt_pct}",
            "code": q("EW_NEW_DEBT"),
            "action": q("watch"),
        },
        {
            "_id": "W06",
            "_description": f"存款日均降幅≥{p.deposit_drop_pct}%",
            "deposit_drop_pct": f">= {p.deposit_drop_pct}",
            "code": q("EW_DEPOSIT_DROP"),
            "action": q("watch"),
        },
    ]
    signals = table(
        "signals",
        "预警信号 warning signals",
        hit_policy="collect",
        inputs=inputs,
        outputs=[("code", "原因码"), ("action", "级别")],
        rows=rows,
    )
    signals["content"]["outputPath"] = "signals"
    summary = expressions(
        "summary",
        "预警结论 warning level",
        [
            (
                "outcome",
                "some(signals, #.action == 'alert') ? 'alert' : (some(signals, #.action == 'watch') ? 'watch' : 'normal')",
            ),
            ("reasons", "map(signals, #.code)"),
        ],
        pass_through=False,
    )
    content = _finish(Graph(), catalogue, [field for field, _ in inputs], [signals, summary])
    base = {
        "current_max_dpd": 0,
        "on_blacklist": False,
        "dishonest_debtor": False,
        "new_debt_ratio_pct": 0,
        "deposit_drop_pct": 0,
    }
    tests = [
        {"name": "无信号 → 正常", "inputs": base, "expected": {"outcome": "normal", "reasons": []}},
        {
            "name": "逾期10天 → 关注",
            "inputs": {**base, "current_max_dpd": 10},
            "expected": {"outcome": "watch", "reasons": ["EW_DPD_1_30"]},
        },
        {
            "name": "逾期45天 → 预警",
            "inputs": {**base, "current_max_dpd": 45},
            "expected": {"outcome": "alert", "reasons": ["EW_DPD_OVER_30"]},
        },
        {"name": "失信被执行人 → 预警", "inputs": {**base, "dishonest_debtor": True}, "expected": {"outcome": "alert"}},
        {
            "name": "存款大幅下降 → 关注",
            "inputs": {**base, "deposit_drop_pct": p.deposit_drop_pct + 5},
            "expected": {"outcome": "watch", "reasons": ["EW_DEPOSIT_DROP"]},
        },
        {
            "name": "新增负债过多 → 关注",
            "inputs": {**base, "new_debt_ratio_pct": p.new_debt_pct + 10},
            "expected": {"outcome": "watch", "reasons": ["EW_NEW_DEBT"]},
        },
        {
            "name": "缺逾期数据 → 转人工",
            "inputs": {k: v for k, v in base.items() if k != "current_max_dpd"},
            "expected": {"outcome": "refer"},
        },
    ]
    return RuleSetDefinition(
        f"{p.code}_early_warning",
        f"{p.name}{KIND_NAMES['early_warning']}",
        "early_warning",
        p.code,
        content,
        tests,
        max_reasons=10,
        description=f"贷后预警：逾期天数、黑名单、失信被执行人、新增负债>{p.new_debt_pct}%授信、存款日均降幅≥{p.deposit_drop_pct}%",
    )


# --- 吉农快贷 credit flow (admission → rating → limit), sub-decisions pinned by hash -------------------


def _chain_graph(codes: list[str], catalogue: dict[str, VariableSpec], hashes: dict[str, str]) -> dict:
    """admission → (a reject stops) → rating → grade carried → limit [→ pricing], sub-decisions pinned by
    content hash; the summary refers if any step refers and rejects if the limit (or the pricing) rejects."""
    priced = "pricing" in hashes
    graph = Graph()
    start = graph.add(input_node(codes, catalogue))
    adm = graph.add(sub_decision("admission", "准入 admission", hashes["admission"], "admission"))
    gate = graph.add(switch("gate", "准入是否拒绝", [("declined", "admission.outcome == 'reject'"), ("continue", "")]))
    declined = graph.add(
        expressions(
            "declined", "准入拒绝 declined", [("outcome", "'reject'"), ("reasons", "admission.reasons")], pass_through=False
        )
    )
    rate = graph.add(sub_decision("rating", "评级 rating", hashes["rating"], "rating"))
    carry = graph.add(expressions("carry", "传递等级 carry grade", [("grade", "rating.grade")]))
    lim = graph.add(sub_decision("limit", "额度 limit", hashes["limit"], "limit"))
    price = graph.add(sub_decision("pricing", "定价 pricing", hashes["pricing"], "pricing")) if priced else None
    steps = ["admission", "rating", "limit", *(["pricing"] if priced else [])]
    refer = " or ".join(f"{step}.outcome == 'refer'" for step in steps)
    reject = "limit.outcome == 'reject' or pricing.outcome == 'reject'" if priced else "limit.outcome == 'reject'"
    outputs = [
        ("outcome", f"{refer} ? 'refer' : ({reject} ? 'reject' : 'approve')"),
        ("grade", "rating.grade"),
        ("score", "rating.score"),
        ("amount_fen", "limit.amount_fen"),
    ]
    if priced:
        outputs += [("rate_bp", "pricing.rate_bp"), ("spread_bp", "pricing.spread_bp")]
    outputs.append(("reasons", f"flatten([{', '.join(f'{step}.reasons' for step in steps)}])"))
    title = "审批结论 outcome" if priced else "授信结论 credit outcome"
    summary = graph.add(expressions("summary", title, outputs, pass_through=False))
    out = graph.add(output_node())
    graph.link(start["id"], adm["id"])
    graph.link(adm["id"], gate["id"])
    graph.link(gate["id"], declined["id"], "declined")
    graph.link(gate["id"], rate["id"], "continue")
    graph.link(rate["id"], carry["id"])
    graph.link(carry["id"], lim["id"])
    if price is not None:
        graph.link(lim["id"], price["id"])
        graph.link(price["id"], summary["id"])
    else:
        graph.link(lim["id"], summary["id"])
    graph.link(declined["id"], out["id"])
    graph.link(summary["id"], out["id"])
    return graph.as_content()


def credit_flow(
    p: Product, catalogue: dict[str, VariableSpec], *, admission_hash: str, rating_hash: str, limit_hash: str, codes: list[str]
) -> RuleSetDefinition:
    content = _chain_graph(codes, catalogue, {"admission": admission_hash, "rating": rating_hash, "limit": limit_hash})
    good = flow_good_inputs()
    tests = [
        {
            "name": "白名单农户 → 通过 A级 额度=白名单额度",
            "inputs": good,
            "expected": {"outcome": "approve", "grade": "A", "amount_fen": 20_000_000},
        },
        {
            "name": "黑名单 → 拒绝",
            "inputs": {**good, "on_blacklist": True},
            "expected": {"outcome": "reject", "reasons": ["BLACKLISTED"]},
        },
        {
            "name": "灰名单 → 转人工",
            "inputs": {**good, "on_greylist": True},
            "expected": {"outcome": "refer", "reasons_include": ["GREYLISTED"]},
        },
        {
            "name": "弱资质 → E级 拒绝",
            "inputs": {
                **good,
                "monthly_income_fen": 100_000,
                "age": 62,
                "years_with_bank": 0,
                "deposit_avg_6m_fen": 0,
                "past_overdue_times_24m": 3,
                "household_appraisal": "poor",
                "dti_pct": 40,
            },
            "expected": {"outcome": "reject", "grade": "E", "amount_fen": 0},
        },
    ]
    return RuleSetDefinition(
        f"{p.code}_credit",
        f"{p.name}{KIND_NAMES['flow']}",
        "flow",
        p.code,
        content,
        tests,
        max_reasons=6,
        description="准入 → 评级 → 额度（子决策按内容哈希固定版本）；准入拒绝即终止",
    )


def flow_good_inputs() -> dict:
    return {
        "age": 40,
        "on_blacklist": False,
        "dishonest_debtor": False,
        "on_greylist": False,
        "on_whitelist": True,
        "current_overdue_count": 0,
        "kyc_verified": True,
        "credit_consent": True,
        "occupation": "farmer",
        "dti_pct": 20,
        "monthly_income_fen": 1_200_000,
        "employment_years": 10,
        "years_with_bank": 8,
        "deposit_avg_6m_fen": 6_000_000,
        "past_overdue_times_24m": 0,
        "household_appraisal": "excellent",
        "whitelist_limit_fen": 20_000_000,
    }


# --- origination flow (申请审批): admission → rating → limit → pricing in one decision -------------------


def origination_flow(
    p: Product,
    catalogue: dict[str, VariableSpec],
    *,
    admission_hash: str,
    rating_hash: str,
    limit_hash: str,
    pricing_hash: str,
    codes: list[str],
) -> RuleSetDefinition:
    """What an application's submit evaluates: one decision record with the outcome, grade, limit and rate
    (features resolved once, one explanation), the four rule sets pinned by content hash."""
    hashes = {"admission": admission_hash, "rating": rating_hash, "limit": limit_hash, "pricing": pricing_hash}
    content = _chain_graph(codes, catalogue, hashes)
    good = {key: value for key, value in origination_good_inputs(p).items() if key in codes}
    tests = [
        {
            "name": "优质客户 → 通过 A级",
            "inputs": good,
            "expected": {"outcome": "approve", "grade": "A", "rate_bp": 300 + p.spreads_bp["A"]},
        },
        {
            "name": "黑名单 → 拒绝",
            "inputs": {**good, "on_blacklist": True},
            "expected": {"outcome": "reject", "reasons": ["BLACKLISTED"]},
        },
        {
            "name": "灰名单 → 转人工",
            "inputs": {**good, "on_greylist": True},
            "expected": {"outcome": "refer", "reasons_include": ["GREYLISTED"]},
        },
        {
            "name": "缺LPR → 转人工",
            "inputs": {key: value for key, value in good.items() if key != "lpr_1y_bp"},
            "expected": {"outcome": "refer"},
        },
    ]
    return RuleSetDefinition(
        f"{p.code}_origination",
        f"{p.name}{KIND_NAMES['origination']}",
        "flow",
        p.code,
        content,
        tests,
        max_reasons=6,
        description="准入 → 评级 → 额度 → 定价（子决策按内容哈希固定版本）；准入拒绝即终止。贷款申请提交时执行。",
    )


def origination_good_inputs(p: Product) -> dict:
    """A strong applicant for product ``p`` (used by the flow's test cases)."""
    inputs = {
        **flow_good_inputs(),
        "occupation": p.occupations[0],
        "on_whitelist": True,
        "lpr_1y_bp": 300,
        "business_years": 6,
        "employer_category": p.employer_categories[0] if p.employer_categories else "other",
    }
    if p.occupations[0] != "farmer":
        inputs["household_appraisal"] = "good"
    return inputs


BUILDERS = [admission, rating, limit, pricing, early_warning]

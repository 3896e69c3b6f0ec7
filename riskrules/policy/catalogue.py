"""Seeded variable catalogue and reason codes."""

OCCUPATIONS = ["farmer", "civil_servant", "teacher", "employee", "individual_business", "micro_business_owner", "other"]
EMPLOYER_CATEGORIES = [
    "government",
    "public_institution",
    "hospital",
    "school",
    "listed_enterprise",
    "state_enterprise",
    "private_enterprise",
    "self_employed",
    "agriculture",
    "other",
]
GRADES = ["A", "B", "C", "D", "E"]
OUTCOMES = ["approve", "reject", "refer", *GRADES, "normal", "watch", "alert"]
APPRAISALS = ["excellent", "good", "fair", "poor", "none"]


def _v(code, label, type_, source, *, key="", expression="", enum=None, policy="refer", default=None, unit="", description=""):
    return {
        "code": code,
        "label": label,
        "type": type_,
        "source": source,
        "source_key": key,
        "expression": expression,
        "enum_values": enum or [],
        "missing_policy": policy,
        "default_value": default,
        "unit": unit,
        "description": description,
    }


VARIABLES = [
    # application fields (申请字段)
    _v("decision_date", "决策日期", "date", "application", policy="required", description="决策所依据的日期；缺省为营业日期"),
    _v("employer_category", "单位类别", "enum", "application", enum=EMPLOYER_CATEGORIES, description="申请人工作单位类别"),
    _v("employment_years", "现单位工作年限", "number", "application", policy="default", default=0, unit="年"),
    _v("business_years", "经营年限", "number", "application", unit="年", description="营业执照登记起至决策日期的经营年限"),
    _v("monthly_debt_fen", "月还款额（含本笔）", "fen", "application", unit="分", description="全部负债月还款额，含本笔申请估算"),
    _v("household_appraisal", "农户评议结果", "enum", "application", enum=APPRAISALS, policy="default", default="none"),
    _v("credit_limit_fen", "现有授信额度", "fen", "application", unit="分", description="贷后预警：客户现有授信额度"),
    _v("grade", "评级等级", "enum", "output", enum=GRADES, description="评级规则输出；额度与定价规则的输入"),
    # customer fields (客户字段)
    _v("age", "年龄", "integer", "customer", key="age", policy="required", unit="岁", description="由身份证号按决策日期计算"),
    _v("occupation", "职业类别", "enum", "customer", key="occupation", enum=OCCUPATIONS),
    _v("monthly_income_fen", "月收入", "fen", "customer", key="monthly_income_fen", unit="分"),
    _v("kyc_verified", "实名认证通过", "boolean", "customer", key="kyc_verified"),
    _v("credit_consent", "征信查询授权有效", "boolean", "customer", key="credit_consent"),
    _v("years_with_bank", "在本行年限", "integer", "customer", key="years_with_bank", policy="default", default=0, unit="年"),
    # list lookups (名单查询)
    _v("on_blacklist", "命中黑名单", "boolean", "list", key="black"),
    _v("dishonest_debtor", "失信被执行人", "boolean", "list", key="black:court_dishonest"),
    _v("on_greylist", "命中灰名单", "boolean", "list", key="grey"),
    _v("on_whitelist", "整村授信白名单", "boolean", "list", key="white"),
    # internal data (行内数据, providers registered by other apps)
    _v("current_overdue_count", "本行当前逾期笔数", "integer", "internal", key="current_overdue_count"),
    _v("outstanding_debt_fen", "本行未结清贷款余额", "fen", "internal", key="outstanding_debt_fen", unit="分"),
    _v("whitelist_limit_fen", "白名单预授信额度", "fen", "internal", key="whitelist_limit_fen", unit="分"),
    _v(
        "deposit_avg_6m_fen",
        "近6个月存款日均",
        "fen",
        "internal",
        key="deposit_avg_6m_fen",
        policy="default",
        default=0,
        unit="分",
    ),
    _v("past_overdue_times_24m", "近24个月逾期次数", "integer", "internal", key="past_overdue_times_24m"),
    _v("current_max_dpd", "当前最长逾期天数", "integer", "internal", key="current_max_dpd", unit="天"),
    _v("new_debt_3m_fen", "近3个月新增负债", "fen", "internal", key="new_debt_3m_fen", unit="分"),
    _v("deposit_avg_3m_fen", "近3个月存款日均", "fen", "internal", key="deposit_avg_3m_fen", unit="分"),
    _v("deposit_avg_prev_3m_fen", "前3个月存款日均", "fen", "internal", key="deposit_avg_prev_3m_fen", unit="分"),
    _v("lpr_1y_bp", "1年期LPR", "integer", "internal", key="lpr_1y_bp", unit="基点"),
    # derived (派生)
    _v(
        "dti_pct",
        "负债收入比",
        "number",
        "derived",
        expression="monthly_income_fen > 0 ? round(monthly_debt_fen * 10000 / monthly_income_fen) / 100 : 999",
        unit="%",
    ),
    _v(
        "new_debt_ratio_pct",
        "新增负债占授信比",
        "number",
        "derived",
        expression="credit_limit_fen > 0 ? round(new_debt_3m_fen * 10000 / credit_limit_fen) / 100 : 0",
        unit="%",
    ),
    _v(
        "deposit_drop_pct",
        "存款日均降幅",
        "number",
        "derived",
        expression="deposit_avg_prev_3m_fen > 0 ? round((deposit_avg_prev_3m_fen - deposit_avg_3m_fen) * 10000 / deposit_avg_prev_3m_fen) / 100 : 0",
        unit="%",
    ),
    # rule outputs (规则输出)
    _v("outcome", "结论", "enum", "output", enum=OUTCOMES),
    _v("reasons", "原因码", "list", "output"),
    _v("reason", "原因码（单个）", "string", "output"),
    _v("code", "原因码", "string", "output"),
    _v("action", "处理", "enum", "output", enum=["reject", "refer", "watch", "alert"]),
    _v("points", "得分", "number", "output"),
    _v("score", "评分", "number", "output"),
    _v("factor", "等级系数(%)", "integer", "output"),
    _v("amount_fen", "额度", "fen", "output", unit="分"),
    _v("spread_bp", "加点", "integer", "output", unit="基点"),
    _v("rate_bp", "执行利率", "integer", "output", unit="基点"),
]

REASON_CODES = [
    # system
    ("ENGINE_ERROR", "规则执行出错，转人工审核", "rule engine error", "system"),
    ("NO_OUTCOME", "规则未给出结论，转人工审核", "rules produced no outcome", "system"),
    # admission
    ("AGE_BELOW_MIN", "年龄低于产品准入下限", "age below the product minimum", "admission"),
    ("AGE_ABOVE_MAX", "年龄高于产品准入上限", "age above the product maximum", "admission"),
    ("BLACKLISTED", "命中黑名单", "on the black list", "admission"),
    ("DISHONEST_DEBTOR", "为法院失信被执行人", "court-listed dishonest debtor", "admission"),
    ("GREYLISTED", "命中灰名单，需人工核实", "on the grey list", "admission"),
    ("CURRENT_OVERDUE", "在本行有当前逾期", "currently overdue with this bank", "admission"),
    ("KYC_NOT_VERIFIED", "实名认证未通过", "KYC not verified", "admission"),
    ("NO_CREDIT_CONSENT", "未授权征信查询", "no consent to the credit report query", "admission"),
    ("OCCUPATION_MISMATCH", "职业不符合产品准入要求", "occupation does not match the product", "admission"),
    ("EMPLOYER_NOT_ELIGIBLE", "工作单位不在产品准入范围内", "employer not eligible for the product", "admission"),
    ("NOT_ON_WHITELIST", "不在整村授信白名单内", "not on the whole-village white list", "admission"),
    ("BUSINESS_TOO_YOUNG", "经营年限不足1年", "business operating less than one year", "admission"),
    ("DTI_TOO_HIGH", "负债收入比超过55%", "debt-to-income above 55%", "admission"),
    # rating
    ("RS_AGE", "年龄段评分偏低", "age band scores low", "rating"),
    ("RS_INCOME", "收入水平偏低", "income scores low", "rating"),
    ("RS_OCCUPATION", "职业稳定性不足", "occupation stability scores low", "rating"),
    ("RS_TENURE", "在本行往来时间较短", "short relationship with the bank", "rating"),
    ("RS_DEPOSIT", "存款积累不足", "low deposits", "rating"),
    ("RS_REPAYMENT", "历史还款记录有逾期", "past overdue repayments", "rating"),
    ("RS_APPRAISAL", "农户评议结果一般", "household appraisal scores low", "rating"),
    ("SC_UNBANDED", "评分卡特征值不在任何分段，转人工审核", "characteristic value outside every band", "rating"),
    ("RATING_NO_SCORE", "无法计算评分，转人工审核", "score could not be computed", "rating"),
    # limit
    ("LIMIT_NO_GRADE", "缺少有效评级，转人工测算额度", "no valid grade for the limit", "limit"),
    ("LIMIT_GRADE_E", "评级为E级，不予授信", "grade E: no limit", "limit"),
    ("LIMIT_ZERO", "测算额度为零", "computed limit is zero", "limit"),
    # pricing
    ("PRICING_NO_GRADE", "缺少有效评级，转人工定价", "no valid grade for pricing", "pricing"),
    ("PRICING_GRADE_E", "评级为E级，不予定价", "grade E: no offer", "pricing"),
    # early warning
    ("EW_DPD_1_30", "当前逾期1至30天", "overdue 1-30 days", "early_warning"),
    ("EW_DPD_OVER_30", "当前逾期超过30天", "overdue more than 30 days", "early_warning"),
    ("EW_BLACKLISTED", "贷后命中黑名单", "black list hit after disbursement", "early_warning"),
    ("EW_DISHONEST_DEBTOR", "贷后被列为失信被执行人", "became a dishonest debtor", "early_warning"),
    ("EW_NEW_DEBT", "近3个月新增负债较多", "large new debts in 3 months", "early_warning"),
    ("EW_DEPOSIT_DROP", "存款日均大幅下降", "large drop in deposits", "early_warning"),
    ("EW_UNKNOWN", "预警指标无法判断，转人工核查", "warning indicators unknown", "early_warning"),
    # lists
    ("LIST_NPL", "本行不良贷款记录", "non-performing loan with this bank", "list"),
    ("LIST_COURT", "法院失信被执行人名单", "court dishonest-debtor list", "list"),
    ("LIST_PEER_REFUSED", "整村授信评议否决", "refused in peer appraisal", "list"),
    ("LIST_FRAUD", "欺诈嫌疑", "suspected fraud", "list"),
    ("LIST_MANUAL", "人工列入", "listed manually", "list"),
    ("LIST_VILLAGE_CREDIT", "整村授信预授信白名单", "whole-village pre-credit white list", "list"),
]

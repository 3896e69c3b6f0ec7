"""吉快·智能绩效 Smart performance: indicator library, formula catalogue, versioned schemes, targets,
attribution (营销归属) and attributed facts, period close with appeals (申诉), calibration, incentive pay with
deferral and clawback, archived PDF reports.

Money is ``DecimalField(18, 2)``; indicator values and scores are decimals with 4 places. State lives in
``FSMField(protected=True)``; only services call transitions (django-fsm-2 + django-fsm-log).
"""

import json
from decimal import Decimal

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django_fsm import FSMField, FSMModelMixin, transition
from django_fsm_log.decorators import fsm_log_by, fsm_log_description
from simple_history.models import HistoricalRecords

from jikuai.core.models import JobRun
from jikuai.core.workdays import get_business_date
from jikuai.customers.models import Customer
from jikuai.org.models import Branch, Institution, Staff, User
from jikuai.org.scoping import ScopedManager, ScopeSpec
from performance.formulas import ITEM_FORMULA_CHOICES


class DecimalJSONDecoder(json.JSONDecoder):
    """JSON numbers with a fraction become Decimal, never float (formula parameters, money in configs)."""

    def __init__(self, *args, **kwargs):
        kwargs["parse_float"] = Decimal
        super().__init__(*args, **kwargs)


def json_field(verbose_name, **kwargs):
    return models.JSONField(verbose_name, encoder=DjangoJSONEncoder, decoder=DecimalJSONDecoder, **kwargs)


class Position(models.TextChoices):
    ACCOUNT_MANAGER = "account_manager", "客户经理 account manager"
    TELLER = "teller", "柜员 teller"
    BRANCH_MANAGER = "branch_manager", "支行行长 branch manager"
    BRANCH = "branch", "网点 branch"


class PeriodType(models.TextChoices):
    MONTH = "month", "月度 month"
    QUARTER = "quarter", "季度 quarter"
    YEAR = "year", "年度 year"


# --------------------------------------------------------------------------------------------------
# settings per institution, positions
# --------------------------------------------------------------------------------------------------


class PerformancePolicy(models.Model):
    """Institution-level rules of the performance process (configurable bank policy)."""

    institution = models.OneToOneField(
        Institution, on_delete=models.PROTECT, related_name="performance_policy", verbose_name="法人行社"
    )
    claim_cutoff_day = models.PositiveSmallIntegerField(
        "认领截止日 claim cut-off day",
        default=25,
        help_text="当月该日之后提交的认领从下月1日起计 / later claims count from next month",
    )
    appeal_window_days = models.PositiveSmallIntegerField("申诉期(天) appeal window days", default=5)
    history = HistoricalRecords()

    objects = ScopedManager()
    scope = ScopeSpec(institution="institution")

    class Meta:
        verbose_name = "绩效政策 performance policy"
        verbose_name_plural = "绩效政策 performance policies"
        constraints = [
            models.CheckConstraint(
                condition=Q(claim_cutoff_day__gte=1, claim_cutoff_day__lte=28), name="perf_policy_cutoff_1_28"
            ),
            models.CheckConstraint(
                condition=Q(appeal_window_days__gte=1, appeal_window_days__lte=30), name="perf_policy_window_1_30"
            ),
        ]

    def __str__(self):
        return f"{self.institution} 绩效政策"


class StaffPosition(models.Model):
    """岗位: which scheme family a staff member is assessed under; the peer group overrides Branch.size_group."""

    staff = models.OneToOneField(Staff, on_delete=models.CASCADE, related_name="performance_position", verbose_name="员工")
    position = models.CharField("岗位 position", max_length=20, choices=Position.choices)
    peer_group = models.CharField(
        "同组 peer group", max_length=20, blank=True, default="", help_text="空=网点规模组 / empty = branch size group"
    )
    history = HistoricalRecords()

    objects = ScopedManager()
    scope = ScopeSpec(institution="staff__institution", branch="staff__branch", assigned="staff")

    class Meta:
        verbose_name = "员工岗位 staff position"
        verbose_name_plural = "员工岗位 staff positions"
        constraints = [models.CheckConstraint(condition=~Q(position="branch"), name="perf_staff_position_not_branch")]

    def __str__(self):
        return f"{self.staff} {self.get_position_display()}"


# --------------------------------------------------------------------------------------------------
# indicator library and formula catalogue (province-wide)
# --------------------------------------------------------------------------------------------------


class Indicator(models.Model):
    """指标库: one measurable business result."""

    class Direction(models.TextChoices):
        HIGHER = "higher", "越高越好 higher is better"
        LOWER = "lower", "越低越好 lower is better"

    class Measure(models.TextChoices):
        SUM = "sum", "累计 sum"
        COUNT = "count", "计数 count"
        DAILY_AVERAGE = "daily_average", "日均 daily average"
        PERIOD_END = "period_end", "期末余额 period end"
        RATIO = "ratio", "比率 ratio"

    class DataSource(models.TextChoices):
        EVENT = "event", "总线事件 bus events"
        FACADE = "facade", "模块接口 facade reads"
        MANUAL = "manual", "手工录入(审批) manual entry"
        IMPORT = "import", "Excel 导入 import"

    class Attribution(models.TextChoices):
        AUTO = "auto", "按来源 by source"
        CUSTOMER = "customer", "客户归属(认领/客户经理) customer claim or manager"
        REFERRER = "referrer", "推荐人 referrer"
        SIGNER = "signer", "签约人 signer"
        DIRECT = "direct", "直接指定员工 named staff"

    code = models.CharField("指标代码 code", max_length=40, unique=True)
    name = models.CharField("指标名称 name", max_length=100)
    unit = models.CharField("单位 unit", max_length=10, default="元")
    direction = models.CharField("方向 direction", max_length=10, choices=Direction.choices, default=Direction.HIGHER)
    measure = models.CharField("口径 measure", max_length=20, choices=Measure.choices, default=Measure.SUM)
    data_source = models.CharField("数据来源 data source", max_length=10, choices=DataSource.choices, default=DataSource.EVENT)
    attribution_mode = models.CharField(
        "归属方式 attribution", max_length=10, choices=Attribution.choices, default=Attribution.AUTO
    )
    sources = json_field("事件取数 extractors", default=list, blank=True, help_text="performance.sources.EXTRACTORS 中的代码")
    numerator = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="分子指标"
    )
    denominator = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="分母指标"
    )
    ratio_scale = models.DecimalField(
        "比率倍数 ratio scale", max_digits=8, decimal_places=2, default=Decimal("100"), help_text="100 = 百分比"
    )
    description = models.TextField("说明 description", blank=True, default="")
    is_active = models.BooleanField("启用 active", default=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = "指标 indicator"
        verbose_name_plural = "指标库 indicators"
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(measure="ratio") | Q(numerator__isnull=False, denominator__isnull=False),
                name="perf_indicator_ratio_parts",
            ),
            models.CheckConstraint(condition=Q(ratio_scale__gt=0), name="perf_indicator_ratio_scale_positive"),
        ]

    def __str__(self):
        return f"{self.code} {self.name}"

    @property
    def lower_is_better(self) -> bool:
        return self.direction == self.Direction.LOWER


class Formula(models.Model):
    """公式库: a named formula from the catalogue (F1–F14) with default parameters (data, tested in admin)."""

    code = models.CharField("公式代码 code", max_length=40, unique=True)
    kind = models.CharField("公式类型 kind", max_length=4, choices=ITEM_FORMULA_CHOICES)
    name = models.CharField("名称 name", max_length=100)
    parameters = json_field("参数 parameters", default=dict, blank=True)
    description = models.TextField("说明 description", blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = "公式 formula"
        verbose_name_plural = "公式库 formula catalogue"
        ordering = ["kind", "code"]

    def __str__(self):
        return f"{self.code} {self.name}"


# --------------------------------------------------------------------------------------------------
# schemes (versioned)
# --------------------------------------------------------------------------------------------------


class Scheme(models.Model):
    """考核方案 per position and period type; its content lives in versions."""

    class Aggregation(models.TextChoices):
        OWN = "own", "本人归属业绩 own attributed business"
        BRANCH = "branch", "所在网点业绩 the whole branch"

    institution = models.ForeignKey(
        Institution, on_delete=models.PROTECT, related_name="performance_schemes", verbose_name="法人行社"
    )
    code = models.CharField("方案代码 code", max_length=40)
    name = models.CharField("方案名称 name", max_length=100)
    position = models.CharField("岗位 position", max_length=20, choices=Position.choices)
    period_type = models.CharField("周期 period type", max_length=10, choices=PeriodType.choices, default=PeriodType.MONTH)
    aggregation = models.CharField("取数范围 aggregation", max_length=10, choices=Aggregation.choices, default=Aggregation.OWN)
    is_active = models.BooleanField("启用 active", default=True)
    history = HistoricalRecords()

    objects = ScopedManager()
    scope = ScopeSpec(institution="institution")

    class Meta:
        verbose_name = "考核方案 scheme"
        verbose_name_plural = "考核方案 schemes"
        ordering = ["institution__code", "code"]
        constraints = [models.UniqueConstraint(fields=["institution", "code"], name="perf_scheme_code_unique")]

    def __str__(self):
        return f"{self.code} {self.name}"

    @property
    def subject_is_branch(self) -> bool:
        return self.position == Position.BRANCH


class SchemeVersion(FSMModelMixin, models.Model):
    """One version of a scheme. Drafts are edited; a published version is frozen (its items' formulas and
    parameters are resolved into ``resolved``) and periods reference it exactly."""

    class State(models.TextChoices):
        DRAFT = "draft", "草稿 draft"
        PUBLISHED = "published", "已发布 published"
        RETIRED = "retired", "已停用 retired"

    scheme = models.ForeignKey(Scheme, on_delete=models.PROTECT, related_name="versions", verbose_name="方案")
    number = models.PositiveIntegerField("版本号 version")
    state = FSMField("状态 state", default=State.DRAFT, choices=State.choices, protected=True)
    effective_from = models.DateField("生效日 effective from")
    renormalise_missing_targets = models.BooleanField("无目标指标权重归一 (F13)", default=True)
    grading = json_field("评级 (F16)", default=dict, blank=True)
    incentive = json_field("激励 (F17)", default=dict, blank=True)
    notes = models.TextField("说明 notes", blank=True, default="")
    spec_hash = models.CharField("方案摘要 SHA-256", max_length=64, blank=True, default="", editable=False)
    published_at = models.DateTimeField("发布时间", null=True, blank=True)
    published_by = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="发布人"
    )
    history = HistoricalRecords()

    objects = ScopedManager()
    scope = ScopeSpec(institution="scheme__institution")

    class Meta:
        verbose_name = "方案版本 scheme version"
        verbose_name_plural = "方案版本 scheme versions"
        ordering = ["scheme__code", "-number"]
        constraints = [models.UniqueConstraint(fields=["scheme", "number"], name="perf_scheme_version_unique")]

    def __str__(self):
        return f"{self.scheme.code} v{self.number}"

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=State.DRAFT, target=State.PUBLISHED)
    def publish(self, by=None, description=None):
        """发布 publish (frozen from now on)."""

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=State.PUBLISHED, target=State.RETIRED)
    def retire(self, by=None, description=None):
        """停用 retire."""


class SchemeItem(models.Model):
    """An indicator in a scheme version: weighted (weights sum to 100), bonus, deduction or gate (F14)."""

    class Kind(models.TextChoices):
        WEIGHTED = "weighted", "权重指标 weighted"
        BONUS = "bonus", "加分项 bonus"
        DEDUCTION = "deduction", "扣分项 deduction"
        GATE = "gate", "门槛/否决 gate"

    version = models.ForeignKey(SchemeVersion, on_delete=models.CASCADE, related_name="items", verbose_name="方案版本")
    indicator = models.ForeignKey(Indicator, on_delete=models.PROTECT, related_name="scheme_items", verbose_name="指标")
    kind = models.CharField("类型 kind", max_length=10, choices=Kind.choices, default=Kind.WEIGHTED)
    weight = models.DecimalField("权重 weight", max_digits=6, decimal_places=2, default=Decimal("0"))
    formula = models.ForeignKey(Formula, on_delete=models.PROTECT, related_name="items", verbose_name="公式")
    parameters = json_field("参数覆盖 parameter overrides", default=dict, blank=True)
    resolved = json_field("发布时冻结 resolved on publish", default=dict, blank=True, editable=False)
    order = models.PositiveSmallIntegerField("顺序", default=0)

    objects = ScopedManager()
    scope = ScopeSpec(institution="version__scheme__institution")

    class Meta:
        verbose_name = "方案指标 scheme item"
        verbose_name_plural = "方案指标 scheme items"
        ordering = ["version", "order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["version", "indicator", "kind"], name="perf_scheme_item_unique"),
            models.CheckConstraint(condition=Q(weight__gte=0, weight__lte=100), name="perf_scheme_item_weight_0_100"),
            models.CheckConstraint(condition=Q(kind="weighted") | Q(weight=0), name="perf_scheme_item_only_weighted_weight"),
        ]

    def __str__(self):
        return f"{self.indicator.code} {self.weight}"


# --------------------------------------------------------------------------------------------------
# targets
# --------------------------------------------------------------------------------------------------


class Target(models.Model):
    """目标: institution → branch → person; defaults by rank with per-person overrides. Month 0 is the annual
    target, months 1–12 the monthly targets (annual targets are decomposed into months)."""

    class Level(models.TextChoices):
        INSTITUTION = "institution", "机构 institution"
        BRANCH = "branch", "网点 branch"
        RANK = "rank", "职级默认 rank default"
        STAFF = "staff", "个人 person"

    institution = models.ForeignKey(
        Institution, on_delete=models.PROTECT, related_name="performance_targets", verbose_name="法人行社"
    )
    level = models.CharField("层级 level", max_length=12, choices=Level.choices)
    branch = models.ForeignKey(Branch, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="网点")
    rank = models.CharField("职级 rank", max_length=20, choices=Staff.Rank.choices, blank=True, default="")
    staff = models.ForeignKey(
        Staff, on_delete=models.PROTECT, null=True, blank=True, related_name="performance_targets", verbose_name="员工"
    )
    indicator = models.ForeignKey(Indicator, on_delete=models.PROTECT, related_name="targets", verbose_name="指标")
    year = models.PositiveSmallIntegerField("年 year")
    month = models.PositiveSmallIntegerField("月 month", help_text="0 = 年度目标 annual")
    value = models.DecimalField("目标值 value", max_digits=20, decimal_places=4)
    scope_key = models.CharField("层级键", max_length=40, editable=False)
    source = models.CharField("来源", max_length=12, default="manual", editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    history = HistoricalRecords()

    objects = ScopedManager()
    scope = ScopeSpec(institution="institution", branch="branch", assigned="staff")

    class Meta:
        verbose_name = "目标 target"
        verbose_name_plural = "目标 targets"
        ordering = ["year", "month", "indicator__code", "scope_key"]
        constraints = [
            models.UniqueConstraint(fields=["institution", "scope_key", "indicator", "year", "month"], name="perf_target_unique"),
            models.CheckConstraint(condition=Q(month__gte=0, month__lte=12), name="perf_target_month_0_12"),
            models.CheckConstraint(
                condition=(
                    Q(level="institution", branch__isnull=True, staff__isnull=True, rank="")
                    | Q(level="branch", branch__isnull=False, staff__isnull=True, rank="")
                    | Q(level="rank", staff__isnull=True) & ~Q(rank="")
                    | Q(level="staff", staff__isnull=False, rank="")
                ),
                name="perf_target_level_fields",
            ),
        ]
        indexes = [models.Index(fields=["institution", "year", "month"], name="perf_target_period_idx")]

    def __str__(self):
        return f"{self.indicator.code} {self.year}-{self.month:02d} {self.scope_key}: {self.value}"


# --------------------------------------------------------------------------------------------------
# attribution: claims and facts
# --------------------------------------------------------------------------------------------------


class AttributionClaim(FSMModelMixin, models.Model):
    """营销归属认领: staff claim a customer (with split shares summing to 100 %), effective-dated from a
    cut-off rule; the branch manager approves and resolves conflicts with existing claims."""

    class State(models.TextChoices):
        PENDING = "pending", "待审批 pending"
        CONFLICT = "conflict", "冲突待裁决 conflict"
        APPROVED = "approved", "已生效 approved"
        REJECTED = "rejected", "已驳回 rejected"
        ENDED = "ended", "已终止 ended"

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+", verbose_name="法人行社")
    branch = models.ForeignKey(Branch, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="网点")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="performance_claims", verbose_name="客户")
    effective_from = models.DateField("起计日 effective from")
    effective_to = models.DateField("止计日 effective to", null=True, blank=True)
    state = FSMField("状态 state", default=State.PENDING, choices=State.choices, protected=True)
    reason = models.CharField("认领理由 reason", max_length=200, blank=True, default="")
    requested_by = models.ForeignKey(Staff, on_delete=models.PROTECT, related_name="+", verbose_name="申请人")
    requested_at = models.DateTimeField("申请时间", default=timezone.now)
    decided_by = models.ForeignKey(
        Staff, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="审批人"
    )
    decided_at = models.DateTimeField("审批时间", null=True, blank=True)
    decision_note = models.CharField("审批意见", max_length=200, blank=True, default="")
    history = HistoricalRecords()

    objects = ScopedManager()
    scope = ScopeSpec(institution="institution", branch="branch")

    class Meta:
        verbose_name = "归属认领 attribution claim"
        verbose_name_plural = "归属认领 attribution claims"
        ordering = ["-requested_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(effective_to__isnull=True) | Q(effective_to__gte=F("effective_from")), name="perf_claim_dates"
            ),
        ]
        indexes = [models.Index(fields=["customer", "state", "effective_from"], name="perf_claim_lookup_idx")]

    def __str__(self):
        return f"认领 #{self.pk} {self.customer.masked_name}"

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=State.PENDING, target=State.CONFLICT)
    def flag_conflict(self, by=None, description=None):
        """与已生效认领冲突 conflicts with an approved claim."""

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=[State.PENDING, State.CONFLICT], target=State.APPROVED)
    def approve(self, by=None, description=None):
        """批准 approve."""

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=[State.PENDING, State.CONFLICT], target=State.REJECTED)
    def reject(self, by=None, description=None):
        """驳回 reject."""

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=State.APPROVED, target=State.ENDED)
    def end(self, by=None, description=None):
        """终止（被新认领替代）end (superseded)."""


class ClaimShare(models.Model):
    """One claimant's share of a claim (percent with two decimals); shares of a claim sum to 100 (checked by
    the service, and on PostgreSQL by a deferred constraint trigger at commit)."""

    claim = models.ForeignKey(AttributionClaim, on_delete=models.CASCADE, related_name="shares", verbose_name="认领")
    staff = models.ForeignKey(Staff, on_delete=models.PROTECT, related_name="performance_claim_shares", verbose_name="员工")
    percent = models.DecimalField("份额% share", max_digits=5, decimal_places=2)

    class Meta:
        verbose_name = "认领份额 claim share"
        verbose_name_plural = "认领份额 claim shares"
        constraints = [
            models.UniqueConstraint(fields=["claim", "staff"], name="perf_claim_share_unique"),
            models.CheckConstraint(condition=Q(percent__gt=0, percent__lte=100), name="perf_claim_share_0_100"),
        ]

    def __str__(self):
        return f"{self.staff} {self.percent}%"


class Fact(models.Model):
    """An attributed business fact (业绩明细): one indicator, one staff member's credited share, drillable to
    the customer and the loan / merchant / credit line behind it. Append-only: corrections are new rows
    (reversals, adjustments). Unique per (source key, indicator, staff) so a redelivered event adds nothing."""

    class Source(models.TextChoices):
        EVENT = "event", "总线事件 event"
        MANUAL = "manual", "手工录入 manual"
        IMPORT = "import", "导入 import"
        FACADE = "facade", "接口读取 facade"
        REATTRIBUTION = "reattribution", "认领改归属 re-attribution"
        ADJUSTMENT = "adjustment", "调整 adjustment"

    # single-column indexes on institution and staff are covered by the composite indexes below
    institution = models.ForeignKey(
        Institution, on_delete=models.PROTECT, related_name="+", verbose_name="法人行社", db_index=False
    )
    indicator = models.ForeignKey(Indicator, on_delete=models.PROTECT, related_name="facts", verbose_name="指标")
    staff = models.ForeignKey(
        Staff,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="performance_facts",
        verbose_name="归属员工",
        db_index=False,
    )
    branch = models.ForeignKey(Branch, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="网点")
    fact_date = models.DateField("业务日期 date")
    value = models.DecimalField("计入值 credited value", max_digits=20, decimal_places=4)
    base_value = models.DecimalField("基期值 base", max_digits=20, decimal_places=4, default=Decimal("0"))
    metric = models.DecimalField("原始值 metric", max_digits=20, decimal_places=4)
    share = models.DecimalField("份额% share", max_digits=5, decimal_places=2, default=Decimal("100"))
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="客户")
    subject_kind = models.CharField("业务对象 subject", max_length=16, blank=True, default="")
    subject_id = models.BigIntegerField("对象ID", null=True, blank=True)
    attribution = models.CharField("归属依据 attributed by", max_length=16, blank=True, default="")
    claim = models.ForeignKey(AttributionClaim, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False)
    source = models.CharField("来源 source", max_length=16, choices=Source.choices, default=Source.EVENT)
    source_key = models.CharField("来源键 source key", max_length=64)
    created_at = models.DateTimeField("入库时间", default=timezone.now)

    objects = ScopedManager()
    scope = ScopeSpec(institution="institution", branch="branch", assigned="staff")

    class Meta:
        verbose_name = "业绩明细 fact"
        verbose_name_plural = "业绩明细 facts"
        constraints = [
            models.UniqueConstraint(
                fields=["source_key", "indicator", "staff"], condition=Q(staff__isnull=False), name="perf_fact_once"
            ),
            models.UniqueConstraint(
                fields=["source_key", "indicator"], condition=Q(staff__isnull=True), name="perf_fact_once_unattributed"
            ),
            models.CheckConstraint(condition=Q(share__gt=0, share__lte=100), name="perf_fact_share_0_100"),
        ]
        indexes = [
            models.Index(fields=["institution", "fact_date"], name="perf_fact_inst_date_idx"),
            models.Index(fields=["staff", "fact_date"], name="perf_fact_staff_date_idx"),
        ]

    def __str__(self):
        return f"{self.indicator_id} {self.fact_date} {self.value}"


class ImportBatch(FSMModelMixin, models.Model):
    """An Excel upload (targets or facts): the file hash, row report and who uploaded / approved it."""

    class Kind(models.TextChoices):
        TARGETS = "targets", "目标 targets"
        FACTS = "facts", "业绩数据 facts"

    class State(models.TextChoices):
        PENDING = "pending", "待审批 pending"
        APPLIED = "applied", "已入库 applied"
        REJECTED = "rejected", "已驳回 rejected"

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+", verbose_name="法人行社")
    kind = models.CharField("类型 kind", max_length=10, choices=Kind.choices)
    file_name = models.CharField("文件名", max_length=200)
    sha256 = models.CharField("文件摘要 SHA-256", max_length=64)
    row_count = models.PositiveIntegerField("行数", default=0)
    state = FSMField("状态 state", default=State.PENDING, choices=State.choices, protected=True)
    uploaded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+", verbose_name="上传人")
    uploaded_at = models.DateTimeField(default=timezone.now)
    decided_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="审批人")
    decided_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedManager()
    scope = ScopeSpec(institution="institution")

    class Meta:
        verbose_name = "导入批次 import batch"
        verbose_name_plural = "导入批次 import batches"
        ordering = ["-uploaded_at"]

    def __str__(self):
        return f"{self.get_kind_display()} {self.file_name}"

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=State.PENDING, target=State.APPLIED)
    def apply(self, by=None, description=None):
        """入库 apply."""

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=State.PENDING, target=State.REJECTED)
    def reject(self, by=None, description=None):
        """驳回 reject."""


class ManualEntry(FSMModelMixin, models.Model):
    """手工录入 (or one row of a facts import): becomes a fact only when another person approves it
    (maker-checker). Examples: deposit daily averages, customer complaints, low-cost deposit share."""

    class State(models.TextChoices):
        PENDING = "pending", "待审批 pending"
        APPROVED = "approved", "已入库 approved"
        REJECTED = "rejected", "已驳回 rejected"

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+", verbose_name="法人行社")
    batch = models.ForeignKey(
        ImportBatch, on_delete=models.PROTECT, null=True, blank=True, related_name="entries", verbose_name="导入批次"
    )
    indicator = models.ForeignKey(Indicator, on_delete=models.PROTECT, related_name="+", verbose_name="指标")
    staff = models.ForeignKey(Staff, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="员工")
    branch = models.ForeignKey(Branch, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="网点")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="客户")
    fact_date = models.DateField("业务日期 date")
    value = models.DecimalField("数值 value", max_digits=20, decimal_places=4)
    base_value = models.DecimalField("基期值 base", max_digits=20, decimal_places=4, default=Decimal("0"))
    note = models.CharField("说明 note", max_length=200, blank=True, default="")
    state = FSMField("状态 state", default=State.PENDING, choices=State.choices, protected=True)
    entered_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+", verbose_name="录入人")
    entered_at = models.DateTimeField(default=timezone.now)
    decided_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="审批人")
    decided_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedManager()
    scope = ScopeSpec(institution="institution", branch="branch", assigned="staff")

    class Meta:
        verbose_name = "手工录入 manual entry"
        verbose_name_plural = "手工录入 manual entries"
        ordering = ["-entered_at"]
        constraints = [
            models.CheckConstraint(condition=Q(staff__isnull=False) | Q(branch__isnull=False), name="perf_manual_needs_subject")
        ]

    def __str__(self):
        return f"{self.indicator.code} {self.fact_date} {self.value}"

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=State.PENDING, target=State.APPROVED)
    def approve(self, by=None, description=None):
        """批准入库 approve."""

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=State.PENDING, target=State.REJECTED)
    def reject(self, by=None, description=None):
        """驳回 reject."""


# --------------------------------------------------------------------------------------------------
# periods, results, appeals, calibration
# --------------------------------------------------------------------------------------------------


class Period(FSMModelMixin, models.Model):
    """考核期: confirm data → compute from an immutable snapshot → publish → appeal window → calibration →
    finalised (grades, incentive, deferral, reports). Published periods are immutable."""

    class State(models.TextChoices):
        OPEN = "open", "采集中 open"
        CONFIRMED = "confirmed", "数据已确认 data confirmed"
        COMPUTING = "computing", "计算中 computing"
        COMPUTED = "computed", "已计算 computed"
        FAILED = "failed", "计算失败 failed"
        PUBLISHED = "published", "已公示(申诉期) published"
        CALIBRATING = "calibrating", "校准中 calibrating"
        FINALISED = "finalised", "已定稿 finalised"

    LOCKED_STATES = (State.PUBLISHED, State.CALIBRATING, State.FINALISED)

    institution = models.ForeignKey(
        Institution, on_delete=models.PROTECT, related_name="performance_periods", verbose_name="法人行社"
    )
    scheme = models.ForeignKey(Scheme, on_delete=models.PROTECT, related_name="periods", verbose_name="方案")
    scheme_version = models.ForeignKey(SchemeVersion, on_delete=models.PROTECT, related_name="periods", verbose_name="方案版本")
    period_type = models.CharField("周期 period type", max_length=10, choices=PeriodType.choices)
    start = models.DateField("开始 start")
    end = models.DateField("结束 end")
    label = models.CharField("名称 label", max_length=40)
    state = FSMField("状态 state", default=State.OPEN, choices=State.choices, protected=True)
    facts_watermark = models.BigIntegerField("事实截止ID watermark", null=True, blank=True, editable=False)
    previous_watermark = models.BigIntegerField("上期截止ID", null=True, blank=True, editable=False)
    snapshot = json_field("快照 snapshot", default=dict, blank=True, editable=False)
    snapshot_hash = models.CharField("快照摘要 SHA-256", max_length=64, blank=True, default="", editable=False)
    job_run = models.ForeignKey(
        JobRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name="计算作业"
    )
    compute_count = models.PositiveIntegerField("计算次数", default=0, editable=False)
    compute_error = models.TextField("计算错误", blank=True, default="", editable=False)
    confirmed_at = models.DateTimeField("数据确认时间", null=True, blank=True, editable=False)
    computed_at = models.DateTimeField("计算完成时间", null=True, blank=True, editable=False)
    published_at = models.DateTimeField("公示时间", null=True, blank=True, editable=False)
    appeal_closes_at = models.DateTimeField("申诉截止 appeal window closes", null=True, blank=True, editable=False)
    finalised_at = models.DateTimeField("定稿时间", null=True, blank=True, editable=False)
    history = HistoricalRecords()

    objects = ScopedManager()
    scope = ScopeSpec(institution="institution")

    class Meta:
        verbose_name = "考核期 period"
        verbose_name_plural = "考核期 periods"
        ordering = ["-start", "scheme__code"]
        constraints = [
            models.UniqueConstraint(fields=["scheme", "start"], name="perf_period_unique_per_scheme"),
            models.CheckConstraint(condition=Q(end__gte=F("start")), name="perf_period_dates"),
        ]

    def __str__(self):
        return f"{self.label} {self.scheme.name}"

    @property
    def is_locked(self) -> bool:
        return self.state in self.LOCKED_STATES

    @property
    def appeal_last_day(self):
        """The last business date on which appeals are accepted (``appeal_closes_at`` is the end of that day)."""
        return timezone.localdate(self.appeal_closes_at) if self.appeal_closes_at else None

    @property
    def appeal_window_open(self) -> bool:
        """The window is counted in business dates (jikuai.core.workdays), like every other business rule."""
        if self.state != self.State.PUBLISHED or self.appeal_closes_at is None:
            return False
        return get_business_date() <= self.appeal_last_day

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=[State.OPEN, State.FAILED], target=State.CONFIRMED)
    def confirm_data(self, by=None, description=None):
        """确认数据 confirm data."""

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=[State.CONFIRMED, State.COMPUTED, State.FAILED], target=State.OPEN)
    def reopen(self, by=None, description=None):
        """退回采集 reopen (before publication only)."""

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=[State.CONFIRMED, State.COMPUTED, State.FAILED], target=State.COMPUTING)
    def start_compute(self, by=None, description=None):
        """开始计算 start computing."""

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=State.COMPUTING, target=State.COMPUTED)
    def finish_compute(self, by=None, description=None):
        """计算完成 computed."""

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=State.COMPUTING, target=State.FAILED)
    def fail_compute(self, by=None, description=None):
        """计算失败 failed."""

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=State.COMPUTED, target=State.PUBLISHED)
    def publish(self, by=None, description=None):
        """公示 publish to staff; the appeal window opens."""

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=State.PUBLISHED, target=State.CALIBRATING)
    def close_appeals(self, by=None, description=None):
        """申诉期结束 appeal window closed."""

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=State.CALIBRATING, target=State.FINALISED)
    def finalise(self, by=None, description=None):
        """定稿 finalise."""


class SubjectResult(models.Model):
    """One assessed subject in a period (a staff member, or a branch for 网点 schemes): totals, ranks, grades."""

    # the period's index is the composite (period, peer_group, total) below
    period = models.ForeignKey(Period, on_delete=models.PROTECT, related_name="results", verbose_name="考核期", db_index=False)
    staff = models.ForeignKey(
        Staff, on_delete=models.PROTECT, null=True, blank=True, related_name="performance_results", verbose_name="员工"
    )
    branch = models.ForeignKey(Branch, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="网点")
    peer_group = models.CharField("同组 peer group", max_length=20, blank=True, default="")
    staff_rank = models.CharField("职级", max_length=20, blank=True, default="")
    weighted_score = models.DecimalField("加权得分", max_digits=12, decimal_places=4, default=Decimal("0"))
    bonus = models.DecimalField("加分", max_digits=12, decimal_places=4, default=Decimal("0"))
    deduction = models.DecimalField("扣分", max_digits=12, decimal_places=4, default=Decimal("0"))
    gate_cap = models.DecimalField("门槛封顶", max_digits=8, decimal_places=2, null=True, blank=True)
    total = models.DecimalField("总分 total", max_digits=9, decimal_places=2, default=Decimal("0"))
    peer_rank = models.PositiveIntegerField("组内排名 peer rank", null=True, blank=True)
    peer_size = models.PositiveIntegerField("组内人数", null=True, blank=True)
    overall_rank = models.PositiveIntegerField("全行排名", null=True, blank=True)
    grade = models.CharField("等级 grade", max_length=10, blank=True, default="")
    final_grade = models.CharField("最终等级 final grade", max_length=10, blank=True, default="")
    revision = models.PositiveIntegerField("修订次数 revision", default=0)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ScopedManager()
    scope = ScopeSpec(institution="period__institution", branch="branch", assigned="staff")

    class Meta:
        verbose_name = "考核结果 result"
        verbose_name_plural = "考核结果 results"
        ordering = ["period", "peer_group", "peer_rank", "id"]
        constraints = [
            models.UniqueConstraint(fields=["period", "staff"], condition=Q(staff__isnull=False), name="perf_result_staff_once"),
            models.UniqueConstraint(fields=["period", "branch"], condition=Q(staff__isnull=True), name="perf_result_branch_once"),
            models.CheckConstraint(condition=Q(staff__isnull=False) | Q(branch__isnull=False), name="perf_result_has_subject"),
        ]
        indexes = [models.Index(fields=["period", "peer_group", "total"], name="perf_result_rank_idx")]

    def __str__(self):
        return f"{self.subject_name} {self.total}"

    @property
    def subject_name(self) -> str:
        if self.staff_id:
            return self.staff.name
        return self.branch.name if self.branch_id else "—"


class ScoreLine(models.Model):
    """One scheme item for one subject: the snapshot inputs (actual, base, target) and the score."""

    # No single-column indexes: (result, item) is unique and lines are always read through their result. The item
    # and indicator references are not checked by the database: the close loads up to 150,000 derived lines per
    # period with COPY, and PostgreSQL's deferred FK checks at commit cost about as much as the load itself; both
    # referenced rows are frozen (a published version's items, the library) and never deleted (PROTECT, no
    # delete in the admin). The reference to the result keeps its constraint.
    result = models.ForeignKey(SubjectResult, on_delete=models.CASCADE, related_name="lines", verbose_name="结果", db_index=False)
    item = models.ForeignKey(
        SchemeItem, on_delete=models.PROTECT, related_name="+", verbose_name="方案指标", db_index=False, db_constraint=False
    )
    indicator = models.ForeignKey(
        Indicator, on_delete=models.PROTECT, related_name="+", verbose_name="指标", db_index=False, db_constraint=False
    )
    actual = models.DecimalField("实际 actual", max_digits=20, decimal_places=4, null=True, blank=True)
    base = models.DecimalField("基期 base", max_digits=20, decimal_places=4, null=True, blank=True)
    target = models.DecimalField("目标 target", max_digits=20, decimal_places=4, null=True, blank=True)
    fact_count = models.PositiveIntegerField("明细条数", default=0)
    adjustment = models.DecimalField("申诉调整", max_digits=20, decimal_places=4, default=Decimal("0"))
    ratio = models.DecimalField("完成率 ratio", max_digits=14, decimal_places=6, null=True, blank=True)
    peer_rank = models.PositiveIntegerField("指标排名", null=True, blank=True)
    score = models.DecimalField("得分 score", max_digits=12, decimal_places=4, null=True, blank=True)
    gate_cap = models.DecimalField("门槛封顶", max_digits=8, decimal_places=2, null=True, blank=True)
    note = models.CharField("备注", max_length=120, blank=True, default="")
    revision = models.PositiveIntegerField("修订次数", default=0)

    objects = ScopedManager()
    scope = ScopeSpec(institution="result__period__institution", branch="result__branch", assigned="result__staff")

    class Meta:
        verbose_name = "指标得分 score line"
        verbose_name_plural = "指标得分 score lines"
        constraints = [models.UniqueConstraint(fields=["result", "item"], name="perf_score_line_once")]

    def __str__(self):
        return f"{self.indicator_id}: {self.score}"


class Appeal(FSMModelMixin, models.Model):
    """申诉: a staff member contests a published result (optionally one indicator) with evidence; a manager
    who is not the appellant decides; accepting applies a correction and recomputes only what it touches."""

    class State(models.TextChoices):
        SUBMITTED = "submitted", "待处理 submitted"
        ACCEPTED = "accepted", "已采纳 accepted"
        REJECTED = "rejected", "已驳回 rejected"

    period = models.ForeignKey(Period, on_delete=models.PROTECT, related_name="appeals", verbose_name="考核期")
    result = models.ForeignKey(SubjectResult, on_delete=models.PROTECT, related_name="appeals", verbose_name="结果")
    line = models.ForeignKey(
        ScoreLine, on_delete=models.PROTECT, null=True, blank=True, related_name="appeals", verbose_name="申诉指标"
    )
    staff = models.ForeignKey(Staff, on_delete=models.PROTECT, related_name="performance_appeals", verbose_name="申诉人")
    branch = models.ForeignKey(Branch, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="网点")
    reason = models.TextField("申诉理由 reason")
    evidence_text = models.TextField("证据说明 evidence", blank=True, default="")
    evidence_file = models.CharField("证据文件", max_length=255, blank=True, default="", editable=False)
    evidence_sha256 = models.CharField("证据摘要", max_length=64, blank=True, default="", editable=False)
    requested_actual = models.DecimalField("申请实际值", max_digits=20, decimal_places=4, null=True, blank=True)
    requested_target = models.DecimalField("申请目标值", max_digits=20, decimal_places=4, null=True, blank=True)
    state = FSMField("状态 state", default=State.SUBMITTED, choices=State.choices, protected=True)
    submitted_at = models.DateTimeField("提交时间", default=timezone.now)
    decided_by = models.ForeignKey(
        Staff, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="处理人"
    )
    decided_at = models.DateTimeField("处理时间", null=True, blank=True)
    decision_note = models.TextField("处理意见", blank=True, default="")
    applied_change = json_field("调整内容", default=dict, blank=True, editable=False)
    history = HistoricalRecords()

    objects = ScopedManager()
    scope = ScopeSpec(institution="period__institution", branch="branch", assigned="staff")

    class Meta:
        verbose_name = "申诉 appeal"
        verbose_name_plural = "申诉 appeals"
        ordering = ["-submitted_at"]

    def __str__(self):
        return f"申诉 #{self.pk} {self.staff}"

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=State.SUBMITTED, target=State.ACCEPTED)
    def accept(self, by=None, description=None):
        """采纳 accept."""

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=State.SUBMITTED, target=State.REJECTED)
    def reject(self, by=None, description=None):
        """驳回 reject."""


class CalibrationAdjustment(models.Model):
    """校准: a grade changed during calibration, with the reason and who did it."""

    period = models.ForeignKey(Period, on_delete=models.PROTECT, related_name="calibrations", verbose_name="考核期")
    result = models.ForeignKey(SubjectResult, on_delete=models.PROTECT, related_name="calibrations", verbose_name="结果")
    from_grade = models.CharField("原等级", max_length=10)
    to_grade = models.CharField("校准后等级", max_length=10)
    reason = models.CharField("理由 reason", max_length=200)
    by = models.ForeignKey(Staff, on_delete=models.PROTECT, related_name="+", verbose_name="校准人")
    at = models.DateTimeField(default=timezone.now)

    objects = ScopedManager()
    scope = ScopeSpec(institution="period__institution", branch="result__branch", assigned="result__staff")

    class Meta:
        verbose_name = "校准记录 calibration"
        verbose_name_plural = "校准记录 calibrations"
        ordering = ["-at"]

    def __str__(self):
        return f"{self.result} {self.from_grade}→{self.to_grade}"


# --------------------------------------------------------------------------------------------------
# incentive pay, deferral and clawback
# --------------------------------------------------------------------------------------------------


class IncentiveAward(models.Model):
    """绩效薪酬 (F17): gross = immediate + deferred; the deferred part is paid in yearly installments."""

    period = models.ForeignKey(Period, on_delete=models.PROTECT, related_name="awards", verbose_name="考核期")
    result = models.OneToOneField(SubjectResult, on_delete=models.PROTECT, related_name="award", verbose_name="结果")
    staff = models.ForeignKey(Staff, on_delete=models.PROTECT, related_name="performance_awards", verbose_name="员工")
    branch = models.ForeignKey(Branch, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="网点")
    method = models.CharField("方法", max_length=12)
    coefficient = models.DecimalField("等级系数", max_digits=6, decimal_places=4, default=Decimal("1"))
    gross = models.DecimalField("应发 gross", max_digits=18, decimal_places=2)
    immediate = models.DecimalField("当期发放 immediate", max_digits=18, decimal_places=2)
    deferred = models.DecimalField("延期支付 deferred", max_digits=18, decimal_places=2)
    created_at = models.DateTimeField(default=timezone.now)

    objects = ScopedManager()
    scope = ScopeSpec(institution="period__institution", branch="branch", assigned="staff")

    class Meta:
        verbose_name = "绩效薪酬 incentive award"
        verbose_name_plural = "绩效薪酬 incentive awards"
        constraints = [
            # gross = immediate + deferred to the fen (the half-fen tolerance only absorbs SQLite's binary arithmetic)
            models.CheckConstraint(
                condition=Q(
                    gross__gte=F("immediate") + F("deferred") - Decimal("0.005"),
                    gross__lte=F("immediate") + F("deferred") + Decimal("0.005"),
                ),
                name="perf_award_parts_sum",
            ),
            models.CheckConstraint(condition=Q(immediate__gte=0, deferred__gte=0), name="perf_award_non_negative"),
        ]

    def __str__(self):
        return f"{self.staff} {self.gross}"


class DeferralInstallment(models.Model):
    """One yearly part of a deferred award; clawbacks reduce what is still payable."""

    class State(models.TextChoices):
        SCHEDULED = "scheduled", "待发放 scheduled"
        RELEASED = "released", "已发放 released"

    award = models.ForeignKey(IncentiveAward, on_delete=models.PROTECT, related_name="installments", verbose_name="薪酬")
    staff = models.ForeignKey(Staff, on_delete=models.PROTECT, related_name="+", verbose_name="员工")
    number = models.PositiveSmallIntegerField("期次")
    due_date = models.DateField("发放日 due")
    amount = models.DecimalField("金额 amount", max_digits=18, decimal_places=2)
    clawed_back = models.DecimalField("已追索 clawed back", max_digits=18, decimal_places=2, default=Decimal("0.00"))
    state = models.CharField("状态", max_length=10, choices=State.choices, default=State.SCHEDULED)
    released_at = models.DateTimeField(null=True, blank=True)
    released_amount = models.DecimalField("实发", max_digits=18, decimal_places=2, null=True, blank=True)

    objects = ScopedManager()
    scope = ScopeSpec(institution="award__period__institution", branch="award__branch", assigned="staff")

    class Meta:
        verbose_name = "延期支付 deferral installment"
        verbose_name_plural = "延期支付 deferral installments"
        ordering = ["due_date", "id"]
        constraints = [
            models.UniqueConstraint(fields=["award", "number"], name="perf_installment_once"),
            models.CheckConstraint(
                condition=Q(clawed_back__gte=0, clawed_back__lte=F("amount")), name="perf_installment_clawback_bounds"
            ),
        ]

    def __str__(self):
        return f"{self.staff} {self.due_date} {self.amount}"

    @property
    def payable(self) -> Decimal:
        return self.amount - self.clawed_back


class ClawbackEntry(FSMModelMixin, models.Model):
    """追索扣回: a proposed clawback (e.g. a credited loan turned non-performing within the deferral period);
    once approved it is applied against scheduled installments, latest first."""

    class State(models.TextChoices):
        PROPOSED = "proposed", "待审批 proposed"
        APPLIED = "applied", "已扣回 applied"
        CANCELLED = "cancelled", "已撤销 cancelled"

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+", verbose_name="法人行社")
    staff = models.ForeignKey(Staff, on_delete=models.PROTECT, related_name="performance_clawbacks", verbose_name="员工")
    branch = models.ForeignKey(Branch, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="网点")
    amount = models.DecimalField("追索金额 amount", max_digits=18, decimal_places=2)
    recovered = models.DecimalField("已扣回 recovered", max_digits=18, decimal_places=2, default=Decimal("0.00"))
    reason = models.CharField("原因 reason", max_length=200)
    loan_id = models.BigIntegerField("贷款ID", null=True, blank=True)
    source_key = models.CharField("来源键", max_length=64, unique=True)
    state = FSMField("状态 state", default=State.PROPOSED, choices=State.choices, protected=True)
    created_at = models.DateTimeField(default=timezone.now)
    decided_by = models.ForeignKey(
        Staff, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="审批人"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedManager()
    scope = ScopeSpec(institution="institution", branch="branch", assigned="staff")

    class Meta:
        verbose_name = "追索扣回 clawback"
        verbose_name_plural = "追索扣回 clawbacks"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="perf_clawback_positive"),
            models.CheckConstraint(
                condition=Q(recovered__gte=0, recovered__lte=F("amount")), name="perf_clawback_recovered_bounds"
            ),
        ]

    def __str__(self):
        return f"{self.staff} −{self.amount}"

    @property
    def outstanding(self) -> Decimal:
        return self.amount - self.recovered

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=State.PROPOSED, target=State.APPLIED)
    def apply(self, by=None, description=None):
        """扣回 apply."""

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=State.PROPOSED, target=State.CANCELLED)
    def cancel(self, by=None, description=None):
        """撤销 cancel."""


class ClawbackLeg(models.Model):
    """How much of a clawback was taken from one installment (append-only)."""

    entry = models.ForeignKey(ClawbackEntry, on_delete=models.PROTECT, related_name="legs")
    installment = models.ForeignKey(DeferralInstallment, on_delete=models.PROTECT, related_name="clawback_legs")
    amount = models.DecimalField("金额", max_digits=18, decimal_places=2)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "追索明细 clawback leg"
        verbose_name_plural = "追索明细 clawback legs"
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="perf_clawback_leg_positive")]

    def __str__(self):
        return f"{self.installment_id} −{self.amount}"


class PerformanceReport(models.Model):
    """An archived PDF report (per staff member, branch or period) with its SHA-256."""

    class Kind(models.TextChoices):
        STAFF = "staff", "个人报告 staff"
        BRANCH = "branch", "网点报告 branch"
        PERIOD = "period", "全行报告 period"

    period = models.ForeignKey(Period, on_delete=models.PROTECT, related_name="reports", verbose_name="考核期")
    kind = models.CharField("类型 kind", max_length=10, choices=Kind.choices)
    staff = models.ForeignKey(Staff, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="员工")
    branch = models.ForeignKey(Branch, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="网点")
    key = models.CharField("报告键", max_length=40)
    path = models.CharField("存档路径", max_length=255, editable=False)
    sha256 = models.CharField("SHA-256", max_length=64, editable=False)
    size = models.PositiveIntegerField("字节数", default=0, editable=False)
    created_at = models.DateTimeField(default=timezone.now)

    objects = ScopedManager()
    scope = ScopeSpec(institution="period__institution", branch="branch", assigned="staff")

    class Meta:
        verbose_name = "绩效报告 report"
        verbose_name_plural = "绩效报告 reports"
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["period", "key"], name="perf_report_once")]

    def __str__(self):
        return f"{self.period} {self.get_kind_display()} {self.key}"

"""Rule flow (规则流) data: variable catalogue, reason codes, rule sets and their versions (JDM graphs
for GoRules ZEN), deployments with champion/challenger, append-only decision records, black/white/grey
lists with maker-checker, simulations and daily rule-row hit statistics.

Scoping: rule sets, lists and decisions carry an optional institution. ``institution = NULL`` means the
province-wide default (省联社统一配置); an institution may override a rule set by creating one with the
same code for itself. Variables, reason codes and the LPR table are global configuration.
"""

import re
import uuid

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django_fsm import FSMField, FSMModelMixin, transition
from django_fsm_log.decorators import fsm_log_by, fsm_log_description
from simple_history.models import HistoricalRecords

from jikuai.org.models import Institution, Staff
from jikuai.org.scoping import ScopedManager, ScopeSpec
from riskrules.canonical import content_hash as compute_content_hash

CODE_RE = re.compile(r"^[a-z][a-z0-9_]{1,62}$")
code_validator = RegexValidator(CODE_RE, "代码须以小写字母开头，只含小写字母、数字和下划线 / lowercase code: a-z, 0-9, _")


def new_salt() -> str:
    return uuid.uuid4().hex[:16]


class ImmutableRecordError(Exception):
    """Raised by model guards when code tries to change or delete a record that is immutable."""


class Variable(models.Model):
    """变量目录 variable catalogue: every field a rule may read or write, with its type and how it is
    resolved in Python before evaluation (rules never fetch data themselves)."""

    class Type(models.TextChoices):
        NUMBER = "number", "数值 number"
        INTEGER = "integer", "整数 integer"
        FEN = "fen", "金额(分) integer fen"
        STRING = "string", "文本 string"
        BOOLEAN = "boolean", "布尔 boolean"
        DATE = "date", "日期 date"
        ENUM = "enum", "枚举 enum"
        LIST = "list", "列表 list"

    class Source(models.TextChoices):
        APPLICATION = "application", "申请字段 application field"
        CUSTOMER = "customer", "客户字段 customer field"
        DERIVED = "derived", "派生表达式 derived expression"
        LIST = "list", "名单查询 list lookup"
        INTERNAL = "internal", "行内数据 internal data"
        OUTPUT = "output", "规则输出 rule output"

    class MissingPolicy(models.TextChoices):
        REQUIRED = "required", "必填（缺失则不评估、转人工） required"
        DEFAULT = "default", "使用默认值 default"
        REFER = "refer", "缺失转人工 refer"

    code = models.CharField("代码 code", max_length=63, unique=True, validators=[code_validator])
    label = models.CharField("中文名称 label", max_length=60)
    type = models.CharField("类型 type", max_length=10, choices=Type.choices)
    unit = models.CharField("单位 unit", max_length=20, blank=True, default="")
    source = models.CharField("来源 source", max_length=12, choices=Source.choices)
    source_key = models.CharField(
        "来源键 source key",
        max_length=100,
        blank=True,
        default="",
        help_text="客户字段名 / 名单（black, black:court_dishonest, white, grey）/ 数据提供者名称",
    )
    expression = models.CharField(
        "派生表达式 expression", max_length=500, blank=True, default="", help_text="ZEN 表达式，仅引用目录中的变量"
    )
    enum_values = models.JSONField("枚举值 enum values", default=list, blank=True)
    missing_policy = models.CharField(
        "缺失处理 missing policy", max_length=10, choices=MissingPolicy.choices, default=MissingPolicy.REFER
    )
    default_value = models.JSONField("默认值 default", null=True, blank=True)
    description = models.TextField("说明 description", blank=True, default="")
    is_active = models.BooleanField("启用 active", default=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = "变量 variable"
        verbose_name_plural = "变量目录 variable catalogue"
        ordering = ["source", "code"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(missing_policy="default") | Q(default_value__isnull=False), name="variable_default_needs_value"
            ),
            models.CheckConstraint(condition=~Q(source="derived") | ~Q(expression=""), name="variable_derived_needs_expression"),
        ]

    def __str__(self):
        return f"{self.code} {self.label}"


class ReasonCode(models.Model):
    """原因码: the codes rules output, with the Chinese text shown to staff and customers."""

    class Category(models.TextChoices):
        ADMISSION = "admission", "准入 admission"
        RATING = "rating", "评级 rating"
        LIMIT = "limit", "额度 limit"
        PRICING = "pricing", "定价 pricing"
        WARNING = "early_warning", "预警 early warning"
        LIST = "list", "名单 list"
        SYSTEM = "system", "系统 system"

    code = models.CharField("代码 code", max_length=40, unique=True, validators=[RegexValidator(r"^[A-Z][A-Z0-9_]*$")])
    text_zh = models.CharField("中文说明 text", max_length=200)
    text_en = models.CharField("英文说明 English text", max_length=200, blank=True, default="")
    category = models.CharField("类别 category", max_length=16, choices=Category.choices)
    is_adverse = models.BooleanField("不利原因 adverse", default=True)

    class Meta:
        verbose_name = "原因码 reason code"
        verbose_name_plural = "原因码 reason codes"
        ordering = ["category", "code"]

    def __str__(self):
        return f"{self.code} {self.text_zh}"


class RuleSet(models.Model):
    """规则集 rule set, e.g. 吉农快贷准入. Code is unique per institution; NULL institution = province-wide."""

    class Kind(models.TextChoices):
        ADMISSION = "admission", "准入 admission"
        RATING = "rating", "评级 rating"
        LIMIT = "limit", "额度测算 limit"
        PRICING = "pricing", "定价 pricing"
        EARLY_WARNING = "early_warning", "贷后预警 early warning"
        FLOW = "flow", "规则流 flow"

    code = models.CharField("代码 code", max_length=63, validators=[code_validator])
    name = models.CharField("名称 name", max_length=100)
    kind = models.CharField("类型 kind", max_length=16, choices=Kind.choices)
    product_code = models.CharField("适用产品 product", max_length=20, blank=True, default="", db_index=True)
    institution = models.ForeignKey(
        Institution,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="rule_sets",
        verbose_name="法人行社",
        help_text="留空为全省默认 / empty = province-wide default",
    )
    owner = models.ForeignKey(
        Staff, on_delete=models.PROTECT, null=True, blank=True, related_name="owned_rule_sets", verbose_name="负责人 owner"
    )
    description = models.TextField("说明 description", blank=True, default="")
    max_reasons = models.PositiveSmallIntegerField(
        "最多原因数 max reasons", default=3, validators=[MinValueValidator(1), MaxValueValidator(20)]
    )
    created_at = models.DateTimeField(default=timezone.now)
    history = HistoricalRecords()

    class Meta:
        verbose_name = "规则集 rule set"
        verbose_name_plural = "规则集 rule sets"
        ordering = ["product_code", "code"]
        constraints = [
            models.UniqueConstraint(fields=["code"], condition=Q(institution__isnull=True), name="ruleset_code_unique_province"),
            models.UniqueConstraint(fields=["code", "institution"], name="ruleset_code_unique_per_institution"),
        ]

    # scoping: see riskrules.selectors for the province-wide rows every institution may read
    objects = ScopedManager()
    scope = ScopeSpec(institution="institution")

    def __str__(self):
        return f"{self.code} {self.name}"


class RuleVersion(FSMModelMixin, models.Model):
    """规则版本: one JDM graph. Content is hashed (SHA-256 of canonical JSON); anything but a draft is
    immutable (service checks, ``save()`` guard, and a PostgreSQL trigger). Four-eyes: approver ≠ author."""

    class Status(models.TextChoices):
        DRAFT = "draft", "草稿 draft"
        IN_REVIEW = "in_review", "待复核 in review"
        APPROVED = "approved", "已复核 approved"
        PUBLISHED = "published", "已发布 published"
        RETIRED = "retired", "已停用 retired"

    rule_set = models.ForeignKey(RuleSet, on_delete=models.PROTECT, related_name="versions", verbose_name="规则集")
    number = models.PositiveIntegerField("版本号 number")
    content = models.JSONField("JDM 内容 content")
    content_hash = models.CharField("内容哈希 SHA-256", max_length=64, db_index=True, editable=False)
    engine_version = models.CharField("引擎版本 engine", max_length=40)
    input_variables = models.JSONField("输入变量 input variables", default=list, editable=False)
    status = FSMField("状态 status", default=Status.DRAFT, choices=Status.choices, protected=True)
    effective_from = models.DateField("生效日期 effective from", null=True, blank=True)
    effective_to = models.DateField("失效日期 effective to", null=True, blank=True)
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children", verbose_name="来源版本 parent"
    )
    change_note = models.TextField("变更说明 change note", blank=True, default="")
    author = models.ForeignKey(
        Staff, on_delete=models.PROTECT, related_name="authored_rule_versions", verbose_name="起草人 author"
    )
    approver = models.ForeignKey(
        Staff,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="approved_rule_versions",
        verbose_name="复核人 approver",
    )
    submitted_at = models.DateTimeField("提交时间", null=True, blank=True)
    approved_at = models.DateTimeField("复核时间", null=True, blank=True)
    published_at = models.DateTimeField("发布时间", null=True, blank=True)
    retired_at = models.DateTimeField("停用时间", null=True, blank=True)
    validation_report = models.JSONField("校验结果 validation", default=dict, blank=True, editable=False)
    test_report = models.JSONField("测试结果 test report", default=dict, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ScopedManager()
    scope = ScopeSpec(institution="rule_set__institution")

    class Meta:
        verbose_name = "规则版本 rule version"
        verbose_name_plural = "规则版本 rule versions"
        ordering = ["rule_set__code", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["rule_set", "number"], name="ruleversion_number_unique"),
            models.CheckConstraint(condition=Q(approver__isnull=True) | ~Q(approver=F("author")), name="ruleversion_four_eyes"),
            models.CheckConstraint(
                condition=Q(status__in=["draft", "in_review"]) | Q(approver__isnull=False),
                name="ruleversion_approved_has_approver",
            ),
        ]

    IMMUTABLE_FIELDS = ("content", "content_hash", "rule_set_id", "number", "input_variables", "parent_id", "author_id")

    def __str__(self):
        return f"{self.rule_set.code} v{self.number} ({self.get_status_display()})"

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        instance._loaded_status = instance.__dict__.get("status")
        instance._loaded_hash = instance.__dict__.get("content_hash")
        return instance

    def save(self, *args, **kwargs):
        # Invariant, not business logic: a version that has left the draft state never changes content.
        new_hash = compute_content_hash(self.content)
        loaded_status = getattr(self, "_loaded_status", None)
        if self.pk and loaded_status not in (None, self.Status.DRAFT) and new_hash != getattr(self, "_loaded_hash", None):
            raise ImmutableRecordError("已提交或已发布的规则版本不可修改，请复制为新版本 / only drafts can be edited")
        self.content_hash = new_hash
        super().save(*args, **kwargs)
        self._loaded_status = self.status
        self._loaded_hash = self.content_hash

    def delete(self, *args, **kwargs):
        if self.status != self.Status.DRAFT:
            raise ImmutableRecordError("只能删除草稿版本 / only drafts can be deleted")
        return super().delete(*args, **kwargs)

    @property
    def is_editable(self) -> bool:
        return self.status == self.Status.DRAFT

    @property
    def short_hash(self) -> str:
        return (self.content_hash or "")[:12]

    # --- transitions (called only from riskrules.services) -----------------------------------
    @fsm_log_by
    @fsm_log_description
    @transition(field=status, source=Status.DRAFT, target=Status.IN_REVIEW)
    def submit(self, by=None, description=None):
        self.submitted_at = timezone.now()

    @fsm_log_by
    @fsm_log_description
    @transition(field=status, source=Status.IN_REVIEW, target=Status.DRAFT)
    def send_back(self, by=None, description=None):
        self.submitted_at = None

    @fsm_log_by
    @fsm_log_description
    @transition(field=status, source=Status.IN_REVIEW, target=Status.APPROVED)
    def approve(self, by=None, description=None):
        self.approved_at = timezone.now()

    @fsm_log_by
    @fsm_log_description
    @transition(field=status, source=Status.APPROVED, target=Status.PUBLISHED)
    def publish(self, by=None, description=None):
        self.published_at = timezone.now()

    @fsm_log_by
    @fsm_log_description
    @transition(field=status, source=[Status.APPROVED, Status.PUBLISHED], target=Status.RETIRED)
    def retire(self, by=None, description=None):
        self.retired_at = timezone.now()


class RuleTestCase(models.Model):
    """测试用例: resolved inputs → expected outputs (a subset: outcome, grade, reasons, amount_fen, any
    dotted output path). All must pass before a version can be submitted or approved."""

    version = models.ForeignKey(RuleVersion, on_delete=models.CASCADE, related_name="test_cases", verbose_name="版本")
    name = models.CharField("名称 name", max_length=100)
    inputs = models.JSONField("输入 inputs", default=dict)
    expected = models.JSONField("期望输出 expected", default=dict)
    position = models.PositiveSmallIntegerField("顺序", default=0)

    class Meta:
        verbose_name = "测试用例 test case"
        verbose_name_plural = "测试用例 test cases"
        ordering = ["version", "position", "id"]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        status = RuleVersion.objects.filter(pk=self.version_id).values_list("status", flat=True).first()
        if status is not None and status != RuleVersion.Status.DRAFT:
            raise ImmutableRecordError("只能修改草稿版本的测试用例 / test cases of submitted versions are immutable")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        status = RuleVersion.objects.filter(pk=self.version_id).values_list("status", flat=True).first()
        if status is not None and status != RuleVersion.Status.DRAFT:
            raise ImmutableRecordError("只能删除草稿版本的测试用例 / test cases of submitted versions are immutable")
        return super().delete(*args, **kwargs)


class Deployment(models.Model):
    """部署: which version decides for a rule set on a channel; optional challenger by stable hash split.

    shadow: the challenger is evaluated and recorded for every subject in its arm, never acted on.
    split: subjects in the challenger arm get the challenger's decision — only after a second officer
    approved the split (``split_approved_by``); until then the split runs as shadow."""

    class Mode(models.TextChoices):
        SHADOW = "shadow", "影子 shadow"
        SPLIT = "split", "分流 split"

    rule_set = models.ForeignKey(RuleSet, on_delete=models.PROTECT, related_name="deployments", verbose_name="规则集")
    channel = models.CharField("渠道 channel", max_length=30, default="default", validators=[code_validator])
    champion = models.ForeignKey(RuleVersion, on_delete=models.PROTECT, related_name="+", verbose_name="冠军版本 champion")
    challenger = models.ForeignKey(
        RuleVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="挑战者版本 challenger"
    )
    challenger_percent = models.PositiveSmallIntegerField(
        "挑战者比例% challenger share", default=0, validators=[MaxValueValidator(100)]
    )
    mode = models.CharField("模式 mode", max_length=10, choices=Mode.choices, default=Mode.SHADOW)
    salt = models.CharField("实验盐 experiment salt", max_length=40, default=new_salt)
    split_requested_by = models.ForeignKey(
        Staff, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="分流申请人"
    )
    split_approved_by = models.ForeignKey(
        Staff, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="分流复核人"
    )
    updated_by = models.ForeignKey(
        Staff, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="更新人"
    )
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    objects = ScopedManager()
    scope = ScopeSpec(institution="rule_set__institution")

    class Meta:
        verbose_name = "部署 deployment"
        verbose_name_plural = "部署 deployments"
        ordering = ["rule_set__code", "channel"]
        constraints = [
            models.UniqueConstraint(fields=["rule_set", "channel"], name="deployment_one_per_channel"),
            models.CheckConstraint(condition=Q(challenger_percent__lte=100), name="deployment_percent_max_100"),
            models.CheckConstraint(
                condition=Q(split_approved_by__isnull=True) | ~Q(split_approved_by=F("split_requested_by")),
                name="deployment_split_four_eyes",
            ),
        ]

    def __str__(self):
        return f"{self.rule_set.code}@{self.channel}"

    @property
    def effective_mode(self) -> str:
        if self.mode == self.Mode.SPLIT and self.split_approved_by_id:
            return self.Mode.SPLIT
        return self.Mode.SHADOW


class DecisionRecord(models.Model):
    """决策记录 (append-only): the resolved input snapshot, the version by hash, outputs, reasons and a
    compact explanation. Written in the caller's transaction; replayable from the record alone."""

    class Mode(models.TextChoices):
        LIVE = "live", "生效 live"
        SHADOW = "shadow", "影子 shadow"
        SIMULATION = "simulation", "模拟 simulation"

    class Arm(models.TextChoices):
        CHAMPION = "champion", "冠军 champion"
        CHALLENGER = "challenger", "挑战者 challenger"

    # institution and rule set lead composite indexes below: no index of their own (one insert per decision)
    institution = models.ForeignKey(
        Institution, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="法人行社", db_index=False
    )
    rule_set = models.ForeignKey(
        RuleSet, on_delete=models.PROTECT, related_name="decisions", verbose_name="规则集", db_index=False
    )
    version = models.ForeignKey(RuleVersion, on_delete=models.PROTECT, related_name="decisions", verbose_name="版本")
    version_hash = models.CharField("版本哈希", max_length=64)
    engine_version = models.CharField("引擎版本", max_length=40)
    subject_kind = models.CharField("对象类型 subject kind", max_length=20)
    subject_id = models.CharField("对象编号 subject id", max_length=64)
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="客户"
    )
    channel = models.CharField("渠道", max_length=30, default="default")
    mode = models.CharField("模式", max_length=12, choices=Mode.choices, default=Mode.LIVE)
    arm = models.CharField("分组 arm", max_length=12, choices=Arm.choices, default=Arm.CHAMPION)
    correlation_id = models.UUIDField("关联号", default=uuid.uuid4, db_index=True)
    decision_date = models.DateField("决策日期 decision date")
    input_snapshot = models.JSONField("输入快照 inputs", default=dict)
    missing = models.JSONField("缺失变量 missing", default=list)
    outputs = models.JSONField("输出 outputs", default=dict)
    outcome = models.CharField("结论 outcome", max_length=20)
    reasons = models.JSONField("原因 reasons", default=list)
    grade = models.CharField("等级 grade", max_length=4, blank=True, default="")
    amount = models.DecimalField("金额(元) amount", max_digits=18, decimal_places=2, null=True, blank=True)
    rate = models.DecimalField("年利率 rate", max_digits=9, decimal_places=6, null=True, blank=True)
    explanation = models.JSONField("解释 explanation", default=list)
    hit_rows = models.JSONField("命中规则行 hit rows", default=list)
    error = models.TextField("引擎错误 error", blank=True, default="")
    latency_us = models.PositiveIntegerField("耗时(微秒) latency")
    source = models.CharField("调用方 source", max_length=60, blank=True, default="")
    created_at = models.DateTimeField("时间 time", default=timezone.now)

    objects = ScopedManager()
    scope = ScopeSpec(institution="institution")

    class Meta:
        verbose_name = "决策记录 decision"
        verbose_name_plural = "决策记录 decisions"
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["rule_set", "decision_date"], name="decision_ruleset_day"),
            models.Index(fields=["subject_kind", "subject_id"], name="decision_subject"),
            models.Index(fields=["institution", "created_at"], name="decision_institution_time"),
            models.Index(fields=["decision_date", "mode"], name="decision_day_mode"),
        ]

    def __str__(self):
        return f"#{self.pk} {self.rule_set_id} {self.outcome}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise ImmutableRecordError("决策记录只能追加，不能修改 / decision records are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableRecordError("决策记录只能追加，不能删除 / decision records are append-only")

    @property
    def reason_codes(self) -> list[str]:
        return [code for code, _text in self.reasons]


class ListEntry(FSMModelMixin, models.Model):
    """黑/白/灰名单条目: keyed by the blind index of an ID number, mobile, device id or business licence.
    Maker-checker: an entry is effective only after a different officer checked it."""

    class Kind(models.TextChoices):
        BLACK = "black", "黑名单 black"
        WHITE = "white", "白名单 white"
        GREY = "grey", "灰名单 grey"

    class KeyType(models.TextChoices):
        ID_NUMBER = "id_number", "身份证号 ID number"
        MOBILE = "mobile", "手机号 mobile"
        DEVICE = "device", "设备号 device"
        BUSINESS_LICENCE = "business_licence", "营业执照 business licence"

    class Source(models.TextChoices):
        INTERNAL_NPL = "internal_npl", "本行不良 internal NPL"
        COURT_DISHONEST = "court_dishonest", "法院失信被执行人 court dishonest-debtor list"
        PEER_APPRAISAL = "peer_appraisal_refusal", "评议否决 peer appraisal refusal"
        WHOLE_VILLAGE = "whole_village", "整村授信白名单 whole-village pre-credit"
        FRAUD = "fraud", "欺诈 fraud"
        MANUAL = "manual", "人工 manual"

    class Status(models.TextChoices):
        PENDING = "pending", "待复核 pending"
        ACTIVE = "active", "生效 active"
        REJECTED = "rejected", "复核拒绝 rejected"
        REVOKED = "revoked", "已撤销 revoked"

    institution = models.ForeignKey(
        Institution,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="法人行社",
        help_text="留空为全省共享 / empty = province-wide",
    )
    list_kind = models.CharField("名单 list", max_length=8, choices=Kind.choices)
    key_type = models.CharField("键类型 key type", max_length=20, choices=KeyType.choices)
    key_index = models.CharField("盲索引 blind index", max_length=64, editable=False)
    key_masked = models.CharField("脱敏键 masked key", max_length=40, editable=False)
    reason_code = models.CharField("原因码 reason", max_length=40)
    source = models.CharField("来源 source", max_length=24, choices=Source.choices)
    valid_from = models.DateField("生效日期 valid from")
    valid_to = models.DateField("失效日期 valid to", null=True, blank=True)
    note = models.CharField("备注 note", max_length=200, blank=True, default="")
    status = FSMField("状态 status", default=Status.PENDING, choices=Status.choices, protected=True)
    maker = models.ForeignKey(Staff, on_delete=models.PROTECT, related_name="+", verbose_name="录入人 maker")
    checker = models.ForeignKey(
        Staff, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="复核人 checker"
    )
    checked_at = models.DateTimeField("复核时间", null=True, blank=True)
    import_batch = models.ForeignKey(
        "ListImport", on_delete=models.PROTECT, null=True, blank=True, related_name="entries", verbose_name="导入批次"
    )
    created_at = models.DateTimeField(default=timezone.now)
    history = HistoricalRecords()

    objects = ScopedManager()
    scope = ScopeSpec(institution="institution")

    class Meta:
        verbose_name = "名单条目 list entry"
        verbose_name_plural = "黑白灰名单 lists"
        ordering = ["-id"]
        indexes = [models.Index(fields=["key_index", "status"], name="listentry_lookup")]
        constraints = [
            models.CheckConstraint(condition=Q(checker__isnull=True) | ~Q(checker=F("maker")), name="listentry_maker_checker"),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gte=F("valid_from")), name="listentry_valid_range"
            ),
            models.UniqueConstraint(
                fields=["institution", "list_kind", "key_type", "key_index", "source"],
                condition=Q(status__in=["pending", "active"], institution__isnull=False),
                name="listentry_unique_open",
            ),
            models.UniqueConstraint(
                fields=["list_kind", "key_type", "key_index", "source"],
                condition=Q(status__in=["pending", "active"], institution__isnull=True),
                name="listentry_unique_open_province",
            ),
        ]

    def __str__(self):
        return f"{self.get_list_kind_display()} {self.key_masked} {self.reason_code}"

    @fsm_log_by
    @fsm_log_description
    @transition(field=status, source=Status.PENDING, target=Status.ACTIVE)
    def activate(self, by=None, description=None):
        self.checked_at = timezone.now()

    @fsm_log_by
    @fsm_log_description
    @transition(field=status, source=Status.PENDING, target=Status.REJECTED)
    def reject(self, by=None, description=None):
        self.checked_at = timezone.now()

    @fsm_log_by
    @fsm_log_description
    @transition(field=status, source=[Status.ACTIVE, Status.PENDING], target=Status.REVOKED)
    def revoke(self, by=None, description=None):
        pass


class ListImport(models.Model):
    """名单批量导入: the parsed file (blind indexes and masked keys only, never plaintext), accepted rows
    waiting for confirmation and the rejected rows with their errors."""

    class Status(models.TextChoices):
        PREVIEW = "preview", "预览 preview"
        COMMITTED = "committed", "已导入 committed"
        DISCARDED = "discarded", "已放弃 discarded"

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    file_name = models.CharField("文件名", max_length=200)
    status = models.CharField("状态", max_length=10, choices=Status.choices, default=Status.PREVIEW)
    accepted = models.JSONField("可导入行 accepted rows", default=list)
    rejected = models.JSONField("被拒绝行 rejected rows", default=list)
    uploaded_by = models.ForeignKey(Staff, on_delete=models.PROTECT, related_name="+", verbose_name="上传人")
    created_at = models.DateTimeField(default=timezone.now)
    committed_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedManager()
    scope = ScopeSpec(institution="institution")

    class Meta:
        verbose_name = "名单导入 list import"
        verbose_name_plural = "名单导入 list imports"
        ordering = ["-id"]

    def __str__(self):
        return f"#{self.pk} {self.file_name}"


class Simulation(models.Model):
    """模拟: a candidate version run over a population of stored decision inputs (or an uploaded file),
    compared with the champion. Runs as a background job with a JobRun for progress."""

    class Population(models.TextChoices):
        STORED = "stored", "历史决策 stored decisions"
        UPLOAD = "upload", "上传文件 uploaded file"

    class Status(models.TextChoices):
        PENDING = "pending", "排队 pending"
        RUNNING = "running", "运行中 running"
        SUCCEEDED = "succeeded", "完成 succeeded"
        FAILED = "failed", "失败 failed"

    name = models.CharField("名称 name", max_length=100)
    rule_set = models.ForeignKey(RuleSet, on_delete=models.PROTECT, related_name="simulations", verbose_name="规则集")
    candidate = models.ForeignKey(RuleVersion, on_delete=models.PROTECT, related_name="+", verbose_name="候选版本 candidate")
    champion = models.ForeignKey(
        RuleVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="冠军版本 champion"
    )
    population = models.CharField("样本 population", max_length=10, choices=Population.choices, default=Population.STORED)
    date_from = models.DateField("开始日期", null=True, blank=True)
    date_to = models.DateField("结束日期", null=True, blank=True)
    uploaded_rows = models.JSONField("上传样本", default=list, blank=True, editable=False)
    record_decisions = models.BooleanField(
        "写入决策记录 record decisions", default=False, help_text="候选版本的结果以“模拟”模式写入决策记录"
    )
    status = models.CharField("状态", max_length=10, choices=Status.choices, default=Status.PENDING)
    job_run = models.ForeignKey("core.JobRun", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    partial = models.JSONField("中间结果", default=dict, blank=True, editable=False)
    report = models.JSONField("报告 report", default=dict, blank=True, editable=False)
    error = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(Staff, on_delete=models.PROTECT, related_name="+", verbose_name="发起人")
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedManager()
    scope = ScopeSpec(institution="rule_set__institution")

    class Meta:
        verbose_name = "模拟 simulation"
        verbose_name_plural = "模拟 simulations"
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(population="stored") | (Q(date_from__isnull=False) & Q(date_to__isnull=False)),
                name="simulation_stored_needs_dates",
            )
        ]

    def __str__(self):
        return f"#{self.pk} {self.name}"


class SimulationCase(models.Model):
    """A case whose result changed between champion and candidate (the downloadable list)."""

    simulation = models.ForeignKey(Simulation, on_delete=models.CASCADE, related_name="cases")
    row_no = models.PositiveIntegerField("序号")
    decision = models.ForeignKey(DecisionRecord, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    subject_id = models.CharField(max_length=64, blank=True, default="")
    champion_outcome = models.CharField(max_length=20, blank=True, default="")
    candidate_outcome = models.CharField(max_length=20)
    champion_grade = models.CharField(max_length=4, blank=True, default="")
    candidate_grade = models.CharField(max_length=4, blank=True, default="")
    champion_amount = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)
    candidate_amount = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)
    champion_reasons = models.JSONField(default=list)
    candidate_reasons = models.JSONField(default=list)

    class Meta:
        verbose_name = "模拟差异 changed case"
        verbose_name_plural = "模拟差异 changed cases"
        ordering = ["simulation", "row_no"]
        constraints = [models.UniqueConstraint(fields=["simulation", "row_no"], name="simulationcase_row_once")]

    def __str__(self):
        return f"{self.simulation_id}#{self.row_no}"


class RuleHitDaily(models.Model):
    """规则命中日统计: hits per rule row per day (live decisions); flagged when the hit rate doubled
    against the trailing seven-day average."""

    day = models.DateField("日期 day")
    rule_set = models.ForeignKey(RuleSet, on_delete=models.CASCADE, related_name="+", verbose_name="规则集")
    version = models.ForeignKey(RuleVersion, on_delete=models.CASCADE, related_name="+", verbose_name="版本")
    node_id = models.CharField("节点", max_length=200)
    row_id = models.CharField("规则行", max_length=100)
    description = models.CharField("说明", max_length=200, blank=True, default="")
    hits = models.PositiveIntegerField("命中数 hits")
    decisions = models.PositiveIntegerField("决策数 decisions")
    rate = models.DecimalField("命中率 rate", max_digits=9, decimal_places=6)
    baseline_rate = models.DecimalField("前7日均值 baseline", max_digits=9, decimal_places=6, null=True, blank=True)
    flagged = models.BooleanField("命中率翻倍 doubled", default=False)

    class Meta:
        verbose_name = "规则命中统计 rule hits"
        verbose_name_plural = "规则命中统计 rule hits"
        ordering = ["-day", "rule_set", "node_id", "row_id"]
        constraints = [
            models.UniqueConstraint(fields=["day", "version", "node_id", "row_id"], name="rulehitdaily_unique"),
        ]

    def __str__(self):
        return f"{self.day} {self.node_id}:{self.row_id} {self.hits}"


class LprRate(models.Model):
    """贷款市场报价利率 LPR (effective-dated, basis points). Riskrules keeps this small table for pricing
    rules (variable ``lpr_1y_bp``); lending may register its own official LPR provider later."""

    effective_date = models.DateField("生效日期 effective date", unique=True)
    one_year_bp = models.PositiveIntegerField("1年期LPR(基点) 1Y LPR bp")
    five_year_bp = models.PositiveIntegerField("5年期以上LPR(基点) 5Y LPR bp")
    note = models.CharField("备注", max_length=100, blank=True, default="")

    class Meta:
        verbose_name = "LPR 报价 LPR rate"
        verbose_name_plural = "LPR 报价 LPR rates"
        ordering = ["-effective_date"]

    def __str__(self):
        return f"{self.effective_date} 1Y {self.one_year_bp}bp"


def validate_code(value: str) -> None:
    if not CODE_RE.match(value or ""):
        raise ValidationError(code_validator.message)

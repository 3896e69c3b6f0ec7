"""Customers, regions and villages, households, consents; personal data encrypted at rest."""

from django.db import models
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from jikuai.core.fields import EncryptedTextField
from jikuai.core.masking import mask_address, mask_bank_card, mask_id_number, mask_mobile, mask_name
from jikuai.org.models import Branch, Institution, Staff
from jikuai.org.scoping import ScopedManager, ScopeSpec


class Region(models.Model):
    """Administrative region: province → city → county → town → village (行政区划)."""

    class Level(models.IntegerChoices):
        PROVINCE = 1, "省 province"
        CITY = 2, "市/州 city"
        COUNTY = 3, "县/区 county"
        TOWN = 4, "乡镇 town"
        VILLAGE = 5, "村 village"

    code = models.CharField("区划代码 code", max_length=12, unique=True)
    name = models.CharField("名称 name", max_length=50)
    level = models.PositiveSmallIntegerField("级别 level", choices=Level.choices)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children", verbose_name="上级"
    )
    is_demo = models.BooleanField("演示数据 demo data", default=False, help_text="虚构的乡镇/村，仅用于演示")

    class Meta:
        verbose_name = "行政区划 region"
        verbose_name_plural = "行政区划 regions"
        ordering = ["code"]

    def __str__(self):
        return self.name

    def path_names(self) -> list[str]:
        names, node = [], self
        while node is not None:
            names.append(node.name)
            node = node.parent
        return list(reversed(names))


class Customer(models.Model):
    """A customer of one institution. ID number, mobile, address and bank card are encrypted (SM4-GCM)
    and found through blind indexes; every display masks them unless a logged permission is used."""

    class Occupation(models.TextChoices):
        FARMER = "farmer", "农户"
        CIVIL_SERVANT = "civil_servant", "公职人员"
        TEACHER = "teacher", "教师"
        EMPLOYEE = "employee", "企业职工"
        INDIVIDUAL_BUSINESS = "individual_business", "个体工商户"
        MICRO_BUSINESS_OWNER = "micro_business_owner", "小微企业主"
        OTHER = "other", "其他"

    class KycStatus(models.TextChoices):
        NONE = "none", "未认证"
        PENDING = "pending", "认证中"
        VERIFIED = "verified", "已认证"
        REJECTED = "rejected", "认证失败"

    class Channel(models.TextChoices):
        WEB = "web", "网页自助"
        FIELD = "field", "移动展业"
        API = "api", "接口"
        BATCH = "batch", "批量导入"

    class Gender(models.TextChoices):
        MALE = "M", "男"
        FEMALE = "F", "女"

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="customers", verbose_name="法人行社")
    branch = models.ForeignKey(
        Branch, on_delete=models.PROTECT, related_name="customers", null=True, blank=True, verbose_name="网点"
    )
    account_manager = models.ForeignKey(
        Staff, on_delete=models.SET_NULL, null=True, blank=True, related_name="customers", verbose_name="客户经理"
    )
    name = models.CharField("姓名 name", max_length=50)
    id_number = EncryptedTextField("身份证号 ID number", purpose="customers.id_number")
    id_number_index = models.CharField("身份证号索引 ID blind index", max_length=64, editable=False)
    mobile = EncryptedTextField("手机号 mobile", purpose="customers.mobile")
    mobile_index = models.CharField("手机号索引 mobile blind index", max_length=64, editable=False, db_index=True)
    address = EncryptedTextField("地址 address", purpose="customers.address")
    bank_card = EncryptedTextField("银行卡号 bank card", purpose="customers.bank_card")
    bank_card_last4 = models.CharField("卡号后四位", max_length=4, blank=True, default="")
    gender = models.CharField("性别 gender", max_length=1, choices=Gender.choices)
    birth_date = models.DateField("出生日期 birth date")
    region = models.ForeignKey(
        Region, on_delete=models.PROTECT, null=True, blank=True, related_name="customers", verbose_name="所在村/社区"
    )
    occupation = models.CharField("职业类别 occupation", max_length=30, choices=Occupation.choices, default=Occupation.OTHER)
    employer = models.CharField("工作单位 employer", max_length=100, blank=True, default="")
    monthly_income = models.DecimalField("月收入(元) monthly income", max_digits=18, decimal_places=2, default=0)
    referral_code = models.CharField("推荐码 referral code", max_length=12, unique=True)
    referred_by = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="referrals", verbose_name="推荐人"
    )
    kyc_status = models.CharField("实名认证 KYC status", max_length=16, choices=KycStatus.choices, default=KycStatus.NONE)
    channel = models.CharField("来源渠道 channel", max_length=10, choices=Channel.choices, default=Channel.WEB)
    # web account (customer sessions are separate from staff users)
    password = models.CharField("登录密码 password hash", max_length=128, blank=True, default="", editable=False)
    web_enabled = models.BooleanField("已开通网上服务 web account", default=False)
    mobile_verified_at = models.DateTimeField("手机验证时间", null=True, blank=True)
    failed_logins = models.PositiveSmallIntegerField(default=0, editable=False)
    locked_until = models.DateTimeField(null=True, blank=True, editable=False)
    last_login_at = models.DateTimeField(null=True, blank=True, editable=False)
    is_demo = models.BooleanField("演示数据 demo data", default=False)
    created_at = models.DateTimeField("创建时间", default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(excluded_fields=["password", "failed_logins", "locked_until", "last_login_at"])

    objects = ScopedManager()
    scope = ScopeSpec(institution="institution", branch="branch", assigned="account_manager")

    class Meta:
        verbose_name = "客户 customer"
        verbose_name_plural = "客户 customers"
        ordering = ["-id"]
        permissions = [("view_full_pii", "查看完整个人信息 (记录日志) / view unmasked personal data (logged)")]
        constraints = [
            models.UniqueConstraint(fields=["institution", "id_number_index"], name="customer_id_unique_per_institution"),
            models.UniqueConstraint(fields=["mobile_index"], condition=Q(web_enabled=True), name="customer_web_mobile_unique"),
            models.CheckConstraint(condition=Q(monthly_income__gte=0), name="customer_income_non_negative"),
        ]
        indexes = [models.Index(fields=["institution", "branch"]), models.Index(fields=["account_manager"])]

    def __str__(self):
        return f"{self.masked_name} ({self.masked_id_number})"

    @property
    def masked_name(self) -> str:
        return mask_name(self.name)

    @property
    def masked_id_number(self) -> str:
        return mask_id_number(self.id_number)

    @property
    def masked_mobile(self) -> str:
        return mask_mobile(self.mobile)

    @property
    def masked_address(self) -> str:
        return mask_address(self.address)

    @property
    def masked_bank_card(self) -> str:
        return mask_bank_card(self.bank_card)


class Household(models.Model):
    """农户家庭: members living together, one head; the unit of whole-village credit."""

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="households", verbose_name="法人行社")
    branch = models.ForeignKey(
        Branch, on_delete=models.PROTECT, null=True, blank=True, related_name="households", verbose_name="网点"
    )
    village = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="households", verbose_name="村")
    head = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="headed_households", verbose_name="户主")
    account_manager = models.ForeignKey(
        Staff, on_delete=models.SET_NULL, null=True, blank=True, related_name="households", verbose_name="客户经理"
    )
    household_no = models.CharField("户号 household number", max_length=30)
    pre_credit_limit = models.DecimalField(
        "预授信额度 pre-credit limit",
        max_digits=18,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="整村授信白名单核定的家庭额度（元）；空 = 未预授信 / whole-village pre-credit limit, empty = none",
    )
    is_demo = models.BooleanField(default=False)
    history = HistoricalRecords()

    objects = ScopedManager()
    scope = ScopeSpec(institution="institution", branch="branch", assigned="account_manager")

    class Meta:
        verbose_name = "农户家庭 household"
        verbose_name_plural = "农户家庭 households"
        constraints = [models.UniqueConstraint(fields=["institution", "household_no"], name="household_no_unique")]

    def __str__(self):
        return f"{self.household_no} {self.head.masked_name}"


class HouseholdMember(models.Model):
    class Relation(models.TextChoices):
        HEAD = "head", "户主"
        SPOUSE = "spouse", "配偶"
        CHILD = "child", "子女"
        PARENT = "parent", "父母"
        OTHER = "other", "其他"

    household = models.ForeignKey(Household, on_delete=models.CASCADE, related_name="members")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, null=True, blank=True, related_name="household_memberships")
    name = models.CharField("姓名", max_length=50)
    relation = models.CharField("关系", max_length=10, choices=Relation.choices)
    history = HistoricalRecords()

    objects = ScopedManager()
    scope = ScopeSpec(institution="household__institution", branch="household__branch", assigned="household__account_manager")

    class Meta:
        verbose_name = "家庭成员 household member"
        verbose_name_plural = "家庭成员 household members"
        constraints = [
            models.UniqueConstraint(fields=["household", "customer"], name="household_member_once"),
            models.UniqueConstraint(fields=["household"], condition=Q(relation="head"), name="household_one_head"),
        ]

    def __str__(self):
        return f"{self.name} ({self.get_relation_display()})"


class Consent(models.Model):
    """授权书: a customer's consent for a purpose and text version; withdrawal is recorded, not deleted."""

    class Purpose(models.TextChoices):
        CREDIT_REPORT = "credit_report", "征信查询授权"
        PERSONAL_INFO = "personal_info", "个人信息处理授权"
        MARKETING = "marketing", "营销信息授权"

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="consents")
    purpose = models.CharField("授权事项 purpose", max_length=20, choices=Purpose.choices)
    text_version = models.CharField("文本版本 text version", max_length=20)
    granted_at = models.DateTimeField("授权时间", default=timezone.now)
    channel = models.CharField("渠道", max_length=10, choices=Customer.Channel.choices)
    ip_address = models.GenericIPAddressField("IP", null=True, blank=True)
    withdrawn_at = models.DateTimeField("撤回时间", null=True, blank=True)
    history = HistoricalRecords()

    objects = ScopedManager()
    scope = ScopeSpec(institution="customer__institution", branch="customer__branch", assigned="customer__account_manager")

    class Meta:
        verbose_name = "授权书 consent"
        verbose_name_plural = "授权书 consents"
        ordering = ["-granted_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "purpose"], condition=Q(withdrawn_at__isnull=True), name="consent_one_active_per_purpose"
            )
        ]

    @property
    def is_active(self) -> bool:
        return self.withdrawn_at is None

    def __str__(self):
        return f"{self.get_purpose_display()} v{self.text_version}"


class OneTimeCode(models.Model):
    """SMS one-time code (验证码). Only a hash of the code is stored; never logged."""

    class Purpose(models.TextChoices):
        REGISTER = "register", "注册"
        LOGIN = "login", "登录"
        RESET_PASSWORD = "reset_password", "重置密码"
        CHANGE_MOBILE = "change_mobile", "更换手机号"
        CONFIRM = "confirm", "业务确认"
        CONTRACT_SIGN = "contract_sign", "签署合同"

    mobile_index = models.CharField(max_length=64, db_index=True)
    purpose = models.CharField(max_length=20, choices=Purpose.choices)
    code_hash = models.CharField(max_length=64)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name = "短信验证码 one-time code"
        verbose_name_plural = "短信验证码 one-time codes"
        indexes = [models.Index(fields=["ip_address", "created_at"])]

    def __str__(self):
        return f"{self.purpose} {self.created_at:%Y-%m-%d %H:%M}"


class PiiAccessLog(models.Model):
    """Every use of the permission to see unmasked personal data."""

    user = models.ForeignKey("org.User", on_delete=models.PROTECT, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+")
    fields = models.CharField(max_length=200)
    reason = models.CharField(max_length=200, blank=True, default="")
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "敏感信息查看日志 PII access"
        verbose_name_plural = "敏感信息查看日志 PII access log"
        ordering = ["-at"]

    def __str__(self):
        return f"{self.user} → {self.customer_id} @ {self.at:%Y-%m-%d %H:%M}"


from jikuai.customers.kyc.models import *  # noqa: E402,F403  (KYC models live in their own module)

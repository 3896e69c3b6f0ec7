"""Organisation: provincial union → institution (法人行社, the tenant) → branch (支行/网点), and staff."""

from django.contrib.auth.models import AbstractUser
from django.db import models
from simple_history.models import HistoricalRecords

from jikuai.core.fields import EncryptedTextField
from jikuai.core.idnumber import parse_mobile


class User(AbstractUser):
    """Staff login (back office and field app). Customers do not log in as Users: their sessions are
    separate (see ``jikuai.customers``)."""

    class Meta:
        verbose_name = "登录用户 user"
        verbose_name_plural = "登录用户 users"


class Institution(models.Model):
    """法人行社: a member bank of the provincial union; the tenant boundary for data."""

    code = models.CharField("机构代码 code", max_length=20, unique=True)
    name = models.CharField("机构名称 name", max_length=100)
    short_name = models.CharField("简称 short name", max_length=50, blank=True, default="")
    region_code = models.CharField("行政区划代码 region code", max_length=6, blank=True, default="")
    is_active = models.BooleanField("启用 active", default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = "法人行社 institution"
        verbose_name_plural = "法人行社 institutions"
        ordering = ["code"]

    def __str__(self):
        return self.name


class Branch(models.Model):
    """支行 / 网点 of an institution."""

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="branches", verbose_name="法人行社")
    code = models.CharField("网点代码 code", max_length=20)
    name = models.CharField("网点名称 name", max_length=100)
    region_code = models.CharField("行政区划代码 region code", max_length=12, blank=True, default="")
    address = models.CharField("地址 address", max_length=200, blank=True, default="")
    size_group = models.CharField("规模组 peer group", max_length=20, blank=True, default="")
    is_active = models.BooleanField("启用 active", default=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = "支行网点 branch"
        verbose_name_plural = "支行网点 branches"
        ordering = ["institution__code", "code"]
        constraints = [models.UniqueConstraint(fields=["institution", "code"], name="branch_code_unique_per_institution")]

    def __str__(self):
        # no institution lookup here: lists of branches must not cost one query per row
        return f"{self.name} ({self.code})"


class Staff(models.Model):
    """Staff profile on a login user: where they work and what rank they hold."""

    class Rank(models.TextChoices):
        JUNIOR = "junior", "初级 junior"
        INTERMEDIATE = "intermediate", "中级 intermediate"
        SENIOR = "senior", "高级 senior"
        PRINCIPAL = "principal", "资深 principal"
        MANAGER = "manager", "管理岗 manager"

    user = models.OneToOneField(User, on_delete=models.PROTECT, related_name="staff", verbose_name="登录用户")
    institution = models.ForeignKey(
        Institution,
        on_delete=models.PROTECT,
        related_name="staff",
        null=True,
        blank=True,
        verbose_name="法人行社",
        help_text="省联社员工留空 / empty for provincial-union staff",
    )
    branch = models.ForeignKey(Branch, on_delete=models.PROTECT, related_name="staff", null=True, blank=True, verbose_name="网点")
    employee_no = models.CharField("工号 employee number", max_length=30, unique=True)
    name = models.CharField("姓名 name", max_length=50)
    rank = models.CharField("职级 rank", max_length=20, choices=Rank.choices, default=Rank.JUNIOR)
    referral_code = models.CharField("推荐码 referral code", max_length=12, unique=True, null=True, blank=True)
    is_active = models.BooleanField("在岗 active", default=True)
    mobile = EncryptedTextField(
        "工作手机 work mobile",
        purpose="org.staff.mobile",
        validators=[parse_mobile],
        help_text="用于审核任务超时升级等工作短信，可留空 / work SMS (e.g. escalated review tasks), optional",
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = "员工 staff member"
        verbose_name_plural = "员工 staff"
        ordering = ["employee_no"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(branch__isnull=True) | models.Q(institution__isnull=False),
                name="staff_branch_needs_institution",
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.employee_no})"

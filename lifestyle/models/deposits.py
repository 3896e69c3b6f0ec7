"""Deposit balances reported by core banking (存款日均) and the month-end growth close."""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from jikuai.org.scoping import ScopedManager, ScopeSpec


class DepositDailyBalance(models.Model):
    """One account's end-of-day balance. Idempotent by (institution, account, day). The account number is kept
    only as a blind index and its last four digits."""

    institution = models.ForeignKey("org.Institution", on_delete=models.PROTECT, related_name="+")
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="+", db_index=False)
    account_index = models.CharField("账号索引 account blind index", max_length=64)
    account_last4 = models.CharField("账号后四位", max_length=4)
    day = models.DateField("日期 day")
    balance_fen = models.BigIntegerField("余额(分) balance, fen")
    received_at = models.DateTimeField(default=timezone.now)

    objects = ScopedManager()
    scope = ScopeSpec(institution="institution", branch="customer__branch", assigned="customer__account_manager")

    class Meta:
        verbose_name = "存款日余额 deposit daily balance"
        verbose_name_plural = "存款日余额 deposit daily balances"
        constraints = [
            models.UniqueConstraint(fields=["institution", "account_index", "day"], name="deposit_daily_once"),
            models.CheckConstraint(condition=Q(balance_fen__gte=0), name="deposit_daily_non_negative"),
        ]
        indexes = [models.Index(fields=["customer", "day"])]

    def __str__(self):
        return f"{self.day} ****{self.account_last4}"


class DepositMonthlyBalance(models.Model):
    """Running monthly sum of a customer's daily balances (月积数), kept up to date by the feed so the month-end
    job reads one row per customer: daily average = balance_sum_fen / calendar days of the month."""

    institution = models.ForeignKey("org.Institution", on_delete=models.PROTECT, related_name="+", db_index=False)
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="+", db_index=False)
    month = models.CharField("月份 month (YYYY-MM)", max_length=7)
    balance_sum_fen = models.BigIntegerField("月积数(分) sum of daily balances, fen", default=0)
    row_count = models.PositiveIntegerField("上报条数 rows reported", default=0)

    objects = ScopedManager()
    scope = ScopeSpec(institution="institution", branch="customer__branch", assigned="customer__account_manager")

    class Meta:
        verbose_name = "存款月积数 deposit monthly sum"
        verbose_name_plural = "存款月积数 deposit monthly sums"
        constraints = [
            models.UniqueConstraint(fields=["month", "customer"], name="deposit_monthly_once"),
            models.CheckConstraint(condition=Q(balance_sum_fen__gte=0), name="deposit_monthly_non_negative"),
        ]

    def __str__(self):
        return f"{self.customer_id} {self.month}"


class DepositMonthClose(models.Model):
    """A month closed for an institution: later feed rows for that month are refused."""

    institution = models.ForeignKey("org.Institution", on_delete=models.PROTECT, related_name="+")
    month = models.CharField("月份 month", max_length=7)

    class Status(models.TextChoices):
        RUNNING = "running", "月结中 running"
        CLOSED = "closed", "已月结 closed"

    status = models.CharField("状态", max_length=10, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    lots_created = models.BigIntegerField("发放笔数", default=0)
    points_awarded = models.BigIntegerField("发放积分", default=0)
    events_published = models.BigIntegerField("事件数", default=0)

    objects = ScopedManager()
    scope = ScopeSpec(institution="institution")

    class Meta:
        verbose_name = "存款月结 deposit month close"
        verbose_name_plural = "存款月结 deposit month closes"
        constraints = [models.UniqueConstraint(fields=["institution", "month"], name="deposit_month_close_once")]

    def __str__(self):
        return f"{self.institution_id} {self.month}"

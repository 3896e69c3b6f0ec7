"""Reconciliation reports (对账报告): ledger invariants and settlement checks, one row per run."""

from django.db import models
from django.utils import timezone

from jikuai.org.scoping import ScopedManager


class ReconciliationReport(models.Model):
    """Result of ``reconcile_points`` / the daily settlement check. ``ok`` is False when anything differs."""

    class Kind(models.TextChoices):
        POINTS = "points", "积分账本对账 points ledger"
        SETTLEMENT = "settlement", "核销与应付核对 redemptions vs payables"

    kind = models.CharField("类型 kind", max_length=12, choices=Kind.choices)
    run_date = models.DateField("对账日期 date")
    ok = models.BooleanField("平衡 balanced")
    accounts_checked = models.BigIntegerField("账户数", default=0)
    mismatches = models.BigIntegerField("不符数", default=0)
    totals = models.JSONField("汇总 totals", default=dict)
    details = models.JSONField("差异明细 details", default=list)
    created_at = models.DateTimeField(default=timezone.now)

    # reports are platform-wide (province level); institution staff see them through their role grant only
    objects = ScopedManager()
    scope = None

    class Meta:
        verbose_name = "对账报告 reconciliation report"
        verbose_name_plural = "对账报告 reconciliation reports"
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.get_kind_display()} {self.run_date} {'平' if self.ok else '不平'}"

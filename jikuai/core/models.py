"""Kernel models: outbox events and deliveries, job runs, business date and holiday calendar."""

from django.db import models
from django.db.models import Q
from django.utils import timezone


class OutboxEvent(models.Model):
    """One event published on the internal bus, written in the business transaction (内部服务总线)."""

    class Status(models.TextChoices):
        PENDING = "pending", "待投递 pending"
        DELIVERED = "delivered", "已投递 delivered"
        FAILED = "failed", "失败 failed"

    topic = models.CharField("主题 topic", max_length=100, db_index=True)
    payload = models.JSONField("内容 payload", default=dict)
    status = models.CharField("状态 status", max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField("尝试次数 attempts", default=0)
    next_attempt_at = models.DateTimeField("下次尝试 next attempt", default=timezone.now)
    last_error = models.TextField("最近错误 last error", blank=True, default="")
    created_at = models.DateTimeField("创建时间 created", default=timezone.now, db_index=True)
    delivered_at = models.DateTimeField("投递时间 delivered", null=True, blank=True)

    class Meta:
        verbose_name = "总线事件 bus event"
        verbose_name_plural = "总线事件 bus events"
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="outbox_due_idx", condition=~Q(status="delivered")),
        ]

    def __str__(self):
        return f"#{self.pk} {self.topic}"


class EventDelivery(models.Model):
    """One (event, handler) pair that ran successfully: the handler never runs twice for the event."""

    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="deliveries")
    handler = models.CharField(max_length=200)
    delivered_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "事件处理记录 event delivery"
        verbose_name_plural = "事件处理记录 event deliveries"
        constraints = [models.UniqueConstraint(fields=["event", "handler"], name="event_delivery_once")]

    def __str__(self):
        return f"{self.event_id} → {self.handler}"


class JobRun(models.Model):
    """One run of a batch job for a business date (调度中心): a rerun of the same key resumes or does nothing."""

    class Status(models.TextChoices):
        RUNNING = "running", "运行中 running"
        SUCCEEDED = "succeeded", "成功 succeeded"
        FAILED = "failed", "失败 failed"
        PARTIAL = "partial", "部分失败 partial"

    job = models.CharField("作业 job", max_length=100)
    business_date = models.DateField("营业日期 business date")
    run_key = models.CharField("运行键 key", max_length=100, blank=True, default="")
    status = models.CharField("状态 status", max_length=16, choices=Status.choices, default=Status.RUNNING)
    cursor = models.JSONField("游标 cursor", default=dict, blank=True)
    total = models.BigIntegerField("总数 total", default=0)
    processed = models.BigIntegerField("已处理 processed", default=0)
    failed = models.BigIntegerField("失败数 failed", default=0)
    counts = models.JSONField("计数 counts", default=dict, blank=True)
    error = models.TextField("错误 error", blank=True, default="")
    started_at = models.DateTimeField("开始 started", default=timezone.now)
    finished_at = models.DateTimeField("结束 finished", null=True, blank=True)
    heartbeat_at = models.DateTimeField("心跳 heartbeat", default=timezone.now)

    class Meta:
        verbose_name = "作业运行 job run"
        verbose_name_plural = "作业运行 job runs"
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(fields=["job", "business_date", "run_key"], name="jobrun_unique_key"),
        ]

    def __str__(self):
        return f"{self.job} {self.business_date} {self.status}"

    @property
    def progress_percent(self) -> int:
        if not self.total:
            return 100 if self.status == self.Status.SUCCEEDED else 0
        return min(100, int(self.processed * 100 / self.total))


class BusinessDate(models.Model):
    """The platform's business date (营业日期). One row; lending logic never uses now()."""

    singleton = models.BooleanField(default=True, unique=True, editable=False)
    current = models.DateField("当前营业日期 current business date")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "营业日期 business date"
        verbose_name_plural = "营业日期 business date"
        constraints = [models.CheckConstraint(condition=Q(singleton=True), name="business_date_singleton")]

    def __str__(self):
        return str(self.current)


class CalendarDay(models.Model):
    """An exception to the Monday–Friday week: a public holiday, or a make-up workday on a weekend (调休)."""

    class Kind(models.TextChoices):
        HOLIDAY = "holiday", "节假日 holiday"
        WORKDAY = "workday", "调休上班 make-up workday"

    date = models.DateField("日期 date", unique=True)
    kind = models.CharField("类型 kind", max_length=10, choices=Kind.choices)
    name = models.CharField("名称 name", max_length=50, blank=True, default="")

    class Meta:
        verbose_name = "节假日日历 calendar day"
        verbose_name_plural = "节假日日历 calendar"
        ordering = ["date"]

    def __str__(self):
        return f"{self.date} {self.get_kind_display()} {self.name}"

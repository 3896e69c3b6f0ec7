"""Integrator clients, replay-protection nonces and stored idempotent responses."""

import secrets

from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from jikuai.core.fields import EncryptedTextField
from jikuai.org.models import Institution
from jikuai.org.scoping import ScopedManager, ScopeSpec

SCOPES = {
    "ping": "连通性检查 ping",
    "customers:read": "查询客户 read customers",
    "customers:write": "创建客户 create customers",
    "kyc:read": "查询实名认证 read KYC outcomes",
    "kyc:write": "提交实名认证影像 upload KYC images",
    "lending:read": "查询贷款 read lending",
    "lending:write": "贷款交易 lending operations",
    "decisions:write": "规则决策 evaluate decisions",
    "decisions:read": "查询决策 read decisions",
    "points:read": "查询积分 read points",
    "points:write": "积分事件 points events",
    "deposits:write": "存款日均数据 deposit balances feed",
    "merchants:write": "商户核销 merchant verification",
    "performance:read": "绩效结果 performance results",
}


def new_app_id() -> str:
    return "jk" + secrets.token_hex(8)


def new_secret() -> str:
    return secrets.token_urlsafe(32)


class IntegratorClient(models.Model):
    """An integrator system (core banking, mini-program, government feed) allowed to call /api/v1/."""

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="api_clients", verbose_name="法人行社")
    name = models.CharField("名称 name", max_length=100)
    app_id = models.CharField("App ID", max_length=40, unique=True, default=new_app_id)
    secret = EncryptedTextField("密钥 secret", purpose="api.client_secret")
    scopes = models.JSONField("权限范围 scopes", default=list, blank=True)
    allowed_ips = models.JSONField("IP 白名单 allowed IPs", default=list, blank=True, help_text="空表示不限制 / empty = any")
    is_active = models.BooleanField("启用 active", default=True)
    created_at = models.DateTimeField(default=timezone.now)
    history = HistoricalRecords(excluded_fields=["secret"])

    objects = ScopedManager()
    scope = ScopeSpec(institution="institution")

    class Meta:
        verbose_name = "接入方 integrator client"
        verbose_name_plural = "接入方 integrator clients"

    def __str__(self):
        return f"{self.name} ({self.app_id})"

    # DRF treats request.user as authenticated when this is truthy
    is_authenticated = True

    def has_scope(self, scope: str) -> bool:
        return "*" in self.scopes or scope in self.scopes


class ApiNonce(models.Model):
    """Nonces seen recently (used when no Redis is configured): a reused nonce is a replay."""

    client = models.ForeignKey(IntegratorClient, on_delete=models.CASCADE)
    nonce = models.CharField(max_length=64)
    seen_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client", "nonce"], name="api_nonce_once")]

    def __str__(self):
        return self.nonce


class IdempotencyRecord(models.Model):
    """First response to a POST with a given Idempotency-Key, replayed for the same key and body."""

    class Status(models.TextChoices):
        IN_FLIGHT = "in_flight", "处理中"
        DONE = "done", "完成"

    client = models.ForeignKey(IntegratorClient, on_delete=models.CASCADE)
    key = models.CharField(max_length=100)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=300)
    body_hash = models.CharField(max_length=64)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.IN_FLIGHT)
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.JSONField(null=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = "幂等记录 idempotency record"
        verbose_name_plural = "幂等记录 idempotency records"
        constraints = [models.UniqueConstraint(fields=["client", "key"], name="idempotency_key_once")]

    def __str__(self):
        return f"{self.key} {self.status}"

"""Signed-request authentication for integrators, and scope permissions.

Every failure is a 401 (or 403 for IP/scope) with a stable machine code and a bilingual message.
"""

import datetime as dt
import time

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.core.exceptions import RequestDataTooBig
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission

from jikuai.api import signing
from jikuai.api.models import ApiNonce, IntegratorClient
from jikuai.core import refmemo
from jikuai.core.crypto import constant_time_equals


class SignatureFailed(exceptions.AuthenticationFailed):
    def __init__(self, code: str, zh: str, en: str):
        super().__init__(detail=f"{zh} / {en}", code=code)


class PayloadTooLarge(exceptions.APIException):
    status_code = 413
    default_code = "payload_too_large"
    default_detail = "请求体过大 / request body too large"


def _client_ip(request) -> str:
    return request.META.get("REMOTE_ADDR", "")


def _remember_nonce(client: IntegratorClient, nonce: str) -> bool:
    """True when the nonce is new. Redis SET NX when configured, otherwise a unique row."""
    window = settings.API_SIGNATURE_MAX_SKEW_SECONDS * 2
    if settings.REDIS_URL:
        return cache.add(f"api-nonce:{client.pk}:{nonce}", 1, timeout=window)
    try:
        with transaction.atomic():
            ApiNonce.objects.create(client=client, nonce=nonce)
    except IntegrityError:
        return False
    if int(time.time()) % 50 == 0:  # opportunistic cleanup of old nonces
        ApiNonce.objects.filter(seen_at__lt=timezone.now() - dt.timedelta(seconds=window)).delete()
    return True


def _client(app_id: str) -> IntegratorClient | None:
    """The client with its institution, remembered per process under the reference generation (clients and
    institutions are watched: a deactivation or a new secret is seen by the next request). Unknown app ids
    are not remembered."""

    def load():
        return IntegratorClient.objects.select_related("institution").filter(app_id=app_id).first()

    return refmemo.memoized("integrator-client", app_id, load, keep_none=False)


class SignatureAuthentication(BaseAuthentication):
    www_authenticate_realm = "jikuai"

    def authenticate_header(self, request):
        return 'JikuaiSignature realm="jikuai"'

    def authenticate(self, request):
        meta = request.META
        app_id = meta.get("HTTP_X_APP_ID", "")
        timestamp = meta.get("HTTP_X_TIMESTAMP", "")
        nonce = meta.get("HTTP_X_NONCE", "")
        signature = meta.get("HTTP_X_SIGNATURE", "")
        if not (app_id and timestamp and nonce and signature):
            raise SignatureFailed("signature_missing", "缺少签名头", "missing X-App-Id/X-Timestamp/X-Nonce/X-Signature")
        client = _client(app_id)
        if client is None:
            raise SignatureFailed("unknown_client", "接入方不存在", "unknown app id")
        if not client.is_active or not client.institution.is_active:
            raise SignatureFailed("client_inactive", "接入方已停用", "client is inactive")
        try:
            ts = int(timestamp)
        except ValueError as exc:
            raise SignatureFailed("timestamp_invalid", "时间戳格式错误", "timestamp must be Unix seconds") from exc
        if abs(time.time() - ts) > settings.API_SIGNATURE_MAX_SKEW_SECONDS:
            raise SignatureFailed("timestamp_expired", "请求时间戳超出允许范围（±5分钟）", "timestamp outside the allowed window")
        if not (8 <= len(nonce) <= 64):
            raise SignatureFailed("nonce_invalid", "随机数长度应为8到64位", "nonce must be 8-64 characters")
        try:
            body = request._request.body
        except RequestDataTooBig as exc:
            raise PayloadTooLarge() from exc
        expected = signing.sign(
            client.secret, request.method, request._request.path, meta.get("QUERY_STRING", ""), timestamp, nonce, body
        )
        if not constant_time_equals(expected, signature.lower()):
            raise SignatureFailed("signature_invalid", "签名校验失败", "signature does not match")
        if client.allowed_ips and _client_ip(request) not in client.allowed_ips:
            raise exceptions.PermissionDenied(detail="来源 IP 不在白名单 / source IP not allowed", code="ip_not_allowed")
        if not _remember_nonce(client, nonce):
            raise SignatureFailed("nonce_replayed", "请求已被使用（重放）", "nonce already used (replay)")
        # request.user stays anonymous (it is a staff concept: audit history, admin); the client is request.auth
        return (AnonymousUser(), client)


class IsIntegrator(BasePermission):
    """Deny by default: a signed client holding every scope the view declares in ``required_scopes``."""

    message = "无权访问 / not allowed"

    def has_permission(self, request, view):
        client = request.auth
        if not isinstance(client, IntegratorClient):
            return False
        needed = getattr(view, "required_scopes", None)
        if needed is None:
            return False
        if isinstance(needed, dict):
            needed = needed.get(request.method, needed.get("*", ()))
        missing = [scope for scope in needed if not client.has_scope(scope)]
        if missing:
            self.message = f"缺少权限范围 {', '.join(missing)} / missing scope {', '.join(missing)}"
            self.code = "scope_missing"
            return False
        return True

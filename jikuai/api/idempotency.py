"""Idempotency-Key handling for every POST of the integrator API.

The first request with a key stores its response; the same key with the same body replays it; the same
key with another body is refused (422); while the first is still being processed a repeat gets 409.
Server errors (5xx) release the key so the integrator may retry.
"""

import datetime as dt
import hashlib

from django.conf import settings
from django.db import connection
from django.utils import timezone
from rest_framework import exceptions, status
from rest_framework.response import Response

from jikuai.api.models import IdempotencyRecord
from jikuai.core import fastsql


class IdempotencyKeyMissing(exceptions.APIException):
    status_code = 400
    default_code = "idempotency_key_missing"
    default_detail = "POST 请求必须携带 Idempotency-Key 头 / Idempotency-Key header required"


class IdempotencyKeyReused(exceptions.APIException):
    status_code = 422
    default_code = "idempotency_key_reused"
    default_detail = "该 Idempotency-Key 已用于另一请求体 / key already used with a different body"


class IdempotencyInFlight(exceptions.APIException):
    status_code = 409
    default_code = "idempotency_in_flight"
    default_detail = "相同 Idempotency-Key 的请求正在处理 / a request with this key is still in progress"


def _claim(client_id: int, key: str, method: str, path: str, body_hash: str) -> int | None:
    """Insert the in-flight record in one statement (no savepoint); None when the key is already taken."""
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with fastsql.cursor() as cursor:
        cursor.execute(
            "INSERT INTO api_idempotencyrecord (client_id, key, method, path, body_hash, status, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (client_id, key) DO NOTHING RETURNING id",
            [client_id, key, method, path, body_hash, IdempotencyRecord.Status.IN_FLIGHT, now],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def _store(record_id: int, status_code: int, body) -> None:
    """Mark the record done with the response to replay (one statement, prepared by the model's field)."""
    field = IdempotencyRecord._meta.get_field("response_body")
    with fastsql.cursor() as cursor:
        cursor.execute(
            "UPDATE api_idempotencyrecord SET status = %s, response_status = %s, response_body = %s WHERE id = %s",
            [IdempotencyRecord.Status.DONE, status_code, field.get_db_prep_save(body, connection), record_id],
        )


class _Replay(Exception):
    def __init__(self, record: IdempotencyRecord):
        self.record = record


class IdempotentPostMixin:
    """Mix into an APIView before APIView. Requires an authenticated IntegratorClient in request.auth."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self._idempotency_record = None
        if request.method != "POST":
            return
        key = request.META.get("HTTP_IDEMPOTENCY_KEY", "").strip()
        if not key or len(key) > 100:
            raise IdempotencyKeyMissing()
        body_hash = hashlib.sha256(request._request.body).hexdigest()
        client = request.auth
        path = request._request.path
        cutoff = timezone.now() - dt.timedelta(hours=settings.API_IDEMPOTENCY_TTL_HOURS)
        for _attempt in range(3):
            record_id = _claim(client.pk, key, request.method, path, body_hash)
            if record_id is not None:
                break
            record = IdempotencyRecord.objects.filter(client=client, key=key).first()
            if record is None:
                continue  # expired and purged between the two statements: claim again
            if record.created_at < cutoff:  # an expired key is free again
                IdempotencyRecord.objects.filter(pk=record.pk, created_at=record.created_at).delete()
                continue
            if record.body_hash != body_hash or record.path != path:
                raise IdempotencyKeyReused()
            if record.status == IdempotencyRecord.Status.IN_FLIGHT:
                raise IdempotencyInFlight()
            raise _Replay(record)
        else:  # pragma: no cover - the key flipped between expired and claimed three times
            raise IdempotencyInFlight()
        record = IdempotencyRecord(pk=record_id, client=client, key=key, method=request.method, path=path, body_hash=body_hash)
        self._idempotency_record = record

    def handle_exception(self, exc):
        if isinstance(exc, _Replay):
            response = Response(exc.record.response_body, status=exc.record.response_status)
            response["Idempotent-Replayed"] = "true"
            return response
        return super().handle_exception(exc)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        record = getattr(self, "_idempotency_record", None)
        if record is not None:
            if response.status_code >= 500:
                record.delete()
            else:
                _store(record.pk, response.status_code, getattr(response, "data", None))
            self._idempotency_record = None
        return response


def purge_expired(*, now: dt.datetime | None = None) -> int:
    cutoff = (now or timezone.now()) - dt.timedelta(hours=settings.API_IDEMPOTENCY_TTL_HOURS)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted


__all__ = ["IdempotentPostMixin", "purge_expired", "status"]

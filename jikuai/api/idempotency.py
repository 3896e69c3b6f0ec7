"""Idempotency-Key handling for every POST of the integrator API.

The first request with a key stores its response; the same key with the same body replays it; the same
key with another body is refused (422); while the first is still being processed a repeat gets 409.
Server errors (5xx, unexpected exceptions included) release the key so the integrator may retry.

A view whose effect commits in one transaction of its own stores its answer inside that transaction
(``store_response_in_transaction``), so the effect and the answer to replay commit together: a crash
between the two can no longer leave a key "in progress" on an effect that happened (the integrator's apply
does this). Other views' answers are stored after the view returns, as before.
"""

import datetime as dt
import hashlib
import logging

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from rest_framework import exceptions, status
from rest_framework.response import Response

from jikuai.api.models import IdempotencyRecord
from jikuai.core import fastsql

logger = logging.getLogger(__name__)


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


_CLAIM = (
    "INSERT INTO api_idempotencyrecord (client_id, key, method, path, body_hash, status, created_at)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (client_id, key) DO NOTHING RETURNING id"
)
# On PostgreSQL the claim commits without waiting for its WAL to reach the disk (synchronous_commit off for
# this one statement's transaction). It only guards the request while it runs: whatever the request then
# commits — its effect, or its stored answer — commits durably, and a durable commit flushes all the WAL
# before it, this claim included. The claim alone is lost only if PostgreSQL crashes before anything else
# of the request is committed, when there is nothing to guard. One disk flush fewer per POST.
_CLAIM_PG = (
    "INSERT INTO api_idempotencyrecord (client_id, key, method, path, body_hash, status, created_at)"
    " SELECT %s::bigint, %s::varchar, %s::varchar, %s::varchar, %s::varchar, %s::varchar, %s::timestamptz"
    " FROM (SELECT set_config('synchronous_commit', 'off', true)) AS quick"
    " ON CONFLICT (client_id, key) DO NOTHING RETURNING id"
)


def _claim(client_id: int, key: str, method: str, path: str, body_hash: str) -> int | None:
    """Insert the in-flight record in one statement (no savepoint); None when the key is already taken."""
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with fastsql.cursor() as cursor:
        cursor.execute(
            _CLAIM_PG if cursor.db.vendor == "postgresql" else _CLAIM,
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
        self._idempotency_committed = None
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
        self._idempotency_record = record_id

    def store_response_in_transaction(self, status_code: int, data) -> None:
        """Store the answer to replay inside the caller's transaction — the one that commits the view's
        effect — so both commit or neither does. Once that transaction has committed, the answer stands
        whatever happens to the rest of the request (it is not stored again nor released)."""
        record_id = getattr(self, "_idempotency_record", None)
        if record_id is None:
            return
        if not connection.in_atomic_block:
            raise RuntimeError("store_response_in_transaction must be called inside the effect's transaction")
        _store(record_id, status_code, data)
        transaction.on_commit(lambda: setattr(self, "_idempotency_committed", record_id))

    def handle_exception(self, exc):
        if isinstance(exc, _Replay):
            response = Response(exc.record.response_body, status=exc.record.response_status)
            response["Idempotent-Replayed"] = "true"
            return response
        try:
            return super().handle_exception(exc)
        except Exception:
            # an unexpected error goes on to Django's 500 without finalize_response: free the key here
            self._release()
            raise

    def _release(self) -> None:
        record_id = getattr(self, "_idempotency_record", None)
        self._idempotency_record = None
        if record_id is None or getattr(self, "_idempotency_committed", None) == record_id:
            return  # nothing claimed, or the answer committed with the effect: it stands
        try:
            IdempotencyRecord.objects.filter(pk=record_id).delete()
        except DatabaseError:  # the database itself failed: the key frees itself after the TTL
            logger.exception("idempotency key %s not released", record_id)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        record_id = getattr(self, "_idempotency_record", None)
        if record_id is None or getattr(self, "_idempotency_committed", None) == record_id:
            return response  # nothing claimed, or the answer committed with the effect: it stands
        if response.status_code >= 500:
            self._release()
        else:
            _store(record_id, response.status_code, getattr(response, "data", None))
            self._idempotency_record = None
        return response


def purge_expired(*, now: dt.datetime | None = None) -> int:
    cutoff = (now or timezone.now()) - dt.timedelta(hours=settings.API_IDEMPOTENCY_TTL_HOURS)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted


__all__ = ["IdempotentPostMixin", "purge_expired", "status"]

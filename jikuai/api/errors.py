"""Every API error is ``{"code": ..., "detail": ...}``."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from jikuai.core.exceptions import ApplicationError


def _flatten(detail):
    if isinstance(detail, list):
        return "；".join(str(_flatten(item)) for item in detail)
    if isinstance(detail, dict):
        return "；".join(f"{key}: {_flatten(value)}" for key, value in detail.items())
    return str(detail)


def exception_handler(exc, context):
    if isinstance(exc, ApplicationError):
        body = {"code": exc.code, "detail": exc.message}
        if exc.extra.get("field"):
            body["field"] = exc.extra["field"]
        return Response(body, status=exc.status)
    if isinstance(exc, DjangoValidationError):
        return Response({"code": "invalid", "detail": "；".join(exc.messages)}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound("未找到 / not found")
    if isinstance(exc, exceptions.ParseError):
        exc = exceptions.ParseError(detail=f"请求体不是有效的 JSON / malformed JSON: {exc.detail}", code="malformed_json")
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    code = "error"
    if isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        code = (
            codes if isinstance(codes, str) else ("invalid" if isinstance(exc, exceptions.ValidationError) else exc.default_code)
        )
    body = {
        "code": code,
        "detail": _flatten(response.data.get("detail", response.data) if isinstance(response.data, dict) else response.data),
    }
    if isinstance(exc, exceptions.ValidationError) and isinstance(exc.detail, dict):
        body["errors"] = exc.detail
    response.data = body
    return response

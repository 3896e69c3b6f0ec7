"""Errors raised by services: a stable code, a Chinese message for people, an English one for the API."""


class ApplicationError(Exception):
    code = "application_error"
    status = 400

    def __init__(self, message_zh: str, message_en: str = "", *, code: str | None = None, extra: dict | None = None):
        super().__init__(message_zh)
        self.message_zh = message_zh
        self.message_en = message_en or message_zh
        if code:
            self.code = code
        self.extra = extra or {}

    @property
    def message(self) -> str:
        return f"{self.message_zh} / {self.message_en}" if self.message_en != self.message_zh else self.message_zh

    def __str__(self) -> str:
        return self.message


class NotFound(ApplicationError):
    code = "not_found"
    status = 404


class Conflict(ApplicationError):
    code = "conflict"
    status = 409


class PermissionDeniedError(ApplicationError):
    code = "permission_denied"
    status = 403


class RateLimited(ApplicationError):
    code = "rate_limited"
    status = 429

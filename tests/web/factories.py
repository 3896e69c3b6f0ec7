"""Helpers for the customer-account tests: web customers, reading codes from the SMS outbox."""

import re

from jikuai.core import sms
from tests.factories import make_customer, new_id_number, new_mobile

PASSWORD = "Hu4ngTu-di!2026"
CODE_RE = re.compile(r"(?<!\d)(\d{6})(?!\d)")


def make_web_customer(*, password: str = PASSWORD, **kwargs):
    """A customer with a web account (password set, web_enabled)."""
    return make_customer(password=password, **kwargs)


def last_code(mobile: str | None = None) -> str:
    """The six-digit code of the last SMS (to ``mobile`` when given) in the in-memory outbox."""
    messages = [m for m in sms.outbox if mobile is None or m.mobile == mobile]
    assert messages, "no SMS was sent"
    match = CODE_RE.search(messages[-1].text)
    assert match, "the SMS holds no code"
    return match.group(1)


def other_code(code: str) -> str:
    """A six-digit code that is certainly not ``code``."""
    return f"{(int(code) + 1) % 1_000_000:06d}"


__all__ = ["PASSWORD", "last_code", "make_web_customer", "new_id_number", "new_mobile", "other_code"]

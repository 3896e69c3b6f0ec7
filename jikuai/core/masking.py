"""Masking of personal data for display and logs (patterns from DOMAIN.md)."""

import logging
import re


def mask_id_number(value: str | None) -> str:
    if not value:
        return ""
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def mask_mobile(value: str | None) -> str:
    if not value:
        return ""
    if len(value) != 11:
        return "*" * len(value)
    return value[:3] + "****" + value[-4:]


def mask_bank_card(value: str | None) -> str:
    if not value:
        return ""
    return "**** " + value[-4:]


def mask_name(value: str | None) -> str:
    if not value:
        return ""
    # compound surnames (欧阳, 司马 …) keep two characters when the name has four
    keep = 2 if len(value) >= 4 else 1
    return value[:keep] + "*" * (len(value) - keep)


def mask_address(value: str | None) -> str:
    if not value:
        return ""
    keep = min(6, max(len(value) // 3, 1))
    return value[:keep] + "****"


_ID_IN_TEXT = re.compile(r"(?<![\d.])(\d{4})\d{10}(\d{3}[\dXx])(?!\d)")
_MOBILE_IN_TEXT = re.compile(r"(?<![\d.])(1[3-9]\d)\d{4}(\d{4})(?!\d)")


def mask_text(text: str) -> str:
    """Mask any ID number or mobile number appearing inside free text (log lines)."""
    text = _ID_IN_TEXT.sub(lambda m: m.group(1) + "*" * 10 + m.group(2), text)
    return _MOBILE_IN_TEXT.sub(lambda m: m.group(1) + "****" + m.group(2), text)


class PiiMaskingFilter(logging.Filter):
    """Logging filter: no full ID number or mobile number ever reaches a log handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed log call must not break logging
            return True
        masked = mask_text(message)
        if masked != message:
            record.msg = masked
            record.args = None
        return True

"""Resident ID numbers (GB 11643-1999) and mainland mobile numbers, validated as DOMAIN.md says."""

import datetime as dt
import random
import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.utils import timezone

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"
PROVINCE_CODES = frozenset(
    [*range(11, 16), *range(21, 24), *range(31, 38), *range(41, 47), *range(50, 55), *range(61, 66), 71, 81, 82]
)
_ID_RE = re.compile(r"^\d{17}[\dX]$")
_MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")


@dataclass(frozen=True)
class IdNumber:
    number: str
    birth_date: dt.date
    gender: str  # "M" or "F"
    region_code: str

    def age_on(self, day: dt.date) -> int:
        years = day.year - self.birth_date.year
        if (day.month, day.day) < (self.birth_date.month, self.birth_date.day):
            years -= 1
        return years


def check_character(first17: str) -> str:
    total = sum(int(digit) * weight for digit, weight in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


def normalise_id_number(value: str) -> str:
    return (value or "").strip().replace(" ", "").upper()


def parse_id_number(value: str, *, today: dt.date | None = None) -> IdNumber:
    """Validate and parse an 18-character resident ID number; raise ValidationError (Chinese) if invalid."""
    number = normalise_id_number(value)
    if not number:
        raise ValidationError("请输入身份证号码。", code="id_required")
    if len(number) == 15 and number.isdigit():
        raise ValidationError("不再受理15位旧身份证号码，请输入18位身份证号码。", code="id_legacy_15")
    if len(number) != 18 or not _ID_RE.match(number):
        raise ValidationError("身份证号码应为18位，前17位为数字，最后一位为数字或X。", code="id_format")
    if int(number[:2]) not in PROVINCE_CODES:
        raise ValidationError("身份证号码的省份代码无效。", code="id_province")
    try:
        birth = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError as exc:
        raise ValidationError("身份证号码中的出生日期不存在。", code="id_birth_date") from exc
    today = today or timezone.localdate()
    if birth > today or birth.year < 1900:
        raise ValidationError("身份证号码中的出生日期无效。", code="id_birth_date")
    if check_character(number[:17]) != number[17]:
        raise ValidationError("身份证号码校验位错误，请核对后重新输入。", code="id_checksum")
    gender = "M" if int(number[16]) % 2 == 1 else "F"
    return IdNumber(number=number, birth_date=birth, gender=gender, region_code=number[:6])


def is_valid_id_number(value: str) -> bool:
    try:
        parse_id_number(value)
    except ValidationError:
        return False
    return True


def parse_mobile(value: str) -> str:
    """Validate a mainland mobile number (11 digits, 1[3-9]…); returns the normalised number."""
    mobile = re.sub(r"[\s-]", "", value or "")
    if mobile.startswith("+86"):
        mobile = mobile[3:]
    if not mobile:
        raise ValidationError("请输入手机号码。", code="mobile_required")
    if not _MOBILE_RE.match(mobile):
        raise ValidationError("手机号码应为以1开头的11位数字。", code="mobile_format")
    return mobile


def generate_id_number(
    *, region_code: str, birth_date: dt.date, gender: str, sequence: int | None = None, rng: random.Random | None = None
) -> str:
    """Build a valid ID number (demo data and tests)."""
    rng = rng or random.Random()
    seq = sequence if sequence is not None else rng.randrange(0, 500)
    seq = seq % 500 * 2 + (1 if gender == "M" else 0)
    first17 = f"{region_code}{birth_date:%Y%m%d}{seq:03d}"
    return first17 + check_character(first17)

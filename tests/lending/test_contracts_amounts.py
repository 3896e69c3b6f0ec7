"""Amounts in Chinese capitals (大写金额): the regulation's examples and a round trip for any amount."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lending.contracts.amounts import amount_in_chinese

DIGITS = {c: i for i, c in enumerate("零壹贰叁肆伍陆柒捌玖")}
UNITS = {"拾": 10, "佰": 100, "仟": 1000}


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        ("100000", "壹拾万元整"),
        ("100000.00", "壹拾万元整"),
        ("50000", "伍万元整"),
        ("10", "壹拾元整"),
        ("1680.32", "壹仟陆佰捌拾元零叁角贰分"),  # 《支付结算办法》 example
        ("107000.53", "壹拾万柒仟元零伍角叁分"),  # 《支付结算办法》 example
        ("325.04", "叁佰贰拾伍元零肆分"),
        ("100500", "壹拾万零伍佰元整"),
        ("1000005", "壹佰万零伍元整"),
        ("10050000", "壹仟零伍万元整"),
        ("100010000", "壹亿零壹万元整"),
        ("200000000", "贰亿元整"),
        ("11.1", "壹拾壹元壹角整"),
        ("50000.20", "伍万元零贰角整"),
        ("0.5", "伍角整"),
        ("0.05", "伍分"),
        ("0", "零元整"),
        ("0.005", "壹分"),  # rounded half-up to the fen first
        ("1234567890.12", "壹拾贰亿叁仟肆佰伍拾陆万柒仟捌佰玖拾元零壹角贰分"),
    ],
)
def test_regulation_examples_and_zero_rules(amount, text):
    assert amount_in_chinese(Decimal(amount)) == text


@pytest.mark.parametrize("bad", ["-1", "abc", "1e20"])
def test_refuses_negative_garbage_and_huge(bad):
    with pytest.raises(ValueError):
        amount_in_chinese(bad)


def _parse(text: str) -> Decimal:
    """Read a capital amount back (independent of the implementation under test)."""
    text = text.removesuffix("整")
    fen = 0
    if "元" in text:
        integer, fraction = text.split("元")
    else:
        integer, fraction = "", text
    total, wan, section, digit = 0, 0, 0, 0
    for char in integer:
        if char in DIGITS:
            digit = DIGITS[char]
        elif char in UNITS:
            section += digit * UNITS[char]
            digit = 0
        elif char == "万":
            wan += (section + digit) * 10_000
            section = digit = 0
        elif char == "亿":
            total = (total + wan + section + digit) * 100_000_000
            wan = section = digit = 0
    total += wan + section + digit
    fraction = fraction.lstrip("零")
    if "角" in fraction:
        jiao, fraction = fraction.split("角")
        fen += DIGITS[jiao] * 10
    if "分" in fraction:
        fen += DIGITS[fraction.split("分")[0].lstrip("零")]
    return Decimal(total) + Decimal(fen) / 100


@given(st.decimals(min_value=0, max_value=Decimal("9999999999.99"), places=2, allow_nan=False, allow_infinity=False))
def test_round_trip_for_any_amount(amount):
    text = amount_in_chinese(amount)
    assert _parse(text) == amount
    assert "零零" not in text
    assert not text.startswith("零") or amount == 0
    assert text.endswith(("整", "分"))

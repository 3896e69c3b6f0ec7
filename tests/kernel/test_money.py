from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jikuai.core.money import fen_to_yuan, round_fen, split_amount, to_decimal, yuan_to_fen


def test_round_half_up_to_the_fen():
    assert round_fen("0.005") == Decimal("0.01")
    assert round_fen("0.004999") == Decimal("0.00")
    assert round_fen("-0.005") == Decimal("-0.01")
    assert round_fen("62.5000") == Decimal("62.50")


def test_floats_are_refused():
    with pytest.raises(TypeError):
        to_decimal(0.1)


def test_fen_conversions():
    assert yuan_to_fen("8333.33") == 833333
    assert fen_to_yuan(833333) == Decimal("8333.33")


def test_split_with_many_small_parts_never_goes_negative():
    parts = split_amount("0.05", [1] * 10)
    assert sum(parts) == Decimal("0.05")
    assert all(p >= 0 for p in parts)


@given(
    total=st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False, allow_infinity=False),
    weights=st.lists(st.integers(min_value=0, max_value=1000), min_size=1, max_size=30).filter(lambda w: sum(w) > 0),
)
def test_split_sums_exactly_and_each_part_is_within_a_fen(total, weights):
    parts = split_amount(total, weights)
    assert sum(parts) == round_fen(total)
    weight_sum = sum(weights)
    for part, weight in zip(parts, weights, strict=True):
        assert part >= 0
        assert abs(part - round_fen(total) * weight / weight_sum) <= Decimal("0.01")

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from jikuai.core.idnumber import check_character, generate_id_number, parse_id_number, parse_mobile
from jikuai.core.masking import mask_id_number, mask_mobile, mask_name, mask_text

# 11010519491231002X is the textbook example of GB 11643 (check character X).
KNOWN_VALID = "11010519491231002X"


def test_known_example_parses_with_birth_date_gender_and_region():
    parsed = parse_id_number(KNOWN_VALID.lower())
    assert parsed.number == KNOWN_VALID
    assert parsed.birth_date == dt.date(1949, 12, 31)
    assert parsed.gender == "F"  # sequence 002: even
    assert parsed.region_code == "110105"


def test_check_character_by_hand():
    # S = Σ aᵢwᵢ for 22018219860314007: computed by hand in DOMAIN.md's scheme
    digits = "22018219860314007"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(d) * w for d, w in zip(digits, weights, strict=True))
    assert check_character(digits) == "10X98765432"[total % 11]


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("", "id_required"),
        ("220182860314001", "id_legacy_15"),
        ("2201821986031400", "id_format"),
        ("22018219860314001A", "id_format"),
        ("99018219860314001X", "id_province"),
        ("22018219860230001X", "id_birth_date"),
        ("22018221000101001X", "id_birth_date"),
    ],
)
def test_invalid_numbers_are_refused_with_a_code(value, code):
    with pytest.raises(ValidationError) as info:
        parse_id_number(value, today=dt.date(2026, 11, 29))
    assert info.value.code == code
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in message) for message in info.value.messages)


def test_wrong_check_character_is_refused():
    valid = generate_id_number(region_code="220182", birth_date=dt.date(1990, 5, 6), gender="M", sequence=3)
    wrong = valid[:17] + ("0" if valid[17] != "0" else "1")
    with pytest.raises(ValidationError) as info:
        parse_id_number(wrong)
    assert info.value.code == "id_checksum"


def test_province_codes_follow_the_list():
    for province in ("11", "15", "21", "23", "31", "37", "41", "46", "50", "54", "61", "65", "71", "81", "82"):
        first17 = f"{province}0101" + "19900101" + "123"
        parse_id_number(first17 + check_character(first17))
    for province in ("10", "16", "24", "38", "47", "55", "66", "72", "83", "91"):
        first17 = f"{province}0101" + "19900101" + "123"
        with pytest.raises(ValidationError):
            parse_id_number(first17 + check_character(first17))


@given(
    birth=st.dates(min_value=dt.date(1930, 1, 1), max_value=dt.date(2020, 12, 31)),
    gender=st.sampled_from("MF"),
    sequence=st.integers(min_value=0, max_value=499),
)
def test_generated_numbers_round_trip(birth, gender, sequence):
    number = generate_id_number(region_code="222401", birth_date=birth, gender=gender, sequence=sequence)
    parsed = parse_id_number(number)
    assert (parsed.birth_date, parsed.gender, parsed.region_code) == (birth, gender, "222401")


def test_age_on_a_day():
    parsed = parse_id_number(generate_id_number(region_code="220182", birth_date=dt.date(2000, 2, 29), gender="M", sequence=1))
    assert parsed.age_on(dt.date(2018, 2, 28)) == 17
    assert parsed.age_on(dt.date(2018, 3, 1)) == 18


@pytest.mark.parametrize("value", ["13812345678", "199 1234 5678", "+8615012345678"])
def test_valid_mobiles(value):
    assert len(parse_mobile(value)) == 11


@pytest.mark.parametrize("value", ["", "12812345678", "1381234567", "138123456789", "abc"])
def test_invalid_mobiles(value):
    with pytest.raises(ValidationError):
        parse_mobile(value)


def test_masks_follow_domain_patterns():
    assert mask_id_number("220182198603140017") == "2201**********0017"
    assert mask_mobile("13812345678") == "138****5678"
    assert mask_name("张三") == "张*"
    assert mask_name("欧阳明月") == "欧阳**"
    assert mask_text("id 220182198603140017 tel 13812345678") == "id 2201**********0017 tel 138****5678"


def test_log_masking_leaves_decimal_fractions_alone():
    assert mask_text("took 0.03130000000007426s") == "took 0.03130000000007426s"
    assert mask_text("call 13812345678.") == "call 138****5678."
